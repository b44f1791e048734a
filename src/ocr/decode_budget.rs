//! The node's one memory budget for page images being decoded (`ocr.decode_budget_bytes`).
//!
//! A decode reserves what its header says it will hold (the source, the decoder's rows or
//! whole buffers, the encoded page) before its first pixel, and waits while other decodes
//! hold the rest; reservations are served in order, so a large page is not starved by small
//! ones. A page that needs more than the whole budget can never run, and fails terminal
//! (`DECODE_BUDGET_EXCEEDED`). After the decode the reservation shrinks to the encoded page,
//! held until the engine has read it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ImageProblem;

/// Permits are KiB: a budget of up to 4 TiB fits one acquire (`u32` permits).
const UNIT: u64 = 1024;

/// The largest budget a setting may name.
pub const MAX_DECODE_BUDGET: u64 = (u32::MAX as u64) * UNIT;

pub struct DecodeBudget {
    permits: Arc<Semaphore>,
    /// The budget, rounded down to whole KiB.
    bytes: u64,
    counts: Arc<Counts>,
}

/// What the budget has seen, for tests and the benchmark: in bytes, rounded up to KiB.
#[derive(Default)]
struct Counts {
    in_use: AtomicU64,
    peak: AtomicU64,
    /// Reservations that had to wait for others to finish.
    waited: AtomicU64,
}

/// A reservation: its bytes go back to the budget when it is dropped.
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    counts: Arc<Counts>,
}

impl DecodeBudget {
    pub fn new(bytes: u64) -> Self {
        let units = (bytes / UNIT).clamp(1, MAX_DECODE_BUDGET / UNIT);
        Self {
            permits: Arc::new(Semaphore::new(units as usize)),
            bytes: units * UNIT,
            counts: Arc::default(),
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Waits until `bytes` are free, then holds them. More than the whole budget is
    /// refused at once.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation, ImageProblem> {
        let units = bytes.div_ceil(UNIT).max(1);
        if units * UNIT > self.bytes {
            return Err(ImageProblem::OverBudget {
                needed: bytes,
                budget: self.bytes,
            });
        }
        let units = units as u32;
        let permit = match self.permits.clone().try_acquire_many_owned(units) {
            Ok(permit) => permit,
            Err(_) => {
                self.counts.waited.fetch_add(1, Ordering::Relaxed);
                self.permits
                    .clone()
                    .acquire_many_owned(units)
                    .await
                    .expect("the budget's semaphore is never closed")
            }
        };
        let held = u64::from(units) * UNIT;
        let now = self.counts.in_use.fetch_add(held, Ordering::SeqCst) + held;
        self.counts.peak.fetch_max(now, Ordering::SeqCst);
        Ok(Reservation {
            permit,
            counts: self.counts.clone(),
        })
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> u64 {
        self.counts.in_use.load(Ordering::SeqCst)
    }

    /// The most bytes reserved at once so far.
    pub fn peak(&self) -> u64 {
        self.counts.peak.load(Ordering::SeqCst)
    }

    /// How many reservations waited for others.
    pub fn waited(&self) -> u64 {
        self.counts.waited.load(Ordering::Relaxed)
    }
}

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.permit.num_permits() as u64 * UNIT
    }

    /// Gives back all but `bytes` (rounded up to KiB; at least one KiB is kept).
    pub fn shrink_to(&mut self, bytes: u64) {
        let keep = bytes.div_ceil(UNIT).max(1) as usize;
        let held = self.permit.num_permits();
        if keep < held
            && let Some(freed) = self.permit.split(held - keep)
        {
            self.counts
                .in_use
                .fetch_sub(freed.num_permits() as u64 * UNIT, Ordering::SeqCst);
            drop(freed);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.counts.in_use.fetch_sub(self.bytes(), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Waker};

    use super::*;

    const MIB: u64 = 1 << 20;

    fn pending<F: Future>(f: std::pin::Pin<&mut F>) -> bool {
        f.poll(&mut Context::from_waker(Waker::noop())).is_pending()
    }

    #[tokio::test]
    async fn a_reservation_waits_until_the_budget_has_room() {
        let budget = DecodeBudget::new(100 * MIB);
        let first = budget.reserve(60 * MIB).await.unwrap();
        let mut second = pin!(budget.reserve(60 * MIB));
        assert!(pending(second.as_mut()), "60 + 60 MiB exceed 100 MiB");
        assert_eq!(budget.in_use(), 60 * MIB);
        drop(first);
        let second = second.await.unwrap();
        assert_eq!((budget.in_use(), budget.peak()), (60 * MIB, 60 * MIB));
        assert_eq!(budget.waited(), 1);
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_large_reservation_is_not_starved_by_small_ones() {
        let budget = DecodeBudget::new(100 * MIB);
        let small = budget.reserve(50 * MIB).await.unwrap();
        let mut large = pin!(budget.reserve(90 * MIB));
        assert!(pending(large.as_mut()));
        // Room for 20 MiB more now, but the large one is first in line.
        let mut later = pin!(budget.reserve(20 * MIB));
        assert!(pending(later.as_mut()));
        drop(small);
        let large = large.await.unwrap();
        assert!(pending(later.as_mut()));
        drop(large);
        later.await.unwrap();
    }

    #[tokio::test]
    async fn more_than_the_whole_budget_is_refused_at_once() {
        let budget = DecodeBudget::new(100 * MIB);
        let err = budget.reserve(100 * MIB + 1).await.err().unwrap();
        assert!(matches!(err, ImageProblem::OverBudget { budget, .. } if budget == 100 * MIB));
        let item = quire_actors::ItemError::from(err);
        assert_eq!(
            (item.class(), item.code()),
            (quire_actors::ErrorClass::Terminal, "DECODE_BUDGET_EXCEEDED")
        );
        assert!(
            item.to_string().contains("ocr.decode_budget_bytes"),
            "{item}"
        );
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_shrunk_reservation_gives_back_the_rest() {
        let budget = DecodeBudget::new(100 * MIB);
        let mut held = budget.reserve(80 * MIB).await.unwrap();
        held.shrink_to(MIB + 1);
        assert_eq!(budget.in_use(), MIB + UNIT);
        budget.reserve(90 * MIB).await.unwrap();
        drop(held);
        assert_eq!(budget.in_use(), 0);
    }
}
