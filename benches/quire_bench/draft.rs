//! `draft`: reading one book's draft guidelines (each page's newest extraction, which the
//! admin UI reads at every poll) among many other books of 100 extracted pages each,
//! against reading it while it is the only book. The read must depend on the book, not on
//! the database: the ratio should stay near 1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quire::store::Store;
use quire_actors::{BookId, JobKind, NewJob};
use serde_json::{Value, json};

use crate::setup::{self, BenchDb};
use crate::{Backend, report};

const PAGES: i64 = 100;

/// A page's guidelines as an extractor returns them: one topic, two subtopics.
fn page_guidelines(page: i64) -> Value {
    let subtopic = |name: String| {
        json!({ "name": name, "objectives": ["Compare two fractions"],
                "key_concepts": ["equivalent fractions name the same amount"],
                "examples": ["2/4 = 1/2"], "common_mistakes": [], "exercises": [] })
    };
    json!({
        "continued": { "objectives": [], "key_concepts": [], "examples": [], "common_mistakes": [], "exercises": [] },
        "topics": [{ "name": format!("Chapter {}", page / 10 + 1),
                     "subtopics": [subtopic(format!("Skill {page}a")), subtopic(format!("Skill {page}b"))] }],
    })
}

/// A book whose 100 pages have been extracted.
async fn extracted_book(store: &Arc<dyn Store>) -> BookId {
    let book = setup::book(store).await;
    let job = NewJob {
        book_id: book,
        kind: JobKind::Extract,
        params: json!({}),
        items: (1..=PAGES).collect(),
        resumed_from: None,
        held: false,
    };
    setup::run_in_store(store, &job, 128, page_guidelines).await;
    book
}

/// The median of 31 reads of the book's draft.
async fn read_time(store: &Arc<dyn Store>, book: BookId) -> Duration {
    let mut times = Vec::new();
    for _ in 0..31 {
        let started = Instant::now();
        let pages = store.page_guidelines(book).await.unwrap();
        times.push(started.elapsed());
        assert_eq!(pages.len(), PAGES as usize);
    }
    times.sort();
    times[times.len() / 2]
}

pub async fn run(backend: Backend, others: usize) {
    let db = BenchDb::new(backend).await;
    let store = db.store().await;
    let mine = extracted_book(&store).await;
    let alone = read_time(&store, mine).await;
    for _ in 0..others {
        extracted_book(&store).await;
    }
    let crowded = read_time(&store, mine).await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = crowded.as_secs_f64() / alone.as_secs_f64();
    report(
        backend,
        "draft",
        &format!(
            "a {PAGES}-page book's draft among {others} other books: {:.2} ms, alone {:.2} ms, ratio {ratio:.2}",
            ms(crowded),
            ms(alone)
        ),
        json!({ "others": others, "pages": PAGES, "crowded_ms": ms(crowded), "alone_ms": ms(alone),
                "ratio": ratio }),
    );
}
