//! Helpers shared by every integration test.

pub mod db;
pub mod flaky;
pub mod runtime;
