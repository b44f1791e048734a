//! Storage adapters: the runtime's [`JobStore`] port and the application's [`Catalog`],
//! on SQLite (the embedded default) and PostgreSQL, sharing one implementation.

mod catalog;
pub mod imports;
mod node_lock;
mod pages;
mod postgres;
mod rows;
pub mod scratch;
mod shared;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use quire_actors::ports::JobStore;
use quire_actors::{BookId, JobKind, JobStatus, StoreError};
use serde::Serialize;

pub use imports::ImportStore;
pub use node_lock::NodeLock;
pub use pages::{PageStore, all_pages};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A book: the unit an admin uploads and a JobLock protects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Book {
    pub id: BookId,
    pub title: String,
    pub owner: Option<String>,
    pub created_at: i64,
}

/// Jobs of one kind and status, and their items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobTotals {
    pub kind: JobKind,
    pub status: JobStatus,
    pub jobs: u64,
    pub items: u64,
    pub completed_items: u64,
    pub failed_items: u64,
}

#[derive(Clone, Debug)]
pub struct NewBook {
    pub title: String,
    pub owner: Option<String>,
}

/// Books.
#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    async fn create_book(&self, new: &NewBook, now: i64) -> Result<Book, StoreError>;
    async fn book(&self, id: BookId) -> Result<Option<Book>, StoreError>;
    /// Books in creation order after `after`, at most `limit`.
    async fn books(&self, after: Option<BookId>, limit: u32) -> Result<Vec<Book>, StoreError>;

    /// The newest job of each of these books, in one query (a page of books, not one query
    /// per book).
    async fn latest_jobs(
        &self,
        books: &[BookId],
    ) -> Result<std::collections::HashMap<BookId, quire_actors::Job>, StoreError>;

    /// Jobs counted by kind and status, with their items by outcome, for metrics.
    async fn job_totals(&self) -> Result<Vec<JobTotals>, StoreError>;
}

/// Everything the application stores, on one backend.
#[async_trait]
pub trait Store: JobStore + Catalog + PageStore + ImportStore {
    /// Waits for every connection to come back and closes them; later calls fail
    /// unavailable. A process calls it before its runtime ends, so no connection is
    /// dropped (and returned to its pool) after the executor is gone.
    async fn close(&self);
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the database URL is invalid: {0}")]
    BadUrl(String),
    #[error("the database URL must start with sqlite:// or postgres:// (got `{0}`)")]
    UnknownScheme(String),
    #[error("cannot create {0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply the migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens the store `url` names, applying migrations.
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, OpenError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, max_connections).await?))
    } else {
        Err(OpenError::UnknownScheme(
            url.split(':').next().unwrap_or_default().to_owned(),
        ))
    }
}
