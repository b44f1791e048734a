//! Page benchmarks through a real `quire` server (HTTP, runtime, store, folder objects):
//!
//! - `upload`: 100 × 2 MB images per bulk upload over loopback HTTP (sent by `curl`, a
//!   separate process, so this process's memory is the server's), against writing the same
//!   bytes straight to the same kind of store; and the server's peak RSS growth while 1 GB
//!   is uploaded.
//! - `ocr`: Tesseract through the `ocr` job kind on the real textbook's scanned pages
//!   (`openstax-python/scans`), against the `tesseract` CLI run with one process per core on
//!   the same pages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use quire::app::App;
use quire::config::Settings;
use quire::objects::{FolderStore, ObjectKey, ObjectStore};
use quire_actors::{BookId, JobId};
use serde_json::{Value, json};

use crate::setup::BenchDb;
use crate::{Backend, report};

const FILE_BYTES: usize = 2 << 20;
const FILES_PER_UPLOAD: usize = 100;

pub(crate) struct Server {
    pub(crate) app: App,
    pub(crate) base: String,
    _dir: tempfile::TempDir,
}

pub(crate) async fn serve(db: &BenchDb, extra: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut env: BTreeMap<String, String> = [
        ("QUIRE_DATABASE_URL", db.url().to_owned()),
        (
            "QUIRE_STORAGE_PATH",
            dir.path().join("objects").display().to_string(),
        ),
        ("QUIRE_SERVER_BIND", "127.0.0.1:0".to_owned()),
        ("QUIRE_RUNTIME_NODE_ID", "bench".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let app = App::start(Settings::load(None, &env).unwrap())
        .await
        .unwrap();
    let (server, addr) = app.serve().unwrap();
    actix::spawn(server);
    Server {
        app,
        base: format!("http://{addr}"),
        _dir: dir,
    }
}

impl Server {
    pub(crate) async fn book(&self) -> BookId {
        let book = self
            .app
            .store
            .create_book(
                &quire::store::NewBook {
                    title: "bench".into(),
                    owner: None,
                },
                0,
            )
            .await
            .unwrap();
        book.id
    }

    /// Bulk-uploads `files` with `curl`; returns the OCR job's id.
    pub(crate) async fn upload(&self, book: BookId, files: &[PathBuf]) -> JobId {
        let mut curl = tokio::process::Command::new("curl");
        curl.args(["-sS", "--fail-with-body", "-H", "Expect:"]);
        for f in files {
            curl.arg("-F").arg(format!("files=@{}", f.display()));
        }
        let out = curl
            .arg(format!("{}/api/v1/books/{book}/pages/bulk", self.base))
            .stdin(Stdio::null())
            .output()
            .await
            .expect("curl (scripts/install-deps installs it)");
        let body: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert!(
            out.status.success(),
            "upload failed: {body} {:?}",
            out.status
        );
        serde_json::from_value(body["job"]["id"].clone()).unwrap()
    }

    /// Waits on the runtime's job events, not by polling: a poll every few milliseconds
    /// is a query each, work the database server does on the cores the measured job uses.
    pub(crate) async fn wait_ended(&self, job: JobId) -> quire_actors::Job {
        let mut events = self.app.runtime.subscribe();
        loop {
            let j = self.app.runtime.status(job).await.unwrap();
            if j.status.is_terminal() {
                return j;
            }
            // The next change of this job, or a second at most (a missed event costs that).
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                loop {
                    match events.recv().await {
                        Ok(changed) if changed.id == job => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        _ => {}
                    }
                }
            })
            .await;
        }
    }
}

