//! The offline extractor: deterministic rules over a page's text, no network and no model.
//!
//! It recognizes what textbooks print to structure themselves (the rules, each with an
//! example, are tabled in docs/guidelines-rules.md): chapter headings ("Chapter 2: Adding
//! Fractions", "Unit 3 …"), section headings ("2.1 Like Denominators", "Lesson 4:
//! Ratios"), labelled blocks ("Definition:", "Example 2:", "Key idea:", "Learning
//! objectives", "Try it", "Key terms", "Chapter summary"), objectives' lead-ins ("By the end
//! of this section you should be able to"), and in prose the sentences that define a term
//! ("A library is a collection of …") or give an example ("Ex: …", "For example, …").
//!
//! A labelled block runs until a blank line, a heading or the next label; a label alone on
//! its line starts a list, one entry a numbered or bulleted line (a line wrapped by OCR
//! joined to it), and prose after the list ends it. A list still open at the page's end is
//! recorded, so the next page's leading items continue it. A chapter's summary becomes the
//! topic's key points, and what comes before a chapter's first section its "Introduction".

mod prose;

use async_trait::async_trait;
use quire_actors::ItemError;

use super::{Content, Extractor, ListOf, PageGuidelines, SubtopicDraft, TopicDraft};

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
    /// A list of terms ("Key terms", "Glossary"): key concepts, an inline list split.
    Terms,
    Example,
    Mistake,
    Exercise,
    /// A chapter's summary: the topic's key points.
    KeyPoint,
}

impl Field {
    fn list(self) -> ListOf {
        match self {
            Field::Objective => ListOf::Objectives,
            Field::KeyConcept | Field::Terms => ListOf::KeyConcepts,
            Field::Example => ListOf::Examples,
            Field::Mistake => ListOf::CommonMistakes,
            Field::Exercise => ListOf::Exercises,
            Field::KeyPoint => ListOf::KeyPoints,
        }
    }
}

/// Labels, longest first where one starts another.
const LABELS: &[(&str, Field)] = &[
    ("learning objectives", Field::Objective),
    ("learning objective", Field::Objective),
    ("learning outcomes", Field::Objective),
    ("learning outcome", Field::Objective),
    ("learning goals", Field::Objective),
    ("learning targets", Field::Objective),
    ("lesson objectives", Field::Objective),
    ("lesson goals", Field::Objective),
    ("objectives", Field::Objective),
    ("objective", Field::Objective),
    ("outcomes", Field::Objective),
    ("goals", Field::Objective),
    ("what you will learn", Field::Objective),
    ("you will learn", Field::Objective),
    ("definition", Field::KeyConcept),
    ("key ideas", Field::KeyConcept),
    ("key idea", Field::KeyConcept),
    ("key points", Field::KeyConcept),
    ("key point", Field::KeyConcept),
    ("key concepts", Field::KeyConcept),
    ("key concept", Field::KeyConcept),
    ("section summary", Field::KeyConcept),
    ("lesson summary", Field::KeyConcept),
    ("remember", Field::KeyConcept),
    ("key terms", Field::Terms),
    ("key term", Field::Terms),
    ("key vocabulary", Field::Terms),
    ("vocabulary", Field::Terms),
    ("glossary", Field::Terms),
    ("terms to know", Field::Terms),
    ("new terms", Field::Terms),
    ("key words", Field::Terms),
    ("worked examples", Field::Example),
    ("worked example", Field::Example),
    ("examples", Field::Example),
    ("example", Field::Example),
    ("common mistakes", Field::Mistake),
    ("common mistake", Field::Mistake),
    ("watch out", Field::Mistake),
    ("review exercises", Field::Exercise),
    ("review questions", Field::Exercise),
    ("review problems", Field::Exercise),
    ("exercises", Field::Exercise),
    ("exercise", Field::Exercise),
    ("concepts in practice", Field::Exercise),
    ("check your understanding", Field::Exercise),
    ("check your progress", Field::Exercise),
    ("practice problems", Field::Exercise),
    ("practice questions", Field::Exercise),
    ("practice exercises", Field::Exercise),
    ("practice", Field::Exercise),
    ("try it yourself", Field::Exercise),
    ("try it", Field::Exercise),
    ("try this", Field::Exercise),
    ("your turn", Field::Exercise),
    ("self-check", Field::Exercise),
    ("self check", Field::Exercise),
    ("quick check", Field::Exercise),
    ("checkpoint", Field::Exercise),
    ("activity", Field::Exercise),
    ("questions", Field::Exercise),
    ("problems", Field::Exercise),
    ("chapter summary", Field::KeyPoint),
    ("chapter review", Field::KeyPoint),
    ("unit summary", Field::KeyPoint),
    ("unit review", Field::KeyPoint),
    ("key takeaways", Field::KeyPoint),
    ("takeaways", Field::KeyPoint),
    ("summary", Field::KeyPoint),
];

