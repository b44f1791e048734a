//! Uploaded images: what they are (by their bytes, never their name), and their
//! normalization for OCR (decode, EXIF orientation, grayscale, PNG) within a pixel budget.

use std::io::Cursor;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use quire_actors::ItemError;

/// The image types an upload may carry, told apart by their magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Tiff,
    WebP,
}

impl ImageKind {
    /// The media type the API serves the image as and the database records.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Tiff => "image/tiff",
            Self::WebP => "image/webp",
        }
    }

    pub fn from_mime(mime: &str) -> Option<Self> {
        [Self::Png, Self::Jpeg, Self::Tiff, Self::WebP]
            .into_iter()
            .find(|k| k.mime() == mime)
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Tiff => ImageFormat::Tiff,
            Self::WebP => ImageFormat::WebP,
        }
    }
}

/// The type of an image by its first bytes; `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<ImageKind> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(ImageKind::Png),
        [0xFF, 0xD8, 0xFF, ..] => Some(ImageKind::Jpeg),
        [b'I', b'I', 0x2A, 0x00, ..] | [b'M', b'M', 0x00, 0x2A, ..] => Some(ImageKind::Tiff),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some(ImageKind::WebP),
        _ => None,
    }
}

/// The most pixels a page may have: a guard against decompression bombs.
#[derive(Clone, Copy, Debug)]
pub struct PixelLimit(pub u64);

impl Default for PixelLimit {
    /// 60 megapixels: an A3 page at 600 dpi fits, a 30-inch square at 300 dpi does not.
    fn default() -> Self {
        Self(60_000_000)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageProblem {
    #[error("not a PNG, JPEG, TIFF or WebP image")]
    Unsupported,
    #[error("the image is {width}×{height} pixels, more than the {limit} allowed")]
    TooLarge { width: u32, height: u32, limit: u64 },
    #[error("the image is corrupt or truncated: {0}")]
    Corrupt(String),
}

impl From<ImageProblem> for ItemError {
    fn from(p: ImageProblem) -> Self {
        let code = match p {
            ImageProblem::Unsupported => "UNSUPPORTED_IMAGE",
            ImageProblem::TooLarge { .. } => "IMAGE_TOO_LARGE",
            ImageProblem::Corrupt(_) => "CORRUPT_IMAGE",
        };
        ItemError::terminal(code, p.to_string())
    }
}

/// A page ready for OCR: upright, grayscale, as PNG.
#[derive(Clone, Debug)]
pub struct NormalizedPage {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Decodes, turns upright by its EXIF orientation, converts to grayscale and encodes as
/// PNG. The size is checked from the header, before any pixel is decoded.
pub fn normalize(bytes: &[u8], limit: PixelLimit) -> Result<NormalizedPage, ImageProblem> {
    let kind = sniff(bytes).ok_or(ImageProblem::Unsupported)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    let mut limits = image::Limits::default();
    // Bounds the decoders' own allocations; the pixel buffer is checked below.
    limits.max_alloc = Some(limit.0.saturating_mul(8).max(64 << 20));
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder().map_err(|e| problem(e, 0, 0, limit))?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limit.0 {
        return Err(ImageProblem::TooLarge {
            width,
            height,
            limit: limit.0,
        });
    }
    // The decoded buffer counts against the same budget (16-bit RGBA is 8 bytes a pixel).
    limits
        .reserve(decoder.total_bytes())
        .map_err(|e| problem(e, width, height, limit))?;
    let orientation = decoder
        .orientation()
        .map_err(|e| problem(e, width, height, limit))?;
    let image =
        DynamicImage::from_decoder(decoder).map_err(|e| problem(e, width, height, limit))?;
    // Gray first (a quarter of the memory), then upright.
    let mut upright = DynamicImage::ImageLuma8(on_white(image));
    upright.apply_orientation(orientation);
    let gray = upright.into_luma8();
    // Fast compression: the default spends more CPU on a 300 dpi page than the bytes it
    // saves are worth, on a machine whose cores run Tesseract (quire-bench ocr).
    let mut png = Vec::new();
    let encoder = PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Sub);
    gray.write_with_encoder(encoder)
        .map_err(|e| ImageProblem::Corrupt(e.to_string()))?;
    Ok(NormalizedPage {
        png,
        width: gray.width(),
        height: gray.height(),
    })
}

fn problem(e: image::ImageError, width: u32, height: u32, limit: PixelLimit) -> ImageProblem {
    match e {
        image::ImageError::Limits(_) => ImageProblem::TooLarge {
            width,
            height,
            limit: limit.0,
        },
        e => ImageProblem::Corrupt(e.to_string()),
    }
}

/// Grayscale with transparency laid on white paper: transparent pixels often hide black.
fn on_white(image: DynamicImage) -> image::GrayImage {
    if !image.color().has_alpha() {
        return image.into_luma8();
    }
    let rgba = image.into_rgba8();
    image::GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let luma = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000;
        let alpha = u32::from(a);
        image::Luma([((luma * alpha + 255 * (255 - alpha)) / 255) as u8])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_magic_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageKind::Png));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0"), Some(ImageKind::Jpeg));
        assert_eq!(sniff(b"II*\0"), Some(ImageKind::Tiff));
        assert_eq!(sniff(b"MM\0*"), Some(ImageKind::Tiff));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageKind::WebP));
        assert_eq!(sniff(b"root:x:0:0:root:/root:/bin/bash"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn transparency_becomes_white_paper() {
        // Black under full transparency, and one opaque black pixel of text.
        let mut img = image::RgbaImage::from_pixel(4, 4, image::Rgba([0, 0, 0, 0]));
        img.put_pixel(1, 1, image::Rgba([0, 0, 0, 255]));
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let page = normalize(&png, PixelLimit::default()).unwrap();
        let gray = image::load_from_memory(&page.png).unwrap().into_luma8();
        assert_eq!(gray.get_pixel(0, 0).0, [255]);
        assert_eq!(gray.get_pixel(1, 1).0, [0]);
    }
}
