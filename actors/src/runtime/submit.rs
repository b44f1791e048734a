//! What a caller asks of the runtime when it submits or resumes a job, and why it may be
//! refused.

use crate::error::StoreError;
use crate::model::{JobId, JobKind};

/// Why a job could not be submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The JobLock is held: the API answers 409 naming the holder.
    #[error("the book already has an active job ({holder})")]
    BookBusy { holder: JobId },
    #[error("this node runs no `{0}` jobs")]
    UnknownKind(JobKind),
    /// Resume asked of a job that is still active or has nothing left to do.
    #[error("job {job_id} cannot be resumed: {reason}")]
    NotResumable { job_id: JobId, reason: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the runtime is shutting down")]
    Stopped,
    /// Release or abort asked of a job this node does not hold for an upload.
    #[error("job {job_id} is not held by this node")]
    NotHeld { job_id: JobId },
}

/// How a new job relates to an old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeMode {
    /// Only the items the old job did not complete.
    Resume,
    /// Every item again.
    Restart,
}