/// How a chapter's objectives are introduced without a heading: "By the end of this
/// section you should be able to", "After reading this section, you can".
const LEAD_INS: &[&str] = &[
    "by the end of this",
    "by the end of the",
    "at the end of this",
    "after reading this",
    "after completing this",
    "after studying this",
    "after working through this",
    "upon completing this",
    "upon completion of this",
    "on completion of this",
    "when you have finished this",
    "when you have completed this",
    "in this section you will",
    "in this section, you will",
    "in this lesson you will",
    "in this lesson, you will",
    "in this chapter you will",
    "in this chapter, you will",
    "in this unit you will",
    "in this unit, you will",
    "you will be able to",
    "you should be able to",
    "students will be able to",
    "learners will be able to",
];

/// Bullets as printed, and as OCR reads a round bullet ("¢", "«", "©", "°").
const BULLETS: &[char] = &[
    '\u{2022}', '\u{25E6}', '\u{25AA}', '\u{25A0}', '\u{25A1}', '\u{25CF}', '\u{25CB}', '\u{2023}',
    '\u{2043}', '-', '*', '\u{2013}', '\u{2014}', '\u{00A2}', '\u{00AB}', '\u{00BB}', '\u{00A9}',
    '\u{00AE}', '\u{00B0}', '\u{00B7}', '\u{2713}', '\u{2714}', '\u{27A2}', '\u{25BA}', '\u{25B6}',
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    Bullet,
    /// "1.", "2)", "(3)"
    Number,
    /// "a.", "b)", "(c)": under a numbered item, its options.
    Letter,
}

