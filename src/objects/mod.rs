//! The object store port and its adapters: a local folder (the embedded default) and S3
//! (any S3-compatible store). Objects hold bytes only (page images, exports); the database
//! is the single source of truth for state.

mod folder;
mod key;
mod s3;

use async_trait::async_trait;
use bytes::Bytes;

pub use folder::FolderStore;
pub use key::{InvalidKey, ObjectKey};
pub use s3::{S3Settings, S3Store};

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("object `{0}` not found")]
    NotFound(String),
    /// Timeouts, refused connections, 5xx and 429: retryable.
    #[error("the object store is unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else (denied, bad bucket, full disk): not retried.
    #[error("the object store failed: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ObjectError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Where blobs live. Every write replaces the object whole: a reader sees the old bytes or
/// the new, never a mix.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), ObjectError>;
    async fn get(&self, key: &ObjectKey) -> Result<Bytes, ObjectError>;
    /// Writes the file at `path` as the object, streamed: a PDF of gigabytes never sits
    /// whole in memory.
    async fn put_file(&self, key: &ObjectKey, path: &std::path::Path) -> Result<(), ObjectError>;
    /// Streams the object into a new file at `path` (replaced whole: written beside it,
    /// then renamed); returns its size.
    async fn get_to_file(
        &self,
        key: &ObjectKey,
        path: &std::path::Path,
    ) -> Result<u64, ObjectError>;
    async fn exists(&self, key: &ObjectKey) -> Result<bool, ObjectError>;
    /// Deleting an absent object is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError>;
    /// Deletes every object under `prefix` (a book's folder); returns how many.
    async fn delete_prefix(&self, prefix: &ObjectKey) -> Result<u64, ObjectError>;
    /// Readiness: the store answers and the bucket or folder exists.
    async fn check(&self) -> Result<(), ObjectError>;
}
