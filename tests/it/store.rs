//! The JobStore conformance suite, run against SQLite and PostgreSQL: the JobLock, the
//! database's own invariants, claiming, fencing and takeover.

use std::sync::Arc;

use quire::store::{NewBook, Store};
use quire_actors::model::{
    ItemEvent, ItemOutcome, ItemStatus, JobError, JobEvent, JobStatus, Lease, NewJob, Progress,
};
use quire_actors::ports::{Commit, Takeover};
use quire_actors::{BookId, JobId, JobKind, StoreError};
use serde_json::json;

use crate::common::db::{Backend, TestDb};

const NOW: i64 = 1_700_000_000_000;
const TTL: i64 = 30_000;
const CRASH_LIMIT: u32 = 3;

async fn book(store: &Arc<dyn Store>) -> BookId {
    store
        .create_book(
            &NewBook {
                title: "Fractions".into(),
                owner: None,
            },
            NOW,
        )
        .await
        .unwrap()
        .id
}

fn new_job(book: BookId, items: i64) -> NewJob {
    NewJob {
        book_id: book,
        kind: JobKind::Synthetic,
        params: json!({}),
        items: (1..=items).collect(),
        resumed_from: None,
        held: false,
    }
}

async fn create(store: &Arc<dyn Store>, book: BookId, items: i64, owner: &str) -> (JobId, Lease) {
    let id = JobId::new();
    let job = store
        .create_job(id, &new_job(book, items), owner, NOW + TTL, NOW)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(job.progress.total, items as u64);
    (
        id,
        Lease {
            job_id: id,
            owner: owner.into(),
            generation: job.lease_generation,
        },
    )
}

/// The store obeys [`ItemStatus::apply`]: every event, from every status, through the real
/// store, ends where the state machine says, and an event it refuses changes nothing.
async fn every_item_event_moves_items_as_the_state_machine_says(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    for &from in ItemStatus::ALL {
        for &event in ItemEvent::ALL {
            // Each pair on a job of its own: its one item is brought to `from` first.
            let (id, lease) = create(&store, b, 1, "n1").await;
            store.enter_job(&lease, 0, CRASH_LIMIT, NOW).await.unwrap();
            if from != ItemStatus::Pending {
                assert_eq!(store.claim_items(&lease, 1, NOW).await.unwrap().len(), 1);
            }
            match from {
                ItemStatus::Completed => item_event(&store, &lease, ItemEvent::Succeed).await,
                ItemStatus::Failed => item_event(&store, &lease, ItemEvent::Fail).await,
                ItemStatus::Pending | ItemStatus::Processing => Ok(()),
            }
            .unwrap();
            assert_eq!(item_status(&store, id).await, from, "set up {from}");

            let done = item_event(&store, &lease, event).await;
            let legal = from.apply(event);
            // An illegal move is refused (a commit for an item this lease is not running
            // is a stale writer's: fenced) or does nothing; a legal one is done.
            assert!(
                done.is_ok() || legal.is_none(),
                "{from} + {event:?} refused: {done:?}"
            );
            assert!(
                matches!(done, Ok(()) | Err(StoreError::Fenced { .. })),
                "{done:?}"
            );
            assert_eq!(
                item_status(&store, id).await,
                legal.unwrap_or(from),
                "{from} + {event:?} in the store"
            );

            let p = store.job(id).await.unwrap().progress;
            store
                .finish_job(&lease, JobEvent::Fail, Some(&err("X")), &p, NOW)
                .await
                .unwrap();
        }
    }
}

/// `event` for item 1 of the lease's job, the way the runtime makes it happen.
async fn item_event(
    store: &Arc<dyn Store>,
    lease: &Lease,
    event: ItemEvent,
) -> Result<(), StoreError> {
    let outcome = match event {
        ItemEvent::Claim => return store.claim_items(lease, 1, NOW).await.map(drop),
        ItemEvent::Requeue => return store.requeue_retryable(lease, NOW).await.map(drop),
        ItemEvent::Succeed => ItemOutcome::completed(1, json!({"text": "one"}), NOW),
        ItemEvent::Release => ItemOutcome::released(1),
        ItemEvent::RetryLater | ItemEvent::Fail => {
            let mut o = ItemOutcome::released(1);
            o.error_class = Some(quire_actors::ErrorClass::Retryable);
            o.error_code = Some("TIMEOUT".into());
            o.error = Some("slow".into());
            if event == ItemEvent::Fail {
                // Retries used up: failed, and a retry round may take it again.
                o.status = ItemStatus::Failed;
                o.finished_at = Some(NOW);
            } else {
                o.not_before = Some(NOW);
            }
            o
        }
    };
    let progress = store.job(lease.job_id).await?.progress;
    store
        .commit(lease, commit(&[outcome], &progress, NOW + TTL, NOW))
        .await
        .map(drop)
}

