//! The offline extractor: deterministic rules over a page's text, no network and no model.
//!
//! It recognizes what textbooks print to structure themselves: chapter headings ("Chapter 2:
//! Adding Fractions", "Unit 3 …"), numbered section headings ("2.1 Like Denominators"), and
//! labelled blocks ("Definition:", "Example 2:", "Key idea:", "Common mistake:",
//! "Exercise 3:", "Objectives:"). A labelled block runs until a blank line, a heading or
//! the next label; a label alone on its line starts a list, one entry a numbered or
//! bulleted line. Prose between them is the page's text, not a guideline.

use async_trait::async_trait;
use quire_actors::ItemError;

use super::{Content, Extractor, PageGuidelines, SubtopicDraft, TopicDraft};

#[derive(Clone, Copy, Debug, Default)]
pub struct OfflineExtractor;

#[async_trait]
impl Extractor for OfflineExtractor {
    async fn extract(&self, _page_no: i64, text: &str) -> Result<PageGuidelines, ItemError> {
        Ok(extract(text))
    }

    fn provider(&self) -> &str {
        "offline"
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Objective,
    KeyConcept,
    Example,
    Mistake,
    Exercise,
}

const LABELS: &[(&str, Field)] = &[
    ("learning objectives", Field::Objective),
    ("learning objective", Field::Objective),
    ("objectives", Field::Objective),
    ("objective", Field::Objective),
    ("you will learn", Field::Objective),
    ("definition", Field::KeyConcept),
    ("key ideas", Field::KeyConcept),
    ("key idea", Field::KeyConcept),
    ("key points", Field::KeyConcept),
    ("key point", Field::KeyConcept),
    ("key concept", Field::KeyConcept),
    ("remember", Field::KeyConcept),
    ("worked example", Field::Example),
    ("examples", Field::Example),
    ("example", Field::Example),
    ("common mistakes", Field::Mistake),
    ("common mistake", Field::Mistake),
    ("watch out", Field::Mistake),
    ("exercises", Field::Exercise),
    ("exercise", Field::Exercise),
    ("practice", Field::Exercise),
    ("try it", Field::Exercise),
];

enum Line<'a> {
    Blank,
    Chapter(String),
    /// A numbered section heading, number and title.
    Section(String),
    /// A label with the text after it (empty: a list follows).
    Label(Field, &'a str),
    /// A numbered or bulleted line, without its marker.
    Item(&'a str),
    Text(&'a str),
}

fn classify(line: &str) -> Line<'_> {
    let line = line.trim();
    if line.is_empty() {
        return Line::Blank;
    }
    if let Some(title) = chapter(line) {
        return Line::Chapter(title);
    }
    if let Some(title) = section(line) {
        return Line::Section(title);
    }
    if let Some((field, rest)) = label(line) {
        return Line::Label(field, rest);
    }
    if let Some(rest) = list_item(line) {
        return Line::Item(rest);
    }
    Line::Text(line)
}

/// `line` without its leading `prefix` (written in lower case), compared letter by letter in
/// lower case. The rest is cut from `line` itself, after the last letter that matched: a
/// letter whose lower case has another length in bytes (the Kelvin sign `\u{212A}` is
/// three bytes, its `k` one) cannot move the cut off a character boundary.
fn strip_prefix_lowercase<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let mut want = prefix.chars().peekable();
    if want.peek().is_none() {
        return Some(line);
    }
    for (at, c) in line.char_indices() {
        for lower in c.to_lowercase() {
            if want.next() != Some(lower) {
                return None;
            }
        }
        if want.peek().is_none() {
            return Some(&line[at + c.len_utf8()..]);
        }
    }
    None
}

/// "Chapter 1: Understanding Fractions" -> "Understanding Fractions".
fn chapter(line: &str) -> Option<String> {
    let rest = ["chapter ", "unit ", "part "]
        .into_iter()
        .find_map(|w| strip_prefix_lowercase(line, w))?
        .trim_start();
    let number_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric()))
        .unwrap_or(rest.len());
    let number = &rest[..number_len];
    let roman = |s: &str| s.chars().all(|c| "IVXLC".contains(c));
    if number.is_empty() || !(number.chars().all(|c| c.is_ascii_digit()) || roman(number)) {
        return None;
    }
    let title = rest[number_len..]
        .trim_start_matches([':', '.', '-', '\u{2013}', '\u{2014}', ' '])
        .trim();
    if line.chars().count() > 120 {
        return None;
    }
    Some(if title.is_empty() {
        line.to_owned()
    } else {
        title.to_owned()
    })
}

