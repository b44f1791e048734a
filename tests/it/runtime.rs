//! The actor runtime end to end on a real database: every item once, retries by class,
//! retry rounds, fatal errors, resume, cancellation, panics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quire_actors::model::{ItemStatus, JobStatus};
use quire_actors::runtime::ResumeMode;
use quire_actors::{ErrorClass, JobKind};
use serde_json::json;

use crate::common::db::{Backend, TestDb};
use crate::common::runtime::{
    LIMIT, Scripted, fast_config, job, new_book, now, start, wait_terminal, wait_until,
};

async fn every_item_runs_once_and_the_job_completes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let rt = start(store.clone(), fast_config("n1"), &Arc::default()).await;
    let book = new_book(&store).await;
    let submitted = rt
        .submit(job(book, JobKind::Synthetic, 500, json!({})))
        .await
        .unwrap();
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        (
            done.progress.total,
            done.progress.completed,
            done.progress.failed
        ),
        (500, 500, 0)
    );
    assert_eq!(done.progress.last_completed_item, Some(500));
    assert!(done.finished_at.is_some() && done.error.is_none());
    let items = store.items(done.id, None, None, 1000).await.unwrap();
    assert_eq!(items.len(), 500);
    for item in &items {
        assert_eq!(item.status, ItemStatus::Completed);
        assert_eq!(
            item.attempts, 1,
            "item {} ran {} times",
            item.item_no, item.attempts
        );
        assert_eq!(
            item.result.as_ref().unwrap()["item_no"],
            json!(item.item_no)
        );
    }
    assert!(
        store.active_job(book).await.unwrap().is_none(),
        "the JobLock is released"
    );
}

async fn errors_are_handled_by_class(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let rt = start(store.clone(), fast_config("n1"), &Arc::default()).await;
    let book = new_book(&store).await;
    // Item 3 fails retryably twice then succeeds; item 4 fails for good.
    let params = json!({ "fail": { "3": "retryable", "4": "terminal" }, "fail_attempts": 2 });
    let first = rt
        .submit(job(book, JobKind::Synthetic, 6, params))
        .await
        .unwrap();
    let done = wait_terminal(&store, first.id, LIMIT).await;
    assert_eq!(
        done.status,
        JobStatus::Completed,
        "a job with some failed items still completes"
    );
    assert_eq!((done.progress.completed, done.progress.failed), (5, 1));
    let items = store.items(done.id, None, None, 10).await.unwrap();
    let item = |n: i64| items.iter().find(|i| i.item_no == n).unwrap();
    assert_eq!(
        (item(3).status, item(3).attempts),
        (ItemStatus::Completed, 3)
    );
    assert_eq!((item(4).status, item(4).attempts), (ItemStatus::Failed, 1));
    assert_eq!(item(4).error_class, Some(ErrorClass::Terminal));
    assert_eq!(item(4).error_code.as_deref(), Some("SYNTHETIC_TERMINAL"));

    // Item 2 always fails retryably and uses up its three attempts.
    let params = json!({ "fail": { "2": "retryable" } });
    let second = rt
        .submit(job(book, JobKind::Synthetic, 2, params))
        .await
        .unwrap();
    let done = wait_terminal(&store, second.id, LIMIT).await;
    let items = store
        .items(done.id, Some(ItemStatus::Failed), None, 10)
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].attempts, items[0].error_class),
        (3, Some(ErrorClass::Retryable))
    );
}

async fn retry_rounds_give_failed_items_a_fresh_budget(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut cfg = fast_config("n1");
    cfg.retry.max_attempts = 2;
    cfg.retry.auto_retry_rounds = 2;
    let rt = start(store.clone(), cfg, &Arc::default()).await;
    let book = new_book(&store).await;
    // Fails its first four attempts: two rounds of two, then the third round succeeds.
    let params = json!({ "fail": { "1": "retryable" }, "fail_attempts": 4 });
    let mut events = rt.subscribe();
    let submitted = rt
        .submit(job(book, JobKind::Synthetic, 3, params))
        .await
        .unwrap();
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!((done.progress.completed, done.progress.failed), (3, 0));
    // What a watcher saw never went back: the item retried stayed counted as failed until
    // it completed, and then moved from failed to completed.
    let mut seen = Vec::new();
    while let Ok(job) = events.try_recv() {
        if job.id == submitted.id {
            seen.push(job.progress);
        }
    }
    assert!(
        seen.iter().any(|p| p.failed == 1),
        "the failure was shown: {seen:?}"
    );
    for pair in seen.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            b.completed >= a.completed && b.percent() >= a.percent(),
            "progress went back: {a:?} then {b:?}"
        );
        assert!(
            b.failed >= a.failed || b.completed - a.completed >= a.failed - b.failed,
            "failed dropped without an item completing: {a:?} then {b:?}"
        );
    }
    let items = store.items(done.id, None, None, 1).await.unwrap();
    assert_eq!(
        (items[0].status, items[0].attempts),
        (ItemStatus::Completed, 5)
    );
}

