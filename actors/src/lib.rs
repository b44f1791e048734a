//! Quire's supervised job runtime.
//!
//! A book job (OCR a hundred pages, extract guidelines, export an EPUB) runs for minutes to
//! hours. This crate makes such a job durable: every item's outcome is persisted before it
//! counts, a job survives the crash of its worker and of its node, and it ends in exactly one
//! terminal state. It knows nothing of HTTP, SQL or OCR; it reaches them through the small
//! traits in [`ports`].
//!
//! # Layout
//!
//! - [`model`]: jobs, items and their state machines (one transition function each), leases
//!   with fencing tokens, progress.
//! - [`error`]: the error taxonomy (retryable, terminal, fatal) and the store's errors.
//! - [`retry`]: backoff with full jitter and the attempt budget.
//! - [`ports`]: what the runtime needs from the outside: a [`ports::JobStore`], item
//!   handlers, a clock.
//! - [`runtime`]: the actor tree: [`runtime::Supervisor`] (owns the JobLock, one
//!   [`runtime::JobActor`] per job, bounded restarts), the worker pools and the
//!   [`runtime::Heartbeat`]; [`runtime::RuntimeHandle`] is the one way in.

pub mod error;
pub mod model;
pub mod ports;
pub mod retry;
pub mod runtime;

pub use error::{ErrorClass, ItemError, JobFailure, StoreError};
pub use model::{BookId, ItemStatus, Job, JobId, JobKind, JobStatus, Lease, NewJob, Progress};
pub use runtime::{RuntimeConfig, RuntimeHandle};
