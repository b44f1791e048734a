//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! view types, served at `/api/openapi.json`; `/api/docs` is a small page that renders it.
//!
//! The runtime's types (`quire-actors`) know nothing of OpenAPI: their schemas are written
//! in [`super::schema`], the enums' values taken from the enums themselves so they cannot
//! drift. This module assembles the document; the routes modules import nothing from it.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{RefOr, Required};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::method_not_allowed;
use super::schema::{
    ErrorClassSchema, ErrorCodeSchema, ItemStatusSchema, JobKindSchema, JobStatusSchema,
    ReviewStatusSchema,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Quire",
        description = "Quire processes books: upload page images, OCR them in background jobs, \
review the text. Jobs are supervised, resumable and observable (progress, items, server-sent \
events).\n\nEvery error answers a 4xx or 5xx status with the body \
`{\"error\": {\"code\", \"message\", \"details\"}}` (the `ErrorBody` schema): the operations \
list theirs. Any route also answers `404 NOT_FOUND` for a path it does not know and \
`405 METHOD_NOT_ALLOWED` for a method a path does not take, in the same shape."
    ),
    paths(
        super::health::health,
        super::health::ready,
        super::metrics::metrics,
        openapi_json,
        docs,
        super::books::create_book,
        super::books::list_books,
        super::books::show_book,
        super::books::delete_book,
        super::books::book_jobs,
        super::books::latest_job,
        super::books::start_synthetic,
        super::pages::list_pages,
        super::pages::upload_one,
        super::pages::upload_many,
        super::pages::show_page,
        super::pages::delete_page,
        super::pages::page_image,
        super::pages::review_page,
        super::pages::retry_ocr,
        super::pages::start_ocr,
        super::pdf::import_pdf,
        super::guidelines::generate,
        super::guidelines::show,
        super::guidelines::finalize,
        super::exports::start,
        super::exports::download,
        super::jobs::list_jobs,
        super::jobs::show_job,
        super::jobs::cancel_job,
        super::jobs::list_items,
        super::jobs::resume_job,
        super::jobs::retry_items,
        super::jobs::job_events,
    ),
    components(schemas(
        ErrorBody,
        ErrorCodeSchema,
        JobKindSchema,
        JobStatusSchema,
        ItemStatusSchema,
        ErrorClassSchema,
        ReviewStatusSchema,
    )),
    tags(
        (name = "system", description = "Liveness, readiness, metrics and this document."),
        (name = "books", description = "Books and their jobs."),
        (name = "pages", description = "Page images: upload, OCR, review."),
        (name = "guidelines", description = "Teaching guidelines extracted from the pages."),
        (name = "jobs", description = "Jobs: status, items, cancel, resume, events."),
    ),
    modifiers(&OptionalBodies, &ClosedVariants)
)]
pub struct ApiDoc;

/// A body declared `Option<T>` is one the client may leave out, not one that may be `null`
/// (the handlers refuse a `null` body): its schema becomes `T`, and it is not required.
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let null = serde_json::json!({ "type": "null" });
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for body in operations
                .into_iter()
                .flatten()
                .filter_map(|op| op.request_body.as_mut())
            {
                for content in body.content.values_mut() {
                    let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
                        continue;
                    };
                    if let [first, schema] = one_of.items.as_slice()
                        && serde_json::to_value(first).is_ok_and(|v| v == null)
                    {
                        content.schema = Some(schema.clone());
                        body.required = Some(Required::False);
                    }
                }
            }
        }
    }
}

/// The variants of a tagged enum that denies unknown fields take no other property, as the
/// server does (utoipa marks only structs `additionalProperties: false`).
struct ClosedVariants;

/// Schemas of `#[serde(tag = ..., deny_unknown_fields)]` enums, and of multipart forms
/// (read part by part, not by serde) that take no other part.
const CLOSED_ENUMS: &[&str] = &["ReviewBody", "PdfForm"];

