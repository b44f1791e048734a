use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::job_actor::{Abandon, CancelRequested, JobActor, JobEnv, JobExit, JobExited};
use super::kinds::KindRegistry;
use super::stats::RuntimeStats;
use super::submit::SubmitError;
use crate::error::StoreError;
use crate::model::{Job, JobError, JobEvent, JobId, JobStatus, Lease, NewJob};

mod slot;

use slot::{SlotEvent, SlotPhase};

/// Owns this node's jobs: takes the JobLock, runs one [`JobActor`] per leased job, and
/// restarts a JobActor that crashed, at most `restart_limit` times per `restart_window`.
/// Past that the job fails (`RESTART_LIMIT`), resumable.
pub struct Supervisor {
    env: Option<JobEnv>,
    store: Arc<dyn crate::ports::JobStore>,
    clock: Arc<dyn crate::ports::Clock>,
    cfg: Arc<super::RuntimeConfig>,
    kinds: Arc<KindRegistry>,
    stats: Arc<RuntimeStats>,
    pool: actix::Addr<super::ItemPool>,
    events: tokio::sync::broadcast::Sender<Job>,
    jobs: HashMap<JobId, Running>,
    /// Set once the node shuts down: no new job, no restart.
    shutting_down: bool,
}

/// A job this node drives.
struct Running {
    lease: Lease,
    /// Held, live or awaiting its restart; the lease is renewed in every phase.
    phase: SlotPhase,
    /// When its JobActor crashed, within the restart window.
    crashes: VecDeque<Instant>,
}

