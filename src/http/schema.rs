//! The path parameters and schemas the routes modules share with the OpenAPI document:
//! handlers and the document both import them from here, so neither imports the other's
//! types.

use std::borrow::Cow;

use quire_actors::{ErrorClass, ItemStatus, JobKind, JobStatus};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::code::Code;
use crate::pages::ReviewStatus;

/// A string enum of the runtime, as a named schema whose values come from the enum.
macro_rules! string_enum_schema {
    ($(#[$doc:meta])* $local:ident = $name:literal, $description:literal, $values:expr) => {
        $(#[$doc])*
        pub struct $local;

        impl PartialSchema for $local {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .enum_values(Some($values))
                    .into()
            }
        }

        impl ToSchema for $local {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

string_enum_schema!(
    /// The schema of [`JobKind`].
    JobKindSchema = "JobKind",
    "What a job does to its book.",
    JobKind::ALL.iter().map(|k| k.as_str())
);

string_enum_schema!(
    /// The schema of [`JobStatus`].
    JobStatusSchema = "JobStatus",
    "Where a job is: `pending` and `running` and `cancelling` are active; `completed`, \
     `failed` and `cancelled` are ends (`failed` and `cancelled` jobs can be resumed).",
    JobStatus::ALL.iter().map(|s| s.as_str())
);

string_enum_schema!(
    /// The schema of [`ItemStatus`].
    ItemStatusSchema = "ItemStatus",
    "Where one item (a page) of a job is.",
    ItemStatus::ALL.iter().map(|s| s.as_str())
);

string_enum_schema!(
    /// The schema of [`ErrorClass`].
    ErrorClassSchema = "ErrorClass",
    "How an item failed: `retryable` (tried again after a backoff), `terminal` (this item \
     cannot succeed) or `fatal` (the whole job fails).",
    ErrorClass::ALL.iter().map(|c| c.as_str())
);

string_enum_schema!(
    /// The schema of [`ReviewStatus`].
    ReviewStatusSchema = "ReviewStatus",
    "Where a page's review stands: `edited` carries the reviewer's text.",
    ReviewStatus::ALL.iter().map(|s| s.as_str())
);

/// The schema of [`Code`]: every code the API sends, each with its status and meaning.
pub struct ErrorCodeSchema;

impl PartialSchema for ErrorCodeSchema {
    fn schema() -> RefOr<Schema> {
        let mut description = String::from(
            "A stable code for programs. Each code always comes with the same status:\n",
        );
        for code in Code::ALL {
            description.push_str(&format!(
                "\n- `{}` ({}): {}",
                code.name(),
                code.status().as_u16(),
                code.description()
            ));
        }
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .enum_values(Some(Code::ALL.iter().map(|c| c.name())))
            .examples([Code::BookNotFound.name()])
            .into()
    }
}

impl ToSchema for ErrorCodeSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

// The schema of `quire_actors::model::JobError` (the test below keeps them alike).
/// Why a job failed: a stable code for programs and a message for people.
#[derive(ToSchema)]
#[schema(as = JobError)]
pub struct JobErrorSchema {
    /// A stable code for programs, e.g. `UPLOAD_REJECTED`.
    pub code: String,
    pub message: String,
}

// The schema of `quire_actors::ports::ItemCounts` (the test below keeps them alike).
/// A job's items counted by status.
#[derive(ToSchema)]
#[schema(as = ItemCounts)]
pub struct ItemCountsSchema {
    pub pending: u64,
    pub processing: u64,
    pub completed: u64,
    pub failed: u64,
}

/// A book in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BookPath {
    /// The book's id.
    pub book_id: uuid::Uuid,
}

/// A job in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct JobPath {
    /// The job's id.
    pub job_id: uuid::Uuid,
}

/// A page of a book in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PagePath {
    /// The book's id.
    pub book_id: uuid::Uuid,
    /// The page's number, from 1.
    #[param(minimum = 1, maximum = 100_000)]
    pub page_no: i64,
}

/// A page number, as a body names one: 1 to [`crate::pages::MAX_PAGE_NO`].
pub struct PageNo;

impl PartialSchema for PageNo {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(crate::pages::MAX_PAGE_NO))
            .into()
    }
}

impl ToSchema for PageNo {}

/// An upload: `multipart/form-data` with one `files` part per image (PNG, JPEG, TIFF or
/// WebP, judged by its bytes); they become pages in the order sent. No other part is
/// taken (`deny_unknown_fields` documents that as `additionalProperties: false`).
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadForm {
    /// The images (a part named `file` is taken too).
    #[schema(value_type = Vec<FilePart>, content_media_type = "application/octet-stream", min_items = 1)]
    pub files: Vec<Vec<u8>>,
}

/// An upload of one page: `multipart/form-data` with one `files` (or `file`) part.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnePageForm {
    /// The image.
    #[schema(value_type = Vec<FilePart>, content_media_type = "application/octet-stream", min_items = 1, max_items = 1)]
    pub files: Vec<Vec<u8>>,
}

/// One file of an upload: its bytes, at least one (an empty part is `EMPTY_FILE`).
pub struct FilePart;

impl PartialSchema for FilePart {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .min_length(Some(1))
            .into()
    }
}

impl ToSchema for FilePart {}

/// What both upload operations answer when they refuse: one list, so the two cannot
/// drift apart.
pub struct UploadErrors;

impl utoipa::IntoResponses for UploadErrors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        [
            ("400", "`INVALID_PATH`, `INVALID_QUERY`, `INVALID_PAGE_NO` (`start_at` out of range), `INVALID_MULTIPART`, `UNKNOWN_FIELD`, `NO_FILES`, `EMPTY_FILE`; `UPLOAD_INCOMPLETE`: the upload broke off (`details.stored` lists the pages kept)."),
            ("404", "`BOOK_NOT_FOUND`."),
            ("409", "`BOOK_BUSY`: a job holds the book; `BOOK_FULL`: a file would be numbered past the last page number (`details.page_no`); `PAGE_EXISTS`: a numbered page exists (`details.page_no`); `UPLOAD_CANCELLED`: the upload's job was cancelled while its files arrived (the pages stored before stay, with their images: `details.stored`); `UPLOAD_ENDED`: its job ended otherwise; `LEASE_LOST`: another node took the upload's job over; `JOB_NOT_HELD`: the upload's job is no longer held by this server."),
            ("413", "`BODY_TOO_LARGE`, `TOO_MANY_FILES` (more than the operation takes), `FILE_TOO_LARGE` (`details.file`, `details.index`)."),
            ("415", "`UNSUPPORTED_MEDIA_TYPE`: the body is not `multipart/form-data`; `UNSUPPORTED_IMAGE`: a file is not a PNG, JPEG, TIFF or WebP."),
            ("503", "`STORE_UNAVAILABLE`, `STORAGE_UNAVAILABLE`, `SHUTTING_DOWN`."),
            ("500", "`INTERNAL`, `STORAGE_FAILED`: see the server log."),
        ]
        .into_iter()
        .map(|(status, description)| {
            let body = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", body)
                .build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
    }
}

/// A page's image bytes.
pub struct ImageBytes;

impl PartialSchema for ImageBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for ImageBytes {}
