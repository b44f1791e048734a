//! The `export_epub` job kind: one item that renders the book's guidelines and approved page
//! text as EPUB and stores it under the attempt's own key, which its result names: the
//! latest completed export job's result is the book's EPUB.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use quire_actors::ItemError;
use quire_actors::ports::{Clock, ItemContext, ItemHandler};
use serde_json::{Value, json};

use super::{Chapter, EpubBook, render};
use crate::objects::{ObjectKey, ObjectStore};
use crate::pages::ReviewStatus;
use crate::store::Store;

pub struct ExportEpub {
    store: Arc<dyn Store>,
    objects: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
}

impl ExportEpub {
    pub fn new(
        store: Arc<dyn Store>,
        objects: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            objects,
            clock,
        }
    }
}

fn retryable(e: impl std::fmt::Display) -> ItemError {
    ItemError::retryable("EXPORT_FAILED", e.to_string())
}

#[async_trait]
impl ItemHandler for ExportEpub {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        let book = self
            .store
            .book(item.book_id)
            .await
            .map_err(retryable)?
            .ok_or_else(|| ItemError::terminal("BOOK_NOT_FOUND", "the book is gone"))?;
        let (_, _, topics) = crate::guidelines::current(&*self.store, item.book_id)
            .await
            .map_err(retryable)?;
        // The approved (or corrected) text of every page, for the chapters to quote.
        let mut approved = std::collections::BTreeMap::new();
        let pages = crate::store::all_pages(&*self.store, item.book_id)
            .await
            .map_err(retryable)?;
        for page in &pages {
            let ok = page
                .current_review()
                .is_some_and(|r| matches!(r.status, ReviewStatus::Approved | ReviewStatus::Edited));
            if let (true, Some(text)) = (ok, page.text()) {
                approved.insert(page.page_no, text);
            }
        }
        let mut chapters: Vec<Chapter> = topics
            .into_iter()
            .map(|topic| {
                let pages = topic
                    .pages
                    .iter()
                    .filter_map(|n| approved.get(n).map(|t| (*n, t.clone())))
                    .collect();
                Chapter::of(topic, pages)
            })
            .collect();
        if chapters.is_empty() {
            chapters.push(Chapter {
                title: book.title.clone(),
                key_points: Vec::new(),
                subtopics: Vec::new(),
                pages: approved.into_iter().collect(),
            });
        }
        let modified = chrono::DateTime::from_timestamp_millis(self.clock.now_ms())
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let epub = render(&EpubBook {
            identifier: format!("urn:uuid:{}", book.id),
            title: book.title,
            creator: book.owner,
            language: "en".to_owned(),
            modified,
            chapters: std::mem::take(&mut chapters),
            labels: pages
                .iter()
                .filter_map(|p| Some((p.page_no, p.label.clone()?)))
                .collect(),
        })
        .map_err(|e| ItemError::terminal("EXPORT_TOO_LARGE", e.to_string()))?;
        let bytes = epub.len();
        // A job cancelled while it rendered publishes nothing.
        item.may_start()?;
        let key = ObjectKey::epub(item.book_id, item.job_id, item.attempt);
        self.objects
            .put(&key, Bytes::from(epub))
            .await
            .map_err(retryable)?;
        Ok(json!({ "key": key.as_str(), "bytes": bytes }))
    }

    /// Local work: it never waits for anyone's quota.
    fn provider(&self) -> &str {
        "export_epub"
    }
}

/// Where the book's latest EPUB is: the object its newest completed export job names.
pub async fn latest_export(
    store: &dyn Store,
    book: quire_actors::BookId,
) -> Result<Option<ObjectKey>, quire_actors::StoreError> {
    let filter = quire_actors::ports::JobFilter {
        book: Some(book),
        kind: Some(quire_actors::JobKind::ExportEpub),
        status: Some(quire_actors::JobStatus::Completed),
    };
    let Some(job) = store.jobs(&filter, None, 1).await?.into_iter().next() else {
        return Ok(None);
    };
    let item = store
        .items(job.id, Some(quire_actors::ItemStatus::Completed), None, 1)
        .await?;
    Ok(item
        .first()
        .and_then(|i| i.result.as_ref()?.get("key")?.as_str().map(str::to_owned))
        .and_then(|key| ObjectKey::parse(&key).ok()))
}
