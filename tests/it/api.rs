//! The REST API through the real HTTP server, on both backends: shapes, status codes, and
//! hostile input answered with JSON errors that leave nothing stored.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::api::{assert_error, serve};
use crate::common::db::{Backend, TestDb};

async fn a_job_is_started_watched_and_listed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve(&db, true).await;
    let (status, health) = api.get("/health").await;
    assert_eq!(
        (status, health["status"].clone()),
        (StatusCode::OK, json!("ok"))
    );
    let (status, ready) = api.get("/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(
        (ready["database"].as_str(), ready["objects"].as_str()),
        (Some("ok"), Some("ok"))
    );

    let book = api.book().await;
    let params = json!({ "latency_ms": 20, "fail": { "3": "terminal" } });
    let (status, job) = api
        .post(
            &format!("/api/v1/books/{book}/jobs/synthetic"),
            json!({ "items": 40, "params": params }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["kind"], json!("synthetic"));
    assert_eq!(job["progress"]["total"], json!(40));
    let id = job["id"].as_str().unwrap().to_owned();

    // The JobLock: a second start answers 409 with the holder.
    let busy = api
        .post(
            &format!("/api/v1/books/{book}/jobs/synthetic"),
            json!({ "items": 1 }),
        )
        .await;
    assert_error(&busy, StatusCode::CONFLICT, "BOOK_BUSY");
    assert_eq!(busy.1["error"]["details"]["job_id"], json!(id));

    let done = api.wait_status(&id, "completed").await;
    assert_eq!(done["progress"]["completed"], json!(39));
    assert_eq!(done["progress"]["failed"], json!(1));
    assert_eq!(done["progress"]["percent"], json!(100.0));
    assert!(done["finished_at"].is_string() && done["elapsed_ms"].is_number());

    let (_, latest) = api
        .get(&format!("/api/v1/books/{book}/jobs/latest?kind=synthetic"))
        .await;
    assert_eq!(latest["id"], json!(id));
    let (_, shown) = api.get(&format!("/api/v1/books/{book}")).await;
    assert_eq!(shown["latest_job"]["id"], json!(id));

    // Items: counts, a status filter, and a cursor.
    let (_, failed) = api
        .get(&format!("/api/v1/jobs/{id}/items?status=failed"))
        .await;
    assert_eq!(
        failed["counts"],
        json!({ "pending": 0, "processing": 0, "completed": 39, "failed": 1 })
    );
    assert_eq!(failed["items"][0]["item_no"], json!(3));
    assert_eq!(
        failed["items"][0]["error"]["code"],
        json!("SYNTHETIC_TERMINAL")
    );
    assert_eq!(failed["items"][0]["error"]["class"], json!("terminal"));
    let (_, page) = api
        .get(&format!("/api/v1/jobs/{id}/items?limit=10&after=10"))
        .await;
    let nos: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_no"].as_i64().unwrap())
        .collect();
    assert_eq!(nos, (11..=20).collect::<Vec<_>>());
    assert_eq!(page["next"], json!(20));

    // Resume runs only what did not complete, linked to the old job. Item 3 still fails
    // (same params), so the resumed job fails with every item failed.
    let (status, resumed) = api
        .post(
            &format!("/api/v1/jobs/{id}/resume"),
            json!({ "mode": "resume" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resumed}");
    assert_eq!(resumed["resumed_from"], json!(id));
    assert_eq!(resumed["progress"]["total"], json!(1));
    let resumed_id = resumed["id"].as_str().unwrap();
    let failed = api.wait_status(resumed_id, "failed").await;
    assert_eq!(failed["error"]["code"], json!("ALL_ITEMS_FAILED"));
    // Restart runs all 40 again; an empty body means resume.
    let (status, restarted) = api
        .post(
            &format!("/api/v1/jobs/{id}/resume"),
            json!({ "mode": "restart" }),
        )
        .await;
    assert_eq!(
        (status, restarted["progress"]["total"].clone()),
        (StatusCode::ACCEPTED, json!(40))
    );
    let resumed_id = restarted["id"].as_str().unwrap();
    api.wait_status(resumed_id, "completed").await;

    // History, newest first, with filters and a cursor.
    let (_, history) = api.get(&format!("/api/v1/books/{book}/jobs")).await;
    let ids: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![resumed_id, failed["id"].as_str().unwrap(), id.as_str()]
    );
    let (_, page) = api
        .get(&format!("/api/v1/jobs?book_id={book}&limit=2"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap();
    let (_, rest) = api
        .get(&format!("/api/v1/jobs?book_id={book}&before={next}"))
        .await;
    assert_eq!(rest["items"][0]["id"], json!(id));
    assert!(rest["next"].is_null());
    let (_, failed_only) = api.get("/api/v1/jobs?status=failed&kind=synthetic").await;
    assert_eq!(failed_only["items"].as_array().unwrap().len(), 1);
    assert_error(
        &api.get("/api/v1/jobs?status=sleeping").await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    );

    // Metrics, in the Prometheus text format.
    let metrics = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("quire_jobs{kind=\"synthetic\",status=\"completed\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("quire_jobs{kind=\"synthetic\",status=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("quire_job_items_completed{kind=\"synthetic\",status=\"completed\"} 78"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "# TYPE quire_runtime_restarts_total counter\nquire_runtime_restarts_total 0"
        ),
        "{metrics}"
    );

    let (_, books) = api.get("/api/v1/books?limit=10").await;
    assert_eq!(books["items"][0]["id"], json!(book));
    assert_eq!(books["items"][0]["latest_job"]["id"], json!(resumed_id));
}

async fn cancel_and_events(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve(&db, true).await;
    let book = api.book().await;
    let (_, job) = api
        .post(
            &format!("/api/v1/books/{book}/jobs/synthetic"),
            json!({ "items": 200, "params": { "latency_ms": 30 } }),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_owned();

    // Server-sent events: the job now, then its changes, until it ends.
    let events = api
        .http
        .get(format!("{}/api/v1/jobs/{id}/events", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    api.wait_status(&id, "running").await;
    let (status, cancelling) = api.cancel(&id).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(cancelling["status"], json!("cancelling"));
    let body = tokio::time::timeout(Duration::from_secs(20), events.text())
        .await
        .expect("stream ended")
        .unwrap();
    let statuses: Vec<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(statuses.len() >= 2, "{statuses:?}");
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("cancelled"),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|s| s == "cancelling"), "{statuses:?}");

    let again = api.cancel(&id).await;
    assert_error(&again, StatusCode::CONFLICT, "JOB_NOT_ACTIVE");
    // The book is free again.
    let (status, _) = api
        .post(
            &format!("/api/v1/books/{book}/jobs/synthetic"),
            json!({ "items": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

async fn hostile_input_gets_json_errors_and_stores_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve(&db, true).await;
    let book = api.book().await;
    let missing = uuid::Uuid::now_v7();

    assert_error(
        &api.raw("/api/v1/books", "application/json", "{\"title\": ")
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_JSON",
    );
    assert_error(
        &api.raw("/api/v1/books", "text/plain", "{\"title\":\"x\"}")
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    assert_error(
        &api.post("/api/v1/books", json!({ "title": "" })).await,
        StatusCode::BAD_REQUEST,
        "INVALID_TITLE",
    );
    assert_error(
        &api.post("/api/v1/books", json!({ "title": "x".repeat(501) }))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_TITLE",
    );
    assert_error(
        &api.post("/api/v1/books", json!({ "title": "a\u{0}b" }))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_TITLE",
    );
    assert_error(
        &api.post("/api/v1/books", json!({ "title": "x", "admin": true }))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_JSON",
    );
    assert_error(
        &api.post("/api/v1/books", json!({ "title": 5 })).await,
        StatusCode::BAD_REQUEST,
        "INVALID_JSON",
    );
    assert_error(
        &api.get("/api/v1/books/not-a-uuid").await,
        StatusCode::BAD_REQUEST,
        "INVALID_PATH",
    );
    assert_error(
        &api.get(&format!("/api/v1/books/{missing}")).await,
        StatusCode::NOT_FOUND,
        "BOOK_NOT_FOUND",
    );
    assert_error(
        &api.get(&format!("/api/v1/jobs/{missing}")).await,
        StatusCode::NOT_FOUND,
        "JOB_NOT_FOUND",
    );
    assert_error(
        &api.get("/api/v1/jobs/../../etc/passwd").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &api.get("/api/v1/books?limit=0").await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    );
    assert_error(
        &api.get("/api/v1/books?limit=-1").await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    );
    assert_error(
        &api.get("/api/v1/books?limit=100000").await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    );
    assert_error(
        &api.get(&format!("/api/v1/books/{book}/jobs/latest?kind=bogus"))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    );
    assert_error(
        &api.get(&format!("/api/v1/books/{book}/jobs/latest")).await,
        StatusCode::NOT_FOUND,
        "JOB_NOT_FOUND",
    );
    let path = format!("/api/v1/books/{book}/jobs/synthetic");
    assert_error(
        &api.post(&path, json!({ "items": 0 })).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ITEMS",
    );
    assert_error(
        &api.post(&path, json!({ "items": -5 })).await,
        StatusCode::BAD_REQUEST,
        "INVALID_JSON",
    );
    assert_error(
        &api.post(&path, json!({ "items": 2_000_000 })).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ITEMS",
    );
    assert_error(
        &api.post(
            &path,
            json!({ "items": 3, "params": { "latency_ms": "slow" } }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMS",
    );
    assert_error(
        &api.post(&path, json!({ "items": 3, "params": { "sneaky": 1 } }))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMS",
    );
    assert_error(
        &api.post(
            &format!("/api/v1/books/{missing}/jobs/synthetic"),
            json!({ "items": 1 }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "BOOK_NOT_FOUND",
    );
    assert_error(
        &api.post(&format!("/api/v1/jobs/{missing}/resume"), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "JOB_NOT_FOUND",
    );
    assert_error(
        &api.post(
            &format!("/api/v1/jobs/{missing}/resume"),
            json!({ "mode": "sideways" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_JSON",
    );

    assert_error(
        &api.call(reqwest::Method::PUT, "/api/v1/books", Some(json!({})))
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    assert_error(
        &api.call(
            reqwest::Method::POST,
            &format!("/api/v1/jobs/{missing}"),
            None,
        )
        .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    // RFC 9110: a 405 says what the path takes.
    let put = reqwest::Client::new()
        .put(format!("{}/api/v1/books", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.headers()["allow"], "GET, POST");
    assert_error(
        &api.post("/api/v1/books", json!({ "title": "x", "owner": "a\u{0}b" }))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_OWNER",
    );
    assert_error(
        &api.post(
            "/api/v1/books",
            json!({ "title": "x", "owner": "o".repeat(201) }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_OWNER",
    );
    let huge = json!({ "mode": "resume", "pad": "x".repeat(100_000) });
    assert_error(
        &api.post(&format!("/api/v1/jobs/{missing}/resume"), huge)
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "BODY_TOO_LARGE",
    );

    // Nothing was stored by any of that: one book, no job.
    let (_, books) = api.get("/api/v1/books").await;
    assert_eq!(books["items"].as_array().unwrap().len(), 1);
    assert!(books["items"][0]["latest_job"].is_null());

    // A server without synthetic jobs says so.
    let plain = serve(&db, false).await;
    assert_error(
        &plain.post(&path, json!({ "items": 1 })).await,
        StatusCode::NOT_FOUND,
        "KIND_DISABLED",
    );
}

/// `/ready` says which dependency fails, never why: the reason (paths, hosts, users) is for
/// the log.
async fn ready_names_the_failing_dependency_and_nothing_more(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve(&db, false).await;
    let crate::common::api::ObjectsAt::Folder(folder) = &api.objects else {
        unreachable!("folder storage")
    };
    std::fs::remove_dir_all(folder).unwrap();
    let (status, ready) = api.get("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(
        ready,
        json!({ "status": "unavailable", "database": "ok", "objects": "unavailable" })
    );
    let text = ready.to_string();
    let leaked = folder.display().to_string();
    assert!(
        !text.contains(&leaked) && !text.contains("No such file"),
        "{text}"
    );
}

crate::on_both_backends!(
    a_job_is_started_watched_and_listed,
    cancel_and_events,
    hostile_input_gets_json_errors_and_stores_nothing,
    ready_names_the_failing_dependency_and_nothing_more,
);