async fn item_status(store: &Arc<dyn Store>, id: JobId) -> ItemStatus {
    store.items(id, None, None, 10).await.unwrap()[0].status
}

async fn job_lock_admits_one_active_job_per_book(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    let (first, lease) = create(&store, b, 3, "n1").await;

    let second = store
        .create_job(JobId::new(), &new_job(b, 3), "n1", NOW + TTL, NOW)
        .await;
    assert!(matches!(second, Err(StoreError::BookBusy { holder }) if holder == first));

    // Another book is not affected.
    let other = book(&store).await;
    create(&store, other, 1, "n1").await;

    // Once the holder ends, the lock is free.
    store.enter_job(&lease, 0, CRASH_LIMIT, NOW).await.unwrap();
    let p = store.job(first).await.unwrap().progress;
    let done = store
        .finish_job(&lease, JobEvent::Fail, Some(&err("X")), &p, NOW)
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Failed);
    create(&store, b, 1, "n1").await;
}

/// A commit that claims nothing.
fn commit<'a>(
    outcomes: &'a [ItemOutcome],
    progress: &'a Progress,
    expires: i64,
    now: i64,
) -> Commit<'a> {
    Commit {
        outcomes,
        progress,
        claim: 0,
        lease_expires_at: expires,
        now,
    }
}

/// Every kind: these tests' node runs them all.
fn takeover<'a>(
    owner: &'a str,
    owned_by: Option<&'a str>,
    now: i64,
    expires_at: i64,
    limit: u32,
) -> Takeover<'a> {
    Takeover {
        owner,
        owned_by,
        kinds: JobKind::ALL,
        now,
        expires_at,
        limit,
    }
}

fn err(code: &str) -> JobError {
    JobError {
        code: code.into(),
        message: "it broke".into(),
    }
}

async fn concurrent_starts_from_separate_connections_admit_exactly_one(backend: Backend) {
    let db = TestDb::new(backend).await;
    let a = db.store().await;
    let b = db.store().await;
    for _ in 0..20 {
        let bk = book(&a).await;
        let (ja, jb) = (JobId::new(), JobId::new());
        let (na, nb) = (new_job(bk, 5), new_job(bk, 5));
        let (ra, rb) = tokio::join!(
            a.create_job(ja, &na, "n1", NOW + TTL, NOW),
            b.create_job(jb, &nb, "n2", NOW + TTL, NOW),
        );
        let wins = [ra.is_ok(), rb.is_ok()].iter().filter(|w| **w).count();
        assert_eq!(wins, 1, "exactly one start wins: {ra:?} / {rb:?}");
        let winner = if ra.is_ok() { ja } else { jb };
        let loser = if ra.is_ok() { rb } else { ra };
        assert!(matches!(loser, Err(StoreError::BookBusy { holder }) if holder == winner));
        assert_eq!(a.active_job(bk).await.unwrap().map(|j| j.id), Some(winner));
    }
}

