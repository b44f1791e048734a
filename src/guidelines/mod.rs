//! Teaching guidelines: what extraction finds on each page (topics, subtopics, objectives,
//! key concepts, examples, common mistakes, exercises), and the extractors that find it.
//!
//! Pages are extracted independently; a page that starts without a heading continues the
//! subtopic the page before it ended in, which a cheap ordered pass joins up afterwards.

#[cfg(test)]
pub(crate) mod arbitrary;
mod finalize;
mod markdown;
mod offline;
mod openai;
mod page_job;
pub mod score;

pub use finalize::{SIMILAR, finalize, same_name};
pub use markdown::markdown;
pub use offline::OfflineExtractor;
pub use openai::OpenAiExtractor;
pub use page_job::{ExtractPages, FinalizeGuidelines};

use async_trait::async_trait;
use quire_actors::ItemError;
use serde::{Deserialize, Serialize};

/// The teaching content of one part of a subtopic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Content {
    pub objectives: Vec<String>,
    pub key_concepts: Vec<String>,
    pub examples: Vec<String>,
    pub common_mistakes: Vec<String>,
    pub exercises: Vec<String>,
}

impl Content {
    pub fn is_empty(&self) -> bool {
        self.objectives.is_empty()
            && self.key_concepts.is_empty()
            && self.examples.is_empty()
            && self.common_mistakes.is_empty()
            && self.exercises.is_empty()
    }

    /// The list of one kind; `None` for [`ListOf::KeyPoints`], which are a topic's.
    pub fn list_mut(&mut self, kind: ListOf) -> Option<&mut Vec<String>> {
        match kind {
            ListOf::Objectives => Some(&mut self.objectives),
            ListOf::KeyConcepts => Some(&mut self.key_concepts),
            ListOf::Examples => Some(&mut self.examples),
            ListOf::CommonMistakes => Some(&mut self.common_mistakes),
            ListOf::Exercises => Some(&mut self.exercises),
            ListOf::KeyPoints => None,
        }
    }

    /// Appends `other`, keeping the order of both.
    pub fn extend(&mut self, other: Content) {
        self.objectives.extend(other.objectives);
        self.key_concepts.extend(other.key_concepts);
        self.examples.extend(other.examples);
        self.common_mistakes.extend(other.common_mistakes);
        self.exercises.extend(other.exercises);
    }
}

/// What a list holds: one of a subtopic's lists, or a topic's key points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListOf {
    Objectives,
    KeyConcepts,
    Examples,
    CommonMistakes,
    Exercises,
    KeyPoints,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtopicDraft {
    pub name: String,
    #[serde(flatten)]
    pub content: Content,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDraft {
    /// `None`: the subtopics continue the topic of the page before.
    pub name: Option<String>,
    pub subtopics: Vec<SubtopicDraft>,
    /// The chapter's own points: what its summary lists.
    #[serde(default)]
    pub key_points: Vec<String>,
}

/// What extraction found on one page: an item's result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageGuidelines {
    /// Content before the page's first heading: it continues the previous page's subtopic.
    #[serde(default)]
    pub continued: Content,
    #[serde(default)]
    pub topics: Vec<TopicDraft>,
    /// The list the page ends in, still open: the next page's leading items continue it
    /// (a list of objectives broken by the page's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_in_list: Option<ListOf>,
    /// List items before the page's first heading or label: they continue the list the
    /// page before ended in, if it ended in one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leading_items: Vec<String>,
}

/// A subtopic of the merged guidelines, with the pages it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subtopic {
    pub name: String,
    #[serde(flatten)]
    pub content: Content,
    pub pages: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
    pub subtopics: Vec<Subtopic>,
    pub pages: Vec<i64>,
    /// The chapter's summary, point by point: not a subtopic of its own.
    #[serde(default)]
    pub key_points: Vec<String>,
}

/// Reads one page's text into its guidelines.
#[async_trait]
pub trait Extractor: Send + Sync + 'static {
    async fn extract(&self, page_no: i64, text: &str) -> Result<PageGuidelines, ItemError>;

    /// Who answers, as one rate-limit quota (see `ItemHandler::provider`).
    fn provider(&self) -> &str;
}

