//! EPUB 3: a package document with the book's metadata, a navigation document, XHTML
//! chapters (one per topic, up to [`MAX_FILES`]), and a style sheet.
//!
//! Any text goes in: characters XML or HTML content documents forbid are left out, and a
//! name left with nothing to show gets a placeholder, since `epubcheck` refuses an empty
//! title or navigation link.

use std::fmt::Write as _;

pub use super::zip::TooLarge;
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
    /// The book's own page numbers ("iv", "12") by page number, where its PDF labels
    /// them; a page without one is known by its number.
    pub labels: std::collections::BTreeMap<i64, String>,
}

pub struct Chapter {
    pub title: String,
    /// The chapter's summary, point by point.
    pub key_points: Vec<String>,
    pub subtopics: Vec<Subtopic>,
    /// The approved text of the chapter's pages: (page number, text).
    pub pages: Vec<(i64, String)>,
}

impl Chapter {
    pub fn of(topic: Topic, pages: Vec<(i64, String)>) -> Self {
        Self {
            title: topic.name,
            key_points: topic.key_points,
            subtopics: topic.subtopics,
            pages,
        }
    }
}

/// Most chapter files an EPUB gets: past it consecutive topics share a file, so a book of
/// any number of topics stays inside ZIP's 65,535 entries and a reading system's spine
/// stays short.
pub const MAX_FILES: usize = 500;

