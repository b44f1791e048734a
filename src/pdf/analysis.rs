//! The `analyzing` stage: what a PDF is before any page is imported, and how good a page's
//! text layer is.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::PdfError;
use super::tools::PdfTools;

/// One bookmark of the outline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutlineEntry {
    /// 0 for a top-level entry (a chapter), 1 for its children (sections), and so on.
    pub depth: u32,
    pub title: String,
    /// The 1-based page it points to, when it points to one.
    pub page: Option<u32>,
}

/// What the analysis found.
#[derive(Debug)]
pub struct Analysis {
    /// The file the pages are read from: the upload, or its decrypted copy.
    pub file: PathBuf,
    /// Pages in the file.
    pub pages: u32,
    /// The pages imported, 1-based and inclusive.
    pub first: u32,
    pub last: u32,
    pub encrypted: bool,
    pub outline: Vec<OutlineEntry>,
    /// The book's own page labels, one per page of the file, where it has them.
    pub labels: Vec<Option<String>>,
    /// The text layer of each imported page, read in one pass; `None` when that pass failed
    /// or timed out (each page is then read on its own, within its own limit).
    pub text: Option<Vec<String>>,
}

/// The pages asked for, 1-based and inclusive; `None` is the file's first or last.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageRange {
    pub first: Option<u32>,
    pub last: Option<u32>,
}

/// Whether a file starts like a PDF (`%PDF-` within its first 1024 bytes, as readers allow).
pub async fn looks_like_pdf(file: &Path) -> Result<bool, PdfError> {
    use tokio::io::AsyncReadExt;
    let mut head = vec![0; 1024];
    let mut f = tokio::fs::File::open(file).await?;
    let mut n = 0;
    while n < head.len() {
        let read = f.read(&mut head[n..]).await?;
        if read == 0 {
            break;
        }
        n += read;
    }
    Ok(head[..n].windows(5).any(|w| w == b"%PDF-"))
}

/// Validates `file`, opens it (decrypting it into `scratch` if it needs a password or is
/// encrypted at all), counts its pages, reads its outline and labels and the text layer of
/// the pages in `range`.
pub async fn analyze(
    tools: &PdfTools,
    file: &Path,
    password: Option<&str>,
    range: PageRange,
    scratch: &Path,
) -> Result<Analysis, PdfError> {
    if !looks_like_pdf(file).await? {
        return Err(PdfError::NotPdf);
    }
    let limit = tools.settings().file_timeout;
    // The structure and the text in one pass each, at once: most files are not encrypted.
    let first = range.first.unwrap_or(1);
    let (inspected, text) = tokio::join!(
        tools.inspect(file),
        tools.text_layer(file, first, range.last, limit)
    );
    let (file, inspection, text, encrypted) = match inspected {
        Ok(inspection) if !inspection.encrypted => (file.to_path_buf(), inspection, text, false),
        Ok(_) | Err(PdfError::PasswordNeeded) => {
            let needs = matches!(inspected, Err(PdfError::PasswordNeeded));
            if needs && password.is_none() {
                return Err(PdfError::PasswordNeeded);
            }
            let decrypted = scratch.join("decrypted.pdf");
            tools
                .decrypt(file, password.filter(|_| needs), &decrypted)
                .await?;
            let inspection = tools.inspect(&decrypted).await?;
            let text = tools.text_layer(&decrypted, first, range.last, limit).await;
            (decrypted, inspection, text, true)
        }
        Err(e) => return Err(e),
    };
    let pages = inspection.pages;
    if pages == 0 {
        return Err(PdfError::Unsupported("the file has no pages".into()));
    }
    let last = range.last.unwrap_or(pages);
    if first == 0 || first > last || last > pages {
        return Err(PdfError::BadRange(format!(
            "pages {first} to {last} are not within the file's 1 to {pages}"
        )));
    }
    let text = match text {
        Ok(mut text) => {
            text.resize((last + 1 - first) as usize, String::new());
            Some(text)
        }
        Err(e @ PdfError::ToolMissing { .. }) => return Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "the text layer could not be read in one pass; pages will be read one by one");
            None
        }
    };
    let (outline, labels) = (inspection.outline, inspection.labels);
    Ok(Analysis {
        file,
        pages,
        first,
        last,
        encrypted,
        outline,
        labels,
        text,
    })
}

