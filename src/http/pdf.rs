//! PDF import over HTTP: the file as an `application/pdf` body or a multipart `file` part,
//! streamed into the intake's [`Intake::import_pdf`](crate::intake::Intake::import_pdf).
//! This module knows the request's shapes only.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use quire_actors::BookId;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::books::require_book;
use super::error::{ApiError, Code};
use super::schema::BookPath;
use super::views::JobView;
use crate::intake::pdf::{FollowUp, Password, PdfIntakeError, PdfOptions};
use crate::pdf::PdfError;
use crate::pdf::import::ImportMode;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/books/{book_id}/pdf")
            .route(web::post().to(import_pdf))
            .default_service(web::to(super::method_not_allowed)),
    );
}

/// The header that carries an encrypted PDF's password with an `application/pdf` body.
pub const PASSWORD_HEADER: &str = "x-pdf-password";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// `auto` (default): each page's text layer where it is good, else the page rendered and
    /// OCR'd; `text`: the text layer only; `ocr`: every page rendered and OCR'd.
    mode: Option<ImportMode>,
    /// Resolution pages are rendered at for OCR (72 to 600, default 300).
    #[param(minimum = 72, maximum = 600)]
    dpi: Option<u32>,
    /// The first page of the file to import (default 1).
    #[param(minimum = 1)]
    first_page: Option<u32>,
    /// The last page of the file to import (default its last).
    #[param(minimum = 1)]
    last_page: Option<u32>,
    /// Jobs to run when the import completes, in order, comma separated:
    /// `guidelines`, `finalize`, `epub`.
    #[param(pattern = "^((guidelines|finalize|epub)(,(guidelines|finalize|epub))*)?$")]
    then: Option<String>,
}

/// The options of a multipart import, as a JSON `options` part sent before the `file`
/// part; a field given here wins over the query's.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ImportOptions {
    mode: Option<ImportMode>,
    #[serde(default, deserialize_with = "super::integer::some")]
    #[schema(minimum = 72, maximum = 600)]
    dpi: Option<u32>,
    #[serde(default, deserialize_with = "super::integer::some")]
    #[schema(minimum = 1)]
    first_page: Option<u32>,
    #[serde(default, deserialize_with = "super::integer::some")]
    #[schema(minimum = 1)]
    last_page: Option<u32>,
    /// The password of an encrypted PDF: used to open it, never stored or logged.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Password>,
    then: Option<Vec<FollowUp>>,
}

/// A PDF import as multipart: an optional `options` part (JSON), then the `file` part.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PdfForm {
    options: Option<ImportOptions>,
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn follow_ups(list: &str) -> Result<Vec<FollowUp>, ApiError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            serde_json::from_value(json!(s)).map_err(|_| {
                ApiError::new(
                    Code::InvalidQuery,
                    format!("`then` takes guidelines, finalize and epub, not `{s}`"),
                )
            })
        })
        .collect()
}

