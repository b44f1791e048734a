//! Recovery, on both backends: crashed JobActors restarted and the restart limit, a worker
//! fenced out after its lease was stolen, dead nodes' jobs taken over, boot recovery,
//! drains on shutdown, and held jobs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use quire_actors::model::{ItemStatus, JobError, JobStatus};
use quire_actors::ports::Takeover;
use quire_actors::runtime::{Recovery, ResumeMode, SubmitError};
use quire_actors::{BookId, JobId, JobKind};
use serde_json::json;

use crate::common::db::{Backend, TestDb};
use crate::common::flaky::FlakyStore;
use crate::common::runtime::{
    LIMIT, fast_config, job, new_book, now, start, wait_terminal, wait_until,
};

async fn a_job_whose_node_stopped_renewing_is_taken_over(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let book = new_book(&store).await;
    // A node that died: its job is leased to it, and the lease runs out.
    let id = JobId::new();
    let new = job(book, JobKind::Synthetic, 50, json!({}));
    let t = now();
    store
        .create_job(id, &new, "dead-node", t + 300, t)
        .await
        .unwrap();

    let rt = start(store.clone(), fast_config("n2"), &Arc::default()).await;
    let done = wait_terminal(&store, id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.lease_owner.as_deref(), Some("n2"));
    assert_eq!(
        done.lease_generation, 2,
        "the takeover got the next fencing token"
    );
    assert!(
        rt.stats()
            .takeovers
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

async fn two_nodes_share_expired_jobs_each_exactly_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let t = now();
    let mut ids = Vec::new();
    for _ in 0..6 {
        let book = new_book(&store).await;
        let id = JobId::new();
        store
            .create_job(
                id,
                &job(book, JobKind::Synthetic, 30, json!({})),
                "dead",
                t,
                t,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    let other = db.store().await;
    let _a = start(store.clone(), fast_config("a"), &Arc::default()).await;
    let _b = start(other.clone(), fast_config("b"), &Arc::default()).await;
    let mut owners = HashMap::new();
    for id in ids {
        let done = wait_terminal(&store, id, LIMIT).await;
        assert_eq!(done.status, JobStatus::Completed);
        let items = store.items(id, None, None, 100).await.unwrap();
        assert!(
            items.iter().all(|i| i.attempts == 1),
            "an item ran twice: {items:?}"
        );
        *owners.entry(done.lease_owner.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(owners.values().sum::<i32>(), 6);
}

async fn boot_recovery_resumes_or_fails_interrupted_jobs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let t = now();
    let (b1, b2) = (new_book(&store).await, new_book(&store).await);
    let (resumed, failed) = (JobId::new(), JobId::new());
    // Leased to "n1" with a lease far from expiry: only n1 itself may take it back at once.
    store
        .create_job(
            resumed,
            &job(b1, JobKind::Synthetic, 10, json!({})),
            "n1",
            t + 3_600_000,
            t,
        )
        .await
        .unwrap();
    store
        .create_job(
            failed,
            &job(b2, JobKind::Synthetic, 10, json!({})),
            "n2",
            t + 3_600_000,
            t,
        )
        .await
        .unwrap();

    let _n1 = start(store.clone(), fast_config("n1"), &Arc::default()).await;
    let mut cfg = fast_config("n2");
    cfg.recovery = Recovery::Fail;
    let _n2 = start(store.clone(), cfg, &Arc::default()).await;

    let done = wait_terminal(&store, resumed, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    let done = wait_terminal(&store, failed, LIMIT).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.error.unwrap().code, "INTERRUPTED");
}

async fn a_crashed_job_actor_is_restarted_and_resumes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let flaky = Arc::new(FlakyStore::new(store.clone()));
    let rt = start(flaky.clone(), fast_config("n1"), &Arc::default()).await;
    let book = new_book(&store).await;
    // Two lost connections, then a panic: three crashes, three restarts.
    flaky.failing_commits.store(2, Ordering::SeqCst);
    let submitted = rt
        .submit(job(
            book,
            JobKind::Synthetic,
            200,
            json!({ "latency_ms": 1 }),
        ))
        .await
        .unwrap();
    wait_until(&store, submitted.id, LIMIT, |_| {
        flaky.failing_commits.load(Ordering::SeqCst) == 0
    })
    .await;
    flaky.panic_next_commit.store(true, Ordering::SeqCst);
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    assert_eq!(done.progress.completed, 200);
    assert_eq!(rt.stats().restarts.load(Ordering::Relaxed), 3);
    let items = store.items(done.id, None, None, 1000).await.unwrap();
    assert!(items.iter().all(|i| i.status == ItemStatus::Completed));
    let window = fast_config("n1").item_concurrency as usize;
    let reruns: i64 = items.iter().map(|i| i.attempts - 1).sum();
    assert!(
        reruns as usize <= 3 * window,
        "{reruns} re-runs after 3 crashes"
    );
}

async fn a_hung_store_call_times_out_and_the_job_goes_on(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let flaky = Arc::new(FlakyStore::new(store.clone()));
    let mut cfg = fast_config("n1");
    cfg.store_timeout = Duration::from_millis(300);
    let rt = start(flaky.clone(), cfg, &Arc::default()).await;
    let book = new_book(&store).await;
    flaky.hang_next_commit.store(true, Ordering::SeqCst);
    let submitted = rt
        .submit(job(
            book,
            JobKind::Synthetic,
            50,
            json!({ "latency_ms": 1 }),
        ))
        .await
        .unwrap();
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert!(
        rt.stats().restarts.load(Ordering::Relaxed) >= 1,
        "the hung call was given up"
    );
}

async fn past_the_restart_limit_the_job_fails_resumably(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let flaky = Arc::new(FlakyStore::new(store.clone()));
    let mut cfg = fast_config("n1");
    cfg.restart_limit = 2;
    let rt = start(flaky.clone(), cfg, &Arc::default()).await;
    let book = new_book(&store).await;
    flaky.failing_commits.store(u32::MAX, Ordering::SeqCst);
    let submitted = rt
        .submit(job(book, JobKind::Synthetic, 20, json!({})))
        .await
        .unwrap();
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Failed);
    let error = done.error.unwrap();
    assert_eq!(error.code, "RESTART_LIMIT");
    assert!(
        error.message.contains("injected: connection reset"),
        "{}",
        error.message
    );
    flaky.failing_commits.store(0, Ordering::SeqCst);
    let resumed = rt.resume(done.id, ResumeMode::Resume).await.unwrap();
    assert_eq!(
        wait_terminal(&store, resumed.id, LIMIT).await.status,
        JobStatus::Completed
    );
}

async fn a_worker_whose_lease_was_taken_over_stops_writing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let rt = start(store.clone(), fast_config("n1"), &Arc::default()).await;
    let book = new_book(&store).await;
    let submitted = rt
        .submit(job(
            book,
            JobKind::Synthetic,
            1000,
            json!({ "latency_ms": 20 }),
        ))
        .await
        .unwrap();
    wait_until(&store, submitted.id, LIMIT, |j| j.progress.completed >= 20).await;
    // A partition: another node takes the lease while n1 still runs the job. A takeover
    // skips a job row that a commit holds locked (PostgreSQL's SKIP LOCKED), so try again
    // until the row is free, as the next heartbeat would.
    let deadline = Instant::now() + LIMIT;
    loop {
        let stolen = store
            .take_over(Takeover {
                owner: "thief",
                owned_by: Some("n1"),
                kinds: JobKind::ALL,
                now: now(),
                expires_at: now() + 1_000,
                limit: 10,
            })
            .await
            .unwrap();
        if stolen.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the lease could not be taken");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let at_steal = store.job(submitted.id).await.unwrap();
    let stolen_items = store.item_counts(submitted.id).await.unwrap();
    // n1's next write is refused; the thief never runs it, so its lease expires and n1's
    // heartbeat takes the job over again with a newer token. Until then nothing n1 had in
    // flight under the stale token lands: not one item more completes.
    loop {
        // The rows first: if the job still has the thief's token after, they were read
        // while nobody but the stale n1 could have written.
        let counts = store.item_counts(submitted.id).await.unwrap();
        let job = store.job(submitted.id).await.unwrap();
        if job.lease_generation != at_steal.lease_generation {
            break;
        }
        assert_eq!(
            (job.progress.completed, counts.completed),
            (at_steal.progress.completed, stolen_items.completed),
            "a write landed under the stale generation"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert!(
        rt.stats().fenced.load(Ordering::Relaxed) >= 1,
        "n1 noticed it was fenced"
    );
    assert_eq!(done.lease_owner.as_deref(), Some("n1"));
    assert!(done.lease_generation > at_steal.lease_generation);
    let items = store.items(done.id, None, None, 1000).await.unwrap();
    assert!(items.iter().all(|i| i.status == ItemStatus::Completed));
}

async fn a_draining_node_hands_its_jobs_over_at_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut cfg = fast_config("n1");
    cfg.lease_ttl = Duration::from_secs(600); // only a drain can hand the job over quickly
    let n1 = start(store.clone(), cfg, &Arc::default()).await;
    let book = new_book(&store).await;
    let params = json!({ "latency_ms": 20 });
    let submitted = n1
        .submit(job(book, JobKind::Synthetic, 1000, params))
        .await
        .unwrap();
    wait_until(&store, submitted.id, LIMIT, |j| j.progress.completed >= 50).await;

    n1.shutdown(Duration::from_secs(10)).await;
    let drained = store.job(submitted.id).await.unwrap();
    assert_eq!(
        drained.status,
        JobStatus::Running,
        "a drain does not end the job"
    );
    assert!(
        drained.lease_expires_at.unwrap() <= now(),
        "the lease was let go"
    );
    let counts = store.item_counts(submitted.id).await.unwrap();
    assert_eq!(counts.processing, 0, "in-flight items were released");
    assert_eq!(
        counts.completed, drained.progress.completed,
        "progress matches the rows"
    );
    assert!(
        n1.submit(job(
            new_book(&store).await,
            JobKind::Synthetic,
            1,
            json!({})
        ))
        .await
        .is_err()
    );

    // Another node takes it over at its next heartbeat, not after the 10-minute lease.
    let taken_at = Instant::now();
    let n2 = start(store.clone(), fast_config("n2"), &Arc::default()).await;
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.lease_owner.as_deref(), Some("n2"));
    assert!(taken_at.elapsed() < Duration::from_secs(60));
    let items = store.items(done.id, None, None, 2000).await.unwrap();
    assert!(items.iter().all(|i| i.status == ItemStatus::Completed));
    drop(n2);
}

async fn a_drain_lets_go_of_jobs_it_cannot_write(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let flaky = Arc::new(FlakyStore::new(store.clone()));
    let mut cfg = fast_config("n1");
    cfg.lease_ttl = Duration::from_secs(600);
    cfg.restart_limit = 1000;
    let rt = start(flaky.clone(), cfg, &Arc::default()).await;
    let book = new_book(&store).await;
    flaky.failing_commits.store(u32::MAX, Ordering::SeqCst);
    let params = json!({ "latency_ms": 5 });
    let submitted = rt
        .submit(job(book, JobKind::Synthetic, 100, params))
        .await
        .unwrap();
    wait_until(&store, submitted.id, LIMIT, |_| {
        rt.stats().restarts.load(Ordering::Relaxed) >= 2
    })
    .await;
    rt.shutdown(Duration::from_secs(10)).await;
    let restarts = rt.stats().restarts.load(Ordering::Relaxed);
    let job = wait_until(&store, submitted.id, LIMIT, |j| {
        j.lease_expires_at.is_some_and(|t| t <= now())
    })
    .await;
    assert_eq!(
        job.status,
        JobStatus::Running,
        "the job waits for another node"
    );
    // The node drives nothing any more: no restart is pending (a restart needs the job in
    // the Supervisor's hands), and none happened since the drain.
    assert!(rt.leases().await.is_empty(), "the node still holds a job");
    assert_eq!(
        rt.stats().restarts.load(Ordering::Relaxed),
        restarts,
        "no restart after the drain"
    );
}

async fn a_held_job_takes_the_lock_first_and_runs_once_released(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let rt = start(store.clone(), fast_config("n1"), &Arc::default()).await;
    let book = new_book(&store).await;
    let held = rt.hold(book, JobKind::Synthetic, json!({})).await.unwrap();
    assert!(held.held && held.status == JobStatus::Pending && held.progress.total == 0);
    let busy = rt.submit(job(book, JobKind::Synthetic, 1, json!({}))).await;
    assert!(matches!(busy, Err(SubmitError::BookBusy { holder }) if holder == held.id));
    // Nothing runs while it is held, however long that takes: heartbeats renew its lease
    // (the node holds it) and it stays pending.
    let renewed = wait_until(&store, held.id, LIMIT, |j| {
        j.heartbeat_at.is_some_and(|at| at > held.created_at + 200)
    })
    .await;
    assert_eq!(renewed.status, JobStatus::Pending);
    assert!(renewed.held && renewed.started_at.is_none());

    let released = rt.release(held.id, vec![3, 1, 2, 2]).await.unwrap();
    assert!(!released.held);
    assert_eq!(released.progress.total, 3);
    let done = wait_terminal(&store, held.id, LIMIT).await;
    assert_eq!(
        (done.status, done.progress.completed),
        (JobStatus::Completed, 3)
    );
    assert!(matches!(
        rt.release(held.id, vec![4]).await,
        Err(SubmitError::NotHeld { .. })
    ));
}

async fn a_broken_upload_fails_its_held_job(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let rt = start(store.clone(), fast_config("n1"), &Arc::default()).await;
    let book = new_book(&store).await;
    let held = rt.hold(book, JobKind::Synthetic, json!({})).await.unwrap();
    let error = JobError {
        code: "UPLOAD_INCOMPLETE".into(),
        message: "pages 1-3 stored".into(),
    };
    let failed = rt.abort_held(held.id, error.clone()).await.unwrap();
    assert_eq!(
        (failed.status, failed.error),
        (JobStatus::Failed, Some(error))
    );
    assert!(
        store.active_job(book).await.unwrap().is_none(),
        "the JobLock is released"
    );

    // A cancel while held ends it too, and a late release is refused.
    let held = rt.hold(book, JobKind::Synthetic, json!({})).await.unwrap();
    assert_eq!(
        rt.cancel(held.id).await.unwrap().status,
        JobStatus::Cancelled
    );
    assert!(rt.release(held.id, vec![1]).await.is_err());
}

/// A held job (no items yet) whose lease a dead node holds and let expire.
async fn held_by_a_dead_node(store: &Arc<dyn quire::store::Store>, book: BookId) -> JobId {
    let id = JobId::new();
    let mut new = job(book, JobKind::Synthetic, 0, json!({}));
    new.held = true;
    let t = now();
    store.create_job(id, &new, "dead-node", t, t).await.unwrap();
    id
}

async fn a_held_job_whose_node_died_fails_as_interrupted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let book = new_book(&store).await;
    let id = held_by_a_dead_node(&store, book).await;
    let _rt = start(store.clone(), fast_config("n2"), &Arc::default()).await;
    let done = wait_terminal(&store, id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.error.unwrap().code, "UPLOAD_INTERRUPTED");
}

/// A held job's progress counts its pages as they arrive, so a held job failed
/// `UPLOAD_INTERRUPTED` shows the pages its resume runs, not 0 of 0 done.
async fn a_held_job_counts_its_pages_as_they_arrive(backend: Backend) {
    use quire::pages::{ImageId, NewPage};
    use quire_actors::model::Lease;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let book = new_book(&store).await;
    let id = held_by_a_dead_node(&store, book).await;
    let lease = Lease {
        job_id: id,
        owner: "dead-node".into(),
        generation: 1,
    };
    for page_no in [1, 2] {
        let page = NewPage {
            page_no,
            kind: quire::ocr::ImageKind::Png,
            bytes: 10,
            original_name: None,
            image_id: ImageId::new(),
        };
        store.add_page(&lease, &page, now()).await.unwrap();
    }
    let held = store.job(id).await.unwrap();
    assert_eq!((held.progress.total, held.progress.remaining()), (2, 2));

    let _rt = start(store.clone(), fast_config("n2"), &Arc::default()).await;
    let done = wait_terminal(&store, id, LIMIT).await;
    assert_eq!(done.error.as_ref().unwrap().code, "UPLOAD_INTERRUPTED");
    let counts = store.item_counts(id).await.unwrap();
    assert_eq!(
        (done.progress.total, counts.total(), counts.pending),
        (2, 2, 2)
    );
    assert_eq!(done.progress.percent(), 0.0);
}

/// A node takes over only the kinds it runs, and a job no node runs can still be cancelled:
/// it does not hold its book's JobLock forever.
async fn a_node_takes_over_only_the_kinds_it_runs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (b1, b2) = (new_book(&store).await, new_book(&store).await);
    // A dead node left a synthetic job (older, so taken first if it were taken) and an
    // extraction job, both with expired leases.
    let past = now() - 1;
    let orphan = store
        .create_job(
            JobId::new(),
            &job(b1, JobKind::Synthetic, 3, json!({})),
            "dead",
            past,
            past,
        )
        .await
        .unwrap();
    // It was running, one item in flight, when its node died.
    store
        .enter_job(&orphan.lease().unwrap(), 1, 3, past)
        .await
        .unwrap();
    let runnable = store
        .create_job(
            JobId::new(),
            &job(b2, JobKind::Extract, 3, json!({})),
            "dead",
            past,
            past + 1,
        )
        .await
        .unwrap();
    // This node runs no synthetic jobs (as when `synthetic.enabled` is off).
    let scripted = Arc::new(crate::common::runtime::Scripted::default());
    let mut kinds = crate::common::runtime::kinds("n1", &scripted);
    kinds.remove(&JobKind::Synthetic);
    let clock = Arc::new(quire_actors::ports::SystemClock);
    let rt = quire_actors::RuntimeHandle::start(fast_config("n1"), store.clone(), kinds, clock)
        .await
        .unwrap();
    let done = wait_terminal(&store, runnable.id, LIMIT).await;
    assert_eq!(
        (done.status, done.lease_owner.as_deref()),
        (JobStatus::Completed, Some("n1"))
    );
    let left = store.job(orphan.id).await.unwrap();
    assert_eq!(
        (
            left.status,
            left.lease_owner.as_deref(),
            left.lease_generation
        ),
        (JobStatus::Running, Some("dead"), orphan.lease_generation),
        "the job this node cannot run was left alone"
    );
    let cancelled = rt.cancel(orphan.id).await.unwrap();
    assert_eq!(
        cancelled.status,
        JobStatus::Cancelled,
        "nobody holds it: it stops at once"
    );
    let counts = store.item_counts(orphan.id).await.unwrap();
    assert_eq!((counts.processing, counts.pending), (0, 3));
    // The book is free again.
    let next = rt
        .submit(job(b1, JobKind::Extract, 1, json!({})))
        .await
        .unwrap();
    assert_eq!(
        wait_terminal(&store, next.id, LIMIT).await.status,
        JobStatus::Completed
    );
}

