//! Wires settings, store, runtime and HTTP server together. `main` and the tests use the
//! same [`App::start`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{HttpServer, web};
use quire_actors::ports::{Clock, JobStore, SystemClock};
use quire_actors::runtime::KindRegistry;
use quire_actors::{JobKind, RuntimeHandle};

use crate::config::{
    ExtractorName, GuidelinesSettings, OcrEngineName, OcrSettings, Settings, StorageBackend,
    StorageSettings,
};
use crate::export::ExportEpub;
use crate::guidelines::{
    ExtractPages, Extractor, FinalizeGuidelines, OfflineExtractor, OpenAiExtractor,
};
use crate::http::{self, ApiState};
use crate::intake::Intake;
use crate::objects::{FolderStore, ObjectStore, S3Settings, S3Store};
use crate::ocr::{
    DecodeBudget, EngineSetup, OcrEngine, OcrPages, PixelLimit, Tesseract, VisionEngine,
    VisionSettings,
};
use crate::openai::ChatSettings;
use crate::pdf::{ImportPages, PdfFiles, PdfPages, PdfTools};
use crate::store::{self, NodeLock, OpenError, Store};
use crate::synthetic::SyntheticHandler;

pub struct App {
    /// `runtime.node_id` is the name this process holds (see [`store::NodeLock`]).
    pub settings: Settings,
    /// Held for the process's life: no live sibling shares this node's name.
    pub node: Option<NodeLock>,
    pub store: Arc<dyn Store>,
    pub objects: Arc<dyn ObjectStore>,
    pub runtime: RuntimeHandle,
    pub clock: Arc<dyn Clock>,
    pub uploads: Arc<http::UploadStats>,
    /// Uploads (HTTP and `quire ingest`) go through this.
    pub intake: Arc<Intake>,
    /// Raised by [`App::close_streams`].
    closing: tokio::sync::watch::Sender<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error(
        "runtime.node_id `{0}` is held by a live process on this database; give each process its own runtime.node_id (or leave it unset to get a free one)"
    )]
    NodeIdInUse(String),
    #[error("cannot take back the jobs this node held: {0}")]
    Recovery(#[source] quire_actors::StoreError),
    #[error(
        "storage.backend is s3 but no credentials are set: set storage.s3_access_key_id / s3_secret_access_key or {0}"
    )]
    S3Credentials(&'static str),
    #[error("cannot create storage.path {path}: {source}")]
    Storage {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open synthetic.trace_file {path}: {source}")]
    TraceFile {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot set up the OpenAI-compatible client: {0}")]
    Provider(#[from] crate::openai::ChatError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl App {
    /// Opens the store (applying migrations) and starts the runtime. Call it inside the actix
    /// `System` (e.g. under `#[actix_web::main]`).
    pub async fn start(settings: Settings) -> Result<App, StartError> {
        let objects = open_objects(&settings.storage)?;
        Self::start_with_objects(settings, objects).await
    }

    /// [`Self::start`] on an object store the caller built (tests wrap the configured one
    /// to force an ordering or inject a failure).
    pub async fn start_with_objects(
        mut settings: Settings,
        objects: Arc<dyn ObjectStore>,
    ) -> Result<App, StartError> {
        let store = store::open(&settings.database.url, settings.database.max_connections).await?;
        let node = take_node_name(&mut settings).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut kinds = KindRegistry::new();
        let (engine, engine_name, concurrency) = ocr_engine(&settings.ocr)?;
        let pdf_dir = settings
            .pdf
            .work_dir(&settings.runtime.node_id, &settings.database.url);
        let files = PdfFiles::new(pdf_dir.clone(), objects.clone()).map_err(|source| {
            StartError::Storage {
                path: pdf_dir.display().to_string(),
                source,
            }
        })?;
        let pdf = Arc::new(PdfPages::new(
            PdfTools::new(settings.pdf.tools()),
            Arc::new(files),
            store.clone(),
            settings.upload.max_pixels,
        ));
        let ocr = Arc::new(OcrPages::new(
            store.clone(),
            objects.clone(),
            EngineSetup {
                engine,
                name: engine_name,
                concurrency,
            },
            PixelLimit(settings.upload.max_pixels),
            Arc::new(DecodeBudget::new(settings.ocr.decode_budget_bytes)),
            pdf.clone(),
        ));
        kinds.insert(JobKind::Ocr, ocr.clone());
        let import = ImportPages::new(store.clone(), pdf.clone(), ocr);
        kinds.insert(JobKind::PdfImport, Arc::new(import));
        let (extractor, pages_at_once) = extractor(&settings.guidelines)?;
        // The offline extractor is bounded by the remote pool alone.
        let pages_at_once = pages_at_once.unwrap_or(settings.runtime.pool_concurrency as usize);
        let extract = ExtractPages::new(store.clone(), extractor, pages_at_once);
        kinds.insert(JobKind::Extract, Arc::new(extract));
        let finalize = FinalizeGuidelines::new(store.clone());
        kinds.insert(JobKind::Finalize, Arc::new(finalize));
        let export = ExportEpub::new(store.clone(), objects.clone(), clock.clone());
        kinds.insert(JobKind::ExportEpub, Arc::new(export));
        if settings.synthetic.enabled {
            let trace = Some(settings.synthetic.trace_file.as_str()).filter(|t| !t.is_empty());
            let handler = SyntheticHandler::new(&settings.runtime.node_id, trace.map(Path::new))
                .map_err(|source| StartError::TraceFile {
                    path: settings.synthetic.trace_file.clone(),
                    source,
                })?;
            kinds.insert(JobKind::Synthetic, Arc::new(handler));
        }
        let job_store: Arc<dyn JobStore> = store.clone();
        let runtime =
            RuntimeHandle::start(settings.runtime_config(), job_store, kinds, clock.clone())
                .await
                .map_err(StartError::Recovery)?;
        let intake = Arc::new(Intake {
            store: store.clone(),
            objects: objects.clone(),
            runtime: runtime.clone(),
            clock: clock.clone(),
            max_file_bytes: settings.upload.max_file_bytes,
            pdf: pdf.clone(),
            pdf_limits: settings.pdf.clone(),
        });
        spawn_pdf_janitor(&runtime, pdf.files.clone());
        crate::follow_ups::spawn(
            runtime.clone(),
            store.clone(),
            settings.guidelines.extractor.as_str(),
        );
        Ok(App {
            settings,
            node,
            store,
            objects,
            runtime,
            clock,
            uploads: Arc::default(),
            intake,
            closing: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Binds the HTTP server to `server.bind` (port 0 picks a free one) and returns it with
    /// the address it listens on. The server runs once awaited or spawned.
    pub fn serve(&self) -> Result<(Server, SocketAddr), StartError> {
        let state = web::Data::new(ApiState {
            store: self.store.clone(),
            objects: self.objects.clone(),
            runtime: self.runtime.clone(),
            clock: self.clock.clone(),
            intake: self.intake.clone(),
            synthetic_enabled: self.settings.synthetic.enabled,
            extractor: self.settings.guidelines.extractor,
            upload: self.settings.upload.clone(),
            uploads: self.uploads.clone(),
            closing: self.closing.subscribe(),
        });
        let addr = self.settings.bind_addr();
        let server = HttpServer::new(move || {
            actix_web::App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::Logger::new("%r %s %Dms").log_target("quire::http"))
                .configure(http::configure)
        })
        .workers(self.settings.server.workers)
        // `main` stops the server itself, at the same time as the runtime's drain.
        .disable_signals()
        .shutdown_timeout(self.settings.server.shutdown_grace_ms.div_ceil(1000))
        .bind(addr)
        .map_err(|source| StartError::Bind { addr, source })?;
        let bound = server.addrs().first().copied().unwrap_or(addr);
        Ok((server.run(), bound))
    }
}

impl App {
    /// Ends every event stream: the node is stopping.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Drains the runtime (within `limit`: leases released, in-flight items handed back)
    /// and then closes the database, before the process's executor goes away.
    pub async fn stop(&self, limit: std::time::Duration) {
        self.runtime.shutdown(limit).await;
        self.close_store().await;
    }

    /// Closes the database, waiting a little for connections in use.
    pub async fn close_store(&self) {
        if tokio::time::timeout(STORE_CLOSE_LIMIT, self.store.close())
            .await
            .is_err()
        {
            tracing::warn!("a database connection was still in use at exit");
        }
    }
}

/// How long [`App::stop`] waits for busy database connections to come back.
const STORE_CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The OCR engine the settings name, with the name its results record and the pages it
/// reads at once.
/// Removes a book's local PDF copies once a job of the book ends: under the JobLock,
/// nothing else of the book runs on this node then, and a later job fetches them again.
fn spawn_pdf_janitor(runtime: &RuntimeHandle, files: Arc<PdfFiles>) {
    let mut events = runtime.subscribe();
    actix::spawn(async move {
        loop {
            match events.recv().await {
                Ok(job) if job.status.is_terminal() => files.remove_book(job.book_id).await,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

fn ocr_engine(s: &OcrSettings) -> Result<(Arc<dyn OcrEngine>, &'static str, usize), StartError> {
    let timeout = std::time::Duration::from_millis(s.timeout_ms);
    Ok(match s.engine {
        OcrEngineName::Tesseract => (
            Arc::new(Tesseract::new(
                &s.tesseract_binary,
                &s.language,
                timeout,
                s.processes(),
            )),
            "tesseract",
            s.processes(),
        ),
        OcrEngineName::Openai => {
            let key = Some(s.openai_api_key.clone())
                .filter(|k| !k.is_empty())
                .or_else(|| std::env::var("OPENAI_API_KEY").ok());
            let engine = VisionEngine::new(VisionSettings {
                base_url: s.openai_base_url.clone(),
                model: s.openai_model.clone(),
                api_key: key,
                timeout,
                concurrency: s.openai_concurrency as usize,
                prompt: None,
            })?;
            (Arc::new(engine), "openai", s.openai_concurrency as usize)
        }
    })
}

/// The guidelines extractor the settings name.
/// The extractor the settings name, with the pages it extracts at once if it has a bound
/// of its own.
fn extractor(s: &GuidelinesSettings) -> Result<(Arc<dyn Extractor>, Option<usize>), StartError> {
    Ok(match s.extractor {
        ExtractorName::Offline => (Arc::new(OfflineExtractor), None),
        ExtractorName::Openai => {
            let key = Some(s.openai_api_key.clone())
                .filter(|k| !k.is_empty())
                .or_else(|| std::env::var("OPENAI_API_KEY").ok());
            let extractor = OpenAiExtractor::new(ChatSettings {
                base_url: s.openai_base_url.clone(),
                model: s.openai_model.clone(),
                api_key: key,
                timeout: std::time::Duration::from_millis(s.openai_timeout_ms),
                concurrency: s.openai_concurrency as usize,
            })?;
            (Arc::new(extractor), Some(s.openai_concurrency as usize))
        }
    })
}

/// The object store the settings name. S3 credentials come from the environment only.
/// The object store `storage` names.
pub fn open_objects(s: &StorageSettings) -> Result<Arc<dyn ObjectStore>, StartError> {
    match s.backend {
        StorageBackend::Folder => {
            std::fs::create_dir_all(&s.path).map_err(|source| StartError::Storage {
                path: s.path.display().to_string(),
                source,
            })?;
            Ok(Arc::new(FolderStore::new(&s.path)))
        }
        StorageBackend::S3 => {
            let credential = |set: &str, name: &'static str| {
                Some(set.to_owned())
                    .filter(|v| !v.is_empty())
                    .or_else(|| std::env::var(name).ok())
                    .ok_or(StartError::S3Credentials(name))
            };
            Ok(Arc::new(S3Store::new(&S3Settings {
                bucket: s.s3_bucket.clone(),
                endpoint: s.s3_endpoint.clone(),
                region: s.s3_region.clone(),
                prefix: s.s3_prefix.clone(),
                force_path_style: s.s3_force_path_style,
                checksum_when_required: s.s3_checksum_when_required,
                access_key_id: credential(&s.s3_access_key_id, "AWS_ACCESS_KEY_ID")?,
                secret_access_key: credential(&s.s3_secret_access_key, "AWS_SECRET_ACCESS_KEY")?,
                timeout: std::time::Duration::from_millis(s.s3_timeout_ms),
            })))
        }
    }
}

/// Decides this process's node name and holds it, before the runtime takes back the jobs
/// leased to that name: a name set by the operator must be free; an unset one is the host
/// name, or the first of `<host>-2`, `<host>-3`, … that no live process holds.
async fn take_node_name(settings: &mut Settings) -> Result<Option<NodeLock>, StartError> {
    /// Names tried for an unset `runtime.node_id` before giving up.
    const MAX_SIBLINGS: u32 = 64;
    let runtime = &mut settings.runtime;
    let url = &settings.database.url;
    if runtime.allow_shared_node_id {
        if runtime.node_id.is_empty() {
            runtime.node_id = crate::config::host_name();
        }
        return Ok(None);
    }
    if !runtime.node_id.is_empty() {
        return match NodeLock::try_take(url, &runtime.node_id).await? {
            Some(lock) => Ok(Some(lock)),
            None => Err(StartError::NodeIdInUse(runtime.node_id.clone())),
        };
    }
    let host = crate::config::host_name();
    for n in 1..=MAX_SIBLINGS {
        let name = if n == 1 {
            host.clone()
        } else {
            format!("{host}-{n}")
        };
        if let Some(lock) = NodeLock::try_take(url, &name).await? {
            runtime.node_id = name;
            return Ok(Some(lock));
        }
    }
    Err(StartError::NodeIdInUse(format!("{host}-{MAX_SIBLINGS}")))
}