impl Supervisor {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<dyn crate::ports::JobStore>,
        clock: Arc<dyn crate::ports::Clock>,
        cfg: Arc<super::RuntimeConfig>,
        kinds: Arc<KindRegistry>,
        stats: Arc<RuntimeStats>,
        pool: actix::Addr<super::ItemPool>,
        events: tokio::sync::broadcast::Sender<Job>,
    ) -> Self {
        Self {
            env: None,
            store,
            clock,
            cfg,
            kinds,
            stats,
            pool,
            events,
            jobs: HashMap::new(),
            shutting_down: false,
        }
    }

    /// Runs a job under a new lease (submitted, adopted), in place of any older slot.
    fn spawn_job(&mut self, lease: Lease, kind: crate::model::JobKind) {
        let Some((env, work)) = self.runnable(&lease, kind) else {
            return;
        };
        if let Some(old) = self.jobs.remove(&lease.job_id)
            && let SlotPhase::Live(addr) = old.phase
        {
            addr.do_send(Abandon);
        }
        let addr = JobActor::new(env, lease.clone(), work).start();
        let running = Running {
            lease,
            phase: SlotPhase::Live(addr),
            crashes: VecDeque::new(),
        };
        self.jobs.insert(running.lease.job_id, running);
    }

    /// Starts the JobActor of a slot held or awaiting its restart, under the same lease.
    /// Callers check the slot's phase first.
    fn start_slot(&mut self, lease: Lease, kind: crate::model::JobKind) {
        let Some((env, work)) = self.runnable(&lease, kind) else {
            return;
        };
        let addr = JobActor::new(env, lease.clone(), work).start();
        if let Some(running) = self.jobs.get_mut(&lease.job_id)
            && running.lease == lease
            && let Some(live) = running.phase.apply(SlotEvent::Start(addr.clone()))
        {
            running.phase = live;
        } else {
            // No slot to watch it: a JobActor nobody restarts or drains must not run.
            addr.do_send(Abandon);
        }
    }

    /// What a JobActor for this job needs, or `None` after letting the job go: the node is
    /// draining, or it runs no such kind.
    fn runnable(
        &mut self,
        lease: &Lease,
        kind: crate::model::JobKind,
    ) -> Option<(JobEnv, Arc<dyn crate::ports::ItemHandler>)> {
        if self.shutting_down {
            // A restart or an adoption that lands after the drain began: let the lease go.
            self.jobs.remove(&lease.job_id);
            self.let_go(vec![lease.clone()]);
            return None;
        }
        let (Some(env), Some(work)) = (self.env.clone(), self.kinds.get(&kind).cloned()) else {
            // Takeovers take only the kinds this node runs; should one slip through, the
            // job is left to a node that can run it instead of held here for nothing.
            tracing::error!(job_id = %lease.job_id, %kind, "no handler registered for this kind; letting the job go");
            self.jobs.remove(&lease.job_id);
            self.let_go(vec![lease.clone()]);
            return None;
        };
        Some((env, work))
    }

    /// Adopts jobs this node now leases (takeover, boot): reads each job's kind, then runs it.
    fn adopt(&mut self, leases: Vec<Lease>, ctx: &mut Context<Self>) {
        for lease in leases {
            if self.holds_newer(&lease) {
                continue;
            }
            self.stats.takeovers.fetch_add(1, Ordering::Relaxed);
            let store = self.store.clone();
            let job_id = lease.job_id;
            async move { store.job(job_id).await }
                .into_actor(self)
                .map(move |res, act, _| match res {
                    // Another adoption or restart may have won while the job was read.
                    _ if act.holds_newer(&lease) => {}
                    Ok(job) => act.spawn_job(lease, job.kind),
                    Err(error) => tracing::error!(%job_id, %error, "cannot adopt job"),
                })
                .spawn(ctx);
        }
    }

    /// Lets leases expire now, so any node takes their jobs up at its next heartbeat.
    fn let_go(&self, leases: Vec<Lease>) -> tokio::task::JoinHandle<()> {
        let (store, clock, owner) = (
            self.store.clone(),
            self.clock.clone(),
            self.cfg.node_id.clone(),
        );
        actix::spawn(async move {
            let pairs: Vec<(JobId, i64)> =
                leases.iter().map(|l| (l.job_id, l.generation)).collect();
            if pairs.is_empty() {
                return;
            }
            let now = clock.now_ms();
            if let Err(error) = store.renew_leases(&owner, &pairs, now, now).await {
                tracing::warn!(%error, "could not let leases go; they will expire");
            }
        })
    }

    /// Whether this node already drives the job under this lease or a newer one.
    fn holds_newer(&self, lease: &Lease) -> bool {
        self.jobs
            .get(&lease.job_id)
            .is_some_and(|r| r.lease.generation >= lease.generation)
    }

    /// Restarts a crashed JobActor after a backoff, or fails its job past the restart limit.
    /// While it waits, the job stays in `jobs`, so the Heartbeat keeps renewing its lease and
    /// no other node takes it over for nothing.
    fn on_crash(&mut self, lease: Lease, exit: JobExit, ctx: &mut Context<Self>) {
        let Some(running) = self
            .jobs
            .get_mut(&lease.job_id)
            .filter(|r| r.lease == lease)
        else {
            return;
        };
        // A held slot has no JobActor to crash.
        let Some(waiting) = running.phase.apply(SlotEvent::Crash) else {
            return;
        };
        running.phase = waiting;
        let now = Instant::now();
        let window = self.cfg.restart_window;
        running.crashes.retain(|t| now.duration_since(*t) < window);
        running.crashes.push_back(now);
        let crashes = running.crashes.len();
        self.stats.restarts.fetch_add(1, Ordering::Relaxed);
        if crashes as u32 > self.cfg.restart_limit {
            self.jobs.remove(&lease.job_id);
            tracing::error!(job_id = %lease.job_id, ?exit, "restart limit reached; failing the job");
            let error = JobError {
                code: "RESTART_LIMIT".to_owned(),
                message: format!(
                    "the job's worker crashed {crashes} times within {window:?} (last: {exit:?}); resume it once the cause is fixed"
                ),
            };
            let (store, now) = (self.store.clone(), self.clock.now_ms());
            actix::spawn(async move {
                if let Err(e) = fail_job(&*store, &lease, error, now).await {
                    tracing::error!(job_id = %lease.job_id, error = %e, "cannot fail the job; its lease will expire");
                }
            });
            return;
        }
        tracing::warn!(job_id = %lease.job_id, ?exit, "JobActor crashed; restarting");
        let delay = Duration::from_millis(50 * 2u64.pow(crashes.min(6) as u32));
        ctx.run_later(delay, move |act, ctx| act.restart(lease, ctx));
    }

    fn restart(&mut self, lease: Lease, ctx: &mut Context<Self>) {
        if !self.waiting_for_restart(&lease) {
            return; // The lease was lost meanwhile.
        }
        let store = self.store.clone();
        let job_id = lease.job_id;
        async move { store.job(job_id).await }
            .into_actor(self)
            .map(move |res, act, ctx| {
                // The lease may have been lost or taken again while the job was read.
                if !act.waiting_for_restart(&lease) {
                    return;
                }
                match res {
                    Ok(job) if job.status.is_active() => act.start_slot(lease, job.kind),
                    Ok(_) => {
                        act.jobs.remove(&job_id);
                    }
                    Err(error) => act.on_crash(lease, JobExit::StoreFailed(error.to_string()), ctx),
                }
            })
            .spawn(ctx);
    }

    fn waiting_for_restart(&self, lease: &Lease) -> bool {
        self.jobs
            .get(&lease.job_id)
            .is_some_and(|r| r.lease == *lease && matches!(r.phase, SlotPhase::AwaitingRestart))
    }

    /// The lease of a job this node holds for an upload, if it does.
    fn held_lease(&self, id: JobId) -> Option<Lease> {
        self.jobs
            .get(&id)
            .filter(|r| matches!(r.phase, SlotPhase::Held))
            .map(|r| r.lease.clone())
    }
}

