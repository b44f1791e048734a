//! The `quire` command: `serve` runs the service, `ingest` runs the whole chain on a folder
//! of page images, `jobs` and `status` show what ran, `migrate` prepares the database.
//!
//! Exit codes: 0 done; 1 a job or the service failed (the message says which and why);
//! 2 bad settings or arguments.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quire::app::App;
use quire::config::Settings;

#[derive(Parser)]
#[command(
    name = "quire",
    version,
    about = "A durable runtime for processing books"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and the job runtime (SQLite under ./quire-data unless configured).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Upload a folder of page images (or import a PDF), OCR them, extract and finalize guidelines, and
    /// optionally export an EPUB. Run it again after an interruption: it goes on.
    Ingest {
        /// A folder of page images (PNG, JPEG, TIFF, WebP), taken in file-name order, or a
        /// PDF (its text layer where good, else each page rendered and OCR'd).
        folder: std::path::PathBuf,
        /// The book's title (default: the folder's name). An existing book of that title
        /// is continued.
        #[arg(long)]
        book: Option<String>,
        /// Write the EPUB here.
        #[arg(long)]
        epub: Option<std::path::PathBuf>,
    },
    /// The latest jobs, newest first.
    Jobs {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One job: status, progress, error.
    Status { job: quire_actors::JobId },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUIRE_LOG")
                // Progress bars speak for `ingest`; the service logs what it does.
                .unwrap_or_else(|_| {
                    let quiet = matches!(cli.command, Command::Serve);
                    tracing_subscriber::EnvFilter::new(if quiet { "info" } else { "warn" })
                }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let settings = match Settings::from_process_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("quire: {e}");
            return ExitCode::from(2);
        }
    };
    let result = actix_web::rt::System::new().block_on(async move {
        match cli.command {
            Command::Migrate => {
                quire::store::open(&settings.database.url, 1).await?;
                eprintln!(
                    "quire: migrations applied to {}",
                    redact(&settings.database.url)
                );
                Ok(())
            }
            Command::Serve => serve(settings).await,
            Command::Ingest { folder, book, epub } => {
                ingest(settings, &folder, book, epub.as_deref()).await
            }
            Command::Jobs { limit } => jobs(settings, limit).await,
            Command::Status { job } => status(settings, job).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quire: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let app = App::start(settings).await?;
    let (server, addr) = app.serve()?;
    tracing::info!(%addr, node = %app.settings.runtime.node_id,
        database = %redact(&app.settings.database.url), "quire is listening");
    println!("quire listening on http://{addr}");
    let http = server.handle();
    let server = actix_web::rt::spawn(server);
    stop_signal().await?;
    // The drain starts at the signal, not after HTTP's graceful stop: an open event stream
    // or a slow upload must not keep this node's leases until an orchestrator's SIGKILL.
    tracing::info!("stopping: draining running jobs, closing connections");
    app.close_streams();
    // No new connections, but the HTTP workers live on until the drain is over: a
    // database connection belongs to the executor that opened it, and the drain's last
    // write may be given one an HTTP worker opened.
    http.pause().await;
    app.runtime.shutdown(DRAIN_LIMIT).await;
    http.stop(true).await;
    app.close_store().await;
    server.await??;
    Ok(())
}

/// The longest the runtime's drain may take: within `docker stop`'s 10 s.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(8);

/// SIGTERM (an orchestrator's stop) or Ctrl-C.
async fn stop_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        res = tokio::signal::ctrl_c() => res?,
    }
    Ok(())
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***{}", &url[..scheme], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Progress bars, one per stage, on stderr.
struct Bars {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<Vec<(quire::ingest::Stage, indicatif::ProgressBar)>>,
}

impl Bars {
    fn bar(&self, stage: quire::ingest::Stage) -> indicatif::ProgressBar {
        let mut bars = self.bars.lock().expect("bars");
        if let Some((_, bar)) = bars.iter().find(|(s, _)| *s == stage) {
            return bar.clone();
        }
        let bar = self.multi.add(indicatif::ProgressBar::new(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(stage.label());
        bars.push((stage, bar.clone()));
        bar
    }
}

impl quire::ingest::Watcher for Bars {
    fn progress(&self, stage: quire::ingest::Stage, done: u64, total: u64, note: &str) {
        let bar = self.bar(stage);
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(note.to_owned());
    }

    fn finished(&self, stage: quire::ingest::Stage, note: &str) {
        self.bar(stage).finish_with_message(note.to_owned());
    }
}

async fn ingest(
    settings: Settings,
    folder: &std::path::Path,
    book: Option<String>,
    epub: Option<&std::path::Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    let title = book.unwrap_or_else(|| {
        folder
            .canonicalize()
            .ok()
            // A PDF's title is its name without `.pdf`.
            .and_then(|p| p.file_stem().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "book".to_owned())
    });
    let app = App::start(settings).await?;
    let bars = Bars {
        multi: indicatif::MultiProgress::new(),
        bars: Default::default(),
    };
    let done = quire::ingest::run(&app, folder, &title, epub, &bars).await;
    app.stop(std::time::Duration::from_secs(10)).await;
    let done = done?;
    println!("book: {} ({})", title, done.book);
    println!("pages: {}", done.pages);
    println!("topics: {}", done.topics);
    println!("database: {}", redact(&app.settings.database.url));
    println!("objects: {}", app.settings.storage.path.display());
    if let Some(epub) = done.epub {
        println!("epub: {}", epub.display());
    }
    Ok(())
}

async fn jobs(settings: Settings, limit: u32) -> Result<(), Box<dyn std::error::Error>> {
    let store = quire::store::open(&settings.database.url, 1).await?;
    let jobs = store
        .jobs(&quire_actors::ports::JobFilter::default(), None, limit)
        .await?;
    for j in jobs {
        let p = &j.progress;
        println!(
            "{}  {:<11} {:<10} {:>5}/{:<5} failed {:<4} book {}{}",
            j.id,
            j.kind.as_str(),
            j.status.as_str(),
            p.completed + p.failed,
            p.total,
            p.failed,
            j.book_id,
            j.error
                .map(|e| format!("  {}: {}", e.code, e.message))
                .unwrap_or_default()
        );
    }
    Ok(())
}

async fn status(
    settings: Settings,
    id: quire_actors::JobId,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = quire::store::open(&settings.database.url, 1).await?;
    let job = store.job(id).await?;
    let view = quire::http::views::JobView::new(
        &job,
        quire_actors::ports::Clock::now_ms(&quire_actors::ports::SystemClock),
    );
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(())
}
