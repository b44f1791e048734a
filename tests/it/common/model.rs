//! Test models: chat-completions servers on localhost that stand in for a paid
//! OpenAI-compatible provider, for the vision OCR engine, the guidelines extractor, `ingest`
//! and the UI.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

/// A chat-completions server on a free port, stopped when dropped.
pub struct ModelServer {
    /// What the settings take as the provider's base URL (`…/v1`).
    pub base_url: String,
    handle: actix_web::dev::ServerHandle,
}

impl ModelServer {
    /// Serves `handler` at `POST /v1/chat/completions`.
    pub fn start<F, Args>(handler: F) -> Self
    where
        F: actix_web::Handler<Args> + Clone + Send + 'static,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(web::JsonConfig::default().limit(32 << 20))
                .route("/v1/chat/completions", web::post().to(handler.clone()))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            base_url: format!("http://{addr}/v1"),
            handle,
        }
    }
}

impl ModelServer {
    /// The server's environment for the OpenAI-compatible extractor on this model, asking
    /// about `concurrency` pages at once.
    pub fn extractor_env(&self, concurrency: &'static str) -> [(&'static str, &str); 5] {
        [
            ("QUIRE_GUIDELINES_EXTRACTOR", "openai"),
            ("QUIRE_GUIDELINES_OPENAI_BASE_URL", &self.base_url),
            ("QUIRE_GUIDELINES_OPENAI_MODEL", "test-model"),
            ("QUIRE_GUIDELINES_OPENAI_API_KEY", "sk-test"),
            ("QUIRE_GUIDELINES_OPENAI_CONCURRENCY", concurrency),
        ]
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        // The stop command is sent at once; its future only reports completion.
        drop(self.handle.stop(false));
    }
}

/// A chat completion as OpenAI sends it, extra fields and all, whose message is `content`.
pub fn completion(model: &str, content: Value) -> Value {
    json!({
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1_741_570_283,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": content,
                "refusal": null,
                "annotations": []
            },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": 1117,
            "completion_tokens": 46,
            "total_tokens": 1163,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035"
    })
}

/// One page's guidelines as the extractor's schema asks for them: one topic.
pub fn page_guidelines(topic: &str, subtopics: Vec<Value>) -> Value {
    json!({
        "continued": { "objectives": [], "key_concepts": [], "examples": [], "common_mistakes": [], "exercises": [] },
        "topics": [{ "name": topic, "subtopics": subtopics }],
    })
}

/// A subtopic with one objective, concept and example.
pub fn subtopic(name: &str) -> Value {
    json!({ "name": name,
        "objectives": ["Name the parts of a fraction"], "key_concepts": ["numerator"],
        "examples": ["3/8 of a pizza"], "common_mistakes": [], "exercises": [] })
}

/// One scripted answer: status, headers, body.
pub type Reply = (u16, Vec<(&'static str, &'static str)>, String);

/// A completion whose message is `content`, as a scripted reply.
pub fn answer(content: &str) -> Reply {
    (
        200,
        vec![],
        completion("test-model", json!(content)).to_string(),
    )
}

/// An OpenAI-shaped error reply.
pub fn refusal(status: u16, message: &str) -> Reply {
    (
        status,
        vec![],
        json!({ "error": { "message": message } }).to_string(),
    )
}

/// The reply as an HTTP response.
pub fn respond((status, headers, body): Reply) -> HttpResponse {
    let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    for h in headers {
        res.insert_header(h);
    }
    res.content_type("application/json").body(body)
}

/// The page an extraction request asks about (its prompt starts `Page N:`).
pub fn page_of(request: &Value) -> Option<i64> {
    request["messages"][1]["content"]
        .as_str()?
        .strip_prefix("Page ")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

/// A model that answers each request with the next scripted reply (500 once they run out)
/// and keeps the request bodies.
pub struct ScriptedModel {
    pub server: ModelServer,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl ScriptedModel {
    pub fn start(replies: Vec<Reply>) -> Self {
        let queue = Arc::new(Mutex::new(VecDeque::from(replies)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = ModelServer::start(move |body: web::Json<Value>| {
            let (queue, log) = (queue.clone(), log.clone());
            async move {
                log.lock().unwrap().push(body.into_inner());
                let next = queue.lock().unwrap().pop_front();
                respond(next.unwrap_or_else(|| refusal(500, "no reply scripted")))
            }
        });
        Self { server, seen }
    }

    pub fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
}
