//! The JSON shapes the API returns. Keep them stable: the UI, the CLI and integrators read them.

use chrono::{DateTime, SecondsFormat, Utc};
use quire_actors::model::{Item, JobError};
use quire_actors::ports::ItemCounts;
use quire_actors::{BookId, ErrorClass, Job, JobId, JobKind, JobStatus};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::schema::{
    ErrorClassSchema, ItemCountsSchema, ItemStatusSchema, JobErrorSchema, JobKindSchema,
    JobStatusSchema, ReviewStatusSchema,
};

use crate::pages::{Page, PageCounts, ReviewStatus};
use crate::store::Book;

pub fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// How far a job is.
#[derive(Serialize, ToSchema)]
pub struct ProgressView {
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
    pub remaining: u64,
    /// The item started last.
    pub current_item: Option<i64>,
    /// The highest item (page) number whose success is stored. Items run concurrently, so
    /// items below it may still be running or have failed, and a failed item is never
    /// counted here: it is not "the last page handled", nor where a resume starts (a resume
    /// runs every item not completed).
    pub last_completed_item: Option<i64>,
    /// Items ended (completed or failed) out of all, 0 to 100.
    pub percent: f64,
    #[schema(format = DateTime)]
    pub stage_started_at: Option<String>,
}

/// A job: what it does to which book, where it is, and how it ended.
#[derive(Serialize, ToSchema)]
pub struct JobView {
    #[schema(value_type = uuid::Uuid)]
    pub id: JobId,
    #[schema(value_type = uuid::Uuid)]
    pub book_id: BookId,
    #[schema(value_type = JobKindSchema)]
    pub kind: JobKind,
    #[schema(value_type = JobStatusSchema)]
    pub status: JobStatus,
    pub stage: Option<String>,
    pub progress: ProgressView,
    /// Why the job failed; null unless it did. A job whose every item failed ends `failed`
    /// with `ALL_ITEMS_FAILED` (resume it once the cause is fixed); a job with at least one
    /// item completed ends `completed`, its failed items listed by
    /// `GET /api/v1/jobs/{id}/items?status=failed`. A cancelled job ends `cancelled` unless
    /// every item had already ended when the cancel came.
    #[schema(value_type = Option<JobErrorSchema>)]
    pub error: Option<JobError>,
    /// What the job was started with (kind-specific).
    pub params: Value,
    /// The job this one resumes or restarts.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub resumed_from: Option<JobId>,
    /// The node driving the job.
    pub lease_owner: Option<String>,
    #[schema(format = DateTime)]
    pub cancel_requested_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Running time so far, or in all once ended.
    pub elapsed_ms: Option<i64>,
    /// A `pdf_import` job's file and its quality report; only on a single job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportView>,
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
                // A held upload has no items yet: nothing is done, whatever 0 of 0 is.
                percent: if p.total == 0 && !job.status.is_terminal() {
                    0.0
                } else {
                    p.percent()
                },
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
            import: None,
        }
    }
}

/// Why an item's last attempt failed.
#[derive(Serialize, ToSchema)]
pub struct ItemErrorView {
    #[schema(value_type = Option<ErrorClassSchema>)]
    pub class: Option<ErrorClass>,
    pub code: String,
    pub message: String,
}

/// One item of a job (a page, a chunk).
#[derive(Serialize, ToSchema)]
pub struct ItemView {
    pub item_no: i64,
    #[schema(value_type = ItemStatusSchema)]
    pub status: quire_actors::ItemStatus,
    pub attempts: i64,
    /// When a retryably-failed item is tried again.
    #[schema(format = DateTime)]
    pub not_before: Option<String>,
    pub error: Option<ItemErrorView>,
    /// What the item produced (kind-specific).
    pub result: Option<Value>,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// An attempt of this item ran past its job kind's soft item limit
    /// (`limits.<kind>.item_soft_ms`); kept once set.
    pub slow: bool,
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
            slow: i.slow,
        }
    }
}

