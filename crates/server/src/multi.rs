//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis's `multi.c`).
//!
//! After MULTI, the dispatcher queues every command ([`queue`]) instead of running it,
//! except EXEC, DISCARD, MULTI, WATCH, QUIT and RESET; a command refused while queuing
//! (unknown, wrong arity, OOM, ...) flags the transaction ([`reject`]) and EXEC then
//! discards it with EXECABORT. The registry of WATCHed keys lives in `watch.rs`.
//!
//! Inside EXEC nothing blocks: data commands run on a batch `Db` with no blocker
//! (BLPOP answers as if timed out), and server commands ask [`denies_blocking`].
//!
//! EXEC is atomic across shards: it locks the union of the shards every queued data
//! command needs (and those of the watched keys, to check them) in one ascending
//! sweep — every shard if a command's keys cannot be known in advance — and runs the
//! commands in order under that one lock set, through the dispatcher's `call` (stats,
//! SLOWLOG, MONITOR as for any command). The batch's journal entries are appended as
//! one block, in MULTI/EXEC when there are several, as Redis 7.0 propagates them.
//!
//! Server commands in a transaction run under the same locks when they cannot take a
//! shard lock themselves ([`UNDER_LOCKS`]). Any other (INFO, DEBUG, EVAL, CONFIG, ...)
//! may lock shards on its own, which would deadlock against the batch's locks, so the
//! batch journals what it has done and releases its locks around it. Such a command
//! is atomic by itself, but another client may run between it and its neighbours:
//! the one place where a Redoubt transaction is weaker than Redis's.
//!
//! Bound: a queue holds at most `client-query-buffer-limit` bytes (arguments plus a
//! fixed cost per command): the queue is a client's input held for later, so the bound
//! on its pending input applies (1 GB by default). Redis has no limit of its own (the
//! queue only counts in `multi-mem` and client eviction); past this one the
//! transaction is refused and its queue freed.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use redoubt_engine::cmd::registry::{self, shards_for};
use redoubt_engine::cmd::DataCommand;
use redoubt_engine::command::{flag, CommandMeta};
use redoubt_engine::exec::{err, Changes};
use redoubt_engine::keyspace::{KeyLoc, Locked, SHARDS};
use redoubt_engine::{CmdError, CmdResult, Db, Engine};
use redoubt_resp::request::{Args, OwnedArgs};
use redoubt_resp::ReplyBuf;

use crate::client::{ClientShared, ClientState};
use crate::dispatch::{Call, Command, Flow, Handler, ServerCommand};
use crate::server::Server;
use crate::watch::ClientWatches;

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "multi", handler: multi },
    ServerCommand { name: "exec", handler: exec },
    ServerCommand { name: "discard", handler: discard },
    ServerCommand { name: "watch", handler: watch },
    ServerCommand { name: "unwatch", handler: unwatch },
];

/// What a queued command costs besides its argument bytes: its queue slot and its
/// argument table (Redis's `multi-mem` counts the same kind of overhead).
const QUEUED_COMMAND_BYTES: usize = 64;

/// Server commands that never lock a shard (nor block), so EXEC may run them while it
/// holds the transaction's locks.
pub(crate) const UNDER_LOCKS: &[&str] = &[
    "ping",
    "echo",
    "select",
    "time",
    "lastsave",
    "publish",
    "spublish",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "pubsub|channels",
    "pubsub|numsub",
    "pubsub|numpat",
    "pubsub|shardchannels",
    "pubsub|shardnumsub",
    "pubsub|help",
    "client|id",
    "client|info",
    "client|list",
    "client|getname",
    "client|setname",
    "client|reply",
    "client|no-evict",
    "command|count",
    "command|info",
    "command|docs",
    "command|list",
    "command|getkeys",
    "command|getkeysandflags",
    "config|get",
    "slowlog|get",
    "slowlog|len",
    "slowlog|reset",
    // The WATCH registry is taken after shard locks, in that order everywhere.
    "unwatch",
];

const EXECABORT: CmdError = CmdError::Static("EXECABORT Transaction discarded because of previous errors.");

