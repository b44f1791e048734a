//! Settings: defaults < `quire.toml` < `QUIRE_*` environment, validated once at start-up.
//!
//! Every setting has a default, so `quire serve` runs with nothing set. In the environment a
//! setting is `QUIRE_<SECTION>_<KEY>` in capitals (`runtime.lease_ttl_ms` is
//! `QUIRE_RUNTIME_LEASE_TTL_MS`); its value is read as the type of the setting's default.
//! An unknown key in the file or an unknown `QUIRE_` variable stops start-up, naming it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quire_actors::retry::RetryPolicy;
use quire_actors::runtime::{KindLimits, Recovery};
use quire_actors::{JobKind, RuntimeConfig};
use serde::{Deserialize, Serialize};

pub use pdf::PdfSettings;

/// Variables that are not settings but share the prefix.
const NOT_SETTINGS: &[&str] = &["QUIRE_CONFIG", "QUIRE_LOG"];

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub runtime: RuntimeSettings,
    pub upload: UploadSettings,
    pub ocr: OcrSettings,
    pub pdf: PdfSettings,
    pub guidelines: GuidelinesSettings,
    pub synthetic: SyntheticSettings,
    pub limits: LimitsSettings,
}

/// Runtime deadlines per job kind (`[limits.<kind>]`, `QUIRE_LIMITS_<KIND>_<KEY>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    pub ocr: KindLimitSettings,
    pub extract: KindLimitSettings,
    pub finalize: KindLimitSettings,
    pub pdf_import: KindLimitSettings,
    pub export_epub: KindLimitSettings,
    pub synthetic: KindLimitSettings,
}

/// One job kind's deadlines, in milliseconds; 0 is no limit. Item limits count from the
/// start of each call of the kind's handler (its own waits for an engine slot included, a
/// provider's `Retry-After` and the pool's queue not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KindLimitSettings {
    /// An attempt running longer is logged, counted (`quire_item_slow_total`) and flagged
    /// `slow` on its item; it goes on.
    pub item_soft_ms: u64,
    /// An attempt running longer is abandoned whatever its handler does: retryable
    /// `TIMEOUT`.
    pub item_hard_ms: u64,
    /// A job running longer since its `started_at` fails, resumable (`JOB_TIMEOUT`); its
    /// completed items are kept.
    pub job_ms: u64,
}

impl Default for KindLimitSettings {
    fn default() -> Self {
        Self::new(300_000, 1_800_000, DAY_MS)
    }
}

impl KindLimitSettings {
    const fn new(item_soft_ms: u64, item_hard_ms: u64, job_ms: u64) -> Self {
        Self {
            item_soft_ms,
            item_hard_ms,
            job_ms,
        }
    }

    fn to_limits(self) -> KindLimits {
        let ms = |v: u64| Some(Duration::from_millis(v)).filter(|_| v > 0);
        KindLimits {
            item_soft: ms(self.item_soft_ms),
            item_hard: ms(self.item_hard_ms),
            job: ms(self.job_ms),
        }
    }
}

impl Default for LimitsSettings {
    fn default() -> Self {
        // Local one-item jobs: a minute is slow, an hour is stuck.
        let local = KindLimitSettings::new(60_000, 1_800_000, 3_600_000);
        Self {
            ocr: KindLimitSettings::default(),
            extract: KindLimitSettings::default(),
            finalize: local,
            pdf_import: KindLimitSettings::default(),
            export_epub: local,
            synthetic: KindLimitSettings::new(60_000, 1_800_000, DAY_MS),
        }
    }
}

