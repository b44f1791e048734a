use actix_web::{HttpResponse, web};
use quire_actors::model::NewJob;
use quire_actors::ports::JobFilter;
use quire_actors::{BookId, JobKind};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, Code, ErrorBody};
use super::schema::{BookPath, JobKindSchema};
use super::views::{BookList, BookView, JobList, JobView};
use super::{ApiState, method_not_allowed, page_limit};
use crate::objects::ObjectKey;
use crate::pages::PageCounts;
use crate::store::NewBook;
use crate::synthetic::SyntheticParams;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/books")
            .route(web::post().to(create_book))
            .route(web::get().to(list_books))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}")
            .route(web::get().to(show_book))
            .route(web::delete().to(delete_book))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/jobs")
            .route(web::get().to(book_jobs))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/jobs/latest")
            .route(web::get().to(latest_job))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/books/{book_id}/jobs/synthetic")
            .route(web::post().to(start_synthetic))
            .default_service(web::to(method_not_allowed)),
    );
}

/// The book, or the 404 every route answers for an unknown one.
pub(super) async fn require_book(
    state: &ApiState,
    id: BookId,
) -> Result<crate::store::Book, ApiError> {
    state
        .store
        .book(id)
        .await?
        .ok_or_else(|| ApiError::new(Code::BookNotFound, format!("no book has the id {id}")))
}

const MAX_TITLE_CHARS: usize = 500;
const MAX_OWNER_CHARS: usize = 200;

/// A new book.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBook {
    /// 1 to 500 characters, no control characters (trimmed).
    #[schema(
        example = "Fractions, Grade 5",
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    title: String,
    /// At most 200 characters, no control characters.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    owner: Option<String>,
}

