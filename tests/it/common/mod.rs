//! Helpers shared by every integration test.

pub mod alloc;
pub mod api;
pub mod browser;
pub mod db;
pub mod epub;
pub mod flaky;
pub mod gate;
pub mod images;
pub mod model;
pub mod pdf;
pub mod runtime;
