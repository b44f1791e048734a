//! PNG decoded row by row straight to 8-bit grey, and encoded again as it goes: no image in
//! the source's own format is ever whole in memory (a 60 MP 16-bit RGBA page would be
//! 480 MB, and its RGBA copy 240 MB more), only a few of its rows.
//!
//! A page that already is what Tesseract reads best (grey or a grey palette, at most 8 bits,
//! no transparency, upright) passes through as uploaded: its rows are decoded to check it,
//! and its bytes, its bit depth (a 1-bit scan stays 1-bit: Tesseract skips thresholding) and
//! its resolution are kept.

use std::cell::{Cell, RefCell};
use std::io::{Cursor, Write};
use std::rc::Rc;

use bytes::Bytes;
use image::metadata::Orientation;
use png::{BitDepth, ColorType, Transformations};

use super::image_check::{ImageProblem, NormalizedPage};

/// Rows decoded per IDAT chunk written back.
const CHUNK_BYTES: usize = 1 << 20;
/// The decoder's and encoder's fixed state (inflate and deflate tables, chunk buffers).
const FIXED_BYTES: u64 = 3 << 20;

/// What a PNG's header says about how it will be decoded.
#[derive(Clone, Debug)]
pub(super) struct PngPlan {
    pub width: u32,
    pub height: u32,
    /// Grey or a grey palette, ≤ 8 bits, opaque, upright: the source is the page.
    pub pass_through: bool,
    orientation: Orientation,
    interlaced: bool,
    /// Bytes of one row as stored (before unfiltering), the filter byte included.
    raw_row: u64,
    pixel_dims: Option<png::PixelDimensions>,
}

fn corrupt(e: png::DecodingError) -> ImageProblem {
    ImageProblem::Corrupt(e.to_string())
}

fn decoder(bytes: &[u8]) -> png::Decoder<Cursor<&[u8]>> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    decoder
}

impl PngPlan {
    /// Reads the header and the chunks before the pixels; no pixel is decoded.
    pub fn read(bytes: &[u8]) -> Result<Self, ImageProblem> {
        let mut decoder = decoder(bytes);
        let info = decoder.read_header_info().map_err(corrupt)?;
        let (width, height) = (info.width, info.height);
        let raw_row = 1 + (u64::from(width) * info.bits_per_pixel() as u64).div_ceil(8);
        let reader = decoder.read_info().map_err(corrupt)?;
        let info = reader.info();
        let orientation = info
            .exif_metadata
            .as_deref()
            .and_then(Orientation::from_exif_chunk)
            .unwrap_or(Orientation::NoTransforms);
        let grey_palette = || {
            info.palette
                .as_deref()
                .is_some_and(|p| p.chunks(3).all(|c| c[0] == c[1] && c[1] == c[2]))
        };
        let grey = match info.color_type {
            ColorType::Grayscale => info.bit_depth != BitDepth::Sixteen,
            ColorType::Indexed => grey_palette(),
            _ => false,
        };
        Ok(Self {
            width,
            height,
            pass_through: grey && info.trns.is_none() && orientation == Orientation::NoTransforms,
            orientation,
            interlaced: info.interlaced,
            raw_row,
            pixel_dims: info.pixel_dims,
        })
    }

    /// Pixels of the page once grey.
    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The most bytes a stored-only PNG of the grey page takes (what `Fast` falls back to).
    fn output_bound(&self) -> u64 {
        let filtered = (u64::from(self.width) + 1) * u64::from(self.height);
        // Deflate's stored blocks (5 bytes each 65535), zlib's 6, the IDAT chunks' 12 each,
        // and the header chunks.
        filtered + 5 * (filtered / 65_535 + 1) + 6 + 12 * (filtered / CHUNK_BYTES as u64 + 2) + 1024
    }

    /// Bytes held while decoding, beyond the source: the decoder's and the converter's
    /// rows, a whole grey page where rows arrive out of order (interlaced) or must turn
    /// (EXIF orientation), and the output, at most `output_bound`.
    pub fn working_bytes(&self) -> u64 {
        // The decoder keeps a window of raw rows (about 4, rounded to a power of two, at
        // least 128 KiB) and its output row; the converter a grey row; the encoder three.
        let rows = 12 * self.raw_row + 4 * u64::from(self.width);
        if self.pass_through {
            return FIXED_BYTES + rows;
        }
        let whole = self.interlaced || self.orientation != Orientation::NoTransforms;
        let turned = self.orientation != Orientation::NoTransforms;
        FIXED_BYTES
            + rows
            + u64::from(whole) * self.pixels()
            + u64::from(turned) * self.pixels()
            + self.output_bound()
    }

