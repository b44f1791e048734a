//! The vision OCR engine against a scripted chat-completions server on localhost: for each way
//! a provider can answer, what the runtime (and so the user) sees.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use quire::ocr::{NormalizedPage, OcrEngine, PixelLimit, VisionEngine, VisionSettings, normalize};
use quire_actors::{ErrorClass, ItemError};
use serde_json::{Value, json};

use crate::common::model::{self, ModelServer};

const MODEL: &str = "qwen2.5-vl-7b-instruct";
const KEY: &str = "sk-test-0123456789";

/// A 2×2 grayscale PNG, as the normalizer produces them.
fn page() -> NormalizedPage {
    normalize(&page_png(), PixelLimit::default()).unwrap()
}

fn page_png() -> Vec<u8> {
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(2, 2, |x, y| {
        image::Luma([if (x + y) % 2 == 0 { 0 } else { 255 }])
    }))
    .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    .unwrap();
    png
}

fn completion(content: Value) -> Value {
    model::completion(MODEL, content)
}

fn openai_error(message: &str, kind: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// One scripted answer.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn text(text: &str) -> Self {
        Self::json(200, completion(json!(text)))
    }

    fn json(status: u16, body: Value) -> Self {
        Self::raw(status, &body.to_string()).header("content-type", "application/json")
    }

    fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as the provider saw it.
#[derive(Debug)]
struct Seen {
    model: String,
    authorization: Option<String>,
    prompt: String,
    image: Vec<u8>,
    temperature: f64,
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts a request in flight for as long as its handler runs (or until it is dropped).
struct InFlight<'a>(&'a Script);

impl<'a> InFlight<'a> {
    fn enter(script: &'a Script) -> Self {
        let now = script.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        script.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(script)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a real provider would check; a request that fails here gets a 400 naming the problem.
fn inspect(req: &HttpRequest, body: &[u8]) -> Result<Seen, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let parts = request["messages"][0]["content"]
        .as_array()
        .ok_or("messages[0].content is not a list of parts")?;
    let part = |kind: &str| parts.iter().find(|p| p["type"] == kind);
    let url = part("image_url")
        .and_then(|p| p["image_url"]["url"].as_str())
        .ok_or("no image_url part")?;
    let data = url
        .strip_prefix("data:image/png;base64,")
        .ok_or("the image is not a PNG data URL")?;
    Ok(Seen {
        model: request["model"].as_str().ok_or("no model")?.to_owned(),
        authorization: req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        prompt: part("text")
            .and_then(|p| p["text"].as_str())
            .ok_or("no text part")?
            .to_owned(),
        image: base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("the image is not base64: {e}"))?,
        temperature: request["temperature"].as_f64().ok_or("no temperature")?,
    })
}

async fn chat_completions(
    script: web::Data<Script>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let _in_flight = InFlight::enter(&script);
    match inspect(&req, &body) {
        Ok(seen) => script.seen.lock().unwrap().push(seen),
        Err(problem) => {
            return HttpResponse::BadRequest().json(openai_error(
                &problem,
                "invalid_request_error",
                "test_server",
            ));
        }
    }
    let next = script.replies.lock().unwrap().pop_front();
    let Some(reply) = next else {
        return HttpResponse::ImATeapot().body("the test scripted no reply for this request");
    };
    actix_rt::time::sleep(reply.delay).await;
    let mut res = HttpResponse::build(StatusCode::from_u16(reply.status).unwrap());
    for header in reply.headers {
        res.insert_header(header);
    }
    res.body(reply.body)
}

/// A chat-completions server on a free port that answers with the scripted replies in turn.
struct Provider {
    server: ModelServer,
    script: Arc<Script>,
}

impl Provider {
    fn start(replies: impl IntoIterator<Item = Reply>) -> Self {
        let script = Arc::new(Script::default());
        script.replies.lock().unwrap().extend(replies);
        let data = web::Data::from(script.clone());
        let server = ModelServer::start(move |req: HttpRequest, body: web::Bytes| {
            chat_completions(data.clone(), req, body)
        });
        Self { server, script }
    }

    fn settings(&self) -> VisionSettings {
        VisionSettings {
            base_url: self.server.base_url.clone(),
            model: MODEL.to_owned(),
            api_key: Some(KEY.to_owned()),
            timeout: Duration::from_secs(5),
            concurrency: 4,
            prompt: None,
        }
    }

