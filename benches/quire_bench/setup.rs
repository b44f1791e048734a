//! Databases, runtimes and probes for the benchmarks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use quire::store::scratch::{self, ScratchDb};
use quire::store::{self, NewBook, Store};
use quire::synthetic::SyntheticHandler;
use quire_actors::model::{ItemOutcome, Lease, NewJob};
use quire_actors::ports::{Clock, Commit, ItemContext, ItemHandler, JobStore, SystemClock};
use quire_actors::runtime::KindRegistry;
use quire_actors::{
    BookId, ItemError, Job, JobId, JobKind, Progress, RuntimeConfig, RuntimeHandle,
};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::Backend;

/// A fresh database for one benchmark, dropped afterwards.
pub struct BenchDb(ScratchDb);

impl BenchDb {
    pub async fn new(backend: Backend) -> BenchDb {
        let backend = match backend {
            Backend::Sqlite => scratch::Backend::Sqlite,
            Backend::Postgres => scratch::Backend::Postgres,
        };
        BenchDb(ScratchDb::new(backend).await.expect("a scratch database"))
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        store::open(&self.0.url, 8).await.unwrap()
    }
}

pub fn bench_config() -> RuntimeConfig {
    RuntimeConfig {
        node_id: "bench".into(),
        commit_interval: Duration::from_millis(2),
        ..RuntimeConfig::default()
    }
}

/// `synthetic` runs the real synthetic handler; `extract` runs `probe`, if given.
pub async fn start_runtime(
    store: &Arc<dyn Store>,
    cfg: RuntimeConfig,
    probe: Option<Arc<FirstStart>>,
) -> RuntimeHandle {
    let mut kinds = KindRegistry::new();
    kinds.insert(
        JobKind::Synthetic,
        Arc::new(SyntheticHandler::new("bench", None).unwrap()),
    );
    if let Some(probe) = probe {
        kinds.insert(JobKind::Extract, probe);
    }
    let job_store: Arc<dyn JobStore> = store.clone();
    RuntimeHandle::start(cfg, job_store, kinds, Arc::new(SystemClock))
        .await
        .unwrap()
}

/// Runs a job straight through the store, no actors: enters it claiming a window of items,
/// then writes each window's outcomes (`result` of each item) and claims the next in one
/// transaction, as the JobActor does when no item takes any time. The job stays running.
pub async fn run_in_store(
    store: &Arc<dyn Store>,
    job: &NewJob,
    window: u32,
    result: impl Fn(i64) -> Value,
) -> Progress {
    let clock = SystemClock;
    let id = JobId::new();
    let now = clock.now_ms();
    let created = store
        .create_job(id, job, "bench", now + 60_000, now)
        .await
        .unwrap();
    let lease = Lease {
        job_id: id,
        owner: "bench".into(),
        generation: created.lease_generation,
    };
    let entered = store
        .enter_job(&lease, window, 3, clock.now_ms())
        .await
        .unwrap();
    let mut progress = entered.job.progress;
    let mut claimed = entered.claimed;
    while !claimed.is_empty() {
        let now = clock.now_ms();
        let outcomes: Vec<ItemOutcome> = claimed
            .iter()
            .map(|c| ItemOutcome::completed(c.item_no, result(c.item_no), now))
            .collect();
        progress.completed += outcomes.len() as u64;
        progress.last_completed_item = claimed.last().map(|c| c.item_no);
        let commit = Commit {
            outcomes: &outcomes,
            progress: &progress,
            claim: window,
            lease_expires_at: now + 60_000,
            now,
        };
        claimed = store.commit(&lease, commit).await.unwrap().claimed;
    }
    progress
}

pub async fn book(store: &Arc<dyn Store>) -> BookId {
    store
        .create_book(
            &NewBook {
                title: "Bench".into(),
                owner: None,
            },
            0,
        )
        .await
        .unwrap()
        .id
}

/// Waits for the job's terminal event (subscribe before submitting), re-reading the store
/// now and then; polling alone would load the machine being measured.
pub async fn wait_done(
    store: &Arc<dyn Store>,
    events: &mut broadcast::Receiver<Job>,
    id: JobId,
) -> Job {
    loop {
        tokio::select! {
            event = events.recv() => {
                if let Ok(job) = event
                    && job.id == id
                    && job.status.is_terminal()
                {
                    return job;
                }
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                let job = store.job(id).await.unwrap();
                if job.status.is_terminal() {
                    return job;
                }
            }
        }
    }
}

/// Reports the instant each item starts.
pub struct FirstStart {
    tx: mpsc::UnboundedSender<Instant>,
}

impl FirstStart {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Instant>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

#[async_trait]
impl ItemHandler for FirstStart {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        let _ = self.tx.send(Instant::now());
        Ok(json!({ "item_no": item.item_no }))
    }

    fn provider(&self) -> &str {
        "first-start"
    }
}
