//! [`PdfFiles`]: this node's local copies of stored PDFs. The tools read files, and the
//! object store may be S3: an import's PDF is fetched once per node (streamed to disk),
//! shared by its pages, and removed when the import ends. The copy is a cache: the object
//! store holds the file, so a node that lost its copy (a restart, another node taking the
//! job over) fetches it again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use quire_actors::{BookId, JobId};

use crate::objects::{ObjectError, ObjectKey, ObjectStore};

/// One lock per import being fetched.
type Fetches = HashMap<(BookId, JobId), Arc<tokio::sync::Mutex<()>>>;

pub struct PdfFiles {
    dir: PathBuf,
    objects: Arc<dyn ObjectStore>,
    /// One fetch at a time per import: its pages wait for the first.
    fetching: Mutex<Fetches>,
}

impl PdfFiles {
    /// Keeps copies under `dir`, emptied first: no job runs on this node yet.
    pub fn new(dir: PathBuf, objects: Arc<dyn ObjectStore>) -> std::io::Result<Self> {
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            objects,
            fetching: Mutex::new(HashMap::new()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the copy of `import`'s file lives (whether or not it is there yet).
    pub fn path(&self, book: BookId, import: JobId) -> PathBuf {
        self.dir
            .join(book.0.simple().to_string())
            .join(format!("{}.pdf", import.0.simple()))
    }

    /// A scratch folder of its own for one call (rendered pages, a decrypted copy), removed
    /// when dropped.
    pub fn scratch(&self) -> std::io::Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("scratch-")
            .tempdir_in(&self.dir)
    }

    /// Keeps `file` (just received and stored) as the local copy of `import`.
    pub async fn adopt(&self, book: BookId, import: JobId, file: &Path) -> std::io::Result<()> {
        let path = self.path(book, import);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(file, path).await
    }

    /// The local copy of `import`'s file (stored at `key`), fetched if this node has none.
    pub async fn local(
        &self,
        book: BookId,
        import: JobId,
        key: &ObjectKey,
    ) -> Result<PathBuf, ObjectError> {
        let path = self.path(book, import);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(path);
        }
        let gate = self
            .fetching
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((book, import))
            .or_default()
            .clone();
        let _one = gate.lock().await;
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| ObjectError::Other(Box::new(e)))?;
            }
            self.objects.get_to_file(key, &path).await?;
        }
        Ok(path)
    }

    /// Removes the copies of `book`'s imports (a job of the book ended); none is fine.
    pub async fn remove_book(&self, book: BookId) {
        self.fetching
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(b, _), _| *b != book);
        match tokio::fs::remove_dir_all(self.dir.join(book.0.simple().to_string())).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(book_id = %book, error = %e, "cannot remove a book's PDF copies");
            }
            _ => {}
        }
    }
}
