//! PDF books: what Quire reads from a PDF, each step a process of poppler's or qpdf's tools
//! (Debian's `poppler-utils` and `qpdf`) that is killed at its time limit. A malicious or
//! broken file can hang or crash a tool, never the node; no PDF parser runs in-process.
//!
//! # Layout
//!
//! - [`tools`]: [`PdfTools`], one method per tool call (page count, encryption, decrypting,
//!   outline and page labels, the text layer of a range, a page's size, rendering a page).
//! - [`analysis`]: [`Analysis`], what the `analyzing` stage learns of a file (its pages,
//!   outline, labels, text layer), and [`TextQuality`], whether a page's text layer is good
//!   enough to stand for the page.
//! - [`files`]: [`PdfFiles`], this node's local copies of stored PDFs (the tools read files),
//!   fetched once per import and removed when the import ends.
//!
//! Errors are one [`PdfError`]: the file's own faults (`INVALID_PDF`, `CORRUPTED_FILE`,
//! `ENCRYPTED_PDF`, `UNSUPPORTED_FORMAT`) end an import at once, without retries; a tool
//! that times out or fails on one page fails that page.

pub mod analysis;
pub mod files;
pub mod import;
pub mod page_job;
pub mod pages;
pub mod report;
pub mod tools;

use std::time::Duration;

use quire_actors::ItemError;

pub use analysis::{Analysis, OutlineEntry, TextQuality, judge_text};
pub use files::PdfFiles;
pub use page_job::ImportPages;
pub use pages::{PdfPageError, PdfPages};
pub use tools::{PdfTools, PdfToolsSettings, Rendered};

/// Why a PDF (or one of its pages) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the file is not a PDF (no %PDF- header in its first 1024 bytes)")]
    NotPdf,
    #[error("the PDF is damaged beyond repair: {0}")]
    Corrupted(String),
    #[error("the PDF is encrypted; send its password (the `password` option)")]
    PasswordNeeded,
    #[error("the password does not open this PDF")]
    WrongPassword,
    #[error("the PDF cannot be imported: {0}")]
    Unsupported(String),
    /// A page outside the file, or a range that selects none.
    #[error("{0}")]
    BadRange(String),
    #[error("{what} took longer than {limit:?} and was stopped")]
    TimedOut { what: String, limit: Duration },
    #[error(
        "the PDF tool `{tool}` cannot be run ({reason}); install poppler-utils and qpdf or set pdf.{setting}"
    )]
    ToolMissing {
        tool: String,
        setting: &'static str,
        reason: String,
    },
    #[error("`{tool}` failed on the file: {message}")]
    ToolFailed { tool: String, message: String },
    /// The page would need more pixels than the node allows even at the lowest resolution.
    #[error(
        "page {page} is {width_in:.1} x {height_in:.1} in: more than {limit} pixels even at {dpi} dpi"
    )]
    PageTooLarge {
        page: u32,
        width_in: f64,
        height_in: f64,
        dpi: u32,
        limit: u64,
    },
    #[error("PDF scratch files: {0}")]
    Io(#[from] std::io::Error),
}

impl PdfError {
    /// The stable code jobs and answers carry.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotPdf => "INVALID_PDF",
            Self::Corrupted(_) => "CORRUPTED_FILE",
            Self::PasswordNeeded | Self::WrongPassword => "ENCRYPTED_PDF",
            Self::Unsupported(_) => "UNSUPPORTED_FORMAT",
            Self::BadRange(_) => "INVALID_PAGE_RANGE",
            Self::TimedOut { .. } => "TIMEOUT",
            Self::ToolMissing { .. } => "PDF_TOOLS_MISSING",
            Self::ToolFailed { .. } => "PDF_TOOL_FAILED",
            Self::PageTooLarge { .. } => "PAGE_TOO_LARGE",
            Self::Io(_) => "PDF_IO",
        }
    }

    /// The file itself is at fault: retrying changes nothing, the import ends.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Self::NotPdf
                | Self::Corrupted(_)
                | Self::PasswordNeeded
                | Self::WrongPassword
                | Self::Unsupported(_)
                | Self::BadRange(_)
        )
    }

    /// As the outcome of one page's item: a hung or crashed tool may pass on a second try;
    /// a page too large or a damaged file will not; missing tools stop the job until fixed.
    pub fn into_item_error(self) -> ItemError {
        let code = self.code();
        match self {
            Self::TimedOut { .. } | Self::ToolFailed { .. } | Self::Io(_) => {
                ItemError::retryable(code, self.to_string())
            }
            Self::ToolMissing { .. } => ItemError::fatal(code, self.to_string()),
            e => ItemError::terminal(code, e.to_string()),
        }
    }
}