/* ---- STATE ---- */

/// A connection's transaction state (kept in its `ClientState`).
#[derive(Default, Debug)]
pub struct Transaction {
    /// Some between MULTI and EXEC/DISCARD (Redis's `CLIENT_MULTI`).
    queue: Option<Queue>,
    /// The keys this client WATCHes.
    pub watches: ClientWatches,
    /// True while EXEC runs the queue: blocking commands must not block (Redis's
    /// `CLIENT_DENY_BLOCKING`).
    executing: bool,
    /// Journal entries of server commands that propagate (PUBLISH) run by EXEC, for
    /// the transaction's block.
    propagated: Vec<(usize, OwnedArgs)>,
}

/// The commands queued since MULTI.
#[derive(Default)]
struct Queue {
    commands: Vec<Queued>,
    /// Commands accepted, stored or not (CLIENT LIST's `multi=`).
    count: usize,
    bytes: usize,
    /// A command was refused: EXEC will discard (Redis's `CLIENT_DIRTY_EXEC`).
    aborted: bool,
    /// The union of the queued commands' flags (EXEC is a write if one of them is).
    flags: u32,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Queue({} commands, {} bytes, aborted: {})", self.count, self.bytes, self.aborted)
    }
}

struct Queued {
    cmd: Arc<Command>,
    args: OwnedArgs,
}

/// True between MULTI and EXEC/DISCARD.
pub fn in_multi(state: &ClientState) -> bool {
    state.tx.queue.is_some()
}

/// True while EXEC runs its queue: a blocking command must answer as if it timed out
/// at once, as Redis's commands do under `CLIENT_DENY_BLOCKING`.
pub fn denies_blocking(state: &ClientState) -> bool {
    state.tx.executing
}

/* ---- QUEUING ---- */