    fn engine(&self) -> VisionEngine {
        VisionEngine::new(self.settings()).unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.script.seen.lock().unwrap())
    }
}

async fn fail(engine: &VisionEngine) -> ItemError {
    match engine.recognize(&page()).await {
        Ok(text) => panic!("expected an error, read {text:?}"),
        Err(e) => e,
    }
}

fn class_and_code(err: &ItemError) -> (ErrorClass, &str) {
    (err.class(), err.code())
}

#[actix_rt::test]
async fn a_page_is_read_with_the_configured_model_key_and_image() {
    let text = "Chapter 1\n\nFractions name parts of a whole.\n";
    let provider = Provider::start([
        Reply::text(text),
        // Some servers answer with a list of typed parts.
        Reply::json(
            200,
            completion(json!([
                {"type": "text", "text": "Halves and "},
                {"type": "text", "text": "quarters."}
            ])),
        ),
    ]);
    let engine = provider.engine();

    let read = engine.recognize(&page()).await.unwrap();
    assert_eq!(read.text, text);
    assert_eq!(read.confidence, None);
    let read = engine.recognize(&page()).await.unwrap();
    assert_eq!(read.text, "Halves and quarters.");

    let seen = provider.seen();
    assert_eq!(seen.len(), 2);
    for request in seen {
        assert_eq!(request.model, MODEL);
        assert_eq!(
            request.authorization.as_deref(),
            Some(&*format!("Bearer {KEY}"))
        );
        assert_eq!(request.image, page().png);
        assert_eq!(request.temperature, 0.0);
        assert!(request.prompt.contains("Transcribe"), "{}", request.prompt);
    }
}

#[actix_rt::test]
async fn rate_limits_carry_the_wait_the_provider_asked_for() {
    let provider = Provider::start([
        Reply::json(
            429,
            openai_error("Rate limit reached", "requests", "rate_limit_exceeded"),
        )
        .header("retry-after", "2"),
        Reply::json(
            429,
            openai_error("Rate limit reached", "requests", "rate_limit_exceeded"),
        )
        .header("retry-after-ms", "1500")
        .header("retry-after", "2"),
        Reply::raw(429, ""),
    ]);
    let engine = provider.engine();
    for retry_after in [
        Some(Duration::from_secs(2)),
        Some(Duration::from_millis(1500)),
        None,
    ] {
        assert_eq!(fail(&engine).await, ItemError::RateLimited { retry_after });
    }
}

#[actix_rt::test]
async fn server_errors_are_retryable() {
    let provider = Provider::start([
        Reply::json(
            500,
            openai_error("The server had an error", "server_error", "internal"),
        ),
        Reply::raw(503, "<html><body>Service Unavailable</body></html>"),
    ]);
    let engine = provider.engine();
    for (status, said) in [
        ("500", "The server had an error"),
        ("503", "Service Unavailable"),
    ] {
        let err = fail(&engine).await;
        assert_eq!(
            class_and_code(&err),
            (ErrorClass::Retryable, "PROVIDER_UNAVAILABLE")
        );
        let message = err.to_string();
        assert!(
            message.contains(status) && message.contains(said),
            "{message}"
        );
    }
}

