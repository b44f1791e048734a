//! Page upload: multipart files streamed one at a time into the object store, each checked
//! by its bytes, under the book's JobLock.
//!
//! The upload holds an OCR job from its first byte: each stored file becomes a page row and
//! an item of that job in one transaction. At the end the job is released and OCR starts. A
//! rejected upload (a bad file, too many files) takes every page it added back, so nothing
//! is stored; an upload that breaks off (the client went away) keeps the pages it stored and
//! fails its job, naming them, so a resume OCRs them.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_multipart::{Multipart, MultipartError};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;
use quire_actors::model::{JobError, Lease};
use quire_actors::{BookId, Job, JobKind};
use serde::Serialize;
use serde_json::json;
use tracing::Instrument;

use super::ApiState;
use super::books::require_book;
use super::error::ApiError;
use super::views::{JobView, UploadView};
use crate::objects::ObjectKey;
use crate::ocr::sniff;
use crate::pages::{MAX_PAGE_NO, NewPage, display_name};

/// How long an upload may send nothing before it counts as broken off.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// Multipart framing per file, beyond its bytes, allowed when checking `Content-Length`.
const PART_OVERHEAD: u64 = 16 * 1024;

/// After a rejection, at most this much of the rest is read (and dropped) so the client,
/// still sending, gets the error instead of a reset connection.
const DRAIN_LIMIT: u64 = 64 << 20;

pub struct Numbering {
    /// The first file's page number; default: after the book's last page.
    pub start_at: Option<i64>,
    pub max_files: u32,
}

/// A page as the upload's answer lists it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StoredPage {
    pub page_no: i64,
    /// The uploaded file's name, for display only.
    pub original_name: Option<String>,
    /// The image's type, judged by its bytes.
    #[schema(value_type = String, example = "image/png")]
    pub content_type: &'static str,
    pub bytes: u64,
}

/// Why an upload stopped early.
enum Stop {
    /// The request is refused: nothing it carried is kept.
    Rejected(ApiError),
    /// The client stopped sending: what arrived whole is kept.
    Broken(String),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Rejected(e)
    }
}

/// How much of the body arrived, against the length the client declared: a multipart body
/// that ends early was cut off if bytes are missing, and is malformed if they are all there.
#[derive(Clone)]
struct Arrival {
    declared: Option<u64>,
    received: Rc<Cell<u64>>,
}

impl Arrival {
    fn stop(&self, e: MultipartError) -> Stop {
        let all_there = self
            .declared
            .is_some_and(|declared| self.received.get() >= declared);
        match e {
            MultipartError::Payload(_) => Stop::Broken(e.to_string()),
            MultipartError::Incomplete if !all_there => Stop::Broken(e.to_string()),
            e => Stop::Rejected(ApiError::bad_request(
                "INVALID_MULTIPART",
                format!("the multipart body is malformed: {e}"),
            )),
        }
    }
}

pub async fn run(
    state: Arc<ApiState>,
    req: &HttpRequest,
    book: BookId,
    numbering: Numbering,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let upload = match start(&state, req, book, &numbering).await {
        Ok(upload) => upload,
        Err(e) => {
            drain(&mut payload, DRAIN_LIMIT).await;
            return Err(e);
        }
    };
    let received = Rc::new(Cell::new(0u64));
    let counter = received.clone();
    let payload = payload.inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            counter.set(counter.get() + bytes.len() as u64);
        }
    });
    let multipart = Multipart::new(req.headers(), payload);
    let arrival = Arrival {
        declared: declared_length(req),
        received,
    };
    // Its own task: if the client goes away, actix drops this handler, and the held job
    // must still be released or failed.
    let span = tracing::info_span!("upload", job_id = %upload.job.id, book_id = %book);
    actix_web::rt::spawn(upload.run(multipart, arrival).instrument(span))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the upload task failed; see the server log",
            ))
        })
}

fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Checks the request and takes the book's JobLock.
async fn start(
    state: &Arc<ApiState>,
    req: &HttpRequest,
    book: BookId,
    numbering: &Numbering,
) -> Result<Upload, ApiError> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the pages as multipart/form-data, one `files` part per image",
        ));
    }
    let max_file_bytes = state.upload.max_file_bytes;
    let declared = declared_length(req);
    let ceiling = u64::from(numbering.max_files) * (max_file_bytes + PART_OVERHEAD);
    if declared.is_some_and(|n| n > ceiling) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            format!(
                "at most {} files of {max_file_bytes} bytes each fit in one upload",
                numbering.max_files
            ),
        ));
    }
    require_book(state, book).await?;
    let job = state
        .runtime
        .hold(book, JobKind::Ocr, json!({ "trigger": "upload" }))
        .await?;
    let lease = job.lease().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "a held job has no lease",
        )
    })?;
    let next = match numbering.start_at {
        Some(n) => n,
        None => match state.store.last_page_no(book).await {
            Ok(last) => last.unwrap_or(0) + 1,
            Err(e) => {
                let error = JobError {
                    code: "UPLOAD_REJECTED".to_owned(),
                    message: e.to_string(),
                };
                let _ = state.runtime.abort_held(job.id, error).await;
                return Err(e.into());
            }
        },
    };
    Ok(Upload {
        state: state.clone(),
        book,
        job,
        lease,
        next,
        explicit: numbering.start_at.is_some(),
        max_files: numbering.max_files,
        max_file_bytes,
        received: 0,
        written: Vec::new(),
        stored: Vec::new(),
    })
}

/// A file being stored while the next one arrives.
type Storing = actix_web::rt::task::JoinHandle<Result<StoredPage, ApiError>>;

/// Stores one file: its bytes, then its page row and OCR item (a row never points at bytes
/// that are not there).
async fn store_page(
    state: Arc<ApiState>,
    lease: Lease,
    book: BookId,
    page: NewPage,
    bytes: bytes::Bytes,
) -> Result<StoredPage, ApiError> {
    state
        .objects
        .put(&ObjectKey::page_source(book, page.page_no), bytes)
        .await
        .map_err(super::error::storage)?;
    state.store.add_page(&lease, &page, state.now()).await?;
    Ok(StoredPage {
        page_no: page.page_no,
        original_name: page.original_name,
        content_type: page.kind.mime(),
        bytes: page.bytes,
    })
}

struct Upload {
    state: Arc<ApiState>,
    book: BookId,
    job: Job,
    lease: Lease,
    next: i64,
    /// Page numbers were given: a page that exists is refused, not replaced.
    explicit: bool,
    max_files: u32,
    max_file_bytes: u64,
    /// Files accepted so far.
    received: u32,
    /// Page numbers whose bytes went (or are going) to the object store.
    written: Vec<i64>,
    stored: Vec<StoredPage>,
}

impl Upload {
    async fn run(
        mut self,
        mut multipart: Multipart,
        arrival: Arrival,
    ) -> Result<HttpResponse, ApiError> {
        let received = match self.receive(&mut multipart, &arrival).await {
            Ok(()) if self.stored.is_empty() => Err(Stop::Rejected(ApiError::bad_request(
                "NO_FILES",
                "the upload has no files; send one `files` part per image",
            ))),
            other => other,
        };
        match received {
            Ok(()) => self.finish().await,
            Err(Stop::Rejected(e)) => {
                drain_parts(&mut multipart).await;
                self.take_back(e).await
            }
            Err(Stop::Broken(why)) => self.break_off(why).await,
        }
    }

    /// Receives every file. Each file is stored (object, then page row) while the next one
    /// arrives; whatever happens, the last store step is awaited before this returns.
    async fn receive(&mut self, multipart: &mut Multipart, arrival: &Arrival) -> Result<(), Stop> {
        let mut storing = None;
        let received = self.receive_files(multipart, arrival, &mut storing).await;
        let stored = self.settle(&mut storing).await;
        received.and(stored)
    }

