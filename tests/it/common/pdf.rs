//! PDFs made by the tests: a small writer of real PDF 1.4 files (text pages in Helvetica,
//! image-only pages, a two-level outline), and qpdf to encrypt one.

use std::fmt::Write as _;

/// One page of a generated PDF.
pub enum PdfPage {
    /// Lines of text, set in Helvetica from the top of a letter page.
    Text(Vec<String>),
    /// A scan: 8-bit grey pixels filling the page.
    Image {
        width: u32,
        height: u32,
        grey: Vec<u8>,
    },
}

/// A bookmark: its depth (0 chapter, 1 section), title and 0-based page.
pub struct Bookmark {
    pub depth: u32,
    pub title: String,
    pub page: usize,
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
}

/// A PDF of `pages` with `outline`.
pub fn build(pages: &[PdfPage], outline: &[Bookmark]) -> Vec<u8> {
    // Objects: 1 catalog, 2 pages, 3 font, 4 outlines, then per page: page, content,
    // (image), then the bookmarks.
    let mut objects: Vec<Vec<u8>> = vec![Vec::new(); 4];
    let mut page_ids = Vec::new();
    for page in pages {
        let page_id = objects.len() + 1;
        page_ids.push(page_id);
        let content_id = page_id + 1;
        let (content, image) = match page {
            PdfPage::Text(lines) => {
                let mut s = String::from("BT /F1 12 Tf 72 720 Td 15 TL\n");
                for line in lines {
                    let _ = writeln!(s, "({}) Tj T*", escape(line));
                }
                s.push_str("ET\n");
                (s.into_bytes(), None)
            }
            PdfPage::Image {
                width,
                height,
                grey,
            } => {
                let mut obj = format!(
                    "<< /Type /XObject /Subtype /Image /Width {width} /Height {height} \
                     /ColorSpace /DeviceGray /BitsPerComponent 8 /Length {} >>\nstream\n",
                    grey.len()
                )
                .into_bytes();
                obj.extend_from_slice(grey);
                obj.extend_from_slice(b"\nendstream");
                (b"q 612 0 0 792 0 0 cm /Im1 Do Q\n".to_vec(), Some(obj))
            }
        };
        let resources = if image.is_some() {
            format!("<< /XObject << /Im1 {} 0 R >> >>", content_id + 1)
        } else {
            "<< /Font << /F1 3 0 R >> >>".to_owned()
        };
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources {resources} \
                 /Contents {content_id} 0 R >>"
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(&content);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
        if let Some(image) = image {
            objects.push(image);
        }
    }
    // The outline: chapters at depth 0 under the root, sections under their chapter.
    let first_mark = objects.len() + 1;
    let ids: Vec<usize> = (0..outline.len()).map(|i| first_mark + i).collect();
    let parent_of = |i: usize| -> usize {
        if outline[i].depth == 0 {
            return 4;
        }
        (0..i)
            .rev()
            .find(|&j| outline[j].depth == 0)
            .map_or(4, |j| ids[j])
    };
    let siblings = |i: usize| -> Vec<usize> {
        let parent = parent_of(i);
        (0..outline.len())
            .filter(|&j| outline[j].depth == outline[i].depth && parent_of(j) == parent)
            .collect()
    };
    let children = |parent_id: usize| -> Vec<usize> {
        (0..outline.len())
            .filter(|&j| parent_of(j) == parent_id)
            .collect()
    };
    for (i, mark) in outline.iter().enumerate() {
        let sib = siblings(i);
        let at = sib.iter().position(|&j| j == i).unwrap();
        let mut dict = format!(
            "<< /Title ({}) /Parent {} 0 R /Dest [{} 0 R /Fit]",
            escape(&mark.title),
            parent_of(i),
            page_ids[mark.page]
        );
        if at > 0 {
            let _ = write!(dict, " /Prev {} 0 R", ids[sib[at - 1]]);
        }
        if at + 1 < sib.len() {
            let _ = write!(dict, " /Next {} 0 R", ids[sib[at + 1]]);
        }
        let kids = children(ids[i]);
        if let (Some(first), Some(last)) = (kids.first(), kids.last()) {
            let _ = write!(
                dict,
                " /First {} 0 R /Last {} 0 R /Count {}",
                ids[*first],
                ids[*last],
                kids.len()
            );
        }
        dict.push_str(" >>");
        objects.push(dict.into_bytes());
    }
    let top = children(4);
    let kids: Vec<String> = page_ids.iter().map(|id| format!("{id} 0 R")).collect();
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /Outlines 4 0 R >>".to_vec();
    objects[1] = format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        pages.len()
    )
    .into_bytes();
    objects[2] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec();
    objects[3] = match (top.first(), top.last()) {
        (Some(first), Some(last)) => format!(
            "<< /Type /Outlines /First {} 0 R /Last {} 0 R /Count {} >>",
            ids[*first],
            ids[*last],
            top.len()
        )
        .into_bytes(),
        _ => b"<< /Type /Outlines /Count 0 >>".to_vec(),
    };
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(obj);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    out
}

/// A page of prose about `topic`, long enough to count as a text layer.
pub fn prose(title: &str, topic: &str) -> PdfPage {
    let mut lines = vec![title.to_owned(), String::new()];
    for n in 1..=6 {
        lines.push(format!(
            "Paragraph {n} explains {topic} with a worked example and a short exercise."
        ));
    }
    PdfPage::Text(lines)
}

/// A real scan as an image-only page (grey), from a PNG of the shared data.
pub fn scan(path: &std::path::Path) -> PdfPage {
    let img = image::open(path).expect("a readable scan").to_luma8();
    PdfPage::Image {
        width: img.width(),
        height: img.height(),
        grey: img.into_raw(),
    }
}

/// `pdf` encrypted (AES-256) with user password `password`, by qpdf.
pub fn encrypt(pdf: &[u8], password: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (plain, locked) = (dir.path().join("plain.pdf"), dir.path().join("locked.pdf"));
    std::fs::write(&plain, pdf).unwrap();
    let status = std::process::Command::new("qpdf")
        .args(["--encrypt", password, "owner-secret", "256", "--"])
        .arg(&plain)
        .arg(&locked)
        .status()
        .expect("qpdf runs");
    assert!(status.success(), "qpdf encrypted the file");
    std::fs::read(locked).unwrap()
}