impl Modify for ClosedVariants {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::AdditionalProperties;
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        for name in CLOSED_ENUMS {
            let closed = || Some(Box::new(AdditionalProperties::FreeForm(false)));
            match components.schemas.get_mut(*name) {
                Some(RefOr::T(Schema::OneOf(one_of))) => {
                    for variant in &mut one_of.items {
                        if let RefOr::T(Schema::Object(object)) = variant {
                            object.additional_properties = closed();
                        }
                    }
                }
                Some(RefOr::T(Schema::Object(object))) => object.additional_properties = closed(),
                _ => panic!("{name} is documented as an object or a oneOf of objects"),
            }
        }
    }
}

/// Each documented path's segments (`None` for a `{parameter}`) and the methods it takes.
static METHODS: LazyLock<Vec<(Vec<Option<String>>, String)>> = LazyLock::new(|| {
    let doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    paths
        .into_iter()
        .map(|(path, item)| {
            let segments = path
                .split('/')
                .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                .collect();
            let methods = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"]
                .into_iter()
                .filter(|m| item.get(m.to_lowercase()).is_some())
                .collect::<Vec<_>>()
                .join(", ");
            (segments, methods)
        })
        .collect()
});

/// The methods the document lists for `path` (e.g. `"GET, DELETE"`), for an `Allow` header.
pub fn allowed_methods(path: &str) -> Option<String> {
    let asked: Vec<&str> = path.split('/').collect();
    METHODS
        .iter()
        .filter(|(segments, _)| {
            segments.len() == asked.len()
                && segments
                    .iter()
                    .zip(&asked)
                    .all(|(s, a)| s.as_deref().is_none_or(|s| s == *a))
        })
        // `/jobs/latest` before `/jobs/{job_id}`: the most literal match wins.
        .max_by_key(|(segments, _)| segments.iter().flatten().count())
        .map(|(_, methods)| methods.clone())
}

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

/// The document of a server with synthetic jobs off: it does not list their route.
static DOCUMENT_WITHOUT_SYNTHETIC: LazyLock<String> = LazyLock::new(|| {
    let mut doc = ApiDoc::openapi();
    doc.paths
        .paths
        .remove("/api/v1/books/{book_id}/jobs/synthetic");
    doc.to_pretty_json()
        .expect("the OpenAPI document serializes")
});

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/openapi.json")
            .route(web::get().to(openapi_json))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/docs")
            .route(web::get().to(docs))
            .default_service(web::to(method_not_allowed)),
    );
}

/// This OpenAPI document
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "system",
    responses((status = 200, description = "The OpenAPI 3 document of this API.", content_type = "application/json", body = Object))
)]
async fn openapi_json(state: web::Data<super::ApiState>) -> HttpResponse {
    let doc = if state.synthetic_enabled {
        &DOCUMENT
    } else {
        &DOCUMENT_WITHOUT_SYNTHETIC
    };
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.as_str())
}

/// A readable page of this document
///
/// Self-contained: it loads nothing but `/api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "system",
    responses((status = 200, description = "An HTML page that renders the document.", content_type = "text/html", body = String))
)]
async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        ))
        .body(DOCS_PAGE)
}

