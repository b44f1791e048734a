//! Follow-ups: the jobs a completed job asked to run after it, each a job of its own (a PDF
//! import's `then`: `guidelines`, `finalize`, `epub`). The rest of the chain rides in each
//! job's params, so the chain survives any crash: the rule is "the newest job of a book,
//! completed, with a non-empty `then`, gets its next job". A node applies it when it sees a
//! job complete and, at start, to recently completed jobs; the book's JobLock makes it run
//! once, whichever nodes apply it (a second submit is refused `BOOK_BUSY`).

use std::sync::Arc;

use quire_actors::model::NewJob;
use quire_actors::ports::JobFilter;
use quire_actors::runtime::SubmitError;
use quire_actors::{Job, JobKind, JobStatus, RuntimeHandle, StoreError};
use serde_json::{Value, json};

use crate::intake::pdf::FollowUp;
use crate::store::Store;

/// How many recently completed jobs a node checks at start for a chain left undone.
const CHECKED_AT_START: u32 = 200;

/// The rest of a job's chain, as its params carry it.
fn chain(params: &Value) -> Vec<FollowUp> {
    serde_json::from_value(params["then"].clone()).unwrap_or_default()
}

/// The job that follows `done`, if its chain has one to run now: the first follow-up with
/// work to do (an extraction of a book with no page ready is skipped).
async fn next_job(
    store: &dyn Store,
    extractor: &str,
    done: &Job,
) -> Result<Option<NewJob>, StoreError> {
    let mut rest = chain(&done.params);
    while !rest.is_empty() {
        let step = rest.remove(0);
        let params = json!({ "trigger": "then", "after": done.id, "then": rest });
        let (kind, items, params) = match step {
            FollowUp::Guidelines => {
                let pages = crate::guidelines::pages_to_extract(store, done.book_id).await?;
                let mut params = params;
                params["extractor"] = json!(extractor);
                (JobKind::Extract, pages, params)
            }
            FollowUp::Finalize => (JobKind::Finalize, vec![1], params),
            FollowUp::Epub => (JobKind::ExportEpub, vec![1], params),
        };
        if items.is_empty() {
            tracing::info!(job_id = %done.id, ?step, "a follow-up has nothing to do; skipped");
            continue;
        }
        return Ok(Some(NewJob {
            book_id: done.book_id,
            kind,
            params,
            items,
            resumed_from: None,
            held: false,
        }));
    }
    Ok(None)
}

/// Starts `done`'s next job if it is still the newest job of its book.
async fn follow(
    runtime: &RuntimeHandle,
    store: &dyn Store,
    extractor: &str,
    done: &Job,
) -> Result<Option<Job>, SubmitError> {
    if done.status != JobStatus::Completed || chain(&done.params).is_empty() {
        return Ok(None);
    }
    let newest = store.latest_job(done.book_id, None).await?;
    if newest.as_ref().map(|j| j.id) != Some(done.id) {
        return Ok(None); // already followed, or the admin started something since
    }
    let Some(next) = next_job(store, extractor, done).await? else {
        return Ok(None);
    };
    match runtime.submit(next).await {
        Ok(job) => {
            tracing::info!(job_id = %job.id, after = %done.id, kind = %job.kind, "follow-up started");
            Ok(Some(job))
        }
        // Another node (or the admin) was first: the JobLock let one through.
        Err(SubmitError::Store(StoreError::BookBusy { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Applies the rule to recently completed jobs, then to every job that completes on this
/// node from now on.
pub fn spawn(runtime: RuntimeHandle, store: Arc<dyn Store>, extractor: &'static str) {
    let mut events = runtime.subscribe();
    actix::spawn(async move {
        let recent = JobFilter {
            status: Some(JobStatus::Completed),
            ..JobFilter::default()
        };
        match store.jobs(&recent, None, CHECKED_AT_START).await {
            Ok(jobs) => {
                for job in jobs {
                    if let Err(e) = follow(&runtime, &*store, extractor, &job).await {
                        tracing::warn!(job_id = %job.id, error = %e, "cannot start a follow-up");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for follow-ups left undone"),
        }
        loop {
            match events.recv().await {
                Ok(job) if job.status == JobStatus::Completed => {
                    if let Err(e) = follow(&runtime, &*store, extractor, &job).await {
                        tracing::warn!(job_id = %job.id, error = %e, "cannot start a follow-up");
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}
