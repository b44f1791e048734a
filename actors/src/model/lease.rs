use super::JobId;

/// The right to drive one job, held by one node at a time.
///
/// `generation` is the fencing token: it grows by one at every claim or takeover, and every
/// write a JobActor makes (item claims, outcomes, progress, the job's end) is conditional on
/// it. A worker whose lease was taken over finds its token stale and its writes refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    pub job_id: JobId,
    pub owner: String,
    pub generation: i64,
}
