//! The server side of Lua scripting: how a script runs against the keyspace. The Lua
//! side (the VMs, the `redis.*` API, conversions, libraries) is the
//! `redoubt-scripting` crate; this module gives it a [`ScriptHost`] for each run.
//!
//! A script runs on the worker of the client that sent it, as one batch:
//! 1. it enters the gate (`redoubt_scripting::Gate`): every other client's command
//!    now waits in the dispatcher, asynchronously, before it locks anything, or gets
//!    `-BUSY` once the script has run past `busy-reply-threshold`;
//! 2. at its first data command it locks every shard (a script may touch keys it did
//!    not declare) in a batch `Db` ([`Db::new_batch`]), so the commands it runs are
//!    journaled as Redis 7.0 replicates scripts: their effects, several of them
//!    wrapped in MULTI/EXEC;
//! 3. each `redis.call` goes through Redis's script checks ([`ScriptHost::check`]),
//!    then runs in the batch (a data command) or with the batch journaled and its
//!    locks released (a server command, which may lock shards itself, e.g. INFO);
//! 4. the batch ends, its changes are applied (keyspace events, WATCH), the gate opens.
//!
//! Honest note: a command that read the gate as free an instant before the script
//! entered it may then block on a shard lock until the script ends. The window is a
//! few instructions wide; the cost is one worker held for the script's duration (the
//! others keep serving; a slow script hands its worker on, see [`on_slow`]).
//!
//! - [`commands`]: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FCALL, FCALL_RO, FUNCTION
//! - [`dump`]: the FUNCTION DUMP / RESTORE payload

pub mod commands;
pub mod dump;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use redoubt_engine::cmd::registry;
use redoubt_engine::command::flag;
use redoubt_engine::keyspace::KeyLoc;
use redoubt_engine::stats::{self, Stat};
use redoubt_engine::Db;
use redoubt_resp::request::OwnedArgs;
use redoubt_resp::{Protocol, ReplyBuf};
use redoubt_scripting::{Config, LogLevel, Scripting};

use crate::client::{ClientShared, ClientState};
use crate::dispatch::{reply_error, Call, Flow, Handler};
use crate::server::Server;

/// Creates the scripting state (both Lua states). A Lua state that cannot be created
/// at start-up (no memory) is fatal, as it is for Redis.
pub fn new_scripting() -> Scripting {
    Scripting::new(Config { log, on_slow }).unwrap_or_else(|e| {
        crate::warning!("Failed creating the Lua VM: {e}");
        std::process::exit(1)
    })
}

fn log(level: LogLevel, msg: &str) {
    let l = match level {
        LogLevel::Debug => crate::log::Level::Debug,
        LogLevel::Verbose => crate::log::Level::Verbose,
        LogLevel::Notice => crate::log::Level::Notice,
        LogLevel::Warning => crate::log::Level::Warning,
    };
    crate::log::log(l, msg);
}

/// How long a slow script's thread waits for a new thread to take over its worker.
const HANDOFF_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// Called once when a script becomes slow, on the thread running it. Until then the
/// script's worker serves nothing else, as Redis serves nothing during a script; from
/// then on other clients must get `-BUSY` and may SCRIPT KILL. Tokio polls sockets
/// and timers only from a worker parked on its I/O driver, and the other workers may
/// all be asleep on a condition variable, waiting to be told there is work — which
/// nobody would tell them while the script runs. So:
/// - with other workers, spawning two empty tasks wakes one (the second task pushes
///   the first out of this worker's LIFO slot, which notifies a sleeper); it finds
///   nothing much to do and parks again, on the driver this time;
/// - with one worker, there is nobody to wake: the worker's core is handed to a new
///   thread (`block_in_place`, waiting until that thread has started), and the script
///   goes on, on this thread, without it.
fn on_slow() {
    let Ok(h) = tokio::runtime::Handle::try_current() else { return };
    if h.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return;
    }
    if h.metrics().num_workers() > 1 {
        h.spawn(async {});
        h.spawn(async {});
    } else {
        tokio::task::block_in_place(|| std::thread::sleep(HANDOFF_WAIT));
    }
}

/// Commands Redis 7.0 flags `may-replicate` without COMMAND INFO showing it (so the
/// generated metadata lacks it): a read-only script may not run them either.
const MAY_REPLICATE: &[&str] = &["publish", "spublish", "pfcount"];

