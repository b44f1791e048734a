//! The job model: identifiers, job and item state machines, leases, progress.

mod ids;
mod item;
mod job;
mod lease;

pub use ids::{BookId, JobId};
pub use item::{ClaimedItem, Item, ItemEvent, ItemOutcome, ItemStatus};
pub use job::{
    IllegalTransition, Job, JobError, JobEvent, JobKind, JobStatus, NewJob, Progress, UnknownName,
};
pub use lease::Lease;
