//! PDF import end to end through the API, on SQLite and PostgreSQL: born-digital and mixed
//! files, the file's own faults, encryption, a page too large, a renderer that hangs, and a
//! cancel mid-import.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::api::{Api, Part, Storage, assert_error, serve_with, shared_data};
use crate::common::db::{Backend, TestDb};
use crate::common::pdf::{Bookmark, build, encrypt, prose, scan};

impl Api {
    /// Posts `pdf` as an `application/pdf` body, with a password header if given.
    async fn import(
        &self,
        book: &str,
        query: &str,
        pdf: Vec<u8>,
        password: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}/api/v1/books/{book}/pdf{query}", self.base))
            .header("content-type", "application/pdf")
            .body(pdf);
        if let Some(password) = password {
            req = req.header("x-pdf-password", password);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn pages_of(&self, book: &str) -> Vec<Value> {
        let (status, list) = self
            .get(&format!("/api/v1/books/{book}/pages?limit=500"))
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["items"].as_array().unwrap().clone()
    }
}

fn shared(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name)
}

/// A born-digital book: every page from its text layer, its outline as chapters and
/// sections, the pages readable and shown as images rendered from the file.
async fn a_born_digital_pdf_becomes_pages_from_its_text_layer(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let book = api.book().await;
    let (status, job) = api
        .import(&book, "", shared_data("textbook/fractions.pdf"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["kind"], "pdf_import");
    assert_eq!(job["stage"], "extracting", "{job}");
    assert_eq!(job["progress"]["total"], 8, "{job}");
    let done = api.wait_ended(job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let report = &done["import"]["report"];
    assert_eq!(report["pages"], 8, "{done}");
    assert_eq!(report["text_layer_pages"], 8, "{report}");
    assert_eq!(report["ocr_pages"], 0, "{report}");
    assert_eq!(report["structure_from"], "outline", "{report}");
    let chapters = report["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), 3, "{report}");
    let sections: usize = chapters
        .iter()
        .map(|c| c["sections"].as_array().unwrap().len())
        .sum();
    assert_eq!(sections, 9, "{report}");
    assert_eq!(
        chapters[0]["sections"][0]["title"],
        "1.1 What Is a Fraction?"
    );
    assert_eq!(report["score"], 100, "{report}");

    let pages = api.pages_of(&book).await;
    assert_eq!(pages.len(), 8);
    for (n, page) in pages.iter().enumerate() {
        assert_eq!(page["content_type"], "application/pdf", "{page}");
        assert_eq!(page["pdf"]["page"], n + 1, "{page}");
        assert_eq!(page["ocr"]["source"], "text_layer", "{page}");
        assert_eq!(page["ocr"]["status"], "completed", "{page}");
    }
    let (_, first) = api.get(&format!("/api/v1/books/{book}/pages/1")).await;
    let text = first["text"].as_str().unwrap();
    assert!(
        text.contains("Chapter 1: Understanding Fractions"),
        "{text}"
    );
    assert!(text.contains("1.1 What Is a Fraction?"), "{text}");
    // Its image is the page rendered from the stored file.
    let image = api
        .http
        .get(format!("{}/api/v1/books/{book}/pages/1/image", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers()["content-type"], "image/png");
    let png = image.bytes().await.unwrap();
    let img = image::load_from_memory(&png).unwrap();
    // Letter at 100 dpi.
    assert_eq!((img.width(), img.height()), (850, 1100));
}

/// Text pages from their layer, a scanned page through OCR, each with its source; the
/// report counts both and the outline's chapters.
async fn a_mixed_pdf_reads_scans_with_ocr(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let book = api.book().await;
    let pdf = build(
        &[
            prose("Lesson 1 Rivers", "how rivers carve valleys"),
            scan(&shared("openstax-python/scans/page-01.png")),
            prose("Lesson 2 Deltas", "how deltas form at river mouths"),
        ],
        &[
            Bookmark {
                depth: 0,
                title: "Unit A Water".into(),
                page: 0,
            },
            Bookmark {
                depth: 1,
                title: "Lesson 1 Rivers".into(),
                page: 0,
            },
            Bookmark {
                depth: 1,
                title: "Lesson 2 Deltas".into(),
                page: 2,
            },
        ],
    );
    let (status, job) = api.import(&book, "?dpi=200", pdf, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let done = api.wait_ended(job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let report = &done["import"]["report"];
    assert_eq!(report["text_layer_pages"], 2, "{report}");
    assert_eq!(report["ocr_pages"], 1, "{report}");
    assert!(
        report["mean_ocr_confidence"].as_f64().unwrap() > 0.5,
        "{report}"
    );
    assert_eq!(report["chapters"][0]["title"], "Unit A Water", "{report}");
    let pages = api.pages_of(&book).await;
    let sources: Vec<&str> = pages
        .iter()
        .map(|p| p["ocr"]["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["text_layer", "ocr", "text_layer"]);
    let (_, scanned) = api.get(&format!("/api/v1/books/{book}/pages/2")).await;
    assert!(
        scanned["text"].as_str().unwrap().contains("Python"),
        "{scanned}"
    );
    assert_eq!(scanned["ocr"]["engine"], "tesseract");
    // The OCR'd page kept the image OCR saw, rendered at the import's 200 dpi.
    let ocr_image = api
        .http
        .get(format!(
            "{}/api/v1/books/{book}/pages/2/image?variant=ocr",
            api.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ocr_image.status(), StatusCode::OK);
    let img = image::load_from_memory(&ocr_image.bytes().await.unwrap()).unwrap();
    assert_eq!(img.width(), 1700);
}

/// The file's own faults fail the import at once, with their code, and add nothing.
async fn a_file_at_fault_fails_its_import_and_adds_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let book = api.book().await;
    let plain = build(
        &[prose("Lesson 1", "locks"), prose("Lesson 2", "keys")],
        &[],
    );
    let locked = encrypt(&plain, "open sesame");
    let truncated = plain[..plain.len() / 2].to_vec();
    let cases: Vec<(&str, Vec<u8>, Option<&str>, &str)> = vec![
        (
            "a text file",
            b"just some notes, not a PDF\n".to_vec(),
            None,
            "INVALID_PDF",
        ),
        ("a truncated PDF", truncated, None, "CORRUPTED_FILE"),
        ("no password", locked.clone(), None, "ENCRYPTED_PDF"),
        (
            "a wrong password",
            locked.clone(),
            Some("open barley"),
            "ENCRYPTED_PDF",
        ),
    ];
    for (what, pdf, password, code) in cases {
        let res = api.import(&book, "", pdf, password).await;
        assert_error(&res, StatusCode::UNPROCESSABLE_ENTITY, code);
        let job_id = res.1["error"]["details"]["job_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, job) = api.get(&format!("/api/v1/jobs/{job_id}")).await;
        assert_eq!(job["status"], "failed", "{what}: {job}");
        assert_eq!(job["error"]["code"], code, "{what}: {job}");
        assert!(api.pages_of(&book).await.is_empty(), "{what} added pages");
        let message = res.1["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("sesame") && !message.contains("barley"),
            "{message}"
        );
    }
    // A range outside the file.
    let res = api
        .import(&book, "?first_page=3", plain.clone(), None)
        .await;
    assert_error(&res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PAGE_RANGE");
    // The right password opens it; the password is nowhere in the job.
    let (status, job) = api.import(&book, "", locked, Some("open sesame")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let done = api.wait_ended(job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["import"]["encrypted"], true, "{done}");
    assert!(!done.to_string().contains("sesame"), "{done}");
    assert_eq!(api.pages_of(&book).await.len(), 2);
}

/// A 30-inch page is rendered within the pixel limit (at a lower resolution), never taking
/// the node down; the pages around it are read.
#[actix_rt::test]
async fn a_page_too_large_for_the_pixel_limit_is_rendered_smaller() {
    let db = TestDb::new(Backend::Sqlite).await;
    // 4 MP: page 2 (30 x 30 in) would be 9 MP at 100 dpi.
    let api = serve_with(
        &db,
        Storage::Folder,
        &[("QUIRE_UPLOAD_MAX_PIXELS", "4000000")],
    )
    .await;
    let book = api.book().await;
    let (status, job) = api
        .import(
            &book,
            "?mode=ocr&dpi=100&first_page=1&last_page=3",
            shared_data("multipage.pdf"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let done = api.wait_ended(job["id"].as_str().unwrap()).await;
    assert_ne!(done["status"], "failed", "{done}");
    let (_, page) = api.get(&format!("/api/v1/books/{book}/pages/2")).await;
    let status = page["ocr"]["status"].as_str().unwrap();
    assert_eq!(status, "completed", "{page}");
    let (_, items) = api
        .get(&format!(
            "/api/v1/jobs/{}/items",
            job["id"].as_str().unwrap()
        ))
        .await;
    let item = &items["items"][1];
    let result = &item["result"];
    let (w, h) = (
        result["width"].as_u64().unwrap(),
        result["height"].as_u64().unwrap(),
    );
    assert!(w * h <= 4_000_000 && w < 3000, "rendered {w} x {h}: {item}");
    let (health, _) = api.get("/health").await;
    assert_eq!(health, StatusCode::OK);
}

/// A renderer that hangs is killed at the page's time limit: the page fails retryable
/// `TIMEOUT`, nothing is left running, and a cancel ends the import within its grace,
/// keeping the pages done.
#[actix_rt::test]
async fn a_hung_renderer_times_out_and_a_cancel_keeps_the_pages_done() {
    let db = TestDb::new(Backend::Sqlite).await;
    let work = tempfile::tempdir().unwrap();
    let renderer = work.path().join("pdftoppm-that-hangs");
    // `exec`: the hanging process is the one the node started, found by its odd argument.
    std::fs::write(&renderer, format!("#!/bin/sh\nexec sleep {HANG}\n")).unwrap();
    std::fs::set_permissions(&renderer, std::fs::Permissions::from_mode(0o755)).unwrap();
    let api = serve_with(
        &db,
        Storage::Folder,
        &[
            ("QUIRE_PDF_PDFTOPPM_BINARY", renderer.to_str().unwrap()),
            ("QUIRE_PDF_PAGE_TIMEOUT_MS", "300"),
            ("QUIRE_RUNTIME_MAX_ATTEMPTS", "2"),
            ("QUIRE_RUNTIME_BACKOFF_BASE_MS", "10"),
            ("QUIRE_RUNTIME_AUTO_RETRY_ROUNDS", "0"),
        ],
    )
    .await;
    let book = api.book().await;
    // Text pages need no renderer; the scan does.
    let pdf = build(
        &[
            prose("Lesson 1", "tides"),
            scan(&shared("openstax-python/scans/page-02.png")),
            prose("Lesson 2", "currents"),
        ],
        &[],
    );
    let (_, job) = api.import(&book, "", pdf, None).await;
    let done = api.wait_ended(job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, failed) = api
        .get(&format!(
            "/api/v1/jobs/{}/items?status=failed",
            job["id"].as_str().unwrap()
        ))
        .await;
    let failed = failed["items"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["error"]["code"], "TIMEOUT", "{failed:?}");
    assert_eq!(failed[0]["error"]["class"], "retryable", "{failed:?}");
    assert_eq!(failed[0]["attempts"], 2, "{failed:?}");
    assert_eq!(
        done["import"]["report"]["failed_pages"][0]["code"],
        "TIMEOUT"
    );
    assert_no_renderer_left();

    // Item retry: the page used its attempts, so only `force` runs it again.
    let retry = format!("/api/v1/jobs/{}/items/retry", job["id"].as_str().unwrap());
    let (status, none) = api.post(&retry, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(none["job"], Value::Null, "{none}");
    assert_eq!(
        none["skipped"],
        json!([{ "item_no": 2, "reason": "no_attempts_left" }])
    );
    let (status, asked) = api.post(&retry, json!({ "items": [1, 99] })).await;
    assert_eq!(status, StatusCode::OK, "{asked}");
    assert_eq!(
        asked["skipped"],
        json!([{ "item_no": 1, "reason": "completed" }, { "item_no": 99, "reason": "not_an_item" }])
    );
    let (status, forced) = api
        .post(&retry, json!({ "items": [2], "force": true }))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{forced}");
    assert_eq!(forced["scheduled"], json!([2]));
    assert_eq!(forced["job"]["progress"]["total"], 1, "{forced}");
    assert_eq!(forced["job"]["resumed_from"], job["id"]);
    let again = api.wait_ended(forced["job"]["id"].as_str().unwrap()).await;
    // The renderer still hangs: the page fails again after a fresh budget of two.
    assert_eq!(again["status"], "failed", "{again}");
    let (_, items) = api
        .get(&format!(
            "/api/v1/jobs/{}/items",
            forced["job"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(items["items"][0]["attempts"], 2, "{items}");
    assert_no_renderer_left();

    // Every page through the hanging renderer: a cancel ends the import within its grace.
    let (status, job) = api
        .import(
            &book,
            "?mode=ocr",
            build(&[prose("Lesson 3", "waves")], &[]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap();
    let asked = Instant::now();
    let (status, _) = api.cancel(id).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let cancelled = api.wait_ended(id).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert_no_renderer_left();
    // No scratch file outlives its page, and the book's PDF copies went with its job.
    let crate::common::api::ObjectsAt::Folder(objects) = &api.objects else {
        unreachable!("folder storage")
    };
    // (The copies go once the node has seen the job end: waited for, a few ms at most.)
    let work = objects.parent().unwrap().join("pdf");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !walk(&work).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left in the PDF work folder: {:?}",
            walk(&work)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first import's pages stay; the cancelled one's page waits for a resume.
    let pages = api.pages_of(&book).await;
    assert_eq!(pages.len(), 4);
    assert_eq!(pages[0]["ocr"]["status"], "completed");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// How long the hanging renderer sleeps: an argument no other process has.
const HANG: &str = "611.7319";

/// No process of the hanging renderer is left (each was killed with its page).
fn assert_no_renderer_left() {
    let name = HANG;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let running = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .any(|cmd| String::from_utf8_lossy(&cmd).contains(name));
        if !running {
            return;
        }
        assert!(Instant::now() < deadline, "a {name} process still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A long born-digital book: 300 pages with a two-level outline, every page from its text
/// layer in page order, its 10 chapters and 30 sections found.
async fn a_300_page_book_imports_from_its_text_layer(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let book = api.book().await;
    let pages: Vec<_> = (1..=300)
        .map(|n| prose(&format!("Page {n}"), &format!("topic number {n}")))
        .collect();
    let mut outline = Vec::new();
    for chapter in 0..10 {
        outline.push(Bookmark {
            depth: 0,
            title: format!("Chapter {}", chapter + 1),
            page: chapter * 30,
        });
        for section in 0..3 {
            outline.push(Bookmark {
                depth: 1,
                title: format!("{}.{} Section", chapter + 1, section + 1),
                page: chapter * 30 + section * 10,
            });
        }
    }
    let (status, job) = api.import(&book, "", build(&pages, &outline), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["progress"]["total"], 300);
    let done = api.wait_ended(job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let report = &done["import"]["report"];
    assert_eq!(report["text_layer_pages"], 300, "{report}");
    let chapters = report["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), 10);
    assert!(
        chapters
            .iter()
            .all(|c| c["sections"].as_array().unwrap().len() == 3)
    );
    assert_eq!(chapters[9]["sections"][2]["pdf_page"], 291);
    let (_, page) = api.get(&format!("/api/v1/books/{book}/pages/217")).await;
    assert!(
        page["text"].as_str().unwrap().starts_with("Page 217"),
        "{page}"
    );
}

/// `then`: the chain runs after the import, each step its own job, to an EPUB epubcheck
/// accepts; each job names the one it followed.
async fn the_chain_runs_to_an_epub_after_the_import(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let book = api.book().await;
    let (status, import) = api
        .import(
            &book,
            "?then=guidelines,finalize,epub",
            shared_data("textbook/fractions.pdf"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{import}");
    assert_eq!(
        import["params"]["then"],
        json!(["guidelines", "finalize", "epub"])
    );
    // Waits for the last link, whatever the chain's pace.
    let deadline = Instant::now() + Duration::from_secs(60);
    let export = loop {
        let (_, job) = api
            .get(&format!(
                "/api/v1/books/{book}/jobs/latest?kind=export_epub"
            ))
            .await;
        if job["status"] == "completed" {
            break job;
        }
        assert!(Instant::now() < deadline, "no export completed: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (_, history) = api
        .get(&format!("/api/v1/books/{book}/jobs?limit=10"))
        .await;
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|j| j["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["pdf_import", "extract", "finalize", "export_epub"],
        "{history}"
    );
    let jobs = history["items"].as_array().unwrap();
    for pair in jobs.windows(2) {
        assert_eq!(pair[0]["params"]["after"], pair[1]["id"], "{history}");
        assert_eq!(pair[0]["status"], "completed", "{history}");
    }
    assert_eq!(export["params"]["then"], json!([]));
    let epub = api
        .http
        .get(format!("{}/api/v1/books/{book}/exports/epub", api.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    crate::common::epub::epubcheck(&epub);
    let (_, guidelines) = api.get(&format!("/api/v1/books/{book}/guidelines")).await;
    assert_eq!(guidelines["status"], "final", "{guidelines}");
    assert_eq!(guidelines["topics"].as_array().unwrap().len(), 3);
}

/// A multipart import with its options in a JSON part, against S3.
async fn a_multipart_import_takes_its_options_part(backend: Backend) {
    let db = TestDb::new(backend).await;
    let api = serve_with(&db, Storage::S3, &[]).await;
    let book = api.book().await;
    let pdf = shared_data("openstax-python/book.pdf");
    let options = json!({ "first_page": 2, "last_page": 4, "mode": "text" }).to_string();
    let parts = [
        Part {
            field: "options",
            file_name: None,
            bytes: options.as_bytes(),
        },
        Part {
            field: "file",
            file_name: Some("book.pdf"),
            bytes: &pdf,
        },
    ];
    let (status, job) = api
        .upload(&format!("/api/v1/books/{book}/pdf"), &parts)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let done = api.wait_ended(job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["import"]["first_page"], 2);
    assert_eq!(done["import"]["report"]["text_layer_pages"], 3, "{done}");
    let pages = api.pages_of(&book).await;
    let in_file: Vec<u64> = pages
        .iter()
        .map(|p| p["pdf"]["page"].as_u64().unwrap())
        .collect();
    assert_eq!(in_file, [2, 3, 4]);
}

crate::on_both_backends!(
    a_born_digital_pdf_becomes_pages_from_its_text_layer,
    a_mixed_pdf_reads_scans_with_ocr,
    a_file_at_fault_fails_its_import_and_adds_nothing,
    a_multipart_import_takes_its_options_part,
    a_300_page_book_imports_from_its_text_layer,
    the_chain_runs_to_an_epub_after_the_import,
);
