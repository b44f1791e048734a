use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::broadcast;

use super::RuntimeConfig;
use super::heartbeat::{Heartbeat, recover_own_jobs};
use super::item_pool::ItemPool;
use super::kinds::KindRegistry;
use super::stats::RuntimeStats;
use super::stop::NodeDraining;
use super::submit::{ResumeMode, SubmitError};
use super::supervisor::{AbortHeld, Adopt, Cancel, Release, Shutdown, Submit, Supervisor};
use crate::error::StoreError;
use crate::model::{ItemStatus, Job, JobId, JobKind, NewJob};
use crate::ports::{Clock, JobStore};

/// The one way into the runtime for the HTTP API, the CLI and tests. Cheap to clone.
#[derive(Clone)]
pub struct RuntimeHandle {
    supervisor: Addr<Supervisor>,
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<Job>,
    stats: Arc<RuntimeStats>,
    /// Raised by [`Self::shutdown`]; the Heartbeat takes over nothing once it is.
    draining: Arc<NodeDraining>,
    /// Which failed items still have attempts left, for [`Self::retry_items`].
    retry: crate::retry::RetryPolicy,
}

/// What a retry of a job's items scheduled.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemRetry {
    /// The new job running exactly the scheduled items; `None` when none was eligible.
    pub job: Option<Job>,
    pub scheduled: Vec<i64>,
    /// Items asked for and left out, with why.
    pub skipped: Vec<(i64, SkipReason)>,
}

/// Why an item asked for was not retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The job has no such item.
    NotAnItem,
    /// It completed.
    Completed,
    /// It used up its attempts; `force` retries it anyway.
    NoAttemptsLeft,
}

impl RuntimeHandle {
    /// Starts the actor tree on the current actix `System`. First, before it accepts any
    /// job, it takes back the jobs this node held when it last went down.
    pub async fn start(
        cfg: RuntimeConfig,
        store: Arc<dyn JobStore>,
        kinds: KindRegistry,
        clock: Arc<dyn Clock>,
    ) -> Result<RuntimeHandle, StoreError> {
        let runnable: Arc<[JobKind]> = kinds.keys().copied().collect();
        let interrupted = recover_own_jobs(&*store, &*clock, &cfg, &runnable).await?;
        let retry = cfg.retry.clone();
        let cfg = Arc::new(cfg);
        let (events, _) = broadcast::channel(1024);
        let stats = Arc::new(RuntimeStats::default());
        let draining = Arc::new(NodeDraining::default());
        let pool = ItemPool::start(cfg.pool_concurrency, cfg.retry.max, stats.clone());
        let supervisor = Supervisor::new(
            store.clone(),
            clock.clone(),
            cfg.clone(),
            Arc::new(kinds),
            stats.clone(),
            pool,
            events.clone(),
        )
        .start();
        if !interrupted.is_empty() {
            supervisor.do_send(Adopt(interrupted));
        }
        Heartbeat::new(
            store.clone(),
            clock.clone(),
            cfg,
            supervisor.clone(),
            draining.clone(),
            runnable,
        )
        .start();
        Ok(RuntimeHandle {
            supervisor,
            store,
            clock,
            events,
            stats,
            draining,
            retry,
        })
    }

    /// Creates a job (taking the book's JobLock) and starts driving it on this node.
    pub async fn submit(&self, new: NewJob) -> Result<Job, SubmitError> {
        self.supervisor
            .send(Submit(new))
            .await
            .map_err(|_| SubmitError::Stopped)?
    }

    /// Takes the book's JobLock for a job whose items are still arriving (an upload): the
    /// job is created pending and held, and runs once [`Self::release`]d with its items. If
    /// this node dies first, the node that takes the job over fails it (`UPLOAD_INTERRUPTED`).
    pub async fn hold(
        &self,
        book_id: crate::model::BookId,
        kind: JobKind,
        params: serde_json::Value,
    ) -> Result<Job, SubmitError> {
        let new = NewJob {
            book_id,
            kind,
            params,
            items: Vec::new(),
            resumed_from: None,
            held: true,
        };
        self.submit(new).await
    }

    /// Gives a held job its items and starts it.
    pub async fn release(&self, id: JobId, items: Vec<i64>) -> Result<Job, SubmitError> {
        let mut items = items;
        items.sort_unstable();
        items.dedup();
        self.supervisor
            .send(Release { job_id: id, items })
            .await
            .map_err(|_| SubmitError::Stopped)?
    }

    /// Fails a held job whose other items will not come, releasing the JobLock. Items it
    /// already has stay with it, for a resume.
    pub async fn abort_held(
        &self,
        id: JobId,
        error: crate::model::JobError,
    ) -> Result<Job, SubmitError> {
        self.supervisor
            .send(AbortHeld { job_id: id, error })
            .await
            .map_err(|_| SubmitError::Stopped)?
    }