const DOCS_PAGE: &str = include_str!("docs.html");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn allow_lists_the_documented_methods_of_a_path() {
        let book = "/api/v1/books/01a23cbc-3943-77d2-baab-06b1205a6048";
        assert_eq!(
            super::allowed_methods("/api/v1/books").as_deref(),
            Some("GET, POST")
        );
        assert_eq!(super::allowed_methods(book).as_deref(), Some("GET, DELETE"));
        assert_eq!(
            super::allowed_methods(&format!("{book}/jobs/latest")).as_deref(),
            Some("GET")
        );
        assert_eq!(super::allowed_methods("/api/v1/nothing"), None);
    }

    use quire_actors::model::JobError;
    use quire_actors::ports::ItemCounts;
    use serde_json::Value;

    use super::*;
    use crate::http::Code;
    use crate::http::schema::{ItemCountsSchema, JobErrorSchema};
    use crate::pages::ReviewStatus;
    use quire_actors::{ErrorClass, ItemStatus, JobKind, JobStatus};
    use utoipa::{PartialSchema, ToSchema};

    fn properties<T: ToSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn keys(value: Value) -> BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    }

    /// The hand-written schemas of the runtime's structs name exactly the fields they
    /// serialize.
    #[test]
    fn mirrored_schemas_match_what_the_runtime_serializes() {
        let error = JobError {
            code: "X".into(),
            message: "y".into(),
        };
        assert_eq!(
            properties::<JobErrorSchema>(),
            keys(serde_json::to_value(error).unwrap())
        );
        assert_eq!(
            properties::<ItemCountsSchema>(),
            keys(serde_json::to_value(ItemCounts::default()).unwrap())
        );
    }

    #[test]
    fn enum_schemas_list_every_value_as_serialized() {
        let values = |schema: RefOr<Schema>| -> Vec<Value> {
            serde_json::to_value(schema).unwrap()["enum"]
                .as_array()
                .unwrap()
                .clone()
        };
        assert_eq!(
            values(JobStatusSchema::schema()),
            JobStatus::ALL
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            values(JobKindSchema::schema()),
            JobKind::ALL
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            values(ItemStatusSchema::schema()),
            ItemStatus::ALL
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            values(ErrorClassSchema::schema()),
            ErrorClass::ALL
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            values(ReviewStatusSchema::schema()),
            ReviewStatus::ALL
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect::<Vec<_>>()
        );
    }

    /// The document lists every code of the table as `ErrorCode`, and the error body's
    /// `code` is one.
    #[test]
    fn the_document_lists_every_error_code() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let listed: Vec<&str> = schemas["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let all: Vec<&str> = Code::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(listed, all);
        let description = schemas["ErrorCode"]["description"].as_str().unwrap();
        for code in Code::ALL {
            let line = format!("`{}` ({})", code.name(), code.status().as_u16());
            assert!(description.contains(&line), "{line}");
        }
        // Only `ErrorDetail`'s `code` names the schema.
        let text = serde_json::to_string(&doc).unwrap();
        assert!(
            text.contains(r##""$ref":"#/components/schemas/ErrorCode""##),
            "the error body's code is not an ErrorCode"
        );
    }

    /// Every code an operation's response names has that response's status, and every code
    /// is named by some operation (`NOT_FOUND` and `METHOD_NOT_ALLOWED`, which any path may
    /// answer, by the document's description).
    #[test]
    fn operations_name_every_code_under_its_status() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut named = BTreeSet::new();
        let mut texts = vec![(
            None,
            doc["info"]["description"].as_str().unwrap().to_owned(),
        )];
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let Some(responses) = op["responses"].as_object() else {
                    continue;
                };
                for (status, response) in responses {
                    let text = response["description"].as_str().unwrap_or_default();
                    texts.push((Some(status.parse::<u16>().unwrap()), text.to_owned()));
                }
            }
        }
        for (status, text) in &texts {
            // Quoted words; `404 NOT_FOUND` names `NOT_FOUND`.
            let quoted = text
                .split('`')
                .skip(1)
                .step_by(2)
                .filter_map(|w| w.rsplit(' ').next());
            // A code's name, not `details.job_id` or `application/json`.
            for name in quoted
                .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            {
                let code = Code::ALL
                    .iter()
                    .find(|c| c.name() == name)
                    .unwrap_or_else(|| panic!("`{name}` is not a code"));
                if let Some(status) = status {
                    assert_eq!(code.status().as_u16(), *status, "{name}");
                }
                named.insert(code.name());
            }
        }
        let missing: Vec<&str> = Code::ALL
            .iter()
            .map(|c| c.name())
            .filter(|n| !named.contains(n))
            .collect();
        assert!(missing.is_empty(), "no operation names {missing:?}");
    }

    #[test]
    fn the_page_number_bound_is_the_stores() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let params = &doc["paths"]["/api/v1/books/{book_id}/pages/{page_no}"]["get"]["parameters"];
        let page_no = params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "page_no")
            .unwrap();
        assert_eq!(
            page_no["schema"]["maximum"],
            serde_json::json!(crate::pages::MAX_PAGE_NO)
        );
    }
}
