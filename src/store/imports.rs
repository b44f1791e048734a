//! PDF imports: the [`ImportStore`] port and its one implementation for both backends.
//!
//! An import's record, its pages and their items are written in one transaction under the
//! import job's held lease, so a book never has half an import's pages.

use async_trait::async_trait;
use quire_actors::model::Lease;
use quire_actors::{BookId, JobId, StoreError};

use crate::pdf::import::{NewPdfPage, PdfImport};

/// Pages one import statement writes: SQLite binds at most 32,766 values, and each page
/// binds eight.
pub const IMPORT_PAGES_PER_STATEMENT: usize = 500;

#[async_trait]
pub trait ImportStore: Send + Sync + 'static {
    /// Records the import of the job `lease` holds and adds its pages, each with its item
    /// of that job (counted in the job's total), and moves the job to `stage`.
    async fn add_pdf_import(
        &self,
        lease: &Lease,
        import: &PdfImport,
        pages: &[NewPdfPage],
        stage: &str,
        now: i64,
    ) -> Result<(), StoreError>;

    async fn pdf_import(&self, job: JobId) -> Result<Option<PdfImport>, StoreError>;

    /// The stage of a job its holder runs outside the JobActor (a held import's
    /// `analyzing`), fenced by its lease.
    async fn set_stage(&self, lease: &Lease, stage: &str, now: i64) -> Result<(), StoreError>;

    /// A page's text layer as its import's analysis read it.
    async fn text_layer(&self, book: BookId, page_no: i64) -> Result<Option<String>, StoreError>;
}

macro_rules! impl_import_store {
    ($store:ty, $db:ty) => {
        use $crate::pdf::import::{ImportMode, NewPdfPage, PdfImport};
        use $crate::store::imports::{IMPORT_PAGES_PER_STATEMENT, ImportStore};
        use $crate::store::rows::corrupt;

        #[async_trait::async_trait]
        impl ImportStore for $store {
            async fn add_pdf_import(
                &self,
                lease: &Lease,
                import: &PdfImport,
                pages: &[NewPdfPage],
                stage: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let (status, held) = Self::fence_held(&mut tx, lease, now).await?;
                if !held {
                    return Err(wrong_status(lease.job_id, status));
                }
                sqlx::query(
                    "INSERT INTO pdf_imports (job_id, book_id, file_bytes, pages, first_page, last_page, \
                     mode, dpi, encrypted, outline, labels, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(import.job_id.0)
                .bind(import.book_id.0)
                .bind(import.file_bytes as i64)
                .bind(import.pages as i64)
                .bind(import.first_page as i64)
                .bind(import.last_page as i64)
                .bind(import.mode.as_str())
                .bind(import.dpi as i64)
                .bind(import.encrypted)
                .bind(serde_json::to_string(&import.outline).map_err(corrupt)?)
                .bind(serde_json::to_string(&import.labels).map_err(corrupt)?)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                for chunk in pages.chunks(IMPORT_PAGES_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO pages (book_id, page_no, content_type, bytes, added_by, created_at, \
                         object_id, pdf_import, pdf_page, label, text_layer) ",
                    );
                    query.push_values(chunk, |mut row, page| {
                        row.push_bind(import.book_id.0)
                            .push_bind(page.page_no)
                            .push_bind("application/pdf")
                            .push_bind(import.file_bytes as i64)
                            .push_bind(import.job_id.0)
                            .push_bind(now)
                            .push_bind(page.image_id.as_str().to_owned())
                            .push_bind(import.job_id.0)
                            .push_bind(page.pdf_page as i64)
                            .push_bind(page.label.clone())
                            .push_bind(page.text_layer.clone());
                    });
                    query.build().execute(&mut *tx).await.map_err(classify)?;
                    // A page the analysis settled is written completed, its one attempt done.
                    let mut items = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO job_items (job_id, item_no, status, attempts, result, started_at, finished_at) ",
                    );
                    items.push_values(chunk, |mut row, page| {
                        let done = page.settled.is_some();
                        row.push_bind(import.job_id.0)
                            .push_bind(page.page_no)
                            .push_bind(if done { "completed" } else { "pending" })
                            .push_bind(i64::from(done))
                            .push_bind(page.settled.as_ref().map(sqlx::types::Json))
                            .push_bind(done.then_some(now))
                            .push_bind(done.then_some(now));
                    });
                    items.build().execute(&mut *tx).await.map_err(classify)?;
                }
                let settled: Vec<i64> =
                    pages.iter().filter(|p| p.settled.is_some()).map(|p| p.page_no).collect();
                sqlx::query(
                    "UPDATE jobs SET total_items = total_items + $2, stage = $3, stage_started_at = $4, \
                     completed_items = completed_items + $5, last_completed_item = $6 WHERE id = $1",
                )
                .bind(lease.job_id.0)
                .bind(pages.len() as i64)
                .bind(stage)
                .bind(now)
                .bind(settled.len() as i64)
                .bind(settled.iter().max().copied())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                tx.commit().await.map_err(classify)
            }

            async fn pdf_import(&self, job: JobId) -> Result<Option<PdfImport>, StoreError> {
                type Row = (uuid::Uuid, uuid::Uuid, i64, i64, i64, i64, String, i64, bool, String, String, i64);
                let row: Option<Row> = sqlx::query_as(
                    "SELECT job_id, book_id, file_bytes, pages, first_page, last_page, mode, dpi, \
                     encrypted, outline, labels, created_at FROM pdf_imports WHERE job_id = $1",
                )
                .bind(job.0)
                .fetch_optional(self.reader())
                .await
                .map_err(classify)?;
                let Some((job_id, book_id, file_bytes, pages, first, last, mode, dpi, encrypted, outline, labels, created_at)) = row else {
                    return Ok(None);
                };
                let int = |v: i64| u32::try_from(v).map_err(corrupt);
                Ok(Some(PdfImport {
                    job_id: JobId(job_id),
                    book_id: BookId(book_id),
                    file_bytes: u64::try_from(file_bytes).map_err(corrupt)?,
                    pages: int(pages)?,
                    first_page: int(first)?,
                    last_page: int(last)?,
                    mode: ImportMode::parse(&mode).ok_or_else(|| corrupt(format!("import mode `{mode}`")))?,
                    dpi: int(dpi)?,
                    encrypted,
                    outline: serde_json::from_str(&outline).map_err(corrupt)?,
                    labels: serde_json::from_str(&labels).map_err(corrupt)?,
                    created_at,
                }))
            }

            async fn set_stage(&self, lease: &Lease, stage: &str, now: i64) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                Self::fence(&mut tx, lease, now).await?;
                sqlx::query("UPDATE jobs SET stage = $2, stage_started_at = $3 WHERE id = $1")
                    .bind(lease.job_id.0)
                    .bind(stage)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)
            }

            async fn text_layer(&self, book: BookId, page_no: i64) -> Result<Option<String>, StoreError> {
                let row: Option<(Option<String>,)> =
                    sqlx::query_as("SELECT text_layer FROM pages WHERE book_id = $1 AND page_no = $2")
                        .bind(book.0)
                        .bind(page_no)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(classify)?;
                Ok(row.and_then(|(text,)| text))
            }
        }
    };
}
pub(crate) use impl_import_store;
