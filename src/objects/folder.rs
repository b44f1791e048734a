//! Objects as files under one folder: the embedded default.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectError, ObjectKey, ObjectStore};

pub struct FolderStore {
    root: PathBuf,
}

impl FolderStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }
}

/// Copies `from` to `to` through a file beside `to`, synced, then renamed: a reader sees
/// the old file or the whole new one.
async fn copy_whole(from: &Path, to: &Path) -> std::io::Result<u64> {
    let tmp = to.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let copied = async {
        let n = tokio::fs::copy(from, &tmp).await?;
        tokio::fs::File::open(&tmp).await?.sync_all().await?;
        tokio::fs::rename(&tmp, to).await?;
        Ok(n)
    }
    .await;
    if copied.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    copied
}

fn classify(e: std::io::Error, key: &ObjectKey) -> ObjectError {
    match e.kind() {
        ErrorKind::NotFound => ObjectError::NotFound(key.to_string()),
        ErrorKind::Interrupted | ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            ObjectError::Unavailable(Box::new(e))
        }
        _ => ObjectError::Other(Box::new(e)),
    }
}

async fn count_files(dir: &Path) -> std::io::Result<u64> {
    let mut count = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let mut entries = tokio::fs::read_dir(&dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_type().await?.is_dir() {
                stack.push(entry.path());
            } else {
                count += 1;
            }
        }
    }
    Ok(count)
}

#[async_trait]
impl ObjectStore for FolderStore {
    /// Written to a temporary file beside the target, then renamed over it.
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), ObjectError> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| classify(e, key))?;
        }
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        let written = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
            // On disk before it is visible: the database may call it done right after.
            file.sync_all().await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(classify(e, key));
        }
        Ok(())
    }

    async fn put_file(&self, key: &ObjectKey, from: &Path) -> Result<(), ObjectError> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| classify(e, key))?;
        }
        copy_whole(from, &path)
            .await
            .map_err(|e| classify(e, key))?;
        Ok(())
    }

    async fn get_to_file(&self, key: &ObjectKey, to: &Path) -> Result<u64, ObjectError> {
        copy_whole(&self.path(key), to)
            .await
            .map_err(|e| classify(e, key))
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, ObjectError> {
        tokio::fs::read(self.path(key))
            .await
            .map(Bytes::from)
            .map_err(|e| classify(e, key))
    }

    async fn exists(&self, key: &ObjectKey) -> Result<bool, ObjectError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(classify(e, key)),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(classify(e, key)),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &ObjectKey) -> Result<u64, ObjectError> {
        let dir = self.path(prefix);
        let count = match count_files(&dir).await {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(classify(e, prefix)),
        };
        tokio::fs::remove_dir_all(&dir)
            .await
            .map_err(|e| classify(e, prefix))?;
        Ok(count)
    }

    async fn check(&self) -> Result<(), ObjectError> {
        let meta = tokio::fs::metadata(&self.root)
            .await
            .map_err(|e| ObjectError::Other(Box::new(e)))?;
        if meta.is_dir() {
            Ok(())
        } else {
            Err(ObjectError::Other(
                format!("{} is not a folder", self.root.display()).into(),
            ))
        }
    }
}
