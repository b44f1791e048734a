use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::broadcast;

use super::RuntimeConfig;
use super::item_pool::ItemPool;
use super::outcome::decide;
use super::stop::{StopLevel, StopSignal, StopSwitch};
use super::within;
use super::work::{Attempt, CallLimits, Dispatch, ItemDone, ItemSlow, RunItem};
use crate::error::{ItemError, StoreError};
use crate::model::{ClaimedItem, ItemOutcome, Job, JobError, JobEvent, JobStatus, Lease, Progress};
use crate::ports::{Clock, Commit, Committed, Entered, ItemContext, ItemHandler, JobStore};

mod drain;
mod phase;
mod stopping;

use phase::{Phase, PhaseEvent, Stop};

/// Why a JobActor stopped: what its Supervisor reads to decide on a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobExit {
    /// The job reached this terminal status; the JobLock is released.
    Finished(JobStatus),
    /// Its lease was taken over or the job ended elsewhere: it must not write again.
    Fenced,
    /// The store failed; a restart resumes from the persisted item states.
    StoreFailed(String),
    /// The actor died without saying why (a panic in its own code).
    Panicked,
    /// The node is shutting down: outcomes written, in-flight items released, lease expired
    /// so that any node takes the job up at once.
    Shutdown,
}

impl JobExit {
    pub fn wants_restart(&self) -> bool {
        matches!(self, Self::StoreFailed(_) | Self::Panicked)
    }
}

#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct JobExited {
    pub lease: Lease,
    pub exit: JobExit,
}

/// The Supervisor relays a cancel it recorded.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelRequested;

/// The node is shutting down: persist what is done, release the rest, let the lease go.
/// Answers once the actor has exited.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// The lease is gone: stop at once and write nothing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Abandon;

/// Everything a JobActor needs that outlives it.
#[derive(Clone)]
pub struct JobEnv {
    pub store: Arc<dyn JobStore>,
    pub clock: Arc<dyn Clock>,
    pub cfg: Arc<RuntimeConfig>,
    pub pool: Addr<ItemPool>,
    pub events: broadcast::Sender<Job>,
    pub supervisor: Recipient<JobExited>,
    pub stats: Arc<super::RuntimeStats>,
}

/// An item handed to a pool.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    attempt: i64,
    /// The attempt passed its kind's soft item limit.
    slow: bool,
}

/// Drives one job's items under one lease.
///
/// It claims due items in batches, keeps at most `item_concurrency` claimed and unpersisted
/// (in flight, or done with the outcome not yet written), and persists outcomes in batches
/// (bounded by count and time) *before* it counts them. At most one store
/// call is in flight at a time, so its own writes never race. Between items it checks for a
/// cancel. It ends the job in exactly one terminal state, or exits and lets the Supervisor
/// restart it, resuming from the item rows.
pub struct JobActor {
    env: JobEnv,
    lease: Lease,
    work: Arc<dyn ItemHandler>,
    /// Where it is in its life: every cause of its end (cancel, fatal error, drain) lives here.
    phase: Phase,
    /// The job as entered; `progress` is kept apart and written with each batch.
    job: Option<Job>,
    params: Arc<Value>,
    progress: Progress,
    /// Items handed to a pool and not yet back, by item number.
    in_flight: HashMap<i64, InFlight>,
    /// Outcomes not yet persisted, and when the oldest arrived.
    outcomes: Vec<ItemOutcome>,
    oldest_outcome: Option<Instant>,
    /// A store call is in flight.
    busy: bool,
    /// The last claim found no due item.
    exhausted: bool,
    /// Waiting for a backoff deadline with nothing in flight.
    sleeping: bool,
    /// The grace timer after a cancel or fatal error runs.
    grace_armed: bool,
    /// Auto retry rounds done.
    round: u32,
    stop: StopSwitch,
    signal: StopSignal,
    reply_to: Option<Recipient<ItemDone>>,
    slow_to: Option<Recipient<ItemSlow>>,
    /// Fired on exit, for whoever asked the actor to drain.
    on_exit: Vec<tokio::sync::oneshot::Sender<()>>,
    flush_timer: Option<SpawnHandle>,
}