#[actix_rt::test]
async fn a_slow_provider_times_out_and_is_retryable() {
    let provider = Provider::start([Reply::text("too late").after(Duration::from_secs(2))]);
    let engine = VisionEngine::new(VisionSettings {
        timeout: Duration::from_millis(300),
        ..provider.settings()
    })
    .unwrap();
    let started = Instant::now();
    let err = fail(&engine).await;
    let elapsed = started.elapsed();
    assert_eq!(class_and_code(&err), (ErrorClass::Retryable, "TIMEOUT"));
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

#[actix_rt::test]
async fn malformed_answers_are_retryable() {
    let provider = Provider::start([
        Reply::raw(200, "not json"),
        Reply::json(200, json!({"choices": []})),
        Reply::json(200, json!({"object": "chat.completion"})),
    ]);
    let engine = provider.engine();
    for _ in 0..3 {
        let err = fail(&engine).await;
        assert_eq!(
            class_and_code(&err),
            (ErrorClass::Retryable, "PROVIDER_BAD_RESPONSE"),
            "{err}"
        );
    }
}

#[actix_rt::test]
async fn an_empty_transcription_is_terminal() {
    let provider = Provider::start([
        Reply::text(" \n\t "),
        Reply::json(200, completion(Value::Null)),
    ]);
    let engine = provider.engine();
    for _ in 0..2 {
        let err = fail(&engine).await;
        assert_eq!(class_and_code(&err), (ErrorClass::Terminal, "EMPTY_TEXT"));
    }
}

#[actix_rt::test]
async fn bad_credentials_and_unknown_models_fail_the_job() {
    let provider = Provider::start([
        Reply::json(
            401,
            openai_error(
                "Incorrect API key provided: sk-wrong.",
                "invalid_request_error",
                "invalid_api_key",
            ),
        ),
        Reply::json(
            404,
            openai_error(
                &format!("The model `{MODEL}` does not exist or you do not have access to it."),
                "invalid_request_error",
                "model_not_found",
            ),
        ),
    ]);
    let engine = VisionEngine::new(VisionSettings {
        api_key: None,
        ..provider.settings()
    })
    .unwrap();

    let err = fail(&engine).await;
    assert_eq!(class_and_code(&err), (ErrorClass::Fatal, "PROVIDER_AUTH"));
    let message = err.to_string();
    assert!(message.contains("Incorrect API key provided"), "{message}");
    assert!(message.contains("ocr.openai_api_key"), "{message}");
    assert!(message.contains("QUIRE_OCR_OPENAI_API_KEY"), "{message}");

    let err = fail(&engine).await;
    assert_eq!(
        class_and_code(&err),
        (ErrorClass::Fatal, "PROVIDER_REJECTED")
    );
    assert!(err.to_string().contains("does not exist"), "{err}");

    assert!(provider.seen().iter().all(|r| r.authorization.is_none()));
}

#[actix_rt::test]
async fn no_more_requests_than_the_concurrency_are_in_flight() {
    let provider = Provider::start(
        (0..6).map(|i| Reply::text(&format!("page {i}")).after(Duration::from_millis(200))),
    );
    let engine = VisionEngine::new(VisionSettings {
        concurrency: 2,
        ..provider.settings()
    })
    .unwrap();
    let png = page();
    let reads = futures_util::future::join_all((0..6).map(|_| engine.recognize(&png))).await;
    let mut texts: Vec<String> = reads.into_iter().map(|r| r.unwrap().text).collect();
    texts.sort();
    assert_eq!(
        texts,
        (0..6).map(|i| format!("page {i}")).collect::<Vec<_>>()
    );
    assert_eq!(provider.script.max_in_flight.load(Ordering::SeqCst), 2);
}

#[actix_rt::test]
async fn an_unreachable_provider_is_retryable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let engine = VisionEngine::new(VisionSettings {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        model: MODEL.to_owned(),
        api_key: None,
        timeout: Duration::from_secs(5),
        concurrency: 1,
        prompt: None,
    })
    .unwrap();
    let err = fail(&engine).await;
    assert_eq!(
        class_and_code(&err),
        (ErrorClass::Retryable, "PROVIDER_UNREACHABLE"),
        "{err}"
    );
}

