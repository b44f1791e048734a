//! The OpenAI-compatible extractor: a chat model asked for the page's guidelines as JSON
//! that follows a schema (structured output), validated into the same types the offline
//! extractor produces. An answer that does not validate is sent back once with the error;
//! a second invalid answer fails the page (terminal `INVALID_MODEL_OUTPUT`).

use async_trait::async_trait;
use quire_actors::ItemError;
use serde_json::{Value, json};

use super::{Extractor, PageGuidelines};
use crate::openai::{ChatClient, ChatError, ChatSettings, Purpose};

const GUIDELINES: Purpose = Purpose {
    what: "guidelines",
    key_setting: "guidelines.openai_api_key",
    key_env: "QUIRE_GUIDELINES_OPENAI_API_KEY",
};

const INSTRUCTIONS: &str = "You turn one page of a school textbook into teaching guidelines. \
Topics are chapters or units; subtopics are sections. For each subtopic list its learning \
objectives, key concepts (definitions, key ideas), worked examples, common mistakes and \
exercises, in the page's own words, as short items. Content that comes before the page's \
first heading continues the previous page: put it in `continued`. A topic whose heading is \
not on this page has `name` null. Answer with JSON only.";

/// Longest topic or subtopic name accepted.
const MAX_NAME_CHARS: usize = 200;

fn list() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn content_properties() -> serde_json::Map<String, Value> {
    [
        "objectives",
        "key_concepts",
        "examples",
        "common_mistakes",
        "exercises",
    ]
    .into_iter()
    .map(|k| (k.to_owned(), list()))
    .collect()
}

/// The JSON schema of [`PageGuidelines`], strict (every property required, nothing else).
pub fn schema() -> Value {
    let lists = [
        "objectives",
        "key_concepts",
        "examples",
        "common_mistakes",
        "exercises",
    ];
    let mut subtopic = content_properties();
    subtopic.insert("name".into(), json!({ "type": "string" }));
    let mut sub_required: Vec<&str> = vec!["name"];
    sub_required.extend(lists);
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["continued", "topics"],
        "properties": {
            "continued": {
                "type": "object", "additionalProperties": false,
                "required": lists, "properties": content_properties(),
            },
            "topics": {
                "type": "array",
                "items": {
                    "type": "object", "additionalProperties": false,
                    "required": ["name", "subtopics"],
                    "properties": {
                        "name": { "type": ["string", "null"] },
                        "subtopics": {
                            "type": "array",
                            "items": {
                                "type": "object", "additionalProperties": false,
                                "required": sub_required, "properties": subtopic,
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Parses and checks a model's answer; the error says what is wrong, for the model.
fn validate(answer: &str) -> Result<PageGuidelines, String> {
    let found: PageGuidelines = serde_json::from_str(answer.trim())
        .map_err(|e| format!("not valid JSON for the schema: {e}"))?;
    let bad_name = |n: &str| n.trim().is_empty() || n.chars().count() > MAX_NAME_CHARS;
    for topic in &found.topics {
        if topic.name.as_deref().is_some_and(bad_name) {
            return Err(format!(
                "a topic name must have 1 to {MAX_NAME_CHARS} characters"
            ));
        }
        for sub in &topic.subtopics {
            if bad_name(&sub.name) {
                return Err(format!(
                    "a subtopic name must have 1 to {MAX_NAME_CHARS} characters"
                ));
            }
        }
    }
    Ok(found)
}

pub struct OpenAiExtractor {
    client: ChatClient,
}

impl OpenAiExtractor {
    pub fn new(settings: ChatSettings) -> Result<Self, ChatError> {
        Ok(Self {
            client: ChatClient::new(settings, GUIDELINES)?,
        })
    }

    async fn ask(&self, messages: &[Value]) -> Result<String, ItemError> {
        let reply = self
            .client
            .complete(json!({
                "messages": messages,
                "temperature": 0,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": { "name": "page_guidelines", "strict": true, "schema": schema() },
                },
            }))
            .await?;
        if let Some(refusal) = reply.refusal {
            return Err(ItemError::terminal(
                "MODEL_REFUSED",
                format!("the model refused the page: {refusal}"),
            ));
        }
        Ok(reply.text)
    }
}

#[async_trait]
impl Extractor for OpenAiExtractor {
    async fn extract(&self, page_no: i64, text: &str) -> Result<PageGuidelines, ItemError> {
        let mut messages = vec![
            json!({ "role": "system", "content": INSTRUCTIONS }),
            json!({ "role": "user", "content": format!("Page {page_no}:\n\n{text}") }),
        ];
        let answer = self.ask(&messages).await?;
        let why = match validate(&answer) {
            Ok(found) => return Ok(found),
            Err(why) => why,
        };
        // Once more, with the answer and what is wrong with it.
        messages.push(json!({ "role": "assistant", "content": answer }));
        messages.push(json!({
            "role": "user",
            "content": format!("That answer is invalid: {why}. Answer again with JSON that follows the schema."),
        }));
        let again = self.ask(&messages).await?;
        validate(&again).map_err(|why| {
            ItemError::terminal(
                "INVALID_MODEL_OUTPUT",
                format!("the model's answer for page {page_no} was invalid twice: {why}"),
            )
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
    fn answers_are_validated_into_page_guidelines() {
        let ok = r#"{"continued": {"objectives": [], "key_concepts": [], "examples": ["2/4 = 1/2"],
            "common_mistakes": [], "exercises": []},
            "topics": [{"name": "Fractions", "subtopics": [{"name": "Halves", "objectives": ["halve"],
            "key_concepts": [], "examples": [], "common_mistakes": [], "exercises": []}]}]}"#;
        let found = validate(ok).unwrap();
        assert_eq!(found.continued.examples, ["2/4 = 1/2"]);
        assert_eq!(found.topics[0].subtopics[0].content.objectives, ["halve"]);
        assert!(validate("Sure! Here are the guidelines").is_err());
        let blank = ok.replace("\"Halves\"", "\"  \"");
        assert!(validate(&blank).unwrap_err().contains("subtopic name"));
        // The schema asks for what the types read.
        let s = schema();
        assert_eq!(s["required"], json!(["continued", "topics"]));
        assert!(
            s["properties"]["topics"]["items"]["properties"]["subtopics"]["items"]["required"]
                .as_array()
                .unwrap()
                .contains(&json!("common_mistakes"))
        );
    }
}
