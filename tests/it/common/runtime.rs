//! A runtime in this test's actix System, on a test database, with scripted item handlers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use quire::store::{NewBook, Store};
use quire::synthetic::SyntheticHandler;
use quire_actors::model::NewJob;
use quire_actors::ports::{ItemContext, ItemHandler, JobStore, SystemClock};
use quire_actors::retry::RetryPolicy;
use quire_actors::runtime::KindRegistry;
use quire_actors::{BookId, ItemError, Job, JobId, JobKind, RuntimeConfig, RuntimeHandle};
use serde_json::{Value, json};

/// How long any test waits for a job to get somewhere.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A job of `items` items numbered from 1.
pub fn job(book: quire_actors::BookId, kind: JobKind, items: i64, params: Value) -> NewJob {
    NewJob {
        book_id: book,
        kind,
        params,
        items: (1..=items).collect(),
        resumed_from: None,
        held: false,
    }
}

/// Settings short enough for tests: fast heartbeats and backoffs.
pub fn fast_config(node: &str) -> RuntimeConfig {
    RuntimeConfig {
        node_id: node.to_owned(),
        lease_ttl: Duration::from_millis(600),
        heartbeat_interval: Duration::from_millis(100),
        item_concurrency: 16,
        commit_interval: Duration::from_millis(5),
        cancel_grace: Duration::from_millis(300),
        retry: RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
            auto_retry_rounds: 0,
        },
        ..RuntimeConfig::default()
    }
}

/// One start of one item, as a handler saw it.
#[derive(Clone, Debug)]
pub struct Start {
    pub job: JobId,
    pub item: i64,
}

/// A handler whose behaviour a test switches at run time, and which logs every start.
#[derive(Default)]
pub struct Scripted {
    pub starts: Mutex<Vec<Start>>,
    /// While set, this item fails with a fatal error.
    pub fatal_item: Mutex<Option<i64>>,
    pub latency: Mutex<Duration>,
}

impl Scripted {
    fn begin(&self, item: &ItemContext) -> Result<Duration, ItemError> {
        self.starts.lock().unwrap().push(Start {
            job: item.job_id,
            item: item.item_no,
        });
        if *self.fatal_item.lock().unwrap() == Some(item.item_no) {
            return Err(ItemError::fatal(
                "BAD_CREDENTIALS",
                "the provider refused the key",
            ));
        }
        Ok(*self.latency.lock().unwrap())
    }

    pub fn starts_of(&self, job: JobId) -> Vec<Start> {
        self.starts
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.job == job)
            .cloned()
            .collect()
    }
}

#[async_trait]
impl ItemHandler for Scripted {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        let latency = self.begin(item)?;
        tokio::time::sleep(latency).await;
        Ok(json!({ "item": item.item_no }))
    }

    fn provider(&self) -> &str {
        "scripted"
    }
}

/// `synthetic` runs the real synthetic handler; `extract` and `ocr` run `scripted`.
pub fn kinds(node: &str, scripted: &Arc<Scripted>) -> KindRegistry {
    let mut kinds = KindRegistry::new();
    kinds.insert(
        JobKind::Synthetic,
        Arc::new(SyntheticHandler::new(node, None).unwrap()),
    );
    kinds.insert(JobKind::Extract, scripted.clone());
    kinds.insert(JobKind::Ocr, scripted.clone());
    kinds
}

pub async fn start(
    store: Arc<dyn JobStore>,
    cfg: RuntimeConfig,
    scripted: &Arc<Scripted>,
) -> RuntimeHandle {
    let kinds = kinds(&cfg.node_id, scripted);
    RuntimeHandle::start(cfg, store, kinds, Arc::new(SystemClock))
        .await
        .expect("runtime starts")
}

pub async fn new_book(store: &Arc<dyn Store>) -> BookId {
    store
        .create_book(
            &NewBook {
                title: "Book".into(),
                owner: None,
            },
            now(),
        )
        .await
        .unwrap()
        .id
}

pub fn now() -> i64 {
    use quire_actors::ports::Clock;
    SystemClock.now_ms()
}

/// Waits until the job is terminal; fails the test after `limit`.
pub async fn wait_terminal(store: &Arc<dyn Store>, id: JobId, limit: Duration) -> Job {
    wait_until(store, id, limit, |j| j.status.is_terminal()).await
}

pub async fn wait_until(
    store: &Arc<dyn Store>,
    id: JobId,
    limit: Duration,
    done: impl Fn(&Job) -> bool,
) -> Job {
    let deadline = Instant::now() + limit;
    loop {
        let job = store.job(id).await.unwrap();
        if done(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job did not get there within {limit:?}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
