use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::JobId;
use crate::error::ErrorClass;
use crate::named_enum;

named_enum!(
    /// Where one item (a page, a chunk) of a job is. See [`ItemStatus::apply`].
    ItemStatus, "item status" {
        /// Waiting to run, possibly not before a backoff deadline.
        Pending = "pending",
        /// Claimed by the job's current lease holder and running.
        Processing = "processing",
        Completed = "completed",
        /// Failed for good in this round: a terminal error, or retries used up.
        Failed = "failed",
    }
);

/// What can happen to an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemEvent {
    /// The lease holder takes it to run it (counts an attempt).
    Claim,
    Succeed,
    /// A retryable error with attempts left: back to pending with a backoff.
    RetryLater,
    /// A terminal error, or a retryable one with no attempts left.
    Fail,
    /// Dropped while running (cancel, lease lost, crash): back to pending, attempt kept.
    Release,
    /// A failed item is given another round (auto retry round or an admin's retry).
    Requeue,
}

impl ItemEvent {
    pub const ALL: &'static [ItemEvent] = &[
        ItemEvent::Claim,
        ItemEvent::Succeed,
        ItemEvent::RetryLater,
        ItemEvent::Fail,
        ItemEvent::Release,
        ItemEvent::Requeue,
    ];
}

impl ItemStatus {
    /// The item state machine. Stores mirror it in their WHERE clauses: a claim only takes
    /// pending rows, a commit only touches processing rows of the committing lease.
    pub fn apply(self, event: ItemEvent) -> Option<ItemStatus> {
        use ItemEvent as E;
        use ItemStatus as S;
        Some(match (self, event) {
            (S::Pending, E::Claim) => S::Processing,
            (S::Processing, E::Succeed) => S::Completed,
            (S::Processing, E::RetryLater) => S::Pending,
            (S::Processing, E::Fail) => S::Failed,
            (S::Processing, E::Release) => S::Pending,
            (S::Failed, E::Requeue) => S::Pending,
            _ => return None,
        })
    }
}

/// An item as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub job_id: JobId,
    pub item_no: i64,
    pub status: ItemStatus,
    /// Every start counts, including ones lost to a crash.
    pub attempts: i64,
    pub not_before: Option<i64>,
    /// The class, code and message of the last error, kept across retries.
    pub error_class: Option<ErrorClass>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub result: Option<Value>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// An attempt of this item ran past its kind's soft item limit.
    pub slow: bool,
}

/// An item the current lease holder has just claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimedItem {
    pub item_no: i64,
    /// Attempts including this one.
    pub attempts: i64,
}

/// The persisted end of one attempt, written in batches by the JobActor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemOutcome {
    pub item_no: i64,
    /// `Completed`, `Failed`, or `Pending` (retry later or released).
    pub status: ItemStatus,
    pub result: Option<Value>,
    pub error_class: Option<ErrorClass>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub not_before: Option<i64>,
    pub finished_at: Option<i64>,
    /// The attempt ran past its kind's soft item limit; the item keeps the flag.
    pub slow: bool,
}

impl ItemOutcome {
    pub fn completed(item_no: i64, result: Value, now: i64) -> Self {
        Self {
            item_no,
            status: ItemStatus::Completed,
            result: Some(result),
            error_class: None,
            error_code: None,
            error: None,
            not_before: None,
            finished_at: Some(now),
            slow: false,
        }
    }

    /// Released without an outcome (cancel, shutdown): runs again later, attempt kept.
    pub fn released(item_no: i64) -> Self {
        Self {
            item_no,
            status: ItemStatus::Pending,
            result: None,
            error_class: None,
            error_code: None,
            error: None,
            not_before: None,
            finished_at: None,
            slow: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_table_is_exactly_this() {
        use ItemEvent as E;
        use ItemStatus as S;
        let legal = [
            (S::Pending, E::Claim, S::Processing),
            (S::Processing, E::Succeed, S::Completed),
            (S::Processing, E::RetryLater, S::Pending),
            (S::Processing, E::Fail, S::Failed),
            (S::Processing, E::Release, S::Pending),
            (S::Failed, E::Requeue, S::Pending),
        ];
        for &from in ItemStatus::ALL {
            for &event in ItemEvent::ALL {
                let expected = legal
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| *to);
                assert_eq!(from.apply(event), expected, "{from} + {event:?}");
            }
        }
    }

    #[test]
    fn a_completed_item_never_runs_again() {
        for &event in ItemEvent::ALL {
            assert_eq!(ItemStatus::Completed.apply(event), None);
        }
    }
}
