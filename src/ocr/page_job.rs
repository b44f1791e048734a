//! The `ocr` job kind: one item per page. An item reads the page as uploaded, normalizes it
//! (kept beside the source, as the image OCR saw), and runs the configured engine on it.

use std::sync::Arc;

use async_trait::async_trait;
use quire_actors::ItemError;
use quire_actors::ports::{ItemContext, ItemHandler};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::{DecodeBudget, OcrEngine, PixelLimit, plan};
use crate::objects::{ObjectError, ObjectStore};
use crate::pages::{OcrResult, PageKind, TextSource};
use crate::pdf::{PdfPageError, PdfPages};
use crate::store::PageStore;

pub struct OcrPages {
    /// Where each page's images are (its row names their image id).
    pages: Arc<dyn PageStore>,
    objects: Arc<dyn ObjectStore>,
    engine: Arc<dyn OcrEngine>,
    /// Recorded with each result: which engine read the page.
    engine_name: String,
    limit: PixelLimit,
    /// The node's memory for pages being decoded, and for each decoded page until the
    /// engine has read it.
    budget: Arc<DecodeBudget>,
    /// Pages being decoded or read at once: the engine's own concurrency. A job keeps more
    /// items in flight than that; without this bound they would all decode their scans at
    /// once, competing with the engine for the cores and holding their pixels in memory.
    slots: Semaphore,
    /// Pages of imported PDFs, rendered for OCR.
    pdf: Arc<PdfPages>,
}

/// The engine a node reads pages with: its name (recorded with each result) and how many
/// pages it reads at once.
pub struct EngineSetup {
    pub engine: Arc<dyn OcrEngine>,
    pub name: &'static str,
    pub concurrency: usize,
}

impl OcrPages {
    pub fn new(
        pages: Arc<dyn PageStore>,
        objects: Arc<dyn ObjectStore>,
        engine: EngineSetup,
        limit: PixelLimit,
        budget: Arc<DecodeBudget>,
        pdf: Arc<PdfPages>,
    ) -> Self {
        Self {
            pages,
            objects,
            engine: engine.engine,
            engine_name: engine.name.to_owned(),
            limit,
            budget,
            slots: Semaphore::new(engine.concurrency.max(1)),
            pdf,
        }
    }

    /// Reads the page `item` names: its image decoded and normalized (a page of a PDF
    /// rendered first, at its import's resolution), then the engine.
    pub(crate) async fn read_page(&self, item: &ItemContext) -> Result<OcrResult, ItemError> {
        // A job cancelled while this page waited for its slot reads no more pages.
        let _slot = item.slot(&self.slots).await?;
        let page = self
            .pages
            .page(item.book_id, item.item_no)
            .await
            .map_err(|e| {
                if e.is_retryable() {
                    ItemError::retryable("STORE_UNAVAILABLE", e.to_string())
                } else {
                    ItemError::fatal("STORE_FAILED", e.to_string())
                }
            })?
            .ok_or_else(|| {
                ItemError::terminal(
                    "PAGE_NOT_FOUND",
                    format!("the book has no page {} any more", item.item_no),
                )
            })?;
        let images = page.images();
        let source = match page.kind {
            PageKind::Image(_) => self
                .objects
                .get(&images.source())
                .await
                .map_err(storage_error)?,
            PageKind::Pdf { import, page } => {
                let rendered = self
                    .pdf
                    .render(item.book_id, import, page, None)
                    .await
                    .map_err(PdfPageError::into_item_error)?;
                bytes::Bytes::from(rendered.png)
            }
        };
        let limit = self.limit;
        let started = std::time::Instant::now();
        // From the header alone: the size, and what decoding it will hold in memory.
        let plan = plan(&source, limit)?;
        let held = tokio::select! {
            held = self.budget.reserve(plan.cost()) => held?,
            () = item.stop.clone().stopping() => return Err(ItemError::Stopped),
        };
        // Decoding a scan is CPU work: off the runtime's thread. The reservation goes with
        // it, so a job that stops meanwhile cannot free bytes the decode still holds.
        let (page, held) = tokio::task::spawn_blocking(move || {
            let mut held = held;
            let page = plan.decode(source, limit);
            if let Ok(page) = &page {
                held.shrink_to(page.png.len() as u64);
            }
            (page, held)
        })
        .await
        .map_err(|e| ItemError::retryable("WORKER_PANIC", e.to_string()))?;
        let page = page?;
        // Under this attempt's own key: the fenced commit of the result publishes it.
        let image = images.normalized_by(item.job_id, item.attempt);
        self.objects
            .put(&image, page.png.clone())
            .await
            .map_err(storage_error)?;
        let normalized = started.elapsed();
        let read = self.engine.recognize(&page).await?;
        drop(held);
        Ok(OcrResult {
            text: read.text,
            confidence: read.confidence,
            engine: self.engine_name.clone(),
            width: page.width,
            height: page.height,
            normalize_ms: normalized.as_millis() as u64,
            read_ms: (started.elapsed() - normalized).as_millis() as u64,
            image: Some(image.as_str().to_owned()),
            source: TextSource::Ocr,
            text_layer: None,
        })
    }
}

/// A missing source is this page's problem; an unreachable store may pass; anything else
/// (denied, no such bucket) stops the job until the settings are fixed.
fn storage_error(e: ObjectError) -> ItemError {
    match e {
        ObjectError::NotFound(key) => ItemError::terminal(
            "SOURCE_MISSING",
            format!("the uploaded image `{key}` is not in the object store"),
        ),
        e @ ObjectError::Unavailable(_) => {
            ItemError::retryable("STORAGE_UNAVAILABLE", e.to_string())
        }
        e @ ObjectError::Other(_) => ItemError::fatal("STORAGE_FAILED", e.to_string()),
    }
}

#[async_trait]
impl ItemHandler for OcrPages {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        // Within the pool's item span (job, book, page, attempt).
        let result = self.read_page(item).await;
        match &result {
            Ok(r) => tracing::debug!(chars = r.text.len(), confidence = ?r.confidence,
                normalize_ms = r.normalize_ms, read_ms = r.read_ms, "page read"),
            Err(e) => tracing::info!(class = ?e.class(), error = %e, "page not read"),
        }
        result.map(|r| r.to_value())
    }

    fn provider(&self) -> &str {
        self.engine.provider()
    }
}
