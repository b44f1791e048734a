//! `quire ingest` as a user runs it: the real binary on the textbook folder, to an EPUB that
//! epubcheck accepts; and killed with SIGKILL in the middle of OCR, of extraction and of
//! finalization, then run again, going on where it stopped instead of starting over.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use quire::store;
use quire_actors::JobKind;
use quire_actors::ports::JobFilter;

use crate::common::model::{self, ModelServer, page_guidelines};

fn textbook() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/textbook")
        .display()
        .to_string()
}

fn ingest(dir: &Path) -> Command {
    ingest_from(dir, &textbook())
}

/// `quire ingest` of `source` (a folder of images, or a PDF) in `dir`.
fn ingest_from(dir: &Path, source: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quire"));
    cmd.arg("ingest")
        .arg(source)
        .arg("--book")
        .arg("Fractions")
        .arg("--epub")
        .arg(dir.join("out.epub"))
        .env(
            "QUIRE_DATABASE_URL",
            format!("sqlite://{}", dir.join("q.db").display()),
        )
        .env("QUIRE_STORAGE_PATH", dir.join("objects"))
        // The same node each run: a rerun takes back at once what the killed run held.
        .env("QUIRE_RUNTIME_NODE_ID", "ingest-test")
        .env_remove("QUIRE_CONFIG");
    cmd
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn epubcheck(file: &Path) {
    crate::common::epub::epubcheck(&std::fs::read(file).unwrap());
}

#[test]
fn the_whole_chain_from_a_folder_to_an_epub() {
    let dir = tempfile::tempdir().unwrap();
    let out = ingest(dir.path()).output().unwrap();
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("pages: 8") && text.contains("topics: 3"),
        "{text}"
    );
    assert!(text.contains("epub: "), "{text}");
    epubcheck(&dir.path().join("out.epub"));
    // The topics are the textbook's chapters, as its headings name them (the EPUB's entries
    // are stored, so its navigation is readable as is).
    let epub = std::fs::read(dir.path().join("out.epub")).unwrap();
    let epub = String::from_utf8_lossy(&epub);
    for chapter in [
        "Understanding Fractions",
        "Adding and Subtracting Fractions",
        "Multiplying and Dividing Fractions",
    ] {
        assert!(
            epub.contains(&format!(">{chapter}</a></li>")),
            "no chapter {chapter}"
        );
    }
    assert!(epub.contains("<h2>1.2 Equivalent Fractions</h2>"));

    // Run again: everything is done; nothing runs twice but the export asked for.
    let again = ingest(dir.path()).output().unwrap();
    assert!(again.status.success(), "{}", said(&again));

    // A folder with no images is a clear error with exit code 1.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quire"))
        .arg("ingest")
        .arg(empty.path())
        .env(
            "QUIRE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("q.db").display()),
        )
        .env("QUIRE_STORAGE_PATH", dir.path().join("objects"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("holds no page images"),
        "{}",
        said(&out)
    );
}

/// A PDF through the whole chain: imported from its text layer, guidelines from its pages,
/// an EPUB epubcheck accepts; run again, nothing is imported twice.
#[test]
fn the_whole_chain_from_a_pdf_to_an_epub() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = format!("{}/fractions.pdf", textbook());
    let out = ingest_from(dir.path(), &pdf).output().unwrap();
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("pages: 8") && text.contains("topics: 3"),
        "{text}"
    );
    epubcheck(&dir.path().join("out.epub"));
    let epub =
        String::from_utf8_lossy(&std::fs::read(dir.path().join("out.epub")).unwrap()).into_owned();
    assert!(
        epub.contains("<h2>1.2 Equivalent Fractions</h2>"),
        "no section 1.2"
    );
    let again = ingest_from(dir.path(), &pdf).output().unwrap();
    assert!(again.status.success(), "{}", said(&again));
    assert!(said(&again).contains("pages: 8"), "{}", said(&again));
}

