//! Page images and OCR: normalization of uploaded images, and OCR engines behind one port.
//!
//! Decoding holds memory within one node-wide [`DecodeBudget`]. Failures are the runtime's
//! [`ItemError`]s, classified here once: a corrupt or oversized image (in pixels, or in the
//! memory its decode needs) or an empty page is terminal for that page; a timeout or an engine crash is
//! retryable; a missing engine is fatal for the job and names the setting to fix.

mod decode_budget;
mod image_check;
mod page_job;
mod png_rows;
mod tesseract;
mod vision;

use async_trait::async_trait;
use quire_actors::ItemError;

pub use decode_budget::{DecodeBudget, MAX_DECODE_BUDGET, Reservation};
pub use image_check::{
    DecodePlan, ImageKind, ImageProblem, NormalizedPage, PixelLimit, normalize, normalize_whole,
    plan, sniff,
};
pub use page_job::{EngineSetup, OcrPages};
pub use tesseract::Tesseract;
pub use vision::{VisionEngine, VisionError, VisionSettings};

/// What an engine read on a page.
#[derive(Clone, Debug, PartialEq)]
pub struct OcrText {
    pub text: String,
    /// Mean word confidence in [0, 1], where the engine gives one.
    pub confidence: Option<f32>,
}

/// A place in one of OCR's bounded pools; a closed pool is a shutdown, retried elsewhere.
pub(crate) async fn slot(
    pool: &tokio::sync::Semaphore,
) -> Result<tokio::sync::SemaphorePermit<'_>, ItemError> {
    pool.acquire()
        .await
        .map_err(|_| ItemError::retryable("SHUTTING_DOWN", "the OCR pool is closed"))
}

#[async_trait]
pub trait OcrEngine: Send + Sync + 'static {
    /// Reads one normalized page.
    async fn recognize(&self, page: &NormalizedPage) -> Result<OcrText, ItemError>;

    /// Who answers, as one rate-limit quota (see `ItemHandler::provider`).
    fn provider(&self) -> &str;
}
