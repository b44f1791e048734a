//! [`Upload`]: one upload session under a [`HeldJob`], shared by the HTTP upload and
//! `quire ingest`.
//!
//! Each file is checked by its bytes, written to the object store under a new image id, then
//! gets its page row and its OCR item (counted in the job's total) in one transaction. The
//! ends: [`Upload::finish`] releases the job and OCR starts; [`Upload::take_back`] (a refusal)
//! removes every page it added, then their images; [`Upload::break_off`] (the client went
//! away) keeps what arrived whole and fails the job naming it; a job cancelled while files
//! arrive ([`IntakeError::Ended`]) keeps the pages already stored, with their images.

use std::sync::Arc;

use bytes::Bytes;
use quire_actors::model::JobError;
use quire_actors::runtime::SubmitError;
use quire_actors::{BookId, Job, JobId, JobKind, JobStatus, StoreError};
use serde::Serialize;
use serde_json::json;

use super::Intake;
use super::held_job::{HeldJob, HoldError};
use crate::http::code::Code;
use crate::objects::ObjectError;
use crate::ocr::{ImageKind, sniff};
use crate::pages::{ImageId, MAX_PAGE_NO, NewPage, PageImages};

/// How an upload numbers its files.
pub struct Numbering {
    /// The first file's page number; default: after the book's last page. With it, a page
    /// that exists is refused, not replaced.
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

/// A file refused: the upload keeps nothing it carried.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the upload has no files; send one `files` part per image")]
    NoFiles,
    #[error("at most {max} files fit in one upload")]
    TooManyFiles { max: u32 },
    /// The upload's files would be numbered past [`MAX_PAGE_NO`] (appended after a book
    /// that ends there, or too many after `start_at`).
    #[error("page numbers end at {MAX_PAGE_NO}: this file would be page {page_no}")]
    PastLastPageNo { page_no: i64 },
    #[error(
        "the book already has a page {page_no} ({label} would be it); to replace it, delete the page first"
    )]
    PageExists { page_no: i64, label: String },
    #[error("{label} is larger than {limit} bytes, the most one page may have")]
    FileTooLarge {
        label: String,
        index: u32,
        limit: u64,
    },
    #[error("{label} is empty")]
    EmptyFile { label: String, index: u32 },
    #[error("{label} is not a PNG, JPEG, TIFF or WebP image (judged by its bytes)")]
    UnsupportedImage { label: String, index: u32 },
}

impl Refusal {
    /// The stable code the API answers and the job's error names.
    pub fn code(&self) -> Code {
        match self {
            Self::NoFiles => Code::NoFiles,
            Self::TooManyFiles { .. } => Code::TooManyFiles,
            Self::PastLastPageNo { .. } => Code::BookFull,
            Self::PageExists { .. } => Code::PageExists,
            Self::FileTooLarge { .. } => Code::FileTooLarge,
            Self::EmptyFile { .. } => Code::EmptyFile,
            Self::UnsupportedImage { .. } => Code::UnsupportedImage,
        }
    }
}

