//! A client for any OpenAI-compatible chat-completions endpoint, shared by the vision OCR
//! engine and the guidelines extractor.
//!
//! Plain reqwest rather than an OpenAI client crate: those retry 429s themselves and drop the
//! HTTP status and `Retry-After`, and the runtime needs both to classify a failure and to
//! back off for as long as the provider asked. Failures are classified here, by HTTP status
//! and reqwest's error kind, into the runtime's [`ItemError`]s.

use std::fmt;
use std::time::Duration;

use quire_actors::ItemError;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;

/// How much of a provider's error message goes into an item's error.
const PROVIDER_MESSAGE_CHARS: usize = 300;

#[derive(Clone)]
pub struct ChatSettings {
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
}

/// Keeps the API key out of logs.
impl fmt::Debug for ChatSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// What a client is for, as its errors name it: "the OCR provider refused the API key; set
/// `ocr.openai_api_key`".
#[derive(Clone, Copy, Debug)]
pub struct Purpose {
    pub what: &'static str,
    pub key_setting: &'static str,
    pub key_env: &'static str,
}

type UrlError = <Url as std::str::FromStr>::Err;

/// Settings a [`ChatClient`] cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("the provider base URL `{url}` is invalid: {source}")]
    InvalidBaseUrl {
        url: String,
        #[source]
        source: UrlError,
    },
    #[error("the provider base URL `{url}` must start with http:// or https://")]
    UnsupportedScheme { url: String },
    /// The key holds characters an HTTP header cannot carry (the key itself is not shown).
    #[error("the provider API key is not a valid HTTP header value")]
    InvalidApiKey,
    #[error("the HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),
}

/// The first choice of a completion.
#[derive(Debug)]
pub struct Reply {
    pub text: String,
    pub finish_reason: Option<String>,
    pub refusal: Option<String>,
}

pub struct ChatClient {
    http: reqwest::Client,
    pub(crate) endpoint: Url,
    model: String,
    timeout: Duration,
    slots: Semaphore,
    names: Purpose,
    /// Its rate-limit quota: the endpoint and the model.
    provider: String,
}

impl ChatClient {
    pub fn new(settings: ChatSettings, names: Purpose) -> Result<Self, ChatError> {
        let base = settings.base_url.trim().trim_end_matches('/');
        let endpoint: Url = format!("{base}/chat/completions")
            .parse()
            .map_err(|source| ChatError::InvalidBaseUrl {
                url: settings.base_url.clone(),
                source,
            })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(ChatError::UnsupportedScheme {
                url: settings.base_url,
            });
        }
        let mut headers = HeaderMap::new();
        // An empty key (an unset variable in a config template) means no key.
        if let Some(key) = settings.api_key.as_deref().filter(|k| !k.trim().is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.trim()))
                .map_err(|_| ChatError::InvalidApiKey)?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(settings.timeout)
            // A redirect would turn the POST into a GET; a moved endpoint is a setting to fix.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ChatError::Client)?;
        Ok(Self {
            http,
            provider: format!("{endpoint} {}", settings.model),
            endpoint,
            model: settings.model,
            timeout: settings.timeout,
            slots: Semaphore::new(settings.concurrency.max(1)),
            names,
        })
    }

    /// Who answers, as one rate-limit quota: the endpoint and the model. Two clients of
    /// the same model at the same endpoint share it.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Sends one request (`model` is filled in) and returns the first choice. Waits for a
    /// slot first; the wait does not count towards the timeout.
    pub async fn complete(&self, mut body: Value) -> Result<Reply, ItemError> {
        let _slot =
            self.slots.acquire().await.map_err(|_| {
                ItemError::retryable("SHUTTING_DOWN", "the provider pool is closed")
            })?;
        body["model"] = Value::String(self.model.clone());
        let what = self.names.what;
        let response = self
            .http
            .post(self.endpoint.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e, what, self.timeout))?;
        if !response.status().is_success() {
            return Err(self.status_error(response).await);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, what, self.timeout))?;
        let bad_response = |why: String| {
            ItemError::retryable(
                "PROVIDER_BAD_RESPONSE",
                format!("the {what} provider's answer is not a chat completion: {why}"),
            )
        };
        let parsed: ChatResponse =
            serde_json::from_slice(&body).map_err(|e| bad_response(e.to_string()))?;
        let choice = parsed
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| bad_response("it has no choices".to_owned()))?;
        Ok(Reply {
            text: choice
                .message
                .content
                .map(Content::into_text)
                .unwrap_or_default(),
            finish_reason: choice.finish_reason,
            refusal: choice.message.refusal,
        })
    }

    async fn status_error(&self, response: reqwest::Response) -> ItemError {
        let what = self.names.what;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return ItemError::RateLimited {
                retry_after: retry_after(response.headers()),
            };
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let detail = match response.bytes().await {
            Ok(body) => provider_message(&body)
                .map(|m| format!("HTTP {status}: {m}"))
                .unwrap_or_else(|| format!("HTTP {status}")),
            Err(_) => format!("HTTP {status}"),
        };
        match status.as_u16() {
            401 | 403 => ItemError::fatal(
                "PROVIDER_AUTH",
                format!(
                    "the {what} provider refused the API key ({detail}); set `{}` (env {})",
                    self.names.key_setting, self.names.key_env
                ),
            ),
            404 => ItemError::fatal(
                "PROVIDER_REJECTED",
                format!(
                    "the {what} provider has no model `{}` or no chat completions at {} ({detail})",
                    self.model, self.endpoint
                ),
            ),
            400 => ItemError::fatal(
                "PROVIDER_REJECTED",
                format!("the {what} provider rejected the request ({detail})"),
            ),
            408 | 500..=599 => ItemError::retryable(
                "PROVIDER_UNAVAILABLE",
                format!("the {what} provider is unavailable ({detail})"),
            ),
            _ if status.is_client_error() => ItemError::terminal(
                "PROVIDER_REJECTED",
                format!("the {what} provider rejected the page ({detail})"),
            ),
            _ => ItemError::fatal(
                "PROVIDER_REJECTED",
                format!(
                    "the {what} endpoint {} answered {detail}{}; check the {what} base URL",
                    self.endpoint,
                    location
                        .map(|l| format!(" (redirect to {l})"))
                        .unwrap_or_default()
                ),
            ),
        }
    }
}