/// The ordered pass: pages in order, each page's leading content joined to the subtopic the
/// page before ended in, a topic without a name continuing the one before. Linear in the
/// pages.
pub fn assemble(pages: &[(i64, PageGuidelines)]) -> Vec<Topic> {
    let mut topics: Vec<Topic> = Vec::new();
    let add_page = |pages: &mut Vec<i64>, page: i64| {
        if pages.last() != Some(&page) {
            pages.push(page);
        }
    };
    let introduction = |content: Content, page_no: i64| Subtopic {
        name: "Introduction".to_owned(),
        content,
        pages: vec![page_no],
    };
    // The list the page before ended in, and that page's number.
    let mut open_list: Option<(i64, ListOf)> = None;
    for (page_no, page) in pages {
        let mut continued = page.continued.clone();
        let mut key_points = Vec::new();
        // Items at the top of the page go on with the list the page just before ended in.
        let ended_in = page.ends_in_list.map(|kind| (*page_no, kind));
        match std::mem::replace(&mut open_list, ended_in) {
            Some((before, _)) if before + 1 != *page_no => {}
            Some((_, ListOf::KeyPoints)) => key_points.clone_from(&page.leading_items),
            Some((_, kind)) => {
                if let Some(list) = continued.list_mut(kind) {
                    let mut items = page.leading_items.clone();
                    items.append(list);
                    *list = items;
                }
            }
            None => {}
        }
        if !key_points.is_empty()
            && let Some(topic) = topics.last_mut()
        {
            topic.key_points.extend(key_points);
            add_page(&mut topic.pages, *page_no);
        }
        if !continued.is_empty() {
            match topics.last_mut() {
                Some(topic) => {
                    add_page(&mut topic.pages, *page_no);
                    match topic.subtopics.last_mut() {
                        Some(sub) => {
                            sub.content.extend(continued);
                            add_page(&mut sub.pages, *page_no);
                        }
                        None => topic.subtopics.push(introduction(continued, *page_no)),
                    }
                }
                None => topics.push(Topic {
                    name: "Introduction".to_owned(),
                    subtopics: vec![introduction(continued, *page_no)],
                    pages: vec![*page_no],
                    key_points: Vec::new(),
                }),
            }
        }
        for draft in &page.topics {
            // A page that names the topic in progress again (models repeat a chapter's name
            // on each of its pages) continues it.
            let continues = match &draft.name {
                None => !topics.is_empty(),
                Some(name) => topics.last().is_some_and(|t| same_name(&t.name, name)),
            };
            if !continues {
                topics.push(Topic {
                    name: draft
                        .name
                        .clone()
                        .unwrap_or_else(|| "Introduction".to_owned()),
                    subtopics: Vec::new(),
                    pages: Vec::new(),
                    key_points: Vec::new(),
                });
            }
            let topic = topics.last_mut().expect("pushed above");
            add_page(&mut topic.pages, *page_no);
            topic.key_points.extend(draft.key_points.iter().cloned());
            for sub in &draft.subtopics {
                match topic.subtopics.last_mut() {
                    Some(last) if same_name(&last.name, &sub.name) => {
                        last.content.extend(sub.content.clone());
                        add_page(&mut last.pages, *page_no);
                    }
                    _ => topic.subtopics.push(Subtopic {
                        name: sub.name.clone(),
                        content: sub.content.clone(),
                        pages: vec![*page_no],
                    }),
                }
            }
        }
    }
    topics
}

/// The pages an extraction takes: every page read and not rejected in review.
pub async fn pages_to_extract(
    store: &dyn crate::store::Store,
    book: quire_actors::BookId,
) -> Result<Vec<i64>, quire_actors::StoreError> {
    let pages = crate::store::all_pages(store, book).await?;
    Ok(pages
        .iter()
        .filter(|p| p.for_guidelines())
        .map(|p| p.page_no)
        .collect())
}

/// The book's guidelines now: the final set if a finalization completed after the latest
/// extraction, else the draft joined from each page's newest extraction (of the pages that
/// still take part). With whether they
/// are final, and how many pages they come from.
pub async fn current(
    store: &dyn crate::store::Store,
    book: quire_actors::BookId,
) -> Result<(bool, usize, Vec<Topic>), quire_actors::StoreError> {
    use quire_actors::{ItemStatus, JobKind, JobStatus};
    let fin = store.latest_job(book, Some(JobKind::Finalize)).await?;
    let extract = store.latest_job(book, Some(JobKind::Extract)).await?;
    if let Some(fin) = fin.filter(|f| {
        f.status == JobStatus::Completed
            && extract
                .as_ref()
                .is_none_or(|e| e.created_at <= f.created_at)
    }) {
        let items = store
            .items(fin.id, Some(ItemStatus::Completed), None, 1)
            .await?;
        if let Some(result) = items.into_iter().next().and_then(|i| i.result) {
            let pages = result["pages"].as_u64().unwrap_or(0) as usize;
            let topics: Vec<Topic> =
                serde_json::from_value(result["topics"].clone()).unwrap_or_default();
            return Ok((true, pages, topics));
        }
    }
    // Pages deleted or rejected in review since their extraction take no part.
    let taking_part: std::collections::HashSet<i64> = crate::store::all_pages(store, book)
        .await?
        .iter()
        .filter(|p| p.for_guidelines())
        .map(|p| p.page_no)
        .collect();
    let pages: Vec<(i64, PageGuidelines)> = store
        .page_guidelines(book)
        .await?
        .into_iter()
        .filter(|(n, _)| taking_part.contains(n))
        .filter_map(|(n, v)| Some((n, serde_json::from_value(v).ok()?)))
        .collect();
    Ok((false, pages.len(), assemble(&pages)))
}