/// "1.1  What Is a Fraction?" -> "1.1 What Is a Fraction?": a dotted number, then a short
/// title starting with a capital. The number stays in the name: it is what tells "2.1
/// Practice" from "2.3 Practice" when pages are joined and finalized.
fn section(line: &str) -> Option<String> {
    let number_len = line.find(char::is_whitespace)?;
    let number = &line[..number_len];
    let parts: Vec<&str> = number.trim_end_matches('.').split('.').collect();
    if parts.len() < 2
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let title = line[number_len..].trim();
    let starts_upper = title.chars().next().is_some_and(char::is_uppercase);
    (starts_upper && title.split_whitespace().count() <= 12 && title.chars().count() <= 100)
        .then(|| format!("{number} {title}"))
}

/// "Example 1: A pizza …" -> (Example, "A pizza …"); "Exercises" -> (Exercise, "").
fn label(line: &str) -> Option<(Field, &str)> {
    for &(name, field) in LABELS {
        let Some(rest) = strip_prefix_lowercase(line, name) else {
            continue;
        };
        // An optional number ("Example 2", "Exercise 3a").
        let mut rest = rest.trim_start();
        let number_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric()))
            .unwrap_or(rest.len());
        if rest[..number_len]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
        {
            rest = &rest[number_len..];
        }
        let rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix([':', '.', '\u{2014}', '-']) {
            return Some((field, after.trim()));
        }
        if rest.is_empty() {
            return Some((field, ""));
        }
        // "Examples of fractions are …" is prose, not a label.
    }
    None
}

/// "1. Add 1/4 + 2/4." or "• Add …" -> the text after the marker.
fn list_item(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix(['\u{2022}', '-', '*', '\u{2013}']) {
        return Some(rest.trim());
    }
    let digits = line.find(|c: char| !c.is_ascii_digit())?;
    if digits == 0 || digits > 3 {
        return None;
    }
    let rest = &line[digits..];
    rest.strip_prefix(['.', ')'])
        .filter(|r| r.starts_with(' '))
        .map(str::trim)
}

/// The content a page's lines go to now: the last subtopic, or what continues the page
/// before.
fn target(page: &mut PageGuidelines) -> &mut Content {
    match page.topics.last_mut() {
        None => &mut page.continued,
        Some(topic) => {
            if topic.subtopics.is_empty() {
                // Content under a chapter heading, before its first section.
                let name = topic.name.clone().unwrap_or_else(|| "Overview".to_owned());
                topic.subtopics.push(SubtopicDraft {
                    name,
                    content: Content::default(),
                });
            }
            &mut topic.subtopics.last_mut().expect("pushed above").content
        }
    }
}

fn push(page: &mut PageGuidelines, field: Field, text: String) {
    let text = text.trim().to_owned();
    if text.is_empty() {
        return;
    }
    let content = target(page);
    let list = match field {
        Field::Objective => &mut content.objectives,
        Field::KeyConcept => &mut content.key_concepts,
        Field::Example => &mut content.examples,
        Field::Mistake => &mut content.common_mistakes,
        Field::Exercise => &mut content.exercises,
    };
    list.push(text);
}

/// The block being read: its field, its text so far, and whether it is a list.
struct Open {
    field: Field,
    text: String,
    list: bool,
}

