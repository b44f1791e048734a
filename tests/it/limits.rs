//! Runtime deadlines through the real server, with synthetic items that never return: the
//! soft item limit (logged, counted, flagged), the hard item limit (the attempt abandoned,
//! retryable `TIMEOUT`) and the job limit (the job fails resumable `JOB_TIMEOUT`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::api::{Api, Storage, serve_with};
use crate::common::db::{Backend, TestDb};

async fn server(db: &TestDb, limits: &[(&str, &str)]) -> Api {
    let mut env = vec![
        ("QUIRE_SYNTHETIC_ENABLED", "true"),
        ("QUIRE_RUNTIME_BACKOFF_BASE_MS", "10"),
        ("QUIRE_RUNTIME_BACKOFF_MAX_MS", "50"),
    ];
    env.extend_from_slice(limits);
    serve_with(db, Storage::Folder, &env).await
}

async fn synthetic(api: &Api, items: u32, params: Value) -> String {
    let book = api.book().await;
    let (status, job) = api
        .post(
            &format!("/api/v1/books/{book}/jobs/synthetic"),
            json!({ "items": items, "params": params }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    job["id"].as_str().unwrap().to_owned()
}

async fn items(api: &Api, job: &str) -> Vec<Value> {
    let (status, page) = api.get(&format!("/api/v1/jobs/{job}/items")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// The value of a metrics line (`name{labels}`), if there is one.
fn metric(metrics: &str, series: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn soft_limit_flags_and_counts_a_hung_item(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = server(
        &db,
        &[
            ("QUIRE_LIMITS_SYNTHETIC_ITEM_SOFT_MS", "200"),
            ("QUIRE_LIMITS_SYNTHETIC_ITEM_HARD_MS", "0"),
        ],
    )
    .await;
    let job = synthetic(&api, 3, json!({ "hang_items": [2] })).await;
    // Counted while it still runs: the soft limit does not stop it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = api.metrics().await;
        if metric(&metrics, "quire_item_slow_total{kind=\"synthetic\"}") == Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "never counted slow: {metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, running) = api.get(&format!("/api/v1/jobs/{job}")).await;
    assert_eq!(running["status"], json!("running"), "{running}");
    let (status, _) = api.cancel(&job).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    api.wait_status(&job, "cancelled").await;
    let items = items(&api, &job).await;
    let slow: Vec<(i64, bool, &str)> = items
        .iter()
        .map(|i| {
            (
                i["item_no"].as_i64().unwrap(),
                i["slow"].as_bool().unwrap(),
                i["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        slow,
        [
            (1, false, "completed"),
            (2, true, "pending"),
            (3, false, "completed")
        ],
        "{items:?}"
    );
}

#[actix_rt::test]
async fn a_hung_item_past_its_soft_limit_is_counted_and_flagged_sqlite() {
    soft_limit_flags_and_counts_a_hung_item(Backend::Sqlite).await;
}

#[actix_rt::test]
async fn a_hung_item_past_its_soft_limit_is_counted_and_flagged_postgres() {
    soft_limit_flags_and_counts_a_hung_item(Backend::Postgres).await;
}

/// One remote slot: the items after the hung one run only because the hung attempt's
/// future is dropped at the hard limit, freeing its slot.
#[actix_rt::test]
async fn a_hung_item_past_its_hard_limit_is_abandoned_as_a_retryable_timeout() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = server(
        &db,
        &[
            ("QUIRE_LIMITS_SYNTHETIC_ITEM_SOFT_MS", "100"),
            ("QUIRE_LIMITS_SYNTHETIC_ITEM_HARD_MS", "300"),
            ("QUIRE_RUNTIME_POOL_CONCURRENCY", "1"),
            ("QUIRE_RUNTIME_MAX_ATTEMPTS", "2"),
            ("QUIRE_RUNTIME_AUTO_RETRY_ROUNDS", "0"),
        ],
    )
    .await;
    let job = synthetic(&api, 3, json!({ "hang_items": [1] })).await;
    let done = api.wait_ended(&job).await;
    assert_eq!(done["status"], json!("completed"), "{done}");
    assert_eq!(done["progress"]["completed"], json!(2), "{done}");
    assert_eq!(done["progress"]["failed"], json!(1), "{done}");
    let items = items(&api, &job).await;
    let hung = &items[0];
    assert_eq!(hung["status"], json!("failed"), "{hung}");
    assert_eq!(hung["attempts"], json!(2), "{hung}");
    assert_eq!(hung["error"]["code"], json!("TIMEOUT"), "{hung}");
    assert_eq!(hung["error"]["class"], json!("retryable"), "{hung}");
    assert_eq!(hung["slow"], json!(true), "{hung}");
    let metrics = api.metrics().await;
    assert_eq!(
        metric(&metrics, "quire_item_slow_total{kind=\"synthetic\"}"),
        Some(2),
        "{metrics}"
    );
}

/// The job limit counts from the job's start: items 1 and 2 complete, item 3 never
/// returns, and the job fails `JOB_TIMEOUT` with its two items kept; its resume runs only
/// item 3.
#[actix_rt::test]
async fn a_job_past_its_limit_fails_resumable_and_keeps_its_completed_items() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = server(
        &db,
        &[
            ("QUIRE_LIMITS_SYNTHETIC_ITEM_SOFT_MS", "0"),
            ("QUIRE_LIMITS_SYNTHETIC_ITEM_HARD_MS", "0"),
            ("QUIRE_LIMITS_SYNTHETIC_JOB_MS", "1000"),
        ],
    )
    .await;
    let job = synthetic(&api, 3, json!({ "hang_items": [3] })).await;
    let failed = api.wait_ended(&job).await;
    assert_eq!(failed["status"], json!("failed"), "{failed}");
    assert_eq!(failed["error"]["code"], json!("JOB_TIMEOUT"), "{failed}");
    assert_eq!(failed["progress"]["completed"], json!(2), "{failed}");
    let elapsed = failed["elapsed_ms"].as_i64().unwrap();
    assert!((1000..10_000).contains(&elapsed), "{failed}");
    let statuses: Vec<Value> = items(&api, &job)
        .await
        .iter()
        .map(|i| i["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("completed"), json!("completed"), json!("pending")]
    );

    let (status, resumed) = api
        .post(
            &format!("/api/v1/jobs/{job}/resume"),
            json!({ "mode": "resume" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resumed}");
    assert_eq!(resumed["progress"]["total"], json!(1), "{resumed}");
    // Its own clock: the resumed job fails on its own limit too, not at once.
    let resumed_id = resumed["id"].as_str().unwrap();
    let again = api.wait_ended(resumed_id).await;
    assert_eq!(again["error"]["code"], json!("JOB_TIMEOUT"), "{again}");
    assert!(again["elapsed_ms"].as_i64().unwrap() >= 1000, "{again}");
}