/// Killed while its import reads pages (a scan OCR'd after text pages), then run again:
/// the import is taken back and finished, no page read before the kill is read again, and
/// the book has each page once.
#[actix_rt::test]
async fn killed_during_a_pdf_import_it_goes_on_where_it_stopped() {
    use crate::common::pdf::{build, prose, scan};
    let dir = tempfile::tempdir().unwrap();
    let scans = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/openstax-python/scans");
    let mut pages = vec![
        prose("Lesson 1 Tides", "the tides"),
        prose("Lesson 2 Waves", "waves"),
    ];
    pages.extend((1..=4).map(|n| scan(&scans.join(format!("page-0{n}.png")))));
    let pdf = dir.path().join("mixed.pdf");
    std::fs::write(&pdf, build(&pages, &[])).unwrap();
    let pdf = pdf.display().to_string();
    let (db, mut child) = start(dir.path(), ingest_from(dir.path(), &pdf)).await;
    kill_when(&mut child, &*db, JobKind::PdfImport, |job| {
        job.progress.completed >= 3 && job.progress.completed < job.progress.total
    })
    .await;
    let imports = JobFilter {
        kind: Some(JobKind::PdfImport),
        ..JobFilter::default()
    };
    let killed = db.jobs(&imports, None, 10).await.unwrap().remove(0);
    let read_before: Vec<_> = db
        .items(
            killed.id,
            Some(quire_actors::ItemStatus::Completed),
            None,
            100,
        )
        .await
        .unwrap();
    assert!(read_before.len() >= 3, "{read_before:?}");

    let out = ingest_from(dir.path(), &pdf).output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    epubcheck(&dir.path().join("out.epub"));
    let jobs = db.jobs(&imports, None, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "one import, taken back: {jobs:?}");
    assert_eq!(jobs[0].progress.completed, 6, "{:?}", jobs[0]);
    let items = db.items(killed.id, None, None, 100).await.unwrap();
    for before in &read_before {
        let now = items.iter().find(|i| i.item_no == before.item_no).unwrap();
        assert_eq!(
            now.attempts, 1,
            "page {} was read again: {now:?}",
            before.item_no
        );
        assert_eq!(
            now.finished_at, before.finished_at,
            "page {} was read again",
            before.item_no
        );
    }
    let books = db.books(None, 10).await.unwrap();
    let stored = db.pages(books[0].id, None, 100).await.unwrap();
    let numbers: Vec<i64> = stored.iter().map(|p| p.page_no).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
}

