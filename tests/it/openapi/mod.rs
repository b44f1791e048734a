//! The OpenAPI document against the real server: it is valid and self-contained, every
//! route it lists is served and every served route is in it (the README's API table is the
//! list of served routes), and what the server answers has the documented statuses, media
//! types and shapes.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::api::{Part, assert_error, serve};
use crate::common::db::{Backend, TestDb};
use crate::common::images::small_png;

mod support;

use support::*;

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
    // The code is one of the server's table (`ErrorCode`), each with its status.
    let code = &detail["properties"]["code"];
    let code = code["$ref"]
        .as_str()
        .map(|r| resolve(&doc, r).unwrap())
        .unwrap_or(code);
    assert_eq!(code["type"], json!("string"));
    for sent in ["BOOK_NOT_FOUND", "LEASE_LOST", "JOB_NOT_HELD"] {
        assert!(
            code["enum"].as_array().unwrap().contains(&json!(sent)),
            "{sent} is not documented"
        );
    }
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
    let file = resolve(
        &doc,
        form["properties"]["files"]["items"]["$ref"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    // An empty part is refused (`EMPTY_FILE`), so the document asks for one byte.
    assert_eq!(
        *file,
        json!({ "type": "string", "format": "binary", "minLength": 1 })
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
            "POST",
            "/api/v1/jobs/{job_id}/cancel",
            format!("/api/v1/jobs/{}/cancel", uuid::Uuid::new_v4()),
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