    /// A new job for the items of `old` that did not complete (or all of them), linked to it.
    pub async fn resume(&self, old: JobId, mode: ResumeMode) -> Result<Job, SubmitError> {
        let job = self.store.job(old).await?;
        if job.status.is_active() {
            return Err(SubmitError::NotResumable {
                job_id: old,
                reason: "it is still active",
            });
        }
        let mut items = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.items(old, None, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.item_no);
            items.extend(
                page.iter()
                    .filter(|i| mode == ResumeMode::Restart || i.status != ItemStatus::Completed)
                    .map(|i| i.item_no),
            );
        }
        if items.is_empty() {
            return Err(SubmitError::NotResumable {
                job_id: old,
                reason: "every item completed",
            });
        }
        self.submit(NewJob {
            book_id: job.book_id,
            kind: job.kind,
            params: job.params,
            items,
            resumed_from: Some(old),
            held: false,
        })
        .await
    }

    /// Starts a new job (linked to `old` as its `resumed_from`) with exactly the failed
    /// items of `old` that `items` names (`None`: every failed one) and that have attempts
    /// left, or, with `force`, also those that used theirs up; each starts with a fresh
    /// budget. Nothing eligible starts nothing.
    pub async fn retry_items(
        &self,
        old: JobId,
        items: Option<&[i64]>,
        force: bool,
    ) -> Result<ItemRetry, SubmitError> {
        let job = self.store.job(old).await?;
        if job.status.is_active() {
            return Err(SubmitError::NotResumable {
                job_id: old,
                reason: "it is still active",
            });
        }
        let mut all = std::collections::BTreeMap::new();
        let mut after = None;
        loop {
            let page = self.store.items(old, None, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.item_no);
            all.extend(page.into_iter().map(|i| (i.item_no, i)));
        }
        let asked: Vec<i64> = match items {
            Some(items) => {
                let mut asked = items.to_vec();
                asked.sort_unstable();
                asked.dedup();
                asked
            }
            None => all
                .values()
                .filter(|i| i.status == ItemStatus::Failed)
                .map(|i| i.item_no)
                .collect(),
        };
        let (mut scheduled, mut skipped) = (Vec::new(), Vec::new());
        for item_no in asked {
            match all.get(&item_no) {
                None => skipped.push((item_no, SkipReason::NotAnItem)),
                Some(i) if i.status == ItemStatus::Completed => {
                    skipped.push((item_no, SkipReason::Completed))
                }
                Some(i) if !force && !self.retry.may_retry(i.attempts, job.retry_round) => {
                    skipped.push((item_no, SkipReason::NoAttemptsLeft))
                }
                Some(_) => scheduled.push(item_no),
            }
        }
        if scheduled.is_empty() {
            return Ok(ItemRetry {
                job: None,
                scheduled,
                skipped,
            });
        }
        let new = self
            .submit(NewJob {
                book_id: job.book_id,
                kind: job.kind,
                params: job.params,
                items: scheduled.clone(),
                resumed_from: Some(old),
                held: false,
            })
            .await?;
        Ok(ItemRetry {
            job: Some(new),
            scheduled,
            skipped,
        })
    }

    /// Asks a job to stop: a pending job ends at once, a running one winds down.
    pub async fn cancel(&self, id: JobId) -> Result<Job, StoreError> {
        match self.supervisor.send(Cancel(id)).await {
            Ok(res) => res,
            Err(_) => self.store.request_cancel(id, self.clock.now_ms()).await,
        }
    }

    /// Drains this node: running jobs persist their outcomes, release their in-flight items
    /// and let their leases expire, so they go on elsewhere at once. Waits at most `limit`.
    pub async fn shutdown(&self, limit: std::time::Duration) {
        self.draining.raise();
        let _ = tokio::time::timeout(limit, self.supervisor.send(Shutdown)).await;
    }

    /// The jobs this node drives (running, held, or waiting for a restart), with their
    /// lease generations. Empty once a drain is over.
    pub async fn leases(&self) -> Vec<(JobId, i64)> {
        self.supervisor
            .send(super::supervisor::LiveLeases)
            .await
            .unwrap_or_default()
    }

    pub async fn status(&self, id: JobId) -> Result<Job, StoreError> {
        self.store.job(id).await
    }

    /// Every job change this node makes (progress batches, status moves), as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<Job> {
        self.events.subscribe()
    }

    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.store
    }

    pub fn stats(&self) -> &RuntimeStats {
        &self.stats
    }
}
