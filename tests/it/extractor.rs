//! The OpenAI-compatible guidelines extractor against an in-test chat-completions server:
//! structured output, an invalid answer retried once with its error, rate limits, bad keys;
//! and through the API, a run that fails mid-way and a resume that reads exactly the pages
//! left.

use quire::guidelines::{Extractor, OpenAiExtractor};
use quire::openai::ChatSettings;
use quire_actors::{ErrorClass, ItemError};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::api::{Part, Storage, serve_with, shared_data};
use crate::common::db::{Backend, TestDb};
use crate::common::model::{ScriptedModel, answer, page_guidelines, refusal, subtopic};

fn extractor(model: &ScriptedModel) -> OpenAiExtractor {
    OpenAiExtractor::new(ChatSettings {
        base_url: model.server.base_url.clone(),
        model: "test-model".into(),
        api_key: Some("sk-test".into()),
        timeout: std::time::Duration::from_secs(5),
        concurrency: 1,
    })
    .unwrap()
}

fn guidelines(topic: &str, name: &str) -> String {
    page_guidelines(topic, vec![subtopic(name)]).to_string()
}

fn class_and_code(e: &ItemError) -> (ErrorClass, &str) {
    (e.class(), e.code())
}

#[actix_rt::test]
async fn a_valid_answer_becomes_the_page_guidelines() {
    let provider = ScriptedModel::start(vec![answer(&guidelines(
        "Fractions",
        "What Is a Fraction?",
    ))]);
    let found = extractor(&provider)
        .extract(1, "Chapter 1: Fractions")
        .await
        .unwrap();
    assert_eq!(found.topics[0].name.as_deref(), Some("Fractions"));
    assert_eq!(
        found.topics[0].subtopics[0].content.key_concepts,
        ["numerator"]
    );
    let seen = provider.seen();
    assert_eq!(seen[0]["model"], json!("test-model"));
    assert_eq!(seen[0]["response_format"]["type"], json!("json_schema"));
    assert_eq!(
        seen[0]["response_format"]["json_schema"]["strict"],
        json!(true)
    );
    assert!(
        seen[0]["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("Chapter 1: Fractions")
    );
}

#[actix_rt::test]
async fn an_invalid_answer_is_retried_once_with_its_error() {
    let provider = ScriptedModel::start(vec![
        answer("Here you go: topics are fractions"),
        answer(&guidelines("Fractions", "Halves")),
    ]);
    let found = extractor(&provider).extract(2, "text").await.unwrap();
    assert_eq!(found.topics[0].subtopics[0].name, "Halves");
    let seen = provider.seen();
    assert_eq!(seen.len(), 2);
    let retry = seen[1]["messages"].as_array().unwrap();
    assert_eq!(retry[2]["role"], json!("assistant"));
    assert!(
        retry[3]["content"]
            .as_str()
            .unwrap()
            .starts_with("That answer is invalid: not valid JSON")
    );

    let provider = ScriptedModel::start(vec![answer("nope"), answer("{\"topics\": 3}")]);
    let err = extractor(&provider).extract(3, "text").await.unwrap_err();
    assert_eq!(
        class_and_code(&err),
        (ErrorClass::Terminal, "INVALID_MODEL_OUTPUT")
    );
    assert_eq!(provider.seen().len(), 2);
}

#[actix_rt::test]
async fn rate_limits_and_bad_keys_are_classified() {
    let provider = ScriptedModel::start(vec![(
        429,
        vec![("retry-after", "2")],
        r#"{"error":{"message":"slow down"}}"#.into(),
    )]);
    let err = extractor(&provider).extract(1, "text").await.unwrap_err();
    assert_eq!(
        err,
        ItemError::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(2))
        }
    );
    let provider = ScriptedModel::start(vec![refusal(401, "Incorrect API key")]);
    let err = extractor(&provider).extract(1, "text").await.unwrap_err();
    assert_eq!(class_and_code(&err), (ErrorClass::Fatal, "PROVIDER_AUTH"));
    assert!(
        err.to_string().contains("guidelines.openai_api_key"),
        "{err}"
    );
}

/// Three pages; the model answers two, then refuses the key: the job fails with two pages
/// done, and its resume sends exactly the third. Pages deleted or rejected later leave the
/// draft.
#[actix_rt::test]
async fn a_run_that_fails_midway_resumes_with_exactly_the_pages_left() {
    let provider = ScriptedModel::start(vec![
        answer(&guidelines("Fractions", "Halves")),
        answer(&guidelines("Fractions", "Quarters")),
        refusal(401, "key revoked"),
        answer(&guidelines("Fractions", "Eighths")),
    ]);
    let db = TestDb::new(Backend::Sqlite).await;
    let api = serve_with(&db, Storage::Folder, &provider.server.extractor_env("1")).await;
    let book = api.book().await;
    let scan = shared_data("phototest.tif");
    let (status, up) = api
        .upload(
            &format!("/api/v1/books/{book}/pages/bulk"),
            &[
                Part::file("1.tif", &scan),
                Part::file("2.tif", &scan),
                Part::file("3.tif", &scan),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{up}");
    api.wait_status(up["job"]["id"].as_str().unwrap(), "completed")
        .await;

    let generate = format!("/api/v1/books/{book}/guidelines/generate");
    let (status, job) = api.post(&generate, json!({ "mode": "start" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    // The job records the extractor this node runs.
    assert_eq!(job["params"]["extractor"], json!("openai"), "{job}");
    let failed = api.wait_status(job["id"].as_str().unwrap(), "failed").await;
    assert_eq!(failed["error"]["code"], json!("PROVIDER_AUTH"), "{failed}");
    assert_eq!(failed["progress"]["completed"], json!(2), "{failed}");
    let (_, draft) = api.get(&format!("/api/v1/books/{book}/guidelines")).await;
    assert_eq!(draft["pages"], json!(2), "{draft}");

    let (status, resumed) = api.post(&generate, json!({ "mode": "resume" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resumed}");
    assert_eq!(resumed["progress"]["total"], json!(1), "{resumed}");
    api.wait_status(resumed["id"].as_str().unwrap(), "completed")
        .await;
    assert_eq!(provider.seen().len(), 4, "exactly one more request");
    let (_, draft) = api.get(&format!("/api/v1/books/{book}/guidelines")).await;
    assert_eq!(draft["pages"], json!(3), "{draft}");
    // Each page's answer is kept, whichever attempt produced it.
    let mut names: Vec<&str> = draft["topics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["subtopics"].as_array().unwrap())
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Eighths", "Halves", "Quarters"], "{draft}");

    // A page deleted, or rejected in review, after its extraction leaves the draft.
    let (status, _) = api.delete(&format!("/api/v1/books/{book}/pages/3")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .put(
            &format!("/api/v1/books/{book}/pages/1/review"),
            json!({ "action": "reject" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, draft) = api.get(&format!("/api/v1/books/{book}/guidelines")).await;
    assert_eq!(draft["pages"], json!(1), "{draft}");
    assert_eq!(draft["topics"][0]["pages"], json!([2]), "{draft}");
}