/// Import a PDF
///
/// The PDF becomes the book's next pages, one per page of the file (or of the range
/// asked), each with its text from the file's text layer or from OCR of the rendered page.
/// The file streams to disk and to the object store; the answer comes once it is stored
/// and analysed (its pages counted, its outline and labels read), with the `pdf_import`
/// job running (`stage`: `extracting`). A file at fault fails that job at once with its
/// code, and the book is left as it was.
#[utoipa::path(
    post,
    path = "/api/v1/books/{book_id}/pdf",
    tag = "pages",
    params(BookPath, ImportQuery,
        ("x-pdf-password" = Option<String>, Header, description = "The password of an encrypted PDF sent as `application/pdf`.")),
    request_body(
        description = "The PDF: an `application/pdf` body, or `multipart/form-data` with an optional `options` part (JSON) and a `file` part.",
        content(
            (Vec<u8> = "application/pdf"),
            (PdfForm = "multipart/form-data"),
        )
    ),
    responses(
        (status = 202, description = "The file is stored and analysed; its `pdf_import` job runs.", body = JobView),
        (status = 400, description = "`INVALID_PATH`, `INVALID_QUERY`, `INVALID_MULTIPART`, `UNKNOWN_FIELD`, `INVALID_JSON` (the `options` part), `NO_FILES`; `UPLOAD_INCOMPLETE`: the file did not arrive whole (its job failed).", body = super::error::ErrorBody),
        (status = 404, description = "`BOOK_NOT_FOUND`.", body = super::error::ErrorBody),
        (status = 409, description = "`BOOK_BUSY`: a job holds the book; `BOOK_FULL`: its pages would be numbered past 100000.", body = super::error::ErrorBody),
        (status = 413, description = "`PDF_TOO_LARGE`, `TOO_MANY_PAGES`.", body = super::error::ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: neither `application/pdf` nor `multipart/form-data`.", body = super::error::ErrorBody),
        (status = 422, description = "`INVALID_PDF`, `CORRUPTED_FILE`, `ENCRYPTED_PDF`, `UNSUPPORTED_FORMAT`, `INVALID_PAGE_RANGE`: the file is at fault; its import job failed with the same code (`details.job_id`).", body = super::error::ErrorBody),
        (status = 500, description = "`INTERNAL`, `STORAGE_FAILED`, `PDF_TOOLS_MISSING`.", body = super::error::ErrorBody),
        (status = 503, description = "`STORE_UNAVAILABLE`, `STORAGE_UNAVAILABLE`, `SHUTTING_DOWN`.", body = super::error::ErrorBody),
    )
)]
async fn import_pdf(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<BookId>,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let book = path.into_inner();
    let query = query.into_inner();
    let mut options = PdfOptions {
        mode: query.mode.unwrap_or_default(),
        dpi: query.dpi,
        first_page: query.first_page,
        last_page: query.last_page,
        password: None,
        then: query
            .then
            .as_deref()
            .map(follow_ups)
            .transpose()?
            .unwrap_or_default(),
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    require_book(&state, book).await?;
    let intake = state.intake.clone();
    let job = if content_type.starts_with("application/pdf") {
        options.password = req
            .headers()
            .get(PASSWORD_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|p| Password::new(p.to_owned()));
        intake.import_pdf(book, options, payload).await
    } else if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::new(req.headers(), payload);
        let file = loop {
            let Some(part) = multipart.next().await else {
                return Err(ApiError::new(
                    Code::NoFiles,
                    "the body has no `file` part; send the PDF as one",
                ));
            };
            let mut part = part.map_err(|e| {
                ApiError::new(
                    Code::InvalidMultipart,
                    format!("the multipart body is malformed: {e}"),
                )
            })?;
            match part.name().unwrap_or("") {
                "options" => {
                    let mut raw = Vec::new();
                    while let Some(chunk) = part.next().await {
                        let chunk = chunk
                            .map_err(|e| ApiError::new(Code::InvalidMultipart, e.to_string()))?;
                        if raw.len() + chunk.len() > 64 * 1024 {
                            return Err(ApiError::new(
                                Code::BodyTooLarge,
                                "the `options` part is over 64 KiB",
                            ));
                        }
                        raw.extend_from_slice(&chunk);
                    }
                    // `null` is no options, as the document's optional part allows.
                    let given: Option<ImportOptions> =
                        serde_json::from_slice(&raw).map_err(|e| {
                            ApiError::new(Code::InvalidJson, format!("the `options` part: {e}"))
                        })?;
                    let given = given.unwrap_or_default();
                    options.mode = given.mode.unwrap_or(options.mode);
                    options.dpi = given.dpi.or(options.dpi);
                    options.first_page = given.first_page.or(options.first_page);
                    options.last_page = given.last_page.or(options.last_page);
                    options.password = given.password;
                    if let Some(then) = given.then {
                        options.then = then;
                    }
                }
                "file" | "files" => break part,
                other => {
                    return Err(ApiError::new(
                        Code::UnknownField,
                        format!("unknown part `{other}`; send `options` (JSON) and `file`"),
                    ));
                }
            }
        };
        let body = file.map_ok(Bytes::from).map_err(|e| e.to_string());
        intake.import_pdf(book, options, Box::pin(body)).await
    } else {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "send the PDF as application/pdf, or as multipart/form-data with a `file` part",
        ));
    };
    let job = job.map_err(ApiError::from)?;
    Ok(HttpResponse::Accepted().json(JobView::new(&job, state.now())))
}

impl From<crate::pdf::PdfPageError> for ApiError {
    fn from(e: crate::pdf::PdfPageError) -> Self {
        use crate::pdf::PdfPageError as E;
        match e {
            E::Store(e) => e.into(),
            E::Objects(crate::objects::ObjectError::NotFound(_)) | E::NoImport(_) => {
                ApiError::new(Code::ImageNotFound, "the page's PDF is not stored any more")
            }
            E::Objects(e) => super::error::storage(e),
            E::Pdf(e @ PdfError::ToolMissing { .. }) => {
                ApiError::new(Code::PdfToolsMissing, e.to_string())
            }
            E::Pdf(e) => {
                tracing::warn!(error = %e, "cannot render a page of a PDF");
                ApiError::new(
                    Code::Internal,
                    "the page could not be rendered; see the server log",
                )
            }
        }
    }
}

impl From<PdfIntakeError> for ApiError {
    fn from(e: PdfIntakeError) -> Self {
        use crate::intake::held_job::HoldError;
        match e {
            PdfIntakeError::Refused { error, job } => {
                let code = match &error {
                    PdfError::NotPdf => Code::InvalidPdf,
                    PdfError::Corrupted(_) => Code::CorruptedFile,
                    PdfError::PasswordNeeded | PdfError::WrongPassword => Code::EncryptedPdf,
                    PdfError::BadRange(_) => Code::InvalidPageRange,
                    _ => Code::UnsupportedFormat,
                };
                ApiError::new(code, error.to_string()).with_details(json!({ "job_id": job.id }))
            }
            e @ PdfIntakeError::TooLarge { .. } => ApiError::new(Code::PdfTooLarge, e.to_string()),
            e @ PdfIntakeError::TooManyPages { .. } => {
                ApiError::new(Code::TooManyPages, e.to_string())
            }
            e @ PdfIntakeError::BookFull => ApiError::new(Code::BookFull, e.to_string()),
            e @ PdfIntakeError::BadDpi => ApiError::new(Code::InvalidQuery, e.to_string()),
            e @ PdfIntakeError::BrokenOff(_) => {
                ApiError::new(Code::UploadIncomplete, e.to_string())
            }
            PdfIntakeError::Hold(HoldError::Submit(e)) | PdfIntakeError::Submit(e) => e.into(),
            PdfIntakeError::Store(e) => e.into(),
            PdfIntakeError::Objects(e) => super::error::storage(e),
            PdfIntakeError::Tools(e @ PdfError::ToolMissing { .. }) => {
                tracing::error!(error = %e, "PDF import");
                ApiError::new(Code::PdfToolsMissing, e.to_string())
            }
            e => {
                tracing::error!(error = %e, "PDF import failed");
                ApiError::new(Code::Internal, "the import failed; see the server log")
            }
        }
    }
}
