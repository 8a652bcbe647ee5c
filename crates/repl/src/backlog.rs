//! How much of the stream the backlog keeps: Redoubt's policy, on top of Redis's
//! `repl-backlog-size`.
//!
//! Redis keeps exactly `repl-backlog-size` bytes, so a write burst while a replica
//! reconnects pushes the bytes it needs out and forces a full resync — which, for a
//! large dataset under steady writes, can repeat forever. Redoubt also keeps
//! everything written during the last [`window_ms`] (the time a broken link can go
//! unnoticed, `repl-timeout`, plus the longest reconnect backoff), as long as that
//! stays under the memory a single lagging replica is allowed to hold
//! (`client-output-buffer-limit replica` hard limit): a replica that comes back within
//! that time continues partially whatever the burst.

use redoubt_engine::journal::BacklogLimits;

use crate::link::BACKOFF_MAX_MS;

/// The cap when `client-output-buffer-limit replica` has no hard limit: the backlog
/// must stay bounded anyway.
pub const UNLIMITED_CAP_BYTES: u64 = 1 << 30;

/// The settings the policy reads.
#[derive(Clone, Copy, Debug)]
pub struct BacklogSettings {
    /// `repl-backlog-size`.
    pub size_bytes: u64,
    /// `repl-timeout`.
    pub timeout_s: u64,
    /// `client-output-buffer-limit replica` hard limit (0: none).
    pub replica_hard_limit_bytes: u64,
}

/// How long the backlog keeps recent bytes whatever their volume (within the cap).
pub fn window_ms(s: &BacklogSettings) -> i64 {
    (s.timeout_s.saturating_mul(1000) + BACKOFF_MAX_MS).min(i64::MAX as u64) as i64
}

/// The most a lagging replica (connected, or reconnecting within the window) may make
/// the master hold for it.
pub fn cap_bytes(s: &BacklogSettings) -> u64 {
    let hard = if s.replica_hard_limit_bytes == 0 { UNLIMITED_CAP_BYTES } else { s.replica_hard_limit_bytes };
    hard.max(s.size_bytes)
}

/// The journal's limits for these settings.
pub fn limits(s: &BacklogSettings) -> BacklogLimits {
    let cap = usize::try_from(cap_bytes(s)).unwrap_or(usize::MAX);
    BacklogLimits {
        min_bytes: usize::try_from(s.size_bytes).unwrap_or(usize::MAX),
        window_ms: window_ms(s),
        max_bytes: cap,
        cursor_cap_bytes: cap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_a_minute_of_writes_under_the_replica_limit() {
        let s = BacklogSettings { size_bytes: 1 << 20, timeout_s: 60, replica_hard_limit_bytes: 256 << 20 };
        let l = limits(&s);
        assert_eq!(l.min_bytes, 1 << 20);
        assert_eq!(l.window_ms, 60_000 + BACKOFF_MAX_MS as i64);
        assert_eq!(l.max_bytes, 256 << 20);
        let unlimited = BacklogSettings { replica_hard_limit_bytes: 0, ..s };
        assert_eq!(cap_bytes(&unlimited), UNLIMITED_CAP_BYTES);
        let big = BacklogSettings { size_bytes: 2 << 30, ..s };
        assert_eq!(cap_bytes(&big), 2 << 30);
    }
}
