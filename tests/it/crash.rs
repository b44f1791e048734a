//! The crash drill: a real `quire serve` process is SIGKILLed at random moments while it
//! runs a job, and restarted. Nothing may be lost, and nothing completed may run again.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use quire_actors::model::ItemStatus;
use quire_actors::{JobId, JobStatus};
use serde_json::{Value, json};

use crate::common::db::{Backend, TestDb};

const ITEMS: i64 = 1000;
const CONCURRENCY: i64 = 8;
const KILLS: usize = 10;

/// A running `quire serve` and the address it listens on.
struct Node {
    child: Child,
    base: String,
}

/// The drill's node: random kills in quick succession can catch one item in flight at
/// several of them, which would fail it as a poison item (`CRASHED_REPEATEDLY`) at
/// `max_attempts` crashes; here every kill is the test's, so the budget outlasts them all.
/// Poison items have their own test below.
fn spawn_drill_node(db: &TestDb, dir: &Path) -> Node {
    let attempts = (KILLS + 1).to_string();
    spawn_node_with(
        db,
        dir,
        "crash-node",
        "2000",
        &[("QUIRE_RUNTIME_MAX_ATTEMPTS", &attempts)],
    )
}

fn spawn_named_node(db: &TestDb, dir: &Path, node_id: &str, lease_ttl_ms: &str) -> Node {
    spawn_node_with(db, dir, node_id, lease_ttl_ms, &[])
}

