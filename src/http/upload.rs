//! Page upload over HTTP: multipart files streamed one at a time into an intake
//! [`Upload`], each stored while the next arrives.
//!
//! This module knows multipart and HTTP only: the checks of each file, its image and page
//! row, the held job and the ends of an upload are [`crate::intake`]'s.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_multipart::{Multipart, MultipartError};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;
use quire_actors::BookId;
use tracing::Instrument;

use super::ApiState;
use super::books::require_book;
use super::error::{ApiError, Code};
use super::views::{JobView, UploadView};
use crate::intake::{IntakeError, Numbering, Refusal, StoredPage, Upload};
use crate::pages::display_name;

/// How long an upload may send nothing before it counts as broken off.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// Multipart framing per file, beyond its bytes, allowed when checking `Content-Length`.
const PART_OVERHEAD: u64 = 16 * 1024;

/// After a rejection, at most this much of the rest is read (and dropped) so the client,
/// still sending, gets the error instead of a reset connection.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Why an upload stopped early.
enum Stop {
    /// The body is refused (malformed, an unknown part): nothing it carried is kept.
    Rejected(ApiError),
    /// The intake refused a file, or the job ended, or a store failed.
    Intake(IntakeError),
    /// The client stopped sending: what arrived whole is kept.
    Broken(String),
}

impl From<IntakeError> for Stop {
    fn from(e: IntakeError) -> Self {
        Stop::Intake(e)
    }
}

impl From<Refusal> for Stop {
    fn from(e: Refusal) -> Self {
        Stop::Intake(e.into())
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
            e => Stop::Rejected(ApiError::new(
                Code::InvalidMultipart,
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
    // must still be released or failed (if the task itself dies, the held job's drop
    // guard fails it).
    let span = tracing::info_span!("upload", job_id = %upload.job().id, book_id = %book);
    actix_web::rt::spawn(receive(state, upload, multipart, arrival).instrument(span))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                Code::Internal,
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
            Code::UnsupportedMediaType,
            "send the pages as multipart/form-data, one `files` part per image",
        ));
    }
    let max_file_bytes = state.upload.max_file_bytes;
    let declared = declared_length(req);
    let ceiling = u64::from(numbering.max_files) * (max_file_bytes + PART_OVERHEAD);
    if declared.is_some_and(|n| n > ceiling) {
        return Err(ApiError::new(
            Code::BodyTooLarge,
            format!(
                "at most {} files of {max_file_bytes} bytes each fit in one upload",
                numbering.max_files
            ),
        ));
    }
    require_book(state, book).await?;
    Ok(Upload::begin(&state.intake, book, numbering, "upload").await?)
}

/// Receives every file into `upload`, then ends it as what happened says.
async fn receive(
    state: Arc<ApiState>,
    mut upload: Upload,
    mut multipart: Multipart,
    arrival: Arrival,
) -> Result<HttpResponse, ApiError> {
    let mut storing = None;
    let received = receive_files(&state, &mut upload, &mut multipart, &arrival, &mut storing).await;
    // Whatever happened, the file being stored is awaited before the upload ends.
    let settled = finish_storing(&state, &mut upload, &mut storing).await;
    let ended = match received.and(settled) {
        Ok(()) if upload.stored_pages().is_empty() => Err(Stop::from(Refusal::NoFiles)),
        other => other,
    };
    match ended {
        Ok(()) => {
            let (job, pages) = upload.finish().await?;
            Ok(HttpResponse::Accepted().json(UploadView {
                job: JobView::new(&job, state.now()),
                pages,
            }))
        }
        Err(Stop::Rejected(e)) => {
            drain_parts(&mut multipart).await;
            state.uploads.rejected.fetch_add(1, Ordering::Relaxed);
            match upload.take_back_for(e.code.name(), &e.message).await {
                Some(ended) => Err(ended.into()),
                None => Err(e),
            }
        }
        Err(Stop::Intake(e)) => {
            drain_parts(&mut multipart).await;
            if matches!(e, IntakeError::Refused(_)) {
                state.uploads.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Err(upload.fail(e).await.into())
        }
        Err(Stop::Broken(why)) => Err(upload.break_off(&why).await.into()),
    }
}

/// A file being stored while the next one arrives.
type Storing = actix_web::rt::task::JoinHandle<Result<StoredPage, IntakeError>>;

/// Waits for the file being stored, if any, and counts it.
async fn finish_storing(
    state: &ApiState,
    upload: &mut Upload,
    storing: &mut Option<Storing>,
) -> Result<(), Stop> {
    let Some(task) = storing.take() else {
        return Ok(());
    };
    let page = task
        .await
        .unwrap_or_else(|e| Err(IntakeError::TaskFailed(e.to_string())))?;
    state.uploads.bytes.fetch_add(page.bytes, Ordering::Relaxed);
    state.uploads.files.fetch_add(1, Ordering::Relaxed);
    upload.stored(page);
    Ok(())
}

async fn receive_files(
    state: &ApiState,
    upload: &mut Upload,
    multipart: &mut Multipart,
    arrival: &Arrival,
    storing: &mut Option<Storing>,
) -> Result<(), Stop> {
    while let Some(field) = next_or_idle(multipart).await? {
        let mut field = field.map_err(|e| arrival.stop(e))?;
        let index = upload.accepted() + 1;
        let (name, file_name) = {
            let cd = field.content_disposition();
            (
                cd.and_then(|cd| cd.get_name()).map(str::to_owned),
                cd.and_then(|cd| cd.get_filename()).map(str::to_owned),
            )
        };
        if !matches!(name.as_deref(), Some("files" | "file")) {
            return Err(Stop::Rejected(ApiError::new(
                Code::UnknownField,
                format!(
                    "unexpected part `{}`; send each image as a `files` part",
                    name.unwrap_or_default()
                ),
            )));
        }
        let original_name = file_name.as_deref().and_then(display_name);
        let label = original_name
            .clone()
            .unwrap_or_else(|| format!("file {index}"));
        let page_no = upload.next_page_no(&label).await?;
        let mut buf = BytesMut::new();
        while let Some(chunk) = next_or_idle(&mut field).await? {
            let chunk = chunk.map_err(|e| arrival.stop(e))?;
            if (buf.len() + chunk.len()) as u64 > upload.max_file_bytes() {
                return Err(Refusal::FileTooLarge {
                    label,
                    index,
                    limit: upload.max_file_bytes(),
                }
                .into());
            }
            buf.extend_from_slice(&chunk);
        }
        let kind = upload.check(&buf, &label)?;
        finish_storing(state, upload, storing).await?;
        let write = upload.accept(page_no, kind, original_name, buf.freeze());
        *storing = Some(actix_web::rt::spawn(write.run()));
    }
    Ok(())
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
