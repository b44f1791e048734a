//! How well guidelines match a book's truth: the chapters and sections it has, with each
//! section's learning objectives and key terms (the shape of
//! `shared/data/openstax-python/truth.json`). The benchmark (`quire-bench guidelines`) and
//! the tests score with this one function, so a figure means the same in both.
//!
//! - A truth section is found by a subtopic with its number ("1.2 Input/output" for
//!   "1.2"), else with the same words in its title ("Introduction" for a chapter's
//!   introduction, which has no number). A chapter's summary section ("1.9 Chapter summary")
//!   is found by the chapter's key points, where summaries go, or by a subtopic.
//! - Section precision: the share of subtopics that found a truth section.
//! - An objective is found if one of its section's objectives has the same words, or
//!   words that overlap it by [`SIMILAR`] (OCR misreads a letter now and then).
//! - A key term is found if one of its section's key concepts holds the term's words (a
//!   plural's "s" aside): "library: A library is a collection of code …" holds "library".
//! - Examples and exercises are counted; the truth has none to compare.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Deserializer, Serialize};

use super::finalize::Name;
use super::{SIMILAR, Subtopic, Topic};

/// A book's truth: its chapters and their sections.
#[derive(Clone, Debug, Deserialize)]
pub struct Truth {
    pub chapters: Vec<TruthChapter>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TruthChapter {
    #[serde(default, deserialize_with = "number")]
    pub number: Option<String>,
    pub title: String,
    pub sections: Vec<TruthSection>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TruthSection {
    /// `None`: the chapter's introduction, before its first numbered section.
    #[serde(default, deserialize_with = "number")]
    pub number: Option<String>,
    pub title: String,
    #[serde(default)]
    pub objectives: Vec<String>,
    #[serde(default)]
    pub terms: Vec<String>,
    /// The page the section starts on.
    pub first_page: Option<i64>,
}

/// A number written as a number or a string ("1.2", 3), or null.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// `found` of `of`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ratio {
    pub found: usize,
    pub of: usize,
}

impl Ratio {
    /// The share found; 1 when there was nothing to find.
    pub fn value(self) -> f64 {
        if self.of == 0 {
            1.0
        } else {
            self.found as f64 / self.of as f64
        }
    }

    fn count(&mut self, found: bool) {
        self.of += 1;
        self.found += usize::from(found);
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} ({}/{})", self.value(), self.found, self.of)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Score {
    /// Section recall: truth sections found.
    pub sections: Ratio,
    /// Section precision: subtopics that found a truth section.
    pub precision: Ratio,
    pub objectives: Ratio,
    pub key_terms: Ratio,
    /// Chapter summaries found as the chapter's key points.
    pub summaries: Ratio,
    pub examples: usize,
    pub exercises: usize,
    /// What was not found, and the subtopics that found nothing, to say why a score is low.
    pub missed: Vec<String>,
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sections recall {}, precision {}; objectives {}; key terms {}; summaries {}; \
             {} examples, {} exercises",
            self.sections,
            self.precision,
            self.objectives,
            self.key_terms,
            self.summaries,
            self.examples,
            self.exercises
        )
    }
}

/// Lower-case words of letters and digits, a plural's "s" dropped; a term of symbols only
/// ("=") is its symbols.
fn words(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            match w.strip_suffix('s') {
                Some(stem) if stem.chars().count() >= 3 && !stem.ends_with('s') => stem.to_owned(),
                _ => w,
            }
        })
        .collect();
    if words.is_empty() {
        text.split_whitespace().map(str::to_owned).collect()
    } else {
        words
    }
}

fn holds(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (words(a), words(b));
    if a == b {
        return true;
    }
    let (a, b): (BTreeSet<_>, BTreeSet<_>) = (a.into_iter().collect(), b.into_iter().collect());
    let shared = a.intersection(&b).count();
    let union = a.len() + b.len() - shared;
    union > 0 && shared as f64 / union as f64 >= SIMILAR
}

/// A heading's number, as finalization compares numbers: "1.2 Input/output" -> "1.2".
fn number_of(name: &str) -> Option<String> {
    Name::parse(name).numbers.into_iter().next()
}

