//! The intake's guarantees through the real server: no page row outlives its image and a
//! held job always ends, whatever interleaves with an upload (a cancel, a dying task, a
//! delete of the same page number), and page lists of any length stay bounded.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::api::{
    Api, Part, Storage, assert_error, multipart, part_head, serve_with, shared_data,
};
use crate::common::db::{Backend, TestDb};
use crate::common::gate::serve_gated;
use crate::pages::{pages, source_pages, wait_for_pages};

/// Asserts that every page the book lists has its source image, served back whole.
async fn assert_every_page_has_its_image(api: &Api, book: &str, bytes: &[u8]) {
    let list = pages(api, book).await;
    for page in list["items"].as_array().unwrap() {
        let n = page["page_no"].as_i64().unwrap();
        let res = api
            .http
            .get(format!("{}/api/v1/books/{book}/pages/{n}/image", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "page {n} lost its image");
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes, "page {n}");
    }
}

/// An upload sent over raw TCP in steps: the test decides when each step goes.
struct SlowUpload {
    conn: tokio::net::TcpStream,
}

impl SlowUpload {
    async fn start(api: &Api, path: &str, content_type: &str, len: usize, first: &[u8]) -> Self {
        use tokio::io::AsyncWriteExt as _;
        let addr = api.base.trim_start_matches("http://").to_owned();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {len}\r\n\r\n"
        );
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(first).await.unwrap();
        conn.flush().await.unwrap();
        SlowUpload { conn }
    }

    async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt as _;
        self.conn.write_all(bytes).await.unwrap();
        self.conn.flush().await.unwrap();
    }

    /// The answer: its status and JSON body.
    async fn response(mut self) -> (u16, Value) {
        use tokio::io::AsyncReadExt as _;
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), self.conn.read_to_end(&mut raw))
            .await
            .expect("no answer")
            .unwrap();
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not HTTP: {text}"));
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(json!(body)))
    }
}