impl LimitsSettings {
    /// Each kind with its settings' name.
    fn by_kind(&self) -> [(JobKind, &'static str, KindLimitSettings); 6] {
        [
            (JobKind::Ocr, "limits.ocr", self.ocr),
            (JobKind::Extract, "limits.extract", self.extract),
            (JobKind::Finalize, "limits.finalize", self.finalize),
            (JobKind::PdfImport, "limits.pdf_import", self.pdf_import),
            (JobKind::ExportEpub, "limits.export_epub", self.export_epub),
            (JobKind::Synthetic, "limits.synthetic", self.synthetic),
        ]
    }
}

/// A day, in milliseconds: the longest most durations may be.
const DAY_MS: u64 = 24 * 3600 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtractorName {
    Offline,
    Openai,
}

impl ExtractorName {
    /// As the setting spells it; recorded on each extraction job.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Openai => "openai",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuidelinesSettings {
    /// `offline` (deterministic rules, no network; the embedded default) or `openai` (any
    /// OpenAI-compatible chat model with structured output).
    pub extractor: ExtractorName,
    pub openai_base_url: String,
    pub openai_model: String,
    /// Empty falls back to `OPENAI_API_KEY`.
    pub openai_api_key: String,
    pub openai_timeout_ms: u64,
    /// Pages sent at once.
    pub openai_concurrency: u32,
}

impl Default for GuidelinesSettings {
    fn default() -> Self {
        Self {
            extractor: ExtractorName::Offline,
            openai_base_url: "https://api.openai.com/v1".to_owned(),
            openai_model: String::new(),
            openai_api_key: String::new(),
            openai_timeout_ms: 120_000,
            openai_concurrency: 16,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadSettings {
    /// Largest page image accepted, in bytes (larger: 413).
    pub max_file_bytes: u64,
    /// Most files in one bulk upload.
    pub max_files: u32,
    /// Most pixels a page may have (larger: `IMAGE_TOO_LARGE`), against decompression bombs.
    pub max_pixels: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OcrEngineName {
    Tesseract,
    Openai,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcrSettings {
    /// `tesseract` (the embedded default) or `openai` (any OpenAI-compatible vision model).
    pub engine: OcrEngineName,
    /// Longest one page may take before it is stopped (retryable `TIMEOUT`).
    pub timeout_ms: u64,
    /// Tesseract: pages at once, each a single-threaded process; 0 means one per core.
    pub processes: u32,
    pub tesseract_binary: String,
    /// Tesseract: language models, as `-l` takes them (`eng`, `eng+deu`).
    pub language: String,
    /// OpenAI-compatible: the API base, e.g. `https://api.openai.com/v1`.
    pub openai_base_url: String,
    pub openai_model: String,
    /// OpenAI-compatible: the key; empty falls back to `OPENAI_API_KEY`.
    pub openai_api_key: String,
    /// OpenAI-compatible: requests in flight at once.
    pub openai_concurrency: u32,
    /// Memory, in bytes, this node's page decodes may hold at once (sources, decoders'
    /// buffers, encoded pages until the engine has read them). A decode waits for its
    /// share; one that needs more than all of it fails terminal `DECODE_BUDGET_EXCEEDED`.
    pub decode_budget_bytes: u64,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            max_file_bytes: 10 * 1024 * 1024,
            max_files: 500,
            max_pixels: crate::ocr::PixelLimit::default().0,
        }
    }
}

impl Default for OcrSettings {
    fn default() -> Self {
        Self {
            engine: OcrEngineName::Tesseract,
            timeout_ms: 120_000,
            processes: 0,
            tesseract_binary: "tesseract".to_owned(),
            language: "eng".to_owned(),
            openai_base_url: "https://api.openai.com/v1".to_owned(),
            openai_model: String::new(),
            openai_api_key: String::new(),
            openai_concurrency: 4,
            decode_budget_bytes: 512 << 20,
        }
    }
}

impl OcrSettings {
    /// Tesseract processes at once.
    pub fn processes(&self) -> usize {
        match self.processes {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n as usize,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address the HTTP API and UI listen on.
    pub bind: String,
    /// actix-web worker threads.
    pub workers: usize,
    /// On SIGTERM, how long requests in progress (an upload) may go on while the node
    /// drains its jobs; event streams close at once.
    pub shutdown_grace_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path` (embedded default) or `postgres://user@host/db`.
    pub url: String,
    /// Pool size on PostgreSQL (SQLite uses one writer and four readers).
    pub max_connections: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `folder` (the embedded default) or `s3`.
    pub backend: StorageBackend,
    /// Folder of the local object store (page images, exports).
    pub path: PathBuf,
    pub s3_bucket: String,
    /// S3: the access key; empty falls back to `AWS_ACCESS_KEY_ID`.
    pub s3_access_key_id: String,
    /// S3: the secret key; empty falls back to `AWS_SECRET_ACCESS_KEY`.
    pub s3_secret_access_key: String,
    /// S3: empty for AWS, or the URL of an S3-compatible store.
    pub s3_endpoint: String,
    pub s3_region: String,
    /// S3: prepended to every key.
    pub s3_prefix: String,
    pub s3_force_path_style: bool,
    /// S3: send checksums only where required (for stores that reject aws-chunked CRCs).
    pub s3_checksum_when_required: bool,
    pub s3_timeout_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    Folder,
    S3,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    /// This node's name in leases. Empty (the default): the host name, or `<host>-2`,
    /// `<host>-3`, … when a live process on the same database holds it. A name set here that
    /// a live process holds stops the start, unless `allow_shared_node_id` is set.
    pub node_id: String,
    /// Let this process take a node name a live process holds. Its boot takes that
    /// process's jobs over, and both write under one name: for operators who know why.
    pub allow_shared_node_id: bool,
    pub lease_ttl_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// Items one job keeps in flight.
    pub item_concurrency: u32,
    /// Item outcomes per write transaction, at most.
    pub commit_batch: u32,
    /// Longest an outcome waits for its batch.
    pub commit_interval_ms: u64,
    /// How long in-flight items may run after a cancel.
    pub cancel_grace_ms: u64,
    /// Longest wait for one database call before it counts as a failure.
    pub store_timeout_ms: u64,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Extra rounds for retryably-failed items at the end of a job.
    pub auto_retry_rounds: u32,
    pub restart_limit: u32,
    pub restart_window_ms: u64,
    /// Item calls at once on this node, over all its jobs (engines bound their own
    /// processes within it).
    pub pool_concurrency: u32,
    /// At boot, `resume` or `fail` the jobs this node held when it went down.
    pub recovery: Recovery,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticSettings {
    /// Accept `synthetic` jobs (load tests, crash drills). Off in production.
    pub enabled: bool,
    /// If set, every synthetic item start is appended here as `job item attempt`.
    pub trace_file: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            workers: 2,
            shutdown_grace_ms: 5_000,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://./quire-data/quire.db".to_owned(),
            max_connections: 10,
        }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Folder,
            path: PathBuf::from("./quire-data/objects"),
            s3_bucket: String::new(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            s3_endpoint: String::new(),
            s3_region: "us-east-1".to_owned(),
            s3_prefix: String::new(),
            s3_force_path_style: true,
            s3_checksum_when_required: false,
            s3_timeout_ms: 30_000,
        }
    }
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        let rt = RuntimeConfig::default();
        let ms = |d: Duration| d.as_millis() as u64;
        Self {
            node_id: String::new(),
            allow_shared_node_id: false,
            lease_ttl_ms: ms(rt.lease_ttl),
            heartbeat_interval_ms: ms(rt.heartbeat_interval),
            item_concurrency: rt.item_concurrency,
            commit_batch: rt.commit_batch as u32,
            commit_interval_ms: ms(rt.commit_interval),
            cancel_grace_ms: ms(rt.cancel_grace),
            store_timeout_ms: ms(rt.store_timeout),
            max_attempts: rt.retry.max_attempts,
            backoff_base_ms: ms(rt.retry.base),
            backoff_max_ms: ms(rt.retry.max),
            auto_retry_rounds: rt.retry.auto_retry_rounds,
            restart_limit: rt.restart_limit,
            restart_window_ms: ms(rt.restart_window),
            pool_concurrency: rt.pool_concurrency as u32,
            recovery: rt.recovery,
        }
    }
}

/// The name a node takes when `runtime.node_id` is not set.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node-1".to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    File { path: PathBuf, message: String },
    #[error("{var} is not a setting (settings are QUIRE_<SECTION>_<KEY>, e.g. QUIRE_DATABASE_URL)")]
    UnknownVariable { var: String },
    #[error("{var}: expected {expected}, got `{value}`")]
    BadVariable {
        var: String,
        expected: &'static str,
        value: String,
    },
    #[error("invalid settings: {0}")]
    Invalid(String),
    #[error("setting `{setting}` is invalid: {reason}")]
    Setting {
        setting: &'static str,
        reason: String,
    },
}

impl Settings {
    /// Settings for this process: the file named by `QUIRE_CONFIG` (or `./quire.toml` if it
    /// exists), then the process environment.
    pub fn from_process_env() -> Result<Settings, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let file = match env.get("QUIRE_CONFIG") {
            Some(path) => Some(PathBuf::from(path)),
            None => Some(PathBuf::from("quire.toml")).filter(|p| p.exists()),
        };
        Self::load(file.as_deref(), &env)
    }

    /// Settings from an explicit file and environment map (tests pass their own).
    pub fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let mut merged = toml::Table::try_from(Settings::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                path: path.to_owned(),
                source,
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::File {
                        path: path.to_owned(),
                        message: e.to_string(),
                    })?;
            merge(&mut merged, table);
            // Deserialize now so a typo is blamed on the file, not on the environment.
            toml::Value::Table(merged.clone())
                .try_into::<Settings>()
                .map_err(|e| ConfigError::File {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        }
        let defaults = merged.clone();
        for (var, value) in env.iter().filter(|(k, _)| k.starts_with("QUIRE_")) {
            if NOT_SETTINGS.contains(&var.as_str()) {
                continue;
            }
            let (path, default) = find_setting(&defaults, var)
                .ok_or_else(|| ConfigError::UnknownVariable { var: var.clone() })?;
            let typed = typed_like(default, var, value)?;
            let (key, tables) = path.split_last().expect("a setting has a key");
            let mut table = &mut merged;
            for name in tables {
                match table.get_mut(name) {
                    Some(toml::Value::Table(t)) => table = t,
                    _ => unreachable!("found in the defaults' tables"),
                }
            }
            table.insert(key.clone(), typed);
        }
        let settings: Settings = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting, reason: &str| {
            Err(ConfigError::Setting {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.server.bind.parse::<SocketAddr>().is_err() {
            return bad("server.bind", "expected an address like 127.0.0.1:8080");
        }
        if self.server.workers == 0 {
            return bad("server.workers", "must be at least 1");
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return bad("database.url", "must start with sqlite:// or postgres://");
        }
        if url.contains(":memory:") {
            return bad(
                "database.url",
                "an in-memory database loses every job; give a file path",
            );
        }
        if self.storage.backend == StorageBackend::S3 && self.storage.s3_bucket.trim().is_empty() {
            return bad(
                "storage.s3_bucket",
                "must name a bucket when storage.backend is s3",
            );
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1");
        }
        let r = &self.runtime;
        for (setting, value) in [
            ("runtime.lease_ttl_ms", r.lease_ttl_ms),
            ("runtime.heartbeat_interval_ms", r.heartbeat_interval_ms),
            ("runtime.commit_interval_ms", r.commit_interval_ms),
            ("runtime.cancel_grace_ms", r.cancel_grace_ms),
            ("runtime.store_timeout_ms", r.store_timeout_ms),
            ("runtime.backoff_max_ms", r.backoff_max_ms),
            ("runtime.restart_window_ms", r.restart_window_ms),
            ("storage.s3_timeout_ms", self.storage.s3_timeout_ms),
        ] {
            if value > DAY_MS {
                return bad(setting, "must be at most a day (86400000)");
            }
        }
        if r.node_id != r.node_id.trim() {
            return bad("runtime.node_id", "must not start or end with spaces");
        }
        if r.store_timeout_ms == 0 {
            return bad("runtime.store_timeout_ms", "must be above 0");
        }
        if r.heartbeat_interval_ms == 0 {
            return bad("runtime.heartbeat_interval_ms", "must be above 0");
        }
        if r.lease_ttl_ms < 2 * r.heartbeat_interval_ms {
            return bad(
                "runtime.lease_ttl_ms",
                "must be at least twice runtime.heartbeat_interval_ms, or a live node loses its leases",
            );
        }
        if r.lease_ttl_ms <= r.heartbeat_interval_ms + r.store_timeout_ms {
            return bad(
                "runtime.lease_ttl_ms",
                &format!(
                    "must exceed runtime.heartbeat_interval_ms + runtime.store_timeout_ms ({} + {} ms): \
                     a renewal that starts a beat late and takes the whole store timeout must land \
                     before the lease expires, or another node takes a live node's jobs",
                    r.heartbeat_interval_ms, r.store_timeout_ms
                ),
            );
        }
        if r.item_concurrency == 0 {
            return bad("runtime.item_concurrency", "must be at least 1");
        }
        if r.commit_batch == 0 {
            return bad("runtime.commit_batch", "must be at least 1");
        }
        if r.max_attempts == 0 {
            return bad("runtime.max_attempts", "must be at least 1");
        }
        if r.backoff_base_ms > r.backoff_max_ms {
            return bad(
                "runtime.backoff_base_ms",
                "must not exceed runtime.backoff_max_ms",
            );
        }
        if r.pool_concurrency == 0 {
            return bad("runtime.pool_concurrency", "must be at least 1");
        }
        self.validate_limits()?;
        let u = &self.upload;
        if u.max_file_bytes == 0 || u.max_file_bytes > 1 << 30 {
            return bad("upload.max_file_bytes", "must be between 1 and 1073741824");
        }
        if u.max_files == 0 || u.max_files > 10_000 {
            return bad("upload.max_files", "must be between 1 and 10000");
        }
        if u.max_pixels < 1_000_000 {
            return bad("upload.max_pixels", "must be at least 1000000");
        }
        let o = &self.ocr;
        if o.timeout_ms == 0 || o.timeout_ms > DAY_MS {
            return bad("ocr.timeout_ms", "must be between 1 and 86400000");
        }
        if o.decode_budget_bytes < 64 << 20 || o.decode_budget_bytes > crate::ocr::MAX_DECODE_BUDGET
        {
            return bad(
                "ocr.decode_budget_bytes",
                "must be between 67108864 (64 MiB) and 4398046510080 (4 TiB)",
            );
        }
        if o.engine == OcrEngineName::Openai {
            if o.openai_model.trim().is_empty() {
                return bad(
                    "ocr.openai_model",
                    "must name a vision model when ocr.engine is openai",
                );
            }
            if !(o.openai_base_url.starts_with("http://")
                || o.openai_base_url.starts_with("https://"))
            {
                return bad("ocr.openai_base_url", "must be an http:// or https:// URL");
            }
            if o.openai_concurrency == 0 {
                return bad("ocr.openai_concurrency", "must be at least 1");
            }
        }
        let p = &self.pdf;
        if p.max_file_bytes == 0 || p.max_file_bytes > 5 << 30 {
            return bad(
                "pdf.max_file_bytes",
                "must be between 1 and 5368709120 (5 GiB)",
            );
        }
        if p.max_pages == 0 || p.max_pages as i64 > crate::pages::MAX_PAGE_NO {
            return bad("pdf.max_pages", "must be between 1 and 100000");
        }
        for (key, ms) in [
            ("pdf.page_timeout_ms", p.page_timeout_ms),
            ("pdf.file_timeout_ms", p.file_timeout_ms),
        ] {
            if ms == 0 || ms > DAY_MS {
                return bad(key, "must be between 1 and 86400000");
            }
        }
        let g = &self.guidelines;
        if g.extractor == ExtractorName::Openai {
            if g.openai_model.trim().is_empty() {
                return bad(
                    "guidelines.openai_model",
                    "must name a model when guidelines.extractor is openai",
                );
            }
            if g.openai_concurrency == 0 {
                return bad("guidelines.openai_concurrency", "must be at least 1");
            }
            if g.openai_timeout_ms == 0 || g.openai_timeout_ms > DAY_MS {
                return bad(
                    "guidelines.openai_timeout_ms",
                    "must be between 1 and 86400000",
                );
            }
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        for (kind, name, l) in self.limits.by_kind() {
            let invalid = |key: &str, reason: String| {
                ConfigError::Invalid(format!("setting `{name}.{key}` is invalid: {reason}"))
            };
            for (key, value, most) in [
                ("item_soft_ms", l.item_soft_ms, DAY_MS),
                ("item_hard_ms", l.item_hard_ms, DAY_MS),
                ("job_ms", l.job_ms, 30 * DAY_MS),
            ] {
                if value > most {
                    return Err(invalid(
                        key,
                        format!("must be at most {most} (0: no limit)"),
                    ));
                }
            }
            if l.item_soft_ms > 0 && l.item_hard_ms > 0 && l.item_soft_ms >= l.item_hard_ms {
                return Err(invalid(
                    "item_soft_ms",
                    format!("must be below {name}.item_hard_ms ({})", l.item_hard_ms),
                ));
            }
            // An engine's own timeout (which stops its process) must come first.
            let engine_timeout = match kind {
                JobKind::Ocr => Some(("ocr.timeout_ms", self.ocr.timeout_ms)),
                JobKind::Extract if self.guidelines.extractor == ExtractorName::Openai => Some((
                    "guidelines.openai_timeout_ms",
                    self.guidelines.openai_timeout_ms,
                )),
                _ => None,
            };
            if let Some((setting, timeout)) = engine_timeout
                && l.item_hard_ms > 0
                && l.item_hard_ms <= timeout
            {
                return Err(invalid(
                    "item_hard_ms",
                    format!(
                        "must exceed {setting} ({timeout}), so the engine's own timeout stops a page first"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> SocketAddr {
        self.server.bind.parse().expect("validated at load")
    }

    pub fn runtime_config(&self) -> RuntimeConfig {
        let r = &self.runtime;
        let ms = Duration::from_millis;
        RuntimeConfig {
            node_id: r.node_id.clone(),
            lease_ttl: ms(r.lease_ttl_ms),
            heartbeat_interval: ms(r.heartbeat_interval_ms),
            takeover_batch: 16,
            item_concurrency: r.item_concurrency,
            commit_batch: r.commit_batch as usize,
            commit_interval: ms(r.commit_interval_ms),
            cancel_grace: ms(r.cancel_grace_ms),
            cancel_poll: RuntimeConfig::default().cancel_poll,
            store_timeout: ms(r.store_timeout_ms),
            retry: RetryPolicy {
                max_attempts: r.max_attempts,
                base: ms(r.backoff_base_ms),
                max: ms(r.backoff_max_ms),
                auto_retry_rounds: r.auto_retry_rounds,
            },
            restart_limit: r.restart_limit,
            restart_window: ms(r.restart_window_ms),
            pool_concurrency: r.pool_concurrency as usize,
            recovery: r.recovery,
            limits: self
                .limits
                .by_kind()
                .into_iter()
                .map(|(kind, _, l)| (kind, l.to_limits()))
                .collect(),
        }
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// `QUIRE_RUNTIME_LEASE_TTL_MS` -> (["runtime", "lease_ttl_ms"], its default);
/// `QUIRE_LIMITS_EXPORT_EPUB_JOB_MS` -> (["limits", "export_epub", "job_ms"], …).
fn find_setting<'a>(
    defaults: &'a toml::Table,
    var: &str,
) -> Option<(Vec<String>, &'a toml::Value)> {
    let rest = var.strip_prefix("QUIRE_")?.to_ascii_lowercase();
    // Settings live in sections, never at the top.
    defaults.iter().find_map(|(section, table)| {
        let key = rest.strip_prefix(section.as_str())?.strip_prefix('_')?;
        let (mut path, default) = find_in(table.as_table()?, key)?;
        path.insert(0, section.clone());
        Some((path, default))
    })
}

/// The value at `rest` in `table`, where `rest` joins nested table names and the key
/// with `_`.
fn find_in<'a>(table: &'a toml::Table, rest: &str) -> Option<(Vec<String>, &'a toml::Value)> {
    if let Some(value) = table.get(rest).filter(|v| !v.is_table()) {
        return Some((vec![rest.to_owned()], value));
    }
    table.iter().find_map(|(name, value)| {
        let inner = value.as_table()?;
        let key = rest.strip_prefix(name.as_str())?.strip_prefix('_')?;
        let (mut path, found) = find_in(inner, key)?;
        path.insert(0, name.clone());
        Some((path, found))
    })
}

/// Reads an environment value as the type of the setting's default.
fn typed_like(default: &toml::Value, var: &str, raw: &str) -> Result<toml::Value, ConfigError> {
    let bad = |expected| ConfigError::BadVariable {
        var: var.to_owned(),
        expected,
        value: raw.to_owned(),
    };
    Ok(match default {
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?)
        }
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(bad("true or false")),
        }),
        toml::Value::Float(_) => {
            toml::Value::Float(raw.trim().parse().map_err(|_| bad("a number"))?)
        }
        _ => toml::Value::String(raw.to_owned()),
    })
}

mod pdf;
#[cfg(test)]
mod tests;
