//! Exports: start an EPUB export; download the latest one.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use quire_actors::model::NewJob;
use quire_actors::{BookId, JobKind};
use serde_json::json;

use super::books::require_book;
use super::error::{ApiError, Code, ErrorBody};
use super::schema::BookPath;
use super::views::JobView;
use super::{ApiState, method_not_allowed};
use crate::objects::ObjectError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/books/{book_id}/exports/epub")
            .route(web::post().to(start))
            .route(web::get().to(download))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Export as EPUB
///
/// EPUB 3: one chapter per topic (its guidelines, then the approved text of its pages), a
/// navigation document, and the book's metadata. Final guidelines if finalized, else the
/// draft.
#[utoipa::path(
    post,
    path = "/api/v1/books/{book_id}/exports/epub",
    tag = "guidelines",
    params(BookPath),
    responses(
        (status = 202, description = "The export job, started.", body = JobView),
        (status = 400, description = "`INVALID_PATH`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`; `KIND_DISABLED`.", body = ErrorBody),
        (status = 409, description = "`BOOK_BUSY`: a job holds the book.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`; `SHUTTING_DOWN`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn start(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
) -> Result<HttpResponse, ApiError> {
    let book = path.into_inner();
    require_book(&state, book).await?;
    let job = state
        .runtime
        .submit(NewJob {
            book_id: book,
            kind: JobKind::ExportEpub,
            params: json!({}),
            items: vec![1],
            resumed_from: None,
            held: false,
        })
        .await?;
    Ok(HttpResponse::Accepted().json(JobView::new(&job, state.now())))
}

/// Download the EPUB
///
/// The latest export, as `application/epub+zip`.
#[utoipa::path(
    get,
    path = "/api/v1/books/{book_id}/exports/epub",
    tag = "guidelines",
    params(BookPath),
    responses(
        (status = 200, description = "The EPUB.", content_type = "application/epub+zip", body = Vec<u8>),
        (status = 400, description = "`INVALID_PATH`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`; `EXPORT_NOT_FOUND`: no export has completed yet.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`; `STORAGE_UNAVAILABLE`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`, `STORAGE_FAILED`: see the server log.", body = ErrorBody),
    )
)]
async fn download(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let book = require_book(&state, id).await?;
    let not_yet = || {
        ApiError::new(
            Code::ExportNotFound,
            "no EPUB export has completed for this book yet",
        )
    };
    let key = crate::export::latest_export(&*state.store, id)
        .await?
        .ok_or_else(not_yet)?;
    let bytes = state.objects.get(&key).await.map_err(|e| match e {
        ObjectError::NotFound(_) => ApiError::new(
            Code::ExportNotFound,
            "no EPUB export has completed for this book yet",
        ),
        e => super::error::storage(e),
    })?;
    // A file name made of the title's letters and digits only.
    let name: String = book
        .title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-');
    let name = if name.is_empty() { "book" } else { name };
    Ok(HttpResponse::Ok()
        .content_type("application/epub+zip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.epub\""),
        ))
        .body(bytes))
}
