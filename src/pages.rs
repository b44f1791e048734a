//! Pages of a book: what an admin uploaded, what OCR read on it, and the admin's review.
//!
//! A page's OCR state is the state of its item in the newest OCR job that has one; it is
//! read, never copied, so a page and its item cannot disagree.

use quire_actors::model::Item;
use quire_actors::{BookId, JobId, JobStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ocr::ImageKind;

/// Page numbers run from 1 to this.
pub const MAX_PAGE_NO: i64 = 100_000;

/// The id of one upload's copy of a page's image: its objects live under it
/// (`books/{book}/pages/{n}/{id}/…`). Each upload draws a new one, so a delete that read a
/// page's id removes that page's objects and never those of a page uploaded under the same
/// number after it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageId(String);

impl ImageId {
    /// A new, random id (32 lowercase hex digits).
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// An id as stored; `None` unless it has the shape [`Self::new`] gives.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ImageId {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a page's images are: its book, number and image id (`None` for a page stored
/// before image ids, under the old keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageImages {
    pub book: BookId,
    pub page_no: i64,
    pub image_id: Option<ImageId>,
}

impl PageImages {
    /// The image as uploaded.
    pub fn source(&self) -> crate::objects::ObjectKey {
        crate::objects::ObjectKey::page_source(self.book, self.page_no, self.image_id.as_ref())
    }

    /// The image normalized for OCR by results written before each attempt had its own.
    pub fn normalized(&self) -> crate::objects::ObjectKey {
        crate::objects::ObjectKey::page_image(self.book, self.page_no, self.image_id.as_ref())
    }

    /// Where this OCR attempt writes the page it normalized.
    pub fn normalized_by(&self, job: JobId, attempt: i64) -> crate::objects::ObjectKey {
        crate::objects::ObjectKey::page_ocr_image(
            self.book,
            self.page_no,
            self.image_id.as_ref(),
            job,
            attempt,
        )
    }

    /// Deletes every image of this upload of the page: the source and all normalized ones.
    pub async fn delete(
        &self,
        objects: &dyn crate::objects::ObjectStore,
    ) -> Result<(), crate::objects::ObjectError> {
        use crate::objects::ObjectKey;
        match &self.image_id {
            Some(id) => {
                objects
                    .delete_prefix(&ObjectKey::page_folder(self.book, self.page_no, id))
                    .await?;
            }
            None => {
                objects.delete(&self.source()).await?;
                objects.delete(&self.normalized()).await?;
                let attempts = format!("books/{}/pages/{}/ocr", self.book, self.page_no);
                let attempts = ObjectKey::parse(&attempts).expect("a valid key");
                objects.delete_prefix(&attempts).await?;
            }
        }
        Ok(())
    }
}

/// A page as an upload adds it.
#[derive(Clone, Debug)]
pub struct NewPage {
    pub page_no: i64,
    pub kind: ImageKind,
    pub bytes: u64,
    /// The uploaded file's name, for display only.
    pub original_name: Option<String>,
    /// The objects this upload wrote the image under.
    pub image_id: ImageId,
}

/// What a page's source is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    /// An uploaded image, stored under the page's image id.
    Image(ImageKind),
    /// Page `page` of the PDF import `import` stored: rendered when an image is needed.
    Pdf { import: JobId, page: u32 },
}

impl PageKind {
    /// The media type of the page's source.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Image(kind) => kind.mime(),
            Self::Pdf { .. } => "application/pdf",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub book_id: BookId,
    pub page_no: i64,
    pub kind: PageKind,
    /// The source's size: the image's, or the whole PDF's for a page of one.
    pub bytes: u64,
    /// The book's own number for the page ("iv", "12"), where its PDF labels its pages.
    pub label: Option<String>,
    pub original_name: Option<String>,
    /// The upload job that added the page.
    pub added_by: Option<JobId>,
    /// Its images' id; `None` for a page stored before image ids.
    pub image_id: Option<ImageId>,
    /// The page's item in the newest OCR job that has one, with that job's status.
    pub ocr: Option<(Item, JobStatus)>,
    pub review: Review,
    pub created_at: i64,
}

impl Page {
    pub fn images(&self) -> PageImages {
        PageImages {
            book: self.book_id,
            page_no: self.page_no,
            image_id: self.image_id.clone(),
        }
    }

