//! Databases, runtimes and probes for the benchmarks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use quire::store::{self, NewBook, Store};
use quire::synthetic::SyntheticHandler;
use quire_actors::ports::{ItemContext, ItemWork, JobStore, RemoteItemHandler, SystemClock};
use quire_actors::{BookId, ItemError, Job, JobId, JobKind, RuntimeConfig, RuntimeHandle};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::{broadcast, mpsc};

use crate::Backend;

/// A fresh database for one benchmark: a SQLite file, or a PostgreSQL database that is
/// dropped afterwards.
pub struct BenchDb {
    url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

fn pg_admin_url() -> String {
    std::env::var("QUIRE_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl BenchDb {
    pub async fn new(backend: Backend) -> BenchDb {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => BenchDb {
                url: format!("sqlite://{}", dir.path().join("bench.db").display()),
                pg_name: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let name = format!("quire_bench_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let server = pg_admin_url().rsplit_once('/').unwrap().0.to_owned();
                BenchDb {
                    url: format!("{server}/{name}"),
                    pg_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        store::open(&self.url, 8).await.unwrap()
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&sql).execute(&mut conn).await;
                }
            });
        })
        .join();
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
pub fn start_runtime(
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