async fn database_enforces_the_job_invariants(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    let (id, lease) = create(&store, b, 2, "n1").await;
    let hex = id.0.simple().to_string();
    let id_sql = match backend {
        Backend::Sqlite => format!("x'{hex}'"),
        Backend::Postgres => format!("'{}'", id.0),
    };
    // error iff failed; finished_at iff terminal; known statuses only.
    for bad in [
        format!("UPDATE jobs SET status = 'failed', finished_at = 1 WHERE id = {id_sql}"),
        format!("UPDATE jobs SET error_code = 'X', error = 'x' WHERE id = {id_sql}"),
        format!("UPDATE jobs SET status = 'completed' WHERE id = {id_sql}"),
        format!("UPDATE jobs SET finished_at = 5 WHERE id = {id_sql}"),
        format!("UPDATE jobs SET status = 'paused' WHERE id = {id_sql}"),
        format!("UPDATE jobs SET status = 'cancelling' WHERE id = {id_sql}"),
        format!("UPDATE jobs SET completed_items = 3 WHERE id = {id_sql}"),
        format!("UPDATE job_items SET status = 'completed' WHERE job_id = {id_sql}"),
        format!("UPDATE job_items SET status = 'failed', finished_at = 1 WHERE job_id = {id_sql}"),
    ] {
        let refused = db.exec(&bad).await;
        assert!(
            matches!(&refused, Err(sqlx::Error::Database(e)) if e.kind() == sqlx::error::ErrorKind::CheckViolation),
            "not refused by a constraint: {bad}: {refused:?}"
        );
    }
    // The positive control: the same statements' shape passes when the row stays legal,
    // so a refusal above is the constraint's, not a typo's.
    let legal =
        format!("UPDATE jobs SET heartbeat_at = 2, completed_items = 1 WHERE id = {id_sql}");
    assert_eq!(db.exec(&legal).await.unwrap(), 1);
    let legal = format!("UPDATE job_items SET status = 'pending' WHERE job_id = {id_sql}");
    assert_eq!(db.exec(&legal).await.unwrap(), 2);
    // A terminal job never changes again, not even by hand.
    store.enter_job(&lease, 0, CRASH_LIMIT, NOW).await.unwrap();
    let p = store.job(id).await.unwrap().progress;
    store
        .finish_job(&lease, JobEvent::Fail, Some(&err("X")), &p, NOW)
        .await
        .unwrap();
    let revive = format!(
        "UPDATE jobs SET status = 'running', error_code = NULL, error = NULL, finished_at = NULL WHERE id = {id_sql}"
    );
    let frozen = |res: Result<u64, sqlx::Error>| matches!(&res, Err(sqlx::Error::Database(e)) if e.message().contains("a terminal job never changes"));
    assert!(frozen(db.exec(&revive).await), "a terminal job was revived");
    let touch = format!("UPDATE jobs SET heartbeat_at = 1 WHERE id = {id_sql}");
    assert!(frozen(db.exec(&touch).await), "a terminal job was touched");
    // The state machine refuses it too.
    let again = store
        .finish_job(&lease, JobEvent::Finish, None, &p, NOW)
        .await;
    assert!(again.is_err());
}

