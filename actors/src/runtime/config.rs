use std::collections::HashMap;
use std::time::Duration;

use crate::model::JobKind;
use crate::retry::RetryPolicy;

/// Runtime deadlines of one job kind; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindLimits {
    /// An attempt running longer is logged, counted (`slow` in [`super::ItemStats`]) and
    /// flagged on its item; it goes on.
    pub item_soft: Option<Duration>,
    /// An attempt running longer is abandoned, whatever its handler does: retryable
    /// `TIMEOUT`: its future is dropped, freeing its slot.
    pub item_hard: Option<Duration>,
    /// A job running longer than this since its `started_at` fails, resumable
    /// (`JOB_TIMEOUT`); its completed items are kept.
    pub job: Option<Duration>,
}

/// What a node does at boot with the jobs it held when it went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// Take them up again where they stopped.
    Resume,
    /// Mark them failed (`INTERRUPTED`), resumable by hand.
    Fail,
}

/// The runtime's knobs. The application fills it from its settings.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// This node's name in leases. Two live processes must not share one.
    pub node_id: String,
    /// How long a lease lives without renewal; a dead node's jobs wait this long.
    pub lease_ttl: Duration,
    /// How often the Heartbeat renews leases and looks for expired ones.
    pub heartbeat_interval: Duration,
    /// Jobs taken over per heartbeat.
    pub takeover_batch: u32,
    /// Items one job keeps in flight.
    pub item_concurrency: u32,
    /// Item outcomes written per transaction, at most.
    pub commit_batch: usize,
    /// How long an outcome may wait for its batch before it is written anyway.
    pub commit_interval: Duration,
    /// Longest wait for one store call before it counts as a failure. A lease must outlive
    /// a heartbeat interval plus this, so that a slow renewal still lands in time.
    pub store_timeout: Duration,
    /// After a cancel, how long in-flight items may run before they are dropped.
    pub cancel_grace: Duration,
    /// How often a JobActor with items in flight reads its job's status, to see a cancel
    /// recorded by another node before it starts anything else.
    pub cancel_poll: Duration,
    pub retry: RetryPolicy,
    /// A JobActor that crashes more than `restart_limit` times within `restart_window`
    /// fails its job (resumable) instead of restarting again.
    pub restart_limit: u32,
    pub restart_window: Duration,
    /// Item calls the node's pool runs at once, over all its jobs.
    pub pool_concurrency: usize,
    pub recovery: Recovery,
    /// Deadlines per job kind; a kind not listed has none.
    pub limits: HashMap<JobKind, KindLimits>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            node_id: "node-1".to_owned(),
            lease_ttl: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(5),
            takeover_batch: 16,
            item_concurrency: 64,
            commit_batch: 512,
            commit_interval: Duration::from_millis(20),
            cancel_grace: Duration::from_millis(1500),
            cancel_poll: Duration::from_millis(500),
            store_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            restart_limit: 5,
            restart_window: Duration::from_secs(60),
            pool_concurrency: 16,
            recovery: Recovery::Resume,
            limits: HashMap::new(),
        }
    }
}

impl RuntimeConfig {
    pub(crate) fn lease_ttl_ms(&self) -> i64 {
        self.lease_ttl.as_millis() as i64
    }

    /// The deadlines of `kind`.
    pub fn limits_of(&self, kind: JobKind) -> KindLimits {
        self.limits.get(&kind).copied().unwrap_or_default()
    }
}
