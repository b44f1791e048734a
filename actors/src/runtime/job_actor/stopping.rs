//! How a job stops early: a cancel (recorded here or by another node, polled), and the
//! deadlines of its kind (the job's limit; an item's soft limit, which only observes).

use std::time::Duration;

use actix::prelude::*;

use super::JobActor;
use super::phase::{PhaseEvent, Stop};
use crate::error::JobFailure;
use crate::model::{ItemStatus, JobStatus};
use crate::runtime::stop::StopLevel;
use crate::runtime::within;

impl JobActor {
    pub(super) fn begin_cancel(&mut self, ctx: &mut Context<Self>) {
        let ended_unwritten = self
            .outcomes
            .iter()
            .filter(|o| matches!(o.status, ItemStatus::Completed | ItemStatus::Failed))
            .count() as u64;
        let ended_before =
            self.in_flight.is_empty() && self.progress.remaining() <= ended_unwritten;
        if self.step(PhaseEvent::Stop(Stop::Cancel { ended_before })) {
            self.wind_down(ctx);
        }
    }

    /// After a cancel or a fatal error: start no new item, let in-flight items finish
    /// within the grace, then drop the rest (released, to run again on resume).
    pub(super) fn wind_down(&mut self, ctx: &mut Context<Self>) {
        if self.grace_armed {
            return;
        }
        self.grace_armed = true;
        self.stop.raise(StopLevel::NoNewWork);
        let grace = self.cfg().cancel_grace;
        ctx.run_later(grace, |act, ctx| {
            act.stop.raise(StopLevel::Abort);
            act.release_in_flight();
            act.pump(ctx);
        });
    }

    /// Reads the job's status while items run, so that a cancel recorded on another node
    /// stops new starts within `cancel_poll` instead of at the next heartbeat or commit.
    pub(super) fn poll_cancel(&mut self, ctx: &mut Context<Self>) {
        if self.exited() || self.winding_down() || self.in_flight.is_empty() {
            return;
        }
        let (store, id) = (self.env.store.clone(), self.lease.job_id);
        within(self.cfg().store_timeout, async move { store.job(id).await })
            .into_actor(self)
            .map(|res, act, ctx| {
                if let Ok(job) = res
                    && job.status == JobStatus::Cancelling
                {
                    act.begin_cancel(ctx);
                    act.pump(ctx);
                }
            })
            .spawn(ctx);
    }

    /// Fails the job (resumable) once it has run its kind's job limit since its
    /// `started_at`, persisted, so a restarted or adopted JobActor keeps the same deadline.
    pub(super) fn arm_job_limit(&mut self, ctx: &mut Context<Self>) {
        /// Timers are not armed further ahead than this; a longer limit is as good as none.
        const FURTHEST: Duration = Duration::from_secs(365 * 24 * 3600);
        let Some(job) = &self.job else { return };
        let (Some(limit), Some(started_at)) = (self.cfg().limits_of(job.kind).job, job.started_at)
        else {
            return;
        };
        let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
        let left_ms = started_at
            .saturating_add(limit_ms)
            .saturating_sub(self.now());
        let left = Duration::from_millis(u64::try_from(left_ms).unwrap_or(0));
        if left > FURTHEST {
            return;
        }
        ctx.run_later(left, move |act, ctx| act.job_timed_out(limit, ctx));
    }

    pub(super) fn job_timed_out(&mut self, limit: Duration, ctx: &mut Context<Self>) {
        // A cancel or a drain already ending the job takes precedence.
        if self.exited() || self.winding_down() {
            return;
        }
        let failure = JobFailure::TimedOut { limit };
        tracing::warn!(job_id = %self.lease.job_id, ?limit, "job past its limit; failing it");
        if self.step(PhaseEvent::Stop(Stop::Fail(failure.to_job_error()))) {
            self.wind_down(ctx);
        }
        self.pump(ctx);
    }

    /// An attempt passed its kind's soft limit: logged, counted, and flagged on its item.
    pub(super) fn on_slow(&mut self, item_no: i64, attempt: i64, limit: Duration) {
        let Some(flight) = self
            .in_flight
            .get_mut(&item_no)
            .filter(|f| f.attempt == attempt && !f.slow)
        else {
            return;
        };
        flight.slow = true;
        if let Some(job) = &self.job {
            tracing::warn!(job_id = %job.id, kind = %job.kind, item = item_no, attempt,
                ?limit, "item past its soft limit");
            self.env.stats.items.record_slow(job.kind);
        }
    }
}
