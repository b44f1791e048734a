//! EPUB 3: a package document with the book's metadata, a navigation document, one XHTML
//! chapter per topic, and a style sheet.

use std::fmt::Write as _;

use super::zip::Zip;
use crate::guidelines::{Subtopic, Topic};

pub struct EpubBook {
    /// A stable identifier (`urn:uuid:…`).
    pub identifier: String,
    pub title: String,
    pub creator: Option<String>,
    pub language: String,
    /// `dcterms:modified`, as `YYYY-MM-DDThh:mm:ssZ`.
    pub modified: String,
    pub chapters: Vec<Chapter>,
}

pub struct Chapter {
    pub title: String,
    pub subtopics: Vec<Subtopic>,
    /// The approved text of the chapter's pages: (page number, text).
    pub pages: Vec<(i64, String)>,
}

impl Chapter {
    pub fn of(topic: Topic, pages: Vec<(i64, String)>) -> Self {
        Self {
            title: topic.name,
            subtopics: topic.subtopics,
            pages,
        }
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

fn xhtml(title: &str, lang: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\" \
         lang=\"{lang}\" xml:lang=\"{lang}\">\n<head>\n<meta charset=\"UTF-8\"/>\n<title>{}</title>\n\
         <link rel=\"stylesheet\" type=\"text/css\" href=\"style.css\"/>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

fn pages_label(pages: &[i64]) -> String {
    match pages {
        [] => String::new(),
        [one] => format!("page {one}"),
        [first, .., last] => format!("pages {first}\u{2013}{last}"),
    }
}

fn chapter_body(c: &Chapter) -> String {
    let mut b = format!(
        "<section epub:type=\"chapter\">\n<h1>{}</h1>\n",
        esc(&c.title)
    );
    for s in &c.subtopics {
        let _ = write!(
            b,
            "<section>\n<h2>{}</h2>\n<p class=\"pages\">{}</p>\n",
            esc(&s.name),
            pages_label(&s.pages)
        );
        for (label, items) in [
            ("Objectives", &s.content.objectives),
            ("Key concepts", &s.content.key_concepts),
            ("Examples", &s.content.examples),
            ("Common mistakes", &s.content.common_mistakes),
            ("Exercises", &s.content.exercises),
        ] {
            if items.is_empty() {
                continue;
            }
            let _ = write!(b, "<h3>{label}</h3>\n<ul>\n");
            for item in items {
                let _ = writeln!(b, "<li>{}</li>", esc(item));
            }
            b.push_str("</ul>\n");
        }
        b.push_str("</section>\n");
    }
    if !c.pages.is_empty() {
        b.push_str("<section class=\"text\">\n<h2>The pages</h2>\n");
        for (n, text) in &c.pages {
            let _ = writeln!(b, "<h3>Page {n}</h3>");
            for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
                let joined: Vec<&str> = para.lines().map(str::trim).collect();
                let _ = writeln!(b, "<p>{}</p>", esc(&joined.join(" ")));
            }
        }
        b.push_str("</section>\n");
    }
    b.push_str("</section>\n");
    b
}

const STYLE: &str = "body { font-family: serif; line-height: 1.45; }\n\
                     h1, h2, h3 { font-family: sans-serif; }\n\
                     p.pages { color: #555; font-size: 0.9em; }\n";

/// The EPUB's bytes.
pub fn render(book: &EpubBook) -> Vec<u8> {
    let lang = esc(&book.language);
    let mut zip = Zip::default();
    // First and stored, as the EPUB container requires.
    zip.add("mimetype", b"application/epub+zip");
    zip.add(
        "META-INF/container.xml",
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
          <container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">\n\
          <rootfiles><rootfile full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/></rootfiles>\n\
          </container>\n",
    );
    let mut manifest = String::new();
    let mut spine = String::new();
    let mut toc = String::new();
    for (i, chapter) in book.chapters.iter().enumerate() {
        let file = format!("chapter-{}.xhtml", i + 1);
        let _ = writeln!(
            manifest,
            "<item id=\"c{}\" href=\"{file}\" media-type=\"application/xhtml+xml\"/>",
            i + 1
        );
        let _ = writeln!(spine, "<itemref idref=\"c{}\"/>", i + 1);
        let _ = writeln!(
            toc,
            "<li><a href=\"{file}\">{}</a></li>",
            esc(&chapter.title)
        );
        zip.add(
            &format!("OEBPS/{file}"),
            xhtml(&chapter.title, &lang, &chapter_body(chapter)).as_bytes(),
        );
    }
    let nav = format!(
        "<nav epub:type=\"toc\" id=\"toc\">\n<h1>Contents</h1>\n<ol>\n{toc}</ol>\n</nav>\n"
    );
    zip.add(
        "OEBPS/nav.xhtml",
        xhtml(&book.title, &lang, &nav).as_bytes(),
    );
    zip.add("OEBPS/style.css", STYLE.as_bytes());
    let creator = book
        .creator
        .as_deref()
        .map(|c| format!("<dc:creator>{}</dc:creator>\n", esc(c)))
        .unwrap_or_default();
    let opf = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" unique-identifier=\"book-id\" xml:lang=\"{lang}\">\n\
         <metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n\
         <dc:identifier id=\"book-id\">{}</dc:identifier>\n<dc:title>{}</dc:title>\n\
         <dc:language>{lang}</dc:language>\n{creator}\
         <meta property=\"dcterms:modified\">{}</meta>\n</metadata>\n\
         <manifest>\n<item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" properties=\"nav\"/>\n\
         <item id=\"css\" href=\"style.css\" media-type=\"text/css\"/>\n{manifest}</manifest>\n\
         <spine>\n<itemref idref=\"nav\"/>\n{spine}</spine>\n</package>\n",
        esc(&book.identifier),
        esc(&book.title),
        esc(&book.modified)
    );
    zip.add("OEBPS/content.opf", opf.as_bytes());
    zip.finish()
}
