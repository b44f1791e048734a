//! Hostile and small images made in the test, byte by byte.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat};

/// A PNG whose header claims 100000×100000 pixels and has no pixel data.
pub fn png_bomb() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    for chunk in [&b"IDAT"[..], &b"IEND"[..]] {
        png.extend_from_slice(&0u32.to_be_bytes());
        png.extend_from_slice(chunk);
        png.extend_from_slice(&crc32(chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid RGB PNG of that size.
pub fn small_png(width: u32, height: u32) -> Vec<u8> {
    let mut png = Vec::new();
    DynamicImage::new_rgb8(width, height)
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    png
}

/// The first half of a valid PNG.
pub fn truncated_png() -> Vec<u8> {
    let png = small_png(64, 48);
    png[..png.len() / 2].to_vec()
}

/// An opaque 16-bit RGBA page, white with black bars: small as a file, 8 bytes a pixel
/// decoded whole.
pub fn rgba16_page(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().unwrap();
    let mut rows = writer.stream_writer().unwrap();
    let white = vec![0xFFu8; width as usize * 8];
    let mut barred = white.clone();
    for px in barred.chunks_exact_mut(8).step_by(16) {
        px[..6].fill(0);
    }
    for y in 0..height {
        let row = if y % 64 < 8 { &barred } else { &white };
        std::io::Write::write_all(&mut rows, row).unwrap();
    }
    rows.finish().unwrap();
    writer.finish().unwrap();
    out
}