async fn a_job_whose_every_item_fails_is_failed_and_resumable(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let rt = start(store.clone(), fast_config("n1"), &Arc::default()).await;
    let book = new_book(&store).await;
    let params = json!({ "fail": { "1": "terminal", "2": "terminal" } });
    let submitted = rt
        .submit(job(book, JobKind::Synthetic, 2, params))
        .await
        .unwrap();
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.error.as_ref().unwrap().code, "ALL_ITEMS_FAILED");
    assert!(store.active_job(book).await.unwrap().is_none());
    let resumed = rt.resume(done.id, ResumeMode::Resume).await.unwrap();
    assert_eq!(resumed.resumed_from, Some(done.id));
    assert_eq!(resumed.progress.total, 2);
}

async fn a_fatal_error_fails_the_job_and_resume_runs_only_what_is_left(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let scripted = Arc::new(Scripted::default());
    *scripted.latency.lock().unwrap() = Duration::from_millis(2);
    *scripted.fatal_item.lock().unwrap() = Some(40);
    let mut cfg = fast_config("n1");
    cfg.item_concurrency = 4;
    let rt = start(store.clone(), cfg, &scripted).await;
    let book = new_book(&store).await;
    let first = rt
        .submit(job(book, JobKind::Extract, 100, json!({})))
        .await
        .unwrap();
    let failed = wait_terminal(&store, first.id, LIMIT).await;
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.clone().unwrap();
    assert_eq!(error.code, "BAD_CREDENTIALS");
    assert!(
        failed.progress.completed >= 30 && failed.progress.completed < 100,
        "{failed:?}"
    );
    // The fatal item is not counted as failed: resume runs it again.
    let item40 = &store.items(first.id, None, Some(39), 1).await.unwrap()[0];
    assert_eq!(item40.status, ItemStatus::Pending);
    assert_eq!(item40.error_code.as_deref(), Some("BAD_CREDENTIALS"));

    let completed_before: Vec<i64> = store
        .items(first.id, Some(ItemStatus::Completed), None, 1000)
        .await
        .unwrap()
        .iter()
        .map(|i| i.item_no)
        .collect();
    *scripted.fatal_item.lock().unwrap() = None;
    let resumed = rt.resume(first.id, ResumeMode::Resume).await.unwrap();
    assert_eq!(resumed.resumed_from, Some(first.id));
    assert_eq!(resumed.progress.total, 100 - completed_before.len() as u64);
    let done = wait_terminal(&store, resumed.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    let rerun: Vec<i64> = scripted
        .starts_of(resumed.id)
        .iter()
        .map(|s| s.item)
        .collect();
    assert_eq!(
        rerun.len() as u64,
        done.progress.total,
        "each remaining item ran once"
    );
    assert!(
        rerun.iter().all(|i| !completed_before.contains(i)),
        "a completed item ran again"
    );

    // Restart runs every item again, and leaves the old jobs in history.
    let restarted = rt.resume(done.id, ResumeMode::Restart).await.unwrap();
    assert_eq!(restarted.progress.total, done.progress.total);
    let again = rt.resume(first.id, ResumeMode::Resume).await;
    assert!(again.is_err(), "the book is busy with the restart");
}

async fn cancel_stops_new_items_and_ends_within_the_grace(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let scripted = Arc::new(Scripted::default());
    *scripted.latency.lock().unwrap() = Duration::from_secs(20);
    let mut cfg = fast_config("n1");
    cfg.item_concurrency = 4;
    let grace = cfg.cancel_grace;
    let rt = start(store.clone(), cfg, &scripted).await;
    let book = new_book(&store).await;
    let submitted = rt
        .submit(job(book, JobKind::Extract, 50, json!({})))
        .await
        .unwrap();
    wait_until(&store, submitted.id, LIMIT, |_| {
        scripted.starts_of(submitted.id).len() == 4
    })
    .await;

    let asked = Instant::now();
    let cancelling = rt.cancel(submitted.id).await.unwrap();
    assert_eq!(cancelling.status, JobStatus::Cancelling);
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    let took = asked.elapsed();
    assert_eq!(done.status, JobStatus::Cancelled);
    assert!(
        took < grace + Duration::from_secs(2),
        "cancel took {took:?} with a grace of {grace:?}"
    );
    assert_eq!(
        scripted.starts_of(submitted.id).len(),
        4,
        "no item started after the cancel"
    );
    let counts = store.item_counts(submitted.id).await.unwrap();
    assert_eq!(
        (counts.pending, counts.processing),
        (50, 0),
        "dropped items go back to pending"
    );
    assert!(store.active_job(book).await.unwrap().is_none());

    // A pending job is cancelled at once; a finished one cannot be.
    let again = rt.cancel(submitted.id).await;
    assert!(again.is_err());
}

async fn a_cancel_recorded_by_another_node_is_obeyed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let scripted = Arc::new(Scripted::default());
    *scripted.latency.lock().unwrap() = Duration::from_secs(20);
    let rt = start(store.clone(), fast_config("n1"), &scripted).await;
    let book = new_book(&store).await;
    let submitted = rt
        .submit(job(book, JobKind::Extract, 50, json!({})))
        .await
        .unwrap();
    wait_until(&store, submitted.id, LIMIT, |_| {
        !scripted.starts_of(submitted.id).is_empty()
    })
    .await;
    // Straight to the database, as another node's API would: n1 hears of it only there.
    let other = db.store().await;
    other.request_cancel(submitted.id, now()).await.unwrap();
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Cancelled);
}

