//! The node's counters, for `/metrics` and tests. Counters only: no control flag lives here.

use std::sync::atomic::AtomicU64;

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct RuntimeStats {
    /// JobActors restarted after a crash.
    pub restarts: AtomicU64,
    /// Jobs this node took over from an expired lease (or back at boot).
    pub takeovers: AtomicU64,
    /// JobActors stopped because their lease was taken over.
    pub fenced: AtomicU64,
    /// Calls a provider answered with 429 (each paused that provider's calls).
    pub rate_limited: AtomicU64,
    /// Item attempts by outcome, error class and latency.
    pub items: super::ItemStats,
}