    /// Waits for the file being stored, if any, and counts it.
    async fn settle(&mut self, storing: &mut Option<Storing>) -> Result<(), Stop> {
        let Some(task) = storing.take() else {
            return Ok(());
        };
        let page = task.await.unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "storing a page failed; see the server log",
            ))
        })?;
        self.state
            .uploads
            .bytes
            .fetch_add(page.bytes, Ordering::Relaxed);
        self.state.uploads.files.fetch_add(1, Ordering::Relaxed);
        self.stored.push(page);
        Ok(())
    }

    async fn receive_files(
        &mut self,
        multipart: &mut Multipart,
        arrival: &Arrival,
        storing: &mut Option<Storing>,
    ) -> Result<(), Stop> {
        while let Some(field) = next_or_idle(multipart).await? {
            let mut field = field.map_err(|e| arrival.stop(e))?;
            let index = self.received + 1;
            let (name, file_name) = {
                let cd = field.content_disposition();
                (
                    cd.and_then(|cd| cd.get_name()).map(str::to_owned),
                    cd.and_then(|cd| cd.get_filename()).map(str::to_owned),
                )
            };
            if !matches!(name.as_deref(), Some("files" | "file")) {
                return Err(ApiError::bad_request(
                    "UNKNOWN_FIELD",
                    format!(
                        "unexpected part `{}`; send each image as a `files` part",
                        name.unwrap_or_default()
                    ),
                )
                .into());
            }
            let original_name = file_name.as_deref().and_then(display_name);
            let label = original_name
                .clone()
                .unwrap_or_else(|| format!("file {index}"));
            if self.received >= self.max_files {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "TOO_MANY_FILES",
                    format!("at most {} files fit in one upload", self.max_files),
                )
                .into());
            }
            let page_no = self.next;
            if page_no > MAX_PAGE_NO {
                return Err(ApiError::bad_request(
                    "INVALID_PAGE_NO",
                    format!("page numbers end at {MAX_PAGE_NO}"),
                )
                .into());
            }
            if self.explicit
                && !self
                    .state
                    .store
                    .existing_pages(self.book, &[page_no])
                    .await
                    .map_err(ApiError::from)?
                    .is_empty()
            {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "PAGE_EXISTS",
                    format!(
                        "the book already has a page {page_no} ({label} would be it); \
                         to replace it, delete the page first"
                    ),
                )
                .with_details(json!({ "page_no": page_no }))
                .into());
            }
            let mut buf = BytesMut::new();
            while let Some(chunk) = next_or_idle(&mut field).await? {
                let chunk = chunk.map_err(|e| arrival.stop(e))?;
                if (buf.len() + chunk.len()) as u64 > self.max_file_bytes {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "FILE_TOO_LARGE",
                        format!(
                            "{label} is larger than {} bytes, the most one page may have",
                            self.max_file_bytes
                        ),
                    )
                    .with_details(json!({ "file": label, "index": index }))
                    .into());
                }
                buf.extend_from_slice(&chunk);
            }
            if buf.is_empty() {
                return Err(
                    ApiError::bad_request("EMPTY_FILE", format!("{label} is empty"))
                        .with_details(json!({ "file": label, "index": index }))
                        .into(),
                );
            }
            let Some(kind) = sniff(&buf) else {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_IMAGE",
                    format!("{label} is not a PNG, JPEG, TIFF or WebP image (judged by its bytes)"),
                )
                .with_details(json!({ "file": label, "index": index }))
                .into());
            };
            self.settle(storing).await?;
            let page = NewPage {
                page_no,
                kind,
                bytes: buf.len() as u64,
                original_name,
            };
            self.written.push(page_no);
            *storing = Some(actix_web::rt::spawn(store_page(
                self.state.clone(),
                self.lease.clone(),
                self.book,
                page,
                buf.freeze(),
            )));
            self.received += 1;
            self.next += 1;
        }
        Ok(())
    }

    async fn finish(self) -> Result<HttpResponse, ApiError> {
        let job = self.state.runtime.release(self.job.id, Vec::new()).await?;
        tracing::info!(job_id = %job.id, book_id = %self.book, pages = self.stored.len(), "upload stored");
        Ok(HttpResponse::Accepted().json(UploadView {
            job: JobView::new(&job, self.state.now()),
            pages: self.stored,
        }))
    }

    /// A rejected upload keeps nothing: its pages, their items and their bytes go, and its
    /// job fails saying why.
    async fn take_back(self, e: ApiError) -> Result<HttpResponse, ApiError> {
        self.state.uploads.rejected.fetch_add(1, Ordering::Relaxed);
        let now = self.state.now();
        if let Err(err) = self.state.store.remove_added_pages(&self.lease, now).await {
            tracing::error!(job_id = %self.job.id, error = %err, "cannot take back the pages of a rejected upload");
        }
        for &page_no in &self.written {
            let key = ObjectKey::page_source(self.book, page_no);
            if let Err(err) = self.state.objects.delete(&key).await {
                tracing::error!(%key, error = %err, "cannot delete a rejected page image");
            }
        }
        let error = JobError {
            code: "UPLOAD_REJECTED".to_owned(),
            message: format!("{}: {}", e.code, e.message),
        };
        if let Err(err) = self.state.runtime.abort_held(self.job.id, error).await {
            tracing::error!(job_id = %self.job.id, error = %err, "cannot end a rejected upload's job");
        }
        Err(e)
    }

    /// An upload that broke off keeps what arrived whole; its job fails naming those pages.
    async fn break_off(self, why: String) -> Result<HttpResponse, ApiError> {
        let listed: Vec<String> = self
            .stored
            .iter()
            .take(20)
            .map(|p| match &p.original_name {
                Some(name) => format!("{} ({name})", p.page_no),
                None => p.page_no.to_string(),
            })
            .collect();
        let more = self.stored.len().saturating_sub(listed.len());
        let stored = if self.stored.is_empty() {
            "no file arrived whole".to_owned()
        } else if more > 0 {
            format!("stored pages {} and {more} more", listed.join(", "))
        } else {
            format!("stored pages {}", listed.join(", "))
        };
        let message = format!(
            "the upload broke off after {} file(s) ({why}); {stored}; resume this job to OCR them",
            self.stored.len()
        );
        tracing::warn!(job_id = %self.job.id, book_id = %self.book, "{message}");
        let error = JobError {
            code: "UPLOAD_INCOMPLETE".to_owned(),
            message: message.clone(),
        };
        self.state.runtime.abort_held(self.job.id, error).await?;
        Err(
            ApiError::bad_request("UPLOAD_INCOMPLETE", message).with_details(json!({
                "job_id": self.job.id,
                "stored": self.stored,
            })),
        )
    }
}