/// Why an upload did not end as asked.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The job ended while files arrived (cancelled, or failed by a takeover). The pages
    /// stored before stay, with their images.
    #[error("upload job {job_id} is {status}; the {} page(s) stored before stay", stored.len())]
    Ended {
        job_id: JobId,
        status: JobStatus,
        stored: Vec<StoredPage>,
    },
    /// The client went away; what arrived whole is kept and the job failed naming it.
    #[error("{message}")]
    BrokenOff {
        job_id: JobId,
        message: String,
        stored: Vec<StoredPage>,
    },
    #[error(transparent)]
    Hold(#[from] HoldError),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the object store failed: {0}")]
    Objects(#[from] ObjectError),
    /// A task storing a page died (it panicked); see the server log.
    #[error("storing a page failed: {0}")]
    TaskFailed(String),
}

impl IntakeError {
    /// The store refused a write because the job ended: that, as [`Self::Ended`].
    fn from_store(e: StoreError) -> Self {
        match e {
            StoreError::WrongStatus { job_id, status } => IntakeError::Ended {
                job_id,
                status,
                stored: Vec::new(),
            },
            e => e.into(),
        }
    }

    /// Whether the write was refused for certain (nothing was written): its image can go.
    fn refused_for_certain(e: &StoreError) -> bool {
        matches!(
            e,
            StoreError::WrongStatus { .. }
                | StoreError::Fenced { .. }
                | StoreError::JobNotFound(_)
                | StoreError::BookNotFound(_)
                | StoreError::BookBusy { .. }
        )
    }
}

/// One file being written: its image, then its page row and item. `'static`, so the
/// HTTP upload stores one file while the next arrives.
pub struct PageWrite {
    intake: Arc<Intake>,
    lease: quire_actors::model::Lease,
    book: BookId,
    page: NewPage,
    bytes: Bytes,
}

impl PageWrite {
    pub async fn run(self) -> Result<StoredPage, IntakeError> {
        let Self {
            intake,
            lease,
            book,
            page,
            bytes,
        } = self;
        let images = PageImages {
            book,
            page_no: page.page_no,
            image_id: Some(page.image_id.clone()),
        };
        intake.objects.put(&images.source(), bytes).await?;
        if let Err(e) = intake
            .store
            .add_page(&lease, &page, intake.clock.now_ms())
            .await
        {
            // No row names this image: it goes (a row whose commit is in doubt keeps it;
            // the upload's take-back deletes it once the rows are gone).
            if IntakeError::refused_for_certain(&e) {
                delete_images(&intake, &images).await;
            }
            return Err(IntakeError::from_store(e));
        }
        Ok(StoredPage {
            page_no: page.page_no,
            original_name: page.original_name,
            content_type: page.kind.mime(),
            bytes: page.bytes,
        })
    }
}

async fn delete_images(intake: &Intake, images: &PageImages) {
    if let Err(e) = images.delete(intake.objects.as_ref()).await {
        tracing::error!(book_id = %images.book, page_no = images.page_no, error = %e,
            "cannot delete the images no page names");
    }
}

/// One upload under its held job.
pub struct Upload {
    intake: Arc<Intake>,
    held: HeldJob,
    book: BookId,
    next: i64,
    /// Page numbers were given: a page that exists is refused, not replaced.
    explicit: bool,
    max_files: u32,
    /// Files accepted so far.
    accepted: u32,
    /// Images written (or being written), whether or not their row committed.
    written: Vec<PageImages>,
    stored: Vec<StoredPage>,
}

impl Upload {
    /// Takes the book's JobLock for an OCR job (`trigger` recorded in its params) and
    /// numbers the files from `numbering`.
    pub async fn begin(
        intake: &Arc<Intake>,
        book: BookId,
        numbering: &Numbering,
        trigger: &str,
    ) -> Result<Upload, IntakeError> {
        let held = HeldJob::hold(
            &intake.runtime,
            book,
            JobKind::Ocr,
            json!({ "trigger": trigger }),
        )
        .await?;
        let next = match numbering.start_at {
            Some(n) => n,
            None => match intake.store.last_page_no(book).await {
                Ok(last) => last.unwrap_or(0) + 1,
                Err(e) => {
                    let error = JobError {
                        code: "UPLOAD_REJECTED".to_owned(),
                        message: e.to_string(),
                    };
                    if let Err(err) = held.abort(error).await {
                        tracing::error!(error = %err, "cannot end a refused upload's job");
                    }
                    return Err(e.into());
                }
            },
        };
        Ok(Upload {
            intake: intake.clone(),
            held,
            book,
            next,
            explicit: numbering.start_at.is_some(),
            max_files: numbering.max_files,
            accepted: 0,
            written: Vec::new(),
            stored: Vec::new(),
        })
    }

    pub fn job(&self) -> &Job {
        self.held.job()
    }

    pub fn max_file_bytes(&self) -> u64 {
        self.intake.max_file_bytes
    }

    /// Files accepted so far (their 1-based index is this plus one).
    pub fn accepted(&self) -> u32 {
        self.accepted
    }

    /// The page number the next file gets, once it may come: refused past `max_files`, past
    /// [`MAX_PAGE_NO`], or (numbered explicitly) onto a page that exists.
    pub async fn next_page_no(&self, label: &str) -> Result<i64, IntakeError> {
        if self.accepted >= self.max_files {
            return Err(Refusal::TooManyFiles {
                max: self.max_files,
            }
            .into());
        }
        let page_no = self.next;
        if page_no > MAX_PAGE_NO {
            return Err(Refusal::PastLastPageNo { page_no }.into());
        }
        if self.explicit
            && !self
                .intake
                .store
                .existing_pages(self.book, &[page_no])
                .await?
                .is_empty()
        {
            return Err(Refusal::PageExists {
                page_no,
                label: label.to_owned(),
            }
            .into());
        }
        Ok(page_no)
    }

    /// Numbers the following files from `page_no` on (`quire ingest` skips stored pages).
    pub fn renumber(&mut self, page_no: i64) {
        self.next = page_no;
    }

    /// Checks a whole file by its bytes: not empty, not too large, an image.
    pub fn check(&self, bytes: &[u8], label: &str) -> Result<ImageKind, Refusal> {
        let index = self.accepted + 1;
        if bytes.is_empty() {
            return Err(Refusal::EmptyFile {
                label: label.to_owned(),
                index,
            });
        }
        if bytes.len() as u64 > self.intake.max_file_bytes {
            return Err(Refusal::FileTooLarge {
                label: label.to_owned(),
                index,
                limit: self.intake.max_file_bytes,
            });
        }
        sniff(bytes).ok_or_else(|| Refusal::UnsupportedImage {
            label: label.to_owned(),
            index,
        })
    }

    /// Accepts a checked file as page `page_no` (from [`Self::next_page_no`]) and returns
    /// the write that stores it; run it, then count its page with [`Self::stored`].
    pub fn accept(
        &mut self,
        page_no: i64,
        kind: ImageKind,
        original_name: Option<String>,
        bytes: Bytes,
    ) -> PageWrite {
        let page = NewPage {
            page_no,
            kind,
            bytes: bytes.len() as u64,
            original_name,
            image_id: ImageId::new(),
        };
        self.written.push(PageImages {
            book: self.book,
            page_no,
            image_id: Some(page.image_id.clone()),
        });
        self.accepted += 1;
        self.next = page_no + 1;
        PageWrite {
            intake: self.intake.clone(),
            lease: self.held.lease().clone(),
            book: self.book,
            page,
            bytes,
        }
    }

    /// Counts a page its write stored.
    pub fn stored(&mut self, page: StoredPage) {
        self.stored.push(page);
    }

    pub fn stored_pages(&self) -> &[StoredPage] {
        &self.stored
    }

    /// One whole file, checked and stored (no pipelining: `quire ingest`).
    pub async fn add(
        &mut self,
        original_name: Option<String>,
        bytes: Bytes,
    ) -> Result<StoredPage, IntakeError> {
        let label = original_name
            .clone()
            .unwrap_or_else(|| format!("file {}", self.accepted + 1));
        let page_no = self.next_page_no(&label).await?;
        let kind = self.check(&bytes, &label)?;
        let page = self
            .accept(page_no, kind, original_name, bytes)
            .run()
            .await?;
        self.stored(page.clone());
        Ok(page)
    }

    /// Releases the job: OCR starts on the pages stored.
    pub async fn finish(self) -> Result<(Job, Vec<StoredPage>), IntakeError> {
        if self.stored.is_empty() {
            let e = IntakeError::Refused(Refusal::NoFiles);
            return Err(self.take_back(e).await);
        }
        let (book, count) = (self.book, self.stored.len());
        let Upload { held, stored, .. } = self;
        match held.release().await {
            Ok(job) => {
                tracing::info!(job_id = %job.id, book_id = %book, pages = count, "upload stored");
                Ok((job, stored))
            }
            Err(SubmitError::Store(StoreError::WrongStatus { job_id, status })) => {
                Err(IntakeError::Ended {
                    job_id,
                    status,
                    stored,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Ends an upload after `e`: a job that ended elsewhere keeps its pages
    /// ([`IntakeError::Ended`], now listing them); anything else is a refusal and the
    /// upload is taken back. Returns the error to answer.
    pub async fn fail(self, e: IntakeError) -> IntakeError {
        match e {
            IntakeError::Ended { job_id, status, .. } => {
                let stored = self.stored.clone();
                tracing::info!(%job_id, %status, pages = stored.len(), "upload stopped: its job ended");
                self.held.ended_elsewhere().await;
                IntakeError::Ended {
                    job_id,
                    status,
                    stored,
                }
            }
            e => self.take_back(e).await,
        }
    }

    /// A refused upload keeps nothing: its pages and their items go, then their images, and
    /// its job fails `UPLOAD_REJECTED` saying why. If the pages cannot be taken back, they
    /// stay with their images (and the job fails all the same); if the job ended meanwhile
    /// (a cancel), they stay and the answer is [`IntakeError::Ended`].
    pub async fn take_back(self, e: IntakeError) -> IntakeError {
        let code = match &e {
            IntakeError::Refused(r) => r.code().name(),
            _ => "UPLOAD_FAILED",
        };
        let message = format!("{code}: {e}");
        self.undo(message).await.unwrap_or(e)
    }

    /// A refusal the caller judged (a malformed body, an unknown part), taken back as
    /// [`Self::take_back`] does; its job's error names `code` and `message`.
    pub async fn take_back_for(self, code: &str, message: &str) -> Option<IntakeError> {
        self.undo(format!("{code}: {message}")).await
    }

    /// Takes the upload back and fails its job with `message`; `Some(Ended)` if the job had
    /// ended already, and the pages stay.
    async fn undo(self, message: String) -> Option<IntakeError> {
        let now = self.intake.clock.now_ms();
        match self
            .intake
            .store
            .remove_added_pages(self.held.lease(), now)
            .await
        {
            // No row of this upload is left: no page names any of its images.
            Ok(_) => {
                for images in &self.written {
                    delete_images(&self.intake, images).await;
                }
            }
            Err(StoreError::WrongStatus { job_id, status }) => {
                self.held.ended_elsewhere().await;
                return Some(IntakeError::Ended {
                    job_id,
                    status,
                    stored: self.stored,
                });
            }
            Err(err) => {
                tracing::error!(job_id = %self.held.job().id, error = %err,
                    "cannot take back the pages of a refused upload; they stay with their images");
            }
        }
        let error = JobError {
            code: "UPLOAD_REJECTED".to_owned(),
            message,
        };
        let id = self.held.job().id;
        if let Err(err) = self.held.abort(error).await {
            tracing::error!(job_id = %id, error = %err, "cannot end a refused upload's job");
        }
        None
    }

    /// An upload that broke off keeps what arrived whole; its job fails naming those pages.
    pub async fn break_off(self, why: &str) -> IntakeError {
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
        let job_id = self.held.job().id;
        tracing::warn!(%job_id, book_id = %self.book, "{message}");
        let error = JobError {
            code: "UPLOAD_INCOMPLETE".to_owned(),
            message: message.clone(),
        };
        let stored = self.stored;
        match self.held.abort(error).await {
            Ok(_) => IntakeError::BrokenOff {
                job_id,
                message,
                stored,
            },
            Err(SubmitError::Store(StoreError::WrongStatus { job_id, status })) => {
                IntakeError::Ended {
                    job_id,
                    status,
                    stored,
                }
            }
            Err(e) => e.into(),
        }
    }
}
