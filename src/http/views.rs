//! The JSON shapes the API returns. Keep them stable: the UI, the CLI and integrators read them.

use chrono::{DateTime, SecondsFormat, Utc};
use quire_actors::model::{Item, JobError};
use quire_actors::ports::ItemCounts;
use quire_actors::{BookId, ErrorClass, Job, JobId, JobKind, JobStatus};
use serde::Serialize;
use serde_json::Value;

use crate::store::Book;

pub fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Serialize)]
pub struct ProgressView {
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
    pub remaining: u64,
    pub current_item: Option<i64>,
    pub last_completed_item: Option<i64>,
    pub percent: f64,
    pub stage_started_at: Option<String>,
}

#[derive(Serialize)]
pub struct JobView {
    pub id: JobId,
    pub book_id: BookId,
    pub kind: JobKind,
    pub status: JobStatus,
    pub stage: Option<String>,
    pub progress: ProgressView,
    pub error: Option<JobError>,
    pub params: Value,
    pub resumed_from: Option<JobId>,
    pub lease_owner: Option<String>,
    pub cancel_requested_at: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub elapsed_ms: Option<i64>,
}

impl JobView {
    pub fn new(job: &Job, now: i64) -> Self {
        let p = &job.progress;
        JobView {
            id: job.id,
            book_id: job.book_id,
            kind: job.kind,
            status: job.status,
            stage: p.stage.clone(),
            progress: ProgressView {
                total: p.total,
                completed: p.completed,
                failed: p.failed,
                remaining: p.remaining(),
                current_item: p.current_item,
                last_completed_item: p.last_completed_item,
                percent: p.percent(),
                stage_started_at: p.stage_started_at.map(time),
            },
            error: job.error.clone(),
            params: job.params.clone(),
            resumed_from: job.resumed_from,
            lease_owner: job.lease_owner.clone(),
            cancel_requested_at: job.cancel_requested_at.map(time),
            created_at: time(job.created_at),
            started_at: job.started_at.map(time),
            finished_at: job.finished_at.map(time),
            elapsed_ms: job.elapsed_ms(now),
        }
    }
}

#[derive(Serialize)]
pub struct ItemErrorView {
    pub class: Option<ErrorClass>,
    pub code: String,
    pub message: String,
}

#[derive(Serialize)]
pub struct ItemView {
    pub item_no: i64,
    pub status: quire_actors::ItemStatus,
    pub attempts: i64,
    pub not_before: Option<String>,
    pub error: Option<ItemErrorView>,
    pub result: Option<Value>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl From<Item> for ItemView {
    fn from(i: Item) -> Self {
        let error = i.error_code.map(|code| ItemErrorView {
            class: i.error_class,
            code,
            message: i.error.unwrap_or_default(),
        });
        ItemView {
            item_no: i.item_no,
            status: i.status,
            attempts: i.attempts,
            not_before: i.not_before.map(time),
            error,
            result: i.result,
            started_at: i.started_at.map(time),
            finished_at: i.finished_at.map(time),
        }
    }
}

#[derive(Serialize)]
pub struct ItemPage {
    pub items: Vec<ItemView>,
    pub counts: ItemCounts,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<i64>,
}

#[derive(Serialize)]
pub struct BookView {
    pub id: BookId,
    pub title: String,
    pub owner: Option<String>,
    pub created_at: String,
    pub latest_job: Option<JobView>,
}

impl BookView {
    pub fn new(book: Book, latest_job: Option<&Job>, now: i64) -> Self {
        BookView {
            id: book.id,
            title: book.title,
            owner: book.owner,
            created_at: time(book.created_at),
            latest_job: latest_job.map(|j| JobView::new(j, now)),
        }
    }
}
