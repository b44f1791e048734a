//! Pages: the [`PageStore`] port and its one implementation for both backends.
//!
//! Every page write happens under the book's JobLock: an upload adds pages to the OCR job it
//! holds (each page row with its OCR item, in one transaction), and a review changes only
//! the review columns.

use std::collections::HashMap;

use async_trait::async_trait;
use quire_actors::model::Lease;
use quire_actors::{BookId, StoreError};

use crate::pages::{NewPage, Page, PageCounts, PageImages, Review};

/// Most page numbers one statement binds: far below SQLite's (32,766) and PostgreSQL's
/// (65,535) limits, whatever list a request names.
pub const PAGES_PER_STATEMENT: usize = 500;

#[async_trait]
pub trait PageStore: Send + Sync + 'static {
    /// Adds a page to the book of the held (uploading) job under `lease`, with its item in
    /// that job, and counts the item in the job's `total_items`. Refused unless the job is
    /// still held ([`StoreError::WrongStatus`] once it ended, e.g. cancelled).
    async fn add_page(&self, lease: &Lease, page: &NewPage, now: i64) -> Result<(), StoreError>;

    /// Takes back every page the held job under `lease` added (a rejected upload), with
    /// their items; returns where their images are, in page order. Refused unless the job
    /// is still held: then every page stays, and so must its images.
    async fn remove_added_pages(
        &self,
        lease: &Lease,
        now: i64,
    ) -> Result<Vec<PageImages>, StoreError>;

    /// Pages in page order after `after`, at most `limit`.
    async fn pages(
        &self,
        book: BookId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Page>, StoreError>;

    async fn page(&self, book: BookId, page_no: i64) -> Result<Option<Page>, StoreError>;

    /// The highest page number of the book.
    async fn last_page_no(&self, book: BookId) -> Result<Option<i64>, StoreError>;

    /// Which of these page numbers the book already has, sorted; any number of them, read
    /// [`PAGES_PER_STATEMENT`] at a time.
    async fn existing_pages(&self, book: BookId, pages: &[i64]) -> Result<Vec<i64>, StoreError>;

    /// Page counts of each of these books, in one query.
    async fn page_counts(
        &self,
        books: &[BookId],
    ) -> Result<HashMap<BookId, PageCounts>, StoreError>;

    /// Records a review; `None` if the page does not exist.
    async fn review_page(
        &self,
        book: BookId,
        page_no: i64,
        review: &Review,
    ) -> Result<Option<Page>, StoreError>;

    /// Each page's newest completed `extract` result, in page order.
    async fn page_guidelines(
        &self,
        book: BookId,
    ) -> Result<Vec<(i64, serde_json::Value)>, StoreError>;

    /// Deletes the book with its pages and jobs, unless a job holds its JobLock
    /// ([`StoreError::BookBusy`]). `false` if there was no such book.
    async fn delete_book(&self, book: BookId) -> Result<bool, StoreError>;

    /// Deletes one page's row, unless a job holds the book (`BookBusy`), and returns where
    /// its images are (the row's own image id, read by the same statement); `None` if the
    /// page does not exist. Its OCR and extraction items stay with their jobs' history.
    async fn delete_page(
        &self,
        book: BookId,
        page_no: i64,
    ) -> Result<Option<PageImages>, StoreError>;
}

/// Every page of the book, in order, read a batch at a time.
pub async fn all_pages(
    store: &dyn PageStore,
    book: BookId,
) -> Result<Vec<crate::pages::Page>, StoreError> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let batch = store.pages(book, after, 500).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.page_no);
        pages.extend(batch);
    }
    Ok(pages)
}