    /// The normalized image the page's current OCR result names (published by that
    /// attempt's fenced commit), else where results without one kept it.
    pub fn ocr_image(&self) -> crate::objects::ObjectKey {
        self.ocr
            .as_ref()
            .filter(|(item, _)| item.status == quire_actors::ItemStatus::Completed)
            .and_then(|(item, _)| item.result.as_ref()?.get("image")?.as_str())
            .and_then(|key| crate::objects::ObjectKey::parse(key).ok())
            .unwrap_or_else(|| self.images().normalized())
    }

    pub fn ocr_completed(&self) -> bool {
        self.ocr
            .as_ref()
            .is_some_and(|(item, _)| item.status == quire_actors::ItemStatus::Completed)
    }

    /// Whether the page goes into the guidelines: read, and not rejected in review.
    pub fn for_guidelines(&self) -> bool {
        self.ocr_completed()
            && self
                .current_review()
                .is_none_or(|r| r.status != ReviewStatus::Rejected)
    }

    /// What OCR read, once it completed.
    pub fn ocr_text(&self) -> Option<OcrResult> {
        let (item, _) = self.ocr.as_ref()?;
        serde_json::from_value(item.result.clone()?).ok()
    }

    /// The review, unless a newer OCR run made it stale.
    pub fn current_review(&self) -> Option<&Review> {
        let ocr_job = self.ocr.as_ref().map(|(item, _)| item.job_id);
        (self.review.status != ReviewStatus::Unreviewed && self.review.job_id == ocr_job)
            .then_some(&self.review)
    }

    /// The page's text: the admin's edit if there is a current one, else what OCR read.
    pub fn text(&self) -> Option<String> {
        match self.current_review() {
            Some(Review {
                text: Some(text), ..
            }) => Some(text.clone()),
            _ => self.ocr_text().map(|r| r.text),
        }
    }
}

/// The result an OCR item stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OcrResult {
    pub text: String,
    pub confidence: Option<f32>,
    pub engine: String,
    pub width: u32,
    pub height: u32,
    /// Time spent decoding and normalizing the image, and reading it.
    #[serde(default)]
    pub normalize_ms: u64,
    #[serde(default)]
    pub read_ms: u64,
    /// The key of the normalized page this attempt wrote; absent in results written
    /// before each attempt had its own (see [`PageImages::normalized`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where the text came from: OCR, or the page's PDF text layer.
    #[serde(default)]
    pub source: TextSource,
    /// How the page's text layer was judged, for a page of a PDF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_layer: Option<crate::pdf::TextQuality>,
}

/// Where a page's text came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TextSource {
    /// An OCR engine read the page's image.
    #[default]
    Ocr,
    /// The PDF's own text for the page.
    TextLayer,
}

impl OcrResult {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

quire_actors::named_enum!(
    /// Where a page's review stands: `edited` carries the reviewer's text.
    ReviewStatus, "review status" {
        Unreviewed = "unreviewed",
        Approved = "approved",
        Rejected = "rejected",
        Edited = "edited",
    }
);

/// An admin's verdict on a page's OCR text.
#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    pub status: ReviewStatus,
    /// The corrected text of an `edited` page.
    pub text: Option<String>,
    /// The OCR job whose text was reviewed.
    pub job_id: Option<JobId>,
    pub reviewed_at: Option<i64>,
}

/// What a reviewer asks of a page's current OCR text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewRequest {
    /// The OCR text is right (needs completed OCR).
    Approve,
    /// The page is unusable (a bad scan); later steps skip it.
    Reject,
    /// The text is this.
    Edit(String),
    /// Forget the review.
    Clear,
}

/// Longest text an edit may set, in characters.
pub const MAX_REVIEW_TEXT_CHARS: usize = 200_000;

/// Why a review is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewRefusal {
    #[error("text must have 1 to {MAX_REVIEW_TEXT_CHARS} characters")]
    InvalidText,
    #[error("only a page whose OCR completed can be approved; edit its text instead")]
    OcrNotCompleted,
}

