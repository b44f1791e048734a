//! PostgreSQL, for production and for several nodes sharing the work.
//!
//! Takeovers claim jobs with `FOR UPDATE SKIP LOCKED`, so nodes racing for the same expired
//! leases each get different jobs, every job exactly once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::OpenError;

pub struct PgStore {
    pool: PgPool,
}

#[async_trait::async_trait]
impl super::Store for PgStore {
    async fn close(&self) {
        self.pool.close().await;
    }
}

/// The SQL the two backends write differently.
mod dialect {
    use quire_actors::model::{ItemOutcome, Lease};

    /// [`Self::INSERT_ITEMS`] where some may exist.
    pub const ADD_ITEMS: &str = "INSERT INTO job_items (job_id, item_no, status) \
         SELECT $1, value::bigint, 'pending' FROM jsonb_array_elements_text($2) \
         ON CONFLICT DO NOTHING";

    pub const INSERT_ITEMS: &str = "INSERT INTO job_items (job_id, item_no, status) \
         SELECT $1, value::bigint, 'pending' FROM jsonb_array_elements_text($2)";

    /// The outcomes come as parallel arrays: `unnest` drives the join, so each item is one
    /// primary-key lookup. The fence condition is wrapped in `IS TRUE` so that, without
    /// statistics on a fresh job, the planner does not take it for a near-empty filter and
    /// scan the whole job once per outcome instead.
    const COMMIT_ITEMS: &str = "UPDATE job_items AS i SET status = o.status, \
           result = o.result::jsonb, error_class = o.error_class, error_code = o.error_code, \
           error = o.error, not_before = o.not_before, finished_at = o.finished_at, \
           claim_generation = NULL, slow = (i.slow OR o.slow) \
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::bigint[], $8::bigint[], $11::boolean[]) \
           AS o (item_no, status, result, error_class, error_code, error, not_before, finished_at, slow) \
         WHERE i.job_id = $9 AND i.item_no = o.item_no \
           AND (i.status = 'processing' AND i.claim_generation = $10) IS TRUE";

    /// Writes a batch of outcomes in one statement; returns the rows it changed.
    pub async fn write_outcomes(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        lease: &Lease,
        outcomes: &[ItemOutcome],
    ) -> Result<u64, sqlx::Error> {
        let column =
            |f: fn(&ItemOutcome) -> Option<String>| outcomes.iter().map(f).collect::<Vec<_>>();
        let done = sqlx::query(COMMIT_ITEMS)
            .bind(outcomes.iter().map(|o| o.item_no).collect::<Vec<_>>())
            .bind(
                outcomes
                    .iter()
                    .map(|o| o.status.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(column(|o| o.result.as_ref().map(|v| v.to_string())))
            .bind(column(|o| o.error_class.map(|c| c.as_str().to_owned())))
            .bind(column(|o| o.error_code.clone()))
            .bind(column(|o| o.error.clone()))
            .bind(outcomes.iter().map(|o| o.not_before).collect::<Vec<_>>())
            .bind(outcomes.iter().map(|o| o.finished_at).collect::<Vec<_>>())
            .bind(lease.job_id.0)
            .bind(lease.generation)
            .bind(outcomes.iter().map(|o| o.slow).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected())
    }

    pub const CLAIM_ITEMS: &str = "UPDATE job_items \
         SET status = 'processing', attempts = attempts + 1, claim_generation = $2, started_at = $3 \
         WHERE job_id = $1 AND item_no IN ( \
           SELECT item_no FROM job_items \
           WHERE job_id = $1 AND status = 'pending' AND (not_before IS NULL OR not_before <= $3) \
           ORDER BY item_no LIMIT $4) \
         RETURNING item_no, attempts";

    pub const TAKE_OVER: &str = concat!(
        "UPDATE jobs SET lease_owner = $1, \
           lease_generation = lease_generation + 1, lease_expires_at = $2, heartbeat_at = $3 \
         WHERE id IN ( \
           SELECT id FROM jobs WHERE status IN ",
        super::super::rows::active_statuses!(),
        " \
             AND (CASE WHEN $4::text IS NULL THEN lease_expires_at IS NULL OR lease_expires_at < $3 \
                       ELSE lease_owner = $4 END) \
             AND kind IN (SELECT jsonb_array_elements_text($6)) \
           ORDER BY created_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
         RETURNING id, lease_generation"
    );
}

impl PgStore {
    /// Connects to `url` and applies the migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| OpenError::BadUrl(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    async fn begin(
        &self,
    ) -> Result<sqlx::Transaction<'static, Postgres>, quire_actors::StoreError> {
        self.pool.begin().await.map_err(super::rows::classify)
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

super::shared::impl_stores!(PgStore, Postgres, dialect);
super::catalog::impl_catalog!(PgStore, Postgres);
super::pages::impl_page_store!(PgStore, Postgres);
super::imports::impl_import_store!(PgStore, Postgres);