/// Create a book
#[utoipa::path(
    post,
    path = "/api/v1/books",
    tag = "books",
    request_body = CreateBook,
    responses(
        (status = 201, description = "The book, without pages or jobs.", body = BookView),
        (status = 400, description = "`INVALID_JSON`: the body is not a `CreateBook`; `INVALID_TITLE`, `INVALID_OWNER`.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE`: the body is over 256 KiB.", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body is not `application/json`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn create_book(
    state: web::Data<ApiState>,
    body: web::Json<CreateBook>,
) -> Result<HttpResponse, ApiError> {
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::new(
            Code::InvalidTitle,
            format!("title must have 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(ApiError::new(
            Code::InvalidTitle,
            "title must not contain control characters",
        ));
    }
    let owner = body
        .owner
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty());
    if let Some(owner) = owner
        && (owner.chars().count() > MAX_OWNER_CHARS || owner.chars().any(char::is_control))
    {
        return Err(ApiError::new(
            Code::InvalidOwner,
            format!(
                "owner must have at most {MAX_OWNER_CHARS} characters and no control characters"
            ),
        ));
    }
    let new = NewBook {
        title: title.to_owned(),
        owner: owner.map(str::to_owned),
    };
    let book = state.store.create_book(&new, state.now()).await?;
    let view = BookView::new(book, PageCounts::default(), None, state.now());
    Ok(HttpResponse::Created().json(view))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// The `next` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<BookId>,
    /// Books per page: 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// List books
///
/// Oldest first, each with its page counts and latest job; page with `after`.
#[utoipa::path(
    get,
    path = "/api/v1/books",
    tag = "books",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of books.", body = BookList),
        (status = 400, description = "`INVALID_QUERY`: an unknown or malformed parameter, or a limit out of range.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn list_books(
    state: web::Data<ApiState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let books = state.store.books(query.after, limit).await?;
    let next = (books.len() as u32 == limit)
        .then(|| books.last().map(|b| b.id))
        .flatten();
    let now = state.now();
    let ids: Vec<BookId> = books.iter().map(|b| b.id).collect();
    let latest = state.store.latest_jobs(&ids).await?;
    let mut pages = state.store.page_counts(&ids).await?;
    let items: Vec<BookView> = books
        .into_iter()
        .map(|book| {
            let job = latest.get(&book.id);
            let counts = pages.remove(&book.id).unwrap_or_default();
            BookView::new(book, counts, job, now)
        })
        .collect();
    Ok(HttpResponse::Ok().json(BookList { items, next }))
}

/// Show a book
///
/// With its page counts and latest job.
#[utoipa::path(
    get,
    path = "/api/v1/books/{book_id}",
    tag = "books",
    params(BookPath),
    responses(
        (status = 200, description = "The book.", body = BookView),
        (status = 400, description = "`INVALID_PATH`: the book id is not a UUID.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn show_book(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let book = require_book(&state, id).await?;
    let latest = state.runtime.store().latest_job(id, None).await?;
    let pages = state
        .store
        .page_counts(&[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    let view = BookView::new(book, pages, latest.as_ref(), state.now());
    Ok(HttpResponse::Ok().json(view))
}

/// Delete a book
///
/// Deletes the book, its pages, jobs and images; refused while a job holds the book.
#[utoipa::path(
    delete,
    path = "/api/v1/books/{book_id}",
    tag = "books",
    params(BookPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "`INVALID_PATH`: the book id is not a UUID.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`.", body = ErrorBody),
        (status = 409, description = "`BOOK_BUSY`: a job holds the book; `details.job_id` names it.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn delete_book(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if !state.store.delete_book(id).await? {
        return Err(ApiError::new(
            Code::BookNotFound,
            format!("no book has the id {id}"),
        ));
    }
    // The rows went first: a failure here leaves unreachable bytes, never a page without
    // its image.
    if let Err(e) = state.objects.delete_prefix(&ObjectKey::book(id)).await {
        tracing::error!(book_id = %id, error = %e, "book deleted, but its objects were not");
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    /// Only jobs of this kind.
    #[param(value_type = Option<JobKindSchema>)]
    kind: Option<JobKind>,
    /// The `next` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    before: Option<quire_actors::JobId>,
    /// Jobs per page: 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The book's job history, newest first
#[utoipa::path(
    get,
    path = "/api/v1/books/{book_id}/jobs",
    tag = "books",
    params(BookPath, HistoryQuery),
    responses(
        (status = 200, description = "A page of the book's jobs.", body = JobList),
        (status = 400, description = "`INVALID_PATH`: the book id is not a UUID; `INVALID_QUERY`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn book_jobs(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    require_book(&state, id).await?;
    let filter = JobFilter {
        book: Some(id),
        kind: query.kind,
        status: None,
    };
    super::jobs::job_page(&state, filter, query.before, query.limit).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LatestQuery {
    /// The latest job of this kind; default: of any kind.
    #[param(value_type = Option<JobKindSchema>)]
    kind: Option<JobKind>,
}

/// The book's latest job
///
/// The job the UI shows on return.
#[utoipa::path(
    get,
    path = "/api/v1/books/{book_id}/jobs/latest",
    tag = "books",
    params(BookPath, LatestQuery),
    responses(
        (status = 200, description = "The newest job (of that kind).", body = JobView),
        (status = 400, description = "`INVALID_PATH`: the book id is not a UUID; `INVALID_QUERY`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`; `JOB_NOT_FOUND`: the book has no job (of that kind) yet.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn latest_job(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
    query: web::Query<LatestQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    require_book(&state, id).await?;
    match state.runtime.store().latest_job(id, query.kind).await? {
        Some(job) => Ok(HttpResponse::Ok().json(JobView::new(&job, state.now()))),
        None => Err(ApiError::new(
            Code::JobNotFound,
            "this book has no job of that kind yet",
        )),
    }
}

/// Most items one synthetic job may have.
const MAX_SYNTHETIC_ITEMS: u32 = 1_000_000;

/// A synthetic job: items that only wait (and fail as scripted).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartSynthetic {
    /// How many items: 1 to 1,000,000.
    #[schema(minimum = 1, maximum = 1_000_000, example = 100)]
    #[serde(deserialize_with = "super::integer::one")]
    items: u32,
    /// Latency and scripted faults, e.g. `{"latency_ms": 20, "fail": {"3": "terminal"}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    params: Value,
}

/// Start a synthetic job
///
/// For load tests and crash drills; only when the server enables them.
#[utoipa::path(
    post,
    path = "/api/v1/books/{book_id}/jobs/synthetic",
    tag = "books",
    params(BookPath),
    request_body = StartSynthetic,
    responses(
        (status = 202, description = "The job, started.", body = JobView),
        (status = 400, description = "`INVALID_PATH`, `INVALID_JSON`, `INVALID_ITEMS`, `INVALID_PARAMS`.", body = ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`; `KIND_DISABLED`: synthetic jobs are off.", body = ErrorBody),
        (status = 409, description = "`BOOK_BUSY`: the book already has an active job; `details.job_id` names it.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE`: the body is over 256 KiB.", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body is not `application/json`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`; `SHUTTING_DOWN`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn start_synthetic(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
    body: web::Json<StartSynthetic>,
) -> Result<HttpResponse, ApiError> {
    if !state.synthetic_enabled {
        return Err(ApiError::new(
            Code::KindDisabled,
            "synthetic jobs are off; set synthetic.enabled (QUIRE_SYNTHETIC_ENABLED=true)",
        ));
    }
    let body = body.into_inner();
    if body.items == 0 || body.items > MAX_SYNTHETIC_ITEMS {
        return Err(ApiError::new(
            Code::InvalidItems,
            format!("items must be between 1 and {MAX_SYNTHETIC_ITEMS}"),
        ));
    }
    let params = if body.params.is_null() {
        json!({})
    } else {
        body.params
    };
    SyntheticParams::from_value(&params).map_err(|m| ApiError::new(Code::InvalidParams, m))?;
    let job = state
        .runtime
        .submit(NewJob {
            book_id: path.into_inner(),
            kind: JobKind::Synthetic,
            params,
            items: (1..=i64::from(body.items)).collect(),
            resumed_from: None,
            held: false,
        })
        .await?;
    Ok(HttpResponse::Accepted().json(JobView::new(&job, state.now())))
}
