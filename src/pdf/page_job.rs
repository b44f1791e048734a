//! The `pdf_import` job kind: one item per page of the PDF. An item takes the page's text
//! layer where it is good (and the import's mode allows), else renders the page and OCRs
//! it as the `ocr` kind does; its result is the page's text, like an OCR item's.

use std::sync::Arc;

use async_trait::async_trait;
use quire_actors::ItemError;
use quire_actors::ports::{ItemContext, ItemHandler};
use serde_json::Value;

use super::import::ImportMode;
use super::{PdfPageError, PdfPages, TextQuality, judge_text};
use crate::ocr::OcrPages;
use crate::pages::{OcrResult, PageKind, TextSource};
use crate::store::Store;

/// A page's result when its text layer stands for it.
pub fn from_text_layer(text: String) -> OcrResult {
    OcrResult {
        text,
        confidence: None,
        engine: "text_layer".to_owned(),
        width: 0,
        height: 0,
        normalize_ms: 0,
        read_ms: 0,
        image: None,
        source: TextSource::TextLayer,
        text_layer: Some(TextQuality::Good),
    }
}

/// What the analysis's text pass already settles: the page's result, when `mode` takes the
/// text layer and it is good.
pub fn settled(mode: ImportMode, text_layer: Option<&str>) -> Option<OcrResult> {
    let text = text_layer?;
    (mode != ImportMode::Ocr && judge_text(text) == TextQuality::Good)
        .then(|| from_text_layer(text.to_owned()))
}

pub struct ImportPages {
    store: Arc<dyn Store>,
    pdf: Arc<PdfPages>,
    ocr: Arc<OcrPages>,
}

impl ImportPages {
    pub fn new(store: Arc<dyn Store>, pdf: Arc<PdfPages>, ocr: Arc<OcrPages>) -> Self {
        Self { store, pdf, ocr }
    }

    fn store_error(e: quire_actors::StoreError) -> ItemError {
        PdfPageError::Store(e).into_item_error()
    }

    async fn import_page(&self, item: &ItemContext) -> Result<OcrResult, ItemError> {
        item.may_start()?;
        let page = self
            .store
            .page(item.book_id, item.item_no)
            .await
            .map_err(Self::store_error)?
            .ok_or_else(|| {
                ItemError::terminal(
                    "PAGE_NOT_FOUND",
                    format!("the book has no page {} any more", item.item_no),
                )
            })?;
        let PageKind::Pdf {
            import,
            page: pdf_page,
        } = page.kind
        else {
            return Err(ItemError::terminal(
                "NOT_A_PDF_PAGE",
                format!(
                    "page {} is an uploaded image, not a page of a PDF",
                    item.item_no
                ),
            ));
        };
        let record = self
            .pdf
            .import(import)
            .await
            .map_err(PdfPageError::into_item_error)?;
        let quality = if record.mode == ImportMode::Ocr {
            None
        } else {
            let text = match self
                .store
                .text_layer(item.book_id, item.item_no)
                .await
                .map_err(Self::store_error)?
            {
                Some(text) => text,
                None => self
                    .pdf
                    .page_text(item.book_id, import, pdf_page)
                    .await
                    .map_err(PdfPageError::into_item_error)?,
            };
            let quality = judge_text(&text);
            if quality == TextQuality::Good {
                return Ok(from_text_layer(text));
            }
            if record.mode == ImportMode::Text {
                return Err(ItemError::terminal(
                    "NO_TEXT_LAYER",
                    format!(
                        "page {pdf_page} of the PDF has no usable text layer ({}); import it with mode `auto` or `ocr`",
                        serde_json::to_value(quality)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    ),
                ));
            }
            Some(quality)
        };
        let mut read = self.ocr.read_page(item).await?;
        read.text_layer = quality;
        Ok(read)
    }
}

#[async_trait]
impl ItemHandler for ImportPages {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        let result = self.import_page(item).await;
        match &result {
            Ok(r) => tracing::debug!(source = ?r.source, chars = r.text.len(), "page imported"),
            Err(e) => tracing::info!(class = ?e.class(), error = %e, "page not imported"),
        }
        result.map(|r| r.to_value())
    }

    /// A page that needs OCR calls the OCR engine: a 429 from it pauses its quota, which
    /// this kind shares.
    fn provider(&self) -> &str {
        ItemHandler::provider(&*self.ocr)
    }
}
