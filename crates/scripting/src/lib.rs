//! # redoubt-scripting — Lua scripts and functions
//!
//! EVAL scripts and FUNCTION libraries on Lua 5.1 (through `mlua`, built from its
//! vendored sources), with Redis 7.0's API, conversion rules, errors, read-only
//! globals and libraries. A separate crate so that the crate graph shows that only the
//! server embeds Lua: the engine knows nothing of scripts, and this crate knows
//! neither commands nor locks — it reaches the server through [`vm::Host`], which
//! the server implements for each run.
//!
//! Map:
//! - [`gate`]: the one script that runs at a time, as other commands see it (wait,
//!   BUSY, SCRIPT/FUNCTION KILL)
//! - [`vm`]: one Lua state dressed as Redis's; the call of a script or function
//! - [`guard`]: read-only tables and protected globals, on a stock Lua
//! - `prelude.lua`: the `redis.*` API and the environment, in Lua
//! - [`convert`]: replies to Lua values and back
//! - [`flags`]: script flags and the `#!lua` line
//! - [`eval`]: the EVAL state and its script cache
//! - [`functions`]: function libraries
//! - [`libs`]: `bit`, `struct`, `cjson`, `cmsgpack`
//!
//! Bounds: each Lua state may allocate [`vm::LUA_MEMORY_MAX_BYTES`]; EVAL-only
//! scripts are capped at [`eval::EVAL_SCRIPTS_MAX`]; a script's reply nests at most
//! [`convert::REPLY_DEPTH_MAX`] deep; a library loads in at most
//! [`functions::LOAD_TIMEOUT`]. A Lua error, a bad script or a bad library is an error
//! reply, never a panic.

pub mod convert;
pub mod eval;
pub mod flags;
pub mod functions;
pub mod gate;
pub mod guard;
pub mod libs;
pub mod vm;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

pub use gate::{Gate, Running, ScriptKind, Turn};
pub use vm::{Ended, Host};

/// The Redis version scripts see (`redis.REDIS_VERSION`).
pub const REDIS_VERSION: &str = "7.0.15";
/// The same as a number: 0x00MMmmpp.
pub const REDIS_VERSION_NUM: i64 = 0x07_00_0f;

/// Redis's log levels, as `redis.LOG_*` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

impl LogLevel {
    pub fn from_i64(n: i64) -> Option<LogLevel> {
        match n {
            0 => Some(LogLevel::Debug),
            1 => Some(LogLevel::Verbose),
            2 => Some(LogLevel::Notice),
            3 => Some(LogLevel::Warning),
            _ => None,
        }
    }
}

/// What the server gives the scripting layer.
#[derive(Clone, Copy)]
pub struct Config {
    /// Writes a line to the server's log (`redis.log`, slow-script warnings).
    pub log: fn(LogLevel, &str),
    /// Called once when a script becomes slow (past the busy threshold), from the
    /// thread running it, so that the server can hand that thread's other work on.
    pub on_slow: fn(),
}

