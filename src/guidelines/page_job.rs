//! The `extract` job kind: one item per page, each read on its own (so one slow page never
//! holds the others back); the ordered pass that joins pages runs when the guidelines are
//! read.

use std::sync::Arc;

use async_trait::async_trait;
use quire_actors::ports::{ItemContext, ItemHandler};
use quire_actors::{ItemError, StoreError};
use serde_json::Value;

use super::Extractor;
use crate::store::Store;

pub struct ExtractPages {
    store: Arc<dyn Store>,
    extractor: Arc<dyn Extractor>,
    /// Pages extracted at once: the extractor's own concurrency. Pages wait here, where a
    /// cancel stops them, not inside the provider's client, where it could not.
    slots: tokio::sync::Semaphore,
}

impl ExtractPages {
    pub fn new(store: Arc<dyn Store>, extractor: Arc<dyn Extractor>, concurrency: usize) -> Self {
        Self {
            store,
            extractor,
            slots: tokio::sync::Semaphore::new(concurrency.max(1)),
        }
    }
}

fn store_error(e: StoreError) -> ItemError {
    if e.is_retryable() {
        ItemError::retryable("STORE_UNAVAILABLE", e.to_string())
    } else {
        ItemError::fatal("STORE_FAILED", e.to_string())
    }
}

#[async_trait]
impl ItemHandler for ExtractPages {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        let page = self
            .store
            .page(item.book_id, item.item_no)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                ItemError::terminal("PAGE_NOT_FOUND", format!("page {} is gone", item.item_no))
            })?;
        // The reviewer's edit if there is one, else what OCR read.
        let text = page.text().ok_or_else(|| {
            ItemError::terminal(
                "NO_TEXT",
                format!(
                    "page {} has no text yet: its OCR has not completed",
                    item.item_no
                ),
            )
        })?;
        let _slot = item.slot(&self.slots).await?;
        let found = self.extractor.extract(item.item_no, &text).await?;
        serde_json::to_value(found)
            .map_err(|e| ItemError::terminal("INVALID_MODEL_OUTPUT", e.to_string()))
    }

    fn provider(&self) -> &str {
        self.extractor.provider()
    }
}

/// The `finalize` job kind: one item, the whole book's draft merged into final guidelines.
pub struct FinalizeGuidelines {
    store: Arc<dyn Store>,
}

impl FinalizeGuidelines {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl ItemHandler for FinalizeGuidelines {
    async fn run(&self, item: &ItemContext) -> Result<Value, ItemError> {
        let found = self
            .store
            .page_guidelines(item.book_id)
            .await
            .map_err(store_error)?;
        let pages: Vec<(i64, super::PageGuidelines)> = found
            .into_iter()
            .filter_map(|(n, v)| Some((n, serde_json::from_value(v).ok()?)))
            .collect();
        if pages.is_empty() {
            return Err(ItemError::terminal(
                "NO_GUIDELINES",
                "no page has extracted guidelines to finalize",
            ));
        }
        let topics = super::finalize(super::assemble(&pages));
        // A job cancelled while it merged publishes nothing.
        item.may_start()?;
        Ok(serde_json::json!({ "pages": pages.len(), "topics": topics }))
    }

    /// Local work: it never waits for anyone's quota.
    fn provider(&self) -> &str {
        "finalize"
    }
}
