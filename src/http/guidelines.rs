//! Guidelines: start, resume or restart extraction; read the draft (JSON or Markdown).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use quire_actors::model::NewJob;
use quire_actors::runtime::ResumeMode;
use quire_actors::{BookId, JobKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::books::require_book;
use super::error::{ApiError, Code, ErrorBody};
use super::schema::BookPath;
use super::views::JobView;
use super::{ApiState, method_not_allowed};
use crate::guidelines::Topic;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/books/{book_id}/guidelines/generate")
            .route(web::post().to(generate))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/guidelines/finalize")
            .route(web::post().to(finalize))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/guidelines")
            .route(web::get().to(show))
            .default_service(web::to(method_not_allowed)),
    );
}

#[derive(Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum GenerateMode {
    /// Every page whose OCR completed, except pages rejected in review.
    #[default]
    Start,
    /// Only the pages the latest extraction did not complete; what it found is kept.
    Resume,
    /// Every eligible page again; the old run stays in the job history.
    Restart,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Generate {
    #[serde(default)]
    mode: GenerateMode,
}

/// Extract guidelines
///
/// Each eligible page is read on its own, concurrently; pages are joined into topics when
/// the guidelines are read.
#[utoipa::path(
    post,
    path = "/api/v1/books/{book_id}/guidelines/generate",
    tag = "guidelines",
    params(BookPath),
    request_body(content = Option<Generate>, content_type = "application/json"),
    responses(
        (status = 202, description = "The extraction job, started.", body = JobView),
        (status = 400, description = "`INVALID_PATH`, `INVALID_JSON`, `INVALID_BODY`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`; `KIND_DISABLED`.", body = ErrorBody),
        (status = 409, description = "`BOOK_BUSY`: a job holds the book; `NO_PAGES_READY`: no page has completed OCR; `NOT_RESUMABLE`; `NOTHING_TO_RESUME`: the book has no extraction to resume.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`; `SHUTTING_DOWN`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn generate(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let book = path.into_inner();
    let body = super::jobs::read_body(payload, 64 * 1024).await?;
    let body: Generate = if body.iter().all(u8::is_ascii_whitespace) {
        Generate::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(Code::InvalidJson, e.to_string()))?
    };
    require_book(&state, book).await?;
    let job = match body.mode {
        GenerateMode::Resume => {
            let latest = state
                .runtime
                .store()
                .latest_job(book, Some(JobKind::Extract))
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        Code::NothingToResume,
                        "this book has no extraction to resume; start one",
                    )
                })?;
            state.runtime.resume(latest.id, ResumeMode::Resume).await?
        }
        GenerateMode::Start | GenerateMode::Restart => {
            let pages = eligible_pages(&state, book).await?;
            if pages.is_empty() {
                return Err(ApiError::new(
                    Code::NoPagesReady,
                    "no page of this book has completed OCR (rejected pages are left out)",
                ));
            }
            state
                .runtime
                .submit(NewJob {
                    book_id: book,
                    kind: JobKind::Extract,
                    params: json!({ "extractor": state.extractor.as_str() }),
                    items: pages,
                    resumed_from: None,
                    held: false,
                })
                .await?
        }
    };
    Ok(HttpResponse::Accepted().json(JobView::new(&job, state.now())))
}

/// Finalize the guidelines
///
/// Merges and deduplicates the draft's topics and subtopics across pages (normalized names
/// and word overlap, pages unioned; names numbered differently never merge), orders them by
/// first page and marks the set final.
#[utoipa::path(
    post,
    path = "/api/v1/books/{book_id}/guidelines/finalize",
    tag = "guidelines",
    params(BookPath),
    responses(
        (status = 202, description = "The finalization job, started.", body = JobView),
        (status = 400, description = "`INVALID_PATH`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`; `KIND_DISABLED`.", body = ErrorBody),
        (status = 409, description = "`BOOK_BUSY`: a job holds the book; `NO_GUIDELINES`: nothing extracted yet.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`; `SHUTTING_DOWN`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn finalize(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
) -> Result<HttpResponse, ApiError> {
    let book = path.into_inner();
    require_book(&state, book).await?;
    if state.store.page_guidelines(book).await?.is_empty() {
        return Err(ApiError::new(
            Code::NoGuidelines,
            "nothing has been extracted yet; generate guidelines first",
        ));
    }
    let job = state
        .runtime
        .submit(NewJob {
            book_id: book,
            kind: JobKind::Finalize,
            params: json!({ "similarity": crate::guidelines::SIMILAR }),
            items: vec![1],
            resumed_from: None,
            held: false,
        })
        .await?;
    Ok(HttpResponse::Accepted().json(JobView::new(&job, state.now())))
}

/// Pages whose OCR completed, except those rejected in review.
async fn eligible_pages(state: &ApiState, book: BookId) -> Result<Vec<i64>, ApiError> {
    Ok(crate::guidelines::pages_to_extract(&*state.store, book).await?)
}

/// The guidelines as extracted so far.
#[derive(Serialize, ToSchema)]
pub struct GuidelinesView {
    pub book_id: uuid::Uuid,
    /// `final` once a finalization completed after the latest extraction, else `draft`.
    pub status: &'static str,
    /// Pages with extraction results.
    pub pages: usize,
    /// Subtopics found so far (in the draft, before finalization merges them).
    pub subtopics: usize,
    #[schema(value_type = Vec<Object>)]
    pub topics: Vec<Topic>,
}

/// The guidelines
///
/// The final set if a finalization completed after the latest extraction; else the draft:
/// each page's newest extraction result, joined in page order into topics and subtopics.
/// `Accept: text/markdown` answers in Markdown.
#[utoipa::path(
    get,
    path = "/api/v1/books/{book_id}/guidelines",
    tag = "guidelines",
    params(BookPath),
    responses(
        (status = 200, description = "The draft guidelines.", content(
            (GuidelinesView = "application/json"),
            (String = "text/markdown"),
        )),
        (status = 400, description = "`INVALID_PATH`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn show(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<BookId>,
) -> Result<HttpResponse, ApiError> {
    let book_id = path.into_inner();
    let book = require_book(&state, book_id).await?;
    let (is_final, pages, topics) = crate::guidelines::current(&*state.store, book_id).await?;
    let status = if is_final { "final" } else { "draft" };
    let wants_markdown = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/markdown"));
    if wants_markdown {
        return Ok(HttpResponse::Ok()
            .content_type("text/markdown; charset=utf-8")
            .body(crate::guidelines::markdown(&book.title, &topics)));
    }
    Ok(HttpResponse::Ok().json(GuidelinesView {
        book_id: book_id.0,
        status,
        pages,
        subtopics: topics.iter().map(|t| t.subtopics.len()).sum(),
        topics,
    }))
}