/// A child process that cannot outlive the test.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_rt::test]
async fn killed_during_ocr_it_goes_on_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut child) = start(dir.path(), ingest(dir.path())).await;
    // Once OCR has read some pages and not all.
    kill_when(&mut child, &*db, JobKind::Ocr, |job| {
        job.progress.completed >= 1 && job.progress.completed < job.progress.total
    })
    .await;

    let out = ingest(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    epubcheck(&dir.path().join("out.epub"));

    // One upload, one OCR job, taken back and finished: no page stored or read twice over.
    let ocr = db
        .jobs(
            &JobFilter {
                kind: Some(JobKind::Ocr),
                ..JobFilter::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(ocr.len(), 1, "{ocr:?}");
    assert_eq!(ocr[0].progress.completed, 8, "{:?}", ocr[0]);
    let books = db.books(None, 10).await.unwrap();
    assert_eq!(books.len(), 1);
    let pages = db.pages(books[0].id, None, 100).await.unwrap();
    assert_eq!(pages.len(), 8);
}

/// A test model's answer: a chat completion whose message is a page's guidelines.
fn reply(guidelines: serde_json::Value) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(model::completion(
        "m",
        serde_json::json!(guidelines.to_string()),
    ))
}

/// `ingest` with the OpenAI-compatible extractor on the model at `base_url`.
fn with_model(mut cmd: Command, base_url: &str) -> Command {
    cmd.env("QUIRE_GUIDELINES_EXTRACTOR", "openai")
        .env("QUIRE_GUIDELINES_OPENAI_BASE_URL", base_url)
        .env("QUIRE_GUIDELINES_OPENAI_MODEL", "m")
        .env("QUIRE_GUIDELINES_OPENAI_CONCURRENCY", "1");
    cmd
}

/// SIGKILLs `child` once the newest job of `kind` satisfies `now`; a job or a process that
/// ended first fails the test. No deadline but a generous guard against hanging: on a loaded
/// machine the stages before the moment can take minutes.
async fn kill_when(
    child: &mut Running,
    db: &dyn store::Store,
    kind: JobKind,
    now: impl Fn(&quire_actors::Job) -> bool,
) {
    let filter = JobFilter {
        kind: Some(kind),
        ..JobFilter::default()
    };
    let guard = Instant::now() + Duration::from_secs(15 * 60);
    loop {
        assert!(
            Instant::now() < guard,
            "no {kind} job reached the moment to kill"
        );
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("ingest ended ({status}) before its {kind} job reached the moment to kill");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let jobs = db.jobs(&filter, None, 1).await.unwrap();
        let Some(job) = jobs.first() else { continue };
        assert!(
            !job.status.is_terminal(),
            "the {kind} job ended before the kill"
        );
        if now(job) {
            child.0.kill().unwrap(); // SIGKILL
            child.0.wait().unwrap();
            return;
        }
    }
}

/// Opens the test's database, then starts `cmd` (an `ingest` in `dir`): opened first, so
/// the two never migrate it at once.
async fn start(dir: &Path, mut cmd: Command) -> (std::sync::Arc<dyn store::Store>, Running) {
    let url = format!("sqlite://{}", dir.join("q.db").display());
    let db = store::open(&url, 1).await.unwrap();
    (db, Running(cmd.spawn().unwrap()))
}

/// A test model for the OpenAI-compatible extractor: every page, 400 ms, the same answer.
async fn slow_model() -> actix_web::HttpResponse {
    tokio::time::sleep(Duration::from_millis(400)).await;
    reply(page_guidelines(
        "Fractions",
        vec![model::subtopic("Halves")],
    ))
}

#[actix_rt::test]
async fn killed_during_extraction_it_goes_on_where_it_stopped() {
    let model = ModelServer::start(slow_model);
    let dir = tempfile::tempdir().unwrap();
    let (db, mut child) = start(dir.path(), with_model(ingest(dir.path()), &model.base_url)).await;
    kill_when(&mut child, &*db, JobKind::Extract, |job| {
        job.progress.completed >= 1 && job.progress.completed < job.progress.total
    })
    .await;
    let extract = JobFilter {
        kind: Some(JobKind::Extract),
        ..JobFilter::default()
    };

    let out = with_model(ingest(dir.path()), &model.base_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    epubcheck(&dir.path().join("out.epub"));
    // The one extraction was taken back and finished; every page has its guidelines.
    let jobs = db.jobs(&extract, None, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].progress.completed, 8, "{:?}", jobs[0]);
    let books = db.books(None, 10).await.unwrap();
    assert_eq!(db.page_guidelines(books[0].id).await.unwrap().len(), 8);
}

/// A test model that finds many subtopics on every page (2,000, each named apart), so the
/// book's finalization has real work to do (seconds in a debug build) and a kill can land
/// inside it.
async fn prolific_model(body: actix_web::web::Json<serde_json::Value>) -> actix_web::HttpResponse {
    let page = model::page_of(&body).unwrap_or(0);
    let subtopics: Vec<serde_json::Value> = (0..2000)
        .map(|i| {
            serde_json::json!({ "name": format!("Skill page{page} item{i}"),
                "objectives": [], "key_concepts": [format!("idea {i}")], "examples": [],
                "common_mistakes": [], "exercises": [] })
        })
        .collect();
    reply(page_guidelines("Fractions", subtopics))
}

#[actix_rt::test]
async fn killed_during_finalization_it_goes_on_where_it_stopped() {
    let model = ModelServer::start(prolific_model);
    let dir = tempfile::tempdir().unwrap();
    let (db, mut child) = start(dir.path(), with_model(ingest(dir.path()), &model.base_url)).await;
    // Pending: created, not yet entered; it is killed once it runs.
    kill_when(&mut child, &*db, JobKind::Finalize, |job| {
        job.status == quire_actors::JobStatus::Running
    })
    .await;

    let out = with_model(ingest(dir.path()), &model.base_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let finalize = JobFilter {
        kind: Some(JobKind::Finalize),
        ..JobFilter::default()
    };
    let jobs = db.jobs(&finalize, None, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0].status,
        quire_actors::JobStatus::Completed,
        "{:?}",
        jobs[0]
    );
    let books = db.books(None, 10).await.unwrap();
    let (is_final, pages, topics) = quire::guidelines::current(&*db, books[0].id).await.unwrap();
    assert!(is_final);
    assert_eq!(pages, 8);
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].subtopics.len(), 16_000);
}