/// The page columns and the page's current OCR item, for [`PageRow`].
macro_rules! page_select {
    () => {
        "SELECT p.book_id, p.page_no, p.content_type, p.bytes, p.original_name, p.added_by, p.object_id, \
           p.pdf_import, p.pdf_page, p.label, \
           p.review_status, p.review_text, p.review_job_id, p.reviewed_at, p.created_at, \
           i.job_id AS ocr_job_id, j.status AS ocr_job_status, i.status AS ocr_status, \
           i.attempts AS ocr_attempts, i.not_before AS ocr_not_before, \
           i.error_class AS ocr_error_class, i.error_code AS ocr_error_code, \
           i.error AS ocr_error, i.result AS ocr_result, i.started_at AS ocr_started_at, \
           i.finished_at AS ocr_finished_at, i.slow AS ocr_slow \
         FROM pages p \
         LEFT JOIN job_items i ON i.item_no = p.page_no AND i.job_id = ( \
           SELECT j2.id FROM jobs j2 JOIN job_items i2 ON i2.job_id = j2.id AND i2.item_no = p.page_no \
           WHERE j2.book_id = p.book_id AND j2.kind IN ('ocr', 'pdf_import') ORDER BY j2.id DESC LIMIT 1) \
         LEFT JOIN jobs j ON j.id = i.job_id "
    };
}
pub(crate) use page_select;

