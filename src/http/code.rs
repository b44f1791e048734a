//! Every error code the API sends, in one table: its wire name, its HTTP status and what it
//! means. A call site names a [`Code`]; the status comes with it, so two answers with the
//! same code never disagree, and the OpenAPI document lists the table (`ErrorCode`).

use actix_web::http::StatusCode;
use serde::{Serialize, Serializer};

/// Declares [`Code`] from its table: one row per code, `Variant = "WIRE_NAME", STATUS,
/// "description"`.
macro_rules! codes {
    ($($variant:ident = $name:literal, $status:ident, $description:literal;)+) => {
        /// A stable error code for programs: the `code` of every error body.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $(#[doc = $description] $variant),+
        }

        impl Code {
            /// Every code, in the table's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];

            /// The name on the wire, e.g. `BOOK_NOT_FOUND`.
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name),+ }
            }

            /// The status every answer with this code has.
            pub fn status(self) -> StatusCode {
                match self { $(Code::$variant => StatusCode::$status),+ }
            }

            /// What the code means, for the document.
            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $description),+ }
            }
        }
    };
}

codes! {
    // 400: the request is malformed.
    InvalidJson = "INVALID_JSON", BAD_REQUEST, "The body is not valid JSON of the operation's schema.";
    InvalidBody = "INVALID_BODY", BAD_REQUEST, "The body could not be read.";
    InvalidPath = "INVALID_PATH", BAD_REQUEST, "A path parameter is malformed (e.g. an id that is not a UUID).";
    InvalidQuery = "INVALID_QUERY", BAD_REQUEST, "An unknown or malformed query parameter, or a value out of range.";
    InvalidMultipart = "INVALID_MULTIPART", BAD_REQUEST, "The multipart body is malformed.";
    UnknownField = "UNKNOWN_FIELD", BAD_REQUEST, "A multipart part other than `files` (or `file`).";
    InvalidTitle = "INVALID_TITLE", BAD_REQUEST, "A book title that is empty, too long or has control characters.";
    InvalidOwner = "INVALID_OWNER", BAD_REQUEST, "A book owner that is too long or has control characters.";
    InvalidItems = "INVALID_ITEMS", BAD_REQUEST, "A synthetic job's item count is out of range.";
    InvalidParams = "INVALID_PARAMS", BAD_REQUEST, "A synthetic job's parameters are invalid.";
    InvalidPageNo = "INVALID_PAGE_NO", BAD_REQUEST, "A page number out of range.";
    InvalidPages = "INVALID_PAGES", BAD_REQUEST, "An empty list of pages.";
    InvalidText = "INVALID_TEXT", BAD_REQUEST, "A review's edited text is not acceptable.";
    NoFiles = "NO_FILES", BAD_REQUEST, "An upload with no file.";
    EmptyFile = "EMPTY_FILE", BAD_REQUEST, "An uploaded file is empty (`details.file`, `details.index`).";
    UploadIncomplete = "UPLOAD_INCOMPLETE", BAD_REQUEST, "The upload broke off; `details.stored` lists the pages kept.";
    // 404: something named does not exist.
    NotFound = "NOT_FOUND", NOT_FOUND, "No route has that path.";
    BookNotFound = "BOOK_NOT_FOUND", NOT_FOUND, "No book has that id.";
    JobNotFound = "JOB_NOT_FOUND", NOT_FOUND, "No job has that id, or the book has no job (of that kind) yet.";
    PageNotFound = "PAGE_NOT_FOUND", NOT_FOUND, "The book has no page of that number.";
    ImageNotFound = "IMAGE_NOT_FOUND", NOT_FOUND, "That image of the page does not exist (yet).";
    ExportNotFound = "EXPORT_NOT_FOUND", NOT_FOUND, "No export of the book has completed yet.";
    KindDisabled = "KIND_DISABLED", NOT_FOUND, "This server does not run jobs of that kind.";
    // 405
    MethodNotAllowed = "METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED, "The path does not take that method; `Allow` lists those it takes.";
    // 409: the request conflicts with the state of a book or a job.
    BookBusy = "BOOK_BUSY", CONFLICT, "An active job holds the book; `details.job_id` names it.";
    JobNotActive = "JOB_NOT_ACTIVE", CONFLICT, "The job already ended; `details.status` says how.";
    LeaseLost = "LEASE_LOST", CONFLICT, "Another node now drives the job (its lease moved); try again.";
    JobNotHeld = "JOB_NOT_HELD", CONFLICT, "The upload's job is no longer waiting for its items on this server.";
    NotResumable = "NOT_RESUMABLE", CONFLICT, "The job is active or has nothing to resume.";
    NothingToResume = "NOTHING_TO_RESUME", CONFLICT, "The book has no extraction to resume.";
    NoPagesReady = "NO_PAGES_READY", CONFLICT, "No page of the book has completed OCR.";
    NoGuidelines = "NO_GUIDELINES", CONFLICT, "Nothing has been extracted from the book yet.";
    NothingToOcr = "NOTHING_TO_OCR", CONFLICT, "Every page of the book has completed OCR.";
    OcrNotCompleted = "OCR_NOT_COMPLETED", CONFLICT, "The page's OCR has not completed, so there is nothing to review.";
    BookFull = "BOOK_FULL", CONFLICT, "The upload's files would be numbered past the last page number, 100000 (`details.page_no`).";
    PageExists = "PAGE_EXISTS", CONFLICT, "The book already has a page of that number (`details.page_no`).";
    UploadCancelled = "UPLOAD_CANCELLED", CONFLICT, "The upload's job was cancelled while its files arrived; `details.stored` lists the pages kept.";
    UploadEnded = "UPLOAD_ENDED", CONFLICT, "The upload's job ended otherwise while its files arrived.";
    // 413
    PdfTooLarge = "PDF_TOO_LARGE", PAYLOAD_TOO_LARGE, "The PDF is larger than one import takes (`pdf.max_file_bytes`).";
    TooManyPages = "TOO_MANY_PAGES", PAYLOAD_TOO_LARGE, "The PDF (or the range asked) has more pages than one import takes (`pdf.max_pages`).";
    BodyTooLarge = "BODY_TOO_LARGE", PAYLOAD_TOO_LARGE, "The body is larger than the operation takes.";
    TooManyFiles = "TOO_MANY_FILES", PAYLOAD_TOO_LARGE, "An upload with more files than it may have.";
    FileTooLarge = "FILE_TOO_LARGE", PAYLOAD_TOO_LARGE, "An uploaded file is larger than a page may be (`details.file`, `details.index`).";
    // 415
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", UNSUPPORTED_MEDIA_TYPE, "The body's content type is not the one the operation takes.";
    UnsupportedImage = "UNSUPPORTED_IMAGE", UNSUPPORTED_MEDIA_TYPE, "An uploaded file is not a PNG, JPEG, TIFF or WebP image (judged by its bytes).";
    // 422: the file is at fault; the import's job failed with the same code (`details.job_id`).
    InvalidPdf = "INVALID_PDF", UNPROCESSABLE_ENTITY, "The file is not a PDF.";
    CorruptedFile = "CORRUPTED_FILE", UNPROCESSABLE_ENTITY, "The PDF is truncated or damaged beyond repair.";
    EncryptedPdf = "ENCRYPTED_PDF", UNPROCESSABLE_ENTITY, "The PDF is encrypted and no password, or a wrong one, was given.";
    UnsupportedFormat = "UNSUPPORTED_FORMAT", UNPROCESSABLE_ENTITY, "The PDF cannot be imported (e.g. it has no pages).";
    InvalidPageRange = "INVALID_PAGE_RANGE", UNPROCESSABLE_ENTITY, "`first_page`/`last_page` select no page of the PDF.";
    // 500: the server failed.
    Internal = "INTERNAL", INTERNAL_SERVER_ERROR, "The server failed; see its log.";
    StorageFailed = "STORAGE_FAILED", INTERNAL_SERVER_ERROR, "The object store failed; see the server log.";
    PdfToolsMissing = "PDF_TOOLS_MISSING", INTERNAL_SERVER_ERROR, "poppler-utils or qpdf cannot be run on the server (see `[pdf]` in the configuration).";
    // 503: try again shortly.
    StoreUnavailable = "STORE_UNAVAILABLE", SERVICE_UNAVAILABLE, "The database does not answer; try again.";
    StorageUnavailable = "STORAGE_UNAVAILABLE", SERVICE_UNAVAILABLE, "The object store does not answer; try again.";
    ShuttingDown = "SHUTTING_DOWN", SERVICE_UNAVAILABLE, "The server is shutting down.";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::Code;

    #[test]
    fn code_names_are_unique_and_screaming_snake() {
        let mut seen = BTreeSet::new();
        for code in Code::ALL {
            let name = code.name();
            assert!(seen.insert(name), "{name} is in the table twice");
            assert!(
                !name.is_empty()
                    && !name.starts_with('_')
                    && !name.ends_with('_')
                    && !name.contains("__")
                    && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{name} is not SCREAMING_SNAKE"
            );
            assert_eq!(serde_json::to_value(code).unwrap(), name);
        }
    }

    #[test]
    fn every_code_is_an_error_with_a_description() {
        for code in Code::ALL {
            let status = code.status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code} answers {status}"
            );
            assert!(code.description().ends_with('.'), "{code}");
        }
    }
}
