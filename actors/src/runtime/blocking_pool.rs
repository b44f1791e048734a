use std::panic::{AssertUnwindSafe, catch_unwind};

use actix::{Actor, Addr, Handler, SyncArbiter, SyncContext};

use super::stop::StopLevel;
use super::work::{Attempt, RunBlocking, panic_message};
use crate::error::ItemError;

/// CPU-bound item work on a fixed set of OS threads.
///
/// A panic would kill its thread (and leave a `SyncArbiter` mailbox closed for good), so each
/// run is wrapped in `catch_unwind` and a panic becomes a retryable `WORKER_PANIC`.
pub struct BlockingPool;

impl BlockingPool {
    pub fn start(threads: usize) -> Addr<BlockingPool> {
        SyncArbiter::start(threads.max(1), || BlockingPool)
    }
}

impl Actor for BlockingPool {
    type Context = SyncContext<Self>;
}

impl Handler<RunBlocking> for BlockingPool {
    type Result = ();

    fn handle(&mut self, msg: RunBlocking, _: &mut SyncContext<Self>) {
        let RunBlocking { run, handler } = msg;
        if run.stop.level() >= StopLevel::NoNewWork {
            return run.reply(Attempt::Dropped);
        }
        let span = run.item.span().entered();
        let result =
            catch_unwind(AssertUnwindSafe(|| handler.run(&run.item))).unwrap_or_else(|panic| {
                Err(ItemError::retryable(
                    "WORKER_PANIC",
                    panic_message(panic.as_ref()),
                ))
            });
        drop(span);
        run.reply(Attempt::Finished(result));
    }
}
