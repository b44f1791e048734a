//! `guidelines`: a folder of scans through the whole chain with the embedded default
//! settings (Tesseract, the offline extractor, finalization), as `quire ingest` runs it,
//! scored against the book's truth by `quire::guidelines::score` (the tests score the
//! same way).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use quire::app::App;
use quire::config::Settings;
use quire::guidelines::score::{Truth, score};
use quire::ingest::{Stage, Watcher};
use serde_json::json;

use crate::setup::BenchDb;
use crate::{Backend, report};

/// The real book the repository's data holds: OpenStax's first 13 pages and their truth.
pub fn default_scans() -> PathBuf {
    crate::pages::data_root().join("openstax-python/scans")
}

pub fn default_truth() -> PathBuf {
    crate::pages::data_root().join("openstax-python/truth.json")
}

/// Progress is not reported: the figures are.
struct Quiet;

impl Watcher for Quiet {
    fn progress(&self, _: Stage, _: u64, _: u64, _: &str) {}
    fn finished(&self, _: Stage, _: &str) {}
}

/// `first_page`: the book's page that the folder's first image is.
pub async fn run(backend: Backend, scans: &Path, truth: &Path, first_page: i64) {
    let truth: Truth = serde_json::from_str(
        &std::fs::read_to_string(truth).unwrap_or_else(|e| panic!("{}: {e}", truth.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", truth.display()));
    let db = BenchDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let env: BTreeMap<String, String> = [
        ("QUIRE_DATABASE_URL", db.url().to_owned()),
        (
            "QUIRE_STORAGE_PATH",
            dir.path().join("objects").display().to_string(),
        ),
        ("QUIRE_RUNTIME_NODE_ID", "bench".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let app = App::start(Settings::load(None, &env).unwrap())
        .await
        .unwrap();
    let started = Instant::now();
    let done = quire::ingest::run(&app, scans, "bench", None, &Quiet)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", scans.display()));
    let took = started.elapsed();
    let (is_final, _, topics) = quire::guidelines::current(&*app.store, done.book)
        .await
        .unwrap();
    app.stop(Duration::from_secs(10)).await;
    assert!(is_final, "the guidelines were not finalized");
    // The truth's sections outside the pages scanned are not scored.
    let last_page = first_page + done.pages as i64 - 1;
    let s = score(&topics, &truth, Some(first_page..=last_page));
    for missed in &s.missed {
        eprintln!("guidelines: {missed}");
    }
    report(
        backend,
        "guidelines",
        &format!(
            "pages {first_page}\u{2013}{last_page} in {:.1} s: {s}",
            took.as_secs_f64()
        ),
        json!({
            "pages": done.pages,
            "seconds": took.as_secs_f64(),
            "section_recall": s.sections.value(),
            "section_precision": s.precision.value(),
            "objective_recall": s.objectives.value(),
            "key_term_recall": s.key_terms.value(),
            "summary_recall": s.summaries.value(),
            "examples": s.examples,
            "exercises": s.exercises,
            "score": s,
        }),
    );
}