/// Ends a job this node leases as failed (a cancelling one as cancelled).
pub(crate) async fn fail_job(
    store: &dyn crate::ports::JobStore,
    lease: &Lease,
    error: JobError,
    now: i64,
) -> Result<Job, StoreError> {
    let job = store.job(lease.job_id).await?;
    let (event, error) = match job.status {
        JobStatus::Cancelling => (JobEvent::Stopped, None),
        _ => (JobEvent::Fail, Some(error)),
    };
    store
        .finish_job(lease, event, error.as_ref(), &job.progress, now)
        .await
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.env = Some(JobEnv {
            store: self.store.clone(),
            clock: self.clock.clone(),
            cfg: self.cfg.clone(),
            pool: self.pool.clone(),
            events: self.events.clone(),
            supervisor: ctx.address().recipient(),
            stats: self.stats.clone(),
        });
    }
}

#[derive(Message)]
#[rtype(result = "Result<Job, SubmitError>")]
pub struct Submit(pub NewJob);

impl Handler<Submit> for Supervisor {
    type Result = ResponseActFuture<Self, Result<Job, SubmitError>>;

    fn handle(&mut self, Submit(new): Submit, _: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return Box::pin(fut::ready(Err(SubmitError::Stopped)));
        }
        if !self.kinds.contains_key(&new.kind) {
            return Box::pin(fut::ready(Err(SubmitError::UnknownKind(new.kind))));
        }
        let (store, now) = (self.store.clone(), self.clock.now_ms());
        let owner = self.cfg.node_id.clone();
        let expires = now.saturating_add(self.cfg.lease_ttl_ms());
        let id = JobId::new();
        Box::pin(
            async move { store.create_job(id, &new, &owner, expires, now).await }
                .into_actor(self)
                .map(|res, act, _| {
                    let job = res.map_err(|e| match e {
                        StoreError::BookBusy { holder } => SubmitError::BookBusy { holder },
                        e => SubmitError::Store(e),
                    })?;
                    let lease = Lease {
                        job_id: job.id,
                        owner: act.cfg.node_id.clone(),
                        generation: job.lease_generation,
                    };
                    let _ = act.events.send(job.clone());
                    if job.held {
                        let running = Running {
                            lease,
                            phase: SlotPhase::Held,
                            crashes: VecDeque::new(),
                        };
                        act.jobs.insert(job.id, running);
                    } else {
                        act.spawn_job(lease, job.kind);
                    }
                    Ok(job)
                }),
        )
    }
}

#[derive(Message)]
#[rtype(result = "Result<Job, StoreError>")]
pub struct Cancel(pub JobId);

impl Handler<Cancel> for Supervisor {
    type Result = ResponseActFuture<Self, Result<Job, StoreError>>;

    fn handle(&mut self, Cancel(id): Cancel, _: &mut Context<Self>) -> Self::Result {
        let (store, now) = (self.store.clone(), self.clock.now_ms());
        Box::pin(
            async move { store.request_cancel(id, now).await }
                .into_actor(self)
                .map(|res, act, _| {
                    if let Ok(job) = &res {
                        let _ = act.events.send(job.clone());
                        // A JobActor waiting for its restart reads the cancel when it enters.
                        if let Some(addr) = act.jobs.get(&job.id).and_then(|r| r.phase.actor()) {
                            addr.do_send(CancelRequested);
                        }
                    }
                    res
                }),
        )
    }
}

impl Handler<JobExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, JobExited { lease, exit }: JobExited, ctx: &mut Context<Self>) {
        let current = self
            .jobs
            .get(&lease.job_id)
            .is_some_and(|r| r.lease == lease);
        if !current {
            return;
        }
        if exit.wants_restart() && !self.shutting_down {
            return self.on_crash(lease, exit, ctx);
        }
        if exit == JobExit::Fenced {
            self.stats.fenced.fetch_add(1, Ordering::Relaxed);
        }
        self.jobs.remove(&lease.job_id);
        if exit.wants_restart() {
            // Crashed during the drain: no restart here, but no waiting for the lease either.
            self.let_go(vec![lease]);
        }
    }
}

