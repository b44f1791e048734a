//! What this node's items did, for `/metrics`: attempts by outcome and error class, and a
//! latency histogram per job kind. Cheap enough to record on every attempt.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::ErrorClass;
use crate::model::{ItemStatus, JobKind};

/// Upper bounds of the latency buckets, in milliseconds (Prometheus `le`).
pub const LATENCY_BOUNDS_MS: [u64; 12] = [
    10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000,
];

/// How one attempt ended, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttemptEnd {
    Completed,
    /// Failed retryably and will run again after a backoff.
    Retried,
    /// Failed for good (retryable with no attempt left, or terminal).
    Failed,
    /// Failed fatally: the job fails, the item waits for a resume.
    Fatal,
}

impl AttemptEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Retried => "retried",
            Self::Failed => "failed",
            Self::Fatal => "fatal",
        }
    }

    /// The end an outcome records, from its status and error class.
    pub fn of(status: ItemStatus, class: Option<ErrorClass>) -> Self {
        match (status, class) {
            (ItemStatus::Completed, _) => Self::Completed,
            (ItemStatus::Failed, _) => Self::Failed,
            (_, Some(ErrorClass::Fatal)) => Self::Fatal,
            _ => Self::Retried,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Counts per bucket of [`LATENCY_BOUNDS_MS`], not cumulative; the last is `+Inf`.
    pub buckets: [u64; LATENCY_BOUNDS_MS.len() + 1],
    pub sum_ms: u64,
    pub count: u64,
}

impl Histogram {
    fn record(&mut self, ms: u64) {
        let bucket = LATENCY_BOUNDS_MS
            .iter()
            .position(|&bound| ms <= bound)
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        self.buckets[bucket] += 1;
        self.sum_ms += ms;
        self.count += 1;
    }
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemStatsSnapshot {
    pub attempts: BTreeMap<(JobKind, AttemptEnd), u64>,
    pub errors: BTreeMap<(JobKind, ErrorClass), u64>,
    pub latency: BTreeMap<JobKind, Histogram>,
    /// Attempts that passed their kind's soft item limit.
    pub slow: BTreeMap<JobKind, u64>,
}

#[derive(Debug, Default)]
pub struct ItemStats {
    inner: Mutex<ItemStatsSnapshot>,
}

impl ItemStats {
    /// Counts one finished attempt (a dropped one is not counted: it did not end).
    pub fn record(
        &self,
        kind: JobKind,
        status: ItemStatus,
        class: Option<ErrorClass>,
        took: Duration,
    ) {
        let Ok(mut s) = self.inner.lock() else { return };
        *s.attempts
            .entry((kind, AttemptEnd::of(status, class)))
            .or_default() += 1;
        if let Some(class) = class {
            *s.errors.entry((kind, class)).or_default() += 1;
        }
        s.latency
            .entry(kind)
            .or_default()
            .record(took.as_millis() as u64);
    }

    /// Counts an attempt that passed its kind's soft item limit.
    pub fn record_slow(&self, kind: JobKind) {
        let Ok(mut s) = self.inner.lock() else { return };
        *s.slow.entry(kind).or_default() += 1;
    }

    pub fn snapshot(&self) -> ItemStatsSnapshot {
        self.inner.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_by_end_class_and_latency() {
        let stats = ItemStats::default();
        let ms = Duration::from_millis;
        stats.record(JobKind::Ocr, ItemStatus::Completed, None, ms(7));
        stats.record(JobKind::Ocr, ItemStatus::Completed, None, ms(700));
        let retryable = Some(ErrorClass::Retryable);
        stats.record(JobKind::Ocr, ItemStatus::Pending, retryable, ms(200_000));
        stats.record(
            JobKind::Ocr,
            ItemStatus::Failed,
            Some(ErrorClass::Terminal),
            ms(10),
        );
        stats.record(
            JobKind::Ocr,
            ItemStatus::Pending,
            Some(ErrorClass::Fatal),
            ms(10),
        );
        let s = stats.snapshot();
        assert_eq!(s.attempts[&(JobKind::Ocr, AttemptEnd::Completed)], 2);
        assert_eq!(s.attempts[&(JobKind::Ocr, AttemptEnd::Retried)], 1);
        assert_eq!(s.attempts[&(JobKind::Ocr, AttemptEnd::Failed)], 1);
        assert_eq!(s.attempts[&(JobKind::Ocr, AttemptEnd::Fatal)], 1);
        assert_eq!(s.errors[&(JobKind::Ocr, ErrorClass::Retryable)], 1);
        let h = &s.latency[&JobKind::Ocr];
        assert_eq!((h.count, h.sum_ms), (5, 200_727));
        assert_eq!(h.buckets[0], 3); // <= 10 ms
        assert_eq!(h.buckets[5], 1); // <= 1 s
        assert_eq!(h.buckets[LATENCY_BOUNDS_MS.len()], 1); // +Inf
    }
}