/// A heartbeat whose takeover scan is slower than the lease itself: the node's renewals go
/// on beside it, so it keeps its own live job (no fence, no new generation).
async fn a_slow_takeover_scan_never_costs_the_node_its_own_jobs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let flaky = Arc::new(FlakyStore::new(store.clone()));
    let cfg = fast_config("n1"); // a 600 ms lease, renewed every 100 ms
    flaky
        .slow_takeovers_ms
        .store((cfg.lease_ttl.as_millis() * 3) as u32, Ordering::SeqCst);
    let book = new_book(&store).await;
    let rt = start(flaky.clone(), cfg, &Arc::default()).await;
    let submitted = rt
        // Items longer than the lease: only renewals keep it, no commit comes between.
        .submit(job(
            book,
            JobKind::Synthetic,
            16,
            json!({ "latency_ms": 1500 }),
        ))
        .await
        .unwrap();
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        (
            done.lease_generation,
            rt.stats().fenced.load(Ordering::Relaxed)
        ),
        (submitted.lease_generation, 0),
        "the job ran under its first lease throughout"
    );
}

crate::on_both_backends!(
    a_job_whose_node_stopped_renewing_is_taken_over,
    two_nodes_share_expired_jobs_each_exactly_once,
    boot_recovery_resumes_or_fails_interrupted_jobs,
    a_crashed_job_actor_is_restarted_and_resumes,
    past_the_restart_limit_the_job_fails_resumably,
    a_hung_store_call_times_out_and_the_job_goes_on,
    a_worker_whose_lease_was_taken_over_stops_writing,
    a_draining_node_hands_its_jobs_over_at_once,
    a_drain_lets_go_of_jobs_it_cannot_write,
    a_held_job_takes_the_lock_first_and_runs_once_released,
    a_broken_upload_fails_its_held_job,
    a_held_job_whose_node_died_fails_as_interrupted,
    a_held_job_counts_its_pages_as_they_arrive,
    a_node_takes_over_only_the_kinds_it_runs,
    a_slow_takeover_scan_never_costs_the_node_its_own_jobs,
);
