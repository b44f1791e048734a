//! The [`Catalog`](super::Catalog) (books, and job totals for metrics) for both backends,
//! expanded beside the job store so it shares its imports and helpers.

macro_rules! impl_catalog {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl Catalog for $store {
            async fn create_book(&self, new: &NewBook, now: i64) -> Result<Book, StoreError> {
                let id = BookId::new();
                let mut tx = self.begin().await?;
                sqlx::query("INSERT INTO books (id, title, owner, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(id.0)
                    .bind(&new.title)
                    .bind(new.owner.as_deref())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok(Book { id, title: new.title.clone(), owner: new.owner.clone(), created_at: now })
            }

            async fn book(&self, id: BookId) -> Result<Option<Book>, StoreError> {
                let row: Option<BookRow> =
                    sqlx::query_as("SELECT id, title, owner, created_at FROM books WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(classify)?;
                Ok(row.map(Book::from))
            }

            async fn latest_jobs(
                &self,
                books: &[BookId],
            ) -> Result<std::collections::HashMap<BookId, Job>, StoreError> {
                if books.is_empty() {
                    return Ok(Default::default());
                }
                let mut query = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ", job_columns!(), " FROM (SELECT ", job_columns!(), ", \
                       ROW_NUMBER() OVER (PARTITION BY book_id ORDER BY created_at DESC, id DESC) AS newest \
                     FROM jobs WHERE book_id IN ("
                ));
                let mut ids = query.separated(", ");
                for book in books {
                    ids.push_bind(book.0);
                }
                query.push(")) AS ranked WHERE newest = 1");
                let rows: Vec<JobRow> =
                    query.build_query_as().fetch_all(self.reader()).await.map_err(classify)?;
                rows.into_iter()
                    .map(|row| Job::try_from(row).map(|job| (job.book_id, job)))
                    .collect()
            }

            async fn job_totals(&self) -> Result<Vec<JobTotals>, StoreError> {
                let rows: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT kind, status, COUNT(*), CAST(COALESCE(SUM(total_items), 0) AS BIGINT), \
                       CAST(COALESCE(SUM(completed_items), 0) AS BIGINT), \
                       CAST(COALESCE(SUM(failed_items), 0) AS BIGINT) \
                     FROM jobs GROUP BY kind, status ORDER BY kind, status",
                )
                .fetch_all(self.reader())
                .await
                .map_err(classify)?;
                let corrupt = |e: quire_actors::model::UnknownName| StoreError::Corrupt(e.to_string());
                rows.into_iter()
                    .map(|(kind, status, jobs, items, completed, failed)| {
                        Ok(JobTotals {
                            kind: kind.parse().map_err(corrupt)?,
                            status: status.parse().map_err(corrupt)?,
                            jobs: jobs as u64,
                            items: items as u64,
                            completed_items: completed as u64,
                            failed_items: failed as u64,
                        })
                    })
                    .collect()
            }

            async fn books(&self, after: Option<BookId>, limit: u32) -> Result<Vec<Book>, StoreError> {
                let rows: Vec<BookRow> = sqlx::query_as(
                    "SELECT id, title, owner, created_at FROM books \
                     WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2",
                )
                .bind(after.map(|b| b.0))
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await
                .map_err(classify)?;
                Ok(rows.into_iter().map(Book::from).collect())
            }
        }
    };
}
pub(crate) use impl_catalog;
