//! A counting global allocator for the benchmarks: the peak heap of one run, printed beside the
//! criterion timings (criterion measures time only). It counts only inside `measure`, so the
//! timed runs pay no atomic operation per allocation. Beneath it is the allocator the meshctl
//! binary uses (mimalloc), so the timings are the binary's.

use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

pub struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed since `measure` started (below zero when it frees more than
/// it allocates).
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            let size = layout.size() as isize;
            let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            CURRENT.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns what it returned with the most heap it held at once beyond what was
/// allocated before it started, in bytes.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    CURRENT.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let value = f();
    COUNTING.store(false, Ordering::SeqCst);
    (value, PEAK.load(Ordering::Relaxed).max(0) as usize)
}
