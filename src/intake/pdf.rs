//! A PDF entering a book: the third way into the intake, beside the HTTP upload of images
//! and `quire ingest`.
//!
//! Under a [`HeldJob`] of kind `pdf_import`, the file is streamed to a scratch file (never
//! held in memory), analysed (stage `analyzing`: a PDF at all, damaged, encrypted, its
//! pages, outline, labels and text layer), stored in the object store, and then, in one
//! transaction, the import's record, one page per PDF page and one item per page are
//! written and the job moves to `extracting`. Released, the job's items read each page.
//! A file at fault fails the job at once with its code (`INVALID_PDF`, `CORRUPTED_FILE`,
//! `ENCRYPTED_PDF`, `UNSUPPORTED_FORMAT`) and adds nothing to the book.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use quire_actors::model::JobError;
use quire_actors::{BookId, Job, JobKind, StoreError};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::Intake;
use super::held_job::{HeldJob, HoldError};
use crate::objects::ObjectError;
use crate::pages::{ImageId, MAX_PAGE_NO};
use crate::pdf::PdfError;
use crate::pdf::analysis::{PageRange, analyze};
use crate::pdf::import::{DEFAULT_DPI, DPI_RANGE, ImportMode, NewPdfPage, PdfImport};
use crate::pdf::page_job::settled;

/// A PDF's password: used to open it, never stored, never logged, never shown.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(password: String) -> Self {
        Self(password)
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Jobs that follow a completed import, each its own job, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUp {
    Guidelines,
    Finalize,
    Epub,
}

/// What an import is asked to do.
#[derive(Clone, Debug, Default)]
pub struct PdfOptions {
    pub mode: ImportMode,
    pub dpi: Option<u32>,
    pub first_page: Option<u32>,
    pub last_page: Option<u32>,
    pub password: Option<Password>,
    pub then: Vec<FollowUp>,
}

