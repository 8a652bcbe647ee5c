//! [`Gate`]: the one script running at a time, as the rest of the server sees it.
//!
//! Redis runs a script on its only thread: nothing else happens until it ends, except
//! that after `busy-reply-threshold` ms other clients get `-BUSY` and may SCRIPT KILL
//! it. Redoubt runs a script on the worker of the client that sent it, holding every
//! shard lock; the gate is how every other command learns, with one atomic load and
//! before it takes any lock, that it must not run now:
//! - before the threshold it waits (the dispatcher retries it later, asynchronously;
//!   no worker thread blocks on a shard mutex behind a long script);
//! - after it, it gets `-BUSY` unless it is allowed while busy (SCRIPT KILL, ...).
//!
//! The gate also carries the kill request and what FUNCTION STATS shows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What a command sees when it looks at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// No script runs (or it is this client's own): go ahead.
    Free,
    /// A script runs and has not reached the busy threshold: try again at this time.
    Wait(Instant),
    /// A script has run past the threshold: only commands allowed while busy run.
    Busy(ScriptKind),
}

/// EVAL scripts and functions are killed and reported by different commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    Eval,
    Function,
}

impl ScriptKind {
    /// The BUSY error text for this kind of running script.
    pub fn busy_error(self) -> &'static str {
        match self {
            ScriptKind::Eval => {
                "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            }
            ScriptKind::Function => {
                "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
            }
        }
    }
}

/// What FUNCTION STATS reports about the running script.
#[derive(Debug, Clone, Default)]
pub struct Running {
    pub name: Vec<u8>,
    pub command: Vec<Vec<u8>>,
}

/// The longest a waiting command spins before it goes back to its event loop: a
/// typical script takes microseconds, and a spin is cheaper than a timer round trip.
const SPIN: Duration = Duration::from_micros(50);
/// How often a waiting command looks again once it stopped spinning.
const RECHECK: Duration = Duration::from_millis(1);

/// Microseconds since the first use of the gate clock (never 0 once started).
pub fn clock_us() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(|| Instant::now() - Duration::from_micros(1));
    base.elapsed().as_micros() as u64
}

/// The `Instant` of gate-clock time `us` (now, if it has passed).
fn instant_of(us: u64) -> Instant {
    Instant::now() + Duration::from_micros(us.saturating_sub(clock_us()))
}

#[derive(Default)]
pub struct Gate {
    /// When the running script started (gate clock µs); 0 while none runs.
    since_us: AtomicU64,
    /// The client running it.
    owner: AtomicU64,
    function: AtomicBool,
    /// The script wrote: it can no longer be killed.
    dirty: AtomicBool,
    kill: AtomicBool,
    /// The script has been reported slow (logged, its worker handed back).
    slow: AtomicBool,
    /// `busy-reply-threshold` (alias `lua-time-limit`), ms.
    threshold_ms: AtomicU64,
    running: Mutex<Option<Running>>,
}

/// Held while a script runs; leaving the gate lets the others in.
pub struct Entered<'g> {
    gate: &'g Gate,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let g = self.gate;
        *g.running.lock().unwrap_or_else(|e| e.into_inner()) = None;
        g.kill.store(false, Relaxed);
        g.dirty.store(false, Relaxed);
        g.slow.store(false, Relaxed);
        g.since_us.store(0, Release);
    }
}