/// How a script may use the dataset: its flags after EVAL_RO/FCALL_RO.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// EVAL_RO, FCALL_RO, or the `no-writes` flag: writes are refused.
    pub read_only: bool,
    /// The `allow-oom` flag: denyoom commands run even past maxmemory.
    pub allow_oom: bool,
}

/// The server as one script run sees it (Redis's script client and run context).
pub struct ScriptHost<'a> {
    server: &'a Arc<Server>,
    client: &'a Arc<ClientShared>,
    /// The script's own client: its selected database and protocol.
    state: ClientState,
    /// The batch; None until the first command that needs the keyspace, and while a
    /// server command that may lock shards itself runs.
    db: Option<Db<'a>>,
    /// The shards of the keys the script declared (KEYS), ascending.
    declared: Vec<usize>,
    /// The batch locks every shard from now on.
    widened: bool,
    limits: Limits,
    /// Memory was over maxmemory when the script started (Redis's
    /// `pre_command_oom_state`).
    oom_at_start: bool,
    /// The script ran a write command: no OOM or replica check stops it any more, and
    /// it can no longer be killed.
    dirty: bool,
    /// `redis.set_repl`, read through the Lua state's shared flags.
    shared: std::rc::Rc<redoubt_scripting::vm::Shared>,
    now_ms: i64,
}

impl<'a> ScriptHost<'a> {
    /// A run for a script of `client`, whose selected database is `db`.
    pub fn new(
        server: &'a Arc<Server>,
        client: &'a Arc<ClientShared>,
        db: usize,
        keys: &[&[u8]],
        limits: Limits,
        shared: std::rc::Rc<redoubt_scripting::vm::Shared>,
    ) -> ScriptHost<'a> {
        let now_ms = redoubt_engine::clock::now_ms();
        let mut state = ClientState::new(true);
        state.db = db;
        let maxmemory = server.engine.knobs.maxmemory.load(Relaxed);
        let oom_at_start = maxmemory > 0 && redoubt_engine::memory::used_bytes() as u64 > maxmemory;
        let mut declared: Vec<usize> = keys.iter().map(|k| KeyLoc::of(k).shard()).collect();
        declared.sort_unstable();
        declared.dedup();
        // Nothing is locked yet: see `lock_for`.
        ScriptHost {
            server,
            client,
            state,
            db: None,
            declared,
            widened: false,
            limits,
            oom_at_start,
            dirty: false,
            shared,
            now_ms,
        }
    }

    /// Makes sure the batch holds the shards `needed` (None: all of them). The first
    /// command locks the shards of the keys the script declared when they cover it —
    /// the cheap common case, as scripts should declare their keys — else every
    /// shard. A command outside a declared set widens it to every shard: the batch so
    /// far is journaled and released first (locks are only ever taken in ascending
    /// order, all at once), so such a script's effects reach the journal as two
    /// MULTI/EXEC blocks; other clients still cannot run in between (the gate).
    fn lock_for(&mut self, needed: Option<Vec<usize>>) {
        if let Some(db) = &mut self.db {
            let held = match &needed {
                None => db.locked().is_all(),
                Some(shards) => shards.iter().all(|&s| db.holds(s)),
            };
            if held {
                return;
            }
            self.release();
            self.widened = true;
        }
        let engine = &self.server.engine;
        let declared_cover = needed.as_ref().is_some_and(|n| n.iter().all(|s| self.declared.binary_search(s).is_ok()));
        let locked = if declared_cover && !self.widened {
            engine.keyspace.lock_shards(&mut self.declared.clone())
        } else {
            self.widened = true;
            engine.keyspace.lock_all()
        };
        self.db = Some(Db::new_batch(engine, locked, self.state.db, self.now_ms));
    }

    /// Journals the batch so far, releases its locks and applies what it changed.
    fn release(&mut self) {
        if let Some(db) = self.db.take() {
            self.server.apply_changes(db.finish());
        }
    }

    /// Ends the run: the batch is journaled and its changes applied.
    pub fn finish(mut self) {
        self.release();
    }

    /// Redis's checks before a script runs a command (`scriptCall`), in its order.
    fn check(&self, cmd: &crate::dispatch::Command, argc: usize) -> Result<(), String> {
        if !cmd.meta.arity_ok(argc) {
            return Err("ERR Wrong number of args calling Redis command from script".into());
        }
        if cmd.meta.has(flag::NOSCRIPT) {
            return Err("ERR This Redis command is not allowed from script".into());
        }
        let writes = cmd.meta.has(flag::WRITE);
        let may_replicate = cmd.meta.has(flag::MAY_REPLICATE) || MAY_REPLICATE.contains(&cmd.name());
        if self.limits.read_only && (writes || may_replicate) {
            return Err("ERR Write commands are not allowed from read-only scripts.".into());
        }
        if writes && !self.dirty {
            if self.server.engine.knobs.is_replica.load(Relaxed) && self.server.config.get_bool("replica-read-only") {
                return Err("READONLY You can't write against a read only replica.".into());
            }
            if let Some(e) = crate::persistence::write_error(self.server) {
                return Err(e.text().into_owned());
            }
        }
        if !self.limits.allow_oom && !self.dirty && self.oom_at_start && cmd.meta.has(flag::DENYOOM) {
            return Err("OOM command not allowed when used memory > 'maxmemory'.".into());
        }
        Ok(())
    }
}

