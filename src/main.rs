//! The `quire` command: `serve` runs the service, `migrate` prepares the database.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUIRE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
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
    // The server stops on SIGTERM or Ctrl-C; then the runtime hands its jobs back.
    server.await?;
    tracing::info!("draining running jobs");
    app.runtime
        .shutdown(std::time::Duration::from_secs(15))
        .await;
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
