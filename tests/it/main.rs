//! All integration tests, in one binary (one link, shared helpers).

mod api;
mod common;
mod crash;
mod extractor;
mod guidelines;
mod guidelines_score;
mod ingest;
mod intake;
mod limits;
mod objects;
mod ocr;
mod openapi;
mod pages;
mod pdf;
mod recovery;
mod runtime;
mod store;
mod ui;
mod vision;

#[global_allocator]
static ALLOCATOR: common::alloc::Counting = common::alloc::Counting;
