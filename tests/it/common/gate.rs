//! An object store proxy for tests: gates that hold a delete (or a put, after its bytes are
//! written) until the test opens them, so a test forces an interleaving instead of sleeping
//! for one; and an injected panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use quire::objects::{ObjectError, ObjectKey, ObjectStore};
use tokio::sync::Semaphore;

/// Holds each call that passes it while armed, until opened.
pub struct Gate {
    armed: AtomicBool,
    /// One permit per call held at the gate.
    reached: Semaphore,
    open: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            armed: AtomicBool::new(false),
            reached: Semaphore::new(0),
            open: Semaphore::new(0),
        }
    }
}

impl Gate {
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Waits (at most 30 s) until a call is held here.
    pub async fn reached(&self) {
        tokio::time::timeout(Duration::from_secs(30), self.reached.acquire())
            .await
            .expect("no call reached the gate")
            .unwrap()
            .forget();
    }

    /// Lets the held call (and every later one) through.
    pub fn open(&self) {
        self.armed.store(false, Ordering::SeqCst);
        self.open.add_permits(1);
    }

    async fn pass(&self) {
        if self.armed.load(Ordering::SeqCst) {
            self.reached.add_permits(1);
            self.open.acquire().await.unwrap().forget();
        }
    }
}

/// The proxy: every call goes to `inner`, through its gates.
pub struct GatedObjects {
    inner: Arc<dyn ObjectStore>,
    /// Before a delete.
    pub delete: Gate,
    /// After a put wrote its bytes, before it returns.
    pub after_put: Gate,
    /// Deletes panic (the caller's task dies mid-way).
    pub panic_on_delete: AtomicBool,
}

impl GatedObjects {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            delete: Gate::default(),
            after_put: Gate::default(),
            panic_on_delete: AtomicBool::new(false),
        })
    }
}

impl GatedObjects {
    /// Either kind of delete: the injected panic, then the gate.
    async fn before_delete(&self) {
        assert!(
            !self.panic_on_delete.load(Ordering::SeqCst),
            "injected: a delete panics"
        );
        self.delete.pass().await;
    }
}

#[async_trait]
impl ObjectStore for GatedObjects {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), ObjectError> {
        self.inner.put(key, bytes).await?;
        self.after_put.pass().await;
        Ok(())
    }
    async fn get(&self, key: &ObjectKey) -> Result<Bytes, ObjectError> {
        self.inner.get(key).await
    }
    async fn put_file(&self, key: &ObjectKey, path: &std::path::Path) -> Result<(), ObjectError> {
        self.inner.put_file(key, path).await?;
        self.after_put.pass().await;
        Ok(())
    }
    async fn get_to_file(
        &self,
        key: &ObjectKey,
        path: &std::path::Path,
    ) -> Result<u64, ObjectError> {
        self.inner.get_to_file(key, path).await
    }
    async fn exists(&self, key: &ObjectKey) -> Result<bool, ObjectError> {
        self.inner.exists(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        self.before_delete().await;
        self.inner.delete(key).await
    }
    async fn delete_prefix(&self, prefix: &ObjectKey) -> Result<u64, ObjectError> {
        self.before_delete().await;
        self.inner.delete_prefix(prefix).await
    }
    async fn check(&self) -> Result<(), ObjectError> {
        self.inner.check().await
    }
}

/// A server on `db` (folder storage) whose object store goes through a [`GatedObjects`].
pub async fn serve_gated(db: &super::db::TestDb) -> (super::api::Api, Arc<GatedObjects>) {
    let gated: Arc<std::sync::OnceLock<Arc<GatedObjects>>> = Arc::default();
    let slot = gated.clone();
    let api = super::api::serve_wrapped(db, super::api::Storage::Folder, &[], move |inner| {
        let g = GatedObjects::new(inner);
        let _ = slot.set(g.clone());
        g
    })
    .await;
    let gated = gated.get().expect("the server wrapped its store").clone();
    (api, gated)
}
