//! `decode`: the memory of decoding hostile-but-valid uploads. 16 PNGs of ~0.5 MB that each
//! declare 7745×7745 16-bit RGBA (60 MP, just within the pixel limit: 480 MB decoded whole,
//! plus a 240 MB RGBA copy) are bulk-uploaded over HTTP and OCRed by a real server (decoded
//! row by row to grey within `ocr.decode_budget_bytes`), then decoded again in this process
//! by the same row path, and by the whole-image path every PNG took before, one per core at
//! once as the OCR job runs them. Reported: each side's peak RSS growth, and their ratio.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use quire::ocr::{DecodeBudget, PixelLimit, normalize_whole, plan};
use serde_json::json;

use crate::pages::{memory, reset_peak, serve};
use crate::setup::BenchDb;
use crate::{Backend, report};

const SIDE: u32 = 7745;
const FILES: usize = 16;

/// An opaque 16-bit RGBA page, white with black bars, written a row at a time.
fn make_file(path: &Path) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = png::Encoder::new(file, SIDE, SIDE);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    encoder.set_compression(png::Compression::High);
    let mut rows = encoder
        .write_header()
        .unwrap()
        .into_stream_writer()
        .unwrap();
    let white = vec![0xFFu8; SIDE as usize * 8];
    let mut barred = white.clone();
    for px in barred.chunks_exact_mut(8).step_by(64) {
        px[..6].fill(0);
    }
    for y in 0..SIDE {
        let row = if y % 512 < 32 { &barred } else { &white };
        std::io::Write::write_all(&mut rows, row).unwrap();
    }
    rows.finish().unwrap();
}

/// Peak RSS growth while `files` are decoded `at_once` at a time by `decode`.
async fn decode_in_process(
    files: &[Bytes],
    at_once: usize,
    decode: impl Fn(Bytes) + Send + Sync + 'static,
) -> u64 {
    let decode = Arc::new(decode);
    let slots = Arc::new(tokio::sync::Semaphore::new(at_once));
    reset_peak();
    let (base, _) = memory();
    let runs: Vec<_> = files
        .iter()
        .cloned()
        .map(|bytes| {
            let (decode, slots) = (decode.clone(), slots.clone());
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await.unwrap();
                tokio::task::spawn_blocking(move || decode(bytes))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for run in runs {
        run.await.unwrap();
    }
    memory().1.saturating_sub(base)
}

pub async fn run(backend: Backend) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let scratch = tempfile::tempdir().unwrap();
    let one = scratch.path().join("page.png");
    make_file(&one);
    let size = std::fs::metadata(&one).unwrap().len();
    let paths: Vec<PathBuf> = (0..FILES)
        .map(|i| {
            let p = scratch.path().join(format!("page-{i:02}.png"));
            std::fs::copy(&one, &p).unwrap();
            p
        })
        .collect();
    let bytes: Vec<Bytes> = paths
        .iter()
        .map(|p| Bytes::from(std::fs::read(p).unwrap()))
        .collect();
    let mb = |b: u64| b as f64 / f64::from(1 << 20);

    // The new path through a real server: upload, then OCR (decoded within the budget;
    // Tesseract, a separate process, finds the pages blank).
    let db = BenchDb::new(backend).await;
    let server = serve(&db, &[]).await;
    let book = server.book().await;
    reset_peak();
    let (base, _) = memory();
    let job = server.upload(book, &paths).await;
    let done = server.wait_ended(job).await;
    let served = memory().1.saturating_sub(base);
    let items = server.app.store.items(job, None, None, 100).await.unwrap();
    let decoded = items
        .iter()
        .filter(|i| i.result.is_some() || i.error_code.as_deref() == Some("EMPTY_TEXT"))
        .count();
    assert_eq!(decoded, FILES, "every page decoded: {done:?} {items:?}");

    // The same decodes in this process: rows within a budget, then the whole-image path.
    let budget = Arc::new(DecodeBudget::new(512 << 20));
    let rows = decode_in_process(&bytes, cores, {
        let budget = budget.clone();
        move |bytes| {
            let plan = plan(&bytes, PixelLimit::default()).unwrap();
            let held = futures_util::FutureExt::now_or_never(budget.reserve(plan.cost()));
            let _held = held.expect("one decode per core fits").unwrap();
            plan.decode(bytes, PixelLimit::default()).unwrap();
        }
    })
    .await;
    let whole = decode_in_process(&bytes, cores, |bytes| {
        normalize_whole(&bytes, PixelLimit::default()).unwrap();
    })
    .await;
    let ratio = served as f64 / whole as f64;
    report(
        backend,
        "decode",
        &format!(
            "{FILES} PNGs of {:.2} MB declaring {SIDE}x{SIDE} 16-bit RGBA, {cores} at once: peak RSS growth \
             uploaded and OCRed {:.0} MB, row decode alone {:.0} MB, whole-image decode {:.0} MB; \
             ratio {ratio:.3} ({:.3} decode alone)",
            size as f64 / 1e6,
            mb(served),
            mb(rows),
            mb(whole),
            rows as f64 / whole as f64,
        ),
        json!({ "files": FILES, "file_bytes": size, "at_once": cores,
                "served_peak_growth_mb": mb(served), "rows_peak_growth_mb": mb(rows),
                "whole_peak_growth_mb": mb(whole), "ratio": ratio,
                "decode_only_ratio": rows as f64 / whole as f64 }),
    );
}
