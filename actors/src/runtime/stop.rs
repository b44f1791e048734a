//! Stopping: a job's stop signal, shared with the pools running its items, and the
//! node's own drain.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// How far a job's stop has gone. Levels only rise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopLevel {
    Run,
    /// Cancel seen: items not yet started must not start (no new external call).
    NoNewWork,
    /// Grace over: running items are dropped.
    Abort,
}

#[derive(Debug)]
pub struct StopSwitch(watch::Sender<StopLevel>);

#[derive(Clone, Debug)]
pub struct StopSignal(watch::Receiver<StopLevel>);

impl StopSwitch {
    pub fn new() -> (Self, StopSignal) {
        let (tx, rx) = watch::channel(StopLevel::Run);
        (Self(tx), StopSignal(rx))
    }

    pub fn raise(&self, level: StopLevel) {
        self.0.send_if_modified(|current| {
            let higher = level > *current;
            if higher {
                *current = level;
            }
            higher
        });
    }
}

impl StopSignal {
    pub fn level(&self) -> StopLevel {
        *self.0.borrow()
    }

    /// Resolves once the switch reaches `Abort` (or its JobActor is gone).
    pub async fn aborted(mut self) {
        let _ = self.0.wait_for(|l| *l == StopLevel::Abort).await;
    }

    /// Resolves once the job takes no new work (or its JobActor is gone).
    pub async fn stopping(mut self) {
        let _ = self.0.wait_for(|l| *l >= StopLevel::NoNewWork).await;
    }
}

/// Raised once when the node starts to drain: from then on it takes over no job.
#[derive(Debug, Default)]
pub struct NodeDraining(AtomicBool);

impl NodeDraining {
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
