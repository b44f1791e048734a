//! Guideline extraction through the real server with the offline extractor, on the real
//! textbook page OCR'd by Tesseract.

use crate::common::epub::epubcheck;
use actix_web::web;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::api::{Part, Storage, assert_error, serve_with, shared_data};
use crate::common::db::{Backend, TestDb};
use crate::common::images::small_png;
use crate::common::model::{self, ModelServer};

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
        StatusCode::CONFLICT,
        "NOTHING_TO_RESUME",
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
    assert_eq!(job["params"]["extractor"], json!("offline"), "{job}");
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
    assert_eq!(sub["name"], json!("1.1 What Is a Fraction?"), "{found}");
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
            && md.contains("### 1.1 What Is a Fraction? (page 1)")
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
        json!("1.1 What Is a Fraction?")
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
    epubcheck(&epub);
    // The chapter holds the guidelines and the approved page text.
    let haystack = String::from_utf8_lossy(&epub);
    assert!(
        haystack.contains("<h1>Understanding Fractions</h1>")
            && haystack.contains("What Is a Fraction?")
            && haystack.contains("Maya eats 3"),
        "the EPUB lacks its chapter"
    );
    // The export attempt wrote its own object, and its fenced commit published that key: a
    // node whose lease was taken over, writing its EPUB late (under its own attempt, or
    // where every export once went), changes nothing anyone downloads.
    let id = job["id"].as_str().unwrap();
    let keys = api.object_keys().await;
    let published = format!("books/{book}/exports/{id}/1.epub");
    assert!(keys.contains(&published), "{keys:?}");
    let late = format!("books/{book}/exports/{id}/2.epub");
    api.put_object(&late, b"a stale attempt's export").await;
    api.put_object(
        &format!("books/{book}/exports/book.epub"),
        b"a stale attempt's export",
    )
    .await;
    let res = api
        .http
        .get(format!("{}{export}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap(), epub, "the published export");

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

/// What the test model calls page `n`'s section: sections numbered 1 to 6, then a numbered
/// name, another, and the first printed again without its number.
fn section_of(page: i64) -> String {
    match page {
        1..=6 => format!("Section {page}"),
        7 => "2.1 Adding Like Fractions".to_owned(),
        8 => "2.2 Adding Unlike Fractions".to_owned(),
        _ => "Adding Like Fractions".to_owned(),
    }
}

/// A model that reads every page (the vision OCR engine) and names one section a page.
async fn numbering_model(body: web::Json<Value>) -> actix_web::HttpResponse {
    let content = match model::page_of(&body) {
        Some(page) => model::page_guidelines("Fractions", vec![model::subtopic(&section_of(page))])
            .to_string(),
        None => "Some page text.".to_owned(),
    };
    model::respond(model::answer(&content))
}

/// "Section 1" … "Section 6" were one "Section 1" over pages 1–6 once finalized: numbers
/// were dropped before names were compared. Different numbers stay apart; a name with and
/// without its number is one subtopic, which keeps the number.
#[actix_rt::test]
async fn numbered_sections_stay_apart_when_finalized() {
    let model = ModelServer::start(numbering_model);
    let mut env = model.extractor_env("4").to_vec();
    env.extend([
        ("QUIRE_OCR_ENGINE", "openai"),
        ("QUIRE_OCR_OPENAI_BASE_URL", model.base_url.as_str()),
        ("QUIRE_OCR_OPENAI_MODEL", "test-model"),
        ("QUIRE_OCR_OPENAI_API_KEY", "sk-test"),
    ]);
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve_with(&db, Storage::Folder, &env).await;
    let book = api.book().await;
    let png = small_png(32, 32);
    let names: Vec<String> = (1..=9).map(|n| format!("{n}.png")).collect();
    let files: Vec<Part> = names.iter().map(|n| Part::file(n, &png)).collect();
    let (status, up) = api
        .upload(&format!("/api/v1/books/{book}/pages/bulk"), &files)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{up}");
    api.wait_status(up["job"]["id"].as_str().unwrap(), "completed")
        .await;
    let (status, job) = api
        .post(
            &format!("/api/v1/books/{book}/guidelines/generate"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    api.wait_status(job["id"].as_str().unwrap(), "completed")
        .await;
    let (status, fin) = api
        .post(
            &format!("/api/v1/books/{book}/guidelines/finalize"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{fin}");
    api.wait_status(fin["id"].as_str().unwrap(), "completed")
        .await;

    let (_, done) = api.get(&format!("/api/v1/books/{book}/guidelines")).await;
    assert_eq!(done["status"], json!("final"), "{done}");
    let subtopics: Vec<(String, Value)> = done["topics"][0]["subtopics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["pages"].clone()))
        .collect();
    let mut want: Vec<(String, Value)> = (1..=6).map(|n| (section_of(n), json!([n]))).collect();
    want.push(("2.1 Adding Like Fractions".into(), json!([7, 9])));
    want.push(("2.2 Adding Unlike Fractions".into(), json!([8])));
    assert_eq!(subtopics, want, "{done}");
}

/// Every character of the Basic Multilingual Plane, every 61st of the others, and the
/// last two of the planes (noncharacters).
fn every_character() -> Vec<char> {
    (0..=0xFFFFu32)
        .chain((0x1_0000..=0x10_FFFF).step_by(61))
        .chain([0x1_FFFE, 0x1_FFFF, 0x10_FFFE, 0x10_FFFF])
        .filter_map(char::from_u32)
        .collect()
}

/// A book of `topics` topics named by windows over `chars`, every seventh by a name of
/// nothing that shows or of markup; the first quotes `page` as its page's text.
fn book_of(topics: usize, chars: &[char], page: String) -> quire::export::EpubBook {
    use quire::export::{Chapter, EpubBook};
    use quire::guidelines::{Content, Subtopic};
    let hostile = [
        "",
        " \n\t",
        "\u{FFFF}\u{FFFE}\u{0}",
        "]]><&>\"'",
        "\u{202E}\u{0301}x",
    ];
    let mut page = Some(page);
    let chapters = (0..topics)
        .map(|i| {
            let window: String = (0..40).map(|k| chars[(i * 37 + k) % chars.len()]).collect();
            let name = if i % 7 == 0 {
                hostile[i / 7 % hostile.len()].to_owned()
            } else {
                window.clone()
            };
            Chapter {
                title: name.clone(),
                key_points: Vec::new(),
                subtopics: vec![Subtopic {
                    name: name.clone(),
                    content: Content {
                        examples: vec![window, name],
                        ..Content::default()
                    },
                    pages: vec![i as i64],
                }],
                pages: page.take().map(|p| (1, p)).into_iter().collect(),
            }
        })
        .collect();
    EpubBook {
        identifier: "urn:uuid:6c0b1d64-27a1-4b8c-9a55-2d3e1b0f9a11".into(),
        title: "\u{FFFF}".into(),
        creator: Some("\u{0}".into()),
        language: "en".into(),
        modified: "2026-12-03T00:00:00Z".into(),
        chapters,
        // A label with markup in it, and one for a page the book does not quote.
        labels: [(1, "<iv>".to_owned()), (99, "x".to_owned())].into(),
    }
}

/// Any text: names and items of characters XML forbids, of nothing that shows, of markup,
/// and a page holding every character; as many topics as the navigation links one by one.
/// epubcheck finds nothing wrong.
#[test]
fn an_epub_of_any_text_passes_epubcheck() {
    let chars = every_character();
    let page: String = chars.iter().collect();
    let book = book_of(quire::export::MAX_NAV_LINKS, &chars, page);
    epubcheck(&quire::export::render(&book).unwrap());
}

/// A book of 12,000 topics shares its chapters among at most `MAX_FILES` files and its
/// navigation links files, not topics; epubcheck (which walks the links recursively and
/// overflowed its stack on 12,000) finds nothing wrong.
#[test]
fn an_epub_of_12000_topics_passes_epubcheck() {
    use quire::export::MAX_FILES;
    let chars: Vec<char> = every_character()
        .into_iter()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let epub = quire::export::render(&book_of(12_000, &chars, String::new())).unwrap();
    let text = String::from_utf8_lossy(&epub);
    assert!(text.contains(&format!("chapter-{MAX_FILES}.xhtml")));
    assert!(!text.contains(&format!("chapter-{}.xhtml", MAX_FILES + 1)));
    epubcheck(&epub);
}
