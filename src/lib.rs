//! Quire: a supervised actor runtime for processing books.
//!
//! # Layout
//!
//! - [`config`]: one `Settings` struct from defaults < `quire.toml` < `QUIRE_*` environment.
//! - [`store`]: the SQLite and PostgreSQL adapters of the runtime's `JobStore` port, and the
//!   book catalog.
//! - [`export`]: EPUB 3 export of a book's guidelines and approved text.
//! - [`guidelines`]: teaching guidelines per page, their extractors, and the ordered pass that
//!   joins pages into topics.
//! - [`objects`]: the object store port (page images, exports) on a folder or S3.
//! - [`openai`]: the OpenAI-compatible chat client the vision OCR engine and the LLM
//!   extractor share (errors classified by status, `Retry-After` read).
//! - [`ocr`]: image checks and normalization, OCR engines, and the `ocr` job kind.
//! - [`pages`]: pages of a book, their OCR state and review.
//! - [`pdf`]: reading PDFs through poppler's and qpdf's tools, each call a killable process.
//! - [`synthetic`]: the `synthetic` job kind (latency and scripted faults) for load tests
//!   and crash drills.
//! - [`intake`]: page images entering a book under a held job, shared by the HTTP upload and
//!   `quire ingest`.
//! - [`follow_ups`]: the jobs a completed job asked to run after it (`then`), each its own
//!   job, started exactly once under the JobLock.
//! - [`ingest`]: the whole chain for a folder of images (`quire ingest`), resumable.
//! - [`http`]: the actix-web REST API.
//! - [`app`]: wires settings, store, runtime and HTTP server together; used by `main` and tests.
//!
//! The runtime itself (job model, Supervisor, JobActor, pools, Heartbeat) is the
//! `quire-actors` crate.

pub mod app;
pub mod config;
pub mod export;
pub mod follow_ups;
pub mod guidelines;
pub mod http;
pub mod ingest;
pub mod intake;
pub mod objects;
pub mod ocr;
pub mod openai;
pub mod pages;
pub mod pdf;
pub mod store;
pub mod synthetic;
