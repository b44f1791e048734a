use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BookId, JobId};

/// A name that is not one of an enum's stored names (a corrupt row or a bad request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`")]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
}

/// Declares a string-backed enum whose names are what the database and the API store: `ALL`,
/// `as_str`, `FromStr` (failing with [`UnknownName`]), `Display` and serde by those names.
/// Exported for the enums of the crates built on this one (a page's review status).
#[macro_export]
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::model::UnknownName;
            fn from_str(s: &str) -> Result<Self, $crate::model::UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::model::UnknownName { what: $what, name: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// What a job does to its book. Each kind has an item handler registered with the runtime.
    JobKind, "job kind" {
        /// Bulk OCR: one item per page.
        Ocr = "ocr",
        /// Guideline extraction: one item per page.
        Extract = "extract",
        /// Merge and deduplicate the draft guidelines.
        Finalize = "finalize",
        /// Split a PDF into pages, then OCR them.
        PdfImport = "pdf_import",
        /// Build the EPUB.
        ExportEpub = "export_epub",
        /// Items that only wait and record themselves: load tests and crash drills.
        Synthetic = "synthetic",
    }
);

named_enum!(
    /// Where a job is in its life. See [`JobStatus::apply`] for the only legal moves.
    JobStatus, "job status" {
        /// Created and holding the JobLock; no item has started.
        Pending = "pending",
        Running = "running",
        /// Cancel requested: no new item starts, in-flight items finish or are dropped.
        Cancelling = "cancelling",
        /// Every item ended; some may have failed (counted in the progress).
        Completed = "completed",
        /// A fatal error, or every item failed. Resumable.
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

/// What can happen to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobEvent {
    /// Its JobActor starts driving items.
    Start,
    /// Someone asked to cancel it.
    Cancel,
    /// Its JobActor stopped dispatching after a cancel and in-flight items settled.
    Stopped,
    /// No item is left to run and at least one completed (or there were none).
    Finish,
    /// A fatal error, or no item could succeed.
    Fail,
}

impl JobEvent {
    pub const ALL: &'static [JobEvent] = &[
        JobEvent::Start,
        JobEvent::Cancel,
        JobEvent::Stopped,
        JobEvent::Finish,
        JobEvent::Fail,
    ];
}

/// An event that the current status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} job cannot take the event {event:?}")]
pub struct IllegalTransition {
    pub from: JobStatus,
    pub event: JobEvent,
}

impl JobStatus {
    /// The job state machine: the one place that says which moves are legal.
    ///
    /// The database mirrors it (CHECK constraints and a trigger that freezes terminal rows);
    /// stores apply a move only if the row still has the status the move started from.
    pub fn apply(self, event: JobEvent) -> Result<JobStatus, IllegalTransition> {
        use JobEvent as E;
        use JobStatus as S;
        let next = match (self, event) {
            (S::Pending, E::Start) => S::Running,
            // Nothing ran, so there is nothing to wait for.
            (S::Pending, E::Cancel) => S::Cancelled,
            (S::Pending, E::Fail) => S::Failed,
            (S::Running, E::Cancel) => S::Cancelling,
            (S::Running, E::Finish) => S::Completed,
            (S::Running, E::Fail) => S::Failed,
            // A second cancel while cancelling is not an error: the request stands.
            (S::Cancelling, E::Cancel) => S::Cancelling,
            (S::Cancelling, E::Stopped) => S::Cancelled,
            // Every item ended before the cancel took effect: the truth is "completed".
            (S::Cancelling, E::Finish) => S::Completed,
            (S::Cancelling, E::Fail) => S::Failed,
            (from, event) => return Err(IllegalTransition { from, event }),
        };
        Ok(next)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// Active jobs hold their book's JobLock.
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }
}

/// Why a job failed: a stable code for programs and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

/// Counts a job reports while it runs. Derived from item rows when a JobActor starts, then
/// kept by it and written with each batch of item outcomes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
    /// The item most recently started.
    pub current_item: Option<i64>,
    /// The highest item number whose success is persisted.
    pub last_completed_item: Option<i64>,
    /// The kind's current stage (e.g. "extracting"), for kinds that have stages.
    pub stage: Option<String>,
    pub stage_started_at: Option<i64>,
}

