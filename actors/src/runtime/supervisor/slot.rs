//! Where a job this node leases stands between its JobActors. See [`SlotPhase::apply`].

use actix::Addr;

use crate::runtime::job_actor::JobActor;

/// A leased job's slot in the Supervisor: it keeps the lease renewed in every phase, so
/// no other node takes the job over while it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SlotPhase<A = Addr<JobActor>> {
    /// The JobLock is taken and the items have not arrived: no JobActor yet.
    Held,
    /// A JobActor drives the job.
    Live(A),
    /// Its JobActor crashed; a new one starts after a backoff.
    AwaitingRestart,
}

/// What can happen to a slot. A slot's end (finished, fenced, let go) removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SlotEvent<A = Addr<JobActor>> {
    /// A JobActor starts: the held job's items arrived, or the backoff ended.
    Start(A),
    /// The JobActor crashed, or reading the job for its restart failed.
    Crash,
}

impl<A> SlotPhase<A> {
    /// The slot state machine; `None` for an event that cannot happen in this phase.
    pub(super) fn apply(&self, event: SlotEvent<A>) -> Option<SlotPhase<A>> {
        use SlotEvent as E;
        use SlotPhase as P;
        Some(match (self, event) {
            (P::Held | P::AwaitingRestart, E::Start(addr)) => P::Live(addr),
            (P::Live(_) | P::AwaitingRestart, E::Crash) => P::AwaitingRestart,
            _ => return None,
        })
    }

    /// The JobActor driving the job, if one does.
    pub(super) fn actor(&self) -> Option<&A> {
        match self {
            Self::Live(addr) => Some(addr),
            Self::Held | Self::AwaitingRestart => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type P = SlotPhase<u8>;
    type E = SlotEvent<u8>;

    const PHASES: [P; 3] = [P::Held, P::Live(1), P::AwaitingRestart];
    const EVENTS: [E; 2] = [E::Start(2), E::Crash];

    #[test]
    fn slot_transition_table_is_exactly_this() {
        let legal = [
            (P::Held, E::Start(2), P::Live(2)),
            (P::AwaitingRestart, E::Start(2), P::Live(2)),
            (P::Live(1), E::Crash, P::AwaitingRestart),
            (P::AwaitingRestart, E::Crash, P::AwaitingRestart),
        ];
        for from in PHASES {
            for event in EVENTS {
                let expected = legal
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| to.clone());
                assert_eq!(from.apply(event.clone()), expected, "{from:?} + {event:?}");
            }
        }
    }

    #[test]
    fn only_a_live_slot_has_an_actor() {
        for phase in PHASES {
            assert_eq!(
                phase.actor().is_some(),
                matches!(phase, P::Live(_)),
                "{phase:?}"
            );
        }
    }
}