/// Why a PDF was not imported.
#[derive(Debug, thiserror::Error)]
pub enum PdfIntakeError {
    /// The file (or the options) is at fault: the job failed with the code, the book is
    /// unchanged.
    #[error("{error}")]
    Refused { error: PdfError, job: Box<Job> },
    #[error("the PDF is larger than {limit} bytes, the most one import takes")]
    TooLarge { limit: u64 },
    #[error("the PDF has {pages} pages; one import takes at most {limit}")]
    TooManyPages { pages: u32, limit: u32 },
    #[error("its pages would be numbered past {MAX_PAGE_NO}")]
    BookFull,
    #[error("the dpi must be between {} and {}", DPI_RANGE.start(), DPI_RANGE.end())]
    BadDpi,
    /// The client went away before the whole file arrived; the job failed, nothing added.
    #[error("the PDF did not arrive whole: {0}")]
    BrokenOff(String),
    #[error(transparent)]
    Hold(#[from] HoldError),
    #[error(transparent)]
    Submit(#[from] quire_actors::runtime::SubmitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the object store failed: {0}")]
    Objects(#[from] ObjectError),
    /// The tools cannot run or the scratch folder failed: the node's fault, not the file's.
    #[error(transparent)]
    Tools(PdfError),
}

impl Intake {
    /// Imports the PDF arriving as `body` into `book`; answers the released job, running.
    pub async fn import_pdf<S, E>(
        self: &Arc<Self>,
        book: BookId,
        options: PdfOptions,
        body: S,
    ) -> Result<Job, PdfIntakeError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let dpi = options.dpi.unwrap_or(DEFAULT_DPI);
        if !DPI_RANGE.contains(&dpi) {
            return Err(PdfIntakeError::BadDpi);
        }
        let params = serde_json::json!({
            "trigger": "pdf",
            "mode": options.mode,
            "dpi": dpi,
            "first_page": options.first_page,
            "last_page": options.last_page,
            "then": options.then,
        });
        let held = HeldJob::hold(&self.runtime, book, JobKind::PdfImport, params).await?;
        let outcome = self.receive_and_add(&held, book, &options, dpi, body).await;
        match outcome {
            Ok(()) => Ok(held.release().await?),
            Err(e) => {
                let (code, message) = match &e {
                    PdfIntakeError::Refused { error, .. } => (error.code(), error.to_string()),
                    PdfIntakeError::TooLarge { .. } => ("PDF_TOO_LARGE", e.to_string()),
                    PdfIntakeError::TooManyPages { .. } => ("TOO_MANY_PAGES", e.to_string()),
                    PdfIntakeError::BookFull => ("BOOK_FULL", e.to_string()),
                    PdfIntakeError::BrokenOff(_) => ("UPLOAD_INCOMPLETE", e.to_string()),
                    _ => ("IMPORT_FAILED", e.to_string()),
                };
                let error = JobError {
                    code: code.to_owned(),
                    message,
                };
                let job = match held.abort(error).await {
                    Ok(job) => job,
                    Err(err) => {
                        tracing::error!(error = %err, "cannot end a refused import's job");
                        return Err(e);
                    }
                };
                Err(match e {
                    PdfIntakeError::Refused { error, .. } => PdfIntakeError::Refused {
                        error,
                        job: Box::new(job),
                    },
                    e => e,
                })
            }
        }
    }

    async fn receive_and_add<S, E>(
        &self,
        held: &HeldJob,
        book: BookId,
        options: &PdfOptions,
        dpi: u32,
        mut body: S,
    ) -> Result<(), PdfIntakeError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let job = held.job().clone();
        let lease = held.lease().clone();
        let files = &self.pdf.files;
        let scratch = files
            .scratch()
            .map_err(|e| PdfIntakeError::Tools(e.into()))?;
        let incoming = scratch.path().join("incoming.pdf");
        let limit = self.pdf_limits.max_file_bytes;
        let mut file = tokio::fs::File::create(&incoming)
            .await
            .map_err(|e| PdfIntakeError::Tools(e.into()))?;
        let mut received = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| PdfIntakeError::BrokenOff(e.to_string()))?;
            received += chunk.len() as u64;
            if received > limit {
                return Err(PdfIntakeError::TooLarge { limit });
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| PdfIntakeError::Tools(e.into()))?;
        }
        // A scratch file: the object store's copy is the durable one, so no fsync here.
        file.flush()
            .await
            .map_err(|e| PdfIntakeError::Tools(e.into()))?;
        drop(file);
        if received == 0 {
            return Err(PdfIntakeError::Refused {
                error: PdfError::NotPdf,
                job: Box::new(job),
            });
        }
        self.store
            .set_stage(&lease, "analyzing", self.clock.now_ms())
            .await?;
        let range = PageRange {
            first: options.first_page,
            last: options.last_page,
        };
        let password = options.password.as_ref().map(Password::expose);
        let analysis =
            match analyze(&self.pdf.tools, &incoming, password, range, scratch.path()).await {
                Ok(analysis) => analysis,
                Err(error) if error.is_input_error() => {
                    return Err(PdfIntakeError::Refused {
                        error,
                        job: Box::new(job),
                    });
                }
                Err(error) => return Err(PdfIntakeError::Tools(error)),
            };
        let count = analysis.last + 1 - analysis.first;
        if count > self.pdf_limits.max_pages {
            return Err(PdfIntakeError::TooManyPages {
                pages: count,
                limit: self.pdf_limits.max_pages,
            });
        }
        let start = self.store.last_page_no(book).await?.unwrap_or(0) + 1;
        if start + i64::from(count) - 1 > MAX_PAGE_NO {
            return Err(PdfIntakeError::BookFull);
        }
        let file_bytes = tokio::fs::metadata(&analysis.file)
            .await
            .map_err(|e| PdfIntakeError::Tools(e.into()))?
            .len();
        let import = PdfImport {
            job_id: job.id,
            book_id: book,
            file_bytes,
            pages: analysis.pages,
            first_page: analysis.first,
            last_page: analysis.last,
            mode: options.mode,
            dpi,
            encrypted: analysis.encrypted,
            outline: analysis.outline,
            labels: analysis.labels.clone(),
            created_at: self.clock.now_ms(),
        };
        self.objects
            .put_file(&import.source(), &analysis.file)
            .await?;
        let mut text = analysis.text.map(Vec::into_iter);
        let pages: Vec<NewPdfPage> = (analysis.first..=analysis.last)
            .enumerate()
            .map(|(i, pdf_page)| {
                let text_layer = text.as_mut().and_then(Iterator::next);
                let settled = settled(options.mode, text_layer.as_deref()).map(|r| r.to_value());
                NewPdfPage {
                    page_no: start + i as i64,
                    pdf_page,
                    image_id: ImageId::new(),
                    label: analysis
                        .labels
                        .get(pdf_page as usize - 1)
                        .cloned()
                        .flatten()
                        .filter(|l| l.len() <= 64),
                    text_layer,
                    settled,
                }
            })
            .collect();
        let added = self
            .store
            .add_pdf_import(&lease, &import, &pages, "extracting", self.clock.now_ms())
            .await;
        if let Err(e) = added {
            // No row names the stored file unless the commit is in doubt.
            if matches!(
                e,
                StoreError::WrongStatus { .. } | StoreError::Fenced { .. }
            ) {
                let _ = self.objects.delete(&import.source()).await;
            }
            return Err(e.into());
        }
        // The local copy its pages read first, without fetching it back.
        if let Err(e) = files.adopt(book, job.id, &analysis.file).await {
            tracing::warn!(error = %e, "cannot keep the PDF's local copy; its pages will fetch it");
        }
        tracing::info!(job_id = %job.id, book_id = %book, pages = count, bytes = file_bytes,
            "PDF stored and analysed");
        Ok(())
    }
}