/// Whether `c` may be in the EPUB's XML: XML 1.0's characters (of the C0 controls only tab,
/// line feed and carriage return; not U+FFFE or U+FFFF), less the C1 controls and the
/// noncharacters HTML forbids in content documents. Carriage returns go too: XML reads
/// them as line feeds anyway.
fn allowed(c: char) -> bool {
    let n = u32::from(c);
    match c {
        '\t' | '\n' => true,
        c if c.is_control() => false,
        _ => !((0xFDD0..=0xFDEF).contains(&n) || n & 0xFFFE == 0xFFFE),
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|&c| allowed(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A name escaped, or `fallback` if nothing of it would show.
fn title(name: &str, fallback: &str) -> String {
    let escaped = esc(name);
    if escaped.trim().is_empty() {
        fallback.to_owned()
    } else {
        escaped
    }
}

/// A content document; `title` is escaped already.
fn xhtml(title: &str, lang: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\" \
         lang=\"{lang}\" xml:lang=\"{lang}\">\n<head>\n<meta charset=\"UTF-8\"/>\n<title>{title}</title>\n\
         <link rel=\"stylesheet\" type=\"text/css\" href=\"style.css\"/>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

fn pages_label(pages: &[i64]) -> String {
    match pages {
        [] => String::new(),
        [one] => format!("page {one}"),
        [first, .., last] => format!("pages {first}\u{2013}{last}"),
    }
}

/// Page `n`'s name in the book: its label, else its number.
fn page_name(labels: &std::collections::BTreeMap<i64, String>, n: i64) -> String {
    labels.get(&n).map_or_else(|| n.to_string(), |l| esc(l))
}

/// Topic `n`'s section, its id `topic-{n}`; each page's text under `page-{number}`, a
/// page break the page list points to.
fn chapter_body(c: &Chapter, n: usize, labels: &std::collections::BTreeMap<i64, String>) -> String {
    let mut b = format!(
        "<section epub:type=\"chapter\" id=\"topic-{n}\">\n<h1>{}</h1>\n",
        title(&c.title, "Untitled topic")
    );
    if !c.key_points.is_empty() {
        b.push_str("<h2>Key points</h2>\n<ul>\n");
        for point in &c.key_points {
            let _ = writeln!(b, "<li>{}</li>", esc(point));
        }
        b.push_str("</ul>\n");
    }
    for s in &c.subtopics {
        let _ = write!(
            b,
            "<section>\n<h2>{}</h2>\n<p class=\"pages\">{}</p>\n",
            title(&s.name, "Untitled section"),
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
            let name = page_name(labels, *n);
            let _ = writeln!(
                b,
                "<span id=\"page-{n}\" epub:type=\"pagebreak\" role=\"doc-pagebreak\" aria-label=\"Page {name}\"></span>\n<h3>Page {name}</h3>"
            );
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

/// Most links the navigation holds: it links every topic up to this many, else every
/// chapter file. epubcheck walks the links recursively, one stack frame each, and
/// overflowed its stack on 12,000; reading systems show a long list no better.
pub const MAX_NAV_LINKS: usize = 1_000;

/// The navigation's list: one link per entry (link, name).
fn nav_list(entries: &[(String, String)]) -> String {
    let mut out = String::from("<ol>\n");
    for (href, name) in entries {
        let _ = writeln!(out, "<li><a href=\"{href}\">{name}</a></li>");
    }
    out.push_str("</ol>\n");
    out
}

const STYLE: &str = "body { font-family: serif; line-height: 1.45; }\n\
                     h1, h2, h3 { font-family: sans-serif; }\n\
                     p.pages { color: #555; font-size: 0.9em; }\n";

/// The EPUB's bytes; [`TooLarge`] past ZIP's limits without ZIP64 (4 GiB).
pub fn render(book: &EpubBook) -> Result<Vec<u8>, TooLarge> {
    let lang = esc(&book.language);
    let mut zip = Zip::default();
    // First and stored, as the EPUB container requires.
    zip.add("mimetype", b"application/epub+zip")?;
    zip.add(
        "META-INF/container.xml",
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
          <container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">\n\
          <rootfiles><rootfile full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/></rootfiles>\n\
          </container>\n",
    )?;
    let mut manifest = String::new();
    let mut spine = String::new();
    // The navigation's links and names: each topic's, or past MAX_NAV_LINKS each file's.
    let mut toc: Vec<(String, String)> = Vec::new();
    // Every page whose text the book holds, in order, by its own number.
    let mut page_list: Vec<(String, String)> = Vec::new();
    // A book without topics still has a chapter: its navigation may not be empty.
    let untitled;
    let chapters: &[Chapter] = if book.chapters.is_empty() {
        untitled = [Chapter {
            title: book.title.clone(),
            key_points: Vec::new(),
            subtopics: Vec::new(),
            pages: Vec::new(),
        }];
        &untitled
    } else {
        &book.chapters
    };
    let by_file = chapters.len() > MAX_NAV_LINKS;
    let per_file = chapters.len().div_ceil(MAX_FILES).max(1);
    for (i, chapters) in chapters.chunks(per_file).enumerate() {
        let file = format!("chapter-{}.xhtml", i + 1);
        let _ = writeln!(
            manifest,
            "<item id=\"c{}\" href=\"{file}\" media-type=\"application/xhtml+xml\"/>",
            i + 1
        );
        let _ = writeln!(spine, "<itemref idref=\"c{}\"/>", i + 1);
        let mut body = String::new();
        for (j, chapter) in chapters.iter().enumerate() {
            let n = i * per_file + j + 1;
            let name = title(&chapter.title, "Untitled topic");
            if !by_file {
                toc.push((format!("{file}#topic-{n}"), name));
            }
            body.push_str(&chapter_body(chapter, n, &book.labels));
            for (page, _) in &chapter.pages {
                page_list.push((
                    format!("{file}#page-{page}"),
                    page_name(&book.labels, *page),
                ));
            }
        }
        let head = title(&chapters[0].title, "Untitled topic");
        if by_file {
            let from = i * per_file + 1;
            let to = from + chapters.len() - 1;
            toc.push((file.clone(), format!("Topics {from}\u{2013}{to}: {head}")));
        }
        zip.add(
            &format!("OEBPS/{file}"),
            xhtml(&head, &lang, &body).as_bytes(),
        )?;
    }
    // Landmarks: where the contents and the body begin; the page list, when there are pages.
    let mut nav = format!(
        "<nav epub:type=\"toc\" id=\"toc\">\n<h1>Contents</h1>\n{}</nav>\n\
         <nav epub:type=\"landmarks\" id=\"landmarks\" hidden=\"hidden\">\n<h2>Landmarks</h2>\n<ol>\n\
         <li><a epub:type=\"toc\" href=\"#toc\">Contents</a></li>\n\
         <li><a epub:type=\"bodymatter\" href=\"chapter-1.xhtml\">Start of the guidelines</a></li>\n</ol>\n</nav>\n",
        nav_list(&toc)
    );
    if !page_list.is_empty() {
        nav.push_str(
            "<nav epub:type=\"page-list\" id=\"page-list\" hidden=\"hidden\">\n<h2>Pages</h2>\n",
        );
        nav.push_str(&nav_list(&page_list));
        nav.push_str("</nav>\n");
    }
    let book_title = title(&book.title, "Untitled");
    zip.add(
        "OEBPS/nav.xhtml",
        xhtml(&book_title, &lang, &nav).as_bytes(),
    )?;
    zip.add("OEBPS/style.css", STYLE.as_bytes())?;
    let creator = book
        .creator
        .as_deref()
        .map(esc)
        .filter(|c| !c.trim().is_empty())
        .map(|c| format!("<dc:creator>{c}</dc:creator>\n"))
        .unwrap_or_default();
    // EPUB Accessibility 1.1: what the book is made of and how it is navigated. Text only,
    // headed and in reading order, with a contents list and, for the pages it quotes, the
    // book's own page numbers.
    let mut a11y = String::from(
        "<meta property=\"schema:accessMode\">textual</meta>\n\
         <meta property=\"schema:accessModeSufficient\">textual</meta>\n\
         <meta property=\"schema:accessibilityFeature\">structuralNavigation</meta>\n\
         <meta property=\"schema:accessibilityFeature\">tableOfContents</meta>\n\
         <meta property=\"schema:accessibilityFeature\">readingOrder</meta>\n",
    );
    if !page_list.is_empty() {
        a11y.push_str("<meta property=\"schema:accessibilityFeature\">pageNavigation</meta>\n");
    }
    a11y.push_str(
        "<meta property=\"schema:accessibilityHazard\">none</meta>\n\
         <meta property=\"schema:accessibilitySummary\">Text only: teaching guidelines by chapter and section, each section's \
         objectives, key concepts, examples and exercises under its heading, with a table of contents and the pages they come from.</meta>\n\
         <meta property=\"dcterms:conformsTo\">EPUB Accessibility 1.1 - WCAG 2.1 Level A</meta>\n",
    );
    let opf = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" unique-identifier=\"book-id\" xml:lang=\"{lang}\">\n\
         <metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n\
         <dc:identifier id=\"book-id\">{}</dc:identifier>\n<dc:title>{}</dc:title>\n\
         <dc:language>{lang}</dc:language>\n{creator}\
         <meta property=\"dcterms:modified\">{}</meta>\n{a11y}</metadata>\n\
         <manifest>\n<item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" properties=\"nav\"/>\n\
         <item id=\"css\" href=\"style.css\" media-type=\"text/css\"/>\n{manifest}</manifest>\n\
         <spine>\n<itemref idref=\"nav\"/>\n{spine}</spine>\n</package>\n",
        esc(&book.identifier),
        book_title,
        esc(&book.modified)
    );
    zip.add("OEBPS/content.opf", opf.as_bytes())?;
    Ok(zip.finish())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::guidelines::arbitrary;

    /// The entries of a stored-only ZIP, read through its central directory as a reader
    /// would: (name, data).
    fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
        let u16_at = |at: usize| u16::from_le_bytes([zip[at], zip[at + 1]]) as usize;
        let u32_at = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap()) as usize;
        let end = zip.len() - 22;
        assert_eq!(u32_at(end), 0x0605_4b50, "end of central directory");
        let count = u16_at(end + 10);
        let mut at = u32_at(end + 16);
        let mut out = Vec::new();
        for _ in 0..count {
            assert_eq!(u32_at(at), 0x0201_4b50, "central header");
            let (size, name_len) = (u32_at(at + 20), u16_at(at + 28));
            let local = u32_at(at + 42);
            let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
            assert_eq!(u32_at(local), 0x0403_4b50, "local header of {name}");
            let data = local + 30 + u16_at(local + 26) + u16_at(local + 28);
            let bytes = zip[data..data + size].to_vec();
            assert_eq!(
                crc32fast::hash(&bytes),
                u32_at(at + 16) as u32,
                "crc of {name}"
            );
            out.push((name, bytes));
            at += 46 + name_len + u16_at(at + 30) + u16_at(at + 32);
        }
        out
    }

    /// Every XML entry parses, holds only characters XML and HTML allow, and has no empty
    /// title or navigation link. The names of the entries, in order.
    fn check(epub: &[u8]) -> Vec<String> {
        let entries = entries(epub);
        assert_eq!(
            entries[0],
            ("mimetype".to_owned(), b"application/epub+zip".to_vec())
        );
        for (name, data) in &entries {
            if name.ends_with(".css") || name == "mimetype" {
                continue;
            }
            let text = std::str::from_utf8(data).unwrap();
            assert!(text.chars().all(|c| allowed(c) || c == '\n'), "{name}");
            let options = roxmltree::ParsingOptions {
                allow_dtd: true,
                ..Default::default()
            };
            let doc = roxmltree::Document::parse_with_options(text, options)
                .unwrap_or_else(|e| panic!("{name} is not XML: {e}\n{text}"));
            for node in doc.descendants() {
                if ["title", "a", "h1", "h2"].contains(&node.tag_name().name()) {
                    let shown: String = node.descendants().filter_map(|n| n.text()).collect();
                    assert!(
                        !shown.trim().is_empty(),
                        "{name}: empty <{}>",
                        node.tag_name().name()
                    );
                }
                if node.tag_name().name() == "ol" {
                    let items = node.children().filter(|c| c.is_element()).count();
                    assert!(
                        (1..=MAX_NAV_LINKS).contains(&items),
                        "{name}: <ol> of {items}"
                    );
                }
            }
        }
        entries.into_iter().map(|(n, _)| n).collect()
    }

    fn book(chapters: Vec<Chapter>, title: &str) -> EpubBook {
        EpubBook {
            identifier: "urn:uuid:00000000-0000-0000-0000-000000000000".into(),
            title: title.into(),
            creator: Some(title.into()),
            language: "en".into(),
            modified: "2026-12-03T00:00:00Z".into(),
            chapters,
            labels: Default::default(),
        }
    }

    /// The navigation has landmarks and, for the pages the book quotes, a page list by the
    /// book's own numbers; the package says how the book can be read (EPUB Accessibility
    /// 1.1). A book that quotes no page has no page list and claims no page navigation.
    #[test]
    fn pages_are_listed_by_their_labels_and_the_package_states_its_accessibility() {
        let chapter = Chapter {
            title: "Chapter 1".into(),
            key_points: Vec::new(),
            subtopics: Vec::new(),
            pages: vec![(1, "Preface text.".into()), (2, "Page two.".into())],
        };
        let mut labelled = book(vec![chapter], "Fractions");
        labelled.labels = [(1, "iv".to_owned())].into();
        let epub = render(&labelled).unwrap();
        let files = entries(&epub);
        let file = |name: &str| {
            let (_, bytes) = files.iter().find(|(n, _)| n == name).unwrap();
            String::from_utf8(bytes.clone()).unwrap()
        };
        let nav = file("OEBPS/nav.xhtml");
        assert!(nav.contains("epub:type=\"landmarks\""), "{nav}");
        assert!(
            nav.contains("epub:type=\"bodymatter\" href=\"chapter-1.xhtml\""),
            "{nav}"
        );
        assert!(nav.contains("epub:type=\"page-list\""), "{nav}");
        assert!(
            nav.contains("<a href=\"chapter-1.xhtml#page-1\">iv</a>"),
            "{nav}"
        );
        assert!(
            nav.contains("<a href=\"chapter-1.xhtml#page-2\">2</a>"),
            "{nav}"
        );
        let chapter = file("OEBPS/chapter-1.xhtml");
        assert!(
            chapter.contains("id=\"page-1\" epub:type=\"pagebreak\""),
            "{chapter}"
        );
        assert!(chapter.contains("<h3>Page iv</h3>"), "{chapter}");
        let opf = file("OEBPS/content.opf");
        for claim in [
            "schema:accessMode\">textual",
            "schema:accessibilityFeature\">tableOfContents",
            "schema:accessibilityFeature\">pageNavigation",
            "schema:accessibilityHazard\">none",
            "schema:accessibilitySummary",
            "dcterms:conformsTo\">EPUB Accessibility 1.1 - WCAG 2.1 Level A",
        ] {
            assert!(opf.contains(claim), "{claim}: {opf}");
        }
        assert!(opf.contains("xml:lang=\"en\""));
        let bare = render(&book(Vec::new(), "No pages")).unwrap();
        let bare = String::from_utf8_lossy(&bare);
        assert!(!bare.contains("page-list") && !bare.contains("pageNavigation"));
    }

    /// Characters XML 1.0 forbids (C0 controls, U+FFFE, U+FFFF) went into the XHTML as
    /// they were, and a name of nothing but those made an empty title.
    #[test]
    fn characters_xml_forbids_are_left_out() {
        let chapter = Chapter {
            title: "\u{FFFE}\u{1}".into(),
            key_points: Vec::new(),
            subtopics: vec![Subtopic {
                name: "Halves\u{FFFF}\u{FDD0}\u{1FFFE}".into(),
                content: crate::guidelines::Content {
                    examples: vec!["a\u{0}b\u{8}c\u{1B}d\u{85}e]]><&>".into()],
                    ..Default::default()
                },
                pages: vec![1],
            }],
            pages: vec![(1, "Page\u{C} text\u{FFFF}".into())],
        };
        let epub = render(&book(vec![chapter], "\u{FFFF}")).unwrap();
        check(&epub);
        let all = String::from_utf8_lossy(&epub);
        assert!(all.contains("<h1>Untitled topic</h1>") && all.contains("<h2>Halves</h2>"));
        assert!(all.contains("<li><a href=\"chapter-1.xhtml#topic-1\">Untitled topic</a></li>"));
        assert!(all.contains("<li>abcde]]&gt;&lt;&amp;&gt;</li>"), "{all}");
    }

    /// A book of 70,000 topics: one file each would pass ZIP's 65,535 entries (the count
    /// wrapped, or overflowed and panicked); they share MAX_FILES files, each linked.
    #[test]
    fn a_book_of_70000_topics_shares_a_bounded_number_of_files() {
        let chapters = (0..70_000)
            .map(|i| Chapter {
                title: format!("Topic {i}"),
                key_points: Vec::new(),
                subtopics: Vec::new(),
                pages: Vec::new(),
            })
            .collect();
        let epub = render(&book(chapters, "Big")).unwrap();
        let names = check(&epub);
        assert_eq!(names.len(), MAX_FILES + 5, "{:?}", &names[..8]);
        let all = String::from_utf8_lossy(&epub);
        // The navigation links each file, not each topic: at most MAX_NAV_LINKS links.
        assert!(
            all.contains("<li><a href=\"chapter-1.xhtml\">Topics 1\u{2013}140: Topic 0</a></li>")
        );
        assert!(all.contains(
            "<li><a href=\"chapter-500.xhtml\">Topics 69861\u{2013}70000: Topic 69860</a></li>"
        ));
        assert!(!all.contains(".xhtml#topic-"));
        assert!(all.contains("<section epub:type=\"chapter\" id=\"topic-70000\">"));
    }

    #[test]
    fn an_archive_past_zip_limits_is_refused() {
        let mut zip = Zip::default();
        for i in 0..u16::MAX {
            zip.add(&format!("{i}"), b"").unwrap();
        }
        assert_eq!(zip.add("one more", b""), Err(TooLarge));
    }

    proptest! {
        /// No text panics the writer or makes XML that does not parse, holds a forbidden
        /// character, or an empty title or link.
        #[test]
        fn no_text_breaks_the_epub(
            topics in arbitrary::topics(),
            title in arbitrary::text(20),
            page in arbitrary::text(60),
        ) {
            let chapters = topics
                .into_iter()
                .map(|t| Chapter::of(t, vec![(1, page.clone())]))
                .collect();
            check(&render(&book(chapters, &title)).unwrap());
        }
    }
}
