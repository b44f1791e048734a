use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tracing::Instrument;

use actix::{Actor, Addr, Context, Handler};
use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::RuntimeStats;
use super::stop::StopLevel;
use super::work::{Attempt, Dispatch, RunItem, panic_message};
use crate::error::ItemError;
use crate::ports::ItemHandler;

/// Consecutive 429s one item may wait through before it counts as a retryable failure.
const MAX_RATE_LIMITED_WAITS: u32 = 20;
/// The pause after a 429 that gave no `Retry-After`.
const DEFAULT_RATE_LIMIT_PAUSE: Duration = Duration::from_secs(1);

/// I/O-bound item work (remote providers) as futures, at most `concurrency` at once.
///
/// A 429 pauses the provider that sent it (every handler with its
/// [`ItemHandler::provider`] identity: they share its quota) until its `Retry-After`,
/// at most `max_pause`, and the item runs again without using up an attempt. Items of a
/// paused provider wait without holding a slot, so other providers go on.
///
/// Each call runs within its kind's limits: past the soft one the JobActor is told, past the
/// hard one the call's future is dropped and the attempt fails retryable `TIMEOUT`.
pub struct ItemPool {
    shared: Arc<Shared>,
}

struct Shared {
    permits: Semaphore,
    /// Per provider: no call to it starts before this instant.
    paused_until: Mutex<HashMap<String, Instant>>,
    /// The longest pause one 429 may impose (the retry policy's `max`, `backoff_max_ms`).
    max_pause: Duration,
    stats: Arc<RuntimeStats>,
}

impl ItemPool {
    pub fn start(
        concurrency: usize,
        max_pause: Duration,
        stats: Arc<RuntimeStats>,
    ) -> Addr<ItemPool> {
        ItemPool {
            shared: Arc::new(Shared {
                permits: Semaphore::new(concurrency.max(1)),
                paused_until: Mutex::new(HashMap::new()),
                max_pause,
                stats,
            }),
        }
        .start()
    }
}

impl Actor for ItemPool {
    type Context = Context<Self>;
}

/// Waits until `at`, or forever when there is no such instant.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Shared {
    /// When `provider`'s pause ends, if it is paused now.
    fn paused(&self, provider: &str) -> Option<Instant> {
        let paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        paused
            .get(provider)
            .copied()
            .filter(|until| *until > Instant::now())
    }

    /// Pauses `provider` for `wait`, at most `max_pause`; a pause is never shortened.
    fn pause(&self, provider: &str, wait: Duration) {
        let now = Instant::now();
        let Some(until) = now.checked_add(wait.min(self.max_pause)) else {
            return;
        };
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        paused.retain(|_, end| *end > now);
        let end = paused.entry(provider.to_owned()).or_insert(until);
        *end = (*end).max(until);
    }

    /// Runs one item to its answer: waits out its provider's pause, takes a slot, calls, and
    /// calls again after a 429.
    async fn run(&self, run: &RunItem, handler: &dyn ItemHandler) -> Attempt {
        let provider = handler.provider();
        let mut waits = 0;
        loop {
            while let Some(end) = self.paused(provider) {
                tokio::select! {
                    () = tokio::time::sleep_until(end) => {}
                    () = run.stop.clone().stopping() => return Attempt::Dropped,
                }
            }
            let permit = tokio::select! {
                permit = self.permits.acquire() => permit,
                () = run.stop.clone().stopping() => return Attempt::Dropped,
            };
            let Ok(permit) = permit else {
                return Attempt::Dropped;
            };
            if self.paused(provider).is_some() {
                continue; // paused while this item waited for its slot
            }
            if run.stop.level() >= StopLevel::NoNewWork {
                return Attempt::Dropped;
            }
            let Some(result) = self.call(run, handler).await else {
                return Attempt::Dropped;
            };
            drop(permit);
            match result {
                Err(ItemError::RateLimited { retry_after }) if waits < MAX_RATE_LIMITED_WAITS => {
                    waits += 1;
                    self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    self.pause(provider, retry_after.unwrap_or(DEFAULT_RATE_LIMIT_PAUSE));
                }
                result => return Attempt::Finished(result),
            }
        }
    }

    /// One call of the handler within its limits; `None` if the job aborted it.
    async fn call(
        &self,
        run: &RunItem,
        handler: &dyn ItemHandler,
    ) -> Option<Result<Value, ItemError>> {
        let call =
            AssertUnwindSafe(handler.run(&run.item).instrument(run.item.span())).catch_unwind();
        tokio::pin!(call);
        let started = Instant::now();
        let limits = run.limits;
        let soft = limits.soft.and_then(|d| started.checked_add(d));
        let hard = limits.hard.and_then(|d| started.checked_add(d));
        let mut slow = false;
        loop {
            tokio::select! {
                result = &mut call => {
                    return Some(result.unwrap_or_else(|panic| {
                        Err(ItemError::retryable("WORKER_PANIC", panic_message(panic.as_ref())))
                    }));
                }
                () = run.stop.clone().aborted() => return None,
                () = until(soft), if !slow => {
                    slow = true;
                    run.report_slow(limits.soft.unwrap_or_default());
                }
                () = until(hard) => {
                    tracing::warn!(job_id = %run.item.job_id, item = run.item.item_no,
                        limit = ?limits.hard, "item past its hard limit; abandoned");
                    return Some(Err(ItemError::TimedOut {
                        limit: limits.hard.unwrap_or_default(),
                    }));
                }
            }
        }
    }
}

impl Handler<Dispatch> for ItemPool {
    type Result = ();

    fn handle(&mut self, msg: Dispatch, _: &mut Context<Self>) {
        let shared = self.shared.clone();
        actix::spawn(async move {
            let Dispatch { run, handler } = msg;
            let outcome = shared.run(&run, &*handler).await;
            run.reply(outcome);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(max_pause: Duration) -> Shared {
        Shared {
            permits: Semaphore::new(1),
            paused_until: Mutex::new(HashMap::new()),
            max_pause,
            stats: Arc::default(),
        }
    }

    #[actix_rt::test]
    async fn a_pause_is_clamped_checked_and_kept_to_its_provider() {
        let pool = shared(Duration::from_secs(2));
        // Past any instant the clock can hold: clamped, not an overflow.
        pool.pause("vision", Duration::MAX);
        let end = pool.paused("vision").expect("paused");
        assert!(end <= Instant::now() + Duration::from_secs(2));
        assert_eq!(pool.paused("extractor"), None);
        // A shorter pause does not shorten a longer one.
        pool.pause("vision", Duration::from_millis(1));
        assert_eq!(pool.paused("vision"), Some(end));
    }
}
