//! Text for property tests: arbitrary Unicode, weighted towards what breaks text code that
//! counts bytes (letters whose lower case has another length, combining marks, characters
//! XML forbids, line and paragraph separators) and towards what the extractor and the
//! finalizer look for (labels, headings, numbers).

use proptest::prelude::*;

use super::{Content, Subtopic, Topic};

/// Characters that have broken, or could break, byte arithmetic, XML or Markdown.
const TRICKY: &[&str] = &[
    "\u{212A}", // Kelvin sign: lower case `k`, three bytes to one
    "\u{0130}", // İ: lower case is two characters
    "\u{1E9E}", // ẞ: upper case of ß
    "\u{00DF}",
    "\u{FB03}", // ﬃ: upper case is three letters
    "\u{0301}", // combining acute accent
    "\u{0}",
    "\u{1}",
    "\u{8}",
    "\u{B}",
    "\u{C}",
    "\u{1B}",
    "\u{7F}",
    "\u{85}",
    "\u{9F}",
    "\u{D7FF}",
    "\u{E000}",
    "\u{FDD0}",
    "\u{FEFF}",
    "\u{FFFD}",
    "\u{FFFE}",
    "\u{FFFF}",
    "\u{1FFFF}",
    "\u{10FFFF}",
    "\u{1F600}",
    "\u{2028}",
    "\u{2029}",
    "\r",
    "\r\n",
    "\n",
    "\n\n",
    "\t",
    " ",
    "<",
    ">",
    "&",
    "\"",
    "'",
    "]]>",
    "*",
    "_",
    "`",
    "#",
    "[",
    "\\",
    "|",
    "- ",
    ":",
    ".",
    "1.",
    "2.1 ",
    "10.12. ",
    "3) ",
    "\u{2022} ",
    "\u{2013}",
    "Chapter ",
    "CHAPTER 4: ",
    "Unit IV ",
    "Part ",
    "Section ",
    "Example 2: ",
    "Common mista\u{212A}e: ",
    "Key İdea: ",
    "Definition:",
    "Exercises\n",
    "Objectives",
    "Learning objective ",
    "Watch out",
];

/// A piece of text: a tricky string, any character, or a few plain words.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(TRICKY).prop_map(str::to_owned),
        3 => any::<char>().prop_map(String::from),
        2 => "[A-Za-z0-9 ]{1,12}",
    ]
}

/// Arbitrary text of up to `max` pieces.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..max).prop_map(|pieces| pieces.concat())
}

fn list() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(8), 0..3)
}

fn content() -> impl Strategy<Value = Content> {
    (list(), list(), list(), list(), list()).prop_map(
        |(objectives, key_concepts, examples, common_mistakes, exercises)| Content {
            objectives,
            key_concepts,
            examples,
            common_mistakes,
            exercises,
        },
    )
}

fn pages() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(prop_oneof![1..20i64, any::<i64>()], 0..4)
}

fn subtopic() -> impl Strategy<Value = Subtopic> {
    (text(8), content(), pages()).prop_map(|(name, content, pages)| Subtopic {
        name,
        content,
        pages,
    })
}

/// Arbitrary topics: any names, any content, any page numbers (unsorted, repeated, negative).
pub fn topics() -> impl Strategy<Value = Vec<Topic>> {
    let subtopics = prop::collection::vec(subtopic(), 0..5);
    let topic =
        (text(8), subtopics, pages(), list()).prop_map(|(name, subtopics, pages, key_points)| {
            Topic {
                name,
                subtopics,
                pages,
                key_points,
            }
        });
    prop::collection::vec(topic, 0..6)
}