async fn claims_commits_and_progress_follow_the_items(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    let (id, lease) = create(&store, b, 5, "n1").await;
    let job = store
        .enter_job(&lease, 0, CRASH_LIMIT, NOW)
        .await
        .unwrap()
        .job;
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.started_at, Some(NOW));

    let claimed = store.claim_items(&lease, 3, NOW).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.item_no).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(claimed.iter().all(|c| c.attempts == 1));

    let mut retry = ItemOutcome::released(2);
    retry.error_class = Some(quire_actors::ErrorClass::Retryable);
    retry.error_code = Some("TIMEOUT".into());
    retry.error = Some("slow".into());
    retry.not_before = Some(NOW + 1_000);
    let mut failed = ItemOutcome::released(3);
    failed.status = ItemStatus::Failed;
    failed.error_class = Some(quire_actors::ErrorClass::Terminal);
    failed.error_code = Some("CORRUPT_IMAGE".into());
    failed.error = Some("truncated".into());
    failed.finished_at = Some(NOW);
    let outcomes = vec![
        ItemOutcome::completed(1, json!({"text": "one"}), NOW),
        retry,
        failed,
    ];
    let mut progress = job.progress.clone();
    progress.completed = 1;
    progress.failed = 1;
    progress.last_completed_item = Some(1);
    let done = store
        .commit(&lease, commit(&outcomes, &progress, NOW + TTL, NOW))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Running);
    assert!(done.claimed.is_empty(), "nothing was asked for");

    let items = store.items(id, None, None, 10).await.unwrap();
    let by_no = |n: i64| items.iter().find(|i| i.item_no == n).unwrap().clone();
    assert_eq!(by_no(1).status, ItemStatus::Completed);
    assert_eq!(by_no(1).result, Some(json!({"text": "one"})));
    assert_eq!(by_no(2).status, ItemStatus::Pending);
    assert_eq!(by_no(2).error_code.as_deref(), Some("TIMEOUT"));
    assert_eq!(by_no(2).attempts, 1);
    assert_eq!(by_no(3).status, ItemStatus::Failed);
    assert_eq!(
        by_no(3).error_class,
        Some(quire_actors::ErrorClass::Terminal)
    );

    // Item 2 waits for its backoff; 4 and 5 are due now.
    let next = store.claim_items(&lease, 10, NOW).await.unwrap();
    assert_eq!(
        next.iter().map(|c| c.item_no).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_eq!(store.next_due(id).await.unwrap(), Some(NOW + 1_000));
    let later = store.claim_items(&lease, 10, NOW + 1_000).await.unwrap();
    assert_eq!(
        later
            .iter()
            .map(|c| (c.item_no, c.attempts))
            .collect::<Vec<_>>(),
        vec![(2, 2)]
    );

    let counts = store.item_counts(id).await.unwrap();
    assert_eq!(
        (
            counts.pending,
            counts.processing,
            counts.completed,
            counts.failed
        ),
        (0, 3, 1, 1)
    );
    let job = store.job(id).await.unwrap();
    assert_eq!((job.progress.completed, job.progress.failed), (1, 1));

    // Filtering and cursor pagination.
    let failed = store
        .items(id, Some(ItemStatus::Failed), None, 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let page = store.items(id, None, Some(3), 1).await.unwrap();
    assert_eq!(page.iter().map(|i| i.item_no).collect::<Vec<_>>(), vec![4]);
}

async fn entering_and_committing_claim_the_next_items_in_the_same_transaction(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    let (id, lease) = create(&store, b, 6, "n1").await;
    // Entering claims the first items in the same transaction too.
    let entered = store.enter_job(&lease, 2, CRASH_LIMIT, NOW).await.unwrap();
    let (job, first) = (entered.job, entered.claimed);
    assert_eq!(
        first.iter().map(|c| c.item_no).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let outcomes: Vec<_> = first
        .iter()
        .map(|c| ItemOutcome::completed(c.item_no, json!(c.item_no), NOW))
        .collect();
    let mut progress = job.progress.clone();
    progress.completed = 2;
    let asks = Commit {
        claim: 3,
        ..commit(&outcomes, &progress, NOW + TTL, NOW)
    };
    let done = store.commit(&lease, asks).await.unwrap();
    let claimed: Vec<_> = done.claimed.iter().map(|c| c.item_no).collect();
    assert_eq!(claimed, vec![3, 4, 5]);
    let counts = store.item_counts(id).await.unwrap();
    assert_eq!(
        (counts.completed, counts.processing, counts.pending),
        (2, 3, 1)
    );
}

async fn nul_characters_are_dropped_alike_on_both_backends(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    let (id, lease) = create(&store, b, 2, "n1").await;
    let job = store
        .enter_job(&lease, 0, CRASH_LIMIT, NOW)
        .await
        .unwrap()
        .job;
    store.claim_items(&lease, 2, NOW).await.unwrap();
    let mut failed = ItemOutcome::released(2);
    failed.status = ItemStatus::Failed;
    failed.error_class = Some(quire_actors::ErrorClass::Terminal);
    failed.error_code = Some("EMPTY_TEXT".into());
    failed.error = Some("no\0text".into());
    failed.finished_at = Some(NOW);
    let outcomes = vec![
        ItemOutcome::completed(1, json!({ "text": "a\0b", "k\0": ["\0"] }), NOW),
        failed,
    ];
    let mut progress = job.progress.clone();
    progress.completed = 1;
    progress.failed = 1;
    store
        .commit(&lease, commit(&outcomes, &progress, NOW + TTL, NOW))
        .await
        .unwrap();
    let items = store.items(id, None, None, 10).await.unwrap();
    assert_eq!(items[0].result, Some(json!({ "text": "ab", "k": [""] })));
    assert_eq!(items[1].error.as_deref(), Some("notext"));
}

async fn a_stale_lease_holder_is_fenced_out(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    let (id, old) = create(&store, b, 4, "n1").await;
    store.enter_job(&old, 0, CRASH_LIMIT, NOW).await.unwrap();
    let claimed = store.claim_items(&old, 2, NOW).await.unwrap();
    assert_eq!(claimed.len(), 2);

    // Nothing has expired yet: no takeover.
    assert!(
        store
            .take_over(takeover("n2", None, NOW + 1, NOW + TTL, 10))
            .await
            .unwrap()
            .is_empty()
    );
    // n1 stops renewing; after the lease expires n2 takes the job over.
    let taken = store
        .take_over(takeover("n2", None, NOW + TTL + 1, NOW + 2 * TTL, 10))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let new = taken[0].clone();
    assert_eq!(
        (new.job_id, new.owner.as_str(), new.generation),
        (id, "n2", old.generation + 1)
    );

    // The new holder releases what the old one had in flight (attempts stay counted).
    let job = store
        .enter_job(&new, 0, CRASH_LIMIT, NOW + TTL + 2)
        .await
        .unwrap()
        .job;
    assert_eq!(job.lease_owner.as_deref(), Some("n2"));
    let items = store
        .items(id, Some(ItemStatus::Pending), None, 10)
        .await
        .unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items.iter().filter(|i| i.attempts == 1).count(), 2);

    // The old holder's late commit is refused, and so are its claims and renewals.
    let late = vec![ItemOutcome::completed(
        claimed[0].item_no,
        json!("late"),
        NOW,
    )];
    let res = store
        .commit(&old, commit(&late, &job.progress, NOW + TTL, NOW + TTL + 3))
        .await;
    assert!(matches!(res, Err(StoreError::Fenced { .. })), "{res:?}");
    assert!(matches!(
        store.claim_items(&old, 1, NOW).await,
        Err(StoreError::Fenced { .. })
    ));
    let lost = store
        .renew_leases("n1", &[(id, old.generation)], NOW + 3 * TTL, NOW)
        .await
        .unwrap();
    assert_eq!(lost.lost, vec![id]);
    let item = &store.items(id, None, None, 1).await.unwrap()[0];
    assert_eq!(
        item.status,
        ItemStatus::Pending,
        "the late result was not written"
    );
    assert_eq!(item.result, None);

    // A commit for an item claimed by another generation is refused as a whole.
    let mine = store.claim_items(&new, 1, NOW + TTL + 4).await.unwrap();
    let wrong = vec![ItemOutcome::completed(mine[0].item_no + 1, json!("x"), NOW)];
    let res = store
        .commit(
            &new,
            commit(&wrong, &job.progress, NOW + 2 * TTL, NOW + TTL + 5),
        )
        .await;
    assert!(matches!(res, Err(StoreError::Fenced { .. })), "{res:?}");

    // The holder renews fine.
    let lost = store
        .renew_leases("n2", &[(id, new.generation)], NOW + 3 * TTL, NOW)
        .await
        .unwrap();
    assert!(lost.lost.is_empty() && lost.cancelling.is_empty());
}

async fn a_restarted_node_takes_back_its_own_jobs_at_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (b1, b2) = (book(&store).await, book(&store).await);
    let (mine, _) = create(&store, b1, 1, "n1").await;
    create(&store, b2, 1, "n2").await;
    let own = store
        .take_over(takeover("n1", Some("n1"), NOW + 1, NOW + TTL, 100))
        .await
        .unwrap();
    assert_eq!(own.iter().map(|l| l.job_id).collect::<Vec<_>>(), vec![mine]);
    assert_eq!(own[0].generation, 2);
}

