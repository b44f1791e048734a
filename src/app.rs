//! Wires settings, store, runtime and HTTP server together. `main` and the tests use the
//! same [`App::start`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{HttpServer, web};
use quire_actors::ports::{Clock, ItemWork, JobStore, SystemClock};
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
use crate::objects::{FolderStore, ObjectStore, S3Settings, S3Store};
use crate::ocr::{OcrEngine, OcrPages, PixelLimit, Tesseract, VisionEngine, VisionSettings};
use crate::openai::ChatSettings;
use crate::store::{self, OpenError, Store};
use crate::synthetic::SyntheticHandler;

pub struct App {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub objects: Arc<dyn ObjectStore>,
    pub runtime: RuntimeHandle,
    pub clock: Arc<dyn Clock>,
    pub uploads: Arc<http::UploadStats>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] OpenError),
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
        let store = store::open(&settings.database.url, settings.database.max_connections).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut kinds = KindRegistry::new();
        let (engine, engine_name, concurrency) = ocr_engine(&settings.ocr)?;
        let ocr = OcrPages::new(
            objects.clone(),
            engine,
            engine_name,
            PixelLimit(settings.upload.max_pixels),
            concurrency,
        );
        kinds.insert(JobKind::Ocr, ItemWork::Remote(Arc::new(ocr)));
        let extract = ExtractPages::new(store.clone(), extractor(&settings.guidelines)?);
        kinds.insert(JobKind::Extract, ItemWork::Remote(Arc::new(extract)));
        let finalize = FinalizeGuidelines::new(store.clone());
        kinds.insert(JobKind::Finalize, ItemWork::Remote(Arc::new(finalize)));
        let export = ExportEpub::new(store.clone(), objects.clone(), clock.clone());
        kinds.insert(JobKind::ExportEpub, ItemWork::Remote(Arc::new(export)));
        if settings.synthetic.enabled {
            let trace = Some(settings.synthetic.trace_file.as_str()).filter(|t| !t.is_empty());
            let handler = SyntheticHandler::new(&settings.runtime.node_id, trace.map(Path::new))
                .map_err(|source| StartError::TraceFile {
                    path: settings.synthetic.trace_file.clone(),
                    source,
                })?;
            kinds.insert(JobKind::Synthetic, ItemWork::Remote(Arc::new(handler)));
        }
        let job_store: Arc<dyn JobStore> = store.clone();
        let runtime =
            RuntimeHandle::start(settings.runtime_config(), job_store, kinds, clock.clone())
                .await
                .map_err(StartError::Recovery)?;
        Ok(App {
            settings,
            store,
            objects,
            runtime,
            clock,
            uploads: Arc::default(),
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
            synthetic_enabled: self.settings.synthetic.enabled,
            upload: self.settings.upload.clone(),
            uploads: self.uploads.clone(),
        });
        let addr = self.settings.bind_addr();
        let server = HttpServer::new(move || {
            actix_web::App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::Logger::new("%r %s %Dms").log_target("quire::http"))
                .configure(http::configure)
        })
        .workers(self.settings.server.workers)
        .bind(addr)
        .map_err(|source| StartError::Bind { addr, source })?;
        let bound = server.addrs().first().copied().unwrap_or(addr);
        Ok((server.run(), bound))
    }
}

/// The OCR engine the settings name, with the name its results record and the pages it
/// reads at once.
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
fn extractor(s: &GuidelinesSettings) -> Result<Arc<dyn Extractor>, StartError> {
    Ok(match s.extractor {
        ExtractorName::Offline => Arc::new(OfflineExtractor),
        ExtractorName::Openai => {
            let key = Some(s.openai_api_key.clone())
                .filter(|k| !k.is_empty())
                .or_else(|| std::env::var("OPENAI_API_KEY").ok());
            Arc::new(OpenAiExtractor::new(ChatSettings {
                base_url: s.openai_base_url.clone(),
                model: s.openai_model.clone(),
                api_key: key,
                timeout: std::time::Duration::from_millis(s.openai_timeout_ms),
                concurrency: s.openai_concurrency as usize,
            })?)
        }
    })
}

/// The object store the settings name. S3 credentials come from the environment only.
fn open_objects(s: &StorageSettings) -> Result<Arc<dyn ObjectStore>, StartError> {
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