/// The lower-case hex SHA1 of `data` (`redis.sha1hex`, script ids).
pub fn sha1_hex(data: &[u8]) -> String {
    // Every EVAL hashes its body: hex by table, not through `fmt`.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = sha1_smol::Sha1::from(data).digest().bytes();
    let mut out = String::with_capacity(40);
    for b in digest {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// Figures INFO and FUNCTION STATS read without taking a Lua state's lock (which a
/// running script holds): refreshed after every change and every run.
#[derive(Default)]
pub struct Stats {
    pub eval_vm_bytes: AtomicUsize,
    pub scripts: AtomicUsize,
    pub scripts_bytes: AtomicUsize,
    pub functions_vm_bytes: AtomicUsize,
    pub libraries: AtomicUsize,
    pub functions: AtomicUsize,
    pub functions_bytes: AtomicUsize,
}

// Safety: mlua is built without its `send` feature (which takes a lock on every Lua
// API call), so its handles count references with `Rc`. Every Lua value — the state,
// compiled scripts, library functions — is owned by an `EvalScripts` or a
// `Functions` and never leaves it; those are reached only through `Scripting`'s
// mutexes (or moved whole to a thread that drops them), so no two threads ever touch
// the same state's values at once, and each lock hand-over orders their accesses.
unsafe impl Send for eval::EvalScripts {}
unsafe impl Send for functions::Functions {}

/// Everything scripting keeps for the server: the gate, the EVAL state with its
/// scripts, and the function libraries.
pub struct Scripting {
    pub gate: Arc<Gate>,
    pub cfg: Config,
    pub stats: Stats,
    eval: Mutex<eval::EvalScripts>,
    functions: Mutex<functions::Functions>,
}

impl Scripting {
    pub fn new(cfg: Config) -> mlua::Result<Scripting> {
        let gate = Arc::new(Gate::new());
        let s = Scripting {
            eval: Mutex::new(eval::EvalScripts::new(&cfg, &gate)?),
            functions: Mutex::new(functions::Functions::new(&cfg, &gate)?),
            gate,
            cfg,
            stats: Stats::default(),
        };
        s.note_eval(&s.eval());
        s.note_functions(&s.functions());
        Ok(s)
    }

    /// Refreshes the EVAL figures of [`Stats`].
    pub fn note_eval(&self, e: &eval::EvalScripts) {
        self.stats.eval_vm_bytes.store(e.vm_bytes(), Relaxed);
        self.stats.scripts.store(e.len(), Relaxed);
        self.stats.scripts_bytes.store(e.scripts_bytes(), Relaxed);
    }

    /// Refreshes the function figures of [`Stats`].
    pub fn note_functions(&self, f: &functions::Functions) {
        self.stats.functions_vm_bytes.store(f.vm_bytes(), Relaxed);
        self.stats.libraries.store(f.library_count(), Relaxed);
        self.stats.functions.store(f.function_count(), Relaxed);
        self.stats.functions_bytes.store(f.overhead_bytes(), Relaxed);
    }

    /// FUNCTION FLUSH: no libraries, and a new Lua state for them.
    pub fn flush_functions(&self) -> mlua::Result<()> {
        let mut f = self.functions();
        f.flush(&self.cfg, &self.gate)?;
        self.note_functions(&f);
        Ok(())
    }

    /// FUNCTION RESTORE (and loading an RDB's libraries): `codes` are the libraries'
    /// code; all of them load, or nothing changes. `Err` is Redis's error text.
    pub fn restore_functions(&self, codes: Vec<Vec<u8>>, policy: functions::RestorePolicy) -> Result<(), String> {
        let mut f = self.functions();
        f.restore(codes, policy, &self.cfg, &self.gate)?;
        self.note_functions(&f);
        Ok(())
    }

    /// The code of every library (FUNCTION DUMP, and an RDB's function section).
    pub fn library_codes(&self) -> Vec<Vec<u8>> {
        self.functions().libraries().map(|l| l.code.clone()).collect()
    }

    /// The EVAL state. Held for the whole of a script; other clients wait at the gate
    /// before they get here.
    pub fn eval(&self) -> MutexGuard<'_, eval::EvalScripts> {
        self.eval.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The function libraries.
    pub fn functions(&self) -> MutexGuard<'_, functions::Functions> {
        self.functions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// SCRIPT FLUSH: a new EVAL state without scripts. The old one is freed on another
    /// thread when `in_background` (ASYNC), as Redis frees it lazily.
    pub fn flush_scripts(&self, in_background: bool) -> mlua::Result<()> {
        let fresh = eval::EvalScripts::new(&self.cfg, &self.gate)?;
        let old = std::mem::replace(&mut *self.eval(), fresh);
        if in_background {
            std::thread::spawn(move || drop(old));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