    pub fn decode(&self, source: Bytes) -> Result<NormalizedPage, ImageProblem> {
        if self.pass_through {
            self.check_rows(&source)?;
            return Ok(NormalizedPage {
                png: source,
                width: self.width,
                height: self.height,
            });
        }
        let png = match self.grey(&source, png::Compression::Fast) {
            Err(Encoded::OverBound) => self.grey(&source, png::Compression::NoCompression),
            other => other,
        }
        .map_err(|e| match e {
            Encoded::Problem(p) => p,
            Encoded::OverBound => ImageProblem::Corrupt("stored PNG over its bound".into()),
        })?;
        let (width, height) = match self.orientation {
            Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH => (self.height, self.width),
            _ => (self.width, self.height),
        };
        Ok(NormalizedPage {
            png: Bytes::from(png),
            width,
            height,
        })
    }

    /// Decodes every row (a truncated or corrupt page fails here, not in the engine).
    fn check_rows(&self, source: &[u8]) -> Result<(), ImageProblem> {
        let mut decoder = decoder(source);
        decoder.set_transformations(Transformations::IDENTITY);
        let mut reader = decoder.read_info().map_err(corrupt)?;
        while reader.next_row().map_err(corrupt)?.is_some() {}
        Ok(())
    }

    /// The page as 8-bit grey PNG, transparency laid on white paper, upright.
    fn grey(&self, source: &[u8], compression: png::Compression) -> Result<Vec<u8>, Encoded> {
        let out = Capped::new(self.output_bound() as usize);
        let written = self.encode_grey(source, compression, &out);
        if out.over.get() {
            return Err(Encoded::OverBound);
        }
        written?;
        out.page()
    }

    fn encode_grey(
        &self,
        source: &[u8],
        compression: png::Compression,
        out: &Capped,
    ) -> Result<(), Encoded> {
        let mut decoder = decoder(source);
        decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
        let mut reader = decoder.read_info().map_err(corrupt)?;
        let (color, _) = reader.output_color_type();
        let (w, h) = (self.width as usize, self.height as usize);
        let mut line = vec![0u8; w];
        if !self.interlaced && self.orientation == Orientation::NoTransforms {
            let mut rows = Rows::start(
                out.clone(),
                self.width,
                self.height,
                self.pixel_dims,
                compression,
            )?;
            while let Some(row) = reader.next_row().map_err(corrupt)? {
                to_grey(color, row.data(), &mut line);
                rows.write(&line)?;
            }
            return rows.finish();
        }
        // Rows out of order, or a page to turn: a whole grey page first.
        let mut page = vec![0u8; w * h];
        let mut y = 0;
        while let Some(row) = reader.next_interlaced_row().map_err(corrupt)? {
            let n = row.data().len() / color.samples();
            to_grey(color, row.data(), &mut line[..n]);
            match row.interlace() {
                png::InterlaceInfo::Adam7(info) => {
                    png::expand_interlaced_row(&mut page, w, &line[..n], info, 8)
                }
                png::InterlaceInfo::Null(_) => {
                    page[y * w..(y + 1) * w].copy_from_slice(&line[..w]);
                    y += 1;
                }
            }
        }
        drop(line);
        let mut page = image::DynamicImage::ImageLuma8(
            image::GrayImage::from_raw(self.width, self.height, page)
                .expect("a buffer of width × height"),
        );
        page.apply_orientation(self.orientation);
        let page = page.into_luma8();
        let mut rows = Rows::start(
            out.clone(),
            page.width(),
            page.height(),
            self.pixel_dims,
            compression,
        )?;
        for row in page.chunks_exact(page.width() as usize) {
            rows.write(row)?;
        }
        rows.finish()
    }
}

/// One decoded row (8-bit, after `EXPAND | STRIP_16`) as grey, on white where it has alpha.
/// Luma is Rec. 709's, as `image` computes it for the other formats.
fn to_grey(color: ColorType, row: &[u8], grey: &mut [u8]) {
    let luma = |r: u8, g: u8, b: u8| {
        ((2126 * u32::from(r) + 7152 * u32::from(g) + 722 * u32::from(b) + 5000) / 10_000) as u8
    };
    let on_white = |l: u8, a: u8| {
        let (l, a) = (u32::from(l), u32::from(a));
        ((l * a + 255 * (255 - a)) / 255) as u8
    };
    match color {
        ColorType::Grayscale => grey.copy_from_slice(row),
        ColorType::GrayscaleAlpha => {
            for (g, p) in grey.iter_mut().zip(row.chunks_exact(2)) {
                *g = on_white(p[0], p[1]);
            }
        }
        ColorType::Rgb => {
            for (g, p) in grey.iter_mut().zip(row.chunks_exact(3)) {
                *g = luma(p[0], p[1], p[2]);
            }
        }
        ColorType::Rgba => {
            for (g, p) in grey.iter_mut().zip(row.chunks_exact(4)) {
                *g = on_white(luma(p[0], p[1], p[2]), p[3]);
            }
        }
        // `EXPAND` leaves no palette.
        ColorType::Indexed => unreachable!("palette rows are expanded"),
    }
}

