//! Pages: upload (one or many), list, show, image, review, and OCR runs.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use quire_actors::model::NewJob;
use quire_actors::{BookId, JobKind};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::books::require_book;
use super::error::{ApiError, Code, ErrorBody};
use super::schema::{BookPath, ImageBytes, OnePageForm, PagePath, UploadForm};
use super::upload;
use super::views::{JobView, PageList, PageView, UploadView};
use super::{ApiState, method_not_allowed, page_limit};
use crate::intake::Numbering;
use crate::pages::{MAX_PAGE_NO, Page, PageKind, ReviewRefusal, ReviewRequest};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/books/{book_id}/pages")
            .route(web::get().to(list_pages))
            .route(web::post().to(upload_one))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/pages/bulk")
            .route(web::post().to(upload_many))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/pages/{page_no}")
            .route(web::get().to(show_page))
            .route(web::delete().to(delete_page))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/pages/{page_no}/image")
            .route(web::get().to(page_image))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/pages/{page_no}/review")
            .route(web::put().to(review_page))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/pages/{page_no}/retry-ocr")
            .route(web::post().to(retry_ocr))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/jobs/ocr")
            .route(web::post().to(start_ocr))
            .default_service(web::to(method_not_allowed)),
    );
}

/// A page number from a path or body: 1 to [`MAX_PAGE_NO`].
pub fn check_page_no(n: i64) -> Result<i64, ApiError> {
    if (1..=MAX_PAGE_NO).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::new(
            Code::InvalidPageNo,
            format!("page numbers run from 1 to {MAX_PAGE_NO}; got {n}"),
        ))
    }
}

