//! A real store with failures injected into its commits, to drive the Supervisor's
//! restarts the way a lost database connection or a bug would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use async_trait::async_trait;
use quire_actors::model::{ClaimedItem, Item, JobError, JobEvent, Lease, NewJob, Progress};
use quire_actors::ports::{
    Commit, Committed, Entered, ItemCounts, JobFilter, JobStore, LeaseRenewal, Takeover,
};
use quire_actors::{BookId, ItemStatus, Job, JobId, JobKind, StoreError};

pub struct FlakyStore {
    inner: Arc<dyn JobStore>,
    /// Commits still to fail with `Unavailable`.
    pub failing_commits: AtomicU32,
    /// The next commit panics instead.
    pub panic_next_commit: AtomicBool,
    /// The next commit never answers, like a connection that hung.
    pub hang_next_commit: AtomicBool,
    /// Every takeover scan takes this many milliseconds first, like a database under load.
    pub slow_takeovers_ms: AtomicU32,
}

impl FlakyStore {
    pub fn new(inner: Arc<dyn JobStore>) -> Self {
        Self {
            inner,
            failing_commits: AtomicU32::new(0),
            panic_next_commit: AtomicBool::new(false),
            hang_next_commit: AtomicBool::new(false),
            slow_takeovers_ms: AtomicU32::new(0),
        }
    }
}

#[async_trait]
impl JobStore for FlakyStore {
    async fn create_job(
        &self,
        id: JobId,
        new: &NewJob,
        owner: &str,
        exp: i64,
        now: i64,
    ) -> Result<Job, StoreError> {
        self.inner.create_job(id, new, owner, exp, now).await
    }
    async fn release_job(&self, lease: &Lease, items: &[i64], now: i64) -> Result<Job, StoreError> {
        self.inner.release_job(lease, items, now).await
    }
    async fn job(&self, id: JobId) -> Result<Job, StoreError> {
        self.inner.job(id).await
    }
    async fn active_job(&self, book: BookId) -> Result<Option<Job>, StoreError> {
        self.inner.active_job(book).await
    }
    async fn latest_job(
        &self,
        book: BookId,
        kind: Option<JobKind>,
    ) -> Result<Option<Job>, StoreError> {
        self.inner.latest_job(book, kind).await
    }
    async fn jobs(
        &self,
        filter: &JobFilter,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        self.inner.jobs(filter, before, limit).await
    }
    async fn item_counts(&self, id: JobId) -> Result<ItemCounts, StoreError> {
        self.inner.item_counts(id).await
    }
    async fn items(
        &self,
        id: JobId,
        s: Option<ItemStatus>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Item>, StoreError> {
        self.inner.items(id, s, after, limit).await
    }
    async fn enter_job(
        &self,
        lease: &Lease,
        claim: u32,
        crash_limit: u32,
        now: i64,
    ) -> Result<Entered, StoreError> {
        self.inner.enter_job(lease, claim, crash_limit, now).await
    }
    async fn claim_items(
        &self,
        lease: &Lease,
        limit: u32,
        now: i64,
    ) -> Result<Vec<ClaimedItem>, StoreError> {
        self.inner.claim_items(lease, limit, now).await
    }
    async fn next_due(&self, id: JobId) -> Result<Option<i64>, StoreError> {
        self.inner.next_due(id).await
    }
    async fn commit(&self, lease: &Lease, commit: Commit<'_>) -> Result<Committed, StoreError> {
        if self.panic_next_commit.swap(false, Ordering::SeqCst) {
            panic!("injected panic in commit");
        }
        if self.hang_next_commit.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let failing = self.failing_commits.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing_commits.store(failing - 1, Ordering::SeqCst);
            return Err(StoreError::Unavailable("injected: connection reset".into()));
        }
        self.inner.commit(lease, commit).await
    }
    async fn requeue_retryable(&self, lease: &Lease, now: i64) -> Result<u64, StoreError> {
        self.inner.requeue_retryable(lease, now).await
    }
    async fn finish_job(
        &self,
        lease: &Lease,
        e: JobEvent,
        err: Option<&JobError>,
        p: &Progress,
        now: i64,
    ) -> Result<Job, StoreError> {
        self.inner.finish_job(lease, e, err, p, now).await
    }
    async fn request_cancel(&self, id: JobId, now: i64) -> Result<Job, StoreError> {
        self.inner.request_cancel(id, now).await
    }
    async fn renew_leases(
        &self,
        owner: &str,
        leases: &[(JobId, i64)],
        exp: i64,
        now: i64,
    ) -> Result<LeaseRenewal, StoreError> {
        self.inner.renew_leases(owner, leases, exp, now).await
    }
    async fn take_over(&self, takeover: Takeover<'_>) -> Result<Vec<Lease>, StoreError> {
        let slow = self.slow_takeovers_ms.load(Ordering::SeqCst);
        if slow > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(slow.into())).await;
        }
        self.inner.take_over(takeover).await
    }
}
