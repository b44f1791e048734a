//! The admin UI in a real headless Chromium: create a book, upload real scans (and a broken
//! file) through the file input, watch OCR reach 100%, retry the failed page, review a page,
//! and reload during a job to find it still tracked. Screenshots of the main screens go to
//! `<target>/tmp/ui-screenshots/`.

use std::path::Path;

use crate::common::api::{Storage, serve_with, shared_data};
use crate::common::browser::Browser;
use crate::common::db::{Backend, TestDb};
use crate::common::images::truncated_png;

fn data_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name)
        .canonicalize()
        .unwrap()
        .display()
        .to_string()
}

#[actix_rt::test]
async fn an_admin_uploads_watches_ocr_retries_and_reviews() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let browser = Browser::start(&shots).await;
    let files = tempfile::tempdir().unwrap();
    let broken = files.path().join("broken.png");
    std::fs::write(&broken, truncated_png()).unwrap();
    let notes = files.path().join("notes.txt");
    std::fs::write(&notes, "not an image").unwrap();
    assert!(!shared_data("phototest.tif").is_empty());

    // Books: create one.
    browser.goto(&format!("{}/", api.base)).await;
    let title = browser.find("#new-title").await;
    browser.type_into(&title, "Fractions, Grade 5").await;
    browser.screenshot("01-books").await;
    browser
        .click(&browser.find("form button[type=submit]").await)
        .await;
    browser.wait_text("h1", |t| t == "Fractions, Grade 5").await;
    let book_url = browser.url().await;
    assert!(book_url.contains("#/books/"), "{book_url}");

    // Pick files: two real scans, a broken PNG, and a text file the UI rejects at once.
    let input = browser.find("#files").await;
    let picked = [
        data_path("phototest.tif"),
        data_path("eurotext.tif"),
        broken.display().to_string(),
        notes.display().to_string(),
    ]
    .join("\n");
    browser.type_into(&input, &picked).await;
    let selection = browser
        .wait_text("[data-test=selection]", |t| t.contains("rejected"))
        .await;
    assert!(
        selection.starts_with("3 file(s)") && selection.ends_with("1 rejected"),
        "{selection}"
    );
    let listed = browser.text(&browser.find(".files").await).await;
    assert!(
        listed.contains("notes.txt") && listed.contains("rejected: not a PNG, JPEG, TIFF or WebP"),
        "{listed}"
    );
    browser.screenshot("02-selection").await;
    browser
        .click(&browser.find(".card .row button:not(.secondary)").await)
        .await;

    // OCR runs page by page; the bar reaches 3/3 and the broken page is failed, with its
    // reason and a Retry button.
    browser
        .wait_text("#job [data-test=progress-text]", |t| t == "3/3 (100%)")
        .await;
    browser
        .wait_text("#job .status", |t| t.contains("completed"))
        .await;
    let failed_row = browser
        .wait_text("tr[data-page='3']", |t| t.contains("failed"))
        .await;
    assert!(failed_row.contains("CORRUPT_IMAGE"), "{failed_row}");
    browser.screenshot("03-ocr-done").await;
    browser
        .click(&browser.find("[data-test=retry-3]").await)
        .await;
    browser
        .wait_text("#job [data-test=progress-text]", |t| t == "1/1 (100%)")
        .await;
    let history = browser
        .wait_text("#jobs", |t| t.matches("ocr").count() >= 2)
        .await;
    assert!(history.contains("completed"), "{history}");

    // Review page 1: the scan beside its text; approve it.
    browser
        .click(&browser.find("tr[data-page='1'] a.button").await)
        .await;
    browser.wait_text("h1", |t| t == "Page 1").await;
    let text = browser
        .script("return document.getElementById('page-text').value")
        .await;
    assert!(
        text.as_str().unwrap_or_default().contains("quick brown"),
        "{text}"
    );
    // The scan shows (a TIFF upload is shown as the PNG OCR read).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while browser
        .script("const i = document.querySelector('.review img'); return i.complete ? i.naturalWidth : 0")
        .await
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(std::time::Instant::now() < deadline, "the page image never loaded");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.screenshot("04-review").await;
    browser
        .click(
            &browser
                .find(".review button:not(.danger):not(.secondary)")
                .await,
        )
        .await;
    browser
        .wait_text("[data-test=review-status]", |t| t.contains("approved"))
        .await;
    let (_, page) = api
        .get(&format!(
            "/api/v1/books/{}/pages/1",
            book_url.rsplit('/').next().unwrap()
        ))
        .await;
    assert_eq!(page["review"]["status"], "approved", "{page}");

    // A long page (a 300 dpi letter page) in single-page mode; reload mid-job and the job is
    // still tracked to its end.
    browser.goto(&book_url).await;
    let input = browser.find("#files").await;
    browser.type_into(&input, &data_path("linn.png")).await;
    browser.click(&browser.find("#single").await).await;
    browser
        .wait_text("[data-test=selection]", |t| t.starts_with("1 file(s)"))
        .await;
    browser
        .click(&browser.find(".card .row button:not(.secondary)").await)
        .await;
    browser
        .wait_text("#job [data-test=progress-text]", |t| t == "0/1 (0%)")
        .await;
    browser.refresh().await;
    browser
        .wait_text("#job .status", |t| {
            t.contains("running") || t.contains("pending")
        })
        .await;
    browser.screenshot("05-ocr-running").await;
    browser
        .wait_text("#job [data-test=progress-text]", |t| t == "1/1 (100%)")
        .await;
    browser
        .wait_text("tr[data-page='4']", |t| t.contains("completed"))
        .await;
    browser.screenshot("06-book").await;

    // Guidelines: generate, watch them appear, finalize.
    browser
        .click(&browser.find("#guidelines button").await)
        .await;
    browser
        .wait_text("#guidelines .status", |t| t.contains("completed"))
        .await;
    let summary = browser
        .wait_text("[data-test=guidelines-summary]", |t| t.starts_with("Draft"))
        .await;
    // The scans are not textbook pages (no headings, so no topics); the broken page, whose
    // OCR failed, takes no part.
    assert!(summary.ends_with("from 3 page(s)"), "{summary}");
    let finalize = browser.find("#guidelines button:not(.secondary)").await;
    assert_eq!(browser.text(&finalize).await, "Finalize");
    browser.click(&finalize).await;
    browser
        .wait_text("[data-test=guidelines-summary]", |t| t.starts_with("Final"))
        .await;
    browser.screenshot("07-guidelines").await;
}
