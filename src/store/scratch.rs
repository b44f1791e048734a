//! Throwaway databases for tests and benchmarks: a SQLite file in a temporary folder, or a
//! fresh PostgreSQL database that is dropped with its handle.

use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server scratch databases are made on: `QUIRE_TEST_PG_URL`, or the local
/// server with trust auth that `scripts/ensure-postgres` provides.
pub fn pg_admin_url() -> String {
    std::env::var("QUIRE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub struct ScratchDb {
    pub backend: Backend,
    /// What `store::open` takes.
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl ScratchDb {
    pub async fn new(backend: Backend) -> Result<ScratchDb, sqlx::Error> {
        let dir = tempfile::tempdir()?;
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("quire.db").display());
                Ok(ScratchDb {
                    backend,
                    url,
                    pg_name: None,
                    _dir: dir,
                })
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = format!("quire_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                let server = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(server, _)| server);
                let url = format!("{server}/{name}");
                Ok(ScratchDb {
                    backend,
                    url,
                    pg_name: Some(name),
                    _dir: dir,
                })
            }
        }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop may run outside any runtime: use a thread with one of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&sql).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}
