//! Image checks and Tesseract on the real pages in `../shared/data` (see its README for the
//! provenance and ground truth).

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;
use quire::ocr::{
    DecodeBudget, ImageKind, ImageProblem, OcrEngine, PixelLimit, Tesseract, normalize,
    normalize_whole, plan, sniff,
};
use quire_actors::ItemError;

use crate::common::alloc;
use crate::common::images::{png_bomb, rgba16_page, small_png, truncated_png};
use quire_actors::ErrorClass;

fn data(name: &str) -> PathBuf {
    let root = std::env::var("QUIRE_TEST_DATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data").to_owned());
    PathBuf::from(root).join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap_or_else(|e| panic!("{}: {e}", data(name).display()))
}

/// Character error rate of `got` against `truth`, whitespace runs counted as one space.
pub(crate) fn cer(got: &str, truth: &str) -> f64 {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .collect::<Vec<_>>()
    };
    let (a, b) = (norm(got), norm(truth));
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()] as f64 / b.len().max(1) as f64
}

fn tesseract_cli(name: &str) -> String {
    let out = std::process::Command::new("tesseract")
        .arg(data(name))
        .arg("stdout")
        .args(["-l", "eng"])
        .env("OMP_THREAD_LIMIT", "1")
        .output()
        .expect("tesseract (scripts/install-deps installs it)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn engine(timeout: Duration) -> Tesseract {
    Tesseract::new("tesseract", "eng", timeout, 2)
}

#[test]
fn real_scans_normalize_to_upright_grayscale_png() {
    for (name, width, height) in [
        ("phototest.tif", 640, 480),
        ("eurotext.tif", 1024, 800),
        ("linn.png", 2550, 3300),
        ("textbook/page-01.png", 0, 0),
        ("openstax-python/scans/page-01.png", 2550, 3300),
    ] {
        let bytes = read(name);
        assert!(sniff(&bytes).is_some(), "{name}");
        let page = normalize(&bytes, PixelLimit::default()).unwrap();
        if width > 0 {
            assert_eq!((page.width, page.height), (width, height), "{name}");
        }
        // Grey: 8-bit, or a grey PNG of fewer bits (a 1-bit scan) passed through as it is.
        let decoded = png::Decoder::new(std::io::Cursor::new(page.png.as_ref()))
            .read_info()
            .unwrap();
        let info = decoded.info();
        let grey = info.color_type == png::ColorType::Grayscale
            || (info.color_type == png::ColorType::Indexed
                && info
                    .palette
                    .as_deref()
                    .unwrap()
                    .chunks(3)
                    .all(|c| c[0] == c[1] && c[1] == c[2]));
        assert!(grey, "{name} is {:?}", info.color_type);
        // A grey PNG is the page as uploaded: its bits and its resolution reach Tesseract.
        if name.ends_with(".png") {
            assert_eq!(page.png.as_ref(), bytes.as_slice(), "{name} passes through");
        }
    }
    let err = normalize(&read("linn.png"), PixelLimit(1_000_000)).unwrap_err();
    assert!(err.to_string().contains("2550×3300"), "{err}");
}

/// The engine reads pages as well as the `tesseract` command does on the same image.
#[actix_rt::test]
async fn tesseract_matches_the_cli_on_real_pages() {
    let tesseract = engine(Duration::from_secs(120));
    for (image, truth) in [
        ("phototest.tif", "phototest.txt"),
        ("textbook/page-01.png", "textbook/page-01.txt"),
    ] {
        let truth = String::from_utf8(read(truth)).unwrap();
        let page = normalize(&read(image), PixelLimit::default()).unwrap();
        let ours = tesseract.recognize(&page).await.unwrap();
        let cli = tesseract_cli(image);
        let (ours_cer, cli_cer) = (cer(&ours.text, &truth), cer(&cli, &truth));
        eprintln!(
            "{image}: CER {ours_cer:.4} (tesseract CLI {cli_cer:.4}), confidence {:?}",
            ours.confidence
        );
        assert!(
            ours_cer <= cli_cer + 0.01,
            "{image}: {ours_cer} vs CLI {cli_cer}"
        );
        let confidence = ours.confidence.unwrap();
        assert!((0.5..=1.0).contains(&confidence), "{confidence}");
    }
}

#[actix_rt::test]
async fn a_page_past_its_timeout_is_stopped_and_retryable() {
    let page = normalize(&read("linn.png"), PixelLimit::default()).unwrap();
    let err = engine(Duration::from_millis(100))
        .recognize(&page)
        .await
        .unwrap_err();
    assert_eq!(
        (err.class(), err.code()),
        (ErrorClass::Retryable, "TIMEOUT")
    );
}

#[actix_rt::test]
async fn blank_pages_missing_engines_and_missing_languages_are_told_apart() {
    let mut blank = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(600, 400, image::Luma([255])))
        .write_to(
            &mut std::io::Cursor::new(&mut blank),
            image::ImageFormat::Png,
        )
        .unwrap();
    let blank = normalize(&blank, PixelLimit::default()).unwrap();
    let err = engine(Duration::from_secs(60))
        .recognize(&blank)
        .await
        .unwrap_err();
    assert_eq!(
        (err.class(), err.code()),
        (ErrorClass::Terminal, "EMPTY_TEXT")
    );

    let missing = Tesseract::new("/nonexistent/tesseract", "eng", Duration::from_secs(5), 1);
    let err = missing.recognize(&blank).await.unwrap_err();
    assert_eq!(
        (err.class(), err.code()),
        (ErrorClass::Fatal, "OCR_ENGINE_MISSING")
    );
    assert!(err.to_string().contains("ocr.tesseract_binary"), "{err}");

    // A language whose model is not installed fails the job at once, naming the setting
    // and what is installed.
    let klingon = Tesseract::new("tesseract", "eng+tlh", Duration::from_secs(60), 1);
    let err = klingon.recognize(&blank).await.unwrap_err();
    assert_eq!(
        (err.class(), err.code()),
        (ErrorClass::Fatal, "OCR_LANGUAGE_MISSING")
    );
    let said = err.to_string();
    assert!(
        said.contains("no model for tlh") && said.contains("eng") && said.contains("ocr.language"),
        "{said}"
    );
}