/// True when `cmd` must be queued rather than run.
pub fn queues(state: &ClientState, cmd: &Command) -> bool {
    in_multi(state) && !matches!(cmd.name(), "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

/// Whether `cmd` is refused under maxmemory pressure: in a transaction every queued
/// command is (queuing would grow memory), and EXEC is when it holds one that is.
pub fn denied_on_oom(state: &ClientState, cmd: &Command) -> bool {
    let Some(q) = &state.tx.queue else { return false };
    match cmd.name() {
        "exec" => q.flags & flag::DENYOOM != 0,
        "discard" | "quit" | "reset" => false,
        _ => true,
    }
}

/// For EXEC, the union of the queued commands' flags (0 otherwise): Redis treats a
/// transaction as a write, for CLIENT PAUSE WRITE, when it holds one.
pub fn exec_flags(state: &ClientState, cmd: &Command) -> u32 {
    match &state.tx.queue {
        Some(q) if cmd.name() == "exec" => q.flags,
        _ => 0,
    }
}

/// Queues `cmd` and answers QUEUED.
pub fn queue(
    server: &Server,
    state: &mut ClientState,
    client: &ClientShared,
    cmd: &Arc<Command>,
    args: Args,
    out: &mut ReplyBuf,
) {
    let Some(q) = state.tx.queue.as_mut() else { return };
    let cost = args.iter().map(|a| a.len()).sum::<usize>() + QUEUED_COMMAND_BYTES;
    let limit = server.knobs.query_buffer_limit.load(Relaxed);
    if q.bytes + cost > limit {
        // The transaction cannot succeed any more; free what it holds now.
        q.aborted = true;
        q.commands = Vec::new();
        q.bytes = 0;
        let e = CmdError::Owned(format!(
            "ERR Transaction discarded: its queued commands exceed client-query-buffer-limit ({limit} bytes)"
        ));
        crate::dispatch::reply_error(out, &e);
        client.multi_mem.store(0, Relaxed);
        return;
    }
    q.count += 1;
    q.flags |= cmd.meta.flags;
    // Once refused, a transaction only needs its count: EXEC will discard it anyway.
    if !q.aborted {
        q.commands.push(Queued { cmd: cmd.clone(), args: args.to_owned_args() });
        q.bytes += cost;
    }
    client.multi.store(q.count as i64, Relaxed);
    client.multi_mem.store(q.bytes, Relaxed);
    out.simple(b"QUEUED");
}

/// A command refused before it could run or be queued (Redis's `rejectCommand`):
/// flags the transaction so that EXEC discards it. A refused EXEC discards the
/// transaction (and the watches) at once and says why (`execCommandAbort`), in MULTI or
/// not, as Redis does. Returns the error to reply.
pub fn reject(server: &Server, state: &mut ClientState, client: &ClientShared, name: &str, e: CmdError) -> CmdError {
    if name != "exec" {
        if let Some(q) = state.tx.queue.as_mut() {
            q.aborted = true;
        }
        return e;
    }
    end(server, state, client);
    let text = e.text();
    CmdError::Owned(format!(
        "EXECABORT Transaction discarded because of: {}",
        text.strip_prefix("ERR ").unwrap_or(&text)
    ))
}

/// Ends the transaction state: no queue, no watches (after EXEC, DISCARD, RESET and on
/// disconnection).
pub fn end(server: &Server, state: &mut ClientState, client: &ClientShared) {
    state.tx.queue = None;
    state.tx.propagated.clear();
    server.watches.unwatch_all(&server.engine, &mut state.tx.watches);
    client.multi.store(-1, Relaxed);
    client.multi_mem.store(0, Relaxed);
}

/* ---- PROPAGATION ---- */

/// Journals a server command that propagates (PUBLISH, SPUBLISH) as run in the
/// selected database; inside EXEC it joins the transaction's block instead.
pub fn propagate(server: &Server, state: &mut ClientState, args: Args) {
    if !server.engine.journal.enabled() {
        return;
    }
    if state.tx.executing {
        state.tx.propagated.push((state.db, args.to_owned_args()));
    } else {
        server.engine.journal.append(state.db, args);
    }
}

/* ---- EXECUTION ---- */

/// Runs a queued data command in EXEC's batch `db`, whose locks must cover it; returns
/// its outcome and what it changed. A command outside the locks (a miscomputed lock
/// set) gets an error, never a panic.
pub fn execute_queued(
    db: &mut Db<'_>,
    meta: &CommandMeta,
    cmd: &DataCommand,
    index: usize,
    args: Args,
    out: &mut ReplyBuf,
) -> (CmdResult, Changes) {
    let covered = match shards_for(meta, cmd.lock, args) {
        None => (0..SHARDS).all(|s| db.holds(s)),
        Some(shards) => shards.iter().all(|&s| db.holds(s)),
    };
    if !covered {
        return (Err(err::NOT_LOCKED), Changes::default());
    }
    db.index = index;
    let result = registry::execute_in(db, cmd, args, out);
    db.end_command(args);
    (result, db.take_changes())
}

/// The shards EXEC locks: those of every queued data command and of every watched
/// key; None (every shard) if a command's keys cannot be known in advance.
fn lock_set(commands: &[Queued], watches: &ClientWatches) -> Option<Vec<usize>> {
    let mut shards = Vec::new();
    for q in commands {
        if let Handler::Data(d) = &q.cmd.handler {
            shards.extend(shards_for(&q.cmd.meta, d.lock, q.args.args())?);
        }
    }
    shards.extend(watches.keys().map(|(_, k)| KeyLoc::of(k).shard()));
    Some(shards)
}

fn lock<'e>(engine: &'e Engine, shards: &Option<Vec<usize>>) -> Locked<'e> {
    match shards {
        None => engine.keyspace.lock_all(),
        Some(s) => engine.keyspace.lock_shards(&mut s.clone()),
    }
}

