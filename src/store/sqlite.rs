//! The embedded default: one SQLite file in WAL mode.
//!
//! Writes go through a single connection and every write transaction starts with
//! `BEGIN IMMEDIATE`, so a transaction that reads and then writes never meets "database is
//! locked" halfway; reads use a small pool of their own.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use super::OpenError;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

#[async_trait::async_trait]
impl super::Store for SqliteStore {
    async fn close(&self) {
        tokio::join!(self.writer.close(), self.reader.close());
    }
}

/// The SQL the two backends write differently.
mod dialect {
    use quire_actors::model::{ItemOutcome, Lease};
    use serde::Serialize;
    use sqlx::types::Json;

    /// [`Self::INSERT_ITEMS`] where some may exist (`WHERE true` lets SQLite parse the
    /// upsert after a `SELECT`).
    pub const ADD_ITEMS: &str = "INSERT INTO job_items (job_id, item_no, status) \
         SELECT $1, value, 'pending' FROM json_each($2) WHERE true ON CONFLICT DO NOTHING";

    pub const INSERT_ITEMS: &str = "INSERT INTO job_items (job_id, item_no, status) \
         SELECT $1, value, 'pending' FROM json_each($2)";

    /// Materialized first, so the plan walks the batch and looks each item up by its key
    /// (inlined, SQLite would scan the whole job once per outcome).
    const COMMIT_ITEMS: &str = "WITH o AS MATERIALIZED ( \
           SELECT value ->> '$.item_no' AS item_no, value ->> '$.status' AS status, \
             value ->> '$.result' AS result, value ->> '$.error_class' AS error_class, \
             value ->> '$.error_code' AS error_code, value ->> '$.error' AS error, \
             value ->> '$.not_before' AS not_before, value ->> '$.finished_at' AS finished_at, \
             value ->> '$.slow' AS slow \
           FROM json_each($1)) \
         UPDATE job_items SET status = o.status, result = o.result, \
           error_class = o.error_class, error_code = o.error_code, error = o.error, \
           not_before = o.not_before, finished_at = o.finished_at, claim_generation = NULL, \
           slow = (job_items.slow OR o.slow) \
         FROM o \
         WHERE job_items.job_id = $2 AND job_items.item_no = o.item_no \
           AND job_items.status = 'processing' AND job_items.claim_generation = $3";

    /// Through the partial index of pending items: the primary key would walk past every
    /// finished item of the job at each claim.
    pub const CLAIM_ITEMS: &str = "UPDATE job_items \
         SET status = 'processing', attempts = attempts + 1, claim_generation = $2, started_at = $3 \
         WHERE job_id = $1 AND item_no IN ( \
           SELECT item_no FROM job_items INDEXED BY job_items_pending \
           WHERE job_id = $1 AND status = 'pending' AND (not_before IS NULL OR not_before <= $3) \
           ORDER BY item_no LIMIT $4) \
         RETURNING item_no, attempts";

    /// One outcome as the batch statements read it from a JSON array.
    #[derive(Serialize)]
    pub struct OutcomeRow<'a> {
        pub item_no: i64,
        pub status: &'static str,
        /// Pre-encoded JSON text, so both backends read it back verbatim.
        pub result: Option<String>,
        pub error_class: Option<&'static str>,
        pub error_code: Option<&'a str>,
        pub error: Option<&'a str>,
        pub not_before: Option<i64>,
        pub finished_at: Option<i64>,
        pub slow: bool,
    }

    impl<'a> From<&'a ItemOutcome> for OutcomeRow<'a> {
        fn from(o: &'a ItemOutcome) -> Self {
            OutcomeRow {
                item_no: o.item_no,
                status: o.status.as_str(),
                result: o.result.as_ref().map(|v| v.to_string()),
                error_class: o.error_class.map(|c| c.as_str()),
                error_code: o.error_code.as_deref(),
                error: o.error.as_deref(),
                not_before: o.not_before,
                finished_at: o.finished_at,
                slow: o.slow,
            }
        }
    }

    /// Writes a batch of outcomes in one statement; returns the rows it changed.
    pub async fn write_outcomes(
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        lease: &Lease,
        outcomes: &[ItemOutcome],
    ) -> Result<u64, sqlx::Error> {
        let rows: Vec<OutcomeRow<'_>> = outcomes.iter().map(OutcomeRow::from).collect();
        let done = sqlx::query(COMMIT_ITEMS)
            .bind(Json(&rows))
            .bind(lease.job_id.0)
            .bind(lease.generation)
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// One writer at a time: the statement alone is atomic, no row locks needed.
    pub const TAKE_OVER: &str = concat!(
        "UPDATE jobs SET lease_owner = $1, \
           lease_generation = lease_generation + 1, lease_expires_at = $2, heartbeat_at = $3 \
         WHERE id IN ( \
           SELECT id FROM jobs WHERE status IN ",
        super::super::rows::active_statuses!(),
        " \
             AND (CASE WHEN $4 IS NULL THEN lease_expires_at IS NULL OR lease_expires_at < $3 \
                       ELSE lease_owner = $4 END) \
             AND kind IN (SELECT value FROM json_each($6)) \
           ORDER BY created_at LIMIT $5) \
         RETURNING id, lease_generation"
    );
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or `sqlite::memory:`)
    /// and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| OpenError::BadUrl(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| OpenError::Io(dir.display().to_string(), e))?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self { writer, reader })
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'static, Sqlite>, quire_actors::StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(super::rows::classify)
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// For single statements; transactions go through [`Self::begin`].
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub fn writer_pool(&self) -> &SqlitePool {
        &self.writer
    }
}

super::shared::impl_stores!(SqliteStore, Sqlite, dialect);
super::catalog::impl_catalog!(SqliteStore, Sqlite);
super::pages::impl_page_store!(SqliteStore, Sqlite);
super::imports::impl_import_store!(SqliteStore, Sqlite);