/// Whether a truth section is a chapter's summary.
fn is_summary(section: &TruthSection) -> bool {
    super::offline::is_summary(&section.title)
}

/// Scores `topics` against `truth`, for the truth sections that start in `pages` (all, if
/// `None`): a run over some of a book's pages is scored on those.
pub fn score(topics: &[Topic], truth: &Truth, pages: Option<RangeInclusive<i64>>) -> Score {
    let in_scope = |s: &TruthSection| match (&pages, s.first_page) {
        (Some(range), Some(page)) => range.contains(&page),
        _ => true,
    };
    let subtopics: Vec<(usize, &Subtopic)> = topics
        .iter()
        .enumerate()
        .flat_map(|(t, topic)| topic.subtopics.iter().map(move |s| (t, s)))
        .collect();
    let mut used = vec![false; subtopics.len()];
    let mut out = Score::default();
    for chapter in &truth.chapters {
        let sections: Vec<&TruthSection> =
            chapter.sections.iter().filter(|s| in_scope(s)).collect();
        if sections.is_empty() {
            continue;
        }
        // The chapter's topic: the same words in its name, else the one holding most of its
        // numbered sections.
        let title = Name::parse(&chapter.title).words;
        let by_name = topics
            .iter()
            .position(|t| Name::parse(&t.name).words == title);
        let by_sections = || {
            let numbers: Vec<String> = sections
                .iter()
                .filter_map(|s| s.number.as_deref().and_then(number_of))
                .collect();
            (0..topics.len())
                .map(|t| {
                    let held = subtopics
                        .iter()
                        .filter(|(i, s)| {
                            *i == t && number_of(&s.name).is_some_and(|n| numbers.contains(&n))
                        })
                        .count();
                    (held, t)
                })
                .filter(|&(held, _)| held > 0)
                .max_by_key(|&(held, t)| (held, std::cmp::Reverse(t)))
                .map(|(_, t)| t)
        };
        let topic = by_name.or_else(by_sections);
        for section in sections {
            let number = section.number.as_deref().and_then(number_of);
            let words = Name::parse(&section.title).words;
            let find = |used: &[bool], by_number: bool| {
                subtopics.iter().enumerate().position(|(k, (t, s))| {
                    !used[k]
                        && if by_number {
                            number.is_some() && number_of(&s.name) == number
                        } else {
                            topic.is_none_or(|topic| *t == topic)
                                && Name::parse(&s.name).words == words
                        }
                })
            };
            let found = find(&used, true).or_else(|| find(&used, false));
            if let Some(k) = found {
                used[k] = true;
            }
            let label = format!(
                "{} {}",
                section.number.as_deref().unwrap_or("-"),
                section.title
            );
            if is_summary(section) {
                let points = topic.is_some_and(|t| !topics[t].key_points.is_empty());
                out.summaries.count(points);
                out.sections.count(points || found.is_some());
                if !points && found.is_none() {
                    out.missed.push(format!("summary {label}"));
                }
                continue;
            }
            out.sections.count(found.is_some());
            let content = found.map(|k| &subtopics[k].1.content);
            if content.is_none() {
                out.missed.push(format!("section {label}"));
            }
            for objective in &section.objectives {
                let hit =
                    content.is_some_and(|c| c.objectives.iter().any(|o| same_text(o, objective)));
                out.objectives.count(hit);
                if !hit {
                    out.missed
                        .push(format!("objective of {label}: {objective}"));
                }
            }
            for term in &section.terms {
                let term_words = words_of(term);
                let hit = content.is_some_and(|c| {
                    c.key_concepts
                        .iter()
                        .any(|k| holds(&words_of(k), &term_words))
                });
                out.key_terms.count(hit);
                if !hit {
                    out.missed.push(format!("term of {label}: {term}"));
                }
            }
        }
    }
    for (k, (_, sub)) in subtopics.iter().enumerate() {
        out.precision.count(used[k]);
        if !used[k] {
            out.missed
                .push(format!("subtopic not in the truth: {}", sub.name));
        }
        out.examples += sub.content.examples.len();
        out.exercises += sub.content.exercises.len();
    }
    out
}

