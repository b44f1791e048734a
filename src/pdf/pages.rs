//! [`PdfPages`]: the pages of stored PDFs, read on demand: a page's text layer, and the page
//! rendered to an image (for OCR, and for an admin looking at it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use quire_actors::{BookId, JobId, StoreError};

use super::import::PdfImport;
use super::{PdfError, PdfFiles, PdfTools, Rendered};
use crate::objects::ObjectError;
use crate::store::ImportStore;

/// The resolution a page is rendered at for display, when it has no OCR image.
pub const PREVIEW_DPI: u32 = 100;

/// Why a page of a stored PDF could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PdfPageError {
    #[error(transparent)]
    Pdf(#[from] PdfError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the imported PDF cannot be fetched: {0}")]
    Objects(#[from] ObjectError),
    #[error("import {0} has no record")]
    NoImport(JobId),
}

impl PdfPageError {
    pub fn into_item_error(self) -> quire_actors::ItemError {
        use quire_actors::ItemError;
        match self {
            Self::Pdf(e) => e.into_item_error(),
            Self::Store(e) if e.is_retryable() => {
                ItemError::retryable("STORE_UNAVAILABLE", e.to_string())
            }
            Self::Store(e) => ItemError::fatal("STORE_FAILED", e.to_string()),
            Self::Objects(ObjectError::NotFound(key)) => ItemError::terminal(
                "SOURCE_MISSING",
                format!("the imported PDF `{key}` is not in the object store"),
            ),
            Self::Objects(e @ ObjectError::Unavailable(_)) => {
                ItemError::retryable("STORAGE_UNAVAILABLE", e.to_string())
            }
            Self::Objects(e) => ItemError::fatal("STORAGE_FAILED", e.to_string()),
            Self::NoImport(job) => ItemError::terminal(
                "IMPORT_NOT_FOUND",
                format!("the PDF import {job} has no record"),
            ),
        }
    }
}

pub struct PdfPages {
    pub tools: PdfTools,
    pub files: Arc<PdfFiles>,
    imports: Arc<dyn ImportStore>,
    /// The most pixels a rendered page may have (`upload.max_pixels`).
    max_pixels: u64,
    /// Import records, read once: they never change.
    known: Mutex<HashMap<JobId, Arc<PdfImport>>>,
}

impl PdfPages {
    pub fn new(
        tools: PdfTools,
        files: Arc<PdfFiles>,
        imports: Arc<dyn ImportStore>,
        max_pixels: u64,
    ) -> Self {
        Self {
            tools,
            files,
            imports,
            max_pixels,
            known: Mutex::new(HashMap::new()),
        }
    }

    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    /// The import's record.
    pub async fn import(&self, import: JobId) -> Result<Arc<PdfImport>, PdfPageError> {
        let cached = self
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&import)
            .cloned();
        if let Some(known) = cached {
            return Ok(known);
        }
        let record = self
            .imports
            .pdf_import(import)
            .await?
            .ok_or(PdfPageError::NoImport(import))?;
        let record = Arc::new(record);
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(import, record.clone());
        Ok(record)
    }

    async fn local(
        &self,
        book: BookId,
        import: &PdfImport,
    ) -> Result<std::path::PathBuf, PdfPageError> {
        Ok(self
            .files
            .local(book, import.job_id, &import.source())
            .await?)
    }

    /// Renders page `page` of `import` at `dpi` (default: the import's), within the pixel
    /// limit.
    pub async fn render(
        &self,
        book: BookId,
        import: JobId,
        page: u32,
        dpi: Option<u32>,
    ) -> Result<Rendered, PdfPageError> {
        let record = self.import(import).await?;
        let file = self.local(book, &record).await?;
        let scratch = self.files.scratch().map_err(PdfError::Io)?;
        let dpi = dpi.unwrap_or(record.dpi);
        Ok(self
            .tools
            .render(&file, page, dpi, self.max_pixels, scratch.path())
            .await?)
    }

    /// The text layer of one page, read on its own (when the analysis's one pass failed).
    pub async fn page_text(
        &self,
        book: BookId,
        import: JobId,
        page: u32,
    ) -> Result<String, PdfPageError> {
        let record = self.import(import).await?;
        let file = self.local(book, &record).await?;
        let limit = self.tools.settings().page_timeout;
        let mut text = self
            .tools
            .text_layer(&file, page, Some(page), limit)
            .await?;
        Ok(text.pop().unwrap_or_default())
    }
}