/// A page of a job's items, with the counts of all its items by status.
#[derive(Serialize, ToSchema)]
pub struct ItemPage {
    pub items: Vec<ItemView>,
    #[schema(value_type = ItemCountsSchema)]
    pub counts: ItemCounts,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<i64>,
}

/// A page of jobs, newest first.
#[derive(Serialize, ToSchema)]
pub struct JobList {
    pub items: Vec<JobView>,
    /// Pass as `before` for the next page; null on the last.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub next: Option<JobId>,
}

/// A book with its page counts and latest job.
#[derive(Serialize, ToSchema)]
pub struct BookView {
    #[schema(value_type = uuid::Uuid)]
    pub id: BookId,
    pub title: String,
    pub owner: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub pages: PageCounts,
    pub latest_job: Option<JobView>,
}

/// A page of books.
#[derive(Serialize, ToSchema)]
pub struct BookList {
    pub items: Vec<BookView>,
    /// Pass as `after` for the next page; null on the last.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub next: Option<BookId>,
}

impl BookView {
    pub fn new(book: Book, pages: PageCounts, latest_job: Option<&Job>, now: i64) -> Self {
        BookView {
            id: book.id,
            title: book.title,
            owner: book.owner,
            created_at: time(book.created_at),
            pages,
            latest_job: latest_job.map(|j| JobView::new(j, now)),
        }
    }
}

/// A page's OCR: the state of its item in the newest OCR job that has one.
#[derive(Serialize, ToSchema)]
pub struct PageOcrView {
    /// `pending`, `processing`, `completed` or `failed`.
    #[schema(value_type = ItemStatusSchema)]
    pub status: quire_actors::ItemStatus,
    /// The OCR job that has (or last had) the page.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub job_id: Option<JobId>,
    #[schema(value_type = Option<JobStatusSchema>)]
    pub job_status: Option<JobStatus>,
    pub attempts: i64,
    pub engine: Option<String>,
    /// Where the text came from: `ocr`, or `text_layer` (the page's PDF text).
    #[schema(value_type = Option<String>, example = "ocr")]
    pub source: Option<crate::pages::TextSource>,
    /// Mean word confidence in [0, 1], where the engine gives one.
    pub confidence: Option<f32>,
    pub chars: Option<usize>,
    pub error: Option<ItemErrorView>,
    /// When a retryably-failed page is tried again.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
}

/// The review of a page's current OCR text.
#[derive(Serialize, ToSchema)]
pub struct ReviewView {
    #[schema(value_type = ReviewStatusSchema)]
    pub status: ReviewStatus,
    #[schema(format = DateTime)]
    pub reviewed_at: Option<String>,
}

/// A page of a book: its image, OCR and review.
#[derive(Serialize, ToSchema)]
pub struct PageView {
    pub page_no: i64,
    /// The source's type: the uploaded image's, judged by its bytes, or
    /// `application/pdf` for a page of an imported PDF.
    #[schema(value_type = String, example = "image/png")]
    pub content_type: &'static str,
    /// The source's size (for a page of a PDF, the whole file's).
    pub bytes: u64,
    /// The book's own number for the page ("iv", "12"), where its PDF labels its pages.
    pub label: Option<String>,
    /// For a page of a PDF: its import job and its page in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf: Option<PdfPageView>,
    /// The uploaded file's name, for display only.
    pub original_name: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The upload job that added the page.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub added_by: Option<JobId>,
    pub ocr: PageOcrView,
    /// The review of the current OCR text (a newer OCR run resets it).
    pub review: ReviewView,
    /// Where the page's image is served.
    pub image_url: String,
    /// The page's text: the reviewer's edit, else what OCR read. Only on a single page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// What OCR read, beside an edit. Only on a single page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocr_text: Option<String>,
}