/// The whole path with `ocr.engine = "openai"`: an upload through the real server, a 429
/// that pauses the pool and is honoured, a 503 retried, and the pages' text from the model.
#[actix_rt::test]
async fn pages_uploaded_through_the_api_are_read_by_the_model() {
    use crate::common::api::{Part, Storage, serve_with, shared_data};
    use crate::common::db::{Backend, TestDb};

    let provider = Provider::start([
        Reply::json(
            429,
            openai_error("Rate limit reached", "requests", "rate_limit_exceeded"),
        )
        .header("retry-after-ms", "300"),
        Reply::json(
            503,
            openai_error("overloaded", "server_error", "overloaded"),
        ),
        Reply::text("One half is one of two equal parts."),
        Reply::text("A quarter is one of four equal parts."),
    ]);
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve_with(
        &db,
        Storage::Folder,
        &[
            ("QUIRE_OCR_ENGINE", "openai"),
            ("QUIRE_OCR_OPENAI_BASE_URL", &provider.server.base_url),
            ("QUIRE_OCR_OPENAI_MODEL", MODEL),
            ("QUIRE_OCR_OPENAI_API_KEY", KEY),
            ("QUIRE_OCR_OPENAI_CONCURRENCY", "1"),
            ("QUIRE_RUNTIME_BACKOFF_BASE_MS", "50"),
        ],
    )
    .await;
    let book = api.book().await;
    let scan = shared_data("phototest.tif");
    let (status, upload) = api
        .upload(
            &format!("/api/v1/books/{book}/pages/bulk"),
            &[Part::file("p1.tif", &scan), Part::file("p2.tif", &scan)],
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{upload}");
    let job = upload["job"]["id"].as_str().unwrap();
    let done = api.wait_status(job, "completed").await;
    assert_eq!(done["progress"]["completed"], json!(2), "{done}");

    let (_, first) = api.get(&format!("/api/v1/books/{book}/pages/1")).await;
    let (_, second) = api.get(&format!("/api/v1/books/{book}/pages/2")).await;
    let mut texts = [
        first["text"].as_str().unwrap().to_owned(),
        second["text"].as_str().unwrap().to_owned(),
    ];
    texts.sort();
    assert_eq!(
        texts,
        [
            "A quarter is one of four equal parts.",
            "One half is one of two equal parts."
        ]
    );
    assert_eq!(first["ocr"]["engine"], json!("openai"));
    assert_eq!(first["ocr"]["confidence"], Value::Null);
    // The 429 cost no attempt; the 503 cost one.
    let attempts: i64 = [&first, &second]
        .iter()
        .map(|p| p["ocr"]["attempts"].as_i64().unwrap())
        .sum();
    assert_eq!(attempts, 3, "{first} {second}");
    let seen = provider.seen();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|s| s.model == MODEL));

    let metrics = api.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "quire_provider_rate_limited_total 1"),
        "{metrics}"
    );
}

/// A cancel stops paid calls: twelve pages at four seconds a page on a provider that takes
/// four at once, cancelled once the first four are in flight. No page starts after the
/// cancel, the four in flight are dropped at the grace's end, and the job ends `cancelled`
/// within two seconds with the default grace.
#[actix_rt::test]
async fn a_cancel_makes_no_more_provider_calls() {
    use crate::common::api::{Part, Storage, serve_with, shared_data};
    use crate::common::db::{Backend, TestDb};

    const PAGES: usize = 12;
    let provider =
        Provider::start((0..PAGES).map(|_| Reply::text("A page.").after(Duration::from_secs(4))));
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve_with(
        &db,
        Storage::Folder,
        &[
            ("QUIRE_OCR_ENGINE", "openai"),
            ("QUIRE_OCR_OPENAI_BASE_URL", &provider.server.base_url),
            ("QUIRE_OCR_OPENAI_MODEL", MODEL),
            ("QUIRE_OCR_OPENAI_API_KEY", KEY),
            ("QUIRE_OCR_OPENAI_CONCURRENCY", "4"),
            ("QUIRE_OCR_TIMEOUT_MS", "30000"),
            // The default grace, not the test servers' short one.
            ("QUIRE_RUNTIME_CANCEL_GRACE_MS", "1500"),
        ],
    )
    .await;
    let book = api.book().await;
    let scan = shared_data("phototest.tif");
    let names: Vec<String> = (1..=PAGES).map(|n| format!("p{n}.tif")).collect();
    let parts: Vec<Part> = names.iter().map(|n| Part::file(n, &scan)).collect();
    let (status, upload) = api
        .upload(&format!("/api/v1/books/{book}/pages/bulk"), &parts)
        .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{upload}");
    let job = upload["job"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while provider.script.seen.lock().unwrap().len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the first pages never reached the provider"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let cancelled_at = Instant::now();
    let (status, _) = api.cancel(&job).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED);
    let seen_at_cancel = provider.script.seen.lock().unwrap().len();
    let done = api.wait_status(&job, "cancelled").await;
    let took = cancelled_at.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "cancel to cancelled took {took:?}"
    );
    assert_eq!(done["progress"]["completed"], json!(0), "{done}");
    // Once the provider has answered or dropped every call it got, it has seen no more.
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.script.in_flight.load(Ordering::SeqCst) > 0 {
        assert!(
            Instant::now() < deadline,
            "the provider's calls never ended"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        provider.script.seen.lock().unwrap().len(),
        seen_at_cancel,
        "no page reached the provider after the cancel"
    );
    assert_eq!(seen_at_cancel, 4);
}

