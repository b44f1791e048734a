//! The REST API (actix-web). Handlers reach the runtime only through its
//! [`RuntimeHandle`]; they know nothing of actors.

mod books;
pub mod code;
pub mod error;
mod exports;
mod guidelines;
mod health;
mod integer;
mod jobs;
mod metrics;
pub mod openapi;
mod pages;
mod pdf;
pub mod schema;
mod ui;
mod upload;
pub mod views;

use std::sync::Arc;

use actix_web::web;
use quire_actors::RuntimeHandle;
use quire_actors::ports::Clock;

use crate::store::Store;
use error::{ApiError, Code};

/// What every handler may use. Built once, shared by all workers.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub objects: Arc<dyn crate::objects::ObjectStore>,
    pub runtime: RuntimeHandle,
    pub clock: Arc<dyn Clock>,
    /// Uploads: the intake path shared with `quire ingest`.
    pub intake: Arc<crate::intake::Intake>,
    /// Whether `synthetic` jobs may be submitted.
    pub synthetic_enabled: bool,
    /// Which extractor this node's extraction jobs use (`guidelines.extractor`).
    pub extractor: crate::config::ExtractorName,
    pub upload: crate::config::UploadSettings,
    pub uploads: Arc<UploadStats>,
    /// Turns true when the node stops: event streams end instead of holding the stop up.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

/// Upload counters for `/metrics`.
#[derive(Debug, Default)]
pub struct UploadStats {
    pub bytes: std::sync::atomic::AtomicU64,
    pub files: std::sync::atomic::AtomicU64,
    /// Uploads refused whole (a bad file, too many files).
    pub rejected: std::sync::atomic::AtomicU64,
}

impl ApiState {
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// Registers every route; used by the server and by tests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(error::extract::json_config())
        .app_data(error::extract::path_config())
        .app_data(error::extract::query_config())
        .configure(health::configure)
        .configure(metrics::configure)
        .configure(ui::configure)
        .configure(openapi::configure)
        .service(
            web::scope("/api/v1")
                .configure(books::configure)
                .configure(pages::configure)
                .configure(pdf::configure)
                .configure(guidelines::configure)
                .configure(exports::configure)
                .configure(jobs::configure),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(Code::NotFound, "no such route"))
}

/// The fallback of every resource: a known path asked with a method it does not take. The
/// answer's `Allow` (RFC 9110) lists what the OpenAPI document says the path takes.
pub(crate) async fn method_not_allowed(
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, ApiError> {
    let error = ApiError::new(
        Code::MethodNotAllowed,
        "this route does not take that method",
    );
    let mut response = actix_web::ResponseError::error_response(&error);
    if let Some(allow) = openapi::allowed_methods(req.path())
        .and_then(|m| actix_web::http::header::HeaderValue::from_str(&m).ok())
    {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, allow);
    }
    Ok(response)
}

/// Page sizes: a default and a ceiling, the same for every list.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(ApiError::new(
            Code::InvalidQuery,
            "limit must be at least 1",
        )),
        n if n > MAX_LIMIT => Err(ApiError::new(
            Code::InvalidQuery,
            format!("limit must be at most {MAX_LIMIT}"),
        )),
        n => Ok(n),
    }
}
