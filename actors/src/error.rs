//! The error taxonomy. Adapters classify their failures by type (HTTP status, I/O error kind,
//! database error kind) into these enums once, at their boundary; the runtime decides what to
//! do from the variant alone.

use std::time::Duration;

use crate::model::{BookId, JobId, JobStatus};

crate::named_enum!(
    /// How an item's failure is treated.
    ErrorClass, "error class" {
        /// Try again after a backoff (timeouts, 429, 5xx, a connection reset).
        Retryable = "retryable",
        /// This item cannot succeed (corrupt image, empty OCR); the job goes on.
        Terminal = "terminal",
        /// Nothing in this job can succeed (bad credentials, unknown model); the job fails.
        Fatal = "fatal",
    }
);

/// Why one attempt at one item did not succeed. Item handlers return it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// The provider asked us to slow down. The pool waits (honouring `retry_after`) and runs
    /// the item again without using up an attempt.
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    #[error("{message}")]
    Retryable { code: String, message: String },
    #[error("{message}")]
    Terminal { code: String, message: String },
    #[error("{message}")]
    Fatal { code: String, message: String },
    /// The job stopped taking new work before this attempt called out (a cancel, a fatal
    /// error elsewhere, a drain): not a failure; the item is released, to run on a resume.
    #[error("the job stopped before this item started")]
    Stopped,
    /// The attempt ran past its kind's hard item limit and was abandoned, whatever its
    /// handler was doing. Retryable (`TIMEOUT`).
    #[error("the item ran past its limit of {limit:?} and was abandoned")]
    TimedOut { limit: Duration },
    /// The pool running the attempt lost it without an answer (its task died, its mailbox
    /// was closed). Retryable (`WORKER_LOST`).
    #[error("the worker running this item was lost: {reason}")]
    WorkerLost { reason: String },
}

impl ItemError {
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Retryable {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn terminal(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Terminal {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn fatal(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Fatal {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            Self::RateLimited { .. }
            | Self::Retryable { .. }
            | Self::Stopped
            | Self::TimedOut { .. }
            | Self::WorkerLost { .. } => ErrorClass::Retryable,
            Self::Terminal { .. } => ErrorClass::Terminal,
            Self::Fatal { .. } => ErrorClass::Fatal,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::RateLimited { .. } => "PROVIDER_RATE_LIMITED",
            Self::Stopped => "STOPPED",
            Self::TimedOut { .. } => "TIMEOUT",
            Self::WorkerLost { .. } => "WORKER_LOST",
            Self::Retryable { code, .. }
            | Self::Terminal { code, .. }
            | Self::Fatal { code, .. } => code,
        }
    }
}

/// Why the runtime itself fails a job (as opposed to an item's fatal error). Each failure
/// leaves the job resumable: completed items stay completed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JobFailure {
    /// The job ran past its kind's hard job limit, counted from its `started_at`.
    #[error(
        "the job ran past its limit of {limit:?} since it started; its completed items are kept, resume it to run the rest"
    )]
    TimedOut { limit: Duration },
}

impl JobFailure {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TimedOut { .. } => "JOB_TIMEOUT",
        }
    }

    /// The job's stored error.
    pub fn to_job_error(&self) -> crate::model::JobError {
        crate::model::JobError {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }
}

/// What a [`crate::ports::JobStore`] can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or asked us to try again (I/O, pool exhausted,
    /// serialization failure, SQLite busy). Retryable.
    #[error("the job store is unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The book already has an active job: the JobLock is held.
    #[error("book is busy with job {holder}")]
    BookBusy { holder: JobId },
    /// The lease generation in hand is stale: another holder took the job over.
    #[error("lease of job {job_id} was taken over; generation {generation} is stale")]
    Fenced { job_id: JobId, generation: i64 },
    #[error("job {0} not found")]
    JobNotFound(JobId),
    #[error("book {0} not found")]
    BookNotFound(BookId),
    /// The job is not in a status that allows the move.
    #[error("job {job_id} is {status}")]
    WrongStatus { job_id: JobId, status: JobStatus },
    /// A row the store cannot read back (a bug or a hand-edited database).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Anything else the database reported; not retried.
    #[error("the job store failed: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_variant() {
        assert_eq!(
            ItemError::RateLimited { retry_after: None }.class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            ItemError::retryable("TIMEOUT", "slow").class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            ItemError::terminal("CORRUPT_IMAGE", "bad").class(),
            ErrorClass::Terminal
        );
        assert_eq!(
            ItemError::fatal("BAD_CREDENTIALS", "key").class(),
            ErrorClass::Fatal
        );
        let limit = Duration::from_secs(1);
        let timed_out = ItemError::TimedOut { limit };
        assert_eq!(
            (timed_out.class(), timed_out.code()),
            (ErrorClass::Retryable, "TIMEOUT")
        );
        let lost = ItemError::WorkerLost {
            reason: "gone".into(),
        };
        assert_eq!(
            (lost.class(), lost.code()),
            (ErrorClass::Retryable, "WORKER_LOST")
        );
        assert_eq!(JobFailure::TimedOut { limit }.code(), "JOB_TIMEOUT");
        for &c in ErrorClass::ALL {
            assert_eq!(c.as_str().parse(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }
}
