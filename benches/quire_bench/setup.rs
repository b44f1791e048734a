//! Databases, runtimes and probes for the benchmarks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use quire::store::scratch::{self, ScratchDb};
use quire::store::{self, NewBook, Store};
use quire::synthetic::SyntheticHandler;
use quire_actors::ports::{ItemContext, ItemWork, JobStore, RemoteItemHandler, SystemClock};
use quire_actors::{BookId, ItemError, Job, JobId, JobKind, RuntimeConfig, RuntimeHandle};
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
    let mut kinds = HashMap::new();
    kinds.insert(
        JobKind::Synthetic,
        ItemWork::Remote(Arc::new(SyntheticHandler::new("bench", None).unwrap())),
    );
    if let Some(probe) = probe {
        kinds.insert(JobKind::Extract, ItemWork::Remote(probe));
    }
    let job_store: Arc<dyn JobStore> = store.clone();
    RuntimeHandle::start(cfg, job_store, kinds, Arc::new(SystemClock))
        .await
        .unwrap()
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
impl RemoteItemHandler for FirstStart {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        let _ = self.tx.send(Instant::now());
        Ok(json!({ "item_no": item.item_no }))
    }
}
