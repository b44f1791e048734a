//! The actor tree.
//!
//! ```text
//! Supervisor (owns the JobLock; restarts JobActors with a bounded intensity)
//!  ├─ JobActor(job A) ── items ──> RemotePool   [async, concurrency limit, per-provider pause]
//!  │                            └> BlockingPool [threads sized to the cores; kinds registered
//!  │                                             `ItemWork::Blocking`, none in the app today]
//!  ├─ JobActor(job B)
//!  └─ Heartbeat (renews this node's leases; takes over jobs whose lease expired)
//! ```
//!
//! Everything runs inside an actix `System`; [`RuntimeHandle::start`] must be called there.

mod blocking_pool;
mod config;
mod handle;
mod heartbeat;
mod item_stats;
mod job_actor;
mod kinds;
mod outcome;
mod remote_pool;
mod stats;
mod stop;
mod submit;
mod supervisor;
mod work;

pub use blocking_pool::BlockingPool;
pub use config::{KindLimits, Recovery, RuntimeConfig};
pub use handle::RuntimeHandle;
pub use heartbeat::Heartbeat;
pub use item_stats::{AttemptEnd, Histogram, ItemStats, ItemStatsSnapshot, LATENCY_BOUNDS_MS};
pub use job_actor::{JobActor, JobExit};
pub use kinds::KindRegistry;
pub use remote_pool::RemotePool;
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
