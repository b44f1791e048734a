//! Image checks and Tesseract on the real pages in `../shared/data` (see its README for the
//! provenance and ground truth).

use std::path::PathBuf;
use std::time::Duration;

use quire::ocr::{ImageKind, ImageProblem, OcrEngine, PixelLimit, Tesseract, normalize, sniff};
use quire_actors::ItemError;

use crate::common::images::{png_bomb, small_png, truncated_png};
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
    ] {
        let bytes = read(name);
        assert!(sniff(&bytes).is_some(), "{name}");
        let page = normalize(&bytes, PixelLimit::default()).unwrap();
        if width > 0 {
            assert_eq!((page.width, page.height), (width, height), "{name}");
        }
        let decoded = image::load_from_memory(&page.png).unwrap();
        assert_eq!(decoded.color(), image::ColorType::L8, "{name} is grayscale");
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