impl JobActor {
    pub fn new(env: JobEnv, lease: Lease, work: Arc<dyn ItemHandler>) -> Self {
        let (stop, signal) = StopSwitch::new();
        Self {
            env,
            lease,
            work,
            phase: Phase::Entering,
            job: None,
            params: Arc::new(Value::Null),
            progress: Progress::default(),
            in_flight: HashMap::new(),
            outcomes: Vec::new(),
            oldest_outcome: None,
            busy: false,
            exhausted: false,
            sleeping: false,
            grace_armed: false,
            round: 0,
            stop,
            signal,
            reply_to: None,
            slow_to: None,
            on_exit: Vec::new(),
            flush_timer: None,
        }
    }

    fn now(&self) -> i64 {
        self.env.clock.now_ms()
    }

    fn winding_down(&self) -> bool {
        self.phase.winding_down()
    }

    fn exited(&self) -> bool {
        self.phase == Phase::Exited
    }

    /// Moves to the phase `event` leads to; false when it changes nothing.
    fn step(&mut self, event: PhaseEvent) -> bool {
        match self.phase.apply(event) {
            Some(next) => {
                self.phase = next;
                true
            }
            None => false,
        }
    }

    fn cfg(&self) -> &RuntimeConfig {
        &self.env.cfg
    }