async fn cancel_ends_pending_jobs_and_winds_down_running_ones(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (b1, b2) = (book(&store).await, book(&store).await);
    let (pending, _) = create(&store, b1, 2, "n1").await;
    let job = store.request_cancel(pending, NOW).await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.finished_at, Some(NOW));
    assert!(
        store.active_job(b1).await.unwrap().is_none(),
        "the JobLock is released"
    );

    let (running, lease) = create(&store, b2, 2, "n1").await;
    store.enter_job(&lease, 0, CRASH_LIMIT, NOW).await.unwrap();
    let job = store.request_cancel(running, NOW + 1).await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelling);
    // A cancelling job's commit claims nothing, even when asked to.
    let asks = Commit {
        claim: 5,
        ..commit(&[], &job.progress, NOW + TTL, NOW + 2)
    };
    let done = store.commit(&lease, asks).await.unwrap();
    assert_eq!(
        done.status,
        JobStatus::Cancelling,
        "the lease holder sees the cancel"
    );
    assert!(done.claimed.is_empty());
    let job = store
        .finish_job(&lease, JobEvent::Stopped, None, &job.progress, NOW + 3)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    let again = store.request_cancel(running, NOW + 4).await;
    assert!(matches!(
        again,
        Err(StoreError::WrongStatus {
            status: JobStatus::Cancelled,
            ..
        })
    ));
    assert!(matches!(
        store.request_cancel(JobId::new(), NOW).await,
        Err(StoreError::JobNotFound(_))
    ));
}

