//! The `synthetic` job kind: items that wait, record themselves and fail on request.
//!
//! It exercises the whole runtime path (claims, pools, batched outcomes, leases) without OCR
//! or a model, for load tests (`quire-bench`) and crash drills. It is off unless
//! `synthetic.enabled` is set.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use quire_actors::ItemError;
use quire_actors::ports::{ItemContext, ItemHandler};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What a synthetic job's items do, from the job's params.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticParams {
    /// How long each item takes.
    pub latency_ms: u64,
    /// Items that fail, by item number, with the class of their failure.
    pub fail: BTreeMap<i64, FailAs>,
    /// Listed items fail only on their first `fail_attempts` attempts (0: on every attempt).
    pub fail_attempts: i64,
    /// Items whose handler panics (the pool turns it into `WORKER_PANIC`).
    pub panic_items: Vec<i64>,
    /// Items that abort the whole process when they run, as an out-of-memory kill or a
    /// crash in a native library would: the crash drill for poison items.
    pub abort_items: Vec<i64>,
    /// Items whose handler never returns (until the runtime's hard item limit abandons it,
    /// or a cancel): the drill for runtime deadlines.
    pub hang_items: Vec<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailAs {
    Retryable,
    Terminal,
    Fatal,
    RateLimited,
}

impl SyntheticParams {
    pub const MAX_LATENCY_MS: u64 = 600_000;

    /// Parses and checks a job's params; the API answers 400 with this message.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let params: SyntheticParams = serde_json::from_value(value.clone())
            .map_err(|e| format!("invalid synthetic params: {e}"))?;
        if params.latency_ms > Self::MAX_LATENCY_MS {
            return Err(format!(
                "latency_ms must be at most {}",
                Self::MAX_LATENCY_MS
            ));
        }
        if params.fail_attempts < 0 {
            return Err("fail_attempts must not be negative".to_owned());
        }
        Ok(params)
    }
}

/// Runs synthetic items on the remote (async) pool.
pub struct SyntheticHandler {
    node_id: String,
    /// Every item start is appended here (`job item attempt`), if set: crash drills count
    /// re-runs from it, since it survives a SIGKILL.
    trace: Option<Mutex<File>>,
}

impl SyntheticHandler {
    pub fn new(node_id: &str, trace_file: Option<&Path>) -> std::io::Result<Self> {
        let trace = match trace_file {
            Some(path) => Some(Mutex::new(
                OpenOptions::new().create(true).append(true).open(path)?,
            )),
            None => None,
        };
        Ok(Self {
            node_id: node_id.to_owned(),
            trace,
        })
    }

    fn record_start(&self, item: &ItemContext) {
        if let Some(trace) = &self.trace {
            let line = format!("{} {} {}\n", item.job_id, item.item_no, item.attempt);
            if let Ok(mut file) = trace.lock() {
                // One write(2) with O_APPEND: lines never interleave, and the kernel keeps
                // them through a SIGKILL of this process.
                let _ = file.write_all(line.as_bytes());
            }
        }
    }
}

#[async_trait]
impl ItemHandler for SyntheticHandler {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        let params = SyntheticParams::from_value(&item.params)
            .map_err(|e| ItemError::fatal("INVALID_PARAMS", e))?;
        self.record_start(item);
        if params.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(params.latency_ms)).await;
        }
        if params.abort_items.contains(&item.item_no) {
            tracing::error!(item = item.item_no, "synthetic abort: the process dies");
            std::process::abort();
        }
        if params.hang_items.contains(&item.item_no) {
            tracing::info!(
                item = item.item_no,
                "synthetic hang: this item never returns"
            );
            std::future::pending::<()>().await;
        }
        if params.panic_items.contains(&item.item_no) {
            panic!("synthetic panic on item {}", item.item_no);
        }
        let failing = params.fail_attempts == 0 || item.attempt <= params.fail_attempts;
        if let Some(class) = params.fail.get(&item.item_no).filter(|_| failing) {
            let message = format!("synthetic {class:?} failure of item {}", item.item_no);
            return Err(match class {
                FailAs::Retryable => ItemError::retryable("SYNTHETIC_RETRYABLE", message),
                FailAs::Terminal => ItemError::terminal("SYNTHETIC_TERMINAL", message),
                FailAs::Fatal => ItemError::fatal("SYNTHETIC_FATAL", message),
                FailAs::RateLimited => ItemError::RateLimited {
                    retry_after: Some(Duration::from_millis(200)),
                },
            });
        }
        Ok(json!({ "item_no": item.item_no, "attempt": item.attempt, "node": self.node_id }))
    }

    fn provider(&self) -> &str {
        "synthetic"
    }
}
