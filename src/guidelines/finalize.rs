//! Finalization: the draft's topics and subtopics merged and deduplicated across pages.
//!
//! A name is compared as its numbers apart from its words ([`Name`]): textbooks number
//! their sections ("2.1 Adding Like Fractions", "Section 3", "Part II"), and two numbered
//! names merge only when their numbers are the same, while a name printed with and without
//! its number ("2.1 Adding Like Fractions", "Adding Like Fractions") is one.
//!
//! Topics merge when their words are equal (a chapter heading printed atop every page is one
//! topic). Within a topic, subtopics merge when their words are equal or overlap enough
//! (Jaccard similarity at or above [`SIMILAR`]); candidates are found through an index of
//! words, so the pass stays near linear in the subtopics. Merged content keeps its first
//! order, without repeats; pages are unioned; everything is ordered by first page.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{Content, Subtopic, Topic};

/// Word overlap at which two subtopic names are the same subtopic.
pub const SIMILAR: f64 = 0.8;

/// Words that number what follows them: after one, a roman numeral or a single letter is a
/// number ("Part II", "Appendix B").
const NUMBERING_WORDS: &[&str] = &[
    "activity",
    "appendix",
    "book",
    "chapter",
    "day",
    "example",
    "exercise",
    "investigation",
    "lab",
    "lesson",
    "level",
    "module",
    "part",
    "problem",
    "section",
    "set",
    "stage",
    "step",
    "topic",
    "unit",
    "volume",
    "week",
];

/// A name as finalization compares it: its numbers apart from its words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    /// Every number in the name, in order: a word that starts with a digit ("2.1", "3a",
    /// "1/2"; leading zeros dropped: "02.10" is "2.10"), and a roman numeral or a single
    /// letter after a numbering word or first and marked ("Part II" is "2", "IV." is "4",
    /// "Appendix B" is "b").
    pub numbers: Vec<String>,
    /// The other words: lower case, letters and digits only, single spaces.
    pub words: String,
}

impl Name {
    pub fn parse(name: &str) -> Self {
        let mut numbers = Vec::new();
        let mut words: Vec<String> = Vec::new();
        let mut numbers_next = false;
        for (i, raw) in name.split_whitespace().enumerate() {
            let token = raw.trim_matches(|c: char| !c.is_alphanumeric());
            let Some(first) = token.chars().next() else {
                continue;
            };
            let after_numbering_word = std::mem::take(&mut numbers_next);
            if first.is_numeric() {
                numbers.push(number(token));
                continue;
            }
            let word: String = token
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            if after_numbering_word || (i == 0 && raw.ends_with(['.', ')'])) {
                if let Some(n) = roman(&word) {
                    numbers.push(n.to_string());
                    continue;
                }
                if word.chars().count() == 1 {
                    numbers.push(word);
                    continue;
                }
            }
            numbers_next = NUMBERING_WORDS.contains(&word.as_str());
            words.push(word);
        }
        Self {
            numbers,
            words: words.join(" "),
        }
    }

    /// Whether the two may number the same thing: the same numbers, or one has none.
    pub fn numbers_agree(&self, other: &Self) -> bool {
        self.numbers.is_empty() || other.numbers.is_empty() || self.numbers == other.numbers
    }

    fn word_set(&self) -> BTreeSet<String> {
        self.words
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Whether two names are the same heading: the same words, numbers that agree.
pub fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (Name::parse(a), Name::parse(b));
    a.words == b.words && a.numbers_agree(&b)
}

/// A number as written, lower case; dotted digits without leading zeros.
fn number(token: &str) -> String {
    if token.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let parts = token.split('.').filter(|p| !p.is_empty());
        let parts: Vec<&str> = parts
            .map(|p| match p.trim_start_matches('0') {
                "" => "0",
                p => p,
            })
            .collect();
        return parts.join(".");
    }
    token.chars().flat_map(char::to_lowercase).collect()
}

