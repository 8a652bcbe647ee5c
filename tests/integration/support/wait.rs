//! Bounded waiting: every wait in the suite polls a condition against a deadline.

use std::time::{Duration, Instant};

/// How often a poll re-checks its condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Calls `f` until it returns `Some` or `timeout` passes; returns the last result.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Waits until `f` is true; panics with `what` when `timeout` passes first.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    if poll_until(timeout, || f().then_some(())).is_none() {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}
