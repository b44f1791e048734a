//! Guideline extraction through the real server with the offline extractor, on the real
//! textbook page OCR'd by Tesseract.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::api::{Part, Storage, assert_error, serve_with, shared_data};
use crate::common::db::{Backend, TestDb};

async fn guidelines_from_a_real_textbook_page(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let book = api.book().await;
    let generate = format!("/api/v1/books/{book}/guidelines/generate");
    assert_error(
        &api.post(&generate, json!({})).await,
        StatusCode::CONFLICT,
        "NO_PAGES_READY",
    );
    assert_error(
        &api.post(&generate, json!({ "mode": "resume" })).await,
        StatusCode::NOT_FOUND,
        "JOB_NOT_FOUND",
    );
    assert_error(
        &api.post(
            &format!("/api/v1/books/{book}/guidelines/finalize"),
            json!({}),
        )
        .await,
        StatusCode::CONFLICT,
        "NO_GUIDELINES",
    );
    assert_error(
        &api.post(&generate, json!({ "mode": "sideways" })).await,
        StatusCode::BAD_REQUEST,
        "INVALID_JSON",
    );

    let textbook = shared_data("textbook/page-01.png");
    let scan = shared_data("phototest.tif");
    let (status, up) = api
        .upload(
            &format!("/api/v1/books/{book}/pages/bulk"),
            &[
                Part::file("page-01.png", &textbook),
                Part::file("photo.tif", &scan),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{up}");
    api.wait_status(up["job"]["id"].as_str().unwrap(), "completed")
        .await;
    // A page rejected in review takes no part.
    let (status, _) = api
        .put(
            &format!("/api/v1/books/{book}/pages/2/review"),
            json!({ "action": "reject" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, job) = api.post(&generate, json!({ "mode": "start" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["kind"], json!("extract"));
    assert_eq!(job["progress"]["total"], json!(1));
    api.wait_status(job["id"].as_str().unwrap(), "completed")
        .await;

    let (status, found) = api.get(&format!("/api/v1/books/{book}/guidelines")).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["status"], json!("draft"));
    assert_eq!(found["pages"], json!(1));
    assert_eq!(found["subtopics"], json!(1));
    let topic = &found["topics"][0];
    assert_eq!(topic["name"], json!("Understanding Fractions"), "{found}");
    let sub = &topic["subtopics"][0];
    assert_eq!(sub["name"], json!("What Is a Fraction?"), "{found}");
    assert_eq!(sub["pages"], json!([1]));
    assert!(
        sub["key_concepts"][0]
            .as_str()
            .is_some_and(|k| k.contains("numerator is 3")),
        "{found}"
    );
    assert!(
        sub["examples"][0]
            .as_str()
            .is_some_and(|e| e.contains("pizza")),
        "{found}"
    );

    let res = api
        .http
        .get(format!("{}/api/v1/books/{book}/guidelines", api.base))
        .header("accept", "text/markdown")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let md = res.text().await.unwrap();
    assert!(
        md.contains("## Understanding Fractions (page 1)")
            && md.contains("### What Is a Fraction? (page 1)")
            && md.contains("**Examples**"),
        "{md}"
    );

    // Finalize: one job, and the guidelines are final.
    let finalize = format!("/api/v1/books/{book}/guidelines/finalize");
    let (status, fin) = api.post(&finalize, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{fin}");
    assert_eq!(fin["kind"], json!("finalize"));
    api.wait_status(fin["id"].as_str().unwrap(), "completed")
        .await;
    let (_, done) = api.get(&format!("/api/v1/books/{book}/guidelines")).await;
    assert_eq!(done["status"], json!("final"), "{done}");
    assert_eq!(done["topics"][0]["name"], json!("Understanding Fractions"));
    assert_eq!(
        done["topics"][0]["subtopics"][0]["name"],
        json!("What Is a Fraction?")
    );

    // Export as EPUB: approve page 1 so its text goes in; epubcheck finds no error.
    let export = format!("/api/v1/books/{book}/exports/epub");
    assert_error(
        &api.get(&export).await,
        StatusCode::NOT_FOUND,
        "EXPORT_NOT_FOUND",
    );
    let (status, _) = api
        .put(
            &format!("/api/v1/books/{book}/pages/1/review"),
            json!({ "action": "approve" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, job) = api.post(&export, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    api.wait_status(job["id"].as_str().unwrap(), "completed")
        .await;
    let res = api
        .http
        .get(format!("{}{export}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/epub+zip");
    let epub = res.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("book.epub");
    std::fs::write(&file, &epub).unwrap();
    let check = std::process::Command::new("java")
        .args(["-jar", "/usr/share/java/epubcheck.jar"])
        .arg(&file)
        .output()
        .expect("java and epubcheck (scripts/install-deps installs them)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "epubcheck: {said}");
    assert!(said.contains("No errors or warnings detected"), "{said}");
    // The chapter holds the guidelines and the approved page text.
    let haystack = String::from_utf8_lossy(&epub);
    assert!(
        haystack.contains("<h1>Understanding Fractions</h1>")
            && haystack.contains("What Is a Fraction?")
            && haystack.contains("Maya eats 3"),
        "the EPUB lacks its chapter"
    );

    // Everything completed: a resume has nothing to do; a restart runs the pages again and
    // keeps the first run in the history.
    assert_error(
        &api.post(&generate, json!({ "mode": "resume" })).await,
        StatusCode::CONFLICT,
        "NOT_RESUMABLE",
    );
    let (status, again) = api.post(&generate, json!({ "mode": "restart" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    api.wait_status(again["id"].as_str().unwrap(), "completed")
        .await;
    let (_, history) = api
        .get(&format!("/api/v1/books/{book}/jobs?kind=extract"))
        .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 2, "{history}");
    // A newer extraction makes the guidelines a draft again until finalized.
    let (_, redrafted) = api.get(&format!("/api/v1/books/{book}/guidelines")).await;
    assert_eq!(redrafted["status"], json!("draft"));
}

crate::on_both_backends!(guidelines_from_a_real_textbook_page);