macro_rules! impl_page_store {
    ($store:ty, $db:ty) => {
        use $crate::pages::{ImageId, NewPage, Page, PageCounts, PageImages, Review};
        use $crate::store::pages::{page_select, PageStore, PAGES_PER_STATEMENT};
        use $crate::store::rows::PageRow;

        #[async_trait::async_trait]
        impl PageStore for $store {
            async fn add_page(&self, lease: &Lease, page: &NewPage, now: i64) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let (status, held) = Self::fence_held(&mut tx, lease, now).await?;
                if !held {
                    return Err(wrong_status(lease.job_id, status));
                }
                sqlx::query(
                    "INSERT INTO pages (book_id, page_no, content_type, bytes, original_name, added_by, created_at, object_id) \
                     SELECT book_id, $2, $3, $4, $5, id, $6, $7 FROM jobs WHERE id = $1",
                )
                .bind(lease.job_id.0)
                .bind(page.page_no)
                .bind(page.kind.mime())
                .bind(page.bytes as i64)
                .bind(page.original_name.as_deref())
                .bind(now)
                .bind(page.image_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                sqlx::query("INSERT INTO job_items (job_id, item_no, status) VALUES ($1, $2, 'pending')")
                    .bind(lease.job_id.0)
                    .bind(page.page_no)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                // The job's progress counts its items as they come, not at its release.
                sqlx::query("UPDATE jobs SET total_items = total_items + 1 WHERE id = $1")
                    .bind(lease.job_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)
            }

            async fn remove_added_pages(
                &self,
                lease: &Lease,
                now: i64,
            ) -> Result<Vec<PageImages>, StoreError> {
                let mut tx = self.begin().await?;
                let (status, held) = Self::fence_held(&mut tx, lease, now).await?;
                if !held {
                    return Err(wrong_status(lease.job_id, status));
                }
                let rows: Vec<(uuid::Uuid, i64, Option<String>)> = sqlx::query_as(
                    "DELETE FROM pages WHERE added_by = $1 RETURNING book_id, page_no, object_id",
                )
                .bind(lease.job_id.0)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                sqlx::query("DELETE FROM job_items WHERE job_id = $1")
                    .bind(lease.job_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                sqlx::query("UPDATE jobs SET total_items = 0 WHERE id = $1")
                    .bind(lease.job_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                let mut removed = rows
                    .into_iter()
                    .map(|(book, page_no, id)| page_images(book, page_no, id))
                    .collect::<Result<Vec<_>, _>>()?;
                removed.sort_unstable_by_key(|p| p.page_no);
                Ok(removed)
            }

            async fn pages(
                &self,
                book: BookId,
                after: Option<i64>,
                limit: u32,
            ) -> Result<Vec<Page>, StoreError> {
                let rows: Vec<PageRow> = sqlx::query_as(concat!(
                    page_select!(),
                    "WHERE p.book_id = $1 AND p.page_no > $2 ORDER BY p.page_no LIMIT $3"
                ))
                .bind(book.0)
                .bind(after.unwrap_or(0))
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await
                .map_err(classify)?;
                rows.into_iter().map(Page::try_from).collect()
            }

            async fn page(&self, book: BookId, page_no: i64) -> Result<Option<Page>, StoreError> {
                let row: Option<PageRow> =
                    sqlx::query_as(concat!(page_select!(), "WHERE p.book_id = $1 AND p.page_no = $2"))
                        .bind(book.0)
                        .bind(page_no)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(classify)?;
                row.map(Page::try_from).transpose()
            }

            async fn last_page_no(&self, book: BookId) -> Result<Option<i64>, StoreError> {
                sqlx::query_scalar("SELECT MAX(page_no) FROM pages WHERE book_id = $1")
                    .bind(book.0)
                    .fetch_one(self.reader())
                    .await
                    .map_err(classify)
            }

            async fn existing_pages(&self, book: BookId, pages: &[i64]) -> Result<Vec<i64>, StoreError> {
                let mut found = Vec::new();
                for chunk in pages.chunks(PAGES_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT page_no FROM pages WHERE book_id = ",
                    );
                    query.push_bind(book.0).push(" AND page_no IN (");
                    let mut list = query.separated(", ");
                    for page in chunk {
                        list.push_bind(*page);
                    }
                    query.push(")");
                    let some: Vec<i64> = query
                        .build_query_scalar()
                        .fetch_all(self.reader())
                        .await
                        .map_err(classify)?;
                    found.extend(some);
                }
                found.sort_unstable();
                found.dedup();
                Ok(found)
            }

            async fn page_counts(
                &self,
                books: &[BookId],
            ) -> Result<std::collections::HashMap<BookId, PageCounts>, StoreError> {
                let mut counts = std::collections::HashMap::new();
                if books.is_empty() {
                    return Ok(counts);
                }
                let mut query = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT p.book_id, i.status, ",
                    "CASE WHEN p.review_status <> 'unreviewed' AND p.review_job_id = i.job_id THEN 1 ELSE 0 END, ",
                    "COUNT(*) FROM pages p ",
                    "LEFT JOIN job_items i ON i.item_no = p.page_no AND i.job_id = ( ",
                    "SELECT j2.id FROM jobs j2 JOIN job_items i2 ON i2.job_id = j2.id AND i2.item_no = p.page_no ",
                    "WHERE j2.book_id = p.book_id AND j2.kind IN ('ocr', 'pdf_import') ORDER BY j2.id DESC LIMIT 1) ",
                    "WHERE p.book_id IN ("
                ));
                let mut ids = query.separated(", ");
                for book in books {
                    ids.push_bind(book.0);
                }
                query.push(") GROUP BY 1, 2, 3");
                let rows: Vec<(uuid::Uuid, Option<String>, i32, i64)> =
                    query.build_query_as().fetch_all(self.reader()).await.map_err(classify)?;
                for (book, status, reviewed, n) in rows {
                    let c: &mut PageCounts = counts.entry(BookId(book)).or_default();
                    let n = n as u64;
                    c.total += n;
                    if reviewed == 1 {
                        c.reviewed += n;
                    }
                    match status.as_deref().map(str::parse::<ItemStatus>).transpose() {
                        Ok(None | Some(ItemStatus::Pending)) => c.pending += n,
                        Ok(Some(ItemStatus::Processing)) => c.processing += n,
                        Ok(Some(ItemStatus::Completed)) => c.completed += n,
                        Ok(Some(ItemStatus::Failed)) => c.failed += n,
                        Err(e) => return Err(StoreError::Corrupt(e.to_string())),
                    }
                }
                Ok(counts)
            }

            async fn review_page(
                &self,
                book: BookId,
                page_no: i64,
                review: &Review,
            ) -> Result<Option<Page>, StoreError> {
                let updated = sqlx::query(
                    "UPDATE pages SET review_status = $3, review_text = $4, review_job_id = $5, \
                       reviewed_at = $6 WHERE book_id = $1 AND page_no = $2",
                )
                .bind(book.0)
                .bind(page_no)
                .bind(review.status.as_str())
                .bind(review.text.as_deref())
                .bind(review.job_id.map(|j| j.0))
                .bind(review.reviewed_at)
                .execute(self.writer())
                .await
                .map_err(classify)?
                .rows_affected();
                if updated == 0 {
                    return Ok(None);
                }
                self.page(book, page_no).await
            }

            async fn page_guidelines(
                &self,
                book: BookId,
            ) -> Result<Vec<(i64, serde_json::Value)>, StoreError> {
                let rows: Vec<(i64, sqlx::types::Json<serde_json::Value>)> = sqlx::query_as(
                    // From the book's extraction jobs (by index), never a scan of every
                    // job's items: the UI reads this every poll.
                    "SELECT item_no, result FROM ( \
                       SELECT i.item_no, i.result, \
                         ROW_NUMBER() OVER (PARTITION BY i.item_no ORDER BY j.id DESC) AS newest \
                       FROM jobs j JOIN job_items i ON i.job_id = j.id \
                       WHERE j.book_id = $1 AND j.kind = 'extract' AND i.status = 'completed') t \
                     WHERE newest = 1 ORDER BY item_no",
                )
                .bind(book.0)
                .fetch_all(self.reader())
                .await
                .map_err(classify)?;
                Ok(rows.into_iter().map(|(n, r)| (n, r.0)).collect())
            }

            async fn delete_book(&self, book: BookId) -> Result<bool, StoreError> {
                let deleted = sqlx::query(
                    concat!(
                        "DELETE FROM books WHERE id = $1 AND NOT EXISTS ( \
                           SELECT 1 FROM jobs WHERE book_id = $1 AND status IN ",
                        $crate::store::rows::active_statuses!(),
                        ")"
                    ),
                )
                .bind(book.0)
                .execute(self.writer())
                .await
                .map_err(classify)?
                .rows_affected();
                self.deleted_unless_busy(book, deleted).await
            }

            async fn delete_page(
                &self,
                book: BookId,
                page_no: i64,
            ) -> Result<Option<PageImages>, StoreError> {
                let deleted: Option<(uuid::Uuid, i64, Option<String>)> = sqlx::query_as(
                    concat!(
                        "DELETE FROM pages WHERE book_id = $1 AND page_no = $2 AND NOT EXISTS ( \
                           SELECT 1 FROM jobs WHERE book_id = $1 AND status IN ",
                        $crate::store::rows::active_statuses!(),
                        ") RETURNING book_id, page_no, object_id"
                    ),
                )
                .bind(book.0)
                .bind(page_no)
                .fetch_optional(self.writer())
                .await
                .map_err(classify)?;
                match deleted {
                    Some((book, page_no, id)) => page_images(book, page_no, id).map(Some),
                    None => self.deleted_unless_busy(book, 0).await.map(|_| None),
                }
            }
        }

        /// A page's images as a row names them.
        fn page_images(
            book: uuid::Uuid,
            page_no: i64,
            id: Option<String>,
        ) -> Result<PageImages, StoreError> {
            let image_id = id
                .map(|id| {
                    ImageId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("image id `{id}`")))
                })
                .transpose()?;
            Ok(PageImages { book: BookId(book), page_no, image_id })
        }

        impl $store {
            /// After a delete that a held book refuses: whether it deleted, else why not.
            async fn deleted_unless_busy(&self, book: BookId, deleted: u64) -> Result<bool, StoreError> {
                if deleted == 1 {
                    return Ok(true);
                }
                match self.active_job(book).await? {
                    Some(holder) => Err(StoreError::BookBusy { holder: holder.id }),
                    None => Ok(false),
                }
            }
        }
    };
}
pub(crate) use impl_page_store;
