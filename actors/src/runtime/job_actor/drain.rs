//! The drain on shutdown: the JobActor's last write before the node goes away.

use actix::prelude::*;

use super::{Drain, JobActor, JobExit, PhaseEvent};
use crate::ports::Commit;
use crate::runtime::stop::StopLevel;
use crate::runtime::within;

impl JobActor {
    /// The drain's one write: outcomes so far, in-flight items released, and the lease set
    /// to expire now.
    pub(super) fn last_write(&mut self, ctx: &mut Context<Self>) {
        if self.job.is_none() {
            return self.exit(JobExit::Shutdown, ctx);
        }
        // Items a claim answered with after the drain began are released too.
        self.release_in_flight();
        self.busy = true;
        let batch = std::mem::take(&mut self.outcomes);
        let mut progress = self.progress.clone();
        progress.count(&batch, self.round);
        let (store, lease, now) = (self.env.store.clone(), self.lease.clone(), self.now());
        within(self.cfg().store_timeout, async move {
            let commit = Commit {
                outcomes: &batch,
                progress: &progress,
                claim: 0,
                lease_expires_at: now,
                now,
            };
            store.commit(&lease, commit).await
        })
        .into_actor(self)
        .map(|res, act, ctx| {
            act.busy = false;
            match res {
                Ok(_) => act.exit(JobExit::Shutdown, ctx),
                Err(e) => act.store_failed(e, ctx),
            }
        })
        .spawn(ctx);
    }
}

impl Handler<Drain> for JobActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.exited() {
            let _ = tx.send(());
        } else {
            self.on_exit.push(tx);
            if self.step(PhaseEvent::Drain) {
                self.stop.raise(StopLevel::Abort);
                self.release_in_flight();
                if let Some(timer) = self.flush_timer.take() {
                    ctx.cancel_future(timer);
                }
                self.pump(ctx);
            }
        }
        // A dropped sender (the actor died) resolves the wait too.
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
