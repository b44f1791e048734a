//! A PDF import as stored: its options, what its analysis found, and its pages.

use quire_actors::{BookId, JobId};
use serde::{Deserialize, Serialize};

use super::OutlineEntry;
use crate::pages::ImageId;

/// How each page's text is found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// The text layer where it is good, else the page rendered and OCR'd.
    #[default]
    Auto,
    /// The text layer only: a page without a usable one fails `NO_TEXT_LAYER`.
    Text,
    /// Every page rendered and OCR'd, whatever its text layer.
    Ocr,
}

impl ImportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Text => "text",
            Self::Ocr => "ocr",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Auto, Self::Text, Self::Ocr]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// The resolution pages are rendered at for OCR, by default.
pub const DEFAULT_DPI: u32 = 300;
/// The resolutions an import may ask for.
pub const DPI_RANGE: std::ops::RangeInclusive<u32> = 72..=600;

/// An import as its job's row beside it records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PdfImport {
    pub job_id: JobId,
    pub book_id: BookId,
    /// The stored file's size (the decrypted copy's, for an encrypted file).
    pub file_bytes: u64,
    /// Pages in the file.
    pub pages: u32,
    pub first_page: u32,
    pub last_page: u32,
    pub mode: ImportMode,
    pub dpi: u32,
    pub encrypted: bool,
    pub outline: Vec<OutlineEntry>,
    /// One per page of the file where it labels its pages; empty otherwise.
    pub labels: Vec<Option<String>>,
    pub created_at: i64,
}

impl PdfImport {
    /// The stored file.
    pub fn source(&self) -> crate::objects::ObjectKey {
        crate::objects::ObjectKey::pdf_source(self.book_id, self.job_id)
    }
}

/// One page an import adds to its book.
#[derive(Clone, Debug)]
pub struct NewPdfPage {
    pub page_no: i64,
    /// Its page in the file, 1-based.
    pub pdf_page: u32,
    /// Where its rendered images go.
    pub image_id: ImageId,
    pub label: Option<String>,
    /// The text layer the analysis read, if it read one.
    pub text_layer: Option<String>,
    /// The page's item result when the analysis settled it (a good text layer): its item
    /// is written completed, and no item runs for it.
    pub settled: Option<serde_json::Value>,
}
