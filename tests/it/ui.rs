//! The admin UI in a real headless Chromium: create a book, upload real scans (and a broken
//! file) through the file input, watch OCR reach 100%, retry the failed page, review a page,
//! and reload during a job to find it still tracked; and, with the keyboard and a drag and
//! drop, generate guidelines with a failing test model, read the failure summary, resume and
//! see them complete, review pages while a job runs, and cancel it without the layout
//! moving. Every screen is checked for labels and
//! visible focus. Screenshots of the main screens go to `<target>/tmp/ui-screenshots/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use serde_json::Value;

use crate::common::api::{Storage, serve_with, shared_data};
use crate::common::browser::Browser;
use crate::common::db::{Backend, TestDb};
use crate::common::images::truncated_png;
use crate::common::model::{
    ModelServer, answer, page_guidelines, page_of, refusal, respond, subtopic,
};

/// WebDriver's key codes.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

fn shots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")
}

/// What a screen reader or keyboard user would miss on the current screen: form fields
/// without a label, buttons and links without a name, images without text, progress bars
/// without a label, statuses shown by colour or icon alone.
const ACCESSIBILITY_PROBLEMS: &str = r#"
  const problems = [];
  const what = (el) => el.outerHTML.slice(0, 100);
  const labelled = (el) => el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")
    || (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) || el.closest("label");
  for (const el of document.querySelectorAll("input, textarea, select")) {
    if (!labelled(el)) problems.push("unlabelled field: " + what(el));
  }
  for (const el of document.querySelectorAll("button, a")) {
    if (!el.textContent.trim() && !el.getAttribute("aria-label")) problems.push("nameless control: " + what(el));
  }
  for (const el of document.querySelectorAll("img")) {
    if (!el.alt) problems.push("image without alt text: " + what(el));
  }
  for (const el of document.querySelectorAll("[role=progressbar]")) {
    if (!el.getAttribute("aria-label") || !el.hasAttribute("aria-valuenow")) problems.push("progress bar without label or value: " + what(el));
  }
  for (const el of document.querySelectorAll(".status")) {
    if (!/\p{L}/u.test(el.textContent)) problems.push("status without a word: " + what(el));
  }
  return problems;
"#;

async fn assert_accessible(browser: &Browser, screen: &str) {
    let problems = browser.script(ACCESSIBILITY_PROBLEMS).await;
    assert_eq!(problems, serde_json::json!([]), "on {screen}");
}