/// Each page's label from qpdf's `pagelabels` (ranges from a page index on, with a style,
/// a prefix and a start); empty when the file has none.
pub fn labels(ranges: &serde_json::Value, pages: u32) -> Vec<Option<String>> {
    let Some(ranges) = ranges.as_array().filter(|r| !r.is_empty()) else {
        return Vec::new();
    };
    let mut starts: Vec<(u32, &serde_json::Value)> = ranges
        .iter()
        .filter_map(|r| Some((r["index"].as_u64()? as u32, &r["label"])))
        .collect();
    starts.sort_by_key(|(i, _)| *i);
    (0..pages)
        .map(|page| {
            let (index, label) = starts.iter().rev().find(|(i, _)| *i <= page)?;
            // qpdf's JSON writes text strings as `u:<text>`.
            let prefix = label["/P"].as_str().unwrap_or("");
            let prefix = prefix.strip_prefix("u:").unwrap_or(prefix);
            let start = label["/St"].as_u64().unwrap_or(1);
            let n = start + u64::from(page - index);
            let number = match label["/S"].as_str() {
                Some("/D") => n.to_string(),
                Some("/R") => roman(n).to_uppercase(),
                Some("/r") => roman(n),
                Some("/A") => letters(n).to_uppercase(),
                Some("/a") => letters(n),
                _ => String::new(),
            };
            let label = format!("{prefix}{number}");
            (!label.is_empty()).then_some(label)
        })
        .collect()
}

fn roman(mut n: u64) -> String {
    const NUMERALS: &[(u64, &str)] = &[
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ];
    let mut out = String::new();
    for &(value, numeral) in NUMERALS {
        while n >= value {
            out.push_str(numeral);
            n -= value;
        }
    }
    out
}

/// PDF's letter numbering: a..z, then aa..zz, and so on.
fn letters(n: u64) -> String {
    let n = n.max(1) - 1;
    let letter = (b'a' + (n % 26) as u8) as char;
    letter.to_string().repeat((n / 26 + 1) as usize)
}

/// How good a page's text layer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TextQuality {
    /// Enough readable text to stand for the page.
    Good,
    /// No text at all: a scanned page.
    Empty,
    /// A few characters (a page number, a stray caption) on what is likely an image.
    Sparse,
    /// Characters a reader cannot use (unmapped glyphs, private-use codes): the font
    /// carries no usable text encoding.
    Garbled,
}

/// Letters and digits a page needs before its text layer stands for it.
pub const MIN_TEXT_CHARS: usize = 40;

/// Judges a page's text layer.
pub fn judge_text(text: &str) -> TextQuality {
    let mut alnum = 0usize;
    let mut unusable = 0usize;
    let mut visible = 0usize;
    for c in text.chars() {
        if c.is_whitespace() {
            continue;
        }
        visible += 1;
        if c.is_alphanumeric() {
            alnum += 1;
        }
        let private = ('\u{E000}'..='\u{F8FF}').contains(&c);
        if c == '\u{FFFD}' || private || (c.is_control() && c != '\x0c') {
            unusable += 1;
        }
    }
    if visible == 0 {
        TextQuality::Empty
    } else if unusable * 20 > visible {
        TextQuality::Garbled
    } else if alnum < MIN_TEXT_CHARS {
        TextQuality::Sparse
    } else {
        TextQuality::Good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_layer_is_judged_by_what_a_reader_can_use() {
        let prose = "A fraction names a part of a whole that has been cut into equal parts.";
        assert_eq!(judge_text(prose), TextQuality::Good);
        assert_eq!(judge_text("  \n\x0c "), TextQuality::Empty);
        assert_eq!(judge_text("  12  "), TextQuality::Sparse);
        let garbled: String = prose
            .chars()
            .map(|c| if c == 'a' { '\u{FFFD}' } else { c })
            .collect();
        assert_eq!(judge_text(&garbled), TextQuality::Garbled);
    }

    #[test]
    fn page_labels_follow_their_ranges() {
        let ranges = serde_json::json!([
            { "index": 0, "label": { "/S": "/r" } },
            { "index": 3, "label": { "/S": "/D", "/St": 1 } },
            { "index": 5, "label": { "/S": "/D", "/P": "u:A-", "/St": 1 } },
            { "index": 6, "label": { "/S": "/a", "/St": 27 } },
        ]);
        let got = labels(&ranges, 7);
        let got: Vec<_> = got.iter().map(|l| l.as_deref().unwrap_or("-")).collect();
        assert_eq!(got, ["i", "ii", "iii", "1", "2", "A-1", "aa"]);
        assert!(labels(&serde_json::json!([]), 3).is_empty());
    }
}
