//! The test binary's allocator: the system's, counting the live bytes that threads which
//! opt in ([`counted`]) allocate, and their peak. What a decode really holds, to hold
//! against what it reserved of the budget.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

pub struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);
/// Tests that read the counts take this, one at a time.
pub static PROBE: Mutex<()> = Mutex::new(());

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn add(bytes: i64) {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        let now = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
        PEAK.fetch_max(now, Ordering::SeqCst);
    }
}

// SAFETY: every call goes to `System` unchanged; the counting allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        add(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, size) };
        if !q.is_null() {
            add(size as i64 - layout.size() as i64);
        }
        q
    }
}

/// Runs `f` with this thread's allocations counted. What `f` allocates it should free (or
/// count it as still held).
pub fn counted<R>(f: impl FnOnce() -> R) -> R {
    COUNTED.with(|c| c.set(true));
    let r = f();
    COUNTED.with(|c| c.set(false));
    r
}

/// Starts a new peak from what is live now.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::SeqCst), Ordering::SeqCst);
}

/// The most bytes counted threads held at once since [`reset_peak`], above what was live
/// then.
pub fn peak_since(base: i64) -> u64 {
    (PEAK.load(Ordering::SeqCst) - base).max(0) as u64
}

pub fn live() -> i64 {
    LIVE.load(Ordering::SeqCst)
}