pub fn extract(text: &str) -> PageGuidelines {
    let mut page = PageGuidelines::default();
    let mut open: Option<Open> = None;
    let close = |page: &mut PageGuidelines, open: &mut Option<Open>| {
        if let Some(o) = open.take() {
            push(page, o.field, o.text);
        }
    };
    for raw in text.lines() {
        match classify(raw) {
            Line::Blank => {
                // A list goes on across blank lines; a block ends at one.
                if open.as_ref().is_some_and(|o| !o.list) {
                    close(&mut page, &mut open);
                }
            }
            Line::Chapter(title) => {
                close(&mut page, &mut open);
                page.topics.push(TopicDraft {
                    name: Some(title),
                    subtopics: Vec::new(),
                });
            }
            Line::Section(title) => {
                close(&mut page, &mut open);
                if page.topics.is_empty() {
                    page.topics.push(TopicDraft {
                        name: None,
                        subtopics: Vec::new(),
                    });
                }
                let topic = page.topics.last_mut().expect("pushed above");
                topic.subtopics.push(SubtopicDraft {
                    name: title,
                    content: Content::default(),
                });
            }
            Line::Label(field, rest) => {
                close(&mut page, &mut open);
                open = Some(Open {
                    field,
                    text: rest.to_owned(),
                    list: rest.is_empty(),
                });
            }
            Line::Item(rest) => match &mut open {
                Some(o) if o.list => {
                    push(&mut page, o.field, rest.to_owned());
                    o.text.clear();
                }
                Some(o) => {
                    o.text.push(' ');
                    o.text.push_str(rest);
                }
                None => {}
            },
            Line::Text(line) => {
                if let Some(o) = &mut open {
                    if o.list {
                        // Prose after a list ends it.
                        close(&mut page, &mut open);
                    } else {
                        o.text.push(' ');
                        o.text.push_str(line);
                    }
                }
            }
        }
    }
    close(&mut page, &mut open);
    page
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::guidelines::arbitrary;

    /// A letter whose lower case is shorter than it (the Kelvin sign is three bytes, its
    /// `k` one) cut the line off a character boundary: the page's worker panicked.
    #[test]
    fn a_label_spelled_with_a_kelvin_sign_is_read_without_panicking() {
        let page = extract("1.2 Adding\nCommon mista\u{212A}e: adding the denominators.\n");
        let content = &page.topics[0].subtopics[0].content;
        assert_eq!(content.common_mistakes, ["adding the denominators."]);
        // Letters whose lower case is longer, and labels cut short, are prose.
        assert_eq!(
            extract("\u{0130}\u{0130}\u{0130}\nCommon mista\n"),
            PageGuidelines::default()
        );
    }

    proptest! {
        /// No text panics the extractor, and what it finds is trimmed and never empty.
        #[test]
        fn no_text_panics_the_extractor(text in arbitrary::text(120)) {
            let page = extract(&text);
            let mut contents = vec![&page.continued];
            for topic in &page.topics {
                prop_assert!(topic.name.as_deref().is_none_or(|n| !n.trim().is_empty()));
                for sub in &topic.subtopics {
                    prop_assert!(!sub.name.trim().is_empty());
                    contents.push(&sub.content);
                }
            }
            for c in contents {
                for item in [&c.objectives, &c.key_concepts, &c.examples, &c.common_mistakes, &c.exercises]
                    .into_iter()
                    .flatten()
                {
                    prop_assert!(!item.is_empty() && item.trim() == item, "{item:?}");
                }
            }
        }
    }

    #[test]
    fn headings_and_labels_of_a_textbook_page() {
        let text = "Chapter 1: Understanding Fractions\n\
                    1.1 What Is a Fraction?\n\
                    A fraction names a part of a whole.\n\
                    Definition: In the fraction 3/4, the numerator is 3 and the denominator is 4.\n\
                    Example 1: A pizza is cut into 8 equal slices and Maya eats 3 of them. She ate 3/8 of\n\
                    the pizza.\n\
                    \n\
                    Fractions can also name part of a set.\n\
                    1.2 Equivalent Fractions\n\
                    Common mistake: adding the denominators.\n\
                    Exercises\n\
                    1. Shade 2/3 of a bar.\n\
                    \n\
                    2. Which is larger, 1/2 or 2/5?\n";
        let page = extract(text);
        assert!(page.continued.is_empty());
        assert_eq!(page.topics.len(), 1);
        let topic = &page.topics[0];
        assert_eq!(topic.name.as_deref(), Some("Understanding Fractions"));
        let names: Vec<&str> = topic.subtopics.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["1.1 What Is a Fraction?", "1.2 Equivalent Fractions"]
        );
        let first = &topic.subtopics[0].content;
        assert_eq!(
            first.key_concepts,
            ["In the fraction 3/4, the numerator is 3 and the denominator is 4."]
        );
        assert_eq!(
            first.examples,
            [
                "A pizza is cut into 8 equal slices and Maya eats 3 of them. She ate 3/8 of the pizza."
            ]
        );
        let second = &topic.subtopics[1].content;
        assert_eq!(second.common_mistakes, ["adding the denominators."]);
        assert_eq!(
            second.exercises,
            ["Shade 2/3 of a bar.", "Which is larger, 1/2 or 2/5?"]
        );
    }

    #[test]
    fn prose_that_looks_like_a_label_or_heading_is_prose() {
        let page = extract(
            "Examples of fractions are everywhere.\n3.5 is more than 3.\nChapters follow.\n",
        );
        assert_eq!(page, PageGuidelines::default());
    }

    #[test]
    fn a_page_without_a_heading_continues_the_page_before() {
        let page = extract(
            "Example 3: Two quarters make a half.\n2.2 Ordering\nKey idea: compare numerators.\n",
        );
        assert_eq!(page.continued.examples, ["Two quarters make a half."]);
        assert_eq!(page.topics[0].name, None);
        assert_eq!(page.topics[0].subtopics[0].name, "2.2 Ordering");
        assert_eq!(
            page.topics[0].subtopics[0].content.key_concepts,
            ["compare numerators."]
        );
    }
}
