//! `quire-bench`: load benchmarks of the runtime, each reported as a ratio against a
//! baseline measured in the same run (these machines are shared and noisy).
//!
//! - `throughput`: no-op items through the whole actor path (claim, pool, batched durable
//!   outcomes) against a bare loop of the same store calls with no actors.
//! - `io`: items that wait 50 ms on a provider of concurrency 64, against the ideal time.
//! - `latency`: from `submit` to the first item started, on an idle node.
//! - `upload`: bulk page upload over HTTP against writing the same bytes straight to the
//!   store, and the server's peak memory growth over 1 GB of uploads.
//! - `ocr`: Tesseract pages through the `ocr` job kind against the `tesseract` CLI with one
//!   process per core.
//! - `decode`: peak memory of 16 uploaded PNGs that each declare 60 MP of 16-bit RGBA,
//!   decoded row by row to grey within the decode budget, against the whole-image path.
//! - `finalize`: merging 5,000 draft subtopics, against 500 (is it linear?).
//! - `extract`: 300 pages through the OpenAI-compatible extractor against a 1 s test model
//!   at concurrency 16, against the ideal time.
//! - `pdf`: PDF imports: 300 born-digital pages against `pdftotext`, scanned pages against
//!   `pdftoppm` + `tesseract` with one process per core, and 3,000 pages' peak memory.
//! - `guidelines`: a folder of scans (default: the OpenStax pages in the shared data)
//!   through OCR, the offline extractor and finalization with the embedded default
//!   settings, scored against its truth: section recall and precision, objective and key
//!   term recall, summaries, examples (`quire::guidelines::score`).
//! - `draft`: reading a book's draft guidelines (what the UI polls) among 1,000 other books
//!   of 100 extracted pages each, against reading it alone.
//!
//! Run it in release mode: `cargo run --release --bin quire-bench -- all`.

mod decode;
mod draft;
mod extract;
mod finalize;
mod guidelines;
mod pages;
mod pdf;
mod setup;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use quire_actors::JobKind;
use quire_actors::model::NewJob;
use serde_json::json;

use setup::{BenchDb, start_runtime, wait_done};

#[derive(Parser)]
#[command(name = "quire-bench", about = "Load benchmarks of the Quire runtime")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
    /// Backends to run on.
    #[arg(long, value_enum, num_args = 1.., default_values = ["sqlite", "postgres"], global = true)]
    backend: Vec<Backend>,
}