enum Line<'a> {
    Blank,
    Chapter(String),
    /// A section heading, number and title.
    Section(String),
    /// A label with the text after it (empty: a list follows).
    Label(Field, &'a str),
    /// An objectives' lead-in, with any text after its colon.
    LeadIn(&'a str),
    /// A numbered or bulleted line, without its marker.
    Item(Marker, &'a str),
    /// A table's caption or row ("Table 2: …", "a | b").
    Table(&'a str),
    Text(&'a str),
}

/// Whether a heading's title is a summary's ("Chapter summary", "Key takeaways").
pub(super) fn is_summary(title: &str) -> bool {
    let title = title.trim().trim_end_matches([':', '.']);
    LABELS
        .iter()
        .any(|(name, field)| *field == Field::KeyPoint && title.eq_ignore_ascii_case(name))
}

fn classify(line: &str, in_list: bool) -> Line<'_> {
    let line = line.trim();
    if line.is_empty() {
        return Line::Blank;
    }
    if let Some(title) = chapter(line) {
        if is_summary(&title) {
            return Line::Label(Field::KeyPoint, "");
        }
        return Line::Chapter(title);
    }
    if let Some((number, title)) = section(line) {
        if is_summary(title) {
            return Line::Label(Field::KeyPoint, "");
        }
        return Line::Section(format!("{number} {title}"));
    }
    if let Some((field, rest)) = label(line) {
        return Line::Label(field, rest);
    }
    // A summary's heading whose number OCR broke ("2.9" read as ".9").
    if is_summary(line.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')) {
        return Line::Label(Field::KeyPoint, "");
    }
    if let Some(rest) = lead_in(line) {
        return Line::LeadIn(rest);
    }
    if let Some(caption) = table(line) {
        // "Table 3: Examples of …" captions an example.
        if example_caption(caption) {
            return Line::Label(Field::Example, line);
        }
        return Line::Table(line);
    }
    if let Some((marker, rest)) = list_item(line, in_list) {
        return Line::Item(marker, rest);
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

/// A heading's title: short, starting with a capital (or a digit), not a sentence's end.
fn heading_title(title: &str) -> bool {
    title
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
        && title.chars().any(char::is_alphabetic)
        && title.split_whitespace().count() <= 12
        && title.chars().count() <= 100
}

/// "Chapter 1: Understanding Fractions" -> "Understanding Fractions".
fn chapter(line: &str) -> Option<String> {
    let rest = ["chapter ", "unit ", "part ", "module "]
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
    if line.chars().count() > 120 || !(title.is_empty() || heading_title(title)) {
        return None;
    }
    Some(if title.is_empty() {
        line.to_owned()
    } else {
        title.to_owned()
    })
}

/// "1.1  What Is a Fraction?" -> ("1.1", "What Is a Fraction?"): a dotted number, then a
/// short title starting with a capital; or "Lesson 3: Ratios", "Section 2 Review" (the
/// word and number are the number). The number stays in the name: it is what tells "2.1
/// Practice" from "2.3 Practice" when pages are joined and finalized.
fn section(line: &str) -> Option<(&str, &str)> {
    let number_len = line.find(char::is_whitespace)?;
    let number = &line[..number_len];
    let dotted = |n: &str| {
        let parts: Vec<&str> = n.trim_end_matches('.').split('.').collect();
        parts.len() >= 2
            && parts
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
    };
    if dotted(number) {
        let title = line[number_len..].trim();
        return heading_title(title).then_some((number, title));
    }
    // "Lesson 3", "Section 2.4": a numbering word, a number, then the title.
    let word = ["lesson", "section"]
        .into_iter()
        .find(|w| number.eq_ignore_ascii_case(w))?;
    let rest = line[word.len()..].trim_start();
    let n_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let n = rest[..n_len].trim_end_matches('.');
    if n.is_empty() || !n.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let title = rest[n_len..]
        .trim_start_matches([':', '.', '-', '\u{2013}', '\u{2014}', ' '])
        .trim();
    let heading = &line[..line.len() - rest.len() + n.len()];
    (title.is_empty() || heading_title(title)).then_some((heading, title))
}

/// "Example 1: A pizza …" -> (Example, "A pizza …"); "Exercises" -> (Exercise, "").
fn label(line: &str) -> Option<(Field, &str)> {
    for &(name, field) in LABELS {
        let Some(rest) = strip_prefix_lowercase(line, name) else {
            continue;
        };
        // An optional number ("Example 2", "Exercise 3a", "Try it 1.4").
        let mut rest = rest.trim_start();
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .unwrap_or(rest.len());
            let number = rest[..number_len].trim_end_matches('.');
            rest = &rest[number.len()..];
        }
        let rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix([':', '.', '\u{2014}', '\u{2013}', '-', '!']) {
            return Some((field, after.trim()));
        }
        if rest.is_empty() {
            return Some((field, ""));
        }
        // "Examples of fractions are …" is prose, not a label.
    }
    None
}

/// "By the end of this section, you will be able to:" -> the text after its colon.
fn lead_in(line: &str) -> Option<&str> {
    LEAD_INS
        .iter()
        .find_map(|l| strip_prefix_lowercase(line, l))?;
    if line.split_whitespace().count() > 30 {
        return None;
    }
    Some(line.split_once(':').map_or("", |(_, after)| after.trim()))
}

/// Whether a paragraph read before a list's first item only introduces it ("… you should
/// be able to", "… including:").
fn introduces(text: &str) -> bool {
    let t = text.trim_end().to_lowercase();
    t.ends_with(':')
        || lead_in(text).is_some()
        || ["able to", "you can", "you will", "following"]
            .iter()
            .any(|end| t.trim_end_matches(['.', ' ']).ends_with(end))
}

/// A table's row ("Code | Output") or caption ("Table 2: Example uses …" -> the caption).
fn table(line: &str) -> Option<&str> {
    if let Some(rest) = strip_prefix_lowercase(line, "table") {
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ' ');
        if let Some(caption) = rest.strip_prefix(':') {
            return Some(caption.trim());
        }
    }
    (line.contains(" | ") || line.ends_with(" |") || line.starts_with("| ")).then_some("")
}

/// Whether a table's caption says it holds examples.
fn example_caption(caption: &str) -> bool {
    ["examples ", "example "]
        .iter()
        .any(|w| strip_prefix_lowercase(caption, w).is_some())
}

/// The text after a marker, which a space must follow.
fn spaced(rest: &str) -> Option<&str> {
    rest.starts_with(' ').then(|| rest.trim())
}

/// "1. Add 1/4 + 2/4.", "• Add …" or "a) 3/4" -> the marker and the text after it. In a
/// list, a lone "e" or "o" before a capital is a bullet as OCR reads it.
fn list_item(line: &str, in_list: bool) -> Option<(Marker, &str)> {
    let mut chars = line.chars();
    let first = chars.next()?;
    let rest = chars.as_str();
    if BULLETS.contains(&first) {
        return spaced(rest).map(|r| (Marker::Bullet, r));
    }
    if in_list
        && matches!(first, 'e' | 'o')
        && let Some(r) = spaced(rest).filter(|r| r.starts_with(char::is_uppercase))
    {
        return Some((Marker::Bullet, r));
    }
    let (inner, bracketed) = match line.strip_prefix('(') {
        Some(inner) => (inner, true),
        None => (line, false),
    };
    let closes: &[char] = if bracketed { &[')'] } else { &['.', ')'] };
    let digits = inner.find(|c: char| !c.is_ascii_digit())?;
    if (1..=3).contains(&digits) {
        let rest = inner[digits..].strip_prefix(closes)?;
        return spaced(rest).map(|r| (Marker::Number, r));
    }
    let mut chars = inner.chars();
    chars.next().filter(|c| ('a'..='h').contains(c))?;
    let rest = chars.as_str().strip_prefix(closes)?;
    spaced(rest).map(|r| (Marker::Letter, r))
}

/// Whether a line is a glossary's entry: a term of a few words, a dash or a colon, its
/// definition.
fn glossary_entry(line: &str) -> bool {
    [" \u{2014} ", " \u{2013} ", " - ", ": "].iter().any(|sep| {
        line.split_once(sep).is_some_and(|(term, definition)| {
            let words = term.split_whitespace().count();
            (1..=4).contains(&words) && !definition.trim().is_empty()
        })
    })
}

/// Whether text ends a sentence (so a line after a blank does not continue it).
fn ends_sentence(text: &str) -> bool {
    text.trim_end()
        .ends_with(['.', '?', '!', ':', ';', '"', '\u{201D}', ')'])
}

/// Appends an OCR line to what it continues: a space between, none after a hyphen that
/// breaks a word ("floating-" "point").
fn join(text: &mut String, line: &str) {
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    let mut before = text.chars().rev();
    let hyphenated = before.next() == Some('-')
        && before.next().is_some_and(char::is_alphabetic)
        && line.starts_with(char::is_lowercase);
    if !text.is_empty() && !hyphenated {
        text.push(' ');
    }
    text.push_str(line);
}

/// The block being read.
struct Open {
    field: Field,
    /// A block's text; in a list, the current item's, or before the first item the
    /// paragraph that introduces it.
    text: String,
    list: bool,
    /// The current item's marker; `None` before the first item.
    item: Option<Marker>,
    /// Entries pushed so far.
    entries: usize,
    /// A blank line since the block's last line.
    blank: bool,
}

/// One page being read.
#[derive(Default)]
struct Reader {
    page: PageGuidelines,
    open: Option<Open>,
    /// The prose paragraph being read.
    para: String,
    /// Nothing but list items (and blank lines) read yet on the page.
    at_top: bool,
    /// A blank line since the last line.
    blank: bool,
}

impl Reader {
    /// The page's current topic; one that continues the page before when the page has none.
    fn open_topic(&mut self) -> &mut TopicDraft {
        if self.page.topics.is_empty() {
            self.page.topics.push(TopicDraft {
                name: None,
                subtopics: Vec::new(),
                key_points: Vec::new(),
            });
        }
        self.page.topics.last_mut().expect("pushed above")
    }

    /// The content a page's lines go to now: the last subtopic, or what continues the page
    /// before. Content under a chapter heading before its first section is the chapter's
    /// "Introduction".
    fn target(&mut self) -> &mut Content {
        let intro = self
            .page
            .topics
            .last()
            .is_some_and(|t| t.subtopics.is_empty() && t.name.is_some());
        if intro {
            let topic = self.page.topics.last_mut().expect("checked above");
            topic.subtopics.push(SubtopicDraft {
                name: "Introduction".to_owned(),
                content: Content::default(),
            });
        }
        match self
            .page
            .topics
            .last_mut()
            .and_then(|t| t.subtopics.last_mut())
        {
            Some(sub) => &mut sub.content,
            None => &mut self.page.continued,
        }
    }

    fn push(&mut self, field: Field, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if field == Field::KeyPoint {
            self.open_topic().key_points.push(text.to_owned());
            return;
        }
        let list = self
            .target()
            .list_mut(field.list())
            .expect("a subtopic's list");
        list.push(text.to_owned());
    }

    /// A block's or a paragraph's text as entries: a summary's sentence by sentence, an
    /// inline list of terms term by term.
    fn push_text(&mut self, field: Field, text: &str) {
        match field {
            Field::KeyPoint => {
                for s in prose::sentences(text) {
                    self.push(field, s);
                }
            }
            Field::Terms => {
                let parts: Vec<&str> = text.split([',', ';']).map(str::trim).collect();
                let short = parts.iter().all(|p| p.split_whitespace().count() <= 4);
                if parts.len() > 1 && short {
                    for p in parts {
                        self.push(field, p.trim_end_matches('.'));
                    }
                } else {
                    self.push(field, text);
                }
            }
            _ => self.push(field, text),
        }
    }

    /// The prose paragraph read so far: its definitions and examples.
    fn flush_prose(&mut self) {
        let para = std::mem::take(&mut self.para);
        for sentence in prose::sentences(&para) {
            if let Some(example) = prose::example(sentence) {
                self.push(Field::Example, example);
            } else if let Some(term) = prose::definition(sentence) {
                self.push(Field::KeyConcept, &format!("{term}: {sentence}"));
            }
        }
    }

    /// A list's introducing paragraph, once read: dropped if it only introduces, else
    /// the list's first entry.
    fn settle(&mut self) {
        let Some(o) = self.open.as_mut() else { return };
        if !o.list || o.item.is_some() || o.text.is_empty() {
            return;
        }
        let (field, text) = (o.field, std::mem::take(&mut o.text));
        if !introduces(&text) {
            o.entries += 1;
            self.push_text(field, &text);
        }
    }

    fn close(&mut self) {
        self.settle();
        match self.open.take() {
            // A list's last item, whole.
            Some(o) if o.item.is_some() => self.push(o.field, &o.text),
            Some(o) => self.push_text(o.field, &o.text),
            None => {}
        }
    }

    fn open(&mut self, field: Field, text: &str) {
        self.close();
        self.open = Some(Open {
            field,
            text: text.to_owned(),
            list: text.is_empty(),
            item: None,
            entries: 0,
            blank: false,
        });
    }

    /// A line of prose, outside any block.
    fn prose(&mut self, line: &str) {
        join(&mut self.para, line);
    }

    fn line(&mut self, raw: &str) {
        let in_list = self.open.as_ref().is_some_and(|o| o.list);
        let line = classify(raw, in_list);
        let blank = std::mem::replace(&mut self.blank, matches!(line, Line::Blank));
        let top = self.at_top;
        if !matches!(line, Line::Blank | Line::Item(..)) {
            // A leading item's wrapped line keeps the page's top.
            let wraps =
                matches!(line, Line::Text(_)) && !blank && !self.page.leading_items.is_empty();
            self.at_top &= wraps;
        }
        match line {
            Line::Blank => {
                self.flush_prose();
                self.settle();
                if let Some(o) = self.open.as_mut() {
                    o.blank = true;
                }
            }
            Line::Chapter(title) => {
                self.flush_prose();
                self.close();
                self.page.topics.push(TopicDraft {
                    name: Some(title),
                    subtopics: Vec::new(),
                    key_points: Vec::new(),
                });
            }
            Line::Section(name) => {
                self.flush_prose();
                self.close();
                self.open_topic().subtopics.push(SubtopicDraft {
                    name,
                    content: Content::default(),
                });
            }
            Line::Label(field, rest) => {
                self.flush_prose();
                self.open(field, rest);
            }
            Line::LeadIn(rest) => {
                self.flush_prose();
                // The lead-in under an objectives heading is part of it.
                let under_heading = self.open.as_ref().is_some_and(|o| {
                    o.field == Field::Objective && o.list && o.item.is_none() && o.entries == 0
                });
                if !under_heading {
                    self.open(Field::Objective, "");
                }
                if let Some(o) = self.open.as_mut() {
                    o.text.clear();
                    o.blank = false;
                }
                if !rest.is_empty() {
                    self.push(Field::Objective, rest);
                }
            }
            Line::Item(marker, rest) => self.item(marker, rest, raw, top),
            Line::Table(row) => match self.open.as_mut() {
                Some(o) if o.field == Field::Example && !o.list => {
                    o.text.push('\n');
                    o.text.push_str(row);
                    o.blank = false;
                }
                _ => {
                    self.flush_prose();
                    self.close();
                }
            },
            Line::Text(text) => self.text(text, top, blank),
        }
    }

    fn item(&mut self, marker: Marker, rest: &str, raw: &str, top: bool) {
        match self.open.as_mut() {
            Some(o) if o.list => {
                if o.item == Some(Marker::Number) && marker == Marker::Letter {
                    // A question's options stay with it.
                    join(&mut o.text, raw);
                } else {
                    self.settle();
                    let o = self.open.as_mut().expect("open above");
                    let done = std::mem::replace(&mut o.text, rest.to_owned());
                    let field = o.field;
                    if o.item.is_some() {
                        o.entries += 1;
                        self.push(field, &done);
                    }
                    self.open.as_mut().expect("open above").item = Some(marker);
                }
                let o = self.open.as_mut().expect("open above");
                o.blank = false;
                return;
            }
            Some(o) if !o.blank => {
                join(&mut o.text, rest);
                return;
            }
            _ => {}
        }
        self.flush_prose();
        self.close();
        if top {
            self.page.leading_items.push(rest.to_owned());
        }
        // Outside a list a bulleted line is prose of its own.
        self.prose(rest);
    }

    fn text(&mut self, text: &str, top: bool, blank: bool) {
        // A glossary's entries need no bullets: "gust \u{2014} a short burst of wind".
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.list && o.field == Field::Terms && glossary_entry(text))
        {
            return self.item(Marker::Bullet, text, text, false);
        }
        if let Some(o) = self.open.as_mut() {
            let continues_item = o.item.is_some()
                && (!o.blank || (!ends_sentence(&o.text) && text.starts_with(char::is_lowercase)));
            if o.list && continues_item {
                join(&mut o.text, text);
                o.blank = false;
                return;
            }
            if o.list && o.item.is_none() && o.entries == 0 {
                // What introduces the list, or a practice block's own text.
                join(&mut o.text, text);
                o.blank = false;
                return;
            }
            if !o.list && !o.blank {
                join(&mut o.text, text);
                return;
            }
            // Prose after a list, or after a block and a blank line, ends it.
            self.close();
        }
        if top
            && !blank
            && let Some(last) = self.page.leading_items.last_mut()
        {
            join(last, text);
        }
        self.prose(text);
    }
}

pub fn extract(text: &str) -> PageGuidelines {
    let mut reader = Reader {
        at_top: true,
        ..Reader::default()
    };
    for raw in text.lines() {
        reader.line(raw);
    }
    reader.flush_prose();
    reader.page.ends_in_list = reader
        .open
        .as_ref()
        .filter(|o| o.list)
        .map(|o| o.field.list());
    reader.close();
    reader.page
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
            "Examples of fractions are everywhere.\n3.5 is more than 3.\nChapters follow.\n\
             0.1000000000000000055 0.2000000000000000111\n1.5 2.5\n",
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

    /// A real textbook's conventions: a chapter introduction, an objectives heading with
    /// its lead-in and OCR's bullets (a wrapped item joined), terms defined in prose, an
    /// inline example, a table captioned as examples, and a summary.
    #[test]
    fn objectives_terms_examples_and_a_summary_in_prose() {
        let text = "Chapter 4 Loops\n\n\
                    Programs repeat work. An iteration is one pass through a loop body.\n\n\
                    4.1 While loops\n\n\
                    Learning Outcomes\n\
                    After reading this section, you can\n\n\
                    \u{a2} Write a loop that stops at a\n\
                    condition.\n\
                    * Trace a loop by hand.\n\n\
                    Counting\n\n\
                    A counter is a variable that counts passes. The check before each pass is\n\
                    called a loop condition. Ex: n < 10 stops at ten.\n\n\
                    Table 2: Examples of conditions.\n\
                    Condition | Stops\n\
                    n < 3 | after three\n\n\
                    4.2 Summary\n\
                    This chapter covered:\n\n\
                    * While loops.\n\
                    * Counters. Ex: n += 1.\n\n\
                    Now try the project below.\n";
        let page = extract(text);
        let topic = &page.topics[0];
        assert_eq!(topic.name.as_deref(), Some("Loops"));
        let names: Vec<&str> = topic.subtopics.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Introduction", "4.1 While loops"]);
        assert_eq!(
            topic.subtopics[0].content.key_concepts,
            ["iteration: An iteration is one pass through a loop body."]
        );
        let loops = &topic.subtopics[1].content;
        assert_eq!(
            loops.objectives,
            [
                "Write a loop that stops at a condition.",
                "Trace a loop by hand."
            ]
        );
        assert_eq!(
            loops.key_concepts,
            [
                "counter: A counter is a variable that counts passes.",
                "loop condition: The check before each pass is called a loop condition."
            ]
        );
        assert_eq!(
            loops.examples,
            [
                "n < 10 stops at ten.",
                "Table 2: Examples of conditions.\nCondition | Stops\nn < 3 | after three"
            ]
        );
        assert_eq!(topic.key_points, ["While loops.", "Counters. Ex: n += 1."]);
        assert_eq!(page.ends_in_list, None);
    }

    /// "Lesson 3" sections, "Goals", "Key terms", "Try it" and "Concepts in Practice"
    /// with a question's options; a list open at the page's end is recorded, and the next
    /// page's leading items kept for it.
    #[test]
    fn lessons_goals_terms_and_practice() {
        let page = extract(
            "Unit 2: Ratios\nLesson 3: Comparing Ratios\nKey terms: ratio, rate; unit rate\n\n\
             Try it\nCompare 2:3 and 4:5.\n\n\
             Concepts in Practice\n1. Which is larger?\na. 2:3\nb. 4:5\n2. Why?\n\n\
             Goals\nBy the end of this lesson you will be able to:\n1. Compare two ratios.\n",
        );
        let topic = &page.topics[0];
        assert_eq!(topic.name.as_deref(), Some("Ratios"));
        assert_eq!(topic.subtopics[0].name, "Lesson 3 Comparing Ratios");
        let c = &topic.subtopics[0].content;
        assert_eq!(c.key_concepts, ["ratio", "rate", "unit rate"]);
        assert_eq!(
            c.exercises,
            [
                "Compare 2:3 and 4:5.",
                "Which is larger? a. 2:3 b. 4:5",
                "Why?"
            ]
        );
        assert_eq!(c.objectives, ["Compare two ratios."]);
        assert_eq!(page.ends_in_list, Some(ListOf::Objectives));

        let next = extract("\u{2022} Explain a unit rate.\n\nRates are everywhere.\n");
        assert_eq!(next.leading_items, ["Explain a unit rate."]);
        assert!(next.continued.is_empty() && next.topics.is_empty());
    }
}
