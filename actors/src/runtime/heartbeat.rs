use std::sync::Arc;

use actix::prelude::*;

use super::supervisor::{Adopt, CancelsRecorded, LeasesLost, LiveLeases, Supervisor, fail_job};
use super::{Recovery, RuntimeConfig, RuntimeStats, within};
use crate::error::StoreError;
use crate::model::{JobError, Lease};
use crate::ports::{Clock, JobStore};

/// Keeps this node's leases alive and takes over the jobs of nodes that stopped renewing.
///
/// Each beat: renew the leases of the jobs the Supervisor runs (dropping the ones lost and
/// relaying cancels recorded elsewhere), then take over active jobs whose lease expired. The
/// next beat is armed when a beat's work ends, so a slow store never causes a burst of beats.
pub struct Heartbeat {
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
    cfg: Arc<RuntimeConfig>,
    supervisor: Addr<Supervisor>,
    stats: Arc<RuntimeStats>,
}

impl Heartbeat {
    pub(crate) fn new(
        store: Arc<dyn JobStore>,
        clock: Arc<dyn Clock>,
        cfg: Arc<RuntimeConfig>,
        supervisor: Addr<Supervisor>,
        stats: Arc<RuntimeStats>,
    ) -> Self {
        Self {
            store,
            clock,
            cfg,
            supervisor,
            stats,
        }
    }

    fn beat(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let clock = self.clock.clone();
        let cfg = self.cfg.clone();
        let supervisor = self.supervisor.clone();
        let draining = self.stats.clone();
        // A beat makes a few store calls; a hung one must not stop the beats for good.
        let limit = self.cfg.store_timeout * 3;
        within(limit, async move {
            let live = supervisor.send(LiveLeases).await.unwrap_or_default();
            let now = clock.now_ms();
            let expires = now.saturating_add(cfg.lease_ttl_ms());
            if !live.is_empty() {
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
            }
            if draining.draining.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            let taken = store
                .take_over(&cfg.node_id, None, now, expires, cfg.takeover_batch)
                .await?;
            if !taken.is_empty() {
                tracing::info!(jobs = taken.len(), "took over jobs whose lease expired");
                supervisor.do_send(Adopt(taken));
            }
            Ok::<_, StoreError>(())
        })
        .into_actor(self)
        .map(|res, act, ctx| {
            if let Err(error) = res {
                tracing::error!(%error, "heartbeat failed; retrying at the next beat");
            }
            ctx.run_later(act.cfg.heartbeat_interval, Self::beat);
        })
        .wait(ctx);
    }
}

/// At boot, before this node accepts any job: takes back every active job still leased to
/// this node's name (the process that held them is gone) and resumes or fails them.
pub(crate) async fn recover_own_jobs(
    store: &dyn JobStore,
    clock: &dyn Clock,
    cfg: &RuntimeConfig,
) -> Result<Vec<Lease>, StoreError> {
    let now = clock.now_ms();
    let expires = now.saturating_add(cfg.lease_ttl_ms());
    let own = store
        .take_over(&cfg.node_id, Some(&cfg.node_id), now, expires, u32::MAX)
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
