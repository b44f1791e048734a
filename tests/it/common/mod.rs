//! Helpers shared by every integration test.

pub mod api;
pub mod db;
pub mod flaky;
pub mod images;
pub mod runtime;
