use std::sync::Arc;

use actix::prelude::*;

use super::stop::NodeDraining;
use super::supervisor::{Adopt, CancelsRecorded, LeasesLost, LiveLeases, Supervisor, fail_job};
use super::{Recovery, RuntimeConfig, within};
use crate::error::StoreError;
use crate::model::{JobError, JobKind, Lease};
use crate::ports::{Clock, JobStore, Takeover};

/// Keeps this node's leases alive and takes over the jobs of nodes that stopped renewing.
///
/// Each beat renews the leases of the jobs the Supervisor runs (dropping the ones lost and
/// relaying cancels recorded elsewhere), bounded by `store_timeout`; the next beat is armed
/// when the renewal ends, so a slow store never causes a burst of beats. Takeovers of expired
/// leases run beside the renewals, one at a time: a slow takeover never delays a renewal.
/// Settings are checked so that a renewal that starts a beat late and takes the whole store
/// timeout still lands before the lease expires (`lease_ttl > heartbeat_interval +
/// store_timeout`).
pub struct Heartbeat {
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
    cfg: Arc<RuntimeConfig>,
    supervisor: Addr<Supervisor>,
    /// Raised when the node drains: it takes over nothing from then on.
    draining: Arc<NodeDraining>,
    /// The kinds this node runs: the only jobs it takes over.
    kinds: Arc<[JobKind]>,
    /// A takeover is in flight.
    taking_over: bool,
}

impl Heartbeat {
    pub(crate) fn new(
        store: Arc<dyn JobStore>,
        clock: Arc<dyn Clock>,
        cfg: Arc<RuntimeConfig>,
        supervisor: Addr<Supervisor>,
        draining: Arc<NodeDraining>,
        kinds: Arc<[JobKind]>,
    ) -> Self {
        Self {
            store,
            clock,
            cfg,
            supervisor,
            draining,
            kinds,
            taking_over: false,
        }
    }

    fn beat(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let clock = self.clock.clone();
        let cfg = self.cfg.clone();
        let supervisor = self.supervisor.clone();
        within(self.cfg.store_timeout, async move {
            let live = supervisor.send(LiveLeases).await.unwrap_or_default();
            if live.is_empty() {
                return Ok(());
            }
            let now = clock.now_ms();
            let expires = now.saturating_add(cfg.lease_ttl_ms());
            let renewal = store
                .renew_leases(&cfg.node_id, &live, expires, now)
                .await?;
            if !renewal.lost.is_empty() {
                let lost = live
                    .iter()
                    .filter(|(id, _)| renewal.lost.contains(id))
                    .copied()
                    .collect();
                supervisor.do_send(LeasesLost(lost));
            }
            if !renewal.cancelling.is_empty() {
                supervisor.do_send(CancelsRecorded(renewal.cancelling));
            }
            Ok::<_, StoreError>(())
        })
        .into_actor(self)
        .map(|res, act, ctx| {
            if let Err(error) = res {
                tracing::error!(%error, "lease renewal failed; retrying at the next beat");
            }
            act.take_over(ctx);
            ctx.run_later(act.cfg.heartbeat_interval, Self::beat);
        })
        .wait(ctx);
    }

    /// Takes over jobs whose lease expired, unless the node drains or a takeover runs.
    fn take_over(&mut self, ctx: &mut Context<Self>) {
        if self.taking_over || self.draining.is_raised() {
            return;
        }
        self.taking_over = true;
        let (store, supervisor) = (self.store.clone(), self.supervisor.clone());
        let (cfg, kinds) = (self.cfg.clone(), self.kinds.clone());
        let now = self.clock.now_ms();
        within(self.cfg.store_timeout, async move {
            let taken = store
                .take_over(Takeover {
                    owner: &cfg.node_id,
                    owned_by: None,
                    kinds: &kinds,
                    now,
                    expires_at: now.saturating_add(cfg.lease_ttl_ms()),
                    limit: cfg.takeover_batch,
                })
                .await?;
            if !taken.is_empty() {
                tracing::info!(jobs = taken.len(), "took over jobs whose lease expired");
                supervisor.do_send(Adopt(taken));
            }
            Ok::<_, StoreError>(())
        })
        .into_actor(self)
        .map(|res, act, _| {
            act.taking_over = false;
            if let Err(error) = res {
                tracing::error!(%error, "takeover failed; retrying at the next beat");
            }
        })
        .spawn(ctx);
    }
}

/// At boot, before this node accepts any job: takes back every active job still leased to
/// this node's name (the process that held them is gone) and resumes or fails them.
pub(crate) async fn recover_own_jobs(
    store: &dyn JobStore,
    clock: &dyn Clock,
    cfg: &RuntimeConfig,
    kinds: &[JobKind],
) -> Result<Vec<Lease>, StoreError> {
    let now = clock.now_ms();
    let own = store
        .take_over(Takeover {
            owner: &cfg.node_id,
            owned_by: Some(&cfg.node_id),
            kinds,
            now,
            expires_at: now.saturating_add(cfg.lease_ttl_ms()),
            limit: u32::MAX,
        })
        .await?;
    if own.is_empty() {
        return Ok(own);
    }
    tracing::info!(jobs = own.len(), recovery = ?cfg.recovery, "found jobs interrupted by a restart");
    match cfg.recovery {
        Recovery::Resume => Ok(own),
        Recovery::Fail => {
            for lease in own {
                fail_interrupted(store, &lease, clock.now_ms()).await?;
            }
            Ok(Vec::new())
        }
    }
}

async fn fail_interrupted(store: &dyn JobStore, lease: &Lease, now: i64) -> Result<(), StoreError> {
    let error = JobError {
        code: "INTERRUPTED".to_owned(),
        message: "the node restarted while this job ran; resume it to go on from where it stopped"
            .to_owned(),
    };
    fail_job(store, lease, error, now).await.map(|_| ())
}

impl Actor for Heartbeat {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.beat(ctx);
    }
}