enum Encoded {
    Problem(ImageProblem),
    /// The compressed page grew past a stored one's size: encode it stored instead.
    OverBound,
}

impl From<ImageProblem> for Encoded {
    fn from(p: ImageProblem) -> Self {
        Self::Problem(p)
    }
}

/// An output that refuses to grow past its bound (and so never reallocates). Shared, so
/// that the encoder can own it and the page be taken out once the encoder is done.
#[derive(Clone)]
struct Capped {
    buf: Rc<RefCell<Vec<u8>>>,
    /// A write was refused: whatever the encoder made of it, the page is not whole.
    over: Rc<Cell<bool>>,
}

impl Capped {
    fn new(bound: usize) -> Self {
        Self {
            buf: Rc::new(RefCell::new(Vec::with_capacity(bound))),
            over: Rc::default(),
        }
    }

    /// The page written; call once every encoder writing to it is dropped.
    fn page(self) -> Result<Vec<u8>, Encoded> {
        if self.over.get() {
            return Err(Encoded::OverBound);
        }
        let mut buf = self.buf.take();
        buf.shrink_to_fit();
        Ok(buf)
    }
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut buf = self.buf.borrow_mut();
        if buf.len() + data.len() > buf.capacity() {
            self.over.set(true);
            return Err(std::io::Error::other(OVER_BOUND));
        }
        buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const OVER_BOUND: &str = "output over its bound";

/// A grey 8-bit PNG written a row at a time, with the source's resolution.
struct Rows {
    writer: png::StreamWriter<'static, Capped>,
}

fn encoding(e: png::EncodingError) -> Encoded {
    match &e {
        png::EncodingError::IoError(io) if io.to_string() == OVER_BOUND => Encoded::OverBound,
        _ => Encoded::Problem(ImageProblem::Corrupt(e.to_string())),
    }
}

impl Rows {
    fn start(
        out: Capped,
        width: u32,
        height: u32,
        pixel_dims: Option<png::PixelDimensions>,
        compression: png::Compression,
    ) -> Result<Self, Encoded> {
        let mut encoder = png::Encoder::new(out, width, height);
        encoder.set_color(ColorType::Grayscale);
        encoder.set_depth(BitDepth::Eight);
        // Fast compression: the default spends more CPU on a 300 dpi page than the bytes it
        // saves are worth, on a machine whose cores run Tesseract (quire-bench ocr).
        encoder.set_compression(compression);
        encoder.set_filter(png::Filter::Sub);
        encoder.set_pixel_dims(pixel_dims);
        let writer = encoder.write_header().map_err(encoding)?;
        let writer = writer
            .into_stream_writer_with_size(CHUNK_BYTES)
            .map_err(encoding)?;
        Ok(Self { writer })
    }

    fn write(&mut self, row: &[u8]) -> Result<(), Encoded> {
        self.writer.write_all(row).map_err(|e| {
            if e.to_string() == OVER_BOUND {
                Encoded::OverBound
            } else {
                Encoded::Problem(ImageProblem::Corrupt(e.to_string()))
            }
        })
    }

