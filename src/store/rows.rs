//! Rows as both backends return them, and their conversion into the runtime's types.

use std::borrow::Cow;

use quire_actors::model::{Item, ItemOutcome, JobError};
use quire_actors::{BookId, ErrorClass, Job, JobId, JobStatus, Progress, StoreError};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::Book;
use crate::ocr::ImageKind;
use crate::pages::{ImageId, Page, PageKind, Review};

/// The job columns, in [`JobRow`]'s order, for `SELECT`s and `RETURNING`s.
macro_rules! job_columns {
    () => {
        "id, book_id, kind, status, params, stage, stage_started_at, total_items, \
         completed_items, failed_items, current_item, last_completed_item, error_code, error, \
         resumed_from, lease_owner, lease_generation, lease_expires_at, heartbeat_at, \
         cancel_requested_at, created_at, started_at, finished_at, retry_round, held"
    };
}
pub(crate) use job_columns;

/// The job statuses that hold the book's JobLock (not terminal), as an SQL list. The
/// migrations' partial unique index spells the same list; a test checks it against
/// [`quire_actors::JobStatus::is_terminal`].
macro_rules! active_statuses {
    () => {
        "('pending', 'running', 'cancelling')"
    };
}
pub(crate) use active_statuses;

macro_rules! item_columns {
    () => {
        "job_id, item_no, status, attempts, not_before, error_class, error_code, error, result, \
         started_at, finished_at, slow"
    };
}
pub(crate) use item_columns;