/// The node shuts down: every JobActor writes what it has, releases its in-flight items
/// and lets its lease expire, so the jobs go on at once on another node or after a restart.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.shutting_down = true;
        let drains: Vec<_> = self
            .jobs
            .values()
            .filter_map(|r| r.phase.actor().cloned())
            .map(|addr| addr.send(super::job_actor::Drain))
            .collect();
        // Held jobs and jobs waiting for a restart have no actor to drain them.
        let idle: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, r)| r.phase.actor().is_none())
            .map(|(id, _)| *id)
            .collect();
        let leases = idle
            .iter()
            .filter_map(|id| self.jobs.remove(id))
            .map(|r| r.lease)
            .collect();
        let released = self.let_go(leases);
        Box::pin(async move {
            futures_util::future::join_all(drains).await;
            let _ = released.await;
        })
    }
}

/// A held job gets its items and starts.
#[derive(Message)]
#[rtype(result = "Result<Job, SubmitError>")]
pub struct Release {
    pub job_id: JobId,
    pub items: Vec<i64>,
}

impl Handler<Release> for Supervisor {
    type Result = ResponseActFuture<Self, Result<Job, SubmitError>>;

    fn handle(
        &mut self,
        Release { job_id, items }: Release,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let Some(lease) = self.held_lease(job_id) else {
            return Box::pin(fut::ready(Err(SubmitError::NotHeld { job_id })));
        };
        let (store, now) = (self.store.clone(), self.clock.now_ms());
        Box::pin(
            async move {
                store
                    .release_job(&lease, &items, now)
                    .await
                    .map(|job| (job, lease))
            }
            .into_actor(self)
            .map(|res, act, _| {
                let (job, lease) = res?;
                if act.held_lease(job.id).as_ref() == Some(&lease) {
                    act.start_slot(lease, job.kind);
                }
                let _ = act.events.send(job.clone());
                Ok(job)
            }),
        )
    }
}

/// A held job whose items will never come (a broken upload) fails with this error.
#[derive(Message)]
#[rtype(result = "Result<Job, SubmitError>")]
pub struct AbortHeld {
    pub job_id: JobId,
    pub error: JobError,
}

impl Handler<AbortHeld> for Supervisor {
    type Result = ResponseActFuture<Self, Result<Job, SubmitError>>;

    fn handle(
        &mut self,
        AbortHeld { job_id, error }: AbortHeld,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let Some(lease) = self.held_lease(job_id) else {
            return Box::pin(fut::ready(Err(SubmitError::NotHeld { job_id })));
        };
        let (store, now) = (self.store.clone(), self.clock.now_ms());
        Box::pin(
            async move {
                // Released first, so the items it got before it broke count and a resume
                // runs them.
                store.release_job(&lease, &[], now).await?;
                fail_job(&*store, &lease, error, now).await
            }
            .into_actor(self)
            .map(move |res, act, _| {
                act.jobs.remove(&job_id);
                let job = res?;
                let _ = act.events.send(job.clone());
                Ok(job)
            }),
        )
    }
}

/// The Heartbeat asks which leases to renew.
#[derive(Message)]
#[rtype(result = "Vec<(JobId, i64)>")]
pub struct LiveLeases;

impl Handler<LiveLeases> for Supervisor {
    type Result = MessageResult<LiveLeases>;

    fn handle(&mut self, _: LiveLeases, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.jobs
                .values()
                .map(|r| (r.lease.job_id, r.lease.generation))
                .collect(),
        )
    }
}

/// The Heartbeat found these leases (job, generation) gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeasesLost(pub Vec<(JobId, i64)>);

impl Handler<LeasesLost> for Supervisor {
    type Result = ();

    fn handle(&mut self, LeasesLost(lost): LeasesLost, _: &mut Context<Self>) {
        for (id, generation) in lost {
            // A newer lease taken since the renewal is not lost.
            if self
                .jobs
                .get(&id)
                .is_none_or(|r| r.lease.generation != generation)
            {
                continue;
            }
            if let Some(running) = self.jobs.remove(&id) {
                tracing::warn!(job_id = %id, "lease lost; abandoning the job here");
                self.stats.fenced.fetch_add(1, Ordering::Relaxed);
                if let SlotPhase::Live(addr) = running.phase {
                    addr.do_send(Abandon);
                }
            }
        }
    }
}

/// The Heartbeat found cancels recorded for these jobs, possibly by another node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelsRecorded(pub Vec<JobId>);

impl Handler<CancelsRecorded> for Supervisor {
    type Result = ();

    fn handle(&mut self, CancelsRecorded(ids): CancelsRecorded, _: &mut Context<Self>) {
        for id in ids {
            if let Some(addr) = self.jobs.get(&id).and_then(|r| r.phase.actor()) {
                addr.do_send(CancelRequested);
            }
        }
    }
}

/// The Heartbeat leased these jobs to this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Adopt(pub Vec<Lease>);

impl Handler<Adopt> for Supervisor {
    type Result = ();

    fn handle(&mut self, Adopt(leases): Adopt, ctx: &mut Context<Self>) {
        self.adopt(leases, ctx);
    }
}
