//! `finalize`: merging draft subtopics into final guidelines, at 500 and at 5,000 draft
//! subtopics. The time per subtopic at the larger size against the smaller one shows
//! whether the pass grows faster than linearly (quadratic would be ~10×).

use std::time::{Duration, Instant};

use quire::guidelines::{Content, Subtopic, Topic, finalize};
use serde_json::json;

use crate::{Backend, report};

/// A draft like a long book's: 50 chapters, each printed atop many pages (so repeated),
/// subtopics named with a few recurring words, a third of them repeats of earlier ones.
fn draft(subtopics: usize) -> Vec<Topic> {
    let words = [
        "fractions",
        "decimals",
        "ratios",
        "angles",
        "areas",
        "volumes",
        "graphs",
        "equations",
        "patterns",
        "measures",
        "percent",
        "integers",
        "factors",
        "multiples",
        "primes",
    ];
    (0..subtopics)
        .map(|i| {
            let chapter = i % 50;
            let n = if i % 3 == 0 { i / 3 } else { i };
            let name = format!(
                "{} {} {} part {n}",
                words[n % words.len()],
                words[(n / 7) % words.len()],
                words[(n / 11) % words.len()]
            );
            Topic {
                name: format!("Chapter {chapter}: {}", words[chapter % words.len()]),
                subtopics: vec![Subtopic {
                    name,
                    content: Content {
                        examples: vec![format!("example {n}")],
                        ..Content::default()
                    },
                    pages: vec![i as i64 / 10 + 1],
                }],
                pages: vec![i as i64 / 10 + 1],
                key_points: Vec::new(),
            }
        })
        .collect()
}

fn time(subtopics: usize) -> (Duration, usize) {
    let input = draft(subtopics);
    let started = Instant::now();
    let done = finalize(input);
    let took = started.elapsed();
    (took, done.iter().map(|t| t.subtopics.len()).sum())
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn run(backend: Backend) {
    let best = |n: usize| (0..5).map(|_| time(n)).min_by_key(|(d, _)| *d).unwrap();
    let (small, _) = best(500);
    let before = peak_rss_mb();
    let (large, kept) = best(5_000);
    let per = |d: Duration, n: usize| d.as_secs_f64() * 1e6 / n as f64;
    let growth = per(large, 5_000) / per(small, 500);
    report(
        backend,
        "finalize",
        &format!(
            "5,000 draft subtopics in {:.1} ms ({kept} kept), 500 in {:.2} ms; time per subtopic grows {growth:.2}x \
             from 500 to 5,000 (linear: 1x, quadratic: 10x); peak RSS {:.0} MB ({:.0} MB before)",
            large.as_secs_f64() * 1000.0,
            small.as_secs_f64() * 1000.0,
            peak_rss_mb(),
            before
        ),
        json!({ "ms_5000": large.as_secs_f64() * 1000.0, "ms_500": small.as_secs_f64() * 1000.0,
                "per_subtopic_growth": growth, "kept": kept, "peak_rss_mb": peak_rss_mb() }),
    );
}