#[derive(Subcommand, Clone)]
enum Bench {
    Throughput {
        #[arg(long, default_value_t = 100_000)]
        items: i64,
    },
    Io {
        #[arg(long, default_value_t = 2_000)]
        items: i64,
    },
    Latency {
        #[arg(long, default_value_t = 200)]
        jobs: usize,
    },
    Upload {
        /// Gigabytes uploaded while the peak memory is watched.
        #[arg(long, default_value_t = 1)]
        gigabytes: u32,
    },
    Ocr,
    /// Peak memory of decoding 16 PNGs declaring 60 MP of 16-bit RGBA each: rows against
    /// the whole-image path.
    Decode,
    /// Finalization of 500 and 5,000 draft subtopics (no database).
    Finalize,
    /// 300 pages through the OpenAI-compatible extractor, 1 s a page, concurrency 16.
    Extract,
    /// PDF imports: born digital against pdftotext, scanned against pdftoppm + tesseract,
    /// and 3,000 pages' peak memory.
    Pdf,
    /// A book's draft guidelines read among other books' extractions, against alone.
    Draft {
        #[arg(long, default_value_t = 1_000)]
        books: usize,
    },
    /// Scans through OCR, extraction and finalization, scored against the book's truth.
    Guidelines {
        /// A folder of page images, or a PDF (default: the OpenStax scans of the shared data).
        #[arg(long)]
        scans: Option<std::path::PathBuf>,
        /// The book's truth.json (default: the OpenStax truth).
        #[arg(long)]
        truth: Option<std::path::PathBuf>,
        /// The book's page the folder's first image is (its truth is scored from there).
        #[arg(long, default_value_t = 1)]
        first_page: i64,
    },
    /// Every benchmark with its default size.
    All,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn main() {
    let cli = Cli::parse();
    actix::System::new().block_on(async move {
        for &backend in &cli.backend {
            match cli.bench.clone() {
                Bench::Throughput { items } => throughput(backend, items).await,
                Bench::Io { items } => io(backend, items).await,
                Bench::Latency { jobs } => latency(backend, jobs).await,
                Bench::Upload { gigabytes } => pages::upload(backend, gigabytes).await,
                Bench::Ocr => pages::ocr(backend).await,
                Bench::Decode => decode::run(backend).await,
                Bench::Finalize => finalize::run(backend),
                Bench::Extract => extract::run(backend).await,
                Bench::Draft { books } => draft::run(backend, books).await,
                Bench::Pdf => pdf::run_all(backend).await,
                Bench::Guidelines {
                    scans,
                    truth,
                    first_page,
                } => {
                    let scans = scans.unwrap_or_else(guidelines::default_scans);
                    let truth = truth.unwrap_or_else(guidelines::default_truth);
                    guidelines::run(backend, &scans, &truth, first_page).await
                }
                Bench::All => {
                    throughput(backend, 100_000).await;
                    io(backend, 2_000).await;
                    latency(backend, 200).await;
                    pages::upload(backend, 1).await;
                    pages::ocr(backend).await;
                    decode::run(backend).await;
                    finalize::run(backend);
                    extract::run(backend).await;
                    draft::run(backend, 1_000).await;
                    pdf::run_all(backend).await;
                    let (scans, truth) = (guidelines::default_scans(), guidelines::default_truth());
                    guidelines::run(backend, &scans, &truth, 1).await;
                }
            }
        }
    });
}

/// The window (and batch) both sides of the throughput comparison use.
const WINDOW: u32 = 1024;

async fn throughput(backend: Backend, items: i64) {
    // Baseline: the same claims and batched commits, straight to the store, no actors.
    let db = BenchDb::new(backend).await;
    let store = db.store().await;
    let book = setup::book(&store).await;
    let job = NewJob {
        book_id: book,
        kind: JobKind::Synthetic,
        params: json!({}),
        items: (1..=items).collect(),
        resumed_from: None,
        held: false,
    };
    // Both sides are timed from the job's creation (its item rows included) to its end.
    let started = Instant::now();
    setup::run_in_store(&store, &job, WINDOW, |n| json!({ "item_no": n })).await;
    let bare = started.elapsed();
    drop(store);
    drop(db);

    // The whole actor path on a fresh database of the same kind.
    let db = BenchDb::new(backend).await;
    let store = db.store().await;
    let mut cfg = setup::bench_config();
    cfg.item_concurrency = WINDOW;
    cfg.commit_batch = WINDOW as usize;
    let rt = start_runtime(&store, cfg, None).await;
    let book = setup::book(&store).await;
    let job = NewJob {
        book_id: book,
        ..job
    };
    let mut events = rt.subscribe();
    let started = Instant::now();
    let submitted = rt.submit(job).await.unwrap();
    let done = wait_done(&store, &mut events, submitted.id).await;
    let actors = started.elapsed();
    assert_eq!(done.progress.completed, items as u64, "{done:?}");

    let rate = |d: Duration| items as f64 / d.as_secs_f64();
    report(
        backend,
        "throughput",
        &format!(
            "{items} no-op items: actor path {:.0} items/s, bare store loop {:.0} items/s, ratio {:.2}",
            rate(actors),
            rate(bare),
            bare.as_secs_f64() / actors.as_secs_f64()
        ),
        json!({ "items": items, "actor_items_per_s": rate(actors), "bare_items_per_s": rate(bare),
                "ratio": bare.as_secs_f64() / actors.as_secs_f64() }),
    );
}

async fn io(backend: Backend, items: i64) {
    const LATENCY_MS: u64 = 50;
    const CONCURRENCY: usize = 64;
    let db = BenchDb::new(backend).await;
    let store = db.store().await;
    let mut cfg = setup::bench_config();
    cfg.pool_concurrency = CONCURRENCY;
    // The window covers items waiting for their batch to be written, so the provider
    // always has work while outcomes are persisted.
    cfg.item_concurrency = 2 * CONCURRENCY as u32;
    let rt = start_runtime(&store, cfg, None).await;
    let book = setup::book(&store).await;
    let mut events = rt.subscribe();
    let started = Instant::now();
    let submitted = rt
        .submit(NewJob {
            book_id: book,
            kind: JobKind::Synthetic,
            params: json!({ "latency_ms": LATENCY_MS }),
            items: (1..=items).collect(),
            resumed_from: None,
            held: false,
        })
        .await
        .unwrap();
    let done = wait_done(&store, &mut events, submitted.id).await;
    let took = started.elapsed();
    assert_eq!(done.progress.completed, items as u64);
    let ideal = Duration::from_millis(LATENCY_MS) * (items as u32).div_ceil(CONCURRENCY as u32);
    let ratio = ideal.as_secs_f64() / took.as_secs_f64();
    report(
        backend,
        "io",
        &format!(
            "{items} items of {LATENCY_MS} ms at concurrency {CONCURRENCY}: {:.2} s, ideal {:.2} s, {:.1}% of ideal rate",
            took.as_secs_f64(),
            ideal.as_secs_f64(),
            ratio * 100.0
        ),
        json!({ "items": items, "seconds": took.as_secs_f64(), "ideal_seconds": ideal.as_secs_f64(), "ratio": ratio }),
    );
}

async fn latency(backend: Backend, jobs: usize) {
    let db = BenchDb::new(backend).await;
    let store = db.store().await;
    let (probe, mut starts) = setup::FirstStart::new();
    let rt = start_runtime(&store, setup::bench_config(), Some(Arc::new(probe))).await;
    let mut samples = Vec::with_capacity(jobs);
    let mut events = rt.subscribe();
    for _ in 0..jobs {
        let book = setup::book(&store).await;
        let submitted_at = Instant::now();
        let job = rt
            .submit(NewJob {
                book_id: book,
                kind: JobKind::Extract,
                params: json!({}),
                items: vec![1],
                resumed_from: None,
                held: false,
            })
            .await
            .unwrap();
        let first_start = starts.recv().await.unwrap();
        samples.push(first_start.duration_since(submitted_at));
        wait_done(&store, &mut events, job.id).await;
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    report(
        backend,
        "latency",
        &format!(
            "submit -> first item started over {jobs} jobs: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
            ms(pct(0.5)),
            ms(pct(0.9)),
            ms(pct(0.99))
        ),
        json!({ "jobs": jobs, "p50_ms": ms(pct(0.5)), "p90_ms": ms(pct(0.9)), "p99_ms": ms(pct(0.99)) }),
    );
}

pub fn report(backend: Backend, bench: &str, line: &str, figures: serde_json::Value) {
    println!(
        "{bench:<10} {:<8} {line}",
        format!("{backend:?}").to_lowercase()
    );
    eprintln!(
        "{}",
        json!({ "bench": bench, "backend": format!("{backend:?}").to_lowercase(), "figures": figures })
    );
}
