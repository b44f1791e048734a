//! What the OpenAPI tests share: reading the served document, walking its operations and
//! `$ref`s, checking answers against its schemas, and the README's route table.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::api::Api;

pub(super) const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Operations that have no client error to report.
pub(super) const NO_CLIENT_ERRORS: [(&str, &str); 5] = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
];

pub(super) async fn document(api: &Api) -> Value {
    let res = api
        .http
        .get(format!("{}/api/openapi.json", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(media_type(&res).as_deref(), Some("application/json"));
    res.json().await.unwrap()
}

/// The media type of a response, without its parameters.
pub(super) fn media_type(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(essence)
}

pub(super) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Every (METHOD, path, operation) of the document.
pub(super) fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

/// The value a local `$ref` points to.
pub(super) fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

pub(super) fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

pub(super) fn is_error_body(response: &Value) -> bool {
    response["content"]["application/json"]["schema"]["$ref"]
        == json!("#/components/schemas/ErrorBody")
}

/// Checks `value` against `schema`, the subset of JSON Schema the document uses, strictly:
/// an object has only the properties its schema names. Pushes what does not match.
pub(super) fn conform(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    if let Some(reference) = schema["$ref"].as_str() {
        match resolve(doc, reference) {
            Some(target) => conform(doc, target, value, at, errors),
            None => errors.push(format!("{at}: unresolved {reference}")),
        }
        return;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            let matches = options.iter().any(|option| {
                let mut e = Vec::new();
                conform(doc, option, value, at, &mut e);
                e.is_empty()
            });
            if !matches {
                errors.push(format!("{at}: {value} matches no schema of {key}"));
            }
            return;
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !allowed {
        errors.push(format!("{at}: {value} is {actual}, not {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object())
    {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap();
            if !object.contains_key(name) {
                errors.push(format!("{at}: the required `{name}` is missing"));
            }
        }
        for (name, v) in object {
            match properties.get(name) {
                Some(s) => conform(doc, s, v, &format!("{at}.{name}"), errors),
                None => errors.push(format!("{at}: `{name}` is not documented")),
            }
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, v) in values.iter().enumerate() {
            conform(doc, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Sends a request and checks the answer against the operation's documented responses:
/// the status is documented, the media type is one documented for it, and a JSON body has
/// the documented shape. Returns the status and the body (JSON, else text).
pub(super) async fn checked(
    api: &Api,
    doc: &Value,
    method: &str,
    template: &str,
    path: &str,
    request: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (StatusCode, Value) {
    let op = &doc["paths"][template][method.to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {template} is not documented");
    let res = request(api.http.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}{path}", api.base),
    ))
    .send()
    .await
    .unwrap();
    let status = res.status();
    let media = media_type(&res);
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    let documented = &op["responses"][status.as_str()];
    assert!(
        documented.is_object(),
        "{method} {path} answered {status}, which is not documented: {body}"
    );
    if let Some(content) = documented["content"].as_object() {
        let media = media.unwrap_or_else(|| panic!("{method} {path}: no content type"));
        let Some((_, media_doc)) = content.iter().find(|(k, _)| essence(k) == media) else {
            panic!("{method} {path} answered {status} as {media}, not as documented");
        };
        if media == "application/json" {
            let mut errors = Vec::new();
            conform(doc, &media_doc["schema"], &body, "body", &mut errors);
            assert!(
                errors.is_empty(),
                "{method} {path} answered {status} {body}, not as documented: {errors:#?}"
            );
        }
    }
    (status, body)
}

/// A request that must fail: method, documented path, concrete path, an optional body with
/// its content type, and the status and code expected.
pub(super) type ErrorCase = (
    &'static str,
    &'static str,
    String,
    Option<(&'static str, Vec<u8>)>,
    StatusCode,
    &'static str,
);

pub(super) fn no_body(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req
}

/// The served routes: the README's API table, `| METHOD | `path`[, `path`] | … |`, without
/// query strings.
pub(super) fn readme_routes() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut routes = BTreeSet::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, method, paths, ..] = cells.as_slice() else {
            continue;
        };
        if !METHODS.contains(&method.to_ascii_lowercase().as_str())
            || method.to_ascii_uppercase() != *method
        {
            continue;
        }
        for path in paths.split('`').skip(1).step_by(2) {
            let path = path.split('?').next().unwrap();
            routes.insert((method.to_string(), path.to_owned()));
        }
    }
    routes
}

/// A documented path with its parameters filled in: fresh ids, page 1.
pub(super) fn concrete(template: &str) -> String {
    template
        .replace("{book_id}", &uuid::Uuid::new_v4().to_string())
        .replace("{job_id}", &uuid::Uuid::new_v4().to_string())
        .replace("{page_no}", "1")
}

pub(super) fn is_fallback(status: StatusCode, body: &Value) -> bool {
    matches!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
            | (StatusCode::METHOD_NOT_ALLOWED, Some("METHOD_NOT_ALLOWED"))
    )
}