/// `quire serve` in the folder ingest uses, with no node name set: the embedded default's
/// database and objects, the synthetic kind on, its log in `serve.log`.
fn serve(dir: &Path) -> (Running, String) {
    use std::io::BufRead;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("serve.log"))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_quire"))
        .arg("serve")
        .env(
            "QUIRE_DATABASE_URL",
            format!("sqlite://{}", dir.join("q.db").display()),
        )
        .env("QUIRE_STORAGE_PATH", dir.join("objects"))
        .env("QUIRE_SERVER_BIND", "127.0.0.1:0")
        .env("QUIRE_SYNTHETIC_ENABLED", "true")
        .env("QUIRE_RUNTIME_ITEM_CONCURRENCY", "8")
        .env("QUIRE_LOG", "info")
        .env_remove("QUIRE_RUNTIME_NODE_ID")
        .env_remove("QUIRE_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("quire listening on ")
        .unwrap_or_else(|| panic!("serve did not start: {line}"))
        .to_owned();
    (Running(child), base)
}

/// Polls the job until `done` holds of it.
async fn wait_for(
    db: &dyn store::Store,
    id: quire_actors::JobId,
    what: &str,
    within: Duration,
    done: impl Fn(&quire_actors::Job) -> bool,
) -> quire_actors::Job {
    let deadline = Instant::now() + within;
    loop {
        let job = db.job(id).await.unwrap();
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "{what}: {job:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two processes in one folder, neither given a node name, each take a name of their own:
/// ingest's boot takes none of serve's running jobs, and a serve killed and restarted takes
/// its own back at once, not after its 30 s lease.
#[actix_rt::test]
async fn serve_and_ingest_side_by_side_never_take_each_others_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let db = store::open(&url, 1).await.unwrap();
    let (serve_1, base) = serve(dir.path());
    let http = reqwest::Client::new();
    let book: serde_json::Value = http
        .post(format!("{base}/api/v1/books"))
        .json(&serde_json::json!({ "title": "Load" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job: serde_json::Value = http
        .post(format!(
            "{base}/api/v1/books/{}/jobs/synthetic",
            book["id"].as_str().unwrap()
        ))
        .json(&serde_json::json!({ "items": 3000, "params": { "latency_ms": 100 } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id: quire_actors::JobId = job["id"].as_str().unwrap().parse().unwrap();
    let running = wait_for(
        &*db,
        id,
        "serve's job never ran",
        Duration::from_secs(60),
        |j| j.progress.completed > 0,
    )
    .await;
    let serve_name = running.lease_owner.clone().unwrap();

    let mut cmd = ingest(dir.path());
    cmd.env_remove("QUIRE_RUNTIME_NODE_ID");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let ocr = db
        .jobs(
            &JobFilter {
                kind: Some(JobKind::Ocr),
                ..JobFilter::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    let ingest_name = ocr[0].lease_owner.clone().unwrap();
    assert_ne!(ingest_name, serve_name, "two live processes, two names");
    let during = db.job(id).await.unwrap();
    assert_eq!(
        (during.lease_owner.as_deref(), during.lease_generation),
        (Some(serve_name.as_str()), running.lease_generation),
        "ingest took none of serve's jobs"
    );
    assert!(
        !during.status.is_terminal(),
        "the job outlasted ingest: {during:?}"
    );

    // Killed and restarted, serve gets its name back and its job at once.
    drop(serve_1);
    let restarted_at = Instant::now();
    let (_serve_2, _) = serve(dir.path());
    let taken = wait_for(
        &*db,
        id,
        "the restarted node did not take its job back",
        Duration::from_secs(60),
        |j| j.lease_generation > running.lease_generation,
    )
    .await;
    assert_eq!(taken.lease_owner.as_deref(), Some(serve_name.as_str()));
    assert!(
        restarted_at.elapsed() < Duration::from_secs(15),
        "taken back at boot, not after the 30 s lease: {:?}",
        restarted_at.elapsed()
    );
    let done = wait_for(
        &*db,
        id,
        "the job never ended",
        Duration::from_secs(300),
        |j| j.status.is_terminal(),
    )
    .await;
    assert_eq!(done.status, quire_actors::JobStatus::Completed, "{done:?}");
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(!log.contains("lease lost"), "{log}");
}
