//! `extract`: 300 pages through an `extract` job with the OpenAI-compatible extractor,
//! against a test model (a chat-completions server in this process) that takes 1 s per
//! page, at provider concurrency 16. Reported against the ideal: 300 / 16 rounds of 1 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, HttpServer, web};
use async_trait::async_trait;
use quire::guidelines::{Extractor, OpenAiExtractor};
use quire::openai::ChatSettings;
use quire_actors::model::NewJob;
use quire_actors::ports::{ItemContext, ItemHandler, JobStore, SystemClock};
use quire_actors::runtime::KindRegistry;
use quire_actors::{ItemError, JobKind, RuntimeHandle};
use serde_json::{Value, json};

use crate::setup::{BenchDb, bench_config, book, wait_done};
use crate::{Backend, report};

const PAGES: i64 = 300;
const CONCURRENCY: usize = 16;
const LATENCY: Duration = Duration::from_secs(1);

/// The test model: every answer after `LATENCY`, a valid page of guidelines.
async fn model() -> HttpResponse {
    tokio::time::sleep(LATENCY).await;
    let content = json!({
        "continued": { "objectives": [], "key_concepts": [], "examples": [], "common_mistakes": [], "exercises": [] },
        "topics": [{ "name": "Fractions", "subtopics": [{ "name": "Halves", "objectives": [],
            "key_concepts": ["a half is one of two equal parts"], "examples": [], "common_mistakes": [], "exercises": [] }] }],
    });
    HttpResponse::Ok().json(json!({
        "id": "c", "object": "chat.completion", "created": 1, "model": "bench",
        "choices": [{ "index": 0, "finish_reason": "stop",
                      "message": { "role": "assistant", "content": content.to_string() } }],
    }))
}

/// The extract kind's work minus reading the page from the store: the extractor on a fixed
/// page text, so no OCR has to run first.
struct Pages(OpenAiExtractor);

#[async_trait]
impl ItemHandler for Pages {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        let found = self
            .0
            .extract(
                item.item_no,
                "Chapter 1: Fractions\n1.1 Halves\nA half is one of two equal parts.",
            )
            .await?;
        Ok(serde_json::to_value(found).unwrap_or(Value::Null))
    }

    fn provider(&self) -> &str {
        self.0.provider()
    }
}

pub async fn run(backend: Backend) {
    let server = HttpServer::new(|| {
        actix_web::App::new().route("/v1/chat/completions", web::post().to(model))
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix::spawn(server.run());

    let extractor = OpenAiExtractor::new(ChatSettings {
        base_url: format!("http://{addr}/v1"),
        model: "bench".into(),
        api_key: None,
        timeout: Duration::from_secs(30),
        concurrency: CONCURRENCY,
    })
    .unwrap();
    let db = BenchDb::new(backend).await;
    let store = db.store().await;
    let mut cfg = bench_config();
    cfg.pool_concurrency = CONCURRENCY;
    let mut kinds = KindRegistry::new();
    kinds.insert(JobKind::Extract, Arc::new(Pages(extractor)));
    let job_store: Arc<dyn JobStore> = store.clone();
    let rt = RuntimeHandle::start(cfg, job_store, kinds, Arc::new(SystemClock))
        .await
        .unwrap();
    let book = book(&store).await;
    let mut events = rt.subscribe();
    let started = Instant::now();
    let job = rt
        .submit(NewJob {
            book_id: book,
            kind: JobKind::Extract,
            params: json!({}),
            items: (1..=PAGES).collect(),
            resumed_from: None,
            held: false,
        })
        .await
        .unwrap();
    let done = wait_done(&store, &mut events, job.id).await;
    let took = started.elapsed();
    assert_eq!(done.progress.completed, PAGES as u64, "{done:?}");
    let ideal = LATENCY * (PAGES as u32).div_ceil(CONCURRENCY as u32);
    let ratio = took.as_secs_f64() / ideal.as_secs_f64();
    report(
        backend,
        "extract",
        &format!(
            "{PAGES} pages, model latency {LATENCY:?}, concurrency {CONCURRENCY}: {:.2} s, ideal {:.2} s, {ratio:.3}x the ideal",
            took.as_secs_f64(),
            ideal.as_secs_f64()
        ),
        json!({ "pages": PAGES, "seconds": took.as_secs_f64(), "ideal_seconds": ideal.as_secs_f64(), "ratio": ratio }),
    );
}
