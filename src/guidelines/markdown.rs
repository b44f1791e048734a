//! The guidelines as Markdown: the book's title, a heading per topic (its key points
//! under it) and per subtopic with their pages, then each kind of content as a labelled
//! list.
//!
//! Every name and item is written as one line that reads as itself: line breaks become
//! spaces, so no text starts a block of its own (a heading, a list, a quote), and the
//! characters that would format, link, or open HTML are escaped.

use std::fmt::Write as _;

use super::Topic;

/// Characters escaped wherever they are: emphasis, code, links, HTML, entities, headings,
/// strikethrough and table cells.
const ESCAPED: &[char] = &['\\', '`', '*', '_', '[', ']', '<', '>', '&', '#', '~', '|'];

/// `text` as inline Markdown on one line: whitespace runs (any line or paragraph separator
/// included) are one space, control characters are dropped, and nothing formats.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if c.is_control() {
            continue;
        }
        if std::mem::take(&mut space) && !out.is_empty() {
            out.push(' ');
        }
        if ESCAPED.contains(&c) || (out.is_empty() && matches!(c, '-' | '+' | '=')) {
            out.push('\\');
        }
        out.push(c);
    }
    // "3. Add" or "3) Add" at the start would open an ordered list inside the item.
    let digits = out.bytes().take_while(u8::is_ascii_digit).count();
    let marker = out[digits..].starts_with(['.', ')'])
        && out[digits + 1..].chars().next().is_none_or(|c| c == ' ');
    if digits > 0 && marker {
        out.insert(digits, '\\');
    }
    out
}

fn pages_label(pages: &[i64]) -> String {
    match pages {
        [] => String::new(),
        [one] => format!("page {one}"),
        [first, .., last] => format!("pages {first}\u{2013}{last}"),
    }
}

/// The book's guidelines as a Markdown document.
pub fn markdown(title: &str, topics: &[Topic]) -> String {
    let mut out = format!("# {}\n", inline(title));
    for topic in topics {
        let (name, pages) = (inline(&topic.name), pages_label(&topic.pages));
        let _ = write!(out, "\n## {name} ({pages})\n");
        if !topic.key_points.is_empty() {
            let _ = writeln!(out, "\n**Key points**\n");
            for point in &topic.key_points {
                let _ = writeln!(out, "- {}", inline(point));
            }
        }
        for sub in &topic.subtopics {
            let (name, pages) = (inline(&sub.name), pages_label(&sub.pages));
            let _ = write!(out, "\n### {name} ({pages})\n");
            let c = &sub.content;
            for (label, items) in [
                ("Objectives", &c.objectives),
                ("Key concepts", &c.key_concepts),
                ("Examples", &c.examples),
                ("Common mistakes", &c.common_mistakes),
                ("Exercises", &c.exercises),
            ] {
                if items.is_empty() {
                    continue;
                }
                let _ = writeln!(out, "\n**{label}**\n");
                for item in items {
                    let _ = writeln!(out, "- {}", inline(item));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::guidelines::{Content, Subtopic, arbitrary};

    #[test]
    fn text_cannot_start_a_block_or_format() {
        assert_eq!(
            inline("  What Is\na Fraction?\u{2028} "),
            "What Is a Fraction?"
        );
        assert_eq!(
            inline("# 3 * 4 = 12 <b>&amp;</b>"),
            "\\# 3 \\* 4 = 12 \\<b\\>\\&amp;\\</b\\>"
        );
        assert_eq!(inline("2. Add"), "2\\. Add");
        assert_eq!(inline("1.1 Halves"), "1.1 Halves");
        assert_eq!(inline("- x"), "\\- x");
        let topics = vec![crate::guidelines::Topic {
            name: "Halves\n## Injected".into(),
            pages: vec![1, 2],
            key_points: Vec::new(),
            subtopics: vec![Subtopic {
                name: "1.1 What a Half Is".into(),
                pages: vec![2],
                content: Content {
                    examples: vec!["Half of 8\n\n- is 4".into()],
                    ..Content::default()
                },
            }],
        }];
        assert_eq!(
            markdown("Fractions", &topics),
            "# Fractions\n\n## Halves \\#\\# Injected (pages 1\u{2013}2)\n\n\
             ### 1.1 What a Half Is (page 2)\n\n**Examples**\n\n- Half of 8 - is 4\n"
        );
    }

    proptest! {
        /// No text panics the rendering or changes the document's shape: one line per
        /// heading, label and item, whatever the names and items hold.
        #[test]
        fn no_text_panics_or_reshapes_the_markdown(title in arbitrary::text(20), topics in arbitrary::topics()) {
            let md = markdown(&title, &topics);
            let lines: Vec<&str> = md.split('\n').collect();
            let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
            prop_assert_eq!(count("# "), 1);
            prop_assert_eq!(count("## "), topics.len());
            let subs: Vec<&Subtopic> = topics.iter().flat_map(|t| &t.subtopics).collect();
            prop_assert_eq!(count("### "), subs.len());
            let items: usize = subs.iter().map(|s| {
                let c = &s.content;
                c.objectives.len() + c.key_concepts.len() + c.examples.len() + c.common_mistakes.len() + c.exercises.len()
            }).sum::<usize>() + topics.iter().map(|t| t.key_points.len()).sum::<usize>();
            prop_assert_eq!(count("- "), items);
            let labels = lines.iter().filter(|l| l.starts_with("**") && l.ends_with("**")).count();
            let blank = lines.iter().filter(|l| l.is_empty()).count();
            prop_assert_eq!(1 + topics.len() + subs.len() + items + labels + blank, lines.len(), "{}", md);
            // Every special character in the text is escaped, and every backslash escapes.
            for line in lines.iter().filter(|l| !l.starts_with("**")) {
                let text = ["# ", "## ", "### ", "- "]
                    .iter()
                    .find_map(|p| line.strip_prefix(p))
                    .unwrap_or(line);
                let mut chars = text.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        let next = chars.next();
                        prop_assert!(next.is_some_and(|n| ESCAPED.contains(&n) || "-+=.)".contains(n)), "{:?}", line);
                    } else {
                        prop_assert!(!ESCAPED.contains(&c), "{:?}", line);
                    }
                }
            }
        }
    }
}