#[derive(sqlx::FromRow)]
pub struct JobRow {
    id: Uuid,
    book_id: Uuid,
    kind: String,
    status: String,
    params: Json<Value>,
    stage: Option<String>,
    stage_started_at: Option<i64>,
    total_items: i64,
    completed_items: i64,
    failed_items: i64,
    current_item: Option<i64>,
    last_completed_item: Option<i64>,
    error_code: Option<String>,
    error: Option<String>,
    resumed_from: Option<Uuid>,
    lease_owner: Option<String>,
    lease_generation: i64,
    lease_expires_at: Option<i64>,
    heartbeat_at: Option<i64>,
    cancel_requested_at: Option<i64>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    retry_round: i64,
    held: bool,
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<Job, StoreError> {
        let error = match (r.error_code, r.error) {
            (Some(code), Some(message)) => Some(JobError { code, message }),
            _ => None,
        };
        Ok(Job {
            id: JobId(r.id),
            book_id: BookId(r.book_id),
            kind: r.kind.parse().map_err(corrupt)?,
            status: r.status.parse().map_err(corrupt)?,
            params: r.params.0,
            progress: Progress {
                total: r.total_items as u64,
                completed: r.completed_items as u64,
                failed: r.failed_items as u64,
                current_item: r.current_item,
                last_completed_item: r.last_completed_item,
                stage: r.stage,
                stage_started_at: r.stage_started_at,
            },
            error,
            resumed_from: r.resumed_from.map(JobId),
            lease_owner: r.lease_owner,
            lease_generation: r.lease_generation,
            retry_round: u32::try_from(r.retry_round).map_err(corrupt)?,
            held: r.held,
            lease_expires_at: r.lease_expires_at,
            heartbeat_at: r.heartbeat_at,
            cancel_requested_at: r.cancel_requested_at,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ItemRow {
    job_id: Uuid,
    item_no: i64,
    status: String,
    attempts: i64,
    not_before: Option<i64>,
    error_class: Option<String>,
    error_code: Option<String>,
    error: Option<String>,
    result: Option<Json<Value>>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    slow: bool,
}

impl TryFrom<ItemRow> for Item {
    type Error = StoreError;

    fn try_from(r: ItemRow) -> Result<Item, StoreError> {
        let error_class = r
            .error_class
            .as_deref()
            .map(str::parse::<ErrorClass>)
            .transpose()
            .map_err(corrupt)?;
        Ok(Item {
            job_id: JobId(r.job_id),
            item_no: r.item_no,
            status: r.status.parse().map_err(corrupt)?,
            attempts: r.attempts,
            not_before: r.not_before,
            error_class,
            error_code: r.error_code,
            error: r.error,
            result: r.result.map(|j| j.0),
            started_at: r.started_at,
            finished_at: r.finished_at,
            slow: r.slow,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct BookRow {
    id: Uuid,
    title: String,
    owner: Option<String>,
    created_at: i64,
}

impl From<BookRow> for Book {
    fn from(r: BookRow) -> Book {
        Book {
            id: BookId(r.id),
            title: r.title,
            owner: r.owner,
            created_at: r.created_at,
        }
    }
}

/// PostgreSQL's `text` and `jsonb` cannot hold NUL characters; they are dropped from item
/// outcomes on both backends alike, so a result stores the same everywhere.
pub fn without_nul(outcomes: &[ItemOutcome]) -> Cow<'_, [ItemOutcome]> {
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(has_nul),
            Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    fn strip(v: &mut Value) {
        match v {
            Value::String(s) => s.retain(|c| c != '\0'),
            Value::Array(a) => a.iter_mut().for_each(strip),
            Value::Object(o) => {
                let entries = std::mem::take(o);
                for (mut k, mut v) in entries {
                    k.retain(|c| c != '\0');
                    strip(&mut v);
                    o.insert(k, v);
                }
            }
            _ => {}
        }
    }
    let text_has_nul = |t: &Option<String>| t.as_deref().is_some_and(|t| t.contains('\0'));
    let dirty = |o: &ItemOutcome| {
        o.result.as_ref().is_some_and(has_nul)
            || text_has_nul(&o.error)
            || text_has_nul(&o.error_code)
    };
    if !outcomes.iter().any(dirty) {
        return Cow::Borrowed(outcomes);
    }
    Cow::Owned(
        outcomes
            .iter()
            .map(|o| {
                let mut o = o.clone();
                if let Some(result) = &mut o.result {
                    strip(result);
                }
                for text in [&mut o.error, &mut o.error_code].into_iter().flatten() {
                    text.retain(|c| c != '\0');
                }
                o
            })
            .collect(),
    )
}

/// Classifies a database error by its kind, never by its message.
pub fn classify(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::Io(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed
        | E::Tls(_)
        | E::Protocol(_) => StoreError::Unavailable(Box::new(e)),
        E::Database(ref db) if is_transient(db.as_ref()) => StoreError::Unavailable(Box::new(e)),
        E::ColumnDecode { .. } | E::Decode(_) | E::ColumnNotFound(_) | E::TypeNotFound { .. } => {
            StoreError::Corrupt(e.to_string())
        }
        e => StoreError::Other(Box::new(e)),
    }
}

/// Errors that go away if the transaction is tried again: PostgreSQL's serialization
/// failure and deadlock, SQLite's busy and locked.
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "5" | "6" | "517" | "262")
    )
}

#[derive(sqlx::FromRow)]
pub struct PageRow {
    book_id: Uuid,
    page_no: i64,
    content_type: String,
    bytes: i64,
    original_name: Option<String>,
    added_by: Option<Uuid>,
    object_id: Option<String>,
    pdf_import: Option<Uuid>,
    pdf_page: Option<i64>,
    label: Option<String>,
    review_status: String,
    review_text: Option<String>,
    review_job_id: Option<Uuid>,
    reviewed_at: Option<i64>,
    created_at: i64,
    ocr_job_id: Option<Uuid>,
    ocr_job_status: Option<String>,
    ocr_status: Option<String>,
    ocr_attempts: Option<i64>,
    ocr_not_before: Option<i64>,
    ocr_error_class: Option<String>,
    ocr_error_code: Option<String>,
    ocr_error: Option<String>,
    ocr_result: Option<Json<Value>>,
    ocr_started_at: Option<i64>,
    ocr_finished_at: Option<i64>,
    ocr_slow: Option<bool>,
}

impl TryFrom<PageRow> for Page {
    type Error = StoreError;

    fn try_from(r: PageRow) -> Result<Page, StoreError> {
        let ocr = match (r.ocr_job_id, r.ocr_job_status, r.ocr_status) {
            (Some(job_id), Some(job_status), Some(status)) => {
                let item = ItemRow {
                    job_id,
                    item_no: r.page_no,
                    status,
                    attempts: r.ocr_attempts.unwrap_or(0),
                    not_before: r.ocr_not_before,
                    error_class: r.ocr_error_class,
                    error_code: r.ocr_error_code,
                    error: r.ocr_error,
                    result: r.ocr_result,
                    started_at: r.ocr_started_at,
                    finished_at: r.ocr_finished_at,
                    slow: r.ocr_slow.unwrap_or(false),
                };
                let job_status: JobStatus = job_status.parse().map_err(corrupt)?;
                Some((Item::try_from(item)?, job_status))
            }
            _ => None,
        };
        Ok(Page {
            book_id: BookId(r.book_id),
            page_no: r.page_no,
            kind: match (r.pdf_import, r.pdf_page) {
                (Some(import), Some(page)) => PageKind::Pdf {
                    import: JobId(import),
                    page: u32::try_from(page).map_err(corrupt)?,
                },
                _ => PageKind::Image(
                    ImageKind::from_mime(&r.content_type)
                        .ok_or_else(|| corrupt(format!("content type `{}`", r.content_type)))?,
                ),
            },
            bytes: u64::try_from(r.bytes).map_err(corrupt)?,
            label: r.label,
            original_name: r.original_name,
            added_by: r.added_by.map(JobId),
            image_id: r
                .object_id
                .map(|id| ImageId::parse(&id).ok_or_else(|| corrupt(format!("image id `{id}`"))))
                .transpose()?,
            ocr,
            review: Review {
                status: r.review_status.parse().map_err(corrupt)?,
                text: r.review_text,
                job_id: r.review_job_id.map(JobId),
                reviewed_at: r.reviewed_at,
            },
            created_at: r.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use quire_actors::JobStatus;

    /// The SQL list is exactly the statuses that are not terminal, and the JobLock's partial
    /// unique index in both backends' migrations names the same list.
    #[test]
    fn active_statuses_are_the_non_terminal_ones() {
        let listed: Vec<&str> = active_statuses!()
            .trim_matches(|c| c == '(' || c == ')')
            .split(", ")
            .map(|s| s.trim_matches('\''))
            .collect();
        let active: Vec<&str> = JobStatus::ALL
            .iter()
            .filter(|s| !s.is_terminal())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(listed, active);
        for migration in [
            include_str!("../../migrations/sqlite/0001_jobs.sql"),
            include_str!("../../migrations/postgres/0001_jobs.sql"),
        ] {
            assert!(migration.contains(&format!("WHERE status IN {}", active_statuses!())));
        }
    }
}