    /// Decides the next step. Called after every event; does nothing while a store call runs.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.exited() {
            return;
        }
        if matches!(self.phase, Phase::Draining(_)) {
            return self.last_write(ctx);
        }
        if self.job.is_none() {
            return;
        }
        if self.flush_due() {
            return self.flush(ctx);
        }
        if !self.winding_down() && !self.exhausted {
            let claim = self.claim_size();
            if claim > 0 {
                return self.claim(ctx, claim);
            }
        }
        if self.in_flight.is_empty() && self.outcomes.is_empty() {
            if self.winding_down() {
                self.finish(ctx);
            } else if self.exhausted && !self.sleeping {
                self.end_or_wait(ctx);
            }
        } else if !self.outcomes.is_empty() && self.flush_timer.is_none() {
            let wait = self.cfg().commit_interval;
            self.flush_timer = Some(ctx.run_later(wait, |act, ctx| {
                act.flush_timer = None;
                act.pump(ctx);
            }));
        }
    }

    /// The most items claimed and not yet persisted: in flight, or back with an outcome
    /// not yet written. After a crash, at most this many items run again.
    fn window(&self) -> usize {
        self.cfg().item_concurrency.max(1) as usize
    }

    /// How many items to claim now: claims go in batches, one per quarter of the window at
    /// least, not one per item.
    fn claim_size(&self) -> u32 {
        let (free, window) = (self.free_slots(), self.window());
        if free > 0 && (free == window || free >= (window / 4).max(1)) {
            free as u32
        } else {
            0
        }
    }

    fn free_slots(&self) -> usize {
        self.window()
            .saturating_sub(self.in_flight.len() + self.outcomes.len())
    }

    fn flush_due(&self) -> bool {
        let Some(oldest) = self.oldest_outcome else {
            return false;
        };
        self.outcomes.len() >= self.cfg().commit_batch
            || oldest.elapsed() >= self.cfg().commit_interval
            || self.in_flight.is_empty()
            || self.winding_down()
    }

    fn claim(&mut self, ctx: &mut Context<Self>, limit: u32) {
        self.busy = true;
        let (store, lease, now) = (self.env.store.clone(), self.lease.clone(), self.now());
        within(self.cfg().store_timeout, async move {
            store.claim_items(&lease, limit, now).await
        })
        .into_actor(self)
        .map(move |res, act, ctx| {
            act.busy = false;
            match res {
                Ok(items) => {
                    act.exhausted = (items.len() as u32) < limit;
                    for item in items {
                        act.dispatch(item, ctx);
                    }
                    act.pump(ctx);
                }
                Err(e) => act.store_failed(e, ctx),
            }
        })
        .spawn(ctx);
    }

    fn dispatch(&mut self, claimed: ClaimedItem, _: &mut Context<Self>) {
        let (Some(job), Some(reply_to), Some(slow_to)) = (&self.job, &self.reply_to, &self.slow_to)
        else {
            return;
        };
        self.progress.current_item = Some(claimed.item_no);
        let (item_no, attempt) = (claimed.item_no, claimed.attempts);
        self.in_flight.insert(
            item_no,
            InFlight {
                attempt,
                slow: false,
            },
        );
        let kind_limits = self.cfg().limits_of(job.kind);
        let limits = CallLimits {
            soft: kind_limits.item_soft,
            hard: kind_limits.item_hard,
        };
        let run = RunItem::new(
            ItemContext {
                job_id: job.id,
                book_id: job.book_id,
                kind: job.kind,
                item_no,
                attempt,
                params: self.params.clone(),
                stop: self.signal.clone(),
            },
            self.signal.clone(),
            limits,
            reply_to.clone(),
            slow_to.clone(),
        );
        self.env.pool.do_send(Dispatch {
            run,
            handler: self.work.clone(),
        });
    }

    /// Returns every item in flight as released (to run again later), for a cancel's end of
    /// grace or a drain.
    fn release_in_flight(&mut self) {
        let dropped: Vec<(i64, InFlight)> = self.in_flight.drain().collect();
        for (item_no, flight) in dropped {
            let mut outcome = ItemOutcome::released(item_no);
            outcome.slow = flight.slow;
            self.push_outcome(outcome);
        }
    }

    /// Writes the buffered outcomes with the progress, and claims the next items in the
    /// same transaction when the window has room.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.flush_timer.take() {
            ctx.cancel_future(timer);
        }
        self.busy = true;
        self.oldest_outcome = None;
        let batch = std::mem::take(&mut self.outcomes);
        let mut next = self.progress.clone();
        let requeued = next.count(&batch, self.round);
        let claim = if self.winding_down() || (self.exhausted && !requeued) {
            0
        } else {
            self.claim_size()
        };
        let (store, lease, now) = (self.env.store.clone(), self.lease.clone(), self.now());
        let lease_expires_at = now.saturating_add(self.cfg().lease_ttl_ms());
        let written = next.clone();
        within(self.cfg().store_timeout, async move {
            let commit = Commit {
                outcomes: &batch,
                progress: &written,
                claim,
                lease_expires_at,
                now,
            };
            store.commit(&lease, commit).await
        })
        .into_actor(self)
        .map(move |res, act, ctx| {
            act.busy = false;
            match res {
                Ok(Committed { status, claimed }) => {
                    act.progress = next;
                    act.carry_on(status, claim, claimed, requeued, ctx);
                }
                Err(e) => act.store_failed(e, ctx),
            }
        })
        .spawn(ctx);
    }

    /// After a write that may have claimed items: start them, report, and go on. `requeued`
    /// says the write put items back to pending, so claims must look again.
    fn carry_on(
        &mut self,
        status: JobStatus,
        claim: u32,
        claimed: Vec<ClaimedItem>,
        requeued: bool,
        ctx: &mut Context<Self>,
    ) {
        if claim > 0 && status == JobStatus::Running {
            self.exhausted = (claimed.len() as u32) < claim;
        }
        if requeued {
            self.exhausted = false;
        }
        for item in claimed {
            self.dispatch(item, ctx);
        }
        self.publish(status);
        if status == JobStatus::Cancelling {
            self.begin_cancel(ctx);
        }
        self.pump(ctx);
    }

    /// Nothing in flight, nothing to write, nothing due: wait for a backoff, start another
    /// retry round, or end the job.
    fn end_or_wait(&mut self, ctx: &mut Context<Self>) {
        self.busy = true;
        let store = self.env.store.clone();
        let lease = self.lease.clone();
        let another_round = self.round < self.cfg().retry.auto_retry_rounds;
        let now = self.now();
        within(self.cfg().store_timeout, async move {
            if let Some(due) = store.next_due(lease.job_id).await? {
                return Ok((Some(due), 0));
            }
            let requeued = if another_round {
                store.requeue_retryable(&lease, now).await?
            } else {
                0
            };
            Ok::<_, StoreError>((None, requeued))
        })
        .into_actor(self)
        .map(|res, act, ctx| {
            act.busy = false;
            match res {
                Ok((Some(_), _)) if act.winding_down() => act.pump(ctx),
                Ok((Some(due), _)) => {
                    // Wake at the deadline, or at the heartbeat to notice a remote cancel.
                    let until_due = Duration::from_millis((due - act.now()).max(0) as u64);
                    let capped = until_due > act.cfg().heartbeat_interval;
                    let wait = until_due.min(act.cfg().heartbeat_interval);
                    act.sleeping = true;
                    ctx.run_later(wait, move |act, ctx| {
                        act.sleeping = false;
                        act.exhausted = false;
                        if capped {
                            act.flush_empty(ctx);
                        } else {
                            act.pump(ctx);
                        }
                    });
                }
                Ok((None, requeued)) if requeued > 0 => {
                    // The items stay counted as failed until they end again.
                    act.round += 1;
                    act.exhausted = false;
                    act.pump(ctx);
                }
                Ok((None, _)) => act.finish(ctx),
                Err(e) => act.store_failed(e, ctx),
            }
        })
        .spawn(ctx);
    }

    /// An empty commit: renews the lease and reads the status while items wait on backoff.
    fn flush_empty(&mut self, ctx: &mut Context<Self>) {
        if !self.busy && !self.exited() {
            self.flush(ctx);
        }
    }

    fn finish(&mut self, ctx: &mut Context<Self>) {
        let (event, error) = match self.phase.stop() {
            Some(Stop::Fail(error)) => (JobEvent::Fail, Some(error.clone())),
            Some(Stop::Cancel { ended_before })
                if self.progress.remaining() > 0 || !ended_before =>
            {
                (JobEvent::Stopped, None)
            }
            _ if self.progress.completed == 0 && self.progress.failed > 0 => {
                let error = JobError {
                    code: "ALL_ITEMS_FAILED".to_owned(),
                    message: format!(
                        "all {} items failed; see each item's error, then resume the job",
                        self.progress.failed
                    ),
                };
                (JobEvent::Fail, Some(error))
            }
            _ => (JobEvent::Finish, None),
        };
        self.step(PhaseEvent::Finish);
        self.busy = true;
        let (store, lease, now) = (self.env.store.clone(), self.lease.clone(), self.now());
        let progress = self.progress.clone();
        within(self.cfg().store_timeout, async move {
            store
                .finish_job(&lease, event, error.as_ref(), &progress, now)
                .await
        })
        .into_actor(self)
        .map(|res, act, ctx| {
            act.busy = false;
            match res {
                Ok(job) => {
                    let status = job.status;
                    let _ = act.env.events.send(job);
                    act.exit(JobExit::Finished(status), ctx);
                }
                Err(e) => act.store_failed(e, ctx),
            }
        })
        .spawn(ctx);
    }

    /// An attempt came back (or was abandoned past its hard limit): its outcome is buffered.
    fn on_done(&mut self, done: ItemDone, ctx: &mut Context<Self>) {
        // Dropped after the grace, or from an older incarnation: not ours to write.
        let Some(flight) = self
            .in_flight
            .get(&done.item_no)
            .copied()
            .filter(|f| f.attempt == done.attempt)
        else {
            return;
        };
        self.in_flight.remove(&done.item_no);
        let ended = !matches!(
            done.outcome,
            Attempt::Dropped | Attempt::Finished(Err(ItemError::Stopped))
        );
        let (mut outcome, fatal) = decide(
            done.item_no,
            done.attempt,
            done.outcome,
            &self.env.cfg.retry,
            self.round,
            self.now(),
        );
        outcome.slow = flight.slow;
        if let (true, Some(job)) = (ended, &self.job) {
            self.env
                .stats
                .items
                .record(job.kind, outcome.status, outcome.error_class, done.took);
        }
        self.push_outcome(outcome);
        // The first fatal error fails the job once in-flight items settle.
        if let Some(error) = fatal
            && self.step(PhaseEvent::Stop(Stop::Fail(error)))
        {
            self.wind_down(ctx);
        }
        self.pump(ctx);
    }

    fn push_outcome(&mut self, outcome: ItemOutcome) {
        self.oldest_outcome.get_or_insert_with(Instant::now);
        self.outcomes.push(outcome);
    }

    fn publish(&mut self, status: JobStatus) {
        if let Some(job) = &mut self.job {
            job.status = status;
            job.progress = self.progress.clone();
            let _ = self.env.events.send(job.clone());
        }
    }

    fn store_failed(&mut self, error: StoreError, ctx: &mut Context<Self>) {
        match error {
            StoreError::Fenced { .. } | StoreError::WrongStatus { .. } => {
                tracing::warn!(job_id = %self.lease.job_id, %error, "lease lost; stopping without writes");
                self.exit(JobExit::Fenced, ctx)
            }
            error => {
                tracing::error!(job_id = %self.lease.job_id, %error, "job store failed");
                self.exit(JobExit::StoreFailed(error.to_string()), ctx)
            }
        }
    }

    fn exit(&mut self, exit: JobExit, ctx: &mut Context<Self>) {
        if !self.step(PhaseEvent::Exit) {
            return;
        }
        for waiter in self.on_exit.drain(..) {
            let _ = waiter.send(());
        }
        self.stop.raise(StopLevel::Abort);
        self.env.supervisor.do_send(JobExited {
            lease: self.lease.clone(),
            exit,
        });
        ctx.stop();
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.reply_to = Some(ctx.address().recipient());
        self.slow_to = Some(ctx.address().recipient());
        self.busy = true;
        let (store, lease, now) = (self.env.store.clone(), self.lease.clone(), self.now());
        // The first window is claimed as the job is entered: one transaction, not two.
        let claim = self.window() as u32;
        let crash_limit = self.cfg().retry.max_attempts;
        within(self.cfg().store_timeout, async move {
            store.enter_job(&lease, claim, crash_limit, now).await
        })
            .into_actor(self)
            .map(move |res, act, ctx| {
                act.busy = false;
                match res {
                    Ok(Entered { job, .. }) if job.held => {
                        tracing::warn!(job_id = %job.id, "held job taken over: its upload was interrupted");
                        act.step(PhaseEvent::Stop(Stop::Fail(JobError {
                            code: "UPLOAD_INTERRUPTED".to_owned(),
                            message: "the server receiving this job's upload stopped before the upload ended; upload the files again".to_owned(),
                        })));
                        act.job = Some(job);
                        act.finish(ctx);
                    }
                    Ok(Entered { job, claimed }) => {
                        tracing::info!(job_id = %job.id, book_id = %job.book_id, kind = %job.kind,
                            generation = act.lease.generation, "job entered");
                        act.params = Arc::new(job.params.clone());
                        act.round = job.retry_round;
                        act.progress = job.progress.clone();
                        let status = job.status;
                        act.job = Some(job);
                        act.step(PhaseEvent::Entered);
                        ctx.run_interval(act.cfg().cancel_poll, Self::poll_cancel);
                        act.arm_job_limit(ctx);
                        act.carry_on(status, claim, claimed, false, ctx);
                    }
                    Err(StoreError::WrongStatus { status, .. }) if status.is_terminal() => {
                        act.exit(JobExit::Finished(status), ctx)
                    }
                    Err(e) => act.store_failed(e, ctx),
                }
            })
            .spawn(ctx);
    }
}