/// A 429 whose `Retry-After` asks for `retry_after`: two books, OCR on this provider
/// (`ocr.engine = "openai"`), guidelines on a second OpenAI-compatible model. Book two is
/// read first; then book one's page meets the 429. The pause is clamped to
/// `runtime.backoff_max_ms` (here 8 s) and kept to this provider: book two's extraction,
/// on the other model, runs and ends while book one's OCR still waits; then book one's OCR
/// ends too, the 429 costing it no attempt.
async fn a_rate_limit_asking_for(retry_after: &str) {
    use crate::common::api::{Part, Storage, serve_with, shared_data};
    use crate::common::db::{Backend, TestDb};

    let vision = Provider::start([
        Reply::text("Book two, page one."),
        Reply::json(
            429,
            openai_error("Rate limit reached", "requests", "rate_limit_exceeded"),
        )
        .header("retry-after", retry_after),
        Reply::text("Book one, page one."),
    ]);
    let guidelines = model::page_guidelines("Fractions", vec![model::subtopic("Halves")]);
    let extractor = model::ScriptedModel::start(vec![model::answer(&guidelines.to_string())]);
    let db = TestDb::new(Backend::Sqlite).await;
    let mut env = vec![
        ("QUIRE_OCR_ENGINE", "openai"),
        ("QUIRE_OCR_OPENAI_BASE_URL", vision.server.base_url.as_str()),
        ("QUIRE_OCR_OPENAI_MODEL", MODEL),
        ("QUIRE_OCR_OPENAI_API_KEY", KEY),
        ("QUIRE_OCR_OPENAI_CONCURRENCY", "1"),
        ("QUIRE_RUNTIME_BACKOFF_MAX_MS", "8000"),
    ];
    env.extend(extractor.server.extractor_env("1"));
    let api = serve_with(&db, Storage::Folder, &env).await;
    let scan = shared_data("phototest.tif");
    let upload = |book: String| {
        let api = &api;
        let scan = &scan;
        async move {
            let (status, up) = api
                .upload(
                    &format!("/api/v1/books/{book}/pages/bulk"),
                    &[Part::file("p1.tif", scan)],
                )
                .await;
            assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{up}");
            up["job"]["id"].as_str().unwrap().to_owned()
        }
    };
    let book_two = api.book().await;
    let first = upload(book_two.clone()).await;
    api.wait_status(&first, "completed").await;

    let book_one = api.book().await;
    let paused = upload(book_one.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !api
        .metrics()
        .await
        .lines()
        .any(|l| l == "quire_provider_rate_limited_total 1")
    {
        assert!(Instant::now() < deadline, "the 429 never came back");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, extract) = api
        .post(
            &format!("/api/v1/books/{book_two}/guidelines/generate"),
            json!({ "mode": "start" }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{extract}");
    let extracted = api
        .wait_status(extract["id"].as_str().unwrap(), "completed")
        .await;
    assert_eq!(extracted["progress"]["completed"], json!(1), "{extracted}");
    let (_, waiting) = api.get(&format!("/api/v1/jobs/{paused}")).await;
    assert_eq!(
        waiting["status"],
        json!("running"),
        "the vision provider's pause still holds its own page: {waiting}"
    );

    let done = api.wait_status(&paused, "completed").await;
    assert_eq!(done["progress"]["completed"], json!(1), "{done}");
    let (_, page) = api.get(&format!("/api/v1/books/{book_one}/pages/1")).await;
    assert_eq!(page["text"], json!("Book one, page one."), "{page}");
    assert_eq!(page["ocr"]["attempts"], json!(1), "{page}");
    assert_eq!(vision.seen().len(), 3);
    assert_eq!(extractor.seen().len(), 1);
}

/// `Retry-After: 1e19` seconds is past any instant the clock can hold: it used to overflow
/// the pause's deadline outside the pool's panic guard, and the page never got an outcome.
#[actix_rt::test]
async fn a_retry_after_past_any_instant_is_clamped_and_pauses_only_its_provider() {
    a_rate_limit_asking_for("1e19").await;
}

/// A day is a valid `Retry-After`: it used to pause every remote call of the node that long.
#[actix_rt::test]
async fn a_retry_after_of_a_day_is_clamped_and_pauses_only_its_provider() {
    a_rate_limit_asking_for("86400").await;
}
