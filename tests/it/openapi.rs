//! The OpenAPI document against the real server: it is valid and self-contained, every
//! route it lists is served and every served route is in it (the README's API table is the
//! list of served routes), and what the server answers has the documented statuses, media
//! types and shapes.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::api::{Api, Part, assert_error, serve};
use crate::common::db::{Backend, TestDb};
use crate::common::images::small_png;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Operations that have no client error to report.
const NO_CLIENT_ERRORS: [(&str, &str); 5] = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
];

async fn document(api: &Api) -> Value {
    let res = api
        .http
        .get(format!("{}/api/openapi.json", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(media_type(&res).as_deref(), Some("application/json"));
    res.json().await.unwrap()
}

/// The media type of a response, without its parameters.
fn media_type(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(essence)
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Every (METHOD, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

/// The value a local `$ref` points to.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn is_error_body(response: &Value) -> bool {
    response["content"]["application/json"]["schema"]["$ref"]
        == json!("#/components/schemas/ErrorBody")
}

/// Checks `value` against `schema`, the subset of JSON Schema the document uses, strictly:
/// an object has only the properties its schema names. Pushes what does not match.
fn conform(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        match resolve(doc, reference) {
            Some(target) => conform(doc, target, value, at, errors),
            None => errors.push(format!("{at}: unresolved {reference}")),
        }
        return;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            let matches = options.iter().any(|option| {
                let mut e = Vec::new();
                conform(doc, option, value, at, &mut e);
                e.is_empty()
            });
            if !matches {
                errors.push(format!("{at}: {value} matches no schema of {key}"));
            }
            return;
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !allowed {
        errors.push(format!("{at}: {value} is {actual}, not {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object())
    {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap();
            if !object.contains_key(name) {
                errors.push(format!("{at}: the required `{name}` is missing"));
            }
        }
        for (name, v) in object {
            match properties.get(name) {
                Some(s) => conform(doc, s, v, &format!("{at}.{name}"), errors),
                None => errors.push(format!("{at}: `{name}` is not documented")),
            }
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, v) in values.iter().enumerate() {
            conform(doc, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Sends a request and checks the answer against the operation's documented responses:
/// the status is documented, the media type is one documented for it, and a JSON body has
/// the documented shape. Returns the status and the body (JSON, else text).
async fn checked(
    api: &Api,
    doc: &Value,
    method: &str,
    template: &str,
    path: &str,
    request: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (StatusCode, Value) {
    let op = &doc["paths"][template][method.to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {template} is not documented");
    let res = request(api.http.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}{path}", api.base),
    ))
    .send()
    .await
    .unwrap();
    let status = res.status();
    let media = media_type(&res);
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    let documented = &op["responses"][status.as_str()];
    assert!(
        documented.is_object(),
        "{method} {path} answered {status}, which is not documented: {body}"
    );
    if let Some(content) = documented["content"].as_object() {
        let media = media.unwrap_or_else(|| panic!("{method} {path}: no content type"));
        let Some((_, media_doc)) = content.iter().find(|(k, _)| essence(k) == media) else {
            panic!("{method} {path} answered {status} as {media}, not as documented");
        };
        if media == "application/json" {
            let mut errors = Vec::new();
            conform(doc, &media_doc["schema"], &body, "body", &mut errors);
            assert!(
                errors.is_empty(),
                "{method} {path} answered {status} {body}, not as documented: {errors:#?}"
            );
        }
    }
    (status, body)
}

/// A request that must fail: method, documented path, concrete path, an optional body with
/// its content type, and the status and code expected.
type ErrorCase = (
    &'static str,
    &'static str,
    String,
    Option<(&'static str, Vec<u8>)>,
    StatusCode,
    &'static str,
);

fn no_body(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req
}

/// The served routes: the README's API table, `| METHOD | `path`[, `path`] | … |`, without
/// query strings.
fn readme_routes() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut routes = BTreeSet::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, method, paths, ..] = cells.as_slice() else {
            continue;
        };
        if !METHODS.contains(&method.to_ascii_lowercase().as_str())
            || method.to_ascii_uppercase() != *method
        {
            continue;
        }
        for path in paths.split('`').skip(1).step_by(2) {
            let path = path.split('?').next().unwrap();
            routes.insert((method.to_string(), path.to_owned()));
        }
    }
    routes
}

/// A documented path with its parameters filled in: fresh ids, page 1.
fn concrete(template: &str) -> String {
    template
        .replace("{book_id}", &uuid::Uuid::new_v4().to_string())
        .replace("{job_id}", &uuid::Uuid::new_v4().to_string())
        .replace("{page_no}", "1")
}

fn is_fallback(status: StatusCode, body: &Value) -> bool {
    matches!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
            | (StatusCode::METHOD_NOT_ALLOWED, Some("METHOD_NOT_ALLOWED"))
    )
}

#[actix_rt::test]
async fn the_document_is_openapi_3_and_every_error_is_an_error_body() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve(&db, true).await;
    let doc = document(&api).await;

    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], json!("Quire"));
    assert_eq!(doc["info"]["version"], json!(env!("CARGO_PKG_VERSION")));
    assert!(
        doc["info"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let ops = operations(&doc);
    assert!(ops.len() >= 20, "{} operations", ops.len());

    // Every reference resolves, inside the document.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        assert!(resolve(&doc, r).is_some(), "unresolved {r}");
    }

    // The error shape: {"error": {"code", "message", "details"}}, all required.
    let body = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(body["required"], json!(["error"]));
    let detail = resolve(&doc, body["properties"]["error"]["$ref"].as_str().unwrap()).unwrap();
    let required: BTreeSet<&str> = detail["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["code", "message", "details"]));
    assert_eq!(detail["properties"]["code"]["type"], json!("string"));
    assert_eq!(detail["properties"]["message"]["type"], json!("string"));

    // The shape checker the other tests use sees drift: an undocumented field, a wrong type,
    // a missing field.
    let job_list = json!({ "$ref": "#/components/schemas/JobList" });
    let mut errors = Vec::new();
    conform(
        &doc,
        &job_list,
        &json!({ "items": [], "next": null }),
        "ok",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    for bad in [
        json!({ "items": [], "next": null, "extra": 1 }),
        json!({ "items": [], "next": 7 }),
        json!({ "next": null }),
        json!({ "items": [{ "id": "x" }], "next": null }),
    ] {
        let mut errors = Vec::new();
        conform(&doc, &job_list, &bad, "bad", &mut errors);
        assert!(!errors.is_empty(), "{bad} passed as a JobList");
    }

    let mut operation_ids = BTreeSet::new();
    for (method, path, op) in &ops {
        let name = format!("{method} {path}");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{name} has no summary"
        );
        assert!(
            operation_ids.insert(op["operationId"].as_str().unwrap().to_owned()),
            "{name}: a second {}",
            op["operationId"]
        );
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{name} documents no success"
        );
        // Every JSON error is an ErrorBody; /ready alone answers 503 with its own report.
        for (status, response) in responses {
            let code: u16 = status.parse().unwrap();
            if code >= 400 && !(path == "/ready" && code == 503) {
                assert!(
                    is_error_body(response),
                    "{name}: {status} is not an ErrorBody"
                );
            }
        }
        let client_errors = responses
            .iter()
            .filter(|(s, r)| s.starts_with('4') && is_error_body(r))
            .count();
        if !NO_CLIENT_ERRORS.contains(&(method.as_str(), path.as_str())) {
            assert!(client_errors > 0, "{name} documents no 4xx ErrorBody");
        }
        // Whatever can be malformed can be answered 400.
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if !params.is_empty() || op.get("requestBody").is_some() {
            assert!(responses.contains_key("400"), "{name} documents no 400");
        }
        // The path's placeholders are exactly its path parameters.
        let placeholders: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .map(|s| s.split('}').next().unwrap())
            .collect();
        let in_path: BTreeSet<&str> = params
            .iter()
            .filter(|p| p["in"] == json!("path"))
            .map(|p| {
                assert_eq!(p["required"], json!(true), "{name}: {p}");
                p["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(placeholders, in_path, "{name}");
    }

    // The upload takes multipart files; the image and the events have their media types.
    let upload = &doc["paths"]["/api/v1/books/{book_id}/pages/bulk"]["post"]["requestBody"];
    let form = resolve(
        &doc,
        upload["content"]["multipart/form-data"]["schema"]["$ref"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(form["properties"]["files"]["type"], json!("array"));
    assert_eq!(
        form["properties"]["files"]["items"],
        json!({ "type": "string", "format": "binary" })
    );
    let image = doc["paths"]["/api/v1/books/{book_id}/pages/{page_no}/image"]["get"]["responses"]
        ["200"]["content"]
        .as_object()
        .unwrap();
    let types: BTreeSet<&str> = image.keys().map(String::as_str).collect();
    assert_eq!(
        types,
        BTreeSet::from(["image/png", "image/jpeg", "image/tiff", "image/webp"])
    );
    assert!(
        doc["paths"]["/api/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
            ["text/event-stream"]
            .is_object()
    );
}

#[actix_rt::test]
async fn documented_routes_are_the_served_routes() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve(&db, true).await;
    let doc = document(&api).await;
    let ops = operations(&doc);

    // The README's table lists what is served; it and the document agree.
    let documented: BTreeSet<(String, String)> =
        ops.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect();
    let listed = readme_routes();
    assert_eq!(
        listed,
        documented,
        "\nin the README only: {:#?}\nin the document only: {:#?}",
        listed.difference(&documented).collect::<Vec<_>>(),
        documented.difference(&listed).collect::<Vec<_>>()
    );

    // Each documented operation reaches a handler (never the router's fallback), which
    // answers as documented.
    for (method, template, _) in &ops {
        let path = concrete(template);
        let (status, body) = checked(&api, &doc, method, template, &path, no_body).await;
        assert!(
            !is_fallback(status, &body),
            "{method} {path} is documented but not served: {status} {body}"
        );
    }

    // Each documented path takes only its documented methods.
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = concrete(template);
        for method in METHODS {
            if item.get(method).is_some() {
                continue;
            }
            let method = method.to_uppercase();
            let res = api
                .call(Method::from_bytes(method.as_bytes()).unwrap(), &path, None)
                .await;
            assert_error(&res, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
        }
    }

    // And what is not documented is not served.
    assert_error(
        &api.get("/api/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[actix_rt::test]
async fn answers_have_the_documented_shapes() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve(&db, true).await;
    let doc = document(&api).await;
    let json_body = |body: Value| move |req: reqwest::RequestBuilder| req.json(&body);

    let (status, book) = checked(
        &api,
        &doc,
        "POST",
        "/api/v1/books",
        "/api/v1/books",
        json_body(json!({ "title": "Fractions", "owner": "ana" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{book}");
    let book = book["id"].as_str().unwrap().to_owned();

    // A synthetic job, its items, the lists.
    let (status, job) = checked(
        &api,
        &doc,
        "POST",
        "/api/v1/books/{book_id}/jobs/synthetic",
        &format!("/api/v1/books/{book}/jobs/synthetic"),
        json_body(json!({ "items": 5, "params": { "fail": { "2": "terminal" } } })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job = job["id"].as_str().unwrap().to_owned();
    api.wait_ended(&job).await;
    for (template, path) in [
        ("/api/v1/jobs/{job_id}", format!("/api/v1/jobs/{job}")),
        (
            "/api/v1/jobs/{job_id}/items",
            format!("/api/v1/jobs/{job}/items"),
        ),
        (
            "/api/v1/jobs/{job_id}/events",
            format!("/api/v1/jobs/{job}/events"),
        ),
        ("/api/v1/jobs", "/api/v1/jobs?limit=1".to_owned()),
        (
            "/api/v1/books/{book_id}/jobs",
            format!("/api/v1/books/{book}/jobs"),
        ),
        (
            "/api/v1/books/{book_id}/jobs/latest",
            format!("/api/v1/books/{book}/jobs/latest?kind=synthetic"),
        ),
        ("/api/v1/books", "/api/v1/books".to_owned()),
        ("/api/v1/books/{book_id}", format!("/api/v1/books/{book}")),
    ] {
        let (status, body) = checked(&api, &doc, "GET", template, &path, no_body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, resumed) = checked(
        &api,
        &doc,
        "POST",
        "/api/v1/jobs/{job_id}/resume",
        &format!("/api/v1/jobs/{job}/resume"),
        no_body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resumed}");
    api.wait_ended(resumed["id"].as_str().unwrap()).await;

    // Pages: an upload, the list, one page, its image, a review, the OCR routes.
    let png = small_png(64, 48);
    let (content_type, form) = crate::common::api::multipart(&[Part::file("p1.png", &png)]);
    let (status, upload) = checked(
        &api,
        &doc,
        "POST",
        "/api/v1/books/{book_id}/pages/bulk",
        &format!("/api/v1/books/{book}/pages/bulk"),
        |req| req.header("content-type", content_type).body(form),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{upload}");
    let ocr_job = upload["job"]["id"].as_str().unwrap().to_owned();
    api.wait_ended(&ocr_job).await;
    for (template, path) in [
        (
            "/api/v1/books/{book_id}/pages",
            format!("/api/v1/books/{book}/pages"),
        ),
        (
            "/api/v1/books/{book_id}/pages/{page_no}",
            format!("/api/v1/books/{book}/pages/1"),
        ),
        (
            "/api/v1/books/{book_id}/pages/{page_no}/image",
            format!("/api/v1/books/{book}/pages/1/image"),
        ),
        (
            "/api/v1/jobs/{job_id}/items",
            format!("/api/v1/jobs/{ocr_job}/items"),
        ),
        ("/api/v1/books/{book_id}", format!("/api/v1/books/{book}")),
    ] {
        let (status, body) = checked(&api, &doc, "GET", template, &path, no_body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, page) = checked(
        &api,
        &doc,
        "PUT",
        "/api/v1/books/{book_id}/pages/{page_no}/review",
        &format!("/api/v1/books/{book}/pages/1/review"),
        json_body(json!({ "action": "edit", "text": "one half" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, retry) = checked(
        &api,
        &doc,
        "POST",
        "/api/v1/books/{book_id}/pages/{page_no}/retry-ocr",
        &format!("/api/v1/books/{book}/pages/1/retry-ocr"),
        no_body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retry}");
    let retry = retry["id"].as_str().unwrap().to_owned();
    // While it runs, the book is busy: a documented 409.
    let (status, busy) = checked(
        &api,
        &doc,
        "POST",
        "/api/v1/books/{book_id}/jobs/ocr",
        &format!("/api/v1/books/{book}/jobs/ocr"),
        json_body(json!({ "pages": [1] })),
    )
    .await;
    if status == StatusCode::CONFLICT {
        assert_eq!(busy["error"]["code"], json!("BOOK_BUSY"));
    }
    api.wait_ended(&retry).await;
    if status == StatusCode::ACCEPTED {
        api.wait_ended(busy["id"].as_str().unwrap()).await;
    }
    let (status, gone) = checked(
        &api,
        &doc,
        "DELETE",
        "/api/v1/books/{book_id}",
        &format!("/api/v1/books/{book}"),
        no_body,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{gone}");
    for (method, template) in [("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics")] {
        let (status, body) = checked(&api, &doc, method, template, template, no_body).await;
        assert_eq!(status, StatusCode::OK, "{template}: {body}");
    }
}

#[actix_rt::test]
async fn errors_have_the_documented_shape() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve(&db, true).await;
    let doc = document(&api).await;

    // A bad id in the path.
    let (status, body) = checked(
        &api,
        &doc,
        "GET",
        "/api/v1/books/{book_id}",
        "/api/v1/books/not-a-uuid",
        no_body,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = body["error"].as_object().unwrap();
    assert_eq!(error["code"], json!("INVALID_PATH"));
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error.contains_key("details"), "{body}");

    // Bad queries, bodies and media types, each as its operation documents it.
    let cases: Vec<ErrorCase> = vec![
        (
            "GET",
            "/api/v1/jobs",
            "/api/v1/jobs?limit=0".into(),
            None,
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
        ),
        (
            "GET",
            "/api/v1/books/{book_id}/pages/{page_no}",
            format!("/api/v1/books/{}/pages/0", uuid::Uuid::new_v4()),
            None,
            StatusCode::BAD_REQUEST,
            "INVALID_PAGE_NO",
        ),
        (
            "POST",
            "/api/v1/books",
            "/api/v1/books".into(),
            Some(("application/json", b"{\"title\":".to_vec())),
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
        ),
        (
            "POST",
            "/api/v1/books",
            "/api/v1/books".into(),
            Some(("text/plain", b"Fractions".to_vec())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "POST",
            "/api/v1/books/{book_id}/pages",
            format!("/api/v1/books/{}/pages", uuid::Uuid::new_v4()),
            Some(("application/json", b"{}".to_vec())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "POST",
            "/api/v1/books/{book_id}/jobs/ocr",
            format!("/api/v1/books/{}/jobs/ocr", uuid::Uuid::new_v4()),
            Some(("application/json", vec![b' '; 300 * 1024])),
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
        ),
        (
            "DELETE",
            "/api/v1/jobs/{job_id}",
            format!("/api/v1/jobs/{}", uuid::Uuid::new_v4()),
            None,
            StatusCode::NOT_FOUND,
            "JOB_NOT_FOUND",
        ),
    ];
    for (method, template, path, body, want, code) in cases {
        let (status, answer) = checked(&api, &doc, method, template, &path, |req| match body {
            Some((content_type, bytes)) => req.header("content-type", content_type).body(bytes),
            None => req,
        })
        .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (want, Some(code)),
            "{method} {path}: {answer}"
        );
        assert!(answer["error"].get("details").is_some(), "{answer}");
    }

    // The router's own answers have the shape too.
    for res in [
        api.get("/api/v2/books").await,
        api.call(Method::PATCH, "/api/v1/books", None).await,
    ] {
        let mut errors = Vec::new();
        conform(
            &doc,
            &json!({ "$ref": "#/components/schemas/ErrorBody" }),
            &res.1,
            "body",
            &mut errors,
        );
        assert!(errors.is_empty(), "{}: {errors:#?}", res.1);
    }
}

#[actix_rt::test]
async fn the_docs_page_is_self_contained() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve(&db, false).await;
    let res = api
        .http
        .get(format!("{}/api/docs", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(media_type(&res).as_deref(), Some("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("openapi.json"), "the page loads the document");
    let lower = html.to_ascii_lowercase();
    for outside in [
        "http://",
        "https://",
        "//cdn",
        "<script src",
        "<link",
        "@import",
    ] {
        assert!(!lower.contains(outside), "the page refers to `{outside}`");
    }
}