/// Clicks the button labelled `label` inside `within`, once it is there and enabled (as a
/// user would wait for it).
async fn click_button(browser: &Browser, within: &str, label: &str) {
    let js = format!(
        "const b = [...document.querySelectorAll({})].find((b) => b.textContent === {});
         if (!b || b.disabled) return false;
         b.click();
         return true;",
        serde_json::to_string(&format!("{within} button")).unwrap(),
        serde_json::to_string(label).unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while browser.script(&js).await != true {
        assert!(
            Instant::now() < deadline,
            "no enabled `{label}` button in {within}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scrolls the element with id `id` to the top of the window, for a screenshot.
async fn show(browser: &Browser, id: &str) {
    browser
        .script(&format!(
            "document.getElementById('{id}').scrollIntoView({{ block: 'start' }})"
        ))
        .await;
}

/// Tabs from the focus to the element `css` selects, as a keyboard user would, asserting
/// that every element on the way shows a visible focus ring.
async fn tab_to(browser: &Browser, css: &str) {
    let css = serde_json::to_string(css).unwrap();
    for _ in 0..100 {
        browser.press(TAB).await;
        let at: Value = browser
            .script(&format!(
                "const el = document.activeElement; const s = getComputedStyle(el);
                 return {{ hit: el.matches({css}), what: el.outerHTML.slice(0, 100),
                          stop: el.tabIndex >= 0,
                          ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 }};"
            ))
            .await;
        // The app moves focus to `<main tabindex=-1>` when it renders a view (for screen
        // readers); that may land between two presses. It is no tab stop: press on.
        if at["stop"] == false {
            continue;
        }
        assert_eq!(at["ring"], true, "no visible focus on {}", at["what"]);
        if at["hit"] == true {
            return;
        }
    }
    panic!("Tab never reached {css}");
}

fn data_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name)
        .canonicalize()
        .unwrap()
        .display()
        .to_string()
}

/// A PDF on the same drop zone: imported, its stage and progress shown, then its quality
/// report, and each page's source.
#[actix_rt::test]
async fn an_admin_imports_a_pdf_and_reads_its_report() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let browser = Browser::start(&shots()).await;
    browser.goto(&format!("{}/", api.base)).await;
    let title = browser.find("#new-title").await;
    browser.type_into(&title, "Fractions from a PDF").await;
    browser
        .click(&browser.find("form button[type=submit]").await)
        .await;
    browser
        .wait_text("h1", |t| t == "Fractions from a PDF")
        .await;
    let input = browser.find("#files").await;
    browser
        .type_into(&input, &data_path("textbook/fractions.pdf"))
        .await;
    browser
        .wait_text("[data-test=selection]", |t| t.starts_with("1 file(s)"))
        .await;
    let import = browser.find(".card .row button:not(.secondary)").await;
    assert_eq!(browser.text(&import).await, "Import PDF");
    browser.click(&import).await;
    browser
        .wait_text("#job [data-test=progress-text]", |t| {
            t == "8/8 pages (100%)"
        })
        .await;
    let report = browser
        .wait_text("#job [data-test=import-report]", |t| t.contains("Quality"))
        .await;
    assert!(
        report.contains("Quality 100/100") && report.contains("8 page(s) from the text layer"),
        "{report}"
    );
    assert!(report.contains("3 chapter(s) from the outline"), "{report}");
    let row = browser
        .wait_text("tr[data-page='1']", |t| t.contains("completed"))
        .await;
    assert!(
        row.contains("PDF page 1") && row.contains("text layer"),
        "{row}"
    );
    assert_accessible(&browser, "a book imported from a PDF").await;
    browser.screenshot("20-pdf-imported").await;

    // Guidelines from its pages: each subtopic shows what it teaches, linked to its pages.
    click_button(&browser, "#guidelines", "Generate guidelines").await;
    browser
        .wait_text("#guidelines .status", |t| t.contains("completed"))
        .await;
    let section = browser
        .wait_text("[data-subtopic='1.1 What Is a Fraction?']", |t| {
            t.contains("Key concepts")
        })
        .await;
    assert!(section.contains("numerator"), "{section}");
    assert!(section.contains("· page 1"), "{section}");
    let link = browser
        .script(
            "return document.querySelector(\"[data-subtopic='1.1 What Is a Fraction?'] [data-test=pages] a\").getAttribute('href')",
        )
        .await;
    assert!(link.as_str().unwrap().ends_with("/pages/1"), "{link}");
    let examples = browser
        .script("return document.querySelectorAll('#guidelines [data-test=examples] li').length")
        .await;
    assert!(examples.as_u64().unwrap() >= 3, "{examples}");
    assert_accessible(&browser, "the guidelines of a PDF").await;
    show(&browser, "guidelines-h").await;
    browser.screenshot("21-pdf-guidelines").await;
}

#[actix_rt::test]
async fn an_admin_uploads_watches_ocr_retries_and_reviews() {
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve_with(&db, Storage::Folder, &[]).await;
    let browser = Browser::start(&shots()).await;
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
    assert_accessible(&browser, "the books").await;
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
        .wait_text("#job [data-test=progress-text]", |t| {
            t == "3/3 pages (100%)"
        })
        .await;
    browser
        .wait_text("#job .status", |t| t.contains("completed"))
        .await;
    let failed_row = browser
        .wait_text("tr[data-page='3']", |t| t.contains("failed"))
        .await;
    assert!(failed_row.contains("CORRUPT_IMAGE"), "{failed_row}");
    assert_accessible(&browser, "a book").await;
    browser.screenshot("03-ocr-done").await;
    browser
        .click(&browser.find("[data-test=retry-3]").await)
        .await;
    browser
        .wait_text("#job [data-test=progress-text]", |t| {
            t == "1/1 pages (100%)"
        })
        .await;
    let history = browser
        .wait_text("#jobs", |t| t.matches("OCR").count() >= 2)
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
    assert_accessible(&browser, "a page's review").await;
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
        .wait_text("#job [data-test=progress-text]", |t| t == "0/1 pages (0%)")
        .await;
    browser.refresh().await;
    browser
        .wait_text("#job .status", |t| {
            t.contains("running") || t.contains("pending")
        })
        .await;
    browser.screenshot("05-ocr-running").await;
    browser
        .wait_text("#job [data-test=progress-text]", |t| {
            t == "1/1 pages (100%)"
        })
        .await;
    browser
        .wait_text("tr[data-page='4']", |t| t.contains("completed"))
        .await;
    browser.screenshot("06-book").await;

    // Guidelines: generate, watch them appear, finalize.
    click_button(&browser, "#guidelines", "Generate guidelines").await;
    browser
        .wait_text("#guidelines .status", |t| t.contains("completed"))
        .await;
    let summary = browser
        .wait_text("[data-test=guidelines-summary]", |t| t.starts_with("Draft"))
        .await;
    // The scans are not textbook pages (no headings, so no topics); the broken page, whose
    // OCR failed, takes no part.
    assert!(summary.ends_with("from 3 page(s)"), "{summary}");
    click_button(&browser, "#guidelines", "Finalize").await;
    browser
        .wait_text("[data-test=guidelines-summary]", |t| t.starts_with("Final"))
        .await;
    // Export, then download: the link appears once an export exists, and gives an EPUB.
    assert_eq!(
        browser
            .script("return document.querySelectorAll('#guidelines a[download]').length")
            .await,
        0
    );
    click_button(&browser, "#guidelines", "Export EPUB").await;
    let link = browser.find("#guidelines a[download]").await;
    assert_eq!(browser.text(&link).await, "Download EPUB");
    let head = browser
        .script(
            "const a = document.querySelector('#guidelines a[download]');
             const xhr = new XMLHttpRequest();
             xhr.open('GET', a.href, false);
             xhr.overrideMimeType('text/plain; charset=x-user-defined');
             xhr.send();
             return [xhr.status, xhr.getResponseHeader('content-type'), xhr.responseText.slice(0, 58)];",
        )
        .await;
    assert_eq!(head[0], 200, "{head}");
    assert_eq!(head[1], "application/epub+zip", "{head}");
    let start = head[2].as_str().unwrap();
    assert!(
        start.starts_with("PK") && start.ends_with("mimetypeapplication/epub+zip"),
        "{start:?}"
    );
    show(&browser, "guidelines-h").await;
    browser.screenshot("07-guidelines").await;
}

/// How the test model behaves: at first it answers page 1, answers page 2 invalidly (twice,
/// so the page fails terminal) and refuses its key on page 3 once page 2 has failed (fatal
/// for the job); once fixed it answers every page; once down it rate-limits every request.
#[derive(Default)]
struct FlakyModel {
    asked: Mutex<Vec<i64>>,
    phase: AtomicU8,
    /// The server under test, to see what it has stored.
    api: std::sync::OnceLock<String>,
}

const FAILING: u8 = 0;
const FIXED: u8 = 1;
const LIMITED: u8 = 2;

impl FlakyModel {
    async fn answer(&self, request: Value) -> HttpResponse {
        let page = page_of(&request).expect("a page's prompt");
        self.asked.lock().unwrap().push(page);
        let ok =
            |name: &str| answer(&page_guidelines("Fractions", vec![subtopic(name)]).to_string());
        respond(match (self.phase.load(Ordering::SeqCst), page) {
            (FAILING, 1) => ok("Halves"),
            (FAILING, 2) => answer("Here are the topics: fractions"),
            (FAILING, _) => {
                // Page 2's failure is stored before the job fails.
                self.wait_for_a_failed_page().await;
                refusal(401, "key revoked")
            }
            (FIXED, 2) => ok("Tenths"),
            (FIXED, _) => ok("Hundredths"),
            // Rate limited: retried after the wait, costing no attempt, so the job runs on.
            _ => {
                let (status, _, body) = refusal(429, "slow down");
                (status, vec![("retry-after", "1")], body)
            }
        })
    }

    /// Until the API lists a failed item in the newest extraction job.
    async fn wait_for_a_failed_page(&self) {
        let api = self.api.get().expect("the server's address").clone();
        let http = reqwest::Client::new();
        let get = |url: String| {
            let http = http.clone();
            async move {
                let body: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                Some(body)
            }
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            assert!(std::time::Instant::now() < deadline, "page 2 never failed");
            if let Some(jobs) = get(format!("{api}/api/v1/jobs?kind=extract&limit=1")).await
                && let Some(id) = jobs["items"][0]["id"].as_str()
                && let Some(failed) =
                    get(format!("{api}/api/v1/jobs/{id}/items?status=failed")).await
                && failed["items"].as_array().is_some_and(|i| !i.is_empty())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn asked(&self, page: i64) -> usize {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p == page)
            .count()
    }
}

/// The guidelines panel through a failure, a resume and a cancel, with a model that fails
/// as [`FlakyModel`] says. The admin works with the keyboard and drops the scans on the page.
#[actix_rt::test]
async fn an_admin_resumes_guidelines_after_the_model_fails() {
    let flaky = Arc::new(FlakyModel::default());
    let model = {
        let flaky = flaky.clone();
        ModelServer::start(move |body: web::Json<Value>| {
            let flaky = flaky.clone();
            async move { flaky.answer(body.into_inner()).await }
        })
    };
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve_with(&db, Storage::Folder, &model.extractor_env("3")).await;
    flaky.api.set(api.base.clone()).unwrap();
    let browser = Browser::start(&shots()).await;

    // A book, created from the keyboard.
    browser.goto(&format!("{}/", api.base)).await;
    tab_to(&browser, "#new-title").await;
    browser.press("Decimals").await;
    browser.press(ENTER).await;
    browser.wait_text("h1", |t| t == "Decimals").await;

    // Three scans dropped on the drop zone, uploaded, read.
    let scans = ["phototest.tif", "eurotext.tif", "textbook/page-01.png"].map(data_path);
    let dropped = browser.drop_files("[data-test=dropzone]", &scans).await;
    assert_eq!(dropped, 3);
    let selection = browser
        .wait_text("[data-test=selection]", |t| t.starts_with("3 file(s)"))
        .await;
    assert!(!selection.contains("rejected"), "{selection}");
    tab_to(&browser, ".card .row button:not(.secondary)").await;
    browser.press(ENTER).await;
    browser
        .wait_text("#job [data-test=progress-text]", |t| {
            t == "3/3 pages (100%)"
        })
        .await;
    browser
        .wait_text("#job .status", |t| t.contains("completed"))
        .await;

    // Generate, from the keyboard: the run fails, and the panel says what happened.
    tab_to(&browser, "#guidelines button").await;
    browser.press(ENTER).await;
    let failure = browser
        .wait_text("[data-test=guidelines-failure]", |t| {
            t.contains("PROVIDER_AUTH")
        })
        .await;
    assert!(failure.contains("key revoked"), "{failure}");
    assert!(
        failure.contains("1 page(s) done, 1 failed, 1 remaining."),
        "{failure}"
    );
    assert!(
        failure.contains("Page 2:") && failure.contains("(INVALID_MODEL_OUTPUT)"),
        "{failure}"
    );
    let summary = browser
        .text(&browser.find("[data-test=guidelines-summary]").await)
        .await;
    assert_eq!(summary, "Draft: 1 topic(s), 1 subtopic(s) from 1 page(s)");

    // Closed and opened again later, the page shows the same summary and where to resume.
    browser.refresh().await;
    let resume = browser.find("[data-test=resume]").await;
    assert_eq!(browser.text(&resume).await, "Resume from page 2");
    browser
        .wait_text("[data-test=guidelines-failure]", |t| {
            t.contains("PROVIDER_AUTH")
        })
        .await;
    assert_accessible(&browser, "a failed extraction").await;
    show(&browser, "guidelines-h").await;
    browser.screenshot("08-guidelines-failed").await;

    // The key is fixed: resume runs exactly the two pages left, and the draft is whole.
    flaky.phase.store(FIXED, Ordering::SeqCst);
    browser.click(&resume).await;
    browser
        .wait_text("#guidelines .job-progress", |t| {
            t.contains("completed") && t.contains("2/2 pages (100%)")
        })
        .await;
    let summary = browser
        .wait_text("[data-test=guidelines-summary]", |t| {
            t.ends_with("3 subtopic(s) from 3 page(s)")
        })
        .await;
    assert!(summary.starts_with("Draft"), "{summary}");
    let panel = browser.text(&browser.find("#guidelines").await).await;
    for name in ["Halves", "Tenths", "Hundredths", "Finalize"] {
        assert!(panel.contains(name), "no {name}: {panel}");
    }
    assert!(!panel.contains("Resume"), "{panel}");
    assert_eq!(flaky.asked(1), 1, "page 1 was asked once");
    assert_eq!((flaky.asked(2), flaky.asked(3)), (3, 2));
    show(&browser, "guidelines-h").await;
    browser.screenshot("09-guidelines-resumed").await;

    // Generated again while the model rate-limits: the run waits and retries, and the admin
    // cancels it from the job box; the history keeps both the cancel and the runs before.
    flaky.phase.store(LIMITED, Ordering::SeqCst);
    click_button(&browser, "#guidelines", "Generate again").await;
    browser
        .wait_text("#job .status", |t| t.contains("running"))
        .await;
    // Polling re-renders the job every 2 s; the sections below it stay where they are.
    browser
        .script(
            "window.tops = [];
             const record = () => window.tops.push(['guidelines-h', 'pages-h']
               .map((id) => document.getElementById(id).getBoundingClientRect().top + scrollY));
             record();
             new MutationObserver(record).observe(document.getElementById('main'),
               { subtree: true, childList: true, characterData: true });",
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let tops = loop {
        let tops = browser.script("return window.tops").await;
        if tops.as_array().unwrap().len() >= 3 {
            break tops;
        }
        assert!(Instant::now() < deadline, "no re-render was seen: {tops}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let tops = tops.as_array().unwrap();
    assert!(
        tops.iter().all(|t| t == &tops[0]),
        "the layout moved: {tops:?}"
    );
    // While the job holds the book, pages can still be reviewed: edit page 1's text, then go
    // on to page 2 with Next.
    let book_url = browser.url().await;
    browser
        .click(&browser.find("tr[data-page='1'] a.button").await)
        .await;
    browser.wait_text("h1", |t| t == "Page 1").await;
    browser
        .script("document.getElementById('page-text').value = 'One half is 1/2.'")
        .await;
    click_button(&browser, ".review", "Save edited text").await;
    browser
        .wait_text("[data-test=review-status]", |t| t.contains("edited"))
        .await;
    browser
        .click(&browser.find("nav[aria-label=Pages] a").await)
        .await;
    browser.wait_text("h1", |t| t == "Page 2").await;
    browser.goto(&book_url).await;
    browser
        .wait_text("#job .status", |t| t.contains("running"))
        .await;
    browser
        .click(&browser.find("#job button.danger").await)
        .await;
    browser
        .wait_text("#job .status", |t| t.contains("cancelled"))
        .await;
    let history = browser
        .wait_text("#jobs", |t| t.contains("cancelled"))
        .await;
    // Nor does the job's end move the guidelines below it.
    let top = browser
        .script(
            "return document.getElementById('guidelines-h').getBoundingClientRect().top + scrollY",
        )
        .await;
    assert_eq!(top, tops[0][0], "the layout moved when the job ended");
    show(&browser, "job-h").await;
    browser.screenshot("10-cancelled").await;
    assert_eq!(history.matches("Guidelines").count(), 3, "{history}");
    assert!(history.contains("PROVIDER_AUTH"), "{history}");
    let failure = browser
        .wait_text("[data-test=guidelines-failure]", |t| {
            t.contains("cancelled")
        })
        .await;
    assert!(
        failure.contains("0 page(s) done, 0 failed, 3 remaining."),
        "{failure}"
    );
    let book = book_url.rsplit('/').next().unwrap();
    let (_, page) = api.get(&format!("/api/v1/books/{book}/pages/1")).await;
    assert_eq!(
        (&page["review"]["status"], &page["text"]),
        (&Value::from("edited"), &Value::from("One half is 1/2.")),
        "{page}"
    );

    // A correction: page 3 is deleted (a second click confirms) and a new scan goes in
    // under its number in single-page mode.
    browser
        .click(&browser.find("tr[data-page='3'] a.button").await)
        .await;
    browser.wait_text("h1", |t| t == "Page 3").await;
    browser
        .click(&browser.find("[data-test=delete]").await)
        .await;
    browser
        .click(&browser.find("[data-test=delete-confirm]").await)
        .await;
    browser.wait_text("h1", |t| t == "Decimals").await;
    browser
        .wait_text("#pages", |t| t.contains("2 pages:"))
        .await;
    let dropped = browser
        .drop_files("[data-test=dropzone]", &[data_path("phototest.tif")])
        .await;
    assert_eq!(dropped, 1);
    browser.click(&browser.find("#single").await).await;
    browser
        .type_into(&browser.find("#page-no").await, "3")
        .await;
    browser
        .click(&browser.find(".card .row button:not(.secondary)").await)
        .await;
    let row = browser
        .wait_text("tr[data-page='3']", |t| t.contains("completed"))
        .await;
    assert!(row.contains("phototest.tif"), "{row}");
}
