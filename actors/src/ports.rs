//! What the runtime needs from the outside world, as small traits the adapters implement:
//! a [`JobStore`] (SQLite, PostgreSQL), item handlers (OCR engines, LLM extractors, the
//! synthetic load) and a [`Clock`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::Value;

use crate::error::{ItemError, StoreError};
use crate::model::{
    BookId, ClaimedItem, Item, ItemOutcome, ItemStatus, Job, JobError, JobEvent, JobId, JobKind,
    JobStatus, Lease, NewJob, Progress,
};
use crate::runtime::{StopLevel, StopSignal};

/// Counts of a job's items by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ItemCounts {
    pub pending: u64,
    pub processing: u64,
    pub completed: u64,
    pub failed: u64,
}

impl ItemCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.processing + self.completed + self.failed
    }

    pub fn add(&mut self, status: ItemStatus, n: u64) {
        match status {
            ItemStatus::Pending => self.pending += n,
            ItemStatus::Processing => self.processing += n,
            ItemStatus::Completed => self.completed += n,
            ItemStatus::Failed => self.failed += n,
        }
    }
}

/// One batch a JobActor writes: outcomes, progress, and how many items to claim next.
#[derive(Clone, Copy, Debug)]
pub struct Commit<'a> {
    pub outcomes: &'a [ItemOutcome],
    pub progress: &'a Progress,
    /// Claim up to this many due items once the outcomes are written (0: none). Nothing is
    /// claimed unless the job is still running.
    pub claim: u32,
    pub lease_expires_at: i64,
    pub now: i64,
}

/// A job as its new lease holder finds it, with its first claimed items.
#[derive(Clone, Debug, PartialEq)]
pub struct Entered {
    pub job: Job,
    pub claimed: Vec<ClaimedItem>,
}

/// What a commit found and claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub status: JobStatus,
    pub claimed: Vec<ClaimedItem>,
}

/// Which jobs a listing returns; `None` matches any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub book: Option<BookId>,
    pub kind: Option<JobKind>,
    pub status: Option<JobStatus>,
}

/// Which active jobs a node takes: up to `limit` whose lease expired before `now`, or, with
/// `owned_by`, every active job leased to that owner (a node's own jobs after a restart).
/// Only jobs of `kinds`, the kinds the node runs: a job no handler here can run is left for
/// a node that can.
#[derive(Clone, Copy, Debug)]
pub struct Takeover<'a> {
    pub owner: &'a str,
    pub owned_by: Option<&'a str>,
    pub kinds: &'a [JobKind],
    pub now: i64,
    pub expires_at: i64,
    pub limit: u32,
}

/// What a lease renewal found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseRenewal {
    pub lost: Vec<JobId>,
    pub cancelling: Vec<JobId>,
}

