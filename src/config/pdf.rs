//! `[pdf]`: PDF imports' limits and tools.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// PDF imports (`[pdf]`): poppler's and qpdf's tools, each call a process of its own.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PdfSettings {
    /// Largest PDF accepted, in bytes (larger: 413). The file is streamed to disk and to the
    /// object store, never held in memory.
    pub max_file_bytes: u64,
    /// Most pages one import takes.
    pub max_pages: u32,
    /// Longest one call on one page may take (its text, rendering it): retryable
    /// `TIMEOUT` past it.
    pub page_timeout_ms: u64,
    /// Longest one call on the whole file may take (counting pages, the outline, the text
    /// layer in one pass).
    pub file_timeout_ms: u64,
    /// Where this node keeps local copies of imported PDFs and scratch files; empty: a
    /// `quire-pdf` folder in the system's temporary folder. Each node uses a folder of its
    /// own inside it, emptied when it starts.
    pub work_dir: String,
    pub qpdf_binary: String,
    pub pdftotext_binary: String,
    pub pdftoppm_binary: String,
    pub pdfinfo_binary: String,
}

impl Default for PdfSettings {
    fn default() -> Self {
        Self {
            max_file_bytes: 2 << 30,
            max_pages: 10_000,
            page_timeout_ms: 120_000,
            file_timeout_ms: 600_000,
            work_dir: String::new(),
            qpdf_binary: "qpdf".to_owned(),
            pdftotext_binary: "pdftotext".to_owned(),
            pdftoppm_binary: "pdftoppm".to_owned(),
            pdfinfo_binary: "pdfinfo".to_owned(),
        }
    }
}

impl PdfSettings {
    pub fn tools(&self) -> crate::pdf::PdfToolsSettings {
        crate::pdf::PdfToolsSettings {
            qpdf: self.qpdf_binary.clone().into(),
            pdftotext: self.pdftotext_binary.clone().into(),
            pdftoppm: self.pdftoppm_binary.clone().into(),
            pdfinfo: self.pdfinfo_binary.clone().into(),
            page_timeout: Duration::from_millis(self.page_timeout_ms),
            file_timeout: Duration::from_millis(self.file_timeout_ms),
        }
    }

    /// This node's folder for PDF copies: its name and its database's tell it apart from
    /// any other node on the machine (node names are unique per database).
    pub fn work_dir(&self, node: &str, database_url: &str) -> PathBuf {
        let base = if self.work_dir.is_empty() {
            std::env::temp_dir().join("quire-pdf")
        } else {
            PathBuf::from(&self.work_dir)
        };
        let node: String = node
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // FNV-1a: stable across builds and runs, unlike the std hasher's seed.
        let db = database_url.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        base.join(format!("{node}-{db:016x}"))
    }
}