impl redoubt_scripting::Host for ScriptHost<'_> {
    fn call(&mut self, argv: &[Vec<u8>], resp3: bool, out: &mut ReplyBuf) -> Result<(), String> {
        const UNKNOWN: &str = "ERR Unknown Redis command called from script";
        let owned = OwnedArgs::from_slices(argv.iter().map(|a| a.as_slice()));
        let args = owned.args();
        let top = self.server.commands.get(args.get(0)).ok_or(UNKNOWN)?;
        let cmd = match crate::dispatch::resolve_subcommand(top, args) {
            Ok(c) => c,
            // A container named alone fails its arity; an unknown subcommand is unknown.
            Err(_) if args.len() < 2 => top,
            Err(_) => return Err(UNKNOWN.into()),
        };
        self.check(cmd, args.len())?;
        if cmd.meta.has(flag::WRITE) && !self.dirty {
            self.dirty = true;
            self.server.scripting.gate.mark_dirty();
        }
        self.state.proto = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
        let start = Instant::now();
        let result = match &cmd.handler {
            Handler::Data(d) => {
                self.lock_for(registry::shards_for(&cmd.meta, d.lock, args));
                match self.db.as_mut() {
                    Some(db) => {
                        db.index = self.state.db;
                        let r = registry::execute_in(db, d, args, out);
                        if self.shared.propagate() {
                            db.end_command(args);
                        } else {
                            // redis.set_repl(redis.REPL_NONE): applied, not journaled.
                            db.propagate_nothing();
                            db.end_command(args);
                        }
                        r
                    }
                    None => Err(redoubt_engine::exec::err::NOT_LOCKED),
                }
            }
            Handler::Server(h) => {
                // One that may take shard locks of its own (INFO...) runs with the
                // batch journaled and released; the others (SELECT, PING, TIME...) run
                // inside it, so the script's effects stay one MULTI/EXEC block.
                let under_locks = crate::multi::UNDER_LOCKS.contains(&cmd.name());
                if !under_locks {
                    self.release();
                }
                let mut c = Call {
                    server: self.server,
                    state: &mut self.state,
                    client: self.client,
                    args,
                    out: &mut *out,
                    cmd,
                    flow: Flow::Continue,
                };
                h(&mut c)
            }
            Handler::Container => Err(registry::arity_error(cmd.name())),
        };
        if let Err(e) = &result {
            reply_error(out, e);
        }
        stats::record_call(cmd.id, start.elapsed().as_micros() as u64, result.is_err());
        if self.server.clients.monitors.load(Relaxed) > 0 && !cmd.meta.has(flag::SKIP_MONITOR) {
            crate::cmd::monitor::feed_as(self.server, 0, self.state.db, "lua", args);
        }
        Ok(())
    }

    fn acl_check(&mut self, argv: &[Vec<u8>]) -> Option<bool> {
        // Only the default user exists, and it may run everything.
        let top = self.server.commands.get(&argv[0])?;
        let owned = OwnedArgs::from_slices(argv.iter().map(|a| a.as_slice()));
        match crate::dispatch::resolve_subcommand(top, owned.args()) {
            Ok(_) => Some(true),
            Err(_) if argv.len() < 2 => Some(true),
            Err(_) => None,
        }
    }
}

/// Counts the error replies a script produced that no command counted already
/// (Redis's `ignore_error_stats_update`).
pub fn count_errors(texts: &[Vec<u8>]) {
    for t in texts {
        stats::incr(Stat::TotalErrorReplies);
        stats::record_error(t.split(|&b| b == b' ').next().unwrap_or(b"ERR"));
    }
}