fn spawn_node_with(
    db: &TestDb,
    dir: &Path,
    node_id: &str,
    lease_ttl_ms: &str,
    extra: &[(&str, &str)],
) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quire"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // QUIRE_TEST_NODE_LOG=debug shows the nodes' own logs when a drill fails.
        .env(
            "QUIRE_LOG",
            std::env::var("QUIRE_TEST_NODE_LOG").unwrap_or("warn".into()),
        )
        .env("QUIRE_DATABASE_URL", &db.url)
        .env("QUIRE_STORAGE_PATH", dir.join("objects"))
        .env("QUIRE_SERVER_BIND", "127.0.0.1:0")
        .env("QUIRE_RUNTIME_NODE_ID", node_id)
        .env("QUIRE_RUNTIME_HEARTBEAT_INTERVAL_MS", "200")
        .env("QUIRE_RUNTIME_LEASE_TTL_MS", lease_ttl_ms)
        .env("QUIRE_RUNTIME_STORE_TIMEOUT_MS", "1500")
        .env("QUIRE_RUNTIME_ITEM_CONCURRENCY", CONCURRENCY.to_string())
        .env("QUIRE_SYNTHETIC_ENABLED", "true")
        .env("QUIRE_SYNTHETIC_TRACE_FILE", dir.join("trace"))
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start quire");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("quire listening on ")
        .expect(&line)
        .to_owned();
    Node { child, base }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post_json(http: &reqwest::Client, url: String, body: Value) -> Value {
    http.post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Creates a book and a synthetic job of `ITEMS` items through the node's API.
async fn start_job(http: &reqwest::Client, base: &str, title: &str) -> JobId {
    let body = json!({ "items": ITEMS, "params": { "latency_ms": 25 } });
    start_synthetic(http, base, title, body).await
}

/// Creates a book and a synthetic job as `body` describes it.
async fn start_synthetic(http: &reqwest::Client, base: &str, title: &str, body: Value) -> JobId {
    let book = post_json(
        http,
        format!("{base}/api/v1/books"),
        json!({ "title": title }),
    )
    .await;
    let book_id = book["id"].as_str().unwrap();
    let job = post_json(
        http,
        format!("{base}/api/v1/books/{book_id}/jobs/synthetic"),
        body,
    )
    .await;
    job["id"].as_str().unwrap().parse().unwrap()
}

/// Item starts, as the synthetic handler appended them to the trace file.
fn starts(dir: &Path) -> Vec<i64> {
    std::fs::read_to_string(dir.join("trace"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect()
}

async fn completed_items(db: &TestDb, job: JobId) -> HashSet<i64> {
    let store = db.store().await;
    store
        .items(job, Some(ItemStatus::Completed), None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.item_no)
        .collect()
}

async fn sigkill_at_random_moments_loses_nothing_and_reruns_only_in_flight_items(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    let node = spawn_drill_node(&db, dir.path());
    let job_id = start_job(&http, &node.base, "Crash drill").await;

    let mut node = Some(node);
    let mut completed_at_kill: Vec<HashSet<i64>> = Vec::new();
    let mut trace_len_at_kill: Vec<usize> = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(50..300))).await;
        drop(node.take()); // SIGKILL, then reap.
        let done = completed_items(&db, job_id).await;
        if let Some(before) = completed_at_kill.last() {
            assert!(
                before.is_subset(&done),
                "a completed item was lost by a crash"
            );
        }
        completed_at_kill.push(done);
        trace_len_at_kill.push(starts(dir.path()).len());
        node = Some(spawn_drill_node(&db, dir.path()));
    }
    let node = node.unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    let finished = loop {
        let job: Value = http
            .get(format!("{}/api/v1/jobs/{job_id}", node.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] != json!("running") && job["status"] != json!("pending") {
            break job;
        }
        assert!(Instant::now() < deadline, "the job did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        finished["status"],
        json!(JobStatus::Completed.as_str()),
        "{finished}"
    );
    assert_eq!(finished["progress"]["completed"], json!(ITEMS));
    assert!(
        completed_at_kill.last().unwrap().len() < ITEMS as usize,
        "the kills came too late"
    );

    // Every item completed exactly once in the stored results.
    let store = db.store().await;
    let items = store.items(job_id, None, None, 10_000).await.unwrap();
    assert_eq!(items.len(), ITEMS as usize);
    for item in &items {
        assert_eq!(item.status, ItemStatus::Completed);
        assert_eq!(
            item.result.as_ref().unwrap()["item_no"],
            json!(item.item_no)
        );
    }

    // Completed items never ran again; only items in flight at a kill ran again, at most
    // one window of them per kill.
    let trace = starts(dir.path());
    let mut runs: HashMap<i64, usize> = HashMap::new();
    for item in &trace {
        *runs.entry(*item).or_default() += 1;
    }
    assert_eq!(runs.len(), ITEMS as usize, "every item started");
    for (k, (done, &offset)) in completed_at_kill.iter().zip(&trace_len_at_kill).enumerate() {
        let started_before: HashSet<i64> = trace[..offset].iter().copied().collect();
        let after: HashSet<i64> = trace[offset..].iter().copied().collect();
        let rerun_completed: Vec<_> = after.intersection(done).collect();
        assert!(
            rerun_completed.is_empty(),
            "kill {k}: completed items ran again: {rerun_completed:?}"
        );
        let in_flight: HashSet<i64> = started_before.difference(done).copied().collect();
        let rerun: HashSet<i64> = after.intersection(&started_before).copied().collect();
        assert!(rerun.is_subset(&in_flight));
        assert!(
            rerun.len() as i64 <= CONCURRENCY,
            "kill {k}: {} items re-ran",
            rerun.len()
        );
    }
    let reruns = trace.len() - ITEMS as usize;
    assert!(
        reruns <= KILLS * CONCURRENCY as usize,
        "{reruns} re-runs for {KILLS} kills"
    );
    eprintln!(
        "crash drill ({backend:?}): {KILLS} SIGKILLs, {reruns} in-flight re-runs of {ITEMS} items"
    );
}

async fn sigterm_drains_the_node_and_another_takes_over_at_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    // A ten-minute lease: only the drain can make the job move on quickly.
    let mut first = spawn_named_node(&db, dir.path(), "node-a", "600000");
    let job_id = start_job(&http, &first.base, "Drain").await;
    let store = db.store().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.item_counts(job_id).await.unwrap().completed == 0 {
        assert!(Instant::now() < deadline, "the job never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An admin's browser follows the job: an open event stream must not hold the stop up.
    let mut events = http
        .get(format!("{}/api/v1/jobs/{job_id}/events", first.base))
        .send()
        .await
        .unwrap();
    assert!(
        events.chunk().await.unwrap().is_some(),
        "the stream is open"
    );

    let pid = first.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let stopped_at = Instant::now();
    let status = loop {
        if let Some(status) = first.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(10),
            "quire did not stop within 10 s of SIGTERM (docker stop's grace)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        status.success(),
        "quire exits cleanly on SIGTERM: {status:?}"
    );
    eprintln!(
        "drain ({backend:?}): exited {:?} after SIGTERM",
        stopped_at.elapsed()
    );
    // The stream was ended, not left hanging.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = events.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the event stream was closed");

    let drained = store.job(job_id).await.unwrap();
    assert_eq!(drained.status, JobStatus::Running);
    let counts = store.item_counts(job_id).await.unwrap();
    assert_eq!(counts.processing, 0, "in-flight items were released");
    assert!(
        counts.completed > 0 && counts.completed < ITEMS as u64,
        "{counts:?}"
    );

    let started = Instant::now();
    let second = spawn_named_node(&db, dir.path(), "node-b", "600000");
    // Taken up within a heartbeat of the default's five seconds, not after the lease.
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.job(job_id).await.unwrap().lease_owner.as_deref() != Some("node-b") {
        assert!(Instant::now() < deadline, "node-b did not take the job up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = store.job(job_id).await.unwrap();
        if job.status.is_terminal() {
            assert_eq!(job.status, JobStatus::Completed);
            assert_eq!(job.lease_owner.as_deref(), Some("node-b"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node-b never finished the job: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "drain ({backend:?}): node-b finished the job {:?} after taking it over",
        started.elapsed()
    );
    drop(second);
}

/// A poison item: its handler aborts the process, as an out-of-memory kill or a crash in a
/// native library would. The node is restarted after each crash, as a supervisor (systemd,
/// Kubernetes) would; the item runs alone after its first crash, fails for good at the
/// attempt budget, and every other item completes.
async fn an_item_that_kills_its_process_fails_and_the_rest_complete(backend: Backend) {
    const POISON: i64 = 5;
    const ALL: i64 = 20;
    const MAX_ATTEMPTS: u32 = 3; // runtime.max_attempts' default
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut node = spawn_named_node(&db, dir.path(), "poison-node", "2000");
    let body = json!({ "items": ALL, "params": { "latency_ms": 20, "abort_items": [POISON] } });
    let job_id = start_synthetic(&http, &node.base, "Poison", body).await;

    let store = db.store().await;
    let mut crashes = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    let job = loop {
        let job = store.job(job_id).await.unwrap();
        if job.status.is_terminal() {
            break job;
        }
        if let Some(status) = node.child.try_wait().unwrap() {
            assert!(!status.success(), "the process died of the poison item");
            crashes += 1;
            assert!(
                crashes <= MAX_ATTEMPTS,
                "the poison item took the node down {crashes} times"
            );
            node = spawn_named_node(&db, dir.path(), "poison-node", "2000");
        }
        assert!(Instant::now() < deadline, "the job never ended: {job:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(crashes, MAX_ATTEMPTS, "one crash per attempt");
    assert_eq!(job.status, JobStatus::Completed, "{job:?}");
    assert_eq!(
        (job.progress.completed, job.progress.failed),
        (ALL as u64 - 1, 1)
    );
    let items = store.items(job_id, None, None, 100).await.unwrap();
    for item in &items {
        if item.item_no == POISON {
            assert_eq!(item.status, ItemStatus::Failed);
            assert_eq!(item.error_code.as_deref(), Some("CRASHED_REPEATEDLY"));
            assert_eq!(item.error_class, Some(quire_actors::ErrorClass::Terminal));
        } else {
            assert_eq!(item.status, ItemStatus::Completed, "{item:?}");
        }
    }
    // The node that is up still serves: the poison did not take it down once it failed.
    assert!(node.child.try_wait().unwrap().is_none());
    let runs = starts(dir.path());
    let poison_runs = runs.iter().filter(|&&i| i == POISON).count();
    assert_eq!(poison_runs, MAX_ATTEMPTS as usize, "{runs:?}");
}

crate::on_both_backends!(
    sigkill_at_random_moments_loses_nothing_and_reruns_only_in_flight_items,
    sigterm_drains_the_node_and_another_takes_over_at_once,
    an_item_that_kills_its_process_fails_and_the_rest_complete,
);
