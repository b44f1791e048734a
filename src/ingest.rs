//! The whole chain for one folder of page images or one PDF, as `quire ingest` runs it:
//! upload (or import), OCR, extraction, finalization, EPUB export. Every stage asks the database what is already
//! done, so a run that was interrupted (Ctrl-C, a crash) and started again goes on where the
//! last one stopped; a job the last run left active is taken back by the runtime at boot and
//! waited for.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use quire_actors::model::{JobError, NewJob};
use quire_actors::{BookId, ItemStatus, Job, JobKind, JobStatus};
use serde_json::json;

use crate::app::App;
use crate::intake::{IntakeError, Numbering, Upload};
use crate::ocr::sniff;
use crate::store::NewBook;

/// The stages, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Upload,
    Import,
    Ocr,
    Extract,
    Finalize,
    Export,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Upload => "upload",
            Stage::Import => "PDF import",
            Stage::Ocr => "OCR",
            Stage::Extract => "guidelines",
            Stage::Finalize => "finalize",
            Stage::Export => "EPUB",
        }
    }
}

/// Where progress goes (the CLI draws bars; tests may ignore it).
pub trait Watcher {
    /// `done` of `total` in `stage`; `note` says what is happening.
    fn progress(&self, stage: Stage, done: u64, total: u64, note: &str);
    fn finished(&self, stage: Stage, note: &str);
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}: {1}")]
    Folder(PathBuf, #[source] std::io::Error),
    #[error("{0} holds no page images (PNG, JPEG, TIFF or WebP)")]
    NoImages(PathBuf),
    #[error("{0}: {1}")]
    Refused(PathBuf, #[source] crate::intake::Refusal),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("{0}: {1}")]
    Import(PathBuf, #[source] crate::intake::pdf::PdfIntakeError),
    #[error("the {stage} job {job} failed: {code}: {message}")]
    JobFailed {
        stage: &'static str,
        job: quire_actors::JobId,
        code: String,
        message: String,
    },
    #[error("the {stage} job {job} was cancelled")]
    JobCancelled {
        stage: &'static str,
        job: quire_actors::JobId,
    },
    #[error(transparent)]
    Store(#[from] quire_actors::StoreError),
    #[error(transparent)]
    Submit(#[from] quire_actors::runtime::SubmitError),
    #[error("the object store failed: {0}")]
    Objects(#[from] crate::objects::ObjectError),
    #[error("cannot write {0}: {1}")]
    Output(PathBuf, #[source] std::io::Error),
    #[error("the export completed but no EPUB is recorded for the book")]
    NoExport,
}

pub struct Outcome {
    pub book: BookId,
    pub pages: usize,
    pub topics: usize,
    pub epub: Option<PathBuf>,
}

/// The page images of `folder`, by name.
fn images(folder: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let read = std::fs::read_dir(folder).map_err(|e| IngestError::Folder(folder.into(), e))?;
    let mut files: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let mut head = [0u8; 16];
            std::fs::File::open(p)
                .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                .is_ok_and(|n| sniff(&head[..n]).is_some())
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(IngestError::NoImages(folder.into()));
    }
    Ok(files)
}

pub async fn run(
    app: &App,
    folder: &Path,
    title: &str,
    epub: Option<&Path>,
    watch: &dyn Watcher,
) -> Result<Outcome, IngestError> {
    // A file is a PDF (the intake judges it); a folder holds page images.
    if folder.is_file() {
        let book = find_or_create(app, title).await?;
        import(app, book, folder, watch).await?;
        return finish(app, book, epub, watch).await;
    }
    let files = images(folder)?;
    let book = find_or_create(app, title).await?;
    upload(app, book, &files, watch).await?;
    finish(app, book, epub, watch).await
}

/// Every stage after the pages are in: OCR what is not read, extraction, finalization,
/// the export.
async fn finish(
    app: &App,
    book: BookId,
    epub: Option<&Path>,
    watch: &dyn Watcher,
) -> Result<Outcome, IngestError> {
    // OCR every page not read yet (once the upload's own OCR job has ended).
    wait_idle(app, book, watch).await?;
    let pages = crate::store::all_pages(&*app.store, book).await?;
    let unread: Vec<i64> = pages
        .iter()
        .filter(|p| {
            p.ocr
                .as_ref()
                .is_none_or(|(i, _)| i.status != ItemStatus::Completed)
        })
        .map(|p| p.page_no)
        .collect();
    run_stage(app, book, Stage::Ocr, JobKind::Ocr, unread, watch).await?;

    // Extract every page read and not rejected that has no guidelines yet.
    wait_idle(app, book, watch).await?;
    let done: std::collections::HashSet<i64> = app
        .store
        .page_guidelines(book)
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let pages = crate::store::all_pages(&*app.store, book).await?;
    let todo: Vec<i64> = pages
        .iter()
        .filter(|p| p.for_guidelines() && !done.contains(&p.page_no))
        .map(|p| p.page_no)
        .collect();
    run_stage(app, book, Stage::Extract, JobKind::Extract, todo, watch).await?;

    wait_idle(app, book, watch).await?;
    let (is_final, _, _) = crate::guidelines::current(&*app.store, book).await?;
    let finalize = if is_final { Vec::new() } else { vec![1] };
    run_stage(
        app,
        book,
        Stage::Finalize,
        JobKind::Finalize,
        finalize,
        watch,
    )
    .await?;
    let (_, _, topics) = crate::guidelines::current(&*app.store, book).await?;

    let mut written = None;
    if let Some(out) = epub {
        run_stage(
            app,
            book,
            Stage::Export,
            JobKind::ExportEpub,
            vec![1],
            watch,
        )
        .await?;
        let key = crate::export::latest_export(&*app.store, book)
            .await?
            .ok_or(IngestError::NoExport)?;
        let bytes = app.objects.get(&key).await?;
        std::fs::write(out, &bytes).map_err(|e| IngestError::Output(out.into(), e))?;
        written = Some(out.to_owned());
    }
    Ok(Outcome {
        book,
        pages: pages.len(),
        topics: topics.len(),
        epub: written,
    })
}

/// The book with that title (the newest, if several), or a new one.
async fn find_or_create(app: &App, title: &str) -> Result<BookId, IngestError> {
    let mut after = None;
    let mut found = None;
    loop {
        let batch = app.store.books(after, 500).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        if let Some(b) = batch.iter().rev().find(|b| b.title == title) {
            found = Some(b.id);
        }
    }
    if let Some(id) = found {
        return Ok(id);
    }
    let new = NewBook {
        title: title.to_owned(),
        owner: None,
    };
    Ok(app.store.create_book(&new, app.clock.now_ms()).await?.id)
}

/// Uploads the files whose page (file n is page n) the book does not have yet, under the
/// JobLock, through the same intake as the HTTP upload.
async fn upload(
    app: &App,
    book: BookId,
    files: &[PathBuf],
    watch: &dyn Watcher,
) -> Result<(), IngestError> {
    wait_idle(app, book, watch).await?;
    let numbers: Vec<i64> = (1..=files.len() as i64).collect();
    let have: HashSet<i64> = app
        .store
        .existing_pages(book, &numbers)
        .await?
        .into_iter()
        .collect();
    let missing: Vec<(i64, &PathBuf)> = numbers
        .iter()
        .zip(files)
        .filter(|(n, _)| !have.contains(n))
        .map(|(n, f)| (*n, f))
        .collect();
    let total = files.len() as u64;
    if missing.is_empty() {
        watch.finished(Stage::Upload, &format!("{total} pages already stored"));
        return Ok(());
    }
    let numbering = Numbering {
        start_at: missing.first().map(|(n, _)| *n),
        max_files: missing.len() as u32,
    };
    let mut upload = Upload::begin(&app.intake, book, &numbering, "ingest").await?;
    let mut stored = have.len() as u64;
    for (page_no, path) in missing {
        upload.renumber(page_no);
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                let e = IngestError::Folder(path.clone(), e);
                let _ = upload.break_off(&e.to_string()).await;
                return Err(e);
            }
        };
        let name = crate::pages::display_name(&path.display().to_string());
        if let Err(e) = upload.add(name, Bytes::from(bytes)).await {
            let e = match e {
                IntakeError::Refused(r) => IngestError::Refused(path.clone(), r),
                e => e.into(),
            };
            // The pages stored so far stay (the job fails naming them); a run again goes on.
            let _ = upload.break_off(&e.to_string()).await;
            return Err(e);
        }
        stored += 1;
        watch.progress(Stage::Upload, stored, total, "storing pages");
    }
    // The pages' OCR items are in this job: releasing it starts their OCR.
    upload.finish().await?;
    watch.finished(Stage::Upload, &format!("{total} pages stored"));
    Ok(())
}

/// Imports the PDF at `file` into a book that has no pages yet, through the same intake as
/// the HTTP import. A book with pages is one an earlier run imported: what its import left
/// unread, the OCR stage reads.
async fn import(
    app: &App,
    book: BookId,
    file: &Path,
    watch: &dyn Watcher,
) -> Result<(), IngestError> {
    use tokio::io::AsyncReadExt;
    wait_idle(app, book, watch).await?;
    if app.store.last_page_no(book).await?.is_some() {
        watch.finished(Stage::Import, "pages already imported");
        return Ok(());
    }
    let opened = tokio::fs::File::open(file)
        .await
        .map_err(|e| IngestError::Folder(file.into(), e))?;
    // Read a MiB at a time: the file is never whole in memory.
    let body = futures_util::stream::unfold(opened, |mut f| async move {
        let mut buf = vec![0; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    watch.progress(Stage::Import, 0, 1, "storing and analysing the PDF");
    let job = app
        .intake
        .import_pdf(
            book,
            crate::intake::pdf::PdfOptions::default(),
            Box::pin(body),
        )
        .await
        .map_err(|e| IngestError::Import(file.into(), e))?;
    follow(app, job, Stage::Import, watch).await.map(|_| ())
}

/// Waits for the job holding the book, if any (one a previous run left, taken back at boot).
async fn wait_idle(app: &App, book: BookId, watch: &dyn Watcher) -> Result<(), IngestError> {
    if let Some(job) = app.store.active_job(book).await? {
        let stage = match job.kind {
            JobKind::Extract => Stage::Extract,
            JobKind::Finalize => Stage::Finalize,
            JobKind::ExportEpub => Stage::Export,
            JobKind::PdfImport => Stage::Import,
            _ => Stage::Ocr,
        };
        // Its failure is not the end: the stage it belongs to runs again what it left.
        if let Err(e) = follow(app, job, stage, watch).await {
            tracing::warn!(error = %e, "a job of an earlier run did not complete");
        }
    }
    Ok(())
}

/// Runs `kind` on `items` (nothing to do if empty). The caller computed `items` after
/// [`wait_idle`], so no job holds the book.
async fn run_stage(
    app: &App,
    book: BookId,
    stage: Stage,
    kind: JobKind,
    items: Vec<i64>,
    watch: &dyn Watcher,
) -> Result<(), IngestError> {
    if items.is_empty() {
        watch.finished(stage, "nothing to do");
        return Ok(());
    }
    let job = app
        .runtime
        .submit(NewJob {
            book_id: book,
            kind,
            params: json!({ "trigger": "ingest" }),
            items,
            resumed_from: None,
            held: false,
        })
        .await?;
    follow(app, job, stage, watch).await.map(|_| ())
}

/// Reports a job's progress until it ends; a failed or cancelled job is an error.
async fn follow(
    app: &App,
    mut job: Job,
    stage: Stage,
    watch: &dyn Watcher,
) -> Result<Job, IngestError> {
    loop {
        let p = &job.progress;
        let note = match p.current_item {
            Some(n) if job.status.is_active() => format!("page {n}"),
            _ => String::new(),
        };
        watch.progress(stage, p.completed + p.failed, p.total, &note);
        match job.status {
            JobStatus::Completed => {
                let note = format!("{} done, {} failed", p.completed, p.failed);
                watch.finished(stage, &note);
                return Ok(job);
            }
            JobStatus::Failed => {
                let error = job.error.clone().unwrap_or(JobError {
                    code: "FAILED".into(),
                    message: String::new(),
                });
                return Err(IngestError::JobFailed {
                    stage: stage.label(),
                    job: job.id,
                    code: error.code,
                    message: error.message,
                });
            }
            JobStatus::Cancelled => {
                return Err(IngestError::JobCancelled {
                    stage: stage.label(),
                    job: job.id,
                });
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        job = app.runtime.status(job.id).await?;
    }
}