/// The value of a roman numeral (lower case), if `word` is one.
fn roman(word: &str) -> Option<u32> {
    let value = |c| match c {
        'i' => Some(1),
        'v' => Some(5),
        'x' => Some(10),
        'l' => Some(50),
        'c' => Some(100),
        'd' => Some(500),
        'm' => Some(1000),
        _ => None,
    };
    let values: Vec<u32> = word.chars().map(value).collect::<Option<_>>()?;
    if values.is_empty() || values.len() > 15 {
        return None;
    }
    let mut total = 0;
    for (i, v) in values.iter().enumerate() {
        if values.get(i + 1).is_some_and(|next| next > v) {
            total -= *v as i64;
        } else {
            total += *v as i64;
        }
    }
    u32::try_from(total).ok().filter(|&t| t > 0)
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
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

/// The names with the same words, each by its numbers (`[]`: the one without a number).
struct Group {
    words: BTreeSet<String>,
    by_numbers: HashMap<Vec<String>, usize>,
    first: usize,
}

impl Group {
    /// The entry `numbers` may name: the one numbered the same, else the unnumbered one;
    /// for no numbers, the first.
    fn find(&self, numbers: &[String]) -> Option<usize> {
        if numbers.is_empty() {
            return Some(self.first);
        }
        let unnumbered: &[String] = &[];
        let numbered = self.by_numbers.get(numbers);
        numbered
            .or_else(|| self.by_numbers.get(unnumbered))
            .copied()
    }
}

/// The merged entries' names: groups of the same words, and the groups under each word.
/// Equal numbers are found at once, however many sections share their words ("Section 1"
/// … "Section 6000").
#[derive(Default)]
struct Index {
    groups: Vec<Group>,
    by_words: HashMap<String, usize>,
    by_word: HashMap<String, Vec<usize>>,
    /// Each entry's group and numbers.
    entries: Vec<(usize, Vec<String>)>,
}

impl Index {
    /// The entry with the same words and numbers that agree.
    fn exact(&self, name: &Name) -> Option<usize> {
        let group = &self.groups[*self.by_words.get(&name.words)?];
        group.find(&name.numbers)
    }

    /// An entry whose words overlap `name`'s by [`SIMILAR`], numbers agreeing. A name
    /// similar to an earlier one shares at least one of its `len - ceil(SIMILAR * len) + 1`
    /// rarest words with it (prefix filtering), so only the groups listed under those words
    /// are compared: common words never make the pass quadratic.
    fn similar(&self, name: &Name) -> Option<usize> {
        let mine = name.word_set();
        let must_share = mine.len() - (SIMILAR * mine.len() as f64).ceil() as usize + 1;
        let mut rare: Vec<(&str, usize)> = mine
            .iter()
            .map(|w| (w.as_str(), self.by_word.get(w).map_or(0, Vec::len)))
            .collect();
        rare.sort_by_key(|&(w, n)| (n, w));
        let mut seen = HashSet::new();
        rare.iter()
            .take(must_share)
            .filter_map(|(w, _)| self.by_word.get(*w))
            .flatten()
            .copied()
            .filter(|g| seen.insert(*g))
            .filter(|&g| jaccard(&mine, &self.groups[g].words) >= SIMILAR)
            .find_map(|g| self.groups[g].find(&name.numbers))
    }

    /// A new entry, the next index.
    fn insert(&mut self, name: Name) -> usize {
        let entry = self.entries.len();
        let group = match self.by_words.get(&name.words) {
            Some(&g) => g,
            None => {
                let g = self.groups.len();
                let words = name.word_set();
                for w in &words {
                    self.by_word.entry(w.clone()).or_default().push(g);
                }
                self.groups.push(Group {
                    words,
                    by_numbers: HashMap::new(),
                    first: entry,
                });
                self.by_words.insert(name.words, g);
                g
            }
        };
        self.groups[group]
            .by_numbers
            .insert(name.numbers.clone(), entry);
        self.entries.push((group, name.numbers));
        entry
    }

    /// An unnumbered entry met with its number takes it, so that a name with another
    /// number no longer merges with it. Whether it did.
    fn number(&mut self, entry: usize, numbers: &[String]) -> bool {
        let (group, ref mut mine) = self.entries[entry];
        if !mine.is_empty() || numbers.is_empty() {
            return false;
        }
        *mine = numbers.to_vec();
        let by_numbers = &mut self.groups[group].by_numbers;
        let unnumbered: &[String] = &[];
        by_numbers.remove(unnumbered);
        by_numbers.entry(numbers.to_vec()).or_insert(entry);
        true
    }
}

/// Merges the subtopics of one topic.
fn merge_subtopics(subtopics: Vec<Subtopic>) -> Vec<Subtopic> {
    let mut merged: Vec<Subtopic> = Vec::new();
    let mut pages: Vec<BTreeSet<i64>> = Vec::new();
    let mut index = Index::default();
    for sub in subtopics {
        let name = Name::parse(&sub.name);
        match index.exact(&name).or_else(|| index.similar(&name)) {
            Some(i) => {
                if index.number(i, &name.numbers) {
                    merged[i].name = sub.name;
                }
                merge_content(&mut merged[i].content, sub.content);
                pages[i].extend(sub.pages);
            }
            None => {
                index.insert(name);
                pages.push(sub.pages.iter().copied().collect());
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
    let mut index = Index::default();
    for topic in draft {
        let name = Name::parse(&topic.name);
        match index.exact(&name) {
            Some(i) => {
                if index.number(i, &name.numbers) {
                    topics[i].name = refine(&topic.name);
                }
                pages[i].extend(topic.pages);
                topics[i].subtopics.extend(topic.subtopics);
                merge_list(&mut topics[i].key_points, topic.key_points);
            }
            None => {
                index.insert(name);
                pages.push(topic.pages.iter().copied().collect());
                topics.push(Topic {
                    name: refine(&topic.name),
                    ..topic
                });
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
    use proptest::prelude::*;

    use super::*;
    use crate::guidelines::arbitrary;

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
                key_points: Vec::new(),
            },
            Topic {
                name: "1. Understanding Fractions:".into(),
                subtopics: vec![sub("What Is a Fraction?", 1, "3/8 of a pizza")],
                pages: vec![1],
                key_points: Vec::new(),
            },
            Topic {
                name: "adding fractions".into(),
                subtopics: vec![
                    sub("Like denominators", 4, "1/4 + 2/4"),
                    sub("Adding fractions with like denominators", 4, "2/5 + 1/5"),
                    sub("Unlike Denominators", 5, "1/2 + 1/3"),
                ],
                pages: vec![4, 5],
                key_points: Vec::new(),
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

    fn parsed(name: &str) -> (Vec<&'static str>, String) {
        let n = Name::parse(name);
        let numbers = n.numbers.into_iter().map(|s| &*s.leak()).collect();
        (numbers, n.words)
    }

    #[test]
    fn names_parse_into_numbers_and_words() {
        assert_eq!(
            parsed("1.2  What Is a Fraction?"),
            (vec!["1.2"], "what is a fraction".into())
        );
        assert_eq!(
            parsed("Équivalent-Fractions"),
            (vec![], "équivalentfractions".into())
        );
        assert_eq!(parsed("Section 01"), (vec!["1"], "section".into()));
        assert_eq!(
            parsed("2.10. Review (Part II)"),
            (vec!["2.10", "2"], "review part".into())
        );
        assert_eq!(
            parsed("IV. Decimals, Appendix B"),
            (vec!["4", "b"], "decimals appendix".into())
        );
        assert_eq!(
            parsed("Exercise 3a: Adding 1/2 and 1/4"),
            (vec!["3a", "1/2", "1/4"], "exercise adding and".into())
        );
        // A roman numeral or a letter elsewhere is a word.
        assert_eq!(
            parsed("I Can Mix Colours: a Guide"),
            (vec![], "i can mix colours a guide".into())
        );
        assert_eq!(refine("3. Decimals:"), "Decimals");
    }

    /// "Section 1" … "Section 6" were one "Section 1" over pages 1–6: numbers, short, were
    /// dropped before the words were compared. Different numbers never merge; a name with
    /// and without its number does, and the merged one keeps the number.
    #[test]
    fn numbered_sections_merge_only_with_their_own_number() {
        let mut subs: Vec<Subtopic> = (1..=6)
            .map(|n| sub(&format!("Section {n}"), n, &format!("example {n}")))
            .collect();
        subs.extend([
            sub("Adding Like Fractions", 7, "1/4 + 2/4"),
            sub("2.1 Adding Like Fractions", 8, "1/5 + 2/5"),
            sub("2.2 Adding Like Fractions", 9, "1/6 + 2/6"),
            sub("Adding like fractions", 10, "1/7 + 2/7"),
            sub("2.3. Practice", 11, "a"),
            sub("2.4 Practice", 12, "b"),
            sub("2.3 Practice", 13, "c"),
            sub("Part I", 14, "i"),
            sub("Part II", 15, "ii"),
            sub("Part 2", 16, "2"),
            sub("Solving for x", 17, "x"),
            sub("Solving for y", 18, "y"),
        ]);
        let done = finalize(vec![Topic {
            name: "Fractions".into(),
            subtopics: subs,
            pages: (1..=18).collect(),
            key_points: Vec::new(),
        }]);
        let subs: Vec<(&str, &[i64])> = done[0]
            .subtopics
            .iter()
            .map(|s| (s.name.as_str(), s.pages.as_slice()))
            .collect();
        assert_eq!(
            subs,
            [
                ("Section 1", &[1][..]),
                ("Section 2", &[2][..]),
                ("Section 3", &[3][..]),
                ("Section 4", &[4][..]),
                ("Section 5", &[5][..]),
                ("Section 6", &[6][..]),
                ("2.1 Adding Like Fractions", &[7, 8, 10][..]),
                ("2.2 Adding Like Fractions", &[9][..]),
                ("2.3. Practice", &[11, 13][..]),
                ("2.4 Practice", &[12][..]),
                ("Part I", &[14][..]),
                ("Part II", &[15, 16][..]),
                ("Solving for x", &[17][..]),
                ("Solving for y", &[18][..]),
            ]
        );
    }

    /// Topics too: chapters numbered apart stay apart, an unnumbered repeat joins its own.
    #[test]
    fn numbered_topics_merge_only_with_their_own_number() {
        let topic = |name: &str, page: i64| Topic {
            name: name.into(),
            subtopics: vec![sub("Review", page, "e")],
            pages: vec![page],
            key_points: Vec::new(),
        };
        let done = finalize(vec![
            topic("Unit 1 Review", 1),
            topic("Unit 2 Review", 2),
            topic("Unit 1: Review", 3),
            topic("UNIT I REVIEW", 4),
        ]);
        let names: Vec<(&str, &[i64])> = done
            .iter()
            .map(|t| (t.name.as_str(), t.pages.as_slice()))
            .collect();
        assert_eq!(
            names,
            [
                ("Unit 1 Review", &[1, 3, 4][..]),
                ("Unit 2 Review", &[2][..])
            ]
        );
    }

    proptest! {
        /// No names or content panic finalization; nothing is lost (every item and page
        /// of the draft is in the result, each once), and pages come out sorted.
        #[test]
        fn no_text_panics_finalization(draft in arbitrary::topics()) {
            let items = |topics: &[Topic]| -> BTreeSet<String> {
                topics.iter().flat_map(|t| &t.subtopics).flat_map(|s| {
                    let c = &s.content;
                    [&c.objectives, &c.key_concepts, &c.examples, &c.common_mistakes, &c.exercises]
                        .into_iter()
                        .flatten()
                        .cloned()
                }).collect()
            };
            let pages = |topics: &[Topic]| -> BTreeSet<i64> {
                topics.iter().flat_map(|t| t.pages.iter().copied()).collect()
            };
            let done = finalize(draft.clone());
            prop_assert_eq!(items(&done), items(&draft));
            prop_assert_eq!(pages(&done), pages(&draft));
            let subtopics = |t: &[Topic]| t.iter().map(|t| t.subtopics.len()).sum::<usize>();
            prop_assert!(subtopics(&done) <= subtopics(&draft));
            for t in &done {
                prop_assert!(t.pages.windows(2).all(|w| w[0] < w[1]));
                for s in &t.subtopics {
                    prop_assert!(s.pages.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }

        /// Two names that differ only in their numbers never merge; a name with and without
        /// its number does.
        #[test]
        fn different_numbers_never_merge(
            title in "[A-Z][a-z]{2,8}( [A-Za-z][a-z]{2,8}){0,4}",
            a in "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}",
            b in "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}",
            section_word in any::<bool>(),
        ) {
            prop_assume!(number(&a) != number(&b));
            prop_assume!(!title.split(' ').any(|w| NUMBERING_WORDS.contains(&w.to_lowercase().as_str())));
            let named = |n: &str| if section_word { format!("{title} {n}") } else { format!("{n} {title}") };
            let done = finalize(vec![Topic {
                name: "T".into(),
                subtopics: vec![sub(&named(&a), 1, "a"), sub(&named(&b), 2, "b"), sub(&title, 3, "c")],
                pages: vec![1, 2, 3],
                key_points: Vec::new(),
            }]);
            let subs: Vec<(&str, &[i64])> = done[0].subtopics.iter().map(|s| (s.name.as_str(), s.pages.as_slice())).collect();
            let (first, second) = (named(&a), named(&b));
            prop_assert_eq!(subs, vec![(first.as_str(), &[1, 3][..]), (second.as_str(), &[2][..])]);
        }
    }
}
