//! [`ImportReport`]: how well an import went, from its pages as they stand.
//!
//! The score, 0 to 100, is `100 × (0.6 × read + 0.25 × confidence + 0.15 × structure)`:
//! `read` is the share of the imported pages whose text was read (not failed, not empty),
//! `confidence` the mean over those pages of 1 for a text-layer page and the engine's mean
//! word confidence for an OCR'd one, and `structure` is 1 when chapters were found (from
//! the outline), else 0. A clean born-digital book with an outline scores 100; a scan with
//! 90% OCR confidence and no outline about 82.

use serde::Serialize;

use super::OutlineEntry;
use super::import::PdfImport;
use crate::pages::{Page, TextSource};

/// A page that failed, with its code.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FailedPage {
    pub page_no: i64,
    /// Its page in the file.
    pub pdf_page: u32,
    pub code: String,
}

/// A chapter the structuring found, with its sections.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChapterView {
    pub title: String,
    /// Its first page in the file, when the outline points to one.
    pub pdf_page: Option<u32>,
    pub sections: Vec<SectionView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SectionView {
    pub title: String,
    pub pdf_page: Option<u32>,
}

/// How the chapters were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StructureSource {
    /// The PDF's outline (bookmarks).
    Outline,
    /// No outline: none found.
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Pages the import took from the file.
    pub pages: u32,
    pub text_layer_pages: u32,
    pub ocr_pages: u32,
    /// Mean word confidence of the OCR'd pages, in [0, 1].
    pub mean_ocr_confidence: Option<f32>,
    /// Pages read with no text on them (a blank page, a picture).
    pub empty_pages: u32,
    /// Pages not read yet (the import runs, or was cancelled).
    pub pending_pages: u32,
    pub failed_pages: Vec<FailedPage>,
    pub chapters: Vec<ChapterView>,
    pub structure_from: StructureSource,
    /// 0 to 100; see the README for the formula.
    pub score: u8,
}

/// Chapters (depth 0) and their sections (depth 1) from the outline.
pub fn chapters(outline: &[OutlineEntry]) -> Vec<ChapterView> {
    let mut chapters: Vec<ChapterView> = Vec::new();
    for entry in outline {
        match (entry.depth, chapters.last_mut()) {
            (0, _) => chapters.push(ChapterView {
                title: entry.title.clone(),
                pdf_page: entry.page,
                sections: Vec::new(),
            }),
            (1, Some(chapter)) => chapter.sections.push(SectionView {
                title: entry.title.clone(),
                pdf_page: entry.page,
            }),
            _ => {}
        }
    }
    chapters
}

impl ImportReport {
    /// The report of `import` from its pages (`pages` may hold the book's others too).
    pub fn build(import: &PdfImport, pages: &[Page]) -> ImportReport {
        use crate::pages::PageKind;
        use quire_actors::ItemStatus;
        let (mut text_layer, mut ocr, mut empty, mut pending) = (0u32, 0u32, 0u32, 0u32);
        let mut confidences = Vec::new();
        let mut failed = Vec::new();
        let mut read_confidence = Vec::new();
        let mut total = 0u32;
        for page in pages {
            let PageKind::Pdf {
                import: of,
                page: pdf_page,
            } = page.kind
            else {
                continue;
            };
            if of != import.job_id {
                continue;
            }
            total += 1;
            let Some((item, _)) = &page.ocr else {
                pending += 1;
                continue;
            };
            match item.status {
                ItemStatus::Completed => {
                    let Some(result) = page.ocr_text() else {
                        continue;
                    };
                    if result.text.trim().is_empty() {
                        empty += 1;
                        continue;
                    }
                    match result.source {
                        TextSource::TextLayer => {
                            text_layer += 1;
                            read_confidence.push(1.0);
                        }
                        TextSource::Ocr => {
                            ocr += 1;
                            let c = result.confidence.unwrap_or(0.0);
                            confidences.push(c);
                            read_confidence.push(c);
                        }
                    }
                }
                ItemStatus::Failed => {
                    let code = item.error_code.clone().unwrap_or_default();
                    if code == "EMPTY_TEXT" {
                        empty += 1;
                    } else {
                        failed.push(FailedPage {
                            page_no: page.page_no,
                            pdf_page,
                            code,
                        });
                    }
                }
                ItemStatus::Pending | ItemStatus::Processing => pending += 1,
            }
        }
        let chapters = chapters(&import.outline);
        let structure_from = if chapters.is_empty() {
            StructureSource::None
        } else {
            StructureSource::Outline
        };
        let mean = |v: &[f32]| (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32);
        let read = read_confidence.len() as f64 / f64::from(total.max(1));
        let confidence = f64::from(mean(&read_confidence).unwrap_or(0.0));
        let structure = if chapters.is_empty() { 0.0 } else { 1.0 };
        let score = (100.0 * (0.6 * read + 0.25 * confidence + 0.15 * structure)).round();
        ImportReport {
            pages: total,
            text_layer_pages: text_layer,
            ocr_pages: ocr,
            mean_ocr_confidence: mean(&confidences),
            empty_pages: empty,
            pending_pages: pending,
            failed_pages: failed,
            chapters,
            structure_from,
            score: score.clamp(0.0, 100.0) as u8,
        }
    }
}

/// The import a `pdf_import` job runs (its own, or the one it resumes) and its report now.
pub async fn of_job(
    store: &dyn crate::store::Store,
    job: &quire_actors::Job,
) -> Result<Option<(PdfImport, ImportReport)>, quire_actors::StoreError> {
    if job.kind != quire_actors::JobKind::PdfImport {
        return Ok(None);
    }
    let mut id = job.id;
    // A resumed import's items are the same pages: its record is the first job's.
    let import = loop {
        if let Some(import) = store.pdf_import(id).await? {
            break import;
        }
        match store.job(id).await?.resumed_from {
            Some(earlier) => id = earlier,
            None => return Ok(None),
        }
    };
    let pages = crate::store::all_pages(store, job.book_id).await?;
    let report = ImportReport::build(&import, &pages);
    Ok(Some((import, report)))
}