impl Page {
    /// The review `request` makes of this page at `now`: it belongs to the OCR run it
    /// reviewed, so a newer run makes it stale.
    pub fn review_with(&self, request: ReviewRequest, now: i64) -> Result<Review, ReviewRefusal> {
        let ocr = self.ocr.as_ref().map(|(item, _)| item);
        let (status, text) = match request {
            ReviewRequest::Edit(text) => {
                if text.trim().is_empty() || text.chars().count() > MAX_REVIEW_TEXT_CHARS {
                    return Err(ReviewRefusal::InvalidText);
                }
                (ReviewStatus::Edited, Some(text.replace('\0', "")))
            }
            ReviewRequest::Approve if !self.ocr_completed() => {
                return Err(ReviewRefusal::OcrNotCompleted);
            }
            ReviewRequest::Approve => (ReviewStatus::Approved, None),
            ReviewRequest::Reject => (ReviewStatus::Rejected, None),
            ReviewRequest::Clear => return Ok(Review::none()),
        };
        Ok(Review {
            status,
            text,
            job_id: ocr.map(|i| i.job_id),
            reviewed_at: Some(now),
        })
    }
}

impl Review {
    pub fn none() -> Self {
        Self {
            status: ReviewStatus::Unreviewed,
            text: None,
            job_id: None,
            reviewed_at: None,
        }
    }
}

/// A book's pages counted by OCR state and review.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PageCounts {
    pub total: u64,
    /// Waiting for OCR, including pages whose OCR job ended before reaching them.
    pub pending: u64,
    pub processing: u64,
    pub completed: u64,
    pub failed: u64,
    /// Approved, rejected or edited against the current OCR text.
    pub reviewed: u64,
}

/// A file name as the uploader gave it, made safe to show: the last path segment, without
/// control characters, at most 255 characters. It is never used as a path or key.
pub fn display_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let clean = clean.trim();
    (!clean.is_empty() && clean != "." && clean != "..").then(|| clean.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_never_paths() {
        assert_eq!(display_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(display_name("C:\\x\\p1.png").as_deref(), Some("p1.png"));
        assert_eq!(display_name("a\u{0}b\n.png").as_deref(), Some("ab.png"));
        assert_eq!(display_name(".."), None);
        assert_eq!(display_name("dir/"), None);
        assert_eq!(display_name(&"x".repeat(400)).map(|n| n.len()), Some(255));
    }

    #[test]
    fn review_statuses_round_trip() {
        for &s in ReviewStatus::ALL {
            assert_eq!(s.as_str().parse(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}

/// Why an OCR run cannot take the pages asked for.
#[derive(Debug, thiserror::Error)]
pub enum PagesToOcrError {
    #[error("pages must list at least one page")]
    Empty,
    #[error("page numbers run from 1 to {MAX_PAGE_NO}; got {0}")]
    OutOfRange(i64),
    #[error("the book has no page {0}")]
    Missing(i64),
    #[error("every page of the book has completed OCR; name pages to read them again")]
    NothingToOcr,
    #[error(transparent)]
    Store(#[from] quire_actors::StoreError),
}

/// The pages an OCR run of `book` takes: those `named` (each in range, sorted and
/// deduplicated in O(n log n), all of the book's, checked a bounded statement at a time),
/// or with none named every page whose OCR has not completed.
pub async fn pages_to_ocr(
    store: &dyn crate::store::PageStore,
    book: BookId,
    named: Option<Vec<i64>>,
) -> Result<Vec<i64>, PagesToOcrError> {
    let Some(mut pages) = named else {
        let pages: Vec<i64> = crate::store::all_pages(store, book)
            .await?
            .iter()
            .filter(|p| !p.ocr_completed())
            .map(|p| p.page_no)
            .collect();
        return if pages.is_empty() {
            Err(PagesToOcrError::NothingToOcr)
        } else {
            Ok(pages)
        };
    };
    if pages.is_empty() {
        return Err(PagesToOcrError::Empty);
    }
    if let Some(&bad) = pages.iter().find(|n| !(1..=MAX_PAGE_NO).contains(*n)) {
        return Err(PagesToOcrError::OutOfRange(bad));
    }
    pages.sort_unstable();
    pages.dedup();
    let existing = store.existing_pages(book, &pages).await?;
    if let Some(&missing) = pages.iter().find(|n| existing.binary_search(n).is_err()) {
        return Err(PagesToOcrError::Missing(missing));
    }
    Ok(pages)
}
