//! The actor tree.
//!
//! ```text
//! Supervisor (owns the JobLock; restarts JobActors with a bounded intensity)
//!  ├─ JobActor(job A) ── items ──> ItemPool [futures, one concurrency limit, per-provider
//!  │                                          pause on 429, soft and hard item limits]
//!  ├─ JobActor(job B)
//!  └─ Heartbeat (renews this node's leases; takes over jobs whose lease expired)
//! ```
//!
//! Everything runs inside an actix `System`; [`RuntimeHandle::start`] must be called there.

mod config;
mod handle;
mod heartbeat;
mod item_pool;
mod item_stats;
mod job_actor;
mod kinds;
mod outcome;
mod stats;
mod stop;
mod submit;
mod supervisor;
mod work;

pub use config::{KindLimits, Recovery, RuntimeConfig};
pub use handle::{ItemRetry, RuntimeHandle, SkipReason};
pub use heartbeat::Heartbeat;
pub use item_pool::ItemPool;
pub use item_stats::{AttemptEnd, Histogram, ItemStats, ItemStatsSnapshot, LATENCY_BOUNDS_MS};
pub use job_actor::{JobActor, JobExit};
pub use kinds::KindRegistry;
pub use stats::RuntimeStats;
pub use stop::{StopLevel, StopSignal};
pub use submit::{ResumeMode, SubmitError};
pub use supervisor::Supervisor;

use std::future::Future;
use std::time::Duration;

use crate::error::StoreError;

/// A store call that does not answer within `limit` counts as the store being unavailable:
/// its caller exits and is restarted instead of waiting forever on a hung connection.
pub(crate) async fn within<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(StoreError::Unavailable(
            format!("the store did not answer within {limit:?}").into(),
        ))
    })
}