fn words_of(text: &str) -> Vec<String> {
    words(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guidelines::Content;

    fn sub(name: &str, objectives: &[&str], key_concepts: &[&str]) -> Subtopic {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Subtopic {
            name: name.into(),
            content: Content {
                objectives: owned(objectives),
                key_concepts: owned(key_concepts),
                examples: vec!["e".into()],
                ..Content::default()
            },
            pages: vec![1],
        }
    }

    fn truth() -> Truth {
        serde_json::from_value(serde_json::json!({ "chapters": [
            { "number": 1, "title": "Fractions", "sections": [
                { "number": null, "title": "Introduction", "terms": ["fraction"], "first_page": 1 },
                { "number": "1.1", "title": "Halves", "first_page": 1,
                  "objectives": ["Halve a shape.", "Halve a number of counters laid out in two equal rows."],
                  "terms": ["half", "whole", "="] },
                { "number": "1.2", "title": "Quarters", "first_page": 2, "objectives": [], "terms": [] },
                { "number": "1.3", "title": "Chapter summary", "first_page": 3 },
            ]},
            { "number": 2, "title": "Decimals", "sections": [
                { "number": "2.1", "title": "Tenths", "first_page": 9, "terms": ["tenth"] },
            ]},
        ]}))
        .unwrap()
    }

    /// Sections by number, else by title; objectives by their words (a misread letter
    /// allowed); terms held by a key concept of their own section; a summary by the
    /// chapter's key points; truth past the pages scored left out.
    #[test]
    fn sections_objectives_terms_and_summaries_are_matched() {
        let topics = vec![Topic {
            name: "Fractions".into(),
            subtopics: vec![
                sub(
                    "Introduction",
                    &[],
                    &["fractions: Fractions are parts of a whole."],
                ),
                sub(
                    "1.1 Halving",
                    &[
                        "Halve a shape.",
                        "Halve a numbr of counters laid out in two equal rows.",
                    ],
                    &[
                        "half: A half is one of two equal parts.",
                        "whole: the parts together",
                    ],
                ),
                sub("Quarters", &[], &[]),
                sub("1.4 Stray", &[], &["half: not the section's"]),
            ],
            pages: vec![1, 2, 3],
            key_points: vec!["Halves are equal.".into()],
        }];
        let s = score(&topics, &truth(), Some(1..=8));
        assert_eq!(s.sections, Ratio { found: 4, of: 4 }, "{:?}", s.missed);
        assert_eq!(s.precision, Ratio { found: 3, of: 4 });
        assert_eq!(s.objectives, Ratio { found: 2, of: 2 });
        // "=" is not in 1.1's key concepts; "fraction" is held by "fractions".
        assert_eq!(s.key_terms, Ratio { found: 3, of: 4 }, "{:?}", s.missed);
        assert_eq!(s.summaries, Ratio { found: 1, of: 1 });
        assert_eq!(s.examples, 4);
        assert!(
            s.missed.contains(&"term of 1.1 Halves: =".to_owned()),
            "{:?}",
            s.missed
        );
        assert!(
            s.missed
                .contains(&"subtopic not in the truth: 1.4 Stray".to_owned())
        );

        // Without key points the summary is missed; over all pages, so is chapter 2.
        let mut without = topics.clone();
        without[0].key_points.clear();
        let s = score(&without, &truth(), None);
        assert_eq!(s.summaries, Ratio { found: 0, of: 1 });
        assert_eq!(s.sections, Ratio { found: 3, of: 5 });
        assert_eq!(s.key_terms.of, 5);
        assert!((s.sections.value() - 0.6).abs() < 1e-9);
        assert_eq!(Ratio::default().value(), 1.0);
    }

    #[test]
    fn truth_numbers_may_be_numbers_strings_or_null() {
        let t = truth();
        assert_eq!(t.chapters[0].number.as_deref(), Some("1"));
        assert_eq!(t.chapters[0].sections[0].number, None);
        assert_eq!(t.chapters[0].sections[1].number.as_deref(), Some("1.1"));
    }
}