/// The next item of a stream, or a break-off if the client sends nothing for a while.
async fn next_or_idle<S: futures_util::Stream + Unpin>(
    stream: &mut S,
) -> Result<Option<S::Item>, Stop> {
    tokio::time::timeout(IDLE_LIMIT, stream.next())
        .await
        .map_err(|_| Stop::Broken(format!("nothing arrived for {}s", IDLE_LIMIT.as_secs())))
}

/// Reads and drops what the client still sends, up to `limit` bytes, so that a client
/// still sending gets the answer instead of a reset connection. Returns the bytes read.
async fn drain<S, T, E>(stream: &mut S, limit: u64) -> u64
where
    S: futures_util::Stream<Item = Result<T, E>> + Unpin,
    T: AsRef<[u8]>,
{
    let mut seen = 0u64;
    while seen < limit {
        match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
            Ok(Some(Ok(chunk))) => seen += chunk.as_ref().len() as u64,
            _ => break,
        }
    }
    seen
}

/// [`drain`] for the parts of a multipart body.
async fn drain_parts(multipart: &mut Multipart) {
    let mut left = DRAIN_LIMIT;
    while left > 0 {
        let Ok(Some(Ok(mut field))) =
            tokio::time::timeout(Duration::from_secs(5), multipart.next()).await
        else {
            return;
        };
        left = left.saturating_sub(drain(&mut field, left).await);
    }
}
