//! A JobActor's life, from entering its job to its exit. See [`Phase::apply`].

use crate::model::JobError;

/// Where a JobActor is. Store calls in flight, claims and timers are tracked apart: they
/// come and go within a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// `enter_job` is in flight: the job and its first window are being read.
    Entering,
    /// Claiming, running and persisting items.
    Running,
    /// No new item starts; the job ends as `Stop` says once in-flight items settle.
    Stopping(Stop),
    /// The node shuts down: the next step is the last write. A stop seen before is kept
    /// for an end already under way (`next_due` answering "nothing left").
    Draining(Option<Stop>),
    /// `finish_job` is in flight: the job's end is decided, later causes change nothing.
    Finishing,
    /// The Supervisor was told why; the actor stops.
    Exited,
}

/// Why a job winds down before its items are all done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stop {
    /// A cancel was seen. `ended_before`: every item had ended by then, so the job is
    /// completed, not cancelled.
    Cancel { ended_before: bool },
    /// A fatal item error or the job's time limit: the job fails with this error.
    Fail(JobError),
}

/// What can happen to a JobActor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PhaseEvent {
    /// `enter_job` answered with a job to run.
    Entered,
    /// A cancel or a fatal error.
    Stop(Stop),
    /// The node drains.
    Drain,
    /// The job's end is written.
    Finish,
    /// The actor exits, for any reason.
    Exit,
}

impl Stop {
    /// A fatal error overrides a cancel (the job fails); nothing overrides a failure.
    fn then(&self, next: Stop) -> Option<Stop> {
        match (self, next) {
            (Stop::Cancel { .. }, next @ Stop::Fail(_)) => Some(next),
            _ => None,
        }
    }
}

impl Phase {
    /// The JobActor state machine; `None` when the event changes nothing (and has no side
    /// effect: a second cancel arms no second grace timer).
    pub(super) fn apply(&self, event: PhaseEvent) -> Option<Phase> {
        use Phase as P;
        use PhaseEvent as E;
        Some(match (self, event) {
            (P::Entering, E::Entered) => P::Running,
            (P::Entering | P::Running, E::Stop(stop)) => P::Stopping(stop),
            (P::Stopping(now), E::Stop(next)) => P::Stopping(now.then(next)?),
            (P::Draining(None), E::Stop(stop)) => P::Draining(Some(stop)),
            (P::Draining(Some(now)), E::Stop(next)) => P::Draining(Some(now.then(next)?)),
            (P::Entering | P::Running, E::Drain) => P::Draining(None),
            (P::Stopping(stop), E::Drain) => P::Draining(Some(stop.clone())),
            (P::Entering | P::Running | P::Stopping(_) | P::Draining(_), E::Finish) => P::Finishing,
            (P::Exited, E::Exit) => return None,
            (_, E::Exit) => P::Exited,
            _ => return None,
        })
    }

    /// No new item starts: a cancel, a fatal error or the drain.
    pub(super) fn winding_down(&self) -> bool {
        matches!(self, Phase::Stopping(_) | Phase::Draining(_))
    }

    /// Why the job winds down, if it does.
    pub(super) fn stop(&self) -> Option<&Stop> {
        match self {
            Phase::Stopping(stop) | Phase::Draining(Some(stop)) => Some(stop),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str) -> JobError {
        JobError {
            code: code.to_owned(),
            message: String::new(),
        }
    }

    fn cancel(ended_before: bool) -> Stop {
        Stop::Cancel { ended_before }
    }

    fn fail(code: &str) -> Stop {
        Stop::Fail(error(code))
    }

    /// Every phase, with each kind of stop it can carry.
    fn phases() -> Vec<Phase> {
        use Phase as P;
        vec![
            P::Entering,
            P::Running,
            P::Stopping(cancel(true)),
            P::Stopping(cancel(false)),
            P::Stopping(fail("OLD")),
            P::Draining(None),
            P::Draining(Some(cancel(false))),
            P::Draining(Some(fail("OLD"))),
            P::Finishing,
            P::Exited,
        ]
    }

    fn events() -> Vec<PhaseEvent> {
        use PhaseEvent as E;
        vec![
            E::Entered,
            E::Stop(cancel(true)),
            E::Stop(cancel(false)),
            E::Stop(fail("NEW")),
            E::Drain,
            E::Finish,
            E::Exit,
        ]
    }

    #[test]
    fn phase_transition_table_is_exactly_this() {
        use Phase as P;
        use PhaseEvent as E;
        let mut legal = vec![
            (P::Entering, E::Entered, P::Running),
            (P::Entering, E::Drain, P::Draining(None)),
            (P::Running, E::Drain, P::Draining(None)),
            (
                P::Stopping(cancel(true)),
                E::Drain,
                P::Draining(Some(cancel(true))),
            ),
            (
                P::Stopping(cancel(false)),
                E::Drain,
                P::Draining(Some(cancel(false))),
            ),
            (
                P::Stopping(fail("OLD")),
                E::Drain,
                P::Draining(Some(fail("OLD"))),
            ),
            // A fatal error turns a cancel into a failure, draining or not.
            (
                P::Stopping(cancel(true)),
                E::Stop(fail("NEW")),
                P::Stopping(fail("NEW")),
            ),
            (
                P::Stopping(cancel(false)),
                E::Stop(fail("NEW")),
                P::Stopping(fail("NEW")),
            ),
            (
                P::Draining(Some(cancel(false))),
                E::Stop(fail("NEW")),
                P::Draining(Some(fail("NEW"))),
            ),
        ];
        for stop in [cancel(true), cancel(false), fail("NEW")] {
            legal.push((
                P::Entering,
                E::Stop(stop.clone()),
                P::Stopping(stop.clone()),
            ));
            legal.push((P::Running, E::Stop(stop.clone()), P::Stopping(stop.clone())));
            legal.push((
                P::Draining(None),
                E::Stop(stop.clone()),
                P::Draining(Some(stop)),
            ));
        }
        for from in phases() {
            if !matches!(from, P::Finishing | P::Exited) {
                legal.push((from.clone(), E::Finish, P::Finishing));
            }
            if from != P::Exited {
                legal.push((from, E::Exit, P::Exited));
            }
        }
        for from in phases() {
            for event in events() {
                let expected = legal
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| to.clone());
                assert_eq!(from.apply(event.clone()), expected, "{from:?} + {event:?}");
            }
        }
    }

    #[test]
    fn a_failure_is_never_overridden() {
        for phase in [
            Phase::Stopping(fail("OLD")),
            Phase::Draining(Some(fail("OLD"))),
        ] {
            for stop in [cancel(true), cancel(false), fail("NEW")] {
                assert_eq!(phase.apply(PhaseEvent::Stop(stop)), None, "{phase:?}");
            }
        }
    }

    #[test]
    fn only_stopping_and_draining_wind_down() {
        for phase in phases() {
            let expected = matches!(phase, Phase::Stopping(_) | Phase::Draining(_));
            assert_eq!(phase.winding_down(), expected, "{phase:?}");
            assert_eq!(
                phase.stop().is_some(),
                expected && phase != Phase::Draining(None)
            );
        }
    }
}
