//! CLIENT PAUSE / UNPAUSE: while a pause is in force, commands of normal clients wait
//! (all of them with `ALL`; with `WRITE`, those that may write or that are blocked
//! behind writes, like EVAL or PUBLISH in Redis) until it ends or times out. A paused
//! command is retried later by its connection; it is never lost or reordered.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redoubt_engine::command::flag;

use crate::client::{ClientShared, ClientType};
use crate::dispatch::Command;

/// How often a paused connection looks again.
const RECHECK: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseMode {
    Write,
    All,
}

#[derive(Default)]
pub struct Pause {
    state: Mutex<Option<(PauseMode, Instant)>>,
    active: std::sync::atomic::AtomicBool,
}

impl Pause {
    /// Pauses until `until` (a longer pause or ALL over WRITE wins, as in Redis).
    pub fn start(&self, mode: PauseMode, until: Instant) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (mode, until) = match *s {
            Some((m, u)) => {
                (if m == PauseMode::All || mode == PauseMode::All { PauseMode::All } else { mode }, u.max(until))
            }
            None => (mode, until),
        };
        *s = Some((mode, until));
        self.active.store(true, Relaxed);
    }

    /// True while writes are paused (active expiry waits too, as in Redis, so the
    /// replication stream does not move under a failover).
    pub fn holds_writes(&self) -> bool {
        self.active.load(Relaxed)
            && self.state.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|(_, until)| Instant::now() < until)
    }

    pub fn stop(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.active.store(false, Relaxed);
    }

    /// If `cmd` from `client` must wait, when to look again. `queued_flags`: for EXEC,
    /// the flags of the commands it would run (a transaction that writes is a write).
    pub fn blocks(&self, cmd: &Command, client: &ClientShared, queued_flags: u32) -> Option<Instant> {
        if !self.active.load(Relaxed) {
            return None;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (mode, until) = (*s)?;
        let now = Instant::now();
        if now >= until {
            *s = None;
            self.active.store(false, Relaxed);
            return None;
        }
        // Replicas and the master link are never paused; neither is UNPAUSE.
        if matches!(client.kind(), ClientType::Replica | ClientType::Master) || cmd.name() == "client|unpause" {
            return None;
        }
        let writes = (cmd.meta.flags | queued_flags) & (flag::WRITE | flag::MAY_REPLICATE) != 0;
        if mode == PauseMode::All || writes {
            return Some(until.min(now + RECHECK));
        }
        None
    }
}