async fn a_fatal_error_ends_the_job_even_with_an_item_hung(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let scripted = Arc::new(Scripted::default());
    *scripted.latency.lock().unwrap() = Duration::from_secs(3600);
    *scripted.fatal_item.lock().unwrap() = Some(2);
    let mut cfg = fast_config("n1");
    cfg.item_concurrency = 2;
    let rt = start(store.clone(), cfg, &scripted).await;
    let book = new_book(&store).await;
    let submitted = rt
        .submit(job(book, JobKind::Extract, 5, json!({})))
        .await
        .unwrap();
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.error.unwrap().code, "BAD_CREDENTIALS");
    let counts = store.item_counts(done.id).await.unwrap();
    assert_eq!(
        (counts.pending, counts.processing),
        (5, 0),
        "the hung item was released"
    );
}

async fn a_panicking_item_is_contained(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let rt = start(store.clone(), fast_config("n1"), &Arc::default()).await;
    let book = new_book(&store).await;
    let params = json!({ "panic_items": [2] });
    let submitted = rt
        .submit(job(book, JobKind::Synthetic, 5, params))
        .await
        .unwrap();
    let done = wait_terminal(&store, submitted.id, LIMIT).await;
    assert_eq!(done.status, JobStatus::Completed);
    let failed = store
        .items(done.id, Some(ItemStatus::Failed), None, 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error_code.as_deref(), Some("WORKER_PANIC"));
    assert_eq!(failed[0].attempts, 3);
    // The pool still works.
    let next = rt
        .submit(job(book, JobKind::Synthetic, 5, json!({})))
        .await
        .unwrap();
    assert_eq!(
        wait_terminal(&store, next.id, LIMIT).await.status,
        JobStatus::Completed
    );
}

crate::on_both_backends!(
    every_item_runs_once_and_the_job_completes,
    errors_are_handled_by_class,
    retry_rounds_give_failed_items_a_fresh_budget,
    a_job_whose_every_item_fails_is_failed_and_resumable,
    a_fatal_error_fails_the_job_and_resume_runs_only_what_is_left,
    cancel_stops_new_items_and_ends_within_the_grace,
    a_panicking_item_is_contained,
    a_cancel_recorded_by_another_node_is_obeyed,
    a_fatal_error_ends_the_job_even_with_an_item_hung,
);
