//! Intake: page images entering a book, the one path the HTTP upload and `quire ingest`
//! share.
//!
//! # Layout
//!
//! - [`held_job`]: [`HeldJob`], the upload's hold on the book's JobLock. Every way out of an
//!   upload ends it: released, aborted, or (dropped without either: a panic, an early return)
//!   failed `UPLOAD_INTERRUPTED` by its `Drop`.
//! - [`upload`]: [`Upload`], one upload session: numbering, checks of each file by its
//!   bytes, each image written under its own [`ImageId`](crate::pages::ImageId) before its
//!   page row and item, and the ends (finished, taken back, broken off, cancelled) with
//!   their typed errors ([`IntakeError`]).
//!
//! - [`pdf`]: a PDF as one import: streamed to disk, analysed, stored, then its pages and
//!   their items added in one transaction ([`pdf::PdfOptions`], [`pdf::PdfIntakeError`]).
//!
//! Invariant: no page row ever outlives its image. An image is written before its row, and
//! deleted only once no row can name it: its own row was never written (refused), or the
//! rows of the upload were taken back.

pub mod held_job;
pub mod pdf;
pub mod upload;

use std::sync::Arc;

use quire_actors::RuntimeHandle;
use quire_actors::ports::Clock;

pub use held_job::HeldJob;
pub use upload::{IntakeError, Numbering, PageWrite, Refusal, StoredPage, Upload};

use crate::objects::ObjectStore;
use crate::store::Store;

/// What an upload needs, built once per process and shared.
pub struct Intake {
    pub store: Arc<dyn Store>,
    pub objects: Arc<dyn ObjectStore>,
    pub runtime: RuntimeHandle,
    pub clock: Arc<dyn Clock>,
    /// Largest page image accepted, in bytes (`upload.max_file_bytes`).
    pub max_file_bytes: u64,
    /// Pages of stored PDFs, and the tools that read them.
    pub pdf: Arc<crate::pdf::PdfPages>,
    /// How large a PDF may be and how many pages it may bring (`[pdf]`).
    pub pdf_limits: crate::config::PdfSettings,
}
