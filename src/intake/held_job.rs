//! [`HeldJob`]: a job holding a book's JobLock while its items arrive, ended on every path.

use quire_actors::model::{JobError, Lease};
use quire_actors::runtime::SubmitError;
use quire_actors::{BookId, Job, JobKind, RuntimeHandle};

/// The code a held job fails with when its holder stopped without ending it.
pub const INTERRUPTED: &str = "UPLOAD_INTERRUPTED";

/// A held job (see [`RuntimeHandle::hold`]). It is ended by [`Self::release`] or
/// [`Self::abort`]; dropped without either (a panic in the upload task, an early `?`), it
/// fails the job `UPLOAD_INTERRUPTED` in a task of its own, so the book never stays busy
/// until a restart. The pages it stored stay with their items, for a resume.
pub struct HeldJob {
    runtime: RuntimeHandle,
    job: Job,
    lease: Lease,
    /// Set once the job was released or aborted (or found ended): `Drop` has nothing to do.
    ended: bool,
}

/// Why a held job could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// The runtime returned a held job without a lease; it was failed at once.
    #[error("the runtime returned held job {0} without a lease")]
    NoLease(quire_actors::JobId),
}

impl HeldJob {
    /// Takes `book`'s JobLock for a job of `kind` whose items will arrive.
    pub async fn hold(
        runtime: &RuntimeHandle,
        book: BookId,
        kind: JobKind,
        params: serde_json::Value,
    ) -> Result<HeldJob, HoldError> {
        let job = runtime.hold(book, kind, params).await?;
        let Some(lease) = job.lease() else {
            let error = JobError {
                code: INTERRUPTED.to_owned(),
                message: "the held job came without a lease".to_owned(),
            };
            if let Err(e) = runtime.abort_held(job.id, error).await {
                tracing::error!(job_id = %job.id, error = %e, "cannot end a held job without a lease");
            }
            return Err(HoldError::NoLease(job.id));
        };
        Ok(HeldJob {
            runtime: runtime.clone(),
            job,
            lease,
            ended: false,
        })
    }

    /// The job as it was when taken.
    pub fn job(&self) -> &Job {
        &self.job
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Starts the job with the items it was given. If the release fails, the job is failed
    /// (`UPLOAD_FAILED`) rather than left holding the book.
    pub async fn release(mut self) -> Result<Job, SubmitError> {
        self.ended = true;
        match self.runtime.release(self.job.id, Vec::new()).await {
            Ok(job) => Ok(job),
            Err(e) => {
                let error = JobError {
                    code: "UPLOAD_FAILED".to_owned(),
                    message: format!(
                        "the upload's job could not start: {e}; resume it to OCR the pages stored"
                    ),
                };
                if let Err(err) = self.runtime.abort_held(self.job.id, error).await {
                    tracing::warn!(job_id = %self.job.id, error = %err, "a held job that failed to start could not be failed");
                }
                Err(e)
            }
        }
    }

    /// Fails the job with `error`, releasing the JobLock; the items it has stay with it.
    pub async fn abort(mut self, error: JobError) -> Result<Job, SubmitError> {
        self.ended = true;
        self.runtime.abort_held(self.job.id, error).await
    }

    /// The job ended without this holder (cancelled, taken over): only the runtime's record
    /// of the hold is dropped (an abort the store refuses).
    pub async fn ended_elsewhere(mut self) {
        self.ended = true;
        let error = JobError {
            code: INTERRUPTED.to_owned(),
            message: "the job ended while its upload arrived".to_owned(),
        };
        let _ = self.runtime.abort_held(self.job.id, error).await;
    }
}

impl Drop for HeldJob {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let (runtime, id) = (self.runtime.clone(), self.job.id);
        tracing::warn!(job_id = %id, "a held job was dropped before it ended; failing it");
        let end = async move {
            let error = JobError {
                code: INTERRUPTED.to_owned(),
                message: "the upload stopped before it ended (see the server log); resume this job to OCR the pages stored, or upload again".to_owned(),
            };
            if let Err(e) = runtime.abort_held(id, error).await {
                tracing::error!(job_id = %id, error = %e, "cannot end a dropped held job");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(end);
            }
            Err(_) => {
                tracing::error!(job_id = %id, "a held job was dropped outside a runtime; it fails when its lease is taken over");
            }
        }
    }
}