/// Runs the queue of an EXEC (its transaction state is ended by the caller).
fn run(c: &mut Call, queue: Queue) -> CmdResult {
    if queue.aborted {
        return Err(EXECABORT);
    }
    let server = c.server;
    if c.state.tx.watches.is_dirty() {
        c.out.null_array();
        return Ok(());
    }
    let engine = &server.engine;
    let shards = lock_set(&queue.commands, &c.state.tx.watches);
    let now = redoubt_engine::clock::now_ms();
    let mut batch = Db::new_batch(engine, lock(engine, &shards), c.state.db, now);
    let watches = &c.state.tx.watches;
    if watches.is_dirty() || (!watches.is_empty() && server.watches.any_expired(watches, &mut batch)) {
        // Nothing ran, so dropping the batch journals nothing.
        drop(batch);
        c.out.null_array();
        return Ok(());
    }
    // Unwatched before running, as Redis does: the transaction's own writes must not
    // flag it, and there is no point in tracking the keys any more.
    server.watches.unwatch_all(engine, &mut c.state.tx.watches);
    c.out.array(queue.commands.len());
    c.state.tx.executing = true;
    let mut batch = Some(batch);
    for q in &queue.commands {
        let under_locks = matches!(q.cmd.handler, Handler::Data(_)) || UNDER_LOCKS.contains(&q.cmd.name());
        match (under_locks, batch.is_some()) {
            (false, true) => {
                if let Some(b) = batch.take() {
                    server.apply_changes(b.finish());
                }
            }
            (true, false) => batch = Some(Db::new_batch(engine, lock(engine, &shards), c.state.db, now)),
            _ => {}
        }
        let flow = crate::dispatch::call(server, c.state, c.client, &q.cmd, q.args.args(), c.out, now, batch.as_mut());
        for (index, args) in c.state.tx.propagated.drain(..) {
            match batch.as_mut() {
                Some(b) => {
                    b.propagate(index, args);
                    b.end_command(OwnedArgs::default().args());
                }
                None => engine.journal.append(index, args.args()),
            }
        }
        // A command that closes the connection (CLIENT KILL of itself) takes effect
        // after the EXEC reply; nothing inside EXEC may ask for a retry.
        if matches!(flow, Flow::Close | Flow::Shutdown) {
            c.flow = flow;
        }
    }
    c.state.tx.executing = false;
    if let Some(b) = batch {
        server.apply_changes(b.finish());
    }
    Ok(())
}

/* ---- COMMANDS ---- */

fn multi(c: &mut Call) -> CmdResult {
    if in_multi(c.state) {
        return Err(CmdError::Static("ERR MULTI calls can not be nested"));
    }
    c.state.tx.queue = Some(Queue::default());
    c.client.multi.store(0, Relaxed);
    c.out.ok();
    Ok(())
}

fn exec(c: &mut Call) -> CmdResult {
    let Some(queue) = c.state.tx.queue.take() else {
        return Err(CmdError::Static("ERR EXEC without MULTI"));
    };
    let result = run(c, queue);
    end(c.server, c.state, c.client);
    result
}

fn discard(c: &mut Call) -> CmdResult {
    if !in_multi(c.state) {
        return Err(CmdError::Static("ERR DISCARD without MULTI"));
    }
    end(c.server, c.state, c.client);
    c.out.ok();
    Ok(())
}

fn watch(c: &mut Call) -> CmdResult {
    if in_multi(c.state) {
        return Err(CmdError::Static("ERR WATCH inside MULTI is not allowed"));
    }
    // Already failed: no point in watching more (Redis does the same).
    if !c.state.tx.watches.is_dirty() {
        let now = redoubt_engine::clock::now_ms();
        for key in c.args.iter().skip(1) {
            c.server.watches.watch(&c.server.engine, &mut c.state.tx.watches, c.state.db, key, now);
        }
    }
    c.out.ok();
    Ok(())
}

