//! The store body both backends share. Most SQL text is identical on SQLite and PostgreSQL
//! (`$n` placeholders, partial indexes, `RETURNING`, `UPDATE … FROM`); the few statements
//! that differ come from each backend's `dialect` module. The macro expands the same code
//! once per backend, so the two stores cannot drift apart.

use quire_actors::StoreError;
use quire_actors::model::JobStatus;

use super::rows::active_statuses;

pub fn parse_status(s: &str) -> Result<JobStatus, StoreError> {
    s.parse()
        .map_err(|e: quire_actors::model::UnknownName| StoreError::Corrupt(e.to_string()))
}

pub const FENCE: &str = concat!(
    "UPDATE jobs SET heartbeat_at = $4 \
     WHERE id = $1 AND lease_owner = $2 AND lease_generation = $3 AND status IN ",
    active_statuses!(),
    " RETURNING status, held"
);

pub const COMMIT_PROGRESS: &str = "UPDATE jobs SET heartbeat_at = $4, lease_expires_at = $5, \
       completed_items = $6, failed_items = $7, current_item = $8, last_completed_item = $9, \
       stage = $10, stage_started_at = $11 \
     WHERE id = $1 AND lease_owner = $2 AND lease_generation = $3 \
       AND status IN ('running', 'cancelling') RETURNING status";

pub const RELEASE_PROCESSING: &str = "UPDATE job_items SET status = 'pending', claim_generation = NULL \
     WHERE job_id = $1 AND status = 'processing'";

/// Items a dead process left processing under an older lease generation and that have died
/// with it `crash_limit` times now: they fail for good instead of taking down every node that
/// adopts their job.
pub const FAIL_CRASHED: &str = "UPDATE job_items SET status = 'failed', claim_generation = NULL, \
       crashes = crashes + 1, error_class = 'terminal', error_code = 'CRASHED_REPEATEDLY', \
       error = $4, not_before = NULL, finished_at = $3 \
     WHERE job_id = $1 AND status = 'processing' AND claim_generation < $2 AND crashes + 1 >= $5";

/// Items left processing go back to pending; those a dead process left (an older
/// generation) count a crash, which makes them run alone from now on.
pub const RECOVER_PROCESSING: &str = "UPDATE job_items SET status = 'pending', \
       crashes = crashes + CASE WHEN claim_generation < $2 THEN 1 ELSE 0 END, \
       claim_generation = NULL \
     WHERE job_id = $1 AND status = 'processing'";

/// Items that crashed a process and have not ended, through their partial index.
pub const SUSPECTS: &str = "SELECT item_no, status, not_before FROM job_items \
     WHERE job_id = $1 AND crashes > 0 AND status IN ('pending', 'processing') ORDER BY item_no";

pub const ANY_PROCESSING: &str =
    "SELECT EXISTS (SELECT 1 FROM job_items WHERE job_id = $1 AND status = 'processing')";

pub const CLAIM_ONE: &str = "UPDATE job_items \
       SET status = 'processing', attempts = attempts + 1, claim_generation = $2, started_at = $3 \
     WHERE job_id = $1 AND item_no = $4 AND status = 'pending' RETURNING item_no, attempts";