/// Where a page of an imported PDF comes from.
#[derive(Serialize, ToSchema)]
pub struct PdfPageView {
    /// The `pdf_import` job that added it.
    #[schema(value_type = uuid::Uuid)]
    pub import: JobId,
    /// Its page in the file, from 1.
    pub page: u32,
}

/// A PDF import: the file, its options and how its pages went.
#[derive(Serialize, ToSchema)]
pub struct ImportView {
    /// The stored file's size in bytes.
    pub file_bytes: u64,
    /// Pages in the file, and the range imported.
    pub file_pages: u32,
    pub first_page: u32,
    pub last_page: u32,
    #[schema(value_type = String, example = "auto")]
    pub mode: crate::pdf::import::ImportMode,
    pub dpi: u32,
    pub encrypted: bool,
    /// Whether the file labels its pages with the book's own numbers.
    pub page_labels: bool,
    pub report: crate::pdf::report::ImportReport,
}

impl ImportView {
    pub fn new(
        import: &crate::pdf::import::PdfImport,
        report: crate::pdf::report::ImportReport,
    ) -> Self {
        Self {
            file_bytes: import.file_bytes,
            file_pages: import.pages,
            first_page: import.first_page,
            last_page: import.last_page,
            mode: import.mode,
            dpi: import.dpi,
            encrypted: import.encrypted,
            page_labels: !import.labels.is_empty(),
            report,
        }
    }
}

/// A page of a book's pages, with the counts of all of them.
#[derive(Serialize, ToSchema)]
pub struct PageList {
    pub items: Vec<PageView>,
    pub counts: PageCounts,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<i64>,
}

/// An upload's answer: the OCR job that now reads the pages, and the pages stored.
#[derive(Serialize, ToSchema)]
pub struct UploadView {
    pub job: JobView,
    pub pages: Vec<crate::intake::StoredPage>,
}

impl PageView {
    pub fn new(page: &Page, with_text: bool) -> Self {
        let result = page.ocr_text();
        let ocr = match &page.ocr {
            Some((item, job_status)) => PageOcrView {
                status: item.status,
                job_id: Some(item.job_id),
                job_status: Some(*job_status),
                attempts: item.attempts,
                engine: result.as_ref().map(|r| r.engine.clone()),
                source: result.as_ref().map(|r| r.source),
                confidence: result.as_ref().and_then(|r| r.confidence),
                chars: result.as_ref().map(|r| r.text.chars().count()),
                error: item.error_code.clone().map(|code| ItemErrorView {
                    class: item.error_class,
                    code,
                    message: item.error.clone().unwrap_or_default(),
                }),
                next_attempt_at: item.not_before.map(time),
                started_at: item.started_at.map(time),
                finished_at: item.finished_at.map(time),
            },
            None => PageOcrView {
                status: quire_actors::ItemStatus::Pending,
                job_id: None,
                job_status: None,
                attempts: 0,
                engine: None,
                source: None,
                confidence: None,
                chars: None,
                error: None,
                next_attempt_at: None,
                started_at: None,
                finished_at: None,
            },
        };
        let review = match page.current_review() {
            Some(r) => ReviewView {
                status: r.status,
                reviewed_at: r.reviewed_at.map(time),
            },
            None => ReviewView {
                status: ReviewStatus::Unreviewed,
                reviewed_at: None,
            },
        };
        PageView {
            page_no: page.page_no,
            content_type: page.kind.mime(),
            bytes: page.bytes,
            label: page.label.clone(),
            pdf: match page.kind {
                crate::pages::PageKind::Pdf { import, page } => Some(PdfPageView { import, page }),
                crate::pages::PageKind::Image(_) => None,
            },
            original_name: page.original_name.clone(),
            created_at: time(page.created_at),
            added_by: page.added_by,
            ocr,
            review,
            image_url: format!(
                "/api/v1/books/{}/pages/{}/image",
                page.book_id, page.page_no
            ),
            text: with_text.then(|| page.text()).flatten(),
            ocr_text: with_text.then(|| result.map(|r| r.text)).flatten(),
        }
    }
}
