//! The actor tree.
//!
//! ```text
//! Supervisor (owns the JobLock; restarts JobActors with a bounded intensity)
//!  ├─ JobActor(job A) ── items ──> BlockingPool [threads sized to the cores]
//!  │                            └> RemotePool   [async, concurrency limit, 429 back-off]
//!  ├─ JobActor(job B)
//!  └─ Heartbeat (renews this node's leases; takes over jobs whose lease expired)
//! ```
//!
//! Everything runs inside an actix `System`; [`RuntimeHandle::start`] must be called there.

mod blocking_pool;
mod config;
mod handle;
mod heartbeat;
mod job_actor;
mod outcome;
mod remote_pool;
mod stop;
mod supervisor;
mod work;

pub use blocking_pool::BlockingPool;
pub use config::{Recovery, RuntimeConfig};
pub use handle::{KindRegistry, ResumeMode, RuntimeHandle, RuntimeStats, SubmitError};
pub use heartbeat::Heartbeat;
pub use job_actor::{JobActor, JobExit};
pub use remote_pool::RemotePool;
pub use supervisor::Supervisor;