#[cfg(test)]
mod tests {
    use super::offline::extract;
    use super::*;

    /// A generated three-page, two-chapter book: a page that starts mid-subtopic continues
    /// it, and chapters become topics in page order.
    #[test]
    fn pages_join_into_topics_in_order() {
        let pages = [
            "Chapter 1: Halves\n1.1 What a Half Is\nDefinition: one of two equal parts.\n",
            "Example 1: Half of 8 is 4.\n\n1.2 Halving Shapes\nKey idea: fold along a line of symmetry.\n",
            "Chapter 2: Quarters\n2.1 Quarters of a Whole\nExercise 1: Shade a quarter.\n",
        ];
        let drafts: Vec<(i64, PageGuidelines)> = pages
            .iter()
            .enumerate()
            .map(|(i, text)| (i as i64 + 1, extract(text)))
            .collect();
        let topics = assemble(&drafts);
        type Outline<'a> = Vec<(&'a str, Vec<(&'a str, &'a [i64])>)>;
        let outline: Outline = topics
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.subtopics
                        .iter()
                        .map(|s| (s.name.as_str(), s.pages.as_slice()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            outline,
            vec![
                (
                    "Halves",
                    vec![
                        ("1.1 What a Half Is", &[1, 2][..]),
                        ("1.2 Halving Shapes", &[2][..])
                    ]
                ),
                ("Quarters", vec![("2.1 Quarters of a Whole", &[3][..])]),
            ]
        );
        let first = &topics[0].subtopics[0].content;
        assert_eq!(first.key_concepts, ["one of two equal parts."]);
        assert_eq!(first.examples, ["Half of 8 is 4."]);
        assert_eq!(topics[0].pages, [1, 2]);
        assert_eq!(
            topics[1].subtopics[0].content.exercises,
            ["Shade a quarter."]
        );
    }

    /// A model that names the chapter and section in progress again on the next page
    /// continues them instead of starting new ones.
    #[test]
    fn a_repeated_name_continues_the_topic_and_subtopic() {
        let page = |topic: &str, subtopic: &str, example: &str| {
            serde_json::from_value::<PageGuidelines>(serde_json::json!({
                "continued": { "objectives": [], "key_concepts": [], "examples": [],
                               "common_mistakes": [], "exercises": [] },
                "topics": [{ "name": topic, "subtopics": [{ "name": subtopic,
                    "objectives": [], "key_concepts": [], "examples": [example],
                    "common_mistakes": [], "exercises": [] }] }],
            }))
            .unwrap()
        };
        let topics = assemble(&[
            (1, page("Fractions", "Halves", "half of 8")),
            (2, page("FRACTIONS", "Halves.", "half of 10")),
            (3, page("Fractions", "Quarters", "a quarter of 8")),
            (4, page("Decimals", "Tenths", "0.1")),
        ]);
        type Outline<'a> = Vec<(&'a str, Vec<(&'a str, &'a [i64], usize)>)>;
        let outline: Outline = topics
            .iter()
            .map(|t| {
                let subs = t.subtopics.iter();
                let subs = subs.map(|s| (s.name.as_str(), &s.pages[..], s.content.examples.len()));
                (t.name.as_str(), subs.collect())
            })
            .collect();
        assert_eq!(
            outline,
            vec![
                (
                    "Fractions",
                    vec![("Halves", &[1, 2][..], 2), ("Quarters", &[3][..], 1)]
                ),
                ("Decimals", vec![("Tenths", &[4][..], 1)]),
            ]
        );
        assert_eq!(topics[0].pages, [1, 2, 3]);
    }

    /// A list of objectives broken by the page's end goes on with the next page's
    /// leading items; a summary's list likewise with the topic's key points. Items at the
    /// top of a page after one that ended in prose are not joined.
    #[test]
    fn a_list_goes_on_across_a_page_break() {
        let pages = [
            "Chapter 1: Halves\n1.1 Halving\nObjectives\n\u{2022} Halve a shape.\n",
            "\u{2022} Halve a number.\n\nHalves are equal parts.\nSummary\n\u{2022} Two halves make a whole.\n",
            "\u{2022} A half of 8 is 4.\n",
            "\u{2022} Not a key point.\n",
        ];
        let drafts: Vec<(i64, PageGuidelines)> = pages
            .iter()
            .enumerate()
            .map(|(i, text)| (i as i64 + 1, extract(text)))
            .collect();
        let topics = assemble(&drafts);
        assert_eq!(topics.len(), 1);
        assert_eq!(
            topics[0].subtopics[0].content.objectives,
            ["Halve a shape.", "Halve a number."]
        );
        assert_eq!(
            topics[0].key_points,
            ["Two halves make a whole.", "A half of 8 is 4."]
        );
        assert_eq!(topics[0].subtopics.len(), 1);
    }
}
