//! OCR through a vision model behind any OpenAI-compatible chat-completions endpoint.
//!
//! Plain reqwest rather than an OpenAI client crate: those retry 429s themselves and drop the
//! HTTP status and `Retry-After`, and the runtime needs both to classify a failure and to
//! back off for as long as the provider asked.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use quire_actors::ItemError;
use serde_json::json;

use super::{NormalizedPage, OcrEngine, OcrText};
use crate::openai::{ChatClient, ChatSettings, Purpose};

/// Settings a [`VisionEngine`] cannot start with.
pub type VisionError = crate::openai::ChatError;

const DEFAULT_PROMPT: &str = "Transcribe all the text on this page exactly as written, in \
reading order. Keep line breaks and paragraphs. Output only the page's text: no commentary, \
no description of the page, no Markdown code fences.";

#[derive(Clone)]
pub struct VisionSettings {
    /// Up to and including the API version, e.g. `https://api.openai.com/v1`; requests go to
    /// `{base_url}/chat/completions`.
    pub base_url: String,
    pub model: String,
    /// Sent as a Bearer token when set (local servers often need none).
    pub api_key: Option<String>,
    /// For the whole request, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Requests in flight at once; more wait for a slot (their wait does not count towards
    /// `timeout`).
    pub concurrency: usize,
    /// The instruction sent with each page; `None` asks for a verbatim transcription.
    pub prompt: Option<String>,
}

/// Keeps the API key out of logs.
impl std::fmt::Debug for VisionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisionSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .field("prompt", &self.prompt)
            .finish()
    }
}

pub struct VisionEngine {
    client: ChatClient,
    prompt: String,
}

const OCR: Purpose = Purpose {
    what: "OCR",
    key_setting: "ocr.openai_api_key",
    key_env: "QUIRE_OCR_OPENAI_API_KEY",
};

impl VisionEngine {
    pub fn new(settings: VisionSettings) -> Result<Self, VisionError> {
        let client = ChatClient::new(
            ChatSettings {
                base_url: settings.base_url,
                model: settings.model,
                api_key: settings.api_key,
                timeout: settings.timeout,
                concurrency: settings.concurrency,
            },
            OCR,
        )?;
        Ok(Self {
            client,
            prompt: settings.prompt.unwrap_or_else(|| DEFAULT_PROMPT.to_owned()),
        })
    }
}

#[async_trait]
impl OcrEngine for VisionEngine {
    async fn recognize(&self, page: &NormalizedPage) -> Result<OcrText, ItemError> {
        let image = base64::engine::general_purpose::STANDARD.encode(&page.png);
        let reply = self
            .client
            .complete(json!({
                "messages": [{
                    "role": "user",
                    "content": [
                        { "type": "text", "text": self.prompt },
                        { "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{image}") } },
                    ],
                }],
                "temperature": 0,
            }))
            .await?;
        if reply.text.trim().is_empty() {
            let why = match (reply.refusal, reply.finish_reason) {
                (Some(refusal), _) => format!("the model refused: {refusal}"),
                (None, Some(reason)) => format!("finish reason `{reason}`"),
                (None, None) => "no finish reason".to_owned(),
            };
            return Err(ItemError::terminal(
                "EMPTY_TEXT",
                format!("the model read no text on the page ({why})"),
            ));
        }
        Ok(OcrText {
            text: reply.text,
            confidence: None,
        })
    }

    fn provider(&self) -> &str {
        self.client.provider()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused() {
        let settings = |base_url: &str, key: Option<&str>| VisionSettings {
            base_url: base_url.to_owned(),
            model: "m".to_owned(),
            api_key: key.map(str::to_owned),
            timeout: Duration::from_secs(1),
            concurrency: 1,
            prompt: None,
        };
        assert!(matches!(
            VisionEngine::new(settings("not a url", None)),
            Err(VisionError::InvalidBaseUrl { .. })
        ));
        assert!(matches!(
            VisionEngine::new(settings("ftp://host/v1", None)),
            Err(VisionError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            VisionEngine::new(settings("http://host/v1", Some("a\nb"))),
            Err(VisionError::InvalidApiKey)
        ));
        let engine = VisionEngine::new(settings("http://host:8000/v1/", Some(""))).unwrap();
        assert_eq!(
            engine.client.endpoint.as_str(),
            "http://host:8000/v1/chat/completions"
        );
        let shown = format!("{:?}", settings("http://h/v1", Some("sk-secret")));
        assert!(!shown.contains("sk-secret"), "{shown}");
    }
}