fn unwatch(c: &mut Call) -> CmdResult {
    c.server.watches.unwatch_all(&c.server.engine, &mut c.state.tx.watches);
    c.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redoubt_engine::cmd::registry::Registry;

    /// Runs `commands` as one EXEC batch on `engine`; returns what the journal got.
    fn batch(engine: &Engine, reg: &Registry, commands: &[&[&str]]) -> String {
        let before = engine.journal.offset();
        let now = redoubt_engine::clock::now_ms();
        let mut db = Db::new_batch(engine, engine.keyspace.lock_all(), 0, now);
        for parts in commands {
            let args = OwnedArgs::from_slices(parts.iter().map(|p| p.as_bytes()));
            let r = reg.resolve(args.args()).expect("a data command");
            let mut out = ReplyBuf::new(redoubt_resp::Protocol::Resp2);
            let (result, _) = execute_queued(&mut db, &r.meta, r.cmd, 0, args.args(), &mut out);
            assert!(result.is_ok(), "{parts:?}: {result:?}");
        }
        db.finish();
        let bytes = engine.journal.read_from(before, usize::MAX).expect("journal bytes");
        String::from_utf8_lossy(&bytes).replace("\r\n", " ")
    }

    #[test]
    fn exec_journals_like_redis_7_0() {
        let engine = Engine::new(16);
        engine.journal.set_enabled(true);
        let reg = Registry::new();
        // Several writes: one MULTI/EXEC block; reads leave no trace.
        assert_eq!(
            batch(&engine, &reg, &[&["SET", "a", "1"], &["GET", "a"], &["INCR", "a"]]),
            "*2 $6 SELECT $1 0 *1 $5 MULTI *3 $3 SET $1 a $1 1 *2 $4 INCR $1 a *1 $4 EXEC "
        );
        // A single write is not wrapped; nothing written, nothing journaled.
        assert_eq!(batch(&engine, &reg, &[&["GET", "a"], &["INCR", "a"]]), "*2 $4 INCR $1 a ");
        assert_eq!(batch(&engine, &reg, &[&["GET", "a"], &["INCR", "nosuch"]]), "*2 $4 INCR $6 nosuch ");
        assert_eq!(batch(&engine, &reg, &[&["GET", "a"]]), "");
        // Rewritten propagation (SET EX becomes SET PXAT) stays inside the block.
        let j = batch(&engine, &reg, &[&["SET", "e", "v", "EX", "100"], &["DEL", "a"]]);
        assert!(j.starts_with("*1 $5 MULTI *5 $3 SET $1 e $1 v $4 PXAT $13 "), "{j}");
        assert!(j.ends_with("*2 $3 DEL $1 a *1 $4 EXEC "), "{j}");
        // An expired key's deletion is part of the block, where it happened; alone, it
        // is not wrapped.
        batch(&engine, &reg, &[&["SET", "q", "1", "PX", "1"], &["SET", "w", "1", "PX", "1"]]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(
            batch(&engine, &reg, &[&["SET", "r", "1"], &["GET", "q"], &["SET", "s", "1"]]),
            "*1 $5 MULTI *3 $3 SET $1 r $1 1 *2 $3 DEL $1 q *3 $3 SET $1 s $1 1 *1 $4 EXEC "
        );
        assert_eq!(batch(&engine, &reg, &[&["GET", "w"]]), "*2 $3 DEL $1 w ");
    }

    #[test]
    fn a_command_outside_the_batch_locks_is_an_error() {
        let engine = Engine::new(16);
        let reg = Registry::new();
        let mut db = Db::new_batch(&engine, engine.keyspace.lock_keys([&b"a"[..]]), 0, 0);
        let args = OwnedArgs::from_slices([&b"SET"[..], b"some-other-key", b"v"]);
        let r = reg.resolve(args.args()).expect("SET");
        let mut out = ReplyBuf::new(redoubt_resp::Protocol::Resp2);
        let (result, _) = execute_queued(&mut db, &r.meta, r.cmd, 0, args.args(), &mut out);
        let other_shard = KeyLoc::of(b"some-other-key").shard() != KeyLoc::of(b"a").shard();
        assert_eq!(result.is_err(), other_shard);
        // A whole-keyspace command needs every shard.
        let args = OwnedArgs::from_slices([&b"DBSIZE"[..]]);
        let r = reg.resolve(args.args()).expect("DBSIZE");
        let (result, _) = execute_queued(&mut db, &r.meta, r.cmd, 0, args.args(), &mut out);
        assert_eq!(result, Err(err::NOT_LOCKED));
    }
}