/// The upload job is cancelled while its files arrive: the pages stored before stay, each
/// with its image; the file after is refused (409 `UPLOAD_CANCELLED`) and leaves nothing.
/// Meanwhile the held job's progress counts the pages stored.
async fn a_cancelled_upload_keeps_its_pages_with_their_images(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let book = api.book().await;
    let good = shared_data("phototest.tif");
    let parts = [
        Part::file("one.tif", &good),
        Part::file("two.tif", &good),
        Part::file("three.tif", &good),
    ];
    let (content_type, full) = multipart(&parts);
    // Two whole files and the head of the third: the second is complete once its
    // boundary arrived.
    let upto = parts[..2]
        .iter()
        .map(|p| part_head(p).len() + p.bytes.len() + 2)
        .sum::<usize>()
        + part_head(&parts[2]).len()
        + 100;
    let path = format!("/api/v1/books/{book}/pages/bulk");
    let mut client = SlowUpload::start(&api, &path, &content_type, full.len(), &full[..upto]).await;
    wait_for_pages(&api, &book, 2).await;

    // The held job's progress agrees with its items while the upload arrives.
    let (_, job) = api.get(&format!("/api/v1/books/{book}/jobs/latest")).await;
    assert_eq!(job["status"], json!("pending"), "{job}");
    assert_eq!(job["progress"]["total"], json!(2), "{job}");
    assert_eq!(job["progress"]["remaining"], json!(2), "{job}");
    assert_eq!(job["progress"]["percent"], json!(0.0), "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let (_, items) = api.get(&format!("/api/v1/jobs/{id}/items")).await;
    assert_eq!(items["items"].as_array().map(Vec::len), Some(2), "{items}");

    let (status, cancelled) = api.cancel(&id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{cancelled}");
    client.send(&full[upto..]).await;
    let (status, answer) = client.response().await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["error"]["code"],
        json!("UPLOAD_CANCELLED"),
        "{answer}"
    );
    assert_eq!(
        answer["error"]["details"]["stored"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{answer}"
    );

    let list = pages(&api, &book).await;
    assert_eq!(list["counts"]["total"], json!(2), "{list}");
    assert_every_page_has_its_image(&api, &book, &good).await;
    assert_eq!(
        source_pages(&api, &book).await,
        [1, 2],
        "page 3's image is gone"
    );
    let job = api.wait_status(&id, "cancelled").await;
    assert_eq!(job["progress"]["total"], json!(2), "{job}");
    // The book is free, and a resume OCRs the pages kept.
    let (status, resumed) = api
        .post(
            &format!("/api/v1/jobs/{id}/resume"),
            json!({ "mode": "resume" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resumed}");
    let done = api.wait_ended(resumed["id"].as_str().unwrap()).await;
    assert_eq!(done["progress"]["total"], json!(2), "{done}");
}

/// The upload's own task dies (a panic while it takes a refused upload back): its held job
/// still ends, and the book takes the next upload.
async fn a_dying_upload_task_ends_its_held_job(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (api, gated) = serve_gated(&db).await;
    let book = api.book().await;
    let good = shared_data("phototest.tif");
    gated
        .panic_on_delete
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let path = format!("/api/v1/books/{book}/pages/bulk");
    let (status, body) = api
        .upload(
            &path,
            &[
                Part::file("one.tif", &good),
                Part::file("notes.png", b"just text"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let job = loop {
        let (_, latest) = api.get(&format!("/api/v1/books/{book}/jobs/latest")).await;
        if latest["status"] == json!("failed") {
            break latest;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the held job was never ended: {latest}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(job["error"]["code"], json!("UPLOAD_INTERRUPTED"), "{job}");
    gated
        .panic_on_delete
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = api.upload(&path, &[Part::file("one.tif", &good)]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "not BOOK_BUSY: {body}");
    assert_every_page_has_its_image(&api, &book, &good).await;
}

/// A page delete and an upload under the same number, interleaved both ways: the delete
/// removes its images after the new page is stored, and while the new upload is between
/// its image and its row. Either way the new page keeps its image.
async fn a_page_delete_never_takes_a_new_uploads_image(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (api, gated) = serve_gated(&db).await;
    let book = api.book().await;
    let scans = [
        shared_data("phototest.tif"),
        crate::common::images::small_png(64, 48),
        crate::common::images::small_png(48, 64),
    ];
    let one = format!("/api/v1/books/{book}/pages?page_no=1");
    let page = format!("/api/v1/books/{book}/pages/1");
    let (status, up) = api.upload(&one, &[Part::file("old.tif", &scans[0])]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{up}");
    api.wait_ended(up["job"]["id"].as_str().unwrap()).await;

    let (http, base) = (api.http.clone(), api.base.clone());
    let delete = move || {
        let (http, url) = (http.clone(), format!("{base}{page}"));
        actix_rt::spawn(async move { http.delete(url).send().await.unwrap().status() })
    };

    // 1. The delete's image removal runs after the new page is stored.
    gated.delete.arm();
    let deleting = delete();
    gated.delete.reached().await;
    let (status, up) = api.upload(&one, &[Part::file("new.png", &scans[1])]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{up}");
    gated.delete.open();
    assert_eq!(deleting.await.unwrap(), StatusCode::NO_CONTENT);
    api.wait_ended(up["job"]["id"].as_str().unwrap()).await;
    assert_every_page_has_its_image(&api, &book, &scans[1]).await;

    // 2. The delete's image removal runs while the new upload has written its image and
    //    not yet its row.
    gated.delete.arm();
    let deleting = delete();
    gated.delete.reached().await;
    gated.after_put.arm();
    let (http, url) = (api.http.clone(), format!("{}{one}", api.base));
    let (content_type, body) = multipart(&[Part::file("newer.png", &scans[2])]);
    let uploading = actix_rt::spawn(async move {
        let res = http
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    });
    gated.after_put.reached().await;
    gated.delete.open();
    assert_eq!(deleting.await.unwrap(), StatusCode::NO_CONTENT);
    gated.after_put.open();
    let (status, up) = uploading.await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{up}");
    api.wait_ended(up["job"]["id"].as_str().unwrap()).await;
    let list = pages(&api, &book).await;
    assert_eq!(list["counts"]["total"], json!(1), "{list}");
    assert_every_page_has_its_image(&api, &book, &scans[2]).await;
    assert_eq!(
        source_pages(&api, &book).await,
        [1],
        "no stray image is left"
    );
}

/// Page lists of any length are deduplicated, checked in bounded statements and answered
/// with JSON errors, never a 500.
async fn ocr_page_lists_are_bounded(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let book = api.book().await;
    let (status, up) = api
        .upload(
            &format!("/api/v1/books/{book}/pages/bulk"),
            &[Part::file(
                "p.png",
                &crate::common::images::small_png(32, 32),
            )],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{up}");
    api.wait_ended(up["job"]["id"].as_str().unwrap()).await;
    let ocr = format!("/api/v1/books/{book}/jobs/ocr");

    // 40,000 distinct numbers: past SQLite's bind limit in one statement.
    let many: Vec<i64> = (1..=40_000).collect();
    let res = api.post(&ocr, json!({ "pages": many })).await;
    assert_error(&res, StatusCode::NOT_FOUND, "PAGE_NOT_FOUND");
    assert_eq!(res.1["error"]["details"]["page_no"], json!(2), "{}", res.1);
    for bad in [json!([0]), json!([1, 100_001]), json!([-3]), json!([])] {
        let res = api.post(&ocr, json!({ "pages": bad })).await;
        assert_eq!(res.0, StatusCode::BAD_REQUEST, "{}", res.1);
        assert!(res.1["error"]["code"].is_string(), "{}", res.1);
    }
    // 100,000 entries of one page: one item.
    let (status, job) = api.post(&ocr, json!({ "pages": vec![1; 100_000] })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["progress"]["total"], json!(1), "{job}");
    api.wait_ended(job["id"].as_str().unwrap()).await;
}

crate::on_both_backends!(
    a_cancelled_upload_keeps_its_pages_with_their_images,
    a_dying_upload_task_ends_its_held_job,
    a_page_delete_never_takes_a_new_uploads_image,
    ocr_page_lists_are_bounded,
);
