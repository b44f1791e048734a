//! A fresh database per test, on either backend.

use std::sync::Arc;

pub use quire::store::scratch::Backend;
use quire::store::scratch::ScratchDb;
use quire::store::{self, PgStore, SqliteStore, Store};

/// A database that exists for one test.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _scratch: ScratchDb,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let scratch = ScratchDb::new(backend)
            .await
            .expect("a scratch database (PostgreSQL must run: see scripts/test)");
        TestDb {
            backend,
            url: scratch.url.clone(),
            _scratch: scratch,
        }
    }

    /// A new store on this database: each call has its own connections.
    pub async fn store(&self) -> Arc<dyn Store> {
        store::open(&self.url, 8).await.expect("open store")
    }

    /// Runs raw SQL on a connection of its own, as an operator or a bug might.
    pub async fn exec(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let s = SqliteStore::open(&self.url).await.expect("open");
                sqlx::query(sql)
                    .execute(s.writer_pool())
                    .await
                    .map(|r| r.rows_affected())
            }
            Backend::Postgres => {
                let s = PgStore::open(&self.url, 1).await.expect("open");
                sqlx::query(sql)
                    .execute(s.pool())
                    .await
                    .map(|r| r.rows_affected())
            }
        }
    }
}

/// Runs each listed `async fn(Backend)` test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[actix_rt::test]
                async fn $name() {
                    super::$name($crate::common::db::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[actix_rt::test]
                async fn $name() {
                    super::$name($crate::common::db::Backend::Postgres).await
                }
            )+
        }
    };
}