/// The page, or the 404 every page route answers for an unknown one.
async fn require_page(state: &ApiState, book: BookId, page_no: i64) -> Result<Page, ApiError> {
    check_page_no(page_no)?;
    require_book(state, book).await?;
    state.store.page(book, page_no).await?.ok_or_else(|| {
        ApiError::new(
            Code::PageNotFound,
            format!("the book has no page {page_no}"),
        )
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ManyQuery {
    /// Number the first file this (and the rest after it); default: after the last page.
    /// With it, a page that exists is refused (`PAGE_EXISTS`), not replaced.
    #[param(minimum = 1, maximum = 100_000)]
    start_at: Option<i64>,
}

/// Upload pages
///
/// Each `files` part becomes a page, numbered in the order sent; an OCR job reads them
/// once the upload ends. A refused upload stores nothing; one that breaks off keeps the
/// files that arrived whole and fails its job, naming them.
#[utoipa::path(
    post,
    path = "/api/v1/books/{book_id}/pages/bulk",
    tag = "pages",
    params(BookPath, ManyQuery),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "The pages stored and the OCR job that reads them.", body = UploadView),
        super::schema::UploadErrors,
    )
)]
async fn upload_many(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<BookId>,
    query: web::Query<ManyQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let numbering = Numbering {
        start_at: query.start_at.map(check_page_no).transpose()?,
        max_files: state.upload.max_files,
    };
    upload::run(
        state.into_inner(),
        &req,
        path.into_inner(),
        numbering,
        payload,
    )
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OneQuery {
    /// The page's number; default: after the last page. With it, a page that exists is
    /// refused (`PAGE_EXISTS`), not replaced.
    #[param(minimum = 1, maximum = 100_000)]
    page_no: Option<i64>,
}

/// Upload one page
///
/// As the bulk upload, with exactly one `files` part.
#[utoipa::path(
    post,
    path = "/api/v1/books/{book_id}/pages",
    tag = "pages",
    params(BookPath, OneQuery),
    request_body(content = OnePageForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "The page stored and the OCR job that reads it.", body = UploadView),
        super::schema::UploadErrors,
    )
)]
async fn upload_one(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<BookId>,
    query: web::Query<OneQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let numbering = Numbering {
        start_at: query.page_no.map(check_page_no).transpose()?,
        max_files: 1,
    };
    upload::run(
        state.into_inner(),
        &req,
        path.into_inner(),
        numbering,
        payload,
    )
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// The `next` of the previous page.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Pages per page: 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// List a book's pages
///
/// In page order, with their OCR and review states (not their text), and the book's counts.
#[utoipa::path(
    get,
    path = "/api/v1/books/{book_id}/pages",
    tag = "pages",
    params(BookPath, ListQuery),
    responses(
        (status = 200, description = "A page of pages.", body = PageList),
        (status = 400, description = "`INVALID_PATH`: the book id is not a UUID; `INVALID_QUERY`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn list_pages(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let book = path.into_inner();
    let limit = page_limit(query.limit)?;
    if query.after.is_some_and(|a| a < 0) {
        return Err(ApiError::new(
            Code::InvalidQuery,
            "after must not be negative",
        ));
    }
    require_book(&state, book).await?;
    let pages = state.store.pages(book, query.after, limit).await?;
    let next = (pages.len() as u32 == limit)
        .then(|| pages.last().map(|p| p.page_no))
        .flatten();
    let counts = state
        .store
        .page_counts(&[book])
        .await?
        .remove(&book)
        .unwrap_or_default();
    let items: Vec<PageView> = pages.iter().map(|p| PageView::new(p, false)).collect();
    Ok(HttpResponse::Ok().json(PageList {
        items,
        counts,
        next,
    }))
}

/// Show a page
///
/// With its text: the reviewer's edit, else what OCR read.
#[utoipa::path(
    get,
    path = "/api/v1/books/{book_id}/pages/{page_no}",
    tag = "pages",
    params(PagePath),
    responses(
        (status = 200, description = "The page, with `text` and `ocr_text`.", body = PageView),
        (status = 400, description = "`INVALID_PATH`: a malformed id or number; `INVALID_PAGE_NO`: out of range.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`, `PAGE_NOT_FOUND`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn show_page(
    state: web::Data<ApiState>,
    path: web::Path<(BookId, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (book, page_no) = path.into_inner();
    let page = require_page(&state, book, page_no).await?;
    Ok(HttpResponse::Ok().json(PageView::new(&page, true)))
}

/// Delete a page
///
/// Its row and its images; its OCR and extraction runs stay in their jobs' history. A
/// page is replaced by deleting it and uploading the new scan under its number.
#[utoipa::path(
    delete,
    path = "/api/v1/books/{book_id}/pages/{page_no}",
    tag = "pages",
    params(PagePath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "`INVALID_PATH`: a malformed id or number; `INVALID_PAGE_NO`: out of range.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`, `PAGE_NOT_FOUND`.", body = ErrorBody),
        (status = 409, description = "`BOOK_BUSY`: a job holds the book; `details.job_id` names it.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn delete_page(
    state: web::Data<ApiState>,
    path: web::Path<(BookId, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (book, page_no) = path.into_inner();
    require_page(&state, book, page_no).await?;
    let Some(images) = state.store.delete_page(book, page_no).await? else {
        return Err(ApiError::new(
            Code::PageNotFound,
            format!("the book has no page {page_no}"),
        ));
    };
    // The row went first, and named its own images: an upload under this number since has
    // images of its own, which this never touches. A failure here leaves unreachable bytes.
    if let Err(e) = images.delete(state.objects.as_ref()).await {
        tracing::error!(book_id = %book, page_no, error = %e, "page deleted, but not its images");
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImageQuery {
    /// `source` (default): as uploaded; `ocr`: the upright grayscale PNG OCR read (once OCR
    /// has run).
    #[param(inline)]
    variant: Option<ImageVariant>,
}

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ImageVariant {
    /// As uploaded.
    Source,
    /// Upright grayscale PNG, as OCR read it (once OCR has run).
    Ocr,
}

/// A page's image
#[utoipa::path(
    get,
    path = "/api/v1/books/{book_id}/pages/{page_no}/image",
    tag = "pages",
    params(PagePath, ImageQuery),
    responses(
        (status = 200, description = "The image bytes: the source in its own type (a page of a PDF rendered as PNG at 100 dpi), the `ocr` variant as PNG.", content(
            (inline(ImageBytes) = "image/png"),
            (inline(ImageBytes) = "image/jpeg"),
            (inline(ImageBytes) = "image/tiff"),
            (inline(ImageBytes) = "image/webp"),
        )),
        (status = 400, description = "`INVALID_PATH`, `INVALID_PAGE_NO`, `INVALID_QUERY`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`, `PAGE_NOT_FOUND`; `IMAGE_NOT_FOUND`: that variant does not exist (yet).", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`, `STORAGE_UNAVAILABLE`: try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`, `STORAGE_FAILED`: see the server log.", body = ErrorBody),
    )
)]
async fn page_image(
    state: web::Data<ApiState>,
    path: web::Path<(BookId, i64)>,
    query: web::Query<ImageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (book, page_no) = path.into_inner();
    let page = require_page(&state, book, page_no).await?;
    let images = page.images();
    let variant = query.variant.unwrap_or(ImageVariant::Source);
    let (key, mime) = match (variant, page.kind) {
        (ImageVariant::Source, PageKind::Pdf { import, page: n }) => {
            let preview = state
                .intake
                .pdf
                .render(book, import, n, Some(crate::pdf::pages::PREVIEW_DPI))
                .await
                .map_err(ApiError::from)?;
            return Ok(HttpResponse::Ok()
                .content_type("image/png")
                .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .insert_header((header::CACHE_CONTROL, "private, max-age=60"))
                .body(preview.png));
        }
        (ImageVariant::Source, PageKind::Image(kind)) => (images.source(), kind.mime()),
        (ImageVariant::Ocr, _) => (page.ocr_image(), "image/png"),
    };
    let bytes = state.objects.get(&key).await.map_err(|e| match e {
        crate::objects::ObjectError::NotFound(_) => ApiError::new(
            Code::ImageNotFound,
            "that image of the page does not exist (yet)",
        ),
        e => super::error::storage(e),
    })?;
    Ok(HttpResponse::Ok()
        .content_type(mime)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=60"))
        .body(bytes))
}

/// A review of a page's current OCR text, by its `action`.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum ReviewBody {
    /// The OCR text is right (needs completed OCR).
    Approve {},
    /// The page is unusable (a bad scan); later steps skip it.
    Reject {},
    /// The text is `text`.
    Edit {
        /// The corrected text: 1 to 200,000 characters, not only spaces.
        #[schema(min_length = 1, max_length = 200_000, pattern = "\\S")]
        text: String,
    },
    /// Forget the review.
    Clear {},
}

impl From<ReviewBody> for ReviewRequest {
    fn from(body: ReviewBody) -> Self {
        match body {
            ReviewBody::Approve {} => Self::Approve,
            ReviewBody::Reject {} => Self::Reject,
            ReviewBody::Edit { text } => Self::Edit(text),
            ReviewBody::Clear {} => Self::Clear,
        }
    }
}

/// Review a page
///
/// A newer OCR run resets the review.
#[utoipa::path(
    put,
    path = "/api/v1/books/{book_id}/pages/{page_no}/review",
    tag = "pages",
    params(PagePath),
    request_body = ReviewBody,
    responses(
        (status = 200, description = "The page, reviewed.", body = PageView),
        (status = 400, description = "`INVALID_PATH`, `INVALID_PAGE_NO`, `INVALID_JSON`; `INVALID_JSON`: not a `ReviewBody` (an edit without text, a text without an edit); `INVALID_TEXT`: a text too long, or only spaces.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`, `PAGE_NOT_FOUND`.", body = ErrorBody),
        (status = 409, description = "`OCR_NOT_COMPLETED`: only a page whose OCR completed can be approved.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE`: the body is over 256 KiB.", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body is not `application/json`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn review_page(
    state: web::Data<ApiState>,
    path: web::Path<(BookId, i64)>,
    body: web::Json<ReviewBody>,
) -> Result<HttpResponse, ApiError> {
    let (book, page_no) = path.into_inner();
    let page = require_page(&state, book, page_no).await?;
    let review = page
        .review_with(body.into_inner().into(), state.now())
        .map_err(|refusal| match refusal {
            ReviewRefusal::InvalidText => ApiError::new(Code::InvalidText, refusal.to_string()),
            ReviewRefusal::OcrNotCompleted => {
                ApiError::new(Code::OcrNotCompleted, refusal.to_string())
            }
        })?;
    let page = state
        .store
        .review_page(book, page_no, &review)
        .await?
        .ok_or_else(|| ApiError::new(Code::PageNotFound, "the page was deleted"))?;
    Ok(HttpResponse::Ok().json(PageView::new(&page, true)))
}

/// OCR a page again
///
/// A new OCR job for this page alone.
#[utoipa::path(
    post,
    path = "/api/v1/books/{book_id}/pages/{page_no}/retry-ocr",
    tag = "pages",
    params(PagePath),
    responses(
        (status = 202, description = "The OCR job, started.", body = JobView),
        (status = 400, description = "`INVALID_PATH`, `INVALID_PAGE_NO`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`, `PAGE_NOT_FOUND`; `KIND_DISABLED`: this server does not run OCR.", body = ErrorBody),
        (status = 409, description = "`BOOK_BUSY`: a job holds the book; `details.job_id` names it.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`; `SHUTTING_DOWN`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn retry_ocr(
    state: web::Data<ApiState>,
    path: web::Path<(BookId, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (book, page_no) = path.into_inner();
    require_page(&state, book, page_no).await?;
    submit_ocr(&state, book, vec![page_no], "retry").await
}

/// Which pages to OCR.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartOcr {
    /// These pages (each from 1 to 100,000; repeats count once); default: every page whose
    /// OCR has not completed.
    #[schema(example = json!([1, 2, 3]), min_items = 1, value_type = Option<Vec<super::schema::PageNo>>)]
    #[serde(default, deserialize_with = "super::integer::some_list")]
    pages: Option<Vec<i64>>,
}

/// The most a `StartOcr` body may weigh.
const OCR_BODY: usize = 256 * 1024;

/// Start an OCR job
///
/// For the pages named (each from 1 to 100,000; repeats count once), or (with no body)
/// every page whose OCR has not completed.
#[utoipa::path(
    post,
    path = "/api/v1/books/{book_id}/jobs/ocr",
    tag = "pages",
    params(BookPath),
    request_body(content = Option<StartOcr>, content_type = "application/json"),
    responses(
        (status = 202, description = "The OCR job, started.", body = JobView),
        (status = 400, description = "`INVALID_PATH`, `INVALID_JSON`, `INVALID_BODY`, `INVALID_PAGES`, `INVALID_PAGE_NO`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`; `PAGE_NOT_FOUND`: a named page does not exist (`details.page_no`, the lowest); `KIND_DISABLED`: this server does not run OCR.", body = ErrorBody),
        (status = 409, description = "`NOTHING_TO_OCR`: every page completed OCR; `BOOK_BUSY`: a job holds the book.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE`: the body is over 256 KiB.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`; `SHUTTING_DOWN`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn start_ocr(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let book = path.into_inner();
    // Read here (not by an extractor) so that too large a body is a JSON error too.
    let body = super::jobs::read_body(payload, OCR_BODY).await?;
    // The body is optional, so it is parsed here: an empty one means every page not done.
    let body: StartOcr = if body.iter().all(u8::is_ascii_whitespace) {
        StartOcr::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(Code::InvalidJson, e.to_string()))?
    };
    require_book(&state, book).await?;
    let pages = crate::pages::pages_to_ocr(&*state.store, book, body.pages)
        .await
        .map_err(|e| {
            use crate::pages::PagesToOcrError as E;
            let message = e.to_string();
            match e {
                E::Empty => ApiError::new(Code::InvalidPages, message),
                E::OutOfRange(_) => ApiError::new(Code::InvalidPageNo, message),
                E::Missing(n) => {
                    ApiError::new(Code::PageNotFound, message).with_details(json!({ "page_no": n }))
                }
                E::NothingToOcr => ApiError::new(Code::NothingToOcr, message),
                E::Store(e) => ApiError::from(e),
            }
        })?;
    submit_ocr(&state, book, pages, "manual").await
}

async fn submit_ocr(
    state: &ApiState,
    book: BookId,
    pages: Vec<i64>,
    trigger: &str,
) -> Result<HttpResponse, ApiError> {
    let mut items = pages;
    items.sort_unstable();
    items.dedup();
    let job = state
        .runtime
        .submit(NewJob {
            book_id: book,
            kind: JobKind::Ocr,
            params: json!({ "trigger": trigger }),
            items,
            resumed_from: None,
            held: false,
        })
        .await?;
    Ok(HttpResponse::Accepted().json(JobView::new(&job, state.now())))
}
