//! Finalization: the draft's topics and subtopics merged and deduplicated across pages.
//!
//! Topics with the same normalized name merge (a chapter heading printed atop every page is
//! one topic). Within a topic, subtopics merge when their normalized names are equal or
//! their words overlap enough (Jaccard similarity at or above [`SIMILAR`]); candidates are
//! found through an index of words, so the pass stays near linear in the subtopics. Merged
//! content keeps its first order, without repeats; pages are unioned; everything is
//! ordered by first page.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{Content, Subtopic, Topic};

/// Word overlap at which two subtopic names are the same subtopic.
pub const SIMILAR: f64 = 0.8;

/// Lower case, letters and digits only, single spaces, a leading number ("1.2") dropped.
pub fn normalize(name: &str) -> String {
    let words: Vec<String> = name
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let skip = usize::from(
        words
            .first()
            .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit())),
    );
    words[skip..].join(" ")
}

fn words(normalized: &str) -> BTreeSet<&str> {
    normalized.split(' ').filter(|w| w.len() > 2).collect()
}

fn jaccard(a: &BTreeSet<&str>, b: &BTreeSet<&str>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count();
    shared as f64 / (a.len() + b.len() - shared) as f64
}

/// A topic's name without its numbering and stray punctuation.
fn refine(name: &str) -> String {
    let trimmed = name
        .trim()
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .trim_end_matches([':', '-', '.', ' ']);
    if trimmed.is_empty() {
        name.trim().to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn merge_list(into: &mut Vec<String>, from: Vec<String>) {
    for item in from {
        if !into.contains(&item) {
            into.push(item);
        }
    }
}

fn merge_content(into: &mut Content, from: Content) {
    merge_list(&mut into.objectives, from.objectives);
    merge_list(&mut into.key_concepts, from.key_concepts);
    merge_list(&mut into.examples, from.examples);
    merge_list(&mut into.common_mistakes, from.common_mistakes);
    merge_list(&mut into.exercises, from.exercises);
}

/// Merges the subtopics of one topic. A name similar to an earlier one shares at least one
/// of its `len - ceil(SIMILAR * len) + 1` rarest words with it (prefix filtering), so only
/// the subtopics listed under those words are compared: common words never make the pass
/// quadratic.
fn merge_subtopics(subtopics: Vec<Subtopic>) -> Vec<Subtopic> {
    let mut merged: Vec<Subtopic> = Vec::new();
    let mut pages: Vec<BTreeSet<i64>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut exact: HashMap<String, usize> = HashMap::new();
    let mut by_word: HashMap<String, Vec<usize>> = HashMap::new();
    for sub in subtopics {
        let norm = normalize(&sub.name);
        let found = exact.get(&norm).copied().or_else(|| {
            let mine = words(&norm);
            let must_share = mine.len() - (SIMILAR * mine.len() as f64).ceil() as usize + 1;
            let mut rare: Vec<(&str, usize)> = mine
                .iter()
                .map(|w| (*w, by_word.get(*w).map_or(0, Vec::len)))
                .collect();
            rare.sort_by_key(|&(w, n)| (n, w));
            let mut seen = HashSet::new();
            rare.iter()
                .take(must_share)
                .filter_map(|(w, _)| by_word.get(*w))
                .flatten()
                .copied()
                .filter(|i| seen.insert(*i))
                .find(|&i| jaccard(&mine, &words(&names[i])) >= SIMILAR)
        });
        match found {
            Some(i) => {
                merge_content(&mut merged[i].content, sub.content);
                pages[i].extend(sub.pages);
            }
            None => {
                let i = merged.len();
                pages.push(sub.pages.iter().copied().collect());
                for w in words(&norm) {
                    by_word.entry(w.to_owned()).or_default().push(i);
                }
                exact.insert(norm.clone(), i);
                names.push(norm);
                merged.push(sub);
            }
        }
    }
    for (sub, pages) in merged.iter_mut().zip(pages) {
        sub.pages = pages.into_iter().collect();
    }
    merged.sort_by_key(|s| s.pages.first().copied().unwrap_or(i64::MAX));
    merged
}

/// The final guidelines from the draft's topics.
pub fn finalize(draft: Vec<Topic>) -> Vec<Topic> {
    let mut topics: Vec<Topic> = Vec::new();
    // Pages gathered in sets and written back once: unioning lists at every merge would
    // grow with the book.
    let mut pages: Vec<BTreeSet<i64>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for topic in draft {
        let name = refine(&topic.name);
        match index.get(&normalize(&name)) {
            Some(&i) => {
                pages[i].extend(topic.pages);
                topics[i].subtopics.extend(topic.subtopics);
            }
            None => {
                index.insert(normalize(&name), topics.len());
                pages.push(topic.pages.iter().copied().collect());
                topics.push(Topic { name, ..topic });
            }
        }
    }
    for (topic, pages) in topics.iter_mut().zip(pages) {
        topic.pages = pages.into_iter().collect();
        topic.subtopics = merge_subtopics(std::mem::take(&mut topic.subtopics));
    }
    topics.sort_by_key(|t| t.pages.first().copied().unwrap_or(i64::MAX));
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(name: &str, page: i64, example: &str) -> Subtopic {
        Subtopic {
            name: name.to_owned(),
            content: Content {
                examples: vec![example.to_owned()],
                ..Content::default()
            },
            pages: vec![page],
        }
    }

    #[test]
    fn repeated_and_near_identical_headings_merge() {
        let draft = vec![
            Topic {
                name: "Adding Fractions".into(),
                subtopics: vec![sub("2.1 Like Denominators", 3, "1/4 + 2/4")],
                pages: vec![3],
            },
            Topic {
                name: "1. Understanding Fractions:".into(),
                subtopics: vec![sub("What Is a Fraction?", 1, "3/8 of a pizza")],
                pages: vec![1],
            },
            Topic {
                name: "adding fractions".into(),
                subtopics: vec![
                    sub("Like denominators", 4, "1/4 + 2/4"),
                    sub("Adding fractions with like denominators", 4, "2/5 + 1/5"),
                    sub("Unlike Denominators", 5, "1/2 + 1/3"),
                ],
                pages: vec![4, 5],
            },
        ];
        let done = finalize(draft);
        let names: Vec<&str> = done.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Understanding Fractions", "Adding Fractions"]);
        let adding = &done[1];
        assert_eq!(adding.pages, [3, 4, 5]);
        let subs: Vec<(&str, &[i64])> = adding
            .subtopics
            .iter()
            .map(|s| (s.name.as_str(), s.pages.as_slice()))
            .collect();
        assert_eq!(
            subs,
            [
                ("2.1 Like Denominators", &[3, 4][..]),
                ("Adding fractions with like denominators", &[4][..]),
                ("Unlike Denominators", &[5][..]),
            ]
        );
        // The same example twice is kept once.
        assert_eq!(adding.subtopics[0].content.examples, ["1/4 + 2/4"]);
    }

    #[test]
    fn names_normalize_without_numbering_or_punctuation() {
        assert_eq!(normalize("1.2  What Is a Fraction?"), "what is a fraction");
        assert_eq!(normalize("Équivalent-Fractions"), "équivalentfractions");
        assert_eq!(refine("3. Decimals:"), "Decimals");
    }
}
