//! One JSON error shape for every failure: `{"error": {"code", "message", "details"}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use quire_actors::StoreError;
use quire_actors::runtime::SubmitError;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Every error response: `{"error": {"code", "message", "details"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// A stable code for programs, e.g. `BOOK_NOT_FOUND`.
    #[schema(value_type = String, example = "BOOK_NOT_FOUND")]
    pub code: &'a str,
    /// What happened, for people.
    #[schema(value_type = String)]
    pub message: &'a str,
    /// More about the error (e.g. `{"job_id": ...}` of the holder for `BOOK_BUSY`); null when
    /// there is nothing more.
    #[schema(value_type = Value)]
    pub details: &'a Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
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
        use StatusCode as S;
        match e {
            StoreError::JobNotFound(id) => {
                ApiError::not_found("JOB_NOT_FOUND", format!("no job has the id {id}"))
            }
            StoreError::BookNotFound(id) => {
                ApiError::not_found("BOOK_NOT_FOUND", format!("no book has the id {id}"))
            }
            StoreError::BookBusy { holder } => book_busy(holder),
            StoreError::WrongStatus { job_id, status } => ApiError::new(
                S::CONFLICT,
                "JOB_NOT_ACTIVE",
                format!("job {job_id} is already {status}"),
            )
            .with_details(json!({ "job_id": job_id, "status": status })),
            StoreError::Fenced { job_id, .. } => ApiError::new(
                S::CONFLICT,
                "LEASE_LOST",
                format!("job {job_id} is now driven by another node; try again"),
            ),
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "store unavailable");
                ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "STORE_UNAVAILABLE",
                    "the database is unavailable; try again shortly",
                )
            }
            e @ (StoreError::Corrupt(_) | StoreError::Other(_)) => {
                tracing::error!(error = %e, "store failure");
                ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "the server failed; see its log",
                )
            }
        }
    }
}

/// An object store failure as the API reports it.
pub fn storage(e: crate::objects::ObjectError) -> ApiError {
    if e.is_retryable() {
        tracing::warn!(error = %e, "object store unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "STORAGE_UNAVAILABLE",
            "the object store is unavailable; try again shortly",
        )
    } else {
        tracing::error!(error = %e, "object store failure");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "STORAGE_FAILED",
            "the object store failed; see the server log",
        )
    }
}

pub fn book_busy(holder: quire_actors::JobId) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "BOOK_BUSY",
        format!("the book already has an active job ({holder}); wait for it or cancel it"),
    )
    .with_details(json!({ "job_id": holder }))
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::BookBusy { holder } => book_busy(holder),
            SubmitError::UnknownKind(kind) => ApiError::new(
                StatusCode::NOT_FOUND,
                "KIND_DISABLED",
                format!("this server does not run `{kind}` jobs"),
            ),
            SubmitError::NotResumable { job_id, reason } => ApiError::new(
                StatusCode::CONFLICT,
                "NOT_RESUMABLE",
                format!("job {job_id} cannot be resumed: {reason}"),
            ),
            SubmitError::NotHeld { job_id } => ApiError::new(
                StatusCode::CONFLICT,
                "JOB_NOT_HELD",
                format!("job {job_id} is not waiting for its items on this server"),
            ),
            SubmitError::Store(e) => e.into(),
            SubmitError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SHUTTING_DOWN",
                "the server is shutting down",
            ),
        }
    }
}

impl From<crate::intake::IntakeError> for ApiError {
    fn from(e: crate::intake::IntakeError) -> Self {
        use crate::intake::held_job::HoldError;
        use crate::intake::{IntakeError as E, Refusal as R};
        match e {
            E::Refused(r) => {
                let (status, details) = match &r {
                    R::NoFiles => (StatusCode::BAD_REQUEST, Value::Null),
                    R::TooManyFiles { .. } => (StatusCode::PAYLOAD_TOO_LARGE, Value::Null),
                    R::PageNoOutOfRange => (StatusCode::BAD_REQUEST, Value::Null),
                    R::PageExists { page_no, .. } => {
                        (StatusCode::CONFLICT, json!({ "page_no": page_no }))
                    }
                    R::FileTooLarge { label, index, .. } => (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        json!({ "file": label, "index": index }),
                    ),
                    R::EmptyFile { label, index } => (
                        StatusCode::BAD_REQUEST,
                        json!({ "file": label, "index": index }),
                    ),
                    R::UnsupportedImage { label, index } => (
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        json!({ "file": label, "index": index }),
                    ),
                };
                ApiError::new(status, r.code(), r.to_string()).with_details(details)
            }
            E::Ended {
                job_id,
                status,
                ref stored,
            } => {
                let code = if status == quire_actors::JobStatus::Cancelled {
                    "UPLOAD_CANCELLED"
                } else {
                    "UPLOAD_ENDED"
                };
                ApiError::new(StatusCode::CONFLICT, code, e.to_string())
                    .with_details(json!({ "job_id": job_id, "status": status, "stored": stored }))
            }
            E::BrokenOff {
                job_id,
                message,
                stored,
            } => ApiError::bad_request("UPLOAD_INCOMPLETE", message)
                .with_details(json!({ "job_id": job_id, "stored": stored })),
            E::Hold(HoldError::Submit(e)) | E::Submit(e) => e.into(),
            E::Store(e) => e.into(),
            E::Objects(e) => storage(e),
            e @ (E::Hold(HoldError::NoLease(_)) | E::TaskFailed(_)) => {
                tracing::error!(error = %e, "upload failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "the upload failed; see the server log",
                )
            }
        }
    }
}

/// Extractor failures (bad JSON, bad path, bad query) as JSON errors.
pub mod extract {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::http::StatusCode;
    use actix_web::{HttpRequest, web};

    use super::ApiError;

    pub fn json_config() -> web::JsonConfig {
        web::JsonConfig::default()
            .limit(256 * 1024)
            .error_handler(|err, _: &HttpRequest| {
                let e = match &err {
                    JsonPayloadError::ContentType => ApiError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "UNSUPPORTED_MEDIA_TYPE",
                        "send the body as application/json",
                    ),
                    JsonPayloadError::Overflow { .. }
                    | JsonPayloadError::OverflowKnownLength { .. } => ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "BODY_TOO_LARGE",
                        err.to_string(),
                    ),
                    _ => ApiError::bad_request("INVALID_JSON", err.to_string()),
                };
                e.into()
            })
    }

    pub fn path_config() -> web::PathConfig {
        web::PathConfig::default().error_handler(|err: PathError, _| {
            ApiError::bad_request("INVALID_PATH", err.to_string()).into()
        })
    }

    pub fn query_config() -> web::QueryConfig {
        web::QueryConfig::default().error_handler(|err: QueryPayloadError, _| {
            ApiError::bad_request("INVALID_QUERY", err.to_string()).into()
        })
    }
}