impl Gate {
    pub fn new() -> Gate {
        let g = Gate::default();
        g.threshold_ms.store(5000, Relaxed);
        g
    }

    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Relaxed);
    }

    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Relaxed)
    }

    /// Whether `client` may run a command now. The common case is one atomic load.
    pub fn turn(&self, client: u64) -> Turn {
        let since = self.since_us.load(Acquire);
        if since == 0 || self.owner.load(Relaxed) == client {
            return Turn::Free;
        }
        self.turn_slow(since)
    }

    #[cold]
    fn turn_slow(&self, since: u64) -> Turn {
        // A short script ends while we spin; waiting on a timer would cost a ms.
        // The clock is read once per 64 checks: reading it costs more than a check.
        let spin_until = Instant::now() + SPIN;
        while Instant::now() < spin_until {
            for _ in 0..64 {
                std::hint::spin_loop();
                if self.since_us.load(Acquire) != since {
                    return Turn::Free;
                }
            }
        }
        let busy_at = since + self.threshold_ms() * 1000;
        if clock_us() >= busy_at {
            let kind = if self.function.load(Relaxed) { ScriptKind::Function } else { ScriptKind::Eval };
            return Turn::Busy(kind);
        }
        Turn::Wait((Instant::now() + RECHECK).min(instant_of(busy_at)))
    }

    /// Takes the gate for a script of `client`; `None` if another script holds it.
    pub fn try_enter(&self, client: u64, kind: ScriptKind, running: Running) -> Option<Entered<'_>> {
        let now = clock_us().max(1);
        self.since_us.compare_exchange(0, now, AcqRel, Relaxed).ok()?;
        self.owner.store(client, Relaxed);
        self.function.store(kind == ScriptKind::Function, Relaxed);
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(running);
        Some(Entered { gate: self })
    }

    /// Like [`Gate::try_enter`], spinning briefly behind a short script.
    pub fn enter(&self, client: u64, kind: ScriptKind, running: Running) -> Result<Entered<'_>, Turn> {
        let mut running = Some(running);
        loop {
            if let Some(e) = self.try_enter(client, kind, running.take().unwrap_or_default()) {
                return Ok(e);
            }
            let since = self.since_us.load(Acquire);
            if since == 0 {
                continue;
            }
            match self.turn_slow(since) {
                Turn::Free => continue,
                other => return Err(other),
            }
        }
    }

    /// True while a script runs.
    pub fn is_running(&self) -> bool {
        self.since_us.load(Acquire) != 0
    }

    /// How long the running script has run, ms.
    pub fn elapsed_ms(&self) -> u64 {
        match self.since_us.load(Acquire) {
            0 => 0,
            since => clock_us().saturating_sub(since) / 1000,
        }
    }

    /// The running script's kind, if one runs.
    pub fn running_kind(&self) -> Option<ScriptKind> {
        self.is_running().then(|| if self.function.load(Relaxed) { ScriptKind::Function } else { ScriptKind::Eval })
    }

    /// The running script, for FUNCTION STATS.
    pub fn running(&self) -> Option<Running> {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records that the running script wrote (from then on it cannot be killed).
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Relaxed);
    }

    /// SCRIPT KILL (`kind` Eval) and FUNCTION KILL (`kind` Function), with Redis's
    /// replies: `Ok` once the kill is requested, else the error text.
    pub fn kill(&self, kind: ScriptKind) -> Result<(), &'static str> {
        let Some(running) = self.running_kind() else {
            return Err("NOTBUSY No scripts in execution right now.");
        };
        if self.dirty.load(Relaxed) {
            return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        }
        if running != kind {
            return Err(running.busy_error());
        }
        self.kill.store(true, Relaxed);
        Ok(())
    }

    /// True once a kill was requested for the running script.
    pub fn kill_requested(&self) -> bool {
        self.kill.load(Relaxed)
    }

    /// True the first time the running script is found past the threshold.
    pub fn becomes_slow(&self) -> bool {
        let since = self.since_us.load(Acquire);
        since != 0 && clock_us().saturating_sub(since) >= self.threshold_ms() * 1000 && !self.slow.swap(true, Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_script_at_a_time_and_kill_rules() {
        let g = Gate::new();
        assert_eq!(g.turn(1), Turn::Free);
        assert!(g.kill(ScriptKind::Eval).is_err_and(|e| e.starts_with("NOTBUSY")));
        let e = g.try_enter(1, ScriptKind::Eval, Running::default()).unwrap();
        assert_eq!(g.turn(1), Turn::Free);
        assert!(g.try_enter(2, ScriptKind::Eval, Running::default()).is_none());
        assert!(matches!(g.turn(2), Turn::Wait(_)));
        g.set_threshold_ms(0);
        assert_eq!(g.turn(2), Turn::Busy(ScriptKind::Eval));
        assert_eq!(g.kill(ScriptKind::Function), Err(ScriptKind::Eval.busy_error()));
        g.mark_dirty();
        assert!(g.kill(ScriptKind::Eval).is_err_and(|e| e.starts_with("UNKILLABLE")));
        drop(e);
        assert_eq!(g.turn(2), Turn::Free);
        let _e = g.try_enter(2, ScriptKind::Function, Running::default()).unwrap();
        assert_eq!(g.kill(ScriptKind::Function), Ok(()));
        assert!(g.kill_requested());
    }
}