    fn finish(self) -> Result<(), Encoded> {
        self.writer.finish().map_err(encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::{PixelLimit, normalize, normalize_whole, plan};

    /// A PNG of `pixels` (samples as `color` and `depth` lay them out), with chunks
    /// written before its pixels.
    fn png(
        (w, h): (u32, u32),
        color: ColorType,
        depth: BitDepth,
        pixels: &[u8],
        before: &[(&[u8; 4], &[u8])],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if color == ColorType::Indexed {
            encoder.set_palette(vec![0, 0, 0, 255, 255, 255]);
        }
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 11_811,
            yppu: 11_811,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder.write_header().unwrap();
        for (name, data) in before {
            writer
                .write_chunk(png::chunk::ChunkType(**name), data)
                .unwrap();
        }
        writer.write_image_data(pixels).unwrap();
        writer.finish().unwrap();
        out
    }

    fn grey_of(page: &NormalizedPage) -> image::GrayImage {
        image::load_from_memory(&page.png).unwrap().into_luma8()
    }

    #[test]
    fn grey_and_one_bit_pages_pass_through_with_their_resolution() {
        // 1-bit grey and a 1-bit black-and-white palette (as scanners write them), 8-bit grey.
        for (color, depth, pixels) in [
            (ColorType::Grayscale, BitDepth::One, vec![0b1010_0000u8; 4]),
            (ColorType::Indexed, BitDepth::One, vec![0b0101_0000u8; 4]),
            (ColorType::Grayscale, BitDepth::Eight, vec![7u8; 16]),
        ] {
            let source = png((4, 4), color, depth, &pixels, &[]);
            let planned = plan(&source, PixelLimit::default()).unwrap();
            assert!(planned.passes_through(), "{color:?} {depth:?}");
            let page = normalize(&source, PixelLimit::default()).unwrap();
            assert_eq!(page.png.as_ref(), source.as_slice(), "{color:?} {depth:?}");
        }
        // A truncated grey page is still refused before the engine sees it.
        let source = png(
            (64, 64),
            ColorType::Grayscale,
            BitDepth::Eight,
            &[9u8; 4096],
            &[],
        );
        let cut = &source[..source.len() - 40];
        assert!(matches!(
            normalize(cut, PixelLimit::default()),
            Err(ImageProblem::Corrupt(_))
        ));
    }

    #[test]
    fn sixteen_bit_rgba_becomes_the_same_grey_as_the_whole_image_path() {
        // Grey levels (so both luma formulas agree) under every kind of alpha, 16-bit.
        let (w, h) = (37u32, 23u32);
        let mut pixels = Vec::new();
        for i in 0..w * h {
            let level = (i * 7 % 256) as u16 * 257;
            let alpha = [0u16, 65535, 32896, (i % 256) as u16 * 257][(i % 4) as usize];
            for sample in [level, level, level, alpha] {
                pixels.extend_from_slice(&sample.to_be_bytes());
            }
        }
        let source = png((w, h), ColorType::Rgba, BitDepth::Sixteen, &pixels, &[]);
        let planned = plan(&source, PixelLimit::default()).unwrap();
        assert!(!planned.passes_through());
        let rows = normalize(&source, PixelLimit::default()).unwrap();
        let whole = normalize_whole(&source, PixelLimit::default()).unwrap();
        assert_eq!(grey_of(&rows), grey_of(&whole));
        // Grey 8-bit, and the resolution is kept.
        let decoded = png::Decoder::new(Cursor::new(rows.png.as_ref()))
            .read_info()
            .unwrap();
        assert_eq!(decoded.info().color_type, ColorType::Grayscale);
        assert_eq!(decoded.info().pixel_dims.map(|d| d.xppu), Some(11_811));
    }

    #[test]
    fn an_exif_orientation_turns_the_page_upright() {
        // 3×2 RGB, top row black, EXIF orientation 6 ("rotate 90° clockwise to view").
        let mut pixels = vec![0u8; 9];
        pixels.extend([255u8; 9]);
        let exif = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
        let source = png(
            (3, 2),
            ColorType::Rgb,
            BitDepth::Eight,
            &pixels,
            &[(b"eXIf", exif)],
        );
        let page = normalize(&source, PixelLimit::default()).unwrap();
        assert_eq!((page.width, page.height), (2, 3));
        let grey = grey_of(&page);
        assert_eq!((grey.width(), grey.height()), (2, 3));
        // The black top row is now the right-hand column.
        assert_eq!(grey.get_pixel(1, 0).0, [0]);
        assert_eq!(grey.get_pixel(0, 0).0, [255]);
    }

    #[test]
    fn a_page_that_does_not_compress_is_stored_within_its_bound() {
        // Noise: the fast encoder's output would outgrow a stored PNG.
        let (w, h) = (300u32, 200u32);
        let mut x: u32 = 0x1234_5678;
        let pixels: Vec<u8> = (0..w * h * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let source = png((w, h), ColorType::Rgb, BitDepth::Eight, &pixels, &[]);
        let planned = plan(&source, PixelLimit::default()).unwrap();
        let page = normalize(&source, PixelLimit::default()).unwrap();
        assert!(page.png.len() as u64 <= planned.cost() - source.len() as u64);
        assert_eq!(grey_of(&page).dimensions(), (w, h));
    }
}