/// Durable job and item state. The database is the single source of truth; every write a
/// lease holder makes is fenced by its [`Lease::generation`].
///
/// Timestamps are milliseconds since the Unix epoch, passed in by the caller so a test can
/// drive time.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Inserts a pending job and its items, taking the book's JobLock and the job's lease for
    /// `owner`, all in one transaction. A held lock is [`StoreError::BookBusy`].
    async fn create_job(
        &self,
        id: JobId,
        new: &NewJob,
        owner: &str,
        lease_expires_at: i64,
        now: i64,
    ) -> Result<Job, StoreError>;

    /// Gives a held job these items (besides any it was given while held) and lets it run;
    /// refused unless it is still pending and held under this lease.
    async fn release_job(&self, lease: &Lease, items: &[i64], now: i64) -> Result<Job, StoreError>;

    async fn job(&self, id: JobId) -> Result<Job, StoreError>;

    /// The job holding the book's JobLock, if any.
    async fn active_job(&self, book: BookId) -> Result<Option<Job>, StoreError>;

    /// Jobs newest first, filtered, after the cursor `before` (a job id), at most `limit`.
    async fn jobs(
        &self,
        filter: &JobFilter,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// The newest job of the book, optionally of one kind.
    async fn latest_job(
        &self,
        book: BookId,
        kind: Option<JobKind>,
    ) -> Result<Option<Job>, StoreError>;

    async fn item_counts(&self, id: JobId) -> Result<ItemCounts, StoreError>;

    /// Items in item order after `after`, at most `limit`, optionally of one status.
    async fn items(
        &self,
        id: JobId,
        status: Option<ItemStatus>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Item>, StoreError>;

    /// Enters a job under `lease`: a pending job starts running; items left processing go
    /// back to pending (their attempt stays counted); the returned job's progress is derived
    /// from its item rows; and up to `claim` due items are claimed in the same transaction if
    /// the job runs. A held job is returned untouched.
    ///
    /// An item left processing by an older generation died with its process: it counts a
    /// crash, runs alone from then on (claims take it by itself once nothing else of the job
    /// runs), and at `crash_limit` crashes fails terminal `CRASHED_REPEATEDLY`.
    async fn enter_job(
        &self,
        lease: &Lease,
        claim: u32,
        crash_limit: u32,
        now: i64,
    ) -> Result<Entered, StoreError>;

    /// Claims up to `limit` due pending items in item order (pending -> processing); none
    /// unless the job is running (a cancel may have been recorded elsewhere).
    async fn claim_items(
        &self,
        lease: &Lease,
        limit: u32,
        now: i64,
    ) -> Result<Vec<ClaimedItem>, StoreError>;

    /// The earliest backoff deadline among pending items, if any.
    async fn next_due(&self, id: JobId) -> Result<Option<i64>, StoreError>;

    /// Persists a batch of item outcomes and the job's progress in one transaction, renewing
    /// the lease, and claims the next items in the same transaction if the job still runs.
    /// Returns the job's status, so the JobActor sees a cancel made elsewhere.
    async fn commit(&self, lease: &Lease, commit: Commit<'_>) -> Result<Committed, StoreError>;

    /// Puts retryably-failed items back to pending for another round; returns how many.
    async fn requeue_retryable(&self, lease: &Lease, now: i64) -> Result<u64, StoreError>;

    /// Ends the job (`Finish`, `Fail` or `Stopped`) through [`crate::model::JobStatus::apply`]
    /// and releases the JobLock. `error` is set iff the job fails.
    async fn finish_job(
        &self,
        lease: &Lease,
        event: JobEvent,
        error: Option<&JobError>,
        progress: &Progress,
        now: i64,
    ) -> Result<Job, StoreError>;

    /// A pending job ends cancelled at once; a running one moves to cancelling.
    async fn request_cancel(&self, id: JobId, now: i64) -> Result<Job, StoreError>;

    /// Extends the leases `owner` still holds at these generations (`expires_at = now` lets
    /// them go). A lease taken over (a newer generation) or of a job that ended is reported
    /// lost. One that expired without being taken over is still this holder's and is
    /// renewed: a node's own slowness never costs it its live jobs, and the generation
    /// fences it out the moment anyone else takes one. Also reports the jobs a cancel was
    /// recorded for, possibly by another node.
    async fn renew_leases(
        &self,
        owner: &str,
        leases: &[(JobId, i64)],
        expires_at: i64,
        now: i64,
    ) -> Result<LeaseRenewal, StoreError>;

    /// Takes over active jobs as `takeover` says. Each taken job gets the next lease
    /// generation.
    async fn take_over(&self, takeover: Takeover<'_>) -> Result<Vec<Lease>, StoreError>;
}

/// What a handler knows about the item it runs.
#[derive(Clone, Debug)]
pub struct ItemContext {
    pub job_id: JobId,
    pub book_id: BookId,
    pub kind: JobKind,
    pub item_no: i64,
    /// 1 for the first attempt.
    pub attempt: i64,
    pub params: Arc<Value>,
    /// The job's stop: raised when a cancel (or a fatal error, or a drain) is seen.
    pub stop: StopSignal,
}

impl ItemContext {
    /// `Err(ItemError::Stopped)` once the job stops taking new work. A handler that waits
    /// for a slot of its own (an engine's processes, a provider's concurrency) checks this
    /// after the wait, before it calls out: a cancelled job makes no more provider calls.
    pub fn may_start(&self) -> Result<(), ItemError> {
        if self.stop.level() >= StopLevel::NoNewWork {
            return Err(ItemError::Stopped);
        }
        Ok(())
    }

    /// A place in one of the handler's own bounded pools, given up as soon as the job
    /// stops; checked with [`Self::may_start`] once had. A closed pool is a shutdown,
    /// retried elsewhere.
    pub async fn slot<'a>(
        &self,
        pool: &'a tokio::sync::Semaphore,
    ) -> Result<tokio::sync::SemaphorePermit<'a>, ItemError> {
        let permit = tokio::select! {
            permit = pool.acquire() => permit.map_err(|_| {
                ItemError::retryable("SHUTTING_DOWN", "the pool is closed")
            })?,
            () = self.stop.clone().stopping() => return Err(ItemError::Stopped),
        };
        self.may_start()?;
        Ok(permit)
    }

    /// The span an item runs in: every log line of a handler names its job, book and item.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("item", job_id = %self.job_id, book_id = %self.book_id,
            kind = %self.kind, item = self.item_no, attempt = self.attempt)
    }
}

/// Runs one item as a future on the runtime's thread. Must not block: a handler's CPU work
/// runs in child processes (Tesseract, poppler) or on tokio's blocking threads under a
/// budget of its own. A panic is caught and becomes a retryable `WORKER_PANIC`.
#[async_trait]
pub trait ItemHandler: Send + Sync + 'static {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError>;

    /// Who answers this handler's calls, as one rate-limit quota: a 429 from it pauses the
    /// items of every handler with the same identity, and no other. Handlers that call the
    /// same provider (same endpoint and model) share a quota; local work has its own name.
    fn provider(&self) -> &str;
}

/// Wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}