/// The one boundary where a death without an exit (a panic in this actor's own code)
/// becomes a typed exit the Supervisor can act on.
impl Drop for JobActor {
    fn drop(&mut self) {
        // Items still queued in a pool must not start for an actor that is gone.
        self.stop.raise(StopLevel::Abort);
        if !self.exited() {
            self.env.supervisor.do_send(JobExited {
                lease: self.lease.clone(),
                exit: JobExit::Panicked,
            });
        }
    }
}

impl Handler<ItemDone> for JobActor {
    type Result = ();

    fn handle(&mut self, done: ItemDone, ctx: &mut Context<Self>) {
        self.on_done(done, ctx);
    }
}

impl Handler<ItemSlow> for JobActor {
    type Result = ();

    fn handle(&mut self, slow: ItemSlow, _: &mut Context<Self>) {
        self.on_slow(slow.item_no, slow.attempt, slow.limit);
    }
}

impl Handler<CancelRequested> for JobActor {
    type Result = ();

    fn handle(&mut self, _: CancelRequested, ctx: &mut Context<Self>) {
        self.begin_cancel(ctx);
        self.pump(ctx);
    }
}

impl Handler<Abandon> for JobActor {
    type Result = ();

    fn handle(&mut self, _: Abandon, ctx: &mut Context<Self>) {
        self.exit(JobExit::Fenced, ctx);
    }
}