#[test]
fn bombs_truncations_and_impostors_are_refused() {
    let err = normalize(&png_bomb(), PixelLimit::default()).unwrap_err();
    assert!(
        matches!(
            err,
            ImageProblem::TooLarge {
                width: 100_000,
                height: 100_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(ItemError::from(err).code(), "IMAGE_TOO_LARGE");
    assert!(matches!(
        normalize(&truncated_png(), PixelLimit::default()),
        Err(ImageProblem::Corrupt(_))
    ));
    assert!(matches!(
        normalize(b"hello, I am text", PixelLimit::default()),
        Err(ImageProblem::Unsupported)
    ));
    let page = normalize(&small_png(64, 48), PixelLimit::default()).unwrap();
    assert_eq!((page.width, page.height), (64, 48));
    assert_eq!(sniff(&page.png), Some(ImageKind::Png));
}

/// The bytes a decode really allocates stay within what its plan reserves, on every route:
/// rows to grey (16-bit RGBA), grey passed through (a real scan, a 1-bit scan), the whole
/// image (TIFF); and rows take a fraction of what the whole-image path took for the same
/// PNG.
#[test]
fn a_decode_holds_no_more_than_it_reserves() {
    let _probe = alloc::PROBE.lock().unwrap_or_else(|e| e.into_inner());
    let measure = |source: &Bytes, whole: bool| {
        let base = alloc::live();
        alloc::reset_peak();
        alloc::counted(|| {
            let page = if whole {
                normalize_whole(source, PixelLimit::default())
            } else {
                plan(source, PixelLimit::default())
                    .and_then(|p| p.decode(source.clone(), PixelLimit::default()))
            };
            drop(page.unwrap());
        });
        alloc::peak_since(base)
    };
    let rgba = Bytes::from(rgba16_page(2000, 1500));
    for (name, source) in [
        ("16-bit RGBA", rgba.clone()),
        (
            "openstax scan",
            Bytes::from(read("openstax-python/scans/page-02.png")),
        ),
        ("1-bit linn.png", Bytes::from(read("linn.png"))),
        ("phototest.tif", Bytes::from(read("phototest.tif"))),
    ] {
        let cost = plan(&source, PixelLimit::default()).unwrap().cost();
        // The source is already in memory when the decode starts; the plan counts it too.
        let held = measure(&source, false);
        eprintln!("{name}: held {held} bytes, reserved {cost}");
        assert!(
            held + source.len() as u64 <= cost,
            "{name}: held {held}, reserved {cost}"
        );
    }
    let rows = measure(&rgba, false);
    let whole = measure(&rgba, true);
    eprintln!("16-bit RGBA 2000x1500: rows {rows} bytes, whole image {whole}");
    assert!(rows * 4 < whole, "rows {rows}, whole {whole}");
}

/// Eight pages decoded at once against a budget that holds fewer: what the decoding threads
/// really allocate together never passes the budget, and some decodes waited for it.
#[test]
fn concurrent_decodes_never_hold_more_than_the_budget() {
    // The probe's lock is held across the whole run, on this (non-async) thread.
    let _probe = alloc::PROBE.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(decode_eight_within_a_budget());
}

async fn decode_eight_within_a_budget() {
    let budget = Arc::new(DecodeBudget::new(40 << 20));
    let source = Bytes::from(rgba16_page(3000, 2000));
    let cost = plan(&source, PixelLimit::default()).unwrap().cost();
    assert!(8 * cost > budget.bytes() && cost < budget.bytes(), "{cost}");
    let base = alloc::live();
    alloc::reset_peak();
    let decodes: Vec<_> = (0..8)
        .map(|_| {
            let (budget, source) = (budget.clone(), source.clone());
            tokio::spawn(async move {
                let plan = plan(&source, PixelLimit::default()).unwrap();
                let held = budget.reserve(plan.cost()).await.unwrap();
                tokio::task::spawn_blocking(move || {
                    let _held = held;
                    alloc::counted(|| {
                        let page = plan.decode(source, PixelLimit::default()).unwrap();
                        (page.width, page.height)
                    })
                })
                .await
                .unwrap()
            })
        })
        .collect();
    for decode in decodes {
        assert_eq!(decode.await.unwrap(), (3000, 2000));
    }
    let held = alloc::peak_since(base);
    eprintln!(
        "8 decodes of {cost} bytes: held at most {held} bytes together, reserved at most {} of {}, {} waited",
        budget.peak(),
        budget.bytes(),
        budget.waited()
    );
    assert!(held <= budget.bytes(), "{held} > {}", budget.bytes());
    assert!(budget.peak() <= budget.bytes());
    assert!(budget.waited() >= 1, "the budget made decodes wait");
    assert_eq!(budget.in_use(), 0);
}

/// A page whose decode needs more than the node's whole budget fails terminal, naming the
/// setting, before any pixel is decoded.
#[actix_rt::test]
async fn a_page_over_the_whole_budget_fails_terminal() {
    let source = rgba16_page(4000, 3000);
    let plan = plan(&source, PixelLimit::default()).unwrap();
    let budget = DecodeBudget::new(8 << 20);
    assert!(plan.cost() > budget.bytes(), "{}", plan.cost());
    let err = budget.reserve(plan.cost()).await.err().unwrap();
    assert!(matches!(err, ImageProblem::OverBudget { .. }), "{err:?}");
    let err = ItemError::from(err);
    assert_eq!(
        (err.class(), err.code()),
        (ErrorClass::Terminal, "DECODE_BUDGET_EXCEEDED")
    );
    assert!(err.to_string().contains("ocr.decode_budget_bytes"), "{err}");
    assert_eq!(budget.in_use(), 0);
}