/// A failure to talk to the provider at all, by reqwest's error kind.
fn transport_error(e: &reqwest::Error, what: &str, timeout: Duration) -> ItemError {
    if e.is_timeout() {
        ItemError::retryable(
            "TIMEOUT",
            format!("the {what} provider did not answer within {timeout:?}"),
        )
    } else {
        // Connection refused or reset, DNS, TLS, or a body cut off: the next attempt may work.
        ItemError::retryable(
            "PROVIDER_UNREACHABLE",
            format!(
                "the {what} provider could not be reached: {}",
                error_chain(e)
            ),
        )
    }
}

/// reqwest's own message is only "error sending request"; the cause is in its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// How long a 429 asks us to wait: OpenAI's `retry-after-ms` if present (finer), else
/// `Retry-After` as seconds (possibly fractional) or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && let Ok(d) = Duration::try_from_secs_f64(ms / 1000.0)
    {
        return Some(d);
    }
    let value = get(header::RETRY_AFTER.as_str())?;
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The provider's own explanation: `{"error":{"message":..}}`, `{"error":".."}`, or the body
/// itself when it is not JSON; trimmed to [`PROVIDER_MESSAGE_CHARS`].
fn provider_message(body: &[u8]) -> Option<String> {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            error
                .get("message")
                .unwrap_or(error)
                .as_str()
                .map(str::to_owned)
        });
    let message = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if message.is_empty() {
        return None;
    }
    Some(match message.char_indices().nth(PROVIDER_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    })
}

/// Only the fields we read; serde skips the rest (usage, ids, logprobs…).
#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ReplyMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ReplyMessage {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    refusal: Option<String>,
}

/// OpenAI answers with a string; some compatible servers with a list of typed parts.
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Deserialize)]
struct ContentPart {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    fn into_text(self) -> String {
        match self {
            Self::Text(text) => text,
            // Reasoning or other non-text parts are not the page's text.
            Self::Parts(parts) => parts
                .into_iter()
                .filter(|p| p.kind.as_deref().is_none_or(|k| k == "text"))
                .filter_map(|p| p.text)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let secs = |s| Some(Duration::from_secs_f64(s));
        assert_eq!(retry_after(&headers(&[("retry-after", "2")])), secs(2.0));
        assert_eq!(retry_after(&headers(&[("retry-after", "1.5")])), secs(1.5));
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after", "20"),
                ("retry-after-ms", "250")
            ])),
            secs(0.25)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[])), None);
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut map = HeaderMap::new();
        map.insert(header::RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let wait = retry_after(&map).unwrap();
        assert!((Duration::from_secs(28)..=Duration::from_secs(30)).contains(&wait));
    }

    #[test]
    fn provider_messages_are_found_and_trimmed() {
        assert_eq!(
            provider_message(br#"{"error":{"message":"bad key","type":"auth"}}"#).as_deref(),
            Some("bad key")
        );
        assert_eq!(
            provider_message(br#"{"error":"model not loaded"}"#).as_deref(),
            Some("model not loaded")
        );
        assert_eq!(
            provider_message(b"<h1>Bad\n gateway</h1>").as_deref(),
            Some("<h1>Bad gateway</h1>")
        );
        assert_eq!(provider_message(b"  "), None);
        let long = "é".repeat(1000);
        let cut = provider_message(long.as_bytes()).unwrap();
        assert_eq!(cut.chars().count(), PROVIDER_MESSAGE_CHARS + 1);
    }

    #[test]
    fn content_parts_keep_only_text() {
        let content: Content = serde_json::from_str(
            r#"[{"type":"reasoning","text":"hmm"},{"type":"text","text":"Page "},{"text":"one"}]"#,
        )
        .unwrap();
        assert_eq!(content.into_text(), "Page one");
    }
}
