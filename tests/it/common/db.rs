//! A fresh database per test, on either backend.

use std::sync::Arc;

use quire::store::{self, PgStore, SqliteStore, Store};
use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The server the PostgreSQL tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("QUIRE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test: a SQLite file in a temp dir, or a PostgreSQL
/// database dropped when the test ends.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("quire.db").display());
                TestDb {
                    backend,
                    url,
                    pg_name: None,
                    _dir: dir,
                }
            }
            Backend::Postgres => {
                let name = format!("quire_test_{}", uuid::Uuid::new_v4().simple());
                let admin = pg_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("PostgreSQL must run for these tests (see scripts/test)");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let url = match admin.rsplit_once('/') {
                    Some((server, _)) => format!("{server}/{name}"),
                    None => panic!("QUIRE_TEST_PG_URL must name a database"),
                };
                TestDb {
                    backend,
                    url,
                    pg_name: Some(name),
                    _dir: dir,
                }
            }
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

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any async context we can rely on: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(&sql).execute(&mut conn).await;
                    }
                });
            }
        })
        .join();
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