impl Progress {
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            return 100.0;
        }
        let done = (self.completed + self.failed) as f64 / self.total as f64 * 100.0;
        (done * 10.0).round() / 10.0
    }

    pub fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.completed + self.failed)
    }

    /// Counts a batch of persisted outcomes in; says whether any put its item back to
    /// pending (a retry later, a release), so that claims must look again.
    ///
    /// In an auto retry round (`round > 0`) every item that runs failed in an earlier one
    /// and is still counted failed, so that progress never goes back: one that now
    /// completes moves from failed to completed, one that fails again is counted already.
    pub fn count(&mut self, outcomes: &[super::ItemOutcome], round: u32) -> bool {
        let retrying = round > 0;
        let mut requeued = false;
        for o in outcomes {
            match o.status {
                super::ItemStatus::Completed => {
                    self.completed += 1;
                    if retrying {
                        self.failed = self.failed.saturating_sub(1);
                    }
                    self.last_completed_item = self.last_completed_item.max(Some(o.item_no));
                }
                super::ItemStatus::Failed if retrying => {}
                super::ItemStatus::Failed => self.failed += 1,
                super::ItemStatus::Pending | super::ItemStatus::Processing => requeued = true,
            }
        }
        requeued
    }
}

/// A job as stored. Timestamps are milliseconds since the Unix epoch, UTC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub book_id: BookId,
    pub kind: JobKind,
    pub status: JobStatus,
    pub params: Value,
    pub progress: Progress,
    pub error: Option<JobError>,
    /// The failed or cancelled job this one resumes.
    pub resumed_from: Option<JobId>,
    pub lease_owner: Option<String>,
    pub lease_generation: i64,
    /// The auto retry round the job is in (0: its first pass).
    pub retry_round: u32,
    /// Holding the JobLock while its items are still arriving.
    pub held: bool,
    pub lease_expires_at: Option<i64>,
    pub heartbeat_at: Option<i64>,
    pub cancel_requested_at: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl Job {
    /// The lease the job was read under, for a caller acting for its holder (an upload
    /// adding pages to the job it holds). Every write with it is fenced.
    pub fn lease(&self) -> Option<super::Lease> {
        Some(super::Lease {
            job_id: self.id,
            owner: self.lease_owner.clone()?,
            generation: self.lease_generation,
        })
    }

    /// Wall time so far (running) or in all (finished), from the start of the first item.
    pub fn elapsed_ms(&self, now: i64) -> Option<i64> {
        self.started_at
            .map(|start| self.finished_at.unwrap_or(now).saturating_sub(start))
    }
}

/// What a caller asks the runtime to run.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub book_id: BookId,
    pub kind: JobKind,
    pub params: Value,
    /// Item numbers (page numbers, chunk indexes), each run once.
    pub items: Vec<i64>,
    pub resumed_from: Option<JobId>,
    /// Take the JobLock now, get the items later (see [`crate::RuntimeHandle::hold`]).
    pub held: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (status, event) pair, written out: the table is the specification.
    #[test]
    fn transition_table_is_exactly_this() {
        use JobEvent as E;
        use JobStatus as S;
        let legal = [
            (S::Pending, E::Start, S::Running),
            (S::Pending, E::Cancel, S::Cancelled),
            (S::Pending, E::Fail, S::Failed),
            (S::Running, E::Cancel, S::Cancelling),
            (S::Running, E::Finish, S::Completed),
            (S::Running, E::Fail, S::Failed),
            (S::Cancelling, E::Cancel, S::Cancelling),
            (S::Cancelling, E::Stopped, S::Cancelled),
            (S::Cancelling, E::Finish, S::Completed),
            (S::Cancelling, E::Fail, S::Failed),
        ];
        let mut checked = 0;
        for &from in JobStatus::ALL {
            for &event in JobEvent::ALL {
                let expected = legal
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| *to);
                match expected {
                    Some(to) => assert_eq!(from.apply(event), Ok(to), "{from} + {event:?}"),
                    None => assert_eq!(
                        from.apply(event),
                        Err(IllegalTransition { from, event }),
                        "{from} + {event:?} must be illegal"
                    ),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, JobStatus::ALL.len() * JobEvent::ALL.len());
    }

    #[test]
    fn terminal_jobs_never_move() {
        for &from in JobStatus::ALL.iter().filter(|s| s.is_terminal()) {
            for &event in JobEvent::ALL {
                assert!(from.apply(event).is_err(), "{from} moved on {event:?}");
            }
        }
    }

    #[test]
    fn every_move_ends_active_or_terminal_and_names_round_trip() {
        for &s in JobStatus::ALL {
            assert_ne!(s.is_active(), s.is_terminal());
            assert_eq!(s.as_str().parse::<JobStatus>(), Ok(s));
        }
        for &k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>(), Ok(k));
        }
        assert!("bogus".parse::<JobKind>().is_err());
    }

    #[test]
    fn percent_counts_failed_items_as_done() {
        let p = Progress {
            total: 85,
            completed: 44,
            failed: 1,
            ..Progress::default()
        };
        assert_eq!(p.percent(), 52.9);
        assert_eq!(p.remaining(), 40);
        assert_eq!(Progress::default().percent(), 100.0);
    }
}
