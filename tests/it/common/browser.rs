//! Headless Chromium driven through ChromeDriver's WebDriver protocol: a small client over
//! `reqwest`, enough for the UI tests (navigate, find, click, type, press keys, drop files,
//! read, screenshot).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
    pub shots: PathBuf,
}

#[derive(Clone)]
pub struct Element(String);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session (installed by scripts/install-deps).
    pub async fn start(shots: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/install-deps installs chromium-driver)");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        } } });
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {res}"))
            .to_owned();
        std::fs::create_dir_all(shots).unwrap();
        Browser {
            http,
            session: format!("{base}/session/{session}"),
            driver,
            _profile: profile,
            shots: shots.to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(error) = res["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", res["value"]["message"]);
        }
        res["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn refresh(&self) {
        self.call(reqwest::Method::POST, "/refresh", Some(json!({})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element `css` selects, waiting up to 30 s for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let res: Value = self
                .http
                .post(format!("{}/element", self.session))
                .json(&json!({ "using": "css selector", "value": css }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = res["value"][ELEMENT].as_str() {
                return Element(id.to_owned());
            }
            assert!(Instant::now() < deadline, "no element `{css}`");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, el: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", el.0),
            Some(json!({})),
        )
        .await;
    }

    /// Types into a field; for a file input, `text` is the files' paths, one a line.
    pub async fn type_into(&self, el: &Element, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn text(&self, el: &Element) -> String {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{}/text", el.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits until the text of `css` satisfies `want`; returns it.
    pub async fn wait_text(&self, css: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let el = self.find(css).await;
            let res: Value = self
                .http
                .get(format!("{}/element/{}/text", self.session, el.0))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let text = res["value"].as_str().unwrap_or_default().to_owned();
            if res["value"]["error"].is_null() && want(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` never matched; last: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Presses keys on whatever has the focus (WebDriver key codes: `TAB`, `ENTER`).
    pub async fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                let k = k.to_string();
                [
                    json!({ "type": "keyDown", "value": k }),
                    json!({ "type": "keyUp", "value": k }),
                ]
            })
            .collect();
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        )
        .await;
    }

    /// Drops real files from disk on the element `target`, as a user dragging them from a
    /// file manager would: a file input of the test's own reads them, and a `drop` event
    /// carries them to the page. Returns how many files the drop carried.
    pub async fn drop_files(&self, target: &str, paths: &[String]) -> u64 {
        self.script(
            "const i = document.createElement('input'); i.type = 'file'; i.multiple = true;
             i.id = 'test-drag-source'; document.body.append(i);",
        )
        .await;
        let source = self.find("#test-drag-source").await;
        self.type_into(&source, &paths.join("\n")).await;
        let target = serde_json::to_string(target).unwrap();
        self.script(&format!(
            "const src = document.getElementById('test-drag-source');
             const dt = new DataTransfer();
             for (const f of src.files) dt.items.add(f);
             const zone = document.querySelector({target});
             for (const type of ['dragenter', 'dragover', 'drop']) {{
               zone.dispatchEvent(new DragEvent(type, {{ bubbles: true, cancelable: true, dataTransfer: dt }}));
             }}
             src.remove();
             return dt.files.length;"
        ))
        .await
        .as_u64()
        .unwrap_or(0)
    }

    pub async fn script(&self, js: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": js, "args": [] })),
        )
        .await
    }

    /// Saves a screenshot as `<shots>/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Drop for Browser {
    /// Ends the session (ChromeDriver then closes Chromium), then the driver. Drop cannot
    /// await, so the DELETE goes over a plain socket.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let rest = self.session.trim_start_matches("http://");
        if let Some((host, path)) = rest.split_once('/')
            && let Ok(mut conn) = std::net::TcpStream::connect(host)
        {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let request =
                format!("DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            let _ = conn.write_all(request.as_bytes());
            let _ = conn.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