async fn retryable_failures_get_another_round(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    let (id, lease) = create(&store, b, 2, "n1").await;
    store.enter_job(&lease, 0, CRASH_LIMIT, NOW).await.unwrap();
    store.claim_items(&lease, 2, NOW).await.unwrap();
    let fail = |n: i64, class| {
        let mut o = ItemOutcome::released(n);
        o.status = ItemStatus::Failed;
        o.error_class = Some(class);
        o.error_code = Some("E".into());
        o.error = Some("e".into());
        o.finished_at = Some(NOW);
        o
    };
    let outcomes = vec![
        fail(1, quire_actors::ErrorClass::Retryable),
        fail(2, quire_actors::ErrorClass::Terminal),
    ];
    let mut p = store.job(id).await.unwrap().progress;
    p.failed = 2;
    store
        .commit(&lease, commit(&outcomes, &p, NOW + TTL, NOW))
        .await
        .unwrap();
    assert_eq!(store.requeue_retryable(&lease, NOW).await.unwrap(), 1);
    let job = store.job(id).await.unwrap();
    assert_eq!(
        job.progress.failed, 2,
        "an item given another round stays counted failed: progress never goes back"
    );
    assert_eq!(
        job.retry_round, 1,
        "the round survives a restart of the JobActor"
    );
    // A new holder derives the same count from the rows.
    let entered = store
        .enter_job(&lease, 0, CRASH_LIMIT, NOW + 1)
        .await
        .unwrap();
    assert_eq!(entered.job.progress.failed, 2);
    let again = store.claim_items(&lease, 5, NOW).await.unwrap();
    assert_eq!(
        again
            .iter()
            .map(|c| (c.item_no, c.attempts))
            .collect::<Vec<_>>(),
        vec![(1, 2)]
    );
}

async fn the_newest_job_of_each_book_comes_in_one_query(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (b1, b2, b3) = (book(&store).await, book(&store).await, book(&store).await);
    let mut newest = Vec::new();
    for b in [b1, b2] {
        for _ in 0..2 {
            let (id, _) = create(&store, b, 1, "n1").await;
            store.request_cancel(id, NOW).await.unwrap();
            newest.push(id);
        }
    }
    let latest = store.latest_jobs(&[b1, b2, b3]).await.unwrap();
    assert_eq!(latest.len(), 2, "a book without jobs has none");
    assert_eq!(latest[&b1].id, newest[1]);
    assert_eq!(latest[&b2].id, newest[3]);
    assert!(store.latest_jobs(&[]).await.unwrap().is_empty());
}

async fn a_job_for_a_missing_book_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let res = store
        .create_job(JobId::new(), &new_job(BookId::new(), 1), "n1", NOW, NOW)
        .await;
    assert!(matches!(res, Err(StoreError::BookNotFound(_))), "{res:?}");
}

/// Takes the job over as if its node had died, the way a restarted or another node does.
async fn take_over_dead(store: &Arc<dyn Store>, at: i64) -> Lease {
    let taken = store
        .take_over(takeover("n2", None, at, at + TTL, 10))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "the dead node's job is taken over");
    taken[0].clone()
}

