use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream;
use quire_actors::ports::JobFilter;
use quire_actors::runtime::ResumeMode;
use quire_actors::{BookId, ItemStatus, Job, JobId, JobKind, JobStatus};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, Code, ErrorBody};
use super::schema::{ItemStatusSchema, JobKindSchema, JobPath, JobStatusSchema};
use super::views::{ItemPage, ItemView, JobList, JobView};
use super::{ApiState, method_not_allowed, page_limit};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/jobs")
            .route(web::get().to(list_jobs))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/jobs/{job_id}")
            .route(web::get().to(show_job))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/jobs/{job_id}/cancel")
            .route(web::post().to(cancel_job))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/jobs/{job_id}/items")
            .route(web::get().to(list_items))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/jobs/{job_id}/items/retry")
            .route(web::post().to(retry_items))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/jobs/{job_id}/resume")
            .route(web::post().to(resume_job))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/jobs/{job_id}/events")
            .route(web::get().to(job_events))
            .default_service(web::to(method_not_allowed)),
    );
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct JobsQuery {
    /// Only this book's jobs.
    #[param(value_type = Option<uuid::Uuid>)]
    book_id: Option<BookId>,
    /// Only jobs of this kind.
    #[param(value_type = Option<JobKindSchema>)]
    kind: Option<JobKind>,
    /// Only jobs with this status.
    #[param(value_type = Option<JobStatusSchema>)]
    status: Option<JobStatus>,
    /// The `next` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    before: Option<JobId>,
    /// Jobs per page: 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// List jobs
///
/// Jobs newest first, like a task list: filter by book, kind and status; page with `before`.
#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    tag = "jobs",
    params(JobsQuery),
    responses(
        (status = 200, description = "A page of jobs.", body = JobList),
        (status = 400, description = "`INVALID_QUERY`: an unknown or malformed parameter, or a limit out of range.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn list_jobs(
    state: web::Data<ApiState>,
    query: web::Query<JobsQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = JobFilter {
        book: query.book_id,
        kind: query.kind,
        status: query.status,
    };
    job_page(&state, filter, query.before, query.limit).await
}

/// One page of jobs with the cursor of the next.
pub(super) async fn job_page(
    state: &ApiState,
    filter: JobFilter,
    before: Option<JobId>,
    limit: Option<u32>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(limit)?;
    let jobs = state.runtime.store().jobs(&filter, before, limit).await?;
    let next = (jobs.len() as u32 == limit)
        .then(|| jobs.last().map(|j| j.id))
        .flatten();
    let now = state.now();
    let items: Vec<JobView> = jobs.iter().map(|j| JobView::new(j, now)).collect();
    Ok(HttpResponse::Ok().json(JobList { items, next }))
}

/// Show a job
///
/// Status, progress, error, timings.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{job_id}",
    tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job.", body = JobView),
        (status = 400, description = "`INVALID_PATH`: the job id is not a UUID.", body = ErrorBody),
        (status = 404, description = "`JOB_NOT_FOUND`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn show_job(
    state: web::Data<ApiState>,
    path: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let job = state.runtime.status(path.into_inner()).await?;
    let mut view = JobView::new(&job, state.now());
    if let Some((import, report)) = crate::pdf::report::of_job(state.store.as_ref(), &job).await? {
        view.import = Some(super::views::ImportView::new(&import, report));
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Cancel a job
///
/// A pending job ends at once; a running one stops starting items, lets in-flight
/// items finish within the grace period, then ends cancelled. The job stays listed: a
/// cancel ends it, it does not delete it.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{job_id}/cancel",
    tag = "jobs",
    params(JobPath),
    responses(
        (status = 202, description = "The job, `cancelling` (or `cancelled` if it had not started).", body = JobView),
        (status = 400, description = "`INVALID_PATH`: the job id is not a UUID.", body = ErrorBody),
        (status = 404, description = "`JOB_NOT_FOUND`.", body = ErrorBody),
        (status = 409, description = "`JOB_NOT_ACTIVE`: the job already ended; `details.status` says how.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn cancel_job(
    state: web::Data<ApiState>,
    path: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let job = state.runtime.cancel(path.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(JobView::new(&job, state.now())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ItemsQuery {
    /// Only items with this status.
    #[param(value_type = Option<ItemStatusSchema>)]
    status: Option<ItemStatus>,
    /// The `next` of the previous page.
    after: Option<i64>,
    /// Items per page: 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// List a job's items
///
/// Per-item status, attempts, errors and results in item order, with counts by status.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{job_id}/items",
    tag = "jobs",
    params(JobPath, ItemsQuery),
    responses(
        (status = 200, description = "A page of items.", body = ItemPage),
        (status = 400, description = "`INVALID_PATH`: the job id is not a UUID; `INVALID_QUERY`.", body = ErrorBody),
        (status = 404, description = "`JOB_NOT_FOUND`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn list_items(
    state: web::Data<ApiState>,
    path: web::Path<JobId>,
    query: web::Query<ItemsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let limit = page_limit(query.limit)?;
    let store = state.runtime.store();
    store.job(id).await?;
    let items = store.items(id, query.status, query.after, limit).await?;
    let counts = store.item_counts(id).await?;
    let next = (items.len() as u32 == limit)
        .then(|| items.last().map(|i| i.item_no))
        .flatten();
    let items = items.into_iter().map(ItemView::from).collect();
    Ok(HttpResponse::Ok().json(ItemPage {
        items,
        counts,
        next,
    }))
}

/// How to resume a job.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResumeBody {
    #[serde(default)]
    mode: Mode,
}

/// `resume` runs only the items that did not complete; `restart` runs every item again
/// (the old job stays in history).
#[derive(Deserialize, Default, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// Only the items that did not complete.
    #[default]
    Resume,
    /// Every item again (the old job stays in history).
    Restart,
}

/// Resume or restart a job
///
/// Starts a new job, linked to this one, for its items that did not complete (or all of
/// them). The body is optional (`resume` by default), but a body that is there must be valid.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{job_id}/resume",
    tag = "jobs",
    params(JobPath),
    request_body(content = Option<ResumeBody>, content_type = "application/json"),
    responses(
        (status = 202, description = "The new job.", body = JobView),
        (status = 400, description = "`INVALID_PATH`: the job id is not a UUID; `INVALID_JSON`; `INVALID_BODY`.", body = ErrorBody),
        (status = 404, description = "`JOB_NOT_FOUND`; `KIND_DISABLED`: this server does not run that kind.", body = ErrorBody),
        (status = 409, description = "`NOT_RESUMABLE`: the job is active or has nothing to resume; `BOOK_BUSY`: another job holds the book.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE`: the body is over 64 KiB.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`; `SHUTTING_DOWN`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn resume_job(
    state: web::Data<ApiState>,
    path: web::Path<JobId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, SMALL_BODY).await?;
    let body: ResumeBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResumeBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(Code::InvalidJson, e.to_string()))?
    };
    let mode = match body.mode {
        Mode::Resume => ResumeMode::Resume,
        Mode::Restart => ResumeMode::Restart,
    };
    let job = state.runtime.resume(path.into_inner(), mode).await?;
    Ok(HttpResponse::Accepted().json(JobView::new(&job, state.now())))
}

/// The highest item number of any kind (a synthetic job's millionth item; pages end at
/// 100000).
const MAX_ITEM_NO: i64 = 1_000_000;

/// An item's number (a page's, for pages): 1 to [`MAX_ITEM_NO`].
struct ItemNo;

impl utoipa::PartialSchema for ItemNo {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_ITEM_NO))
            .into()
    }
}

impl ToSchema for ItemNo {}

/// The most items one retry may name.
const MAX_RETRY_ITEMS: usize = 10_000;

/// Which failed items to run again.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct RetryBody {
    /// The items (page numbers) to retry; left out: every failed item.
    #[serde(default, deserialize_with = "super::integer::some_list")]
    #[schema(value_type = Option<Vec<ItemNo>>, max_items = 10000)]
    items: Option<Vec<i64>>,
    /// Also items that used up their attempts.
    #[serde(default)]
    force: bool,
}

/// What a retry scheduled.
#[derive(Serialize, ToSchema)]
struct RetryView {
    /// The new job running the scheduled items; null when none was eligible.
    job: Option<JobView>,
    scheduled: Vec<i64>,
    /// Items asked for and left out: `not_an_item`, `completed`, or `no_attempts_left`
    /// (send `force` to retry those).
    skipped: Vec<SkippedItem>,
}

#[derive(Serialize, ToSchema)]
struct SkippedItem {
    item_no: i64,
    #[schema(value_type = String, example = "no_attempts_left")]
    reason: quire_actors::runtime::SkipReason,
}

/// Retry failed items
///
/// Starts a new job, linked to this one, with exactly the failed items named (or every
/// failed one) that have attempts left, or with `force` also those that used them up;
/// each starts with a fresh budget. Nothing eligible answers 200 with an empty list and
/// starts nothing. Any job kind: pages of an OCR run or an import, chunks of an extraction.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{job_id}/items/retry",
    tag = "jobs",
    params(JobPath),
    request_body(content = Option<RetryBody>, content_type = "application/json"),
    responses(
        (status = 202, description = "The new job and the items it runs.", body = RetryView),
        (status = 200, description = "Nothing was eligible: no job started.", body = RetryView),
        (status = 400, description = "`INVALID_PATH`: the job id is not a UUID; `INVALID_JSON`; `INVALID_BODY`.", body = ErrorBody),
        (status = 404, description = "`JOB_NOT_FOUND`; `KIND_DISABLED`: this server does not run that kind.", body = ErrorBody),
        (status = 409, description = "`NOT_RESUMABLE`: the job is still active; `BOOK_BUSY`: another job holds the book.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE`: the body is over 1 MiB.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`; `SHUTTING_DOWN`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn retry_items(
    state: web::Data<ApiState>,
    path: web::Path<JobId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Room for the most items the body may name.
    let body = read_body(payload, 1 << 20).await?;
    let body: RetryBody = if body.iter().all(u8::is_ascii_whitespace) {
        RetryBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(Code::InvalidJson, e.to_string()))?
    };
    if body
        .items
        .as_ref()
        .is_some_and(|items| items.len() > MAX_RETRY_ITEMS)
    {
        return Err(ApiError::new(
            Code::InvalidJson,
            format!("`items` names at most {MAX_RETRY_ITEMS} items"),
        ));
    }
    if body
        .items
        .iter()
        .flatten()
        .any(|&n| !(1..=MAX_ITEM_NO).contains(&n))
    {
        return Err(ApiError::new(
            Code::InvalidJson,
            format!("item numbers run from 1 to {MAX_ITEM_NO}"),
        ));
    }
    let retry = state
        .runtime
        .retry_items(path.into_inner(), body.items.as_deref(), body.force)
        .await?;
    let now = state.now();
    let started = retry.job.is_some();
    let view = RetryView {
        job: retry.job.as_ref().map(|j| JobView::new(j, now)),
        scheduled: retry.scheduled,
        skipped: retry
            .skipped
            .into_iter()
            .map(|(item_no, reason)| SkippedItem { item_no, reason })
            .collect(),
    };
    Ok(if started {
        HttpResponse::Accepted().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// The most a small JSON body may weigh.
const SMALL_BODY: usize = 64 * 1024;

/// The whole body, refused with a JSON error past `limit` bytes.
pub(super) async fn read_body(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(Code::InvalidBody, e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                Code::BodyTooLarge,
                format!("the body must be at most {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How often the event stream re-reads the job, for changes made by other nodes.
const EVENTS_POLL: Duration = Duration::from_secs(2);

/// Watch a job
///
/// Server-sent events: the job now, then each change, until it ends. Each event is
/// `event: job` with a `JobView` as its `data`.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{job_id}/events",
    tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "A `text/event-stream` of `event: job` events whose `data` is a `JobView` (JSON); it ends when the job does.", content_type = "text/event-stream", body = JobStreamEvent),
        (status = 400, description = "`INVALID_PATH`: the job id is not a UUID.", body = ErrorBody),
        (status = 404, description = "`JOB_NOT_FOUND`.", body = ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer; try again.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: the server failed; see its log.", body = ErrorBody),
    )
)]
async fn job_events(
    state: web::Data<ApiState>,
    path: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let rx = state.runtime.subscribe();
    let job = state.runtime.status(id).await?;
    let start = EventState {
        closing: state.closing.clone(),
        state: state.into_inner(),
        rx,
        id,
        last: None,
        first: Some(job),
        done: false,
    };
    let body = stream::unfold(start, |mut s| async move {
        if s.done {
            return None;
        }
        let job = match s.first.take() {
            Some(job) => job,
            None => s.next_change().await?,
        };
        s.done = job.status.is_terminal();
        let json = serde_json::to_string(&JobView::new(&job, s.state.now())).unwrap_or_default();
        s.last = Some(job);
        Some((
            Ok::<_, actix_web::Error>(Bytes::from(format!("event: job\ndata: {json}\n\n"))),
            s,
        ))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body))
}

/// One event of a job's stream, as an event-stream reader parses it.
#[derive(ToSchema)]
#[allow(dead_code)] // The stream is written as text; this only describes it.
struct JobStreamEvent {
    /// Always `job`.
    #[schema(pattern = "^job$")]
    event: String,
    /// The job as a `JobView`, in JSON.
    data: String,
}

struct EventState {
    state: std::sync::Arc<ApiState>,
    closing: tokio::sync::watch::Receiver<bool>,
    rx: broadcast::Receiver<Job>,
    id: JobId,
    last: Option<Job>,
    first: Option<Job>,
    done: bool,
}

impl EventState {
    /// The next version of the job that differs from the last one sent.
    async fn next_change(&mut self) -> Option<Job> {
        loop {
            let candidate = tokio::select! {
                event = self.rx.recv() => match event {
                    Ok(job) if job.id == self.id => Some(job),
                    Ok(_) => None,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.state.runtime.status(self.id).await.ok(),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(EVENTS_POLL) => self.state.runtime.status(self.id).await.ok(),
                // The node is stopping: the client reconnects to another one.
                _ = self.closing.wait_for(|closing| *closing) => return None,
            };
            if let Some(job) = candidate
                && self
                    .last
                    .as_ref()
                    .is_none_or(|last| last.status != job.status || last.progress != job.progress)
            {
                return Some(job);
            }
        }
    }
}
