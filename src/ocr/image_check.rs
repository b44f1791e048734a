//! Uploaded images: what they are (by their bytes, never their name), and their
//! normalization for OCR (decode, EXIF orientation, grayscale, PNG) within a pixel limit,
//! planned from the header so that the memory it takes is known before it starts.

use std::io::Cursor;

use bytes::Bytes;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use quire_actors::ItemError;

use super::png_rows::PngPlan;

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
    #[error(
        "decoding the image needs {} MiB, more than this node's whole decode budget of {} MiB \
         (`ocr.decode_budget_bytes`, env QUIRE_OCR_DECODE_BUDGET_BYTES)",
        needed.div_ceil(1 << 20),
        budget >> 20
    )]
    OverBudget { needed: u64, budget: u64 },
}

impl From<ImageProblem> for ItemError {
    fn from(p: ImageProblem) -> Self {
        let code = match p {
            ImageProblem::Unsupported => "UNSUPPORTED_IMAGE",
            ImageProblem::TooLarge { .. } => "IMAGE_TOO_LARGE",
            ImageProblem::Corrupt(_) => "CORRUPT_IMAGE",
            ImageProblem::OverBudget { .. } => "DECODE_BUDGET_EXCEEDED",
        };
        ItemError::terminal(code, p.to_string())
    }
}

/// A page ready for OCR: upright, grey (8-bit, or a grey PNG of at most 8 bits passed
/// through as uploaded), as PNG.
#[derive(Clone, Debug)]
pub struct NormalizedPage {
    pub png: Bytes,
    pub width: u32,
    pub height: u32,
}

/// How a page will be decoded, and what that holds in memory, known from its header alone.
#[derive(Clone, Debug)]
pub struct DecodePlan {
    route: Route,
    width: u32,
    height: u32,
    /// Bytes held while decoding, the source included.
    cost: u64,
}

#[derive(Clone, Debug)]
enum Route {
    /// Row by row to grey (or passed through): PNG.
    Rows(PngPlan),
    /// The whole image in its own format first, then grey: the other formats.
    Whole(ImageKind),
}

/// Reads the header: the type, the size (checked against `limit` before any pixel is
/// decoded) and the memory decoding will take.
pub fn plan(bytes: &[u8], limit: PixelLimit) -> Result<DecodePlan, ImageProblem> {
    let kind = sniff(bytes).ok_or(ImageProblem::Unsupported)?;
    let source = bytes.len() as u64;
    let check = |width: u32, height: u32| {
        if u64::from(width) * u64::from(height) > limit.0 {
            return Err(ImageProblem::TooLarge {
                width,
                height,
                limit: limit.0,
            });
        }
        Ok(())
    };
    if kind == ImageKind::Png {
        let png = PngPlan::read(bytes)?;
        check(png.width, png.height)?;
        return Ok(DecodePlan {
            width: png.width,
            height: png.height,
            cost: source + png.working_bytes(),
            route: Route::Rows(png),
        });
    }
    let decoder = whole_decoder(bytes, kind, limit)?;
    let (width, height) = decoder.dimensions();
    check(width, height)?;
    let pixels = u64::from(width) * u64::from(height);
    let color = decoder.color_type();
    // The decoded buffer; as much again for the decoder's own (a progressive JPEG keeps
    // 16-bit coefficients); the RGBA copy of a transparent image and the grey one; a
    // turned copy; the encoder's compressed buffer, growing by doubling, and its output.
    let decoded = decoder.total_bytes();
    let rgba = if color.has_alpha() && color != image::ColorType::Rgba8 {
        4 * pixels
    } else {
        0
    };
    let grey = if color == image::ColorType::L8 {
        0
    } else {
        pixels
    };
    let encoded = 3 * (pixels + u64::from(height) + pixels / 1000 + (1 << 16));
    Ok(DecodePlan {
        route: Route::Whole(kind),
        width,
        height,
        cost: source + 3 * decoded + rgba + grey + pixels + encoded + (4 << 20),
    })
}

impl DecodePlan {
    /// Bytes decoding holds at most, the source included (what it reserves of the budget).
    pub fn cost(&self) -> u64 {
        self.cost
    }

    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Whether the page goes to the engine as uploaded (a grey, upright PNG).
    pub fn passes_through(&self) -> bool {
        matches!(&self.route, Route::Rows(png) if png.pass_through)
    }

    /// Decodes `source` (the bytes this plan was made from) into the page OCR reads.
    pub fn decode(&self, source: Bytes, limit: PixelLimit) -> Result<NormalizedPage, ImageProblem> {
        match &self.route {
            Route::Rows(png) => png.decode(source),
            Route::Whole(kind) => whole(&source, *kind, limit),
        }
    }
}

/// Decodes, turns upright by its EXIF orientation, converts to grayscale and encodes as
/// PNG (a grey PNG may pass through as it is), without a memory budget: for tools and
/// tests. The OCR job reserves [`DecodePlan::cost`] of its [`super::DecodeBudget`] first.
pub fn normalize(bytes: &[u8], limit: PixelLimit) -> Result<NormalizedPage, ImageProblem> {
    plan(bytes, limit)?.decode(Bytes::copy_from_slice(bytes), limit)
}

/// The whole-image path for any format: decoded whole in its own format (16-bit RGBA is 8
/// bytes a pixel), then grey. What every format took before PNG was decoded row by row;
/// `quire-bench decode` compares the two.
pub fn normalize_whole(bytes: &[u8], limit: PixelLimit) -> Result<NormalizedPage, ImageProblem> {
    let kind = sniff(bytes).ok_or(ImageProblem::Unsupported)?;
    whole(bytes, kind, limit)
}

fn whole_decoder(
    bytes: &[u8],
    kind: ImageKind,
    limit: PixelLimit,
) -> Result<impl ImageDecoder + '_, ImageProblem> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    let mut limits = image::Limits::default();
    // Bounds the decoders' own allocations; the pixel buffer is checked by the caller.
    limits.max_alloc = Some(limit.0.saturating_mul(8).max(64 << 20));
    reader.limits(limits);
    reader.into_decoder().map_err(|e| problem(e, 0, 0, limit))
}

fn whole(bytes: &[u8], kind: ImageKind, limit: PixelLimit) -> Result<NormalizedPage, ImageProblem> {
    let mut decoder = whole_decoder(bytes, kind, limit)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limit.0 {
        return Err(ImageProblem::TooLarge {
            width,
            height,
            limit: limit.0,
        });
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(limit.0.saturating_mul(8).max(64 << 20));
    // The decoded buffer counts against the same bound (16-bit RGBA is 8 bytes a pixel).
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
        png: Bytes::from(png),
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
