//! A real `quire` server (App + actix-web on a free port) for API tests, and a client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quire::app::App;
use quire::config::Settings;
use quire::objects::ObjectStore;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::db::TestDb;

/// Where a test server keeps its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    Folder,
    /// A new bucket on the local S3 server that `scripts/ensure-s3` starts.
    S3,
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    _app: App,
    /// The object folder (folder storage) or bucket (S3).
    pub objects: ObjectsAt,
    _dir: tempfile::TempDir,
}

pub enum ObjectsAt {
    Folder(PathBuf),
    Bucket(String),
}

pub fn s3_endpoint() -> String {
    std::env::var("QUIRE_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5055".to_owned())
}

/// A server on `db` with folder storage.
pub async fn serve(db: &TestDb, synthetic: bool) -> Api {
    serve_with(
        db,
        Storage::Folder,
        &[("QUIRE_SYNTHETIC_ENABLED", &synthetic.to_string())],
    )
    .await
}

/// A server on `db` and `storage`, with extra settings (`QUIRE_*` pairs).
pub async fn serve_with(db: &TestDb, storage: Storage, extra: &[(&str, &str)]) -> Api {
    serve_wrapped(db, storage, extra, |objects| objects).await
}

/// [`serve_with`], its object store wrapped by `wrap` (a gate, an injected failure).
pub async fn serve_wrapped(
    db: &TestDb,
    storage: Storage,
    extra: &[(&str, &str)],
    wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let mut env: BTreeMap<String, String> = [
        ("QUIRE_DATABASE_URL", db.url.clone()),
        ("QUIRE_SERVER_BIND", "127.0.0.1:0".into()),
        ("QUIRE_SERVER_WORKERS", "1".into()),
        ("QUIRE_RUNTIME_HEARTBEAT_INTERVAL_MS", "100".into()),
        ("QUIRE_RUNTIME_LEASE_TTL_MS", "3000".into()),
        ("QUIRE_RUNTIME_STORE_TIMEOUT_MS", "2000".into()),
        ("QUIRE_RUNTIME_CANCEL_GRACE_MS", "200".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // The node's PDF copies and scratch files, inside the test's folder.
    env.insert(
        "QUIRE_PDF_WORK_DIR".into(),
        dir.path().join("pdf").display().to_string(),
    );
    let objects = match storage {
        Storage::Folder => {
            let path = dir.path().join("objects");
            env.insert("QUIRE_STORAGE_PATH".into(), path.display().to_string());
            ObjectsAt::Folder(path)
        }
        Storage::S3 => {
            let bucket = format!("quire-api-{}", uuid::Uuid::new_v4().simple());
            create_bucket(&bucket).await;
            for (k, v) in [
                ("QUIRE_STORAGE_BACKEND", "s3".to_owned()),
                ("QUIRE_STORAGE_S3_BUCKET", bucket.clone()),
                ("QUIRE_STORAGE_S3_ENDPOINT", s3_endpoint()),
                ("QUIRE_STORAGE_S3_CHECKSUM_WHEN_REQUIRED", "true".into()),
                ("QUIRE_STORAGE_S3_ACCESS_KEY_ID", "test".into()),
                ("QUIRE_STORAGE_S3_SECRET_ACCESS_KEY", "test".into()),
            ] {
                env.insert(k.into(), v);
            }
            ObjectsAt::Bucket(bucket)
        }
    };
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let settings = Settings::load(None, &env).unwrap();
    let objects_store = wrap(quire::app::open_objects(&settings.storage).unwrap());
    let app = App::start_with_objects(settings, objects_store)
        .await
        .unwrap();
    let (server, addr) = app.serve().unwrap();
    actix_rt::spawn(server);
    Api {
        base: format!("http://{addr}"),
        // Idle connections are dropped before the server's 5 s keep-alive closes them, so
        // a request never goes out on a connection the server is closing.
        http: reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
        _app: app,
        objects,
        _dir: dir,
    }
}

async fn create_bucket(bucket: &str) {
    let s3 = quire::objects::S3Store::new(&quire::objects::S3Settings {
        bucket: bucket.to_owned(),
        endpoint: s3_endpoint(),
        region: "us-east-1".into(),
        prefix: String::new(),
        force_path_style: true,
        checksum_when_required: true,
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        timeout: Duration::from_secs(10),
    });
    s3.client()
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("a local S3 server must run (see scripts/ensure-s3)");
}

impl Api {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// Cancels a job.
    pub async fn cancel(&self, job: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/jobs/{job}/cancel");
        self.call(reqwest::Method::POST, &path, None).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    pub async fn raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Posts files as `multipart/form-data`, each a `files` part unless named otherwise.
    pub async fn upload(&self, path: &str, files: &[Part<'_>]) -> (StatusCode, Value) {
        let (content_type, body) = multipart(files);
        self.raw(path, &content_type, body).await
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        let res = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        res.text().await.unwrap()
    }

    pub async fn book(&self) -> String {
        let (status, book) = self
            .post("/api/v1/books", json!({ "title": "Fractions" }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{book}");
        book["id"].as_str().unwrap().to_owned()
    }

    pub async fn wait_status(&self, job: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, j) = self.get(&format!("/api/v1/jobs/{job}")).await;
            if j["status"] == json!(want) {
                return j;
            }
            assert!(Instant::now() < deadline, "job never became {want}: {j}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the job has ended, whatever its end.
    pub async fn wait_ended(&self, job: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, j) = self.get(&format!("/api/v1/jobs/{job}")).await;
            if matches!(
                j["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            ) {
                return j;
            }
            assert!(Instant::now() < deadline, "job never ended: {j}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Writes an object behind the server's back, as another node would.
    pub async fn put_object(&self, key: &str, bytes: &[u8]) {
        match &self.objects {
            ObjectsAt::Folder(root) => {
                let path = root.join(key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
            ObjectsAt::Bucket(bucket) => {
                s3_client()
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(bytes.to_vec().into())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// Keys of every stored object, sorted (relative to the folder or bucket).
    pub async fn object_keys(&self) -> Vec<String> {
        match &self.objects {
            ObjectsAt::Folder(root) => {
                let mut keys = Vec::new();
                walk(root, root, &mut keys);
                keys.sort();
                keys
            }
            ObjectsAt::Bucket(bucket) => {
                let out = s3_client()
                    .list_objects_v2()
                    .bucket(bucket)
                    .send()
                    .await
                    .unwrap();
                let mut keys: Vec<String> = out
                    .contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned))
                    .collect();
                keys.sort();
                keys
            }
        }
    }
}

fn walk(root: &Path, dir: &Path, keys: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, keys);
        } else {
            keys.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// One multipart part: a field name, an optional file name, and bytes.
pub struct Part<'a> {
    pub field: &'a str,
    pub file_name: Option<&'a str>,
    pub bytes: &'a [u8],
}

impl<'a> Part<'a> {
    pub fn file(file_name: &'a str, bytes: &'a [u8]) -> Self {
        Part {
            field: "files",
            file_name: Some(file_name),
            bytes,
        }
    }
}

pub const BOUNDARY: &str = "quire-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body, built by hand so tests control every byte.
pub fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(part_head(part).as_bytes());
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

pub fn part_head(part: &Part<'_>) -> String {
    let file = part
        .file_name
        .map(|n| format!("; filename=\"{n}\""))
        .unwrap_or_default();
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"{file}\r\n\
         Content-Type: application/octet-stream\r\n\r\n",
        part.field
    )
}

pub fn assert_error(res: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(res.0, status, "{}", res.1);
    assert_eq!(res.1["error"]["code"], json!(code), "{}", res.1);
    assert!(
        res.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

/// A file of the shared test data (`../shared/data`, beside the checkout).
pub fn shared_data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s3_client() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(s3_endpoint())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build(),
    )
}
