use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tracing::Instrument;

use actix::{Actor, Addr, Context, Handler};
use futures_util::FutureExt;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use super::RuntimeStats;
use super::stop::StopLevel;
use super::work::{Attempt, RunRemote, panic_message};
use crate::error::ItemError;

/// Consecutive 429s one item may wait through before it counts as a retryable failure.
const MAX_RATE_LIMITED_WAITS: u32 = 20;
/// The pause after a 429 that gave no `Retry-After`.
const DEFAULT_RATE_LIMIT_PAUSE: Duration = Duration::from_secs(1);

/// I/O-bound item work (remote providers) as futures, at most `concurrency` at once.
///
/// A 429 pauses the whole pool until the provider's `Retry-After` (every call shares the one
/// quota), and the item runs again without using up an attempt.
pub struct RemotePool {
    shared: Arc<Shared>,
}

struct Shared {
    permits: Semaphore,
    /// No call starts before this instant.
    paused_until: Mutex<Instant>,
    stats: Arc<RuntimeStats>,
}

impl RemotePool {
    pub fn start(concurrency: usize, stats: Arc<RuntimeStats>) -> Addr<RemotePool> {
        RemotePool {
            shared: Arc::new(Shared {
                permits: Semaphore::new(concurrency.max(1)),
                paused_until: Mutex::new(Instant::now()),
                stats,
            }),
        }
        .start()
    }
}

impl Actor for RemotePool {
    type Context = Context<Self>;
}

impl Shared {
    async fn wait_for_quota(&self) {
        loop {
            let until = *self.paused_until.lock().await;
            if until <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }

    async fn pause(&self, wait: Duration) {
        let mut until = self.paused_until.lock().await;
        *until = (*until).max(Instant::now() + wait);
    }
}

impl Handler<RunRemote> for RemotePool {
    type Result = ();

    fn handle(&mut self, msg: RunRemote, _: &mut Context<Self>) {
        let shared = self.shared.clone();
        actix::spawn(async move {
            let RunRemote { run, handler } = msg;
            let Ok(_permit) = shared.permits.acquire().await else {
                return run.reply(Attempt::Dropped);
            };
            let mut waits = 0;
            let outcome = loop {
                shared.wait_for_quota().await;
                if run.stop.level() >= StopLevel::NoNewWork {
                    break Attempt::Dropped;
                }
                let call = AssertUnwindSafe(handler.run(&run.item).instrument(run.item.span()))
                    .catch_unwind();
                let result = tokio::select! {
                    result = call => result.unwrap_or_else(|panic| {
                        Err(ItemError::retryable("WORKER_PANIC", panic_message(panic.as_ref())))
                    }),
                    () = run.stop.clone().aborted() => break Attempt::Dropped,
                };
                match result {
                    Err(ItemError::RateLimited { retry_after })
                        if waits < MAX_RATE_LIMITED_WAITS =>
                    {
                        waits += 1;
                        shared.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        shared
                            .pause(retry_after.unwrap_or(DEFAULT_RATE_LIMIT_PAUSE))
                            .await;
                    }
                    result => break Attempt::Finished(result),
                }
            };
            run.reply(outcome);
        });
    }
}
