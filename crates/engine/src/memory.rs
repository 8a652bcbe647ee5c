//! Memory accounting: a global allocator wrapper that counts live heap bytes, which is
//! what `used_memory` reports and what `maxmemory` is compared against.
//!
//! A shared atomic touched by every allocation would bounce one cache line between all
//! cores on the hot path, so each thread accumulates its delta locally and folds it
//! into the global count only when it passes [`FLUSH_BYTES`]. The reading is therefore
//! exact to within `FLUSH_BYTES` per thread, which is far finer than any maxmemory.
//! Requested sizes are counted (not the allocator's size classes), as Redis does when
//! its allocator lacks `malloc_size`.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

/// A thread folds its pending delta into the global count past this many bytes.
pub const FLUSH_BYTES: isize = 32 * 1024;

static USED: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static PENDING: Cell<isize> = const { Cell::new(0) };
}

/// Wraps the process's allocator; install it with `#[global_allocator]`.
pub struct CountingAlloc<A>(pub A);

#[inline]
fn account(delta: isize) {
    // `try_with` fails only while the thread is being torn down; count directly then.
    let flushed = PENDING.try_with(|p| {
        let v = p.get() + delta;
        if v.abs() >= FLUSH_BYTES {
            USED.fetch_add(v, Ordering::Relaxed);
            p.set(0);
        } else {
            p.set(v);
        }
    });
    if flushed.is_err() {
        USED.fetch_add(delta, Ordering::Relaxed);
    }
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.dealloc(ptr, layout);
        account(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = self.0.realloc(ptr, layout, new_size);
        if !p.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Live heap bytes, as counted by [`CountingAlloc`] (0 when it is not installed).
pub fn used_bytes() -> usize {
    USED.load(Ordering::Relaxed).max(0) as usize
}

/// The process's resident set size in bytes, from /proc (0 where unavailable).
pub fn rss_bytes() -> usize {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: usize = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    pages * page_size()
}

fn page_size() -> usize {
    4096
}

/// Formats bytes the way INFO's `*_human` fields do (`1.50M`, `912B`).
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    const UNITS: [(&str, f64); 5] = [
        ("P", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("T", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("G", 1024.0 * 1024.0 * 1024.0),
        ("M", 1024.0 * 1024.0),
        ("K", 1024.0),
    ];
    for (unit, size) in UNITS {
        if n >= size {
            return format!("{:.2}{}", n / size, unit);
        }
    }
    format!("{}B", n as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_units() {
        assert_eq!(super::human_bytes(912), "912B");
        assert_eq!(super::human_bytes(1536 * 1024), "1.50M");
    }
}
