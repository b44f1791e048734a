//! `pdf`: PDF imports through a real `quire` server (HTTP, runtime, store, folder objects),
//! each against a baseline measured in the same run:
//!
//! - born digital: 300 pages (the shared `fractions.pdf` repeated by qpdf) from request to
//!   stored pages, against `pdftotext` on the same file;
//! - scanned: the real textbook's 13 scans as a PDF (made by Tesseract's PDF output, joined
//!   by qpdf) imported with `mode=ocr` at 300 dpi, against `pdftoppm` + `tesseract` on the
//!   same pages with one process per core;
//! - large: 3,000 pages, the server's peak RSS growth and pages per second.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use quire_actors::{BookId, JobId};
use serde_json::{Value, json};

use crate::pages::{Server, memory, reset_peak, serve};
use crate::setup::BenchDb;
use crate::{Backend, report};

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name)
}

fn run(cmd: &mut std::process::Command) {
    let out = cmd.stdin(Stdio::null()).output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `fractions.pdf` repeated to `pages` pages.
fn repeated(dir: &Path, pages: usize) -> PathBuf {
    let source = shared("textbook/fractions.pdf");
    let out = dir.join(format!("born-digital-{pages}.pdf"));
    let mut cmd = std::process::Command::new("qpdf");
    cmd.arg("--empty").arg("--pages");
    let mut left = pages;
    while left > 0 {
        let take = left.min(8);
        cmd.arg(&source).arg(format!("1-{take}"));
        left -= take;
    }
    cmd.arg("--").arg(&out);
    run(&mut cmd);
    out
}

/// The textbook's scans as one image-only-looking PDF (Tesseract's PDF: the scan with its
/// text hidden under it), joined by qpdf.
fn scanned(dir: &Path) -> (PathBuf, usize) {
    let mut scans: Vec<PathBuf> = std::fs::read_dir(shared("openstax-python/scans"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    scans.sort();
    let mut parts = Vec::new();
    for (n, scan) in scans.iter().enumerate() {
        let base = dir.join(format!("scan-{n:02}"));
        run(std::process::Command::new("tesseract")
            .arg(scan)
            .arg(&base)
            .arg("pdf"));
        parts.push(base.with_extension("pdf"));
    }
    let out = dir.join("scanned.pdf");
    let mut cmd = std::process::Command::new("qpdf");
    cmd.arg("--empty").arg("--pages");
    for part in &parts {
        cmd.arg(part);
    }
    cmd.arg("--").arg(&out);
    run(&mut cmd);
    (out, scans.len())
}

impl Server {
    /// Posts `pdf` with `curl` (a process of its own, so this process's memory is the
    /// server's); returns the import job.
    async fn import(&self, book: BookId, pdf: &Path, query: &str) -> JobId {
        let out = tokio::process::Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                "-H",
                "Content-Type: application/pdf",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", pdf.display()))
            .arg(format!("{}/api/v1/books/{book}/pdf{query}", self.base))
            .stdin(Stdio::null())
            .output()
            .await
            .expect("curl (scripts/install-deps installs it)");
        let body: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert!(out.status.success(), "import failed: {body}");
        serde_json::from_value(body["id"].clone()).unwrap()
    }
}

/// Median of `rounds` (quire, baseline) pairs, each ratio baseline / quire.
fn median(mut rounds: Vec<(f64, Duration, Duration)>) -> ((f64, Duration, Duration), f64, f64) {
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let spread = (rounds[0].0, rounds[rounds.len() - 1].0);
    (rounds[rounds.len() / 2], spread.0, spread.1)
}

async fn timed(cmd: &mut tokio::process::Command) -> Duration {
    let started = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .await
        .expect("the tool runs");
    assert!(status.success(), "{cmd:?}");
    started.elapsed()
}

pub async fn run_all(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = BenchDb::new(backend).await;
    let server = serve(&db, &[]).await;

    // Born digital: 300 pages, request to stored pages, against pdftotext on the file.
    let pdf = repeated(dir.path(), 300);
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let book = server.book().await;
        let started = Instant::now();
        let job = server.import(book, &pdf, "").await;
        let done = server.wait_ended(job).await;
        let quire = started.elapsed();
        assert_eq!(done.progress.completed, 300, "{done:?}");
        let cli = timed(
            tokio::process::Command::new("pdftotext")
                .arg(&pdf)
                .arg(dir.path().join("out.txt")),
        )
        .await;
        rounds.push((quire.as_secs_f64() / cli.as_secs_f64(), quire, cli));
    }
    let ((ratio, quire, cli), low, high) = median(rounds);
    report(
        backend,
        "pdf born digital",
        &format!(
            "300 pages: quire {:.0} ms to stored pages, pdftotext {:.0} ms: {ratio:.2}x pdftotext's time \
             (median of 5; {low:.2}x to {high:.2}x)",
            quire.as_secs_f64() * 1000.0,
            cli.as_secs_f64() * 1000.0
        ),
        json!({ "pages": 300, "quire_ms": quire.as_millis() as u64, "pdftotext_ms": cli.as_millis() as u64,
                "ratio": ratio, "lowest": low, "highest": high }),
    );

    // Scanned: every page rendered at 300 dpi and OCR'd, against the CLIs with one process
    // per core on the same pages.
    let (scans, pages) = scanned(dir.path());
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let book = server.book().await;
        let started = Instant::now();
        let job = server.import(book, &scans, "?mode=ocr&dpi=300").await;
        let done = server.wait_ended(job).await;
        let quire = started.elapsed();
        assert_eq!(done.progress.completed, pages as u64, "{done:?}");
        let cli = cli_ocr(&scans, pages, cores, dir.path()).await;
        rounds.push((cli.as_secs_f64() / quire.as_secs_f64(), quire, cli));
    }
    let ((ratio, quire, cli), low, high) = median(rounds);
    let rate = |d: Duration| pages as f64 / d.as_secs_f64();
    report(
        backend,
        "pdf scanned",
        &format!(
            "{pages} scanned pages at 300 dpi, {cores} processes: quire {:.2} pages/s, pdftoppm + tesseract {:.2} pages/s, \
             {:.0}% of the CLIs (median of 3; {:.0}% to {:.0}%)",
            rate(quire),
            rate(cli),
            ratio * 100.0,
            low * 100.0,
            high * 100.0
        ),
        json!({ "pages": pages, "quire_pages_per_s": rate(quire), "cli_pages_per_s": rate(cli),
                "ratio": ratio, "lowest": low, "highest": high }),
    );

    // Large: 3,000 pages, the server's peak memory growth.
    let big = repeated(dir.path(), 3000);
    let size = std::fs::metadata(&big).unwrap().len();
    let book = server.book().await;
    let (before, _) = memory();
    reset_peak();
    let started = Instant::now();
    let job = server.import(book, &big, "").await;
    let done = server.wait_ended(job).await;
    let took = started.elapsed();
    let (_, peak) = memory();
    assert_eq!(done.progress.completed, 3000, "{done:?}");
    let growth = peak.saturating_sub(before);
    report(
        backend,
        "pdf large",
        &format!(
            "3,000 pages ({:.1} MB): {:.0} pages/s, peak RSS growth of the server {:.0} MB",
            size as f64 / 1e6,
            3000.0 / took.as_secs_f64(),
            growth as f64 / 1e6
        ),
        json!({ "pages": 3000, "bytes": size, "pages_per_s": 3000.0 / took.as_secs_f64(),
                "peak_rss_growth_bytes": growth }),
    );
}

/// `pdftoppm` then `tesseract` on each page, `cores` pages at once.
async fn cli_ocr(pdf: &Path, pages: usize, cores: usize, dir: &Path) -> Duration {
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let workers = (0..cores).map(|w| {
        let (next, pdf, dir) = (next.clone(), pdf.to_owned(), dir.to_owned());
        async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n > pages {
                    break;
                }
                let prefix = dir.join(format!("cli-{w}"));
                timed(
                    tokio::process::Command::new("pdftoppm")
                        .args([
                            "-f",
                            &n.to_string(),
                            "-l",
                            &n.to_string(),
                            "-r",
                            "300",
                            "-gray",
                            "-png",
                            "-singlefile",
                        ])
                        .arg(&pdf)
                        .arg(&prefix),
                )
                .await;
                timed(
                    tokio::process::Command::new("tesseract")
                        .env("OMP_THREAD_LIMIT", "1")
                        .arg(prefix.with_extension("png"))
                        .arg("stdout")
                        .arg("tsv")
                        .stdout(Stdio::null()),
                )
                .await;
            }
        }
    });
    futures_util::future::join_all(workers).await;
    started.elapsed()
}