macro_rules! impl_stores {
    ($store:ty, $db:ty, $dialect:ident) => {
        use quire_actors::model::{
            ClaimedItem, Item, ItemStatus, Job, JobError, JobEvent, JobStatus, Lease,
            NewJob, Progress,
        };
        use quire_actors::ports::{
            Commit, Committed, Entered, ItemCounts, JobFilter, JobStore, LeaseRenewal, Takeover,
        };
        use quire_actors::{BookId, JobId, JobKind, StoreError};
        use sqlx::types::Json;
        use $crate::store::rows::{
            active_statuses, classify, item_columns, job_columns, BookRow, ItemRow, JobRow,
        };
        use $crate::store::shared::{self, parse_status};
        use $crate::store::{Book, Catalog, JobTotals, NewBook};

        type Tx = sqlx::Transaction<'static, $db>;

        fn wrong_status(job_id: JobId, status: JobStatus) -> StoreError {
            StoreError::WrongStatus { job_id, status }
        }

        impl $store {
            /// Checks that `lease` still holds its job, locking the job row for the rest of
            /// the transaction. Returns the job's status.
            async fn fence(tx: &mut Tx, lease: &Lease, now: i64) -> Result<JobStatus, StoreError> {
                Self::fence_held(tx, lease, now).await.map(|(status, _)| status)
            }

            /// [`Self::fence`], also saying whether the job is held.
            async fn fence_held(
                tx: &mut Tx,
                lease: &Lease,
                now: i64,
            ) -> Result<(JobStatus, bool), StoreError> {
                let row: Option<(String, bool)> = sqlx::query_as(shared::FENCE)
                    .bind(lease.job_id.0)
                    .bind(&lease.owner)
                    .bind(lease.generation)
                    .bind(now)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(classify)?;
                match row {
                    Some((status, held)) => Ok((parse_status(&status)?, held)),
                    None => Err(Self::why_fenced(tx, lease).await),
                }
            }

            /// Why a fenced write matched no row: the job is gone, ended, or leased anew.
            async fn why_fenced(tx: &mut Tx, lease: &Lease) -> StoreError {
                let row: Result<Option<(String,)>, _> =
                    sqlx::query_as("SELECT status FROM jobs WHERE id = $1")
                        .bind(lease.job_id.0)
                        .fetch_optional(&mut **tx)
                        .await;
                match row {
                    Err(e) => classify(e),
                    Ok(None) => StoreError::JobNotFound(lease.job_id),
                    Ok(Some((status,))) => match parse_status(&status) {
                        Ok(status) if status.is_terminal() => wrong_status(lease.job_id, status),
                        Ok(_) => StoreError::Fenced { job_id: lease.job_id, generation: lease.generation },
                        Err(e) => e,
                    },
                }
            }

            /// Items left processing by a JobActor that is gone go back to pending; their
            /// attempt stays counted.
            async fn release_processing(tx: &mut Tx, job_id: JobId) -> Result<(), StoreError> {
                sqlx::query(shared::RELEASE_PROCESSING)
                    .bind(job_id.0)
                    .execute(&mut **tx)
                    .await
                    .map_err(classify)?;
                Ok(())
            }

            /// Items left processing when a new lease holder enters: back to pending, their
            /// attempt kept; a dead process's (an older generation) count a crash, and fail
            /// `CRASHED_REPEATEDLY` at `crash_limit`.
            async fn recover_processing(
                tx: &mut Tx,
                lease: &Lease,
                crash_limit: u32,
                now: i64,
            ) -> Result<(), StoreError> {
                let message = format!(
                    "the process running this item died {crash_limit} times before the item ended \
                     (out of memory, an abort, a crash in a native library); it is not tried again \
                     in this job. Resume the job to try it once more"
                );
                sqlx::query(shared::FAIL_CRASHED)
                    .bind(lease.job_id.0)
                    .bind(lease.generation)
                    .bind(now)
                    .bind(message)
                    .bind(i64::from(crash_limit.max(1)))
                    .execute(&mut **tx)
                    .await
                    .map_err(classify)?;
                sqlx::query(shared::RECOVER_PROCESSING)
                    .bind(lease.job_id.0)
                    .bind(lease.generation)
                    .execute(&mut **tx)
                    .await
                    .map_err(classify)?;
                Ok(())
            }

            /// Claims up to `limit` due pending items in item order, within the caller's
            /// fenced transaction.
            async fn claim_in(
                tx: &mut Tx,
                lease: &Lease,
                limit: u32,
                now: i64,
            ) -> Result<Vec<ClaimedItem>, StoreError> {
                if let Some(isolated) = Self::claim_suspect(tx, lease, now).await? {
                    return Ok(isolated);
                }
                let rows: Vec<(i64, i64)> = sqlx::query_as($dialect::CLAIM_ITEMS)
                    .bind(lease.job_id.0)
                    .bind(lease.generation)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(classify)?;
                let mut items: Vec<ClaimedItem> = rows
                    .into_iter()
                    .map(|(item_no, attempts)| ClaimedItem { item_no, attempts })
                    .collect();
                items.sort_unstable_by_key(|i| i.item_no);
                Ok(items)
            }

            /// An item that crashed a process runs alone, so that a second crash names it and
            /// spares the items that only died with it. `Some` while such an item is due or
            /// running: it alone once nothing else runs, else nothing; `None` lets the
            /// ordinary claim go on.
            async fn claim_suspect(
                tx: &mut Tx,
                lease: &Lease,
                now: i64,
            ) -> Result<Option<Vec<ClaimedItem>>, StoreError> {
                let suspects: Vec<(i64, String, Option<i64>)> = sqlx::query_as(shared::SUSPECTS)
                    .bind(lease.job_id.0)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(classify)?;
                if suspects.iter().any(|(_, status, _)| status == ItemStatus::Processing.as_str()) {
                    return Ok(Some(Vec::new()));
                }
                let Some(&(item_no, _, _)) =
                    suspects.iter().find(|(_, _, due)| due.is_none_or(|due| due <= now))
                else {
                    return Ok(None);
                };
                let (busy,): (bool,) = sqlx::query_as(shared::ANY_PROCESSING)
                    .bind(lease.job_id.0)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(classify)?;
                if busy {
                    return Ok(Some(Vec::new()));
                }
                let claimed: Vec<(i64, i64)> = sqlx::query_as(shared::CLAIM_ONE)
                    .bind(lease.job_id.0)
                    .bind(lease.generation)
                    .bind(now)
                    .bind(item_no)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(classify)?;
                Ok(Some(
                    claimed
                        .into_iter()
                        .map(|(item_no, attempts)| ClaimedItem { item_no, attempts })
                        .collect(),
                ))
            }

            async fn job_in<'e, E>(executor: E, id: JobId) -> Result<Job, StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let row: Option<JobRow> =
                    sqlx::query_as(concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1"))
                        .bind(id.0)
                        .fetch_optional(executor)
                        .await
                        .map_err(classify)?;
                row.ok_or(StoreError::JobNotFound(id))?.try_into()
            }

            async fn counts_in<'e, E>(executor: E, id: JobId) -> Result<ItemCounts, StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT status, COUNT(*) FROM job_items WHERE job_id = $1 GROUP BY status",
                )
                .bind(id.0)
                .fetch_all(executor)
                .await
                .map_err(classify)?;
                let mut counts = ItemCounts::default();
                for (status, n) in rows {
                    let status: ItemStatus =
                        status.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))?;
                    counts.add(status, n as u64);
                }
                Ok(counts)
            }
        }

        #[async_trait::async_trait]
        impl JobStore for $store {
            async fn create_job(
                &self,
                id: JobId,
                new: &NewJob,
                owner: &str,
                lease_expires_at: i64,
                now: i64,
            ) -> Result<Job, StoreError> {
                // A lost race for the JobLock names the holder; if the holder ended in
                // between, the lock is free and the insert is simply tried again.
                let mut tries = 0;
                let mut tx = loop {
                    tries += 1;
                    let mut tx = self.begin().await?;
                    let inserted = sqlx::query(
                        "INSERT INTO jobs (id, book_id, kind, status, params, total_items, resumed_from, \
                           lease_owner, lease_generation, lease_expires_at, heartbeat_at, created_at, held) \
                         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, 1, $8, $9, $9, $10)",
                    )
                    .bind(id.0)
                    .bind(new.book_id.0)
                    .bind(new.kind.as_str())
                    .bind(Json(&new.params))
                    .bind(new.items.len() as i64)
                    .bind(new.resumed_from.map(|j| j.0))
                    .bind(owner)
                    .bind(lease_expires_at)
                    .bind(now)
                    .bind(new.held)
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        Ok(_) => break tx,
                        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                            drop(tx);
                            match self.active_job(new.book_id).await? {
                                Some(holder) => return Err(StoreError::BookBusy { holder: holder.id }),
                                None if tries < 3 => continue,
                                None => {
                                    return Err(StoreError::Unavailable(
                                        "the JobLock keeps changing hands; try again".into(),
                                    ));
                                }
                            }
                        }
                        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                            return Err(StoreError::BookNotFound(new.book_id));
                        }
                        Err(e) => return Err(classify(e)),
                    }
                };
                sqlx::query($dialect::INSERT_ITEMS)
                    .bind(id.0)
                    .bind(Json(&new.items))
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                let job = Self::job_in(&mut *tx, id).await?;
                tx.commit().await.map_err(classify)?;
                Ok(job)
            }

            async fn release_job(&self, lease: &Lease, items: &[i64], now: i64) -> Result<Job, StoreError> {
                let mut tx = self.begin().await?;
                let (status, held) = Self::fence_held(&mut tx, lease, now).await?;
                if !held || status != JobStatus::Pending {
                    return Err(wrong_status(lease.job_id, status));
                }
                // Items may already be there: an upload adds each page's item with its page.
                sqlx::query($dialect::ADD_ITEMS)
                    .bind(lease.job_id.0)
                    .bind(Json(items))
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                sqlx::query(
                    "UPDATE jobs SET held = FALSE, \
                       total_items = (SELECT COUNT(*) FROM job_items WHERE job_id = $1) \
                     WHERE id = $1",
                )
                .bind(lease.job_id.0)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let job = Self::job_in(&mut *tx, lease.job_id).await?;
                tx.commit().await.map_err(classify)?;
                Ok(job)
            }

            async fn job(&self, id: JobId) -> Result<Job, StoreError> {
                Self::job_in(self.reader(), id).await
            }

            async fn active_job(&self, book: BookId) -> Result<Option<Job>, StoreError> {
                let row: Option<JobRow> = sqlx::query_as(concat!(
                    "SELECT ", job_columns!(), " FROM jobs WHERE book_id = $1 AND status IN ",
                    active_statuses!()
                ))
                .bind(book.0)
                .fetch_optional(self.reader())
                .await
                .map_err(classify)?;
                row.map(Job::try_from).transpose()
            }

            async fn jobs(
                &self,
                filter: &JobFilter,
                before: Option<JobId>,
                limit: u32,
            ) -> Result<Vec<Job>, StoreError> {
                let rows: Vec<JobRow> = sqlx::query_as(concat!(
                    "SELECT ", job_columns!(), " FROM jobs \
                     WHERE ($1 IS NULL OR book_id = $1) AND ($2 IS NULL OR kind = $2) \
                       AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR id < $4) \
                     ORDER BY id DESC LIMIT $5"
                ))
                .bind(filter.book.map(|b| b.0))
                .bind(filter.kind.map(JobKind::as_str))
                .bind(filter.status.map(JobStatus::as_str))
                .bind(before.map(|j| j.0))
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await
                .map_err(classify)?;
                rows.into_iter().map(Job::try_from).collect()
            }

            async fn latest_job(
                &self,
                book: BookId,
                kind: Option<JobKind>,
            ) -> Result<Option<Job>, StoreError> {
                let row: Option<JobRow> = sqlx::query_as(concat!(
                    "SELECT ", job_columns!(), " FROM jobs \
                     WHERE book_id = $1 AND ($2 IS NULL OR kind = $2) \
                     ORDER BY created_at DESC, id DESC LIMIT 1"
                ))
                .bind(book.0)
                .bind(kind.map(JobKind::as_str))
                .fetch_optional(self.reader())
                .await
                .map_err(classify)?;
                row.map(Job::try_from).transpose()
            }

            async fn item_counts(&self, id: JobId) -> Result<ItemCounts, StoreError> {
                Self::counts_in(self.reader(), id).await
            }

            async fn items(
                &self,
                id: JobId,
                status: Option<ItemStatus>,
                after: Option<i64>,
                limit: u32,
            ) -> Result<Vec<Item>, StoreError> {
                let rows: Vec<ItemRow> = sqlx::query_as(concat!(
                    "SELECT ", item_columns!(), " FROM job_items \
                     WHERE job_id = $1 AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR item_no > $3) \
                     ORDER BY item_no LIMIT $4"
                ))
                .bind(id.0)
                .bind(status.map(ItemStatus::as_str))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await
                .map_err(classify)?;
                rows.into_iter().map(Item::try_from).collect()
            }

            async fn enter_job(
                &self,
                lease: &Lease,
                claim: u32,
                crash_limit: u32,
                now: i64,
            ) -> Result<Entered, StoreError> {
                let mut tx = self.begin().await?;
                let (status, held) = Self::fence_held(&mut tx, lease, now).await?;
                // A held job has no items to run: it is returned as it is, for its new holder
                // to fail (the node that held it for an upload is gone).
                if held {
                    let job = Self::job_in(&mut *tx, lease.job_id).await?;
                    tx.commit().await.map_err(classify)?;
                    return Ok(Entered { job, claimed: Vec::new() });
                }
                if status == JobStatus::Pending {
                    let next = status
                        .apply(JobEvent::Start)
                        .map_err(|_| wrong_status(lease.job_id, status))?;
                    sqlx::query(
                        "UPDATE jobs SET status = $2, started_at = COALESCE(started_at, $3) WHERE id = $1",
                    )
                    .bind(lease.job_id.0)
                    .bind(next.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                }
                Self::recover_processing(&mut tx, lease, crash_limit, now).await?;
                let counts = Self::counts_in(&mut *tx, lease.job_id).await?;
                // In an auto retry round every item still to end failed in an earlier
                // one, and is counted failed until it ends again (see `Progress::count`).
                let round = Self::job_in(&mut *tx, lease.job_id).await?.retry_round;
                let failed = if round > 0 {
                    counts.failed + counts.pending + counts.processing
                } else {
                    counts.failed
                };
                sqlx::query(
                    "UPDATE jobs SET total_items = $2, completed_items = $3, failed_items = $4 WHERE id = $1",
                )
                .bind(lease.job_id.0)
                .bind(counts.total() as i64)
                .bind(counts.completed as i64)
                .bind(failed as i64)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let job = Self::job_in(&mut *tx, lease.job_id).await?;
                let claimed = if job.status == JobStatus::Running && claim > 0 {
                    Self::claim_in(&mut tx, lease, claim, now).await?
                } else {
                    Vec::new()
                };
                tx.commit().await.map_err(classify)?;
                Ok(Entered { job, claimed })
            }

            async fn claim_items(
                &self,
                lease: &Lease,
                limit: u32,
                now: i64,
            ) -> Result<Vec<ClaimedItem>, StoreError> {
                let mut tx = self.begin().await?;
                let status = Self::fence(&mut tx, lease, now).await?;
                if status != JobStatus::Running {
                    return Ok(Vec::new());
                }
                let items = Self::claim_in(&mut tx, lease, limit, now).await?;
                tx.commit().await.map_err(classify)?;
                Ok(items)
            }

            async fn next_due(&self, id: JobId) -> Result<Option<i64>, StoreError> {
                let (due,): (Option<i64>,) = sqlx::query_as(
                    "SELECT MIN(COALESCE(not_before, 0)) FROM job_items \
                     WHERE job_id = $1 AND status = 'pending'",
                )
                .bind(id.0)
                .fetch_one(self.reader())
                .await
                .map_err(classify)?;
                Ok(due)
            }

            async fn commit(&self, lease: &Lease, commit: Commit<'_>) -> Result<Committed, StoreError> {
                let Commit { outcomes, progress, claim, lease_expires_at, now } = commit;
                let mut tx = self.begin().await?;
                let row: Option<(String,)> = sqlx::query_as(shared::COMMIT_PROGRESS)
                    .bind(lease.job_id.0)
                    .bind(&lease.owner)
                    .bind(lease.generation)
                    .bind(now)
                    .bind(lease_expires_at)
                    .bind(progress.completed as i64)
                    .bind(progress.failed as i64)
                    .bind(progress.current_item)
                    .bind(progress.last_completed_item)
                    .bind(progress.stage.as_deref())
                    .bind(progress.stage_started_at)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(classify)?;
                let status = match row {
                    Some((status,)) => parse_status(&status)?,
                    None => return Err(Self::why_fenced(&mut tx, lease).await),
                };
                if !outcomes.is_empty() {
                    let outcomes = $crate::store::rows::without_nul(outcomes);
                    let written = $dialect::write_outcomes(&mut tx, lease, &outcomes)
                        .await
                        .map_err(classify)?;
                    // An item not processing under this generation was released or
                    // re-claimed by someone else: the whole batch is refused.
                    if written != outcomes.len() as u64 {
                        return Err(StoreError::Fenced {
                            job_id: lease.job_id,
                            generation: lease.generation,
                        });
                    }
                }
                let claimed = if status == JobStatus::Running && claim > 0 {
                    Self::claim_in(&mut tx, lease, claim, now).await?
                } else {
                    Vec::new()
                };
                tx.commit().await.map_err(classify)?;
                Ok(Committed { status, claimed })
            }

            async fn requeue_retryable(&self, lease: &Lease, now: i64) -> Result<u64, StoreError> {
                let mut tx = self.begin().await?;
                Self::fence(&mut tx, lease, now).await?;
                let n = sqlx::query(
                    "UPDATE job_items SET status = 'pending', finished_at = NULL, not_before = NULL \
                     WHERE job_id = $1 AND status = 'failed' AND error_class = 'retryable'",
                )
                .bind(lease.job_id.0)
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
                // The requeued items stay counted as failed: progress never goes back.
                sqlx::query("UPDATE jobs SET retry_round = retry_round + 1 WHERE id = $1")
                    .bind(lease.job_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok(n)
            }

            async fn finish_job(
                &self,
                lease: &Lease,
                event: JobEvent,
                error: Option<&JobError>,
                progress: &Progress,
                now: i64,
            ) -> Result<Job, StoreError> {
                let mut tx = self.begin().await?;
                let status = Self::fence(&mut tx, lease, now).await?;
                let next = status.apply(event).map_err(|_| wrong_status(lease.job_id, status))?;
                let error = if next == JobStatus::Failed { error } else { None };
                sqlx::query(
                    "UPDATE jobs SET status = $2, error_code = $3, error = $4, finished_at = $5, \
                       lease_expires_at = NULL, completed_items = $6, failed_items = $7, \
                       current_item = $8, last_completed_item = $9 \
                     WHERE id = $1",
                )
                .bind(lease.job_id.0)
                .bind(next.as_str())
                .bind(error.map(|e| e.code.as_str()))
                .bind(error.map(|e| e.message.as_str()))
                .bind(next.is_terminal().then_some(now))
                .bind(progress.completed as i64)
                .bind(progress.failed as i64)
                .bind(progress.current_item)
                .bind(progress.last_completed_item)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                Self::release_processing(&mut tx, lease.job_id).await?;
                let job = Self::job_in(&mut *tx, lease.job_id).await?;
                tx.commit().await.map_err(classify)?;
                Ok(job)
            }

            async fn request_cancel(&self, id: JobId, now: i64) -> Result<Job, StoreError> {
                // The status read and the conditional update race with the lease holder's
                // own moves (start, finish) on PostgreSQL: try again until the update lands.
                for _ in 0..10 {
                    let mut tx = self.begin().await?;
                    let job = Self::job_in(&mut *tx, id).await?;
                    let mut next = job
                        .status
                        .apply(JobEvent::Cancel)
                        .map_err(|_| wrong_status(id, job.status))?;
                    // A job whose lease expired has nobody to wind it down (its node died, or
                    // no node runs its kind): it stops here, and a later takeover finds it
                    // ended. The generation in the update keeps this from racing a takeover.
                    if next == JobStatus::Cancelling && job.lease_expires_at.is_none_or(|at| at < now) {
                        next = next
                            .apply(JobEvent::Stopped)
                            .map_err(|_| wrong_status(id, job.status))?;
                    }
                    let ends = next.is_terminal();
                    let changed = sqlx::query(
                        "UPDATE jobs SET status = $2, cancel_requested_at = COALESCE(cancel_requested_at, $3), \
                           finished_at = $4, lease_expires_at = CASE WHEN $5 THEN NULL ELSE lease_expires_at END \
                         WHERE id = $1 AND status = $6 AND lease_generation = $7",
                    )
                    .bind(id.0)
                    .bind(next.as_str())
                    .bind(now)
                    .bind(ends.then_some(now))
                    .bind(ends)
                    .bind(job.status.as_str())
                    .bind(job.lease_generation)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                    if changed == 1 && ends {
                        Self::release_processing(&mut tx, id).await?;
                    }
                    if changed == 1 {
                        let job = Self::job_in(&mut *tx, id).await?;
                        tx.commit().await.map_err(classify)?;
                        return Ok(job);
                    }
                }
                Err(StoreError::Unavailable("the job kept changing; try the cancel again".into()))
            }

            async fn renew_leases(
                &self,
                owner: &str,
                leases: &[(JobId, i64)],
                expires_at: i64,
                now: i64,
            ) -> Result<LeaseRenewal, StoreError> {
                let mut tx = self.begin().await?;
                let mut renewal = LeaseRenewal::default();
                for &(job_id, generation) in leases {
                    let row: Option<(String,)> = sqlx::query_as(concat!(
                        "UPDATE jobs SET lease_expires_at = $4, heartbeat_at = $5 \
                         WHERE id = $1 AND lease_owner = $2 AND lease_generation = $3 \
                           AND status IN ",
                        active_statuses!(),
                        " RETURNING status"
                    ))
                    .bind(job_id.0)
                    .bind(owner)
                    .bind(generation)
                    .bind(expires_at)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(classify)?;
                    match row {
                        None => renewal.lost.push(job_id),
                        Some((status,)) if parse_status(&status)? == JobStatus::Cancelling => {
                            renewal.cancelling.push(job_id)
                        }
                        Some(_) => {}
                    }
                }
                tx.commit().await.map_err(classify)?;
                Ok(renewal)
            }

            async fn take_over(&self, takeover: Takeover<'_>) -> Result<Vec<Lease>, StoreError> {
                let Takeover { owner, owned_by, kinds, now, expires_at, limit } = takeover;
                let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                let mut tx = self.begin().await?;
                let rows: Vec<(uuid::Uuid, i64)> = sqlx::query_as($dialect::TAKE_OVER)
                    .bind(owner)
                    .bind(expires_at)
                    .bind(now)
                    .bind(owned_by)
                    .bind(i64::from(limit.min(i64::MAX as u32)))
                    .bind(Json(&kinds))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, generation)| Lease {
                        job_id: JobId(id),
                        owner: owner.to_owned(),
                        generation,
                    })
                    .collect())
            }
        }
    };
}
pub(crate) use impl_stores;
