//! One JSON error shape for every failure: `{"error": {"code", "message", "details"}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use quire_actors::StoreError;
use quire_actors::runtime::SubmitError;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

pub use super::code::Code;
use super::schema::ErrorCodeSchema;

/// Every error response: `{"error": {"code", "message", "details"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// A stable code for programs, e.g. `BOOK_NOT_FOUND`; each code has one status.
    #[schema(value_type = ErrorCodeSchema)]
    pub code: Code,
    /// What happened, for people.
    #[schema(value_type = String)]
    pub message: &'a str,
    /// More about the error (e.g. `{"job_id": ...}` of the holder for `BOOK_BUSY`); null when
    /// there is nothing more.
    #[schema(value_type = Value)]
    pub details: &'a Value,
}

/// An error as the API answers it; its status is its code's.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.code.status()).json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                details: &self.details,
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::JobNotFound(id) => {
                ApiError::new(Code::JobNotFound, format!("no job has the id {id}"))
            }
            StoreError::BookNotFound(id) => {
                ApiError::new(Code::BookNotFound, format!("no book has the id {id}"))
            }
            StoreError::BookBusy { holder } => book_busy(holder),
            StoreError::WrongStatus { job_id, status } => ApiError::new(
                Code::JobNotActive,
                format!("job {job_id} is already {status}"),
            )
            .with_details(json!({ "job_id": job_id, "status": status })),
            StoreError::Fenced { job_id, .. } => ApiError::new(
                Code::LeaseLost,
                format!("job {job_id} is now driven by another node; try again"),
            ),
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "store unavailable");
                ApiError::new(
                    Code::StoreUnavailable,
                    "the database is unavailable; try again shortly",
                )
            }
            e @ (StoreError::Corrupt(_) | StoreError::Other(_)) => {
                tracing::error!(error = %e, "store failure");
                ApiError::new(Code::Internal, "the server failed; see its log")
            }
        }
    }
}

/// An object store failure as the API reports it.
pub fn storage(e: crate::objects::ObjectError) -> ApiError {
    if e.is_retryable() {
        tracing::warn!(error = %e, "object store unavailable");
        ApiError::new(
            Code::StorageUnavailable,
            "the object store is unavailable; try again shortly",
        )
    } else {
        tracing::error!(error = %e, "object store failure");
        ApiError::new(
            Code::StorageFailed,
            "the object store failed; see the server log",
        )
    }
}

pub fn book_busy(holder: quire_actors::JobId) -> ApiError {
    ApiError::new(
        Code::BookBusy,
        format!("the book already has an active job ({holder}); wait for it or cancel it"),
    )
    .with_details(json!({ "job_id": holder }))
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::BookBusy { holder } => book_busy(holder),
            SubmitError::UnknownKind(kind) => ApiError::new(
                Code::KindDisabled,
                format!("this server does not run `{kind}` jobs"),
            ),
            SubmitError::NotResumable { job_id, reason } => ApiError::new(
                Code::NotResumable,
                format!("job {job_id} cannot be resumed: {reason}"),
            ),
            SubmitError::NotHeld { job_id } => ApiError::new(
                Code::JobNotHeld,
                format!("job {job_id} is not waiting for its items on this server"),
            ),
            SubmitError::Store(e) => e.into(),
            SubmitError::Stopped => {
                ApiError::new(Code::ShuttingDown, "the server is shutting down")
            }
        }
    }
}

impl From<crate::intake::IntakeError> for ApiError {
    fn from(e: crate::intake::IntakeError) -> Self {
        use crate::intake::held_job::HoldError;
        use crate::intake::{IntakeError as E, Refusal as R};
        match e {
            E::Refused(r) => {
                let details = match &r {
                    R::NoFiles | R::TooManyFiles { .. } => Value::Null,
                    R::PastLastPageNo { page_no } => json!({ "page_no": page_no }),
                    R::PageExists { page_no, .. } => json!({ "page_no": page_no }),
                    R::FileTooLarge { label, index, .. }
                    | R::EmptyFile { label, index }
                    | R::UnsupportedImage { label, index } => {
                        json!({ "file": label, "index": index })
                    }
                };
                ApiError::new(r.code(), r.to_string()).with_details(details)
            }
            E::Ended {
                job_id,
                status,
                ref stored,
            } => {
                let code = if status == quire_actors::JobStatus::Cancelled {
                    Code::UploadCancelled
                } else {
                    Code::UploadEnded
                };
                ApiError::new(code, e.to_string())
                    .with_details(json!({ "job_id": job_id, "status": status, "stored": stored }))
            }
            E::BrokenOff {
                job_id,
                message,
                stored,
            } => ApiError::new(Code::UploadIncomplete, message)
                .with_details(json!({ "job_id": job_id, "stored": stored })),
            E::Hold(HoldError::Submit(e)) | E::Submit(e) => e.into(),
            E::Store(e) => e.into(),
            E::Objects(e) => storage(e),
            e @ (E::Hold(HoldError::NoLease(_)) | E::TaskFailed(_)) => {
                tracing::error!(error = %e, "upload failure");
                ApiError::new(Code::Internal, "the upload failed; see the server log")
            }
        }
    }
}

/// Extractor failures (bad JSON, bad path, bad query) as JSON errors.
pub mod extract {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::{HttpRequest, web};

    use super::{ApiError, Code};

    pub fn json_config() -> web::JsonConfig {
        web::JsonConfig::default()
            .limit(256 * 1024)
            .error_handler(|err, _: &HttpRequest| {
                let e = match &err {
                    JsonPayloadError::ContentType => ApiError::new(
                        Code::UnsupportedMediaType,
                        "send the body as application/json",
                    ),
                    JsonPayloadError::Overflow { .. }
                    | JsonPayloadError::OverflowKnownLength { .. } => {
                        ApiError::new(Code::BodyTooLarge, err.to_string())
                    }
                    _ => ApiError::new(Code::InvalidJson, err.to_string()),
                };
                e.into()
            })
    }

    pub fn path_config() -> web::PathConfig {
        web::PathConfig::default().error_handler(|err: PathError, _| {
            ApiError::new(Code::InvalidPath, err.to_string()).into()
        })
    }

    pub fn query_config() -> web::QueryConfig {
        web::QueryConfig::default().error_handler(|err: QueryPayloadError, _| {
            ApiError::new(Code::InvalidQuery, err.to_string()).into()
        })
    }
}
