use std::fmt;

use quire_actors::{BookId, JobId};

use crate::pages::ImageId;

/// A validated object key: `/`-separated segments of ASCII letters, digits, `.`, `_` and `-`,
/// none empty, `.` or `..`. Uploaded file names never become keys, so a key can never leave
/// its folder or bucket prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid object key `{0}`")]
pub struct InvalidKey(pub String);

impl ObjectKey {
    pub fn parse(key: &str) -> Result<Self, InvalidKey> {
        let valid_segment = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if key.len() > 512 || !key.split('/').all(valid_segment) {
            return Err(InvalidKey(key.to_owned()));
        }
        Ok(Self(key.to_owned()))
    }

    /// Everything stored for one book.
    pub fn book(book: BookId) -> Self {
        Self(format!("books/{book}"))
    }

    /// A page as uploaded, under the upload's own image id (its type lives in the
    /// database). `None`: a page stored before image ids, under its old key.
    pub fn page_source(book: BookId, page_no: i64, image: Option<&ImageId>) -> Self {
        match image {
            Some(id) => Self(format!(
                "books/{book}/pages/{page_no}/{}/source",
                id.as_str()
            )),
            None => Self(format!("books/{book}/pages/{page_no}/source")),
        }
    }

    /// The EPUB one attempt of an export job wrote. Each attempt writes its own object, and
    /// the job's fenced commit publishes its key: a node whose lease was taken over can
    /// never overwrite an export that another attempt, or a newer job, published.
    pub fn epub(book: BookId, job: JobId, attempt: i64) -> Self {
        Self(format!("books/{book}/exports/{job}/{attempt}.epub"))
    }

    /// The PDF an import stored, read by its pages (and rendered for their images) until
    /// the book is deleted.
    pub fn pdf_source(book: BookId, import: JobId) -> Self {
        Self(format!("books/{book}/imports/{import}/source.pdf"))
    }

    /// The folder of one upload's images of a page: its source and every OCR attempt's
    /// normalized image. Deleting it touches no other upload under the same number.
    pub fn page_folder(book: BookId, page_no: i64, image: &ImageId) -> Self {
        Self(format!("books/{book}/pages/{page_no}/{}", image.as_str()))
    }

    /// The page one OCR attempt normalized. Each attempt writes its own object and the
    /// item's fenced commit publishes its key (in the OCR result): a node whose lease was
    /// taken over never overwrites what a newer attempt published. `None`: a page stored
    /// before image ids, whose attempts write under `ocr/` beside its old keys.
    pub fn page_ocr_image(
        book: BookId,
        page_no: i64,
        image: Option<&ImageId>,
        job: JobId,
        attempt: i64,
    ) -> Self {
        match image {
            Some(id) => Self(format!(
                "{}/ocr/{job}-{attempt}.png",
                Self::page_folder(book, page_no, id)
            )),
            None => Self(format!(
                "books/{book}/pages/{page_no}/ocr/{job}-{attempt}.png"
            )),
        }
    }

    /// A page normalized for OCR before each attempt wrote its own (see
    /// [`Self::page_ocr_image`]): read for pages read then, deleted with them.
    pub fn page_image(book: BookId, page_no: i64, image: Option<&ImageId>) -> Self {
        match image {
            Some(id) => Self(format!(
                "books/{book}/pages/{page_no}/{}/page.png",
                id.as_str()
            )),
            None => Self(format!("books/{book}/pages/{page_no}/page.png")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_their_root() {
        for bad in [
            "",
            "/etc/passwd",
            "a//b",
            "../x",
            "a/../b",
            "a/./b",
            "a/b/",
            "a\\b",
            "a b",
            "é",
            "a/\0",
        ] {
            assert!(ObjectKey::parse(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["a", "books/1/pages/2/source.png", "x-y_z.1"] {
            assert_eq!(ObjectKey::parse(good).unwrap().as_str(), good);
        }
        let book = BookId::new();
        assert_eq!(
            ObjectKey::page_source(book, 7, None).as_str(),
            format!("books/{book}/pages/7/source")
        );
        let id = ImageId::new();
        let key = ObjectKey::page_source(book, 7, Some(&id));
        assert_eq!(
            key.as_str(),
            format!("books/{book}/pages/7/{}/source", id.as_str())
        );
        assert_eq!(ObjectKey::parse(key.as_str()).unwrap(), key);
    }
}