async fn an_item_that_keeps_killing_its_process_runs_alone_then_fails(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    let (id, first) = create(&store, b, 4, "n1").await;
    // The process dies with items 1 and 2 running.
    let entered = store.enter_job(&first, 2, CRASH_LIMIT, NOW).await.unwrap();
    assert_eq!(entered.claimed.len(), 2);

    // The next holder finds both: each counts a crash and goes back to pending.
    let mut at = NOW + TTL + 1;
    let lease = take_over_dead(&store, at).await;
    let entered = store.enter_job(&lease, 4, CRASH_LIMIT, at).await.unwrap();
    assert_eq!(
        entered
            .claimed
            .iter()
            .map(|c| c.item_no)
            .collect::<Vec<_>>(),
        vec![1],
        "a suspect runs alone"
    );
    // While it runs, nothing else is claimed.
    assert!(store.claim_items(&lease, 4, at).await.unwrap().is_empty());
    // It ends well (it only died with item 2): item 2, the next suspect, runs alone.
    let done = vec![ItemOutcome::completed(1, json!("ok"), at)];
    let mut progress = entered.job.progress.clone();
    progress.completed = 1;
    let asks = Commit {
        claim: 4,
        ..commit(&done, &progress, at + TTL, at)
    };
    let committed = store.commit(&lease, asks).await.unwrap();
    assert_eq!(
        committed
            .claimed
            .iter()
            .map(|c| c.item_no)
            .collect::<Vec<_>>(),
        vec![2]
    );

    // Item 2 kills its process again and again; at the crash limit it fails for good.
    for crash in 2..=CRASH_LIMIT {
        at += TTL + 1;
        let lease = take_over_dead(&store, at).await;
        let entered = store.enter_job(&lease, 4, CRASH_LIMIT, at).await.unwrap();
        let claimed: Vec<i64> = entered.claimed.iter().map(|c| c.item_no).collect();
        if crash < CRASH_LIMIT {
            assert_eq!(
                claimed,
                vec![2],
                "crash {crash}: the suspect runs alone again"
            );
        } else {
            assert_eq!(
                claimed,
                vec![3, 4],
                "the others run as usual once it failed"
            );
        }
    }
    let item = &store.items(id, None, Some(1), 1).await.unwrap()[0];
    assert_eq!(
        (
            item.item_no,
            item.status,
            item.error_class,
            item.error_code.as_deref()
        ),
        (
            2,
            ItemStatus::Failed,
            Some(quire_actors::ErrorClass::Terminal),
            Some("CRASHED_REPEATEDLY")
        )
    );
    assert_eq!(item.attempts, i64::from(CRASH_LIMIT));
    assert!(item.finished_at.is_some());
    let job = store.job(id).await.unwrap();
    assert_eq!((job.progress.completed, job.progress.failed), (1, 1));
}

/// A JobActor restarted within its process (same generation) is no crash of its items.
async fn a_restart_under_the_same_lease_counts_no_crash(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let b = book(&store).await;
    let (_, lease) = create(&store, b, 3, "n1").await;
    store.enter_job(&lease, 3, CRASH_LIMIT, NOW).await.unwrap();
    let again = store
        .enter_job(&lease, 3, CRASH_LIMIT, NOW + 1)
        .await
        .unwrap();
    assert_eq!(again.claimed.len(), 3, "all three run together again");
}

crate::on_both_backends!(
    every_item_event_moves_items_as_the_state_machine_says,
    job_lock_admits_one_active_job_per_book,
    concurrent_starts_from_separate_connections_admit_exactly_one,
    database_enforces_the_job_invariants,
    claims_commits_and_progress_follow_the_items,
    entering_and_committing_claim_the_next_items_in_the_same_transaction,
    nul_characters_are_dropped_alike_on_both_backends,
    a_stale_lease_holder_is_fenced_out,
    a_restarted_node_takes_back_its_own_jobs_at_once,
    cancel_ends_pending_jobs_and_winds_down_running_ones,
    retryable_failures_get_another_round,
    a_job_for_a_missing_book_is_refused,
    the_newest_job_of_each_book_comes_in_one_query,
    an_item_that_keeps_killing_its_process_runs_alone_then_fails,
    a_restart_under_the_same_lease_counts_no_crash,
);
