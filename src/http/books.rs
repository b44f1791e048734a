use actix_web::{HttpResponse, web};
use quire_actors::model::NewJob;
use quire_actors::ports::JobFilter;
use quire_actors::{BookId, JobKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::views::{BookView, JobView};
use super::{ApiState, method_not_allowed, page_limit};
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
async fn require_book(state: &ApiState, id: BookId) -> Result<crate::store::Book, ApiError> {
    state
        .store
        .book(id)
        .await?
        .ok_or_else(|| ApiError::not_found("BOOK_NOT_FOUND", format!("no book has the id {id}")))
}

const MAX_TITLE_CHARS: usize = 500;
const MAX_OWNER_CHARS: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBook {
    title: String,
    #[serde(default)]
    owner: Option<String>,
}

async fn create_book(
    state: web::Data<ApiState>,
    body: web::Json<CreateBook>,
) -> Result<HttpResponse, ApiError> {
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::bad_request(
            "INVALID_TITLE",
            format!("title must have 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "INVALID_TITLE",
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
        return Err(ApiError::bad_request(
            "INVALID_OWNER",
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
    Ok(HttpResponse::Created().json(BookView::new(book, None, state.now())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    after: Option<BookId>,
    limit: Option<u32>,
}

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
    let items: Vec<BookView> = books
        .into_iter()
        .map(|book| {
            let job = latest.get(&book.id);
            BookView::new(book, job, now)
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next": next })))
}

async fn show_book(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let book = require_book(&state, id).await?;
    let latest = state.runtime.store().latest_job(id, None).await?;
    Ok(HttpResponse::Ok().json(BookView::new(book, latest.as_ref(), state.now())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    kind: Option<JobKind>,
    before: Option<quire_actors::JobId>,
    limit: Option<u32>,
}

/// The book's job history, newest first.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatestQuery {
    kind: Option<JobKind>,
}

async fn latest_job(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
    query: web::Query<LatestQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    require_book(&state, id).await?;
    match state.runtime.store().latest_job(id, query.kind).await? {
        Some(job) => Ok(HttpResponse::Ok().json(JobView::new(&job, state.now()))),
        None => Err(ApiError::not_found(
            "JOB_NOT_FOUND",
            "this book has no job of that kind yet",
        )),
    }
}

/// Most items one synthetic job may have.
const MAX_SYNTHETIC_ITEMS: u32 = 1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartSynthetic {
    items: u32,
    #[serde(default)]
    params: Value,
}

async fn start_synthetic(
    state: web::Data<ApiState>,
    path: web::Path<BookId>,
    body: web::Json<StartSynthetic>,
) -> Result<HttpResponse, ApiError> {
    if !state.synthetic_enabled {
        return Err(ApiError::not_found(
            "KIND_DISABLED",
            "synthetic jobs are off; set synthetic.enabled (QUIRE_SYNTHETIC_ENABLED=true)",
        ));
    }
    let body = body.into_inner();
    if body.items == 0 || body.items > MAX_SYNTHETIC_ITEMS {
        return Err(ApiError::bad_request(
            "INVALID_ITEMS",
            format!("items must be between 1 and {MAX_SYNTHETIC_ITEMS}"),
        ));
    }
    let params = if body.params.is_null() {
        json!({})
    } else {
        body.params
    };
    SyntheticParams::from_value(&params).map_err(|m| ApiError::bad_request("INVALID_PARAMS", m))?;
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