/// Resident and peak resident memory of this process, in bytes.
pub(crate) fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Makes the peak resident size start again from the current one.
pub(crate) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// 100 files of 2 MB that pass the upload's checks (PNG magic bytes) and fail OCR at once
/// (the rest is noise), so no OCR competes with the uploads being timed.
fn make_files(dir: &Path) -> Vec<PathBuf> {
    // xorshift64: incompressible noise, no dependency.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..FILES_PER_UPLOAD)
        .map(|i| {
            let mut bytes = vec![0u8; FILE_BYTES];
            for chunk in bytes.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            bytes[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
            let path = dir.join(format!("page-{i:03}.png"));
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

/// The baseline: the same files read and written straight to a folder store.
async fn direct(files: &[PathBuf], store: &FolderStore, book: BookId) -> Duration {
    let started = Instant::now();
    for (i, f) in files.iter().enumerate() {
        let bytes = Bytes::from(tokio::fs::read(f).await.unwrap());
        store
            .put(&ObjectKey::page_source(book, i as i64 + 1, None), bytes)
            .await
            .unwrap();
    }
    started.elapsed()
}

pub async fn upload(backend: Backend, gigabytes: u32) {
    let db = BenchDb::new(backend).await;
    let server = serve(&db, &[]).await;
    let scratch = tempfile::tempdir().unwrap();
    let files = make_files(scratch.path());
    let direct_store = FolderStore::new(scratch.path().join("direct"));

    // Warm up (allocator, connections), then measure the peak growth over 1 GB per round.
    let job = server.upload(server.book().await, &files).await;
    server.wait_ended(job).await;
    reset_peak();
    let (base, _) = memory();
    let rounds = (gigabytes as usize * 1024).div_ceil(FILE_BYTES / (1 << 20) * FILES_PER_UPLOAD);
    for _ in 0..rounds {
        let job = server.upload(server.book().await, &files).await;
        server.wait_ended(job).await;
    }
    let (_, peak) = memory();
    let growth_mb = peak.saturating_sub(base) as f64 / f64::from(1 << 20);

    // Timing: alternate the two sides, three rounds each, and compare the medians.
    let (mut http, mut straight) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        straight.push(direct(&files, &direct_store, BookId::new()).await);
        let book = server.book().await;
        let started = Instant::now();
        let job = server.upload(book, &files).await;
        http.push(started.elapsed());
        server.wait_ended(job).await;
    }
    http.sort();
    straight.sort();
    let (http, straight) = (http[1], straight[1]);
    let mb = (FILE_BYTES * FILES_PER_UPLOAD) as f64 / f64::from(1 << 20);
    let ratio = http.as_secs_f64() / straight.as_secs_f64();
    report(
        backend,
        "upload",
        &format!(
            "{FILES_PER_UPLOAD} x 2 MB over HTTP {:.2} s ({:.0} MB/s), straight to the store {:.2} s, ratio {ratio:.2}; \
             peak RSS growth over {rounds} uploads ({:.1} GB) {growth_mb:.1} MB",
            http.as_secs_f64(),
            mb / http.as_secs_f64(),
            straight.as_secs_f64(),
            rounds as f64 * mb / 1024.0,
        ),
        json!({ "http_seconds": http.as_secs_f64(), "direct_seconds": straight.as_secs_f64(),
                "ratio": ratio, "uploaded_gb": rounds as f64 * mb / 1024.0,
                "peak_rss_growth_mb": growth_mb }),
    );
}

/// The real textbook's scanned pages (`openstax-python/scans`: 13 grey 300 dpi pages).
/// The shared test data: `QUIRE_TEST_DATA`, else `shared/data` beside the clone.
pub(crate) fn data_root() -> PathBuf {
    std::env::var("QUIRE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

fn ocr_pages() -> Vec<PathBuf> {
    let scans = data_root().join("openstax-python/scans");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&scans)
        .unwrap_or_else(|e| panic!("{}: {e}", scans.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    pages.sort();
    pages
}

/// The baseline: `tesseract` on each page, one single-threaded process per core, writing
/// `format` (`txt`, or `tsv` as the `ocr` job kind asks for: text with word confidences).
async fn tesseract_cli(pages: &[PathBuf], processes: usize, format: &'static str) -> Duration {
    let slots = Arc::new(tokio::sync::Semaphore::new(processes));
    let started = Instant::now();
    let runs: Vec<_> = pages
        .iter()
        .cloned()
        .map(|page| {
            let slots = slots.clone();
            tokio::spawn(async move {
                let _slot = slots.acquire().await.unwrap();
                let out = tokio::process::Command::new("tesseract")
                    .arg(&page)
                    .arg("stdout")
                    .args(["-l", "eng", format])
                    .env("OMP_THREAD_LIMIT", "1")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .output()
                    .await
                    .expect("tesseract (scripts/install-deps installs it)");
                assert!(
                    out.status.success(),
                    "tesseract failed on {}",
                    page.display()
                );
            })
        })
        .collect();
    for run in runs {
        run.await.unwrap();
    }
    started.elapsed()
}

pub async fn ocr(backend: Backend) {
    let pages = ocr_pages();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let db = BenchDb::new(backend).await;
    let server = serve(&db, &[]).await;

    // Five rounds, each side in turn; the median of the rounds' ratios (a round's two sides
    // share the machine's noise of that moment).
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let book = server.book().await;
        // Timed from the request: the upload is a small share, and it is part of the work.
        let started = Instant::now();
        let job = server.upload(book, &pages).await;
        let done = server.wait_ended(job).await;
        let quire = started.elapsed();
        let items = server.app.store.items(job, None, None, 1000).await.unwrap();
        let ms = |key: &str| -> u64 {
            items
                .iter()
                .filter_map(|i| i.result.as_ref()?.get(key)?.as_u64())
                .sum()
        };
        eprintln!(
            "ocr round: normalize {} ms, read {} ms in all",
            ms("normalize_ms"),
            ms("read_ms")
        );
        let cli = tesseract_cli(&pages, cores, "tsv").await;
        rounds.push((cli.as_secs_f64() / quire.as_secs_f64(), quire, cli));
        assert_eq!(
            done.progress.completed,
            pages.len() as u64,
            "every page must be read: {done:?}"
        );
    }
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let spread = (rounds[0].0, rounds[rounds.len() - 1].0);
    let (ratio, quire, cli) = rounds[rounds.len() / 2];
    let rate = |d: Duration| pages.len() as f64 / d.as_secs_f64();
    report(
        backend,
        "ocr",
        &format!(
            "{} real pages, {cores} processes: quire {:.2} pages/s, tesseract CLI (same TSV output) {:.2} pages/s, \
             {:.0}% of the CLI (median of 5 rounds; {:.0}% to {:.0}%)",
            pages.len(),
            rate(quire),
            rate(cli),
            ratio * 100.0,
            spread.0 * 100.0,
            spread.1 * 100.0
        ),
        json!({ "pages": pages.len(), "processes": cores, "quire_pages_per_s": rate(quire),
                "cli_pages_per_s": rate(cli), "ratio": ratio, "lowest": spread.0, "highest": spread.1 }),
    );
}
