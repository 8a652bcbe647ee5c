//! Clients blocked on keys (BLPOP, BLMOVE, BLMPOP, BZPOPMIN, ...): who waits on what,
//! and serving them the moment a key gets data — Redis's `blocked.c` for the engine.
//!
//! The engine knows no clients: a waiter is its command (owned arguments), the keys it
//! waits on, the value type that can serve it, a [`ServeFn`] that runs the command's
//! pop against a ready key, and a [`BlockSink`] the server implements to get the reply
//! to the connection.
//!
//! ## When a waiter is served
//!
//! Redis serves blocked clients right after the command that pushed, before any other
//! client runs a command, so an element pushed for a waiter can never be taken by a
//! third client's LPOP. Here the same holds because serving happens inside
//! [`Db::finish`](crate::exec::Db::finish) (and so `Db::commit`), after the pushing
//! command (or EXEC's whole transaction) is journaled but before its shard locks are
//! released: the served pop is journaled right after the push, and no other command
//! can touch the key in between.
//!
//! Which keys are ready: a key *created* holding a list or a sorted set (Redis 7.0
//! signals in `dbAdd`: LPUSH or ZADD on a new key, RENAME/MOVE/COPY/RESTORE/SORT STORE
//! into a free name, LMOVE creating its destination) and what
//! [`Db::signal_ready`](crate::exec::Db::signal_ready) records explicitly. A waiter
//! only ever waits on a key that is missing or of another type (a non-empty list would
//! have served it at once), so creations are all that can wake one. Ready keys are
//! served in the order they were signalled, each key's waiters first come first
//! served, while the key still has elements; a key made ready while serving (BLMOVE
//! creating its destination) is served in a following round, as in Redis.
//!
//! ## Locks
//!
//! A ready key's shard is held (the command wrote the key). A waiter that also writes
//! another key (BLMOVE's destination, its [`BlockSpec::target`]) needs that key's shard
//! too: the Db takes it at once when it is above every shard it holds (the global
//! ascending order is kept, so no deadlock is possible) or when it is free; otherwise
//! the key is served again right after the command's locks are released, under every
//! shard lock. In that one case (a BLMOVE waiter whose destination's shard is below the
//! pusher's and busy at that instant) another client's command may run between the
//! push and the serve and could pop the element first — Redis has no such window.
//!
//! Lock order: shard locks, then this registry's mutex, then a sink's own lock. The
//! registry mutex is never held while a shard lock is taken.
//!
//! ## The API for a blocking command
//!
//! 1. Try the non-blocking path (pop if there is something to pop).
//! 2. Otherwise, if [`may_block`] is false (MULTI, scripts, AOF loading, replication:
//!    no client to park), reply what Redis replies on a timeout and return.
//! 3. Otherwise call [`block`] with a [`BlockSpec`] (its deadline from
//!    [`timeout_arg`], parsed before anything else as Redis does); write no reply. The reply is
//!    written later by the spec's [`ServeFn`] (called with the waiter's database
//!    selected and its reply buffer as `ctx.out`, only when `key` holds the spec's
//!    value type with at least one element), or is the timeout's null array.
//!
//! A `ServeFn` must pop, propagate the pop as Redis does (`ctx.db.propagate`), notify
//! its events and delete the key when it empties it, exactly like the non-blocking
//! path; an error it returns becomes the waiter's reply.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};

use redoubt_resp::request::{Args, OwnedArgs};
use redoubt_resp::{Protocol, ReplyBuf};

use crate::engine::{Engine, Knobs};
use crate::exec::{Access, Changes, CmdError, CmdResult, Ctx, Db};
use crate::keyspace::KeyLoc;
use crate::value::ValueType;

/// Serves one waiter from `key` (which holds the waiter's value type, not empty):
/// `args` are the waiter's command as it was sent; the reply goes to `ctx.out`.
pub type ServeFn = fn(&mut Ctx<'_, '_, '_>, key: &[u8], args: Args<'_>) -> CmdResult;

/// Where a blocked client's reply goes. Implemented by the server for connections.
pub trait BlockSink: Send + Sync {
    /// Receives the reply of the blocked command, exactly once per [`block`]. Called
    /// with shard locks held (by the serving command) or none (timeouts, CLIENT
    /// UNBLOCK): it must only hand the bytes over, never block or lock shards.
    fn deliver(&self, reply: Vec<u8>);
}

/// The client a command runs for, when the command is allowed to block it.
#[derive(Clone)]
pub struct Blocker {
    pub client_id: u64,
    pub sink: Arc<dyn BlockSink>,
}

/// Why a waiter is released other than by data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Its timeout passed, or CLIENT UNBLOCK ... TIMEOUT: the null array.
    Timeout,
    /// CLIENT UNBLOCK ... ERROR.
    Error,
    /// The server became a replica (Redis's `disconnectAllBlockedClients`; the
    /// server closes such clients after the reply).
    Demoted,
}

/// What a command records when it blocked its client (in [`Changes::blocked`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockedOn {
    /// Absolute unix time in ms when the wait times out; None: never.
    pub deadline_ms: Option<i64>,
}

/// What a blocking command waits for.
pub struct BlockSpec<'a> {
    /// The keys to wait on, in the command's order (repeats are ignored).
    pub keys: Vec<&'a [u8]>,
    /// Only a key holding this type serves the waiter (as Redis's `btype`).
    pub value_type: ValueType,
    pub serve: ServeFn,
    /// Another key `serve` writes (BLMOVE's destination), whose shard it needs.
    pub target: Option<&'a [u8]>,
    /// Absolute unix time in ms; 0 waits forever (Redis's timeout convention).
    pub deadline_ms: i64,
}

/// A parked command.
struct Waiter {
    db: usize,
    keys: Vec<Vec<u8>>,
    args: OwnedArgs,
    value_type: ValueType,
    serve: ServeFn,
    target: Option<Vec<u8>>,
    proto: Protocol,
    sink: Arc<dyn BlockSink>,
    /// Whether it has a timeout.
    timed: bool,
}

#[derive(Default)]
struct State {
    /// Waiters by client id (a client blocks on one command at a time).
    waiters: HashMap<u64, Waiter>,
    /// Client ids waiting on each key, oldest first, per database.
    queues: HashMap<usize, HashMap<Vec<u8>, VecDeque<u64>>>,
}

/// The registry of blocked clients.
#[derive(Default)]
pub struct Blocking {
    state: Mutex<State>,
}

/// The most rounds one command's serving may take. Each round serves at least one
/// waiter or ends the loop, so this is only a guard against a bug looping forever.
const MAX_ROUNDS: usize = 1 << 20;

impl Blocking {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of blocked clients.
    pub fn len(&self) -> usize {
        self.lock().waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether client `id` is blocked.
    pub fn is_blocked(&self, id: u64) -> bool {
        self.lock().waiters.contains_key(&id)
    }

    fn register(&self, knobs: &Knobs, id: u64, w: Waiter) {
        let mut s = self.lock();
        if let Some(old) = s.waiters.remove(&id) {
            // A client blocks once at a time; a stale registration is a server bug,
            // and dropping it keeps the queues consistent.
            debug_assert!(false, "client {id} blocked twice");
            unqueue(&mut s, id, &old);
        }
        let queues = s.queues.entry(w.db).or_default();
        for k in &w.keys {
            queues.entry(k.clone()).or_default().push_back(id);
        }
        s.waiters.insert(id, w);
        knobs.blocked.store(s.waiters.len(), Relaxed);
    }

    /// Removes client `id`'s waiter from the registry (served, timed out, unblocked
    /// or disconnected); None if it is not blocked (any more).
    fn take(&self, knobs: &Knobs, id: u64) -> Option<Waiter> {
        let mut s = self.lock();
        let w = s.waiters.remove(&id)?;
        unqueue(&mut s, id, &w);
        knobs.blocked.store(s.waiters.len(), Relaxed);
        Some(w)
    }

    /// The oldest waiter on `key` that a value of type `vt` can serve, and the key its
    /// serve function also writes.
    fn first_for(&self, db: usize, key: &[u8], vt: ValueType) -> Option<(u64, Option<Vec<u8>>)> {
        let s = self.lock();
        let q = s.queues.get(&db)?.get(key)?;
        q.iter().find_map(|id| {
            let w = s.waiters.get(id)?;
            (w.value_type == vt).then(|| (*id, w.target.clone()))
        })
    }

    /// Keys of database `db` that clients wait on (SWAPDB looks for ready ones).
    pub fn keys_in(&self, db: usize) -> Vec<Vec<u8>> {
        self.lock().queues.get(&db).map(|q| q.keys().cloned().collect()).unwrap_or_default()
    }

    /// Releases client `id` without data (timeout, CLIENT UNBLOCK): its sink gets the
    /// null array (Redis replies that to every timed-out key-blocked command) or the
    /// UNBLOCKED error. False if it was not blocked (it may have just been served: its
    /// reply is then on its way).
    pub fn release(&self, knobs: &Knobs, id: u64, why: Release) -> bool {
        let Some(w) = self.take(knobs, id) else { return false };
        let mut out = ReplyBuf::new(w.proto);
        match why {
            Release::Timeout => out.null_array(),
            Release::Error => out.error(b"UNBLOCKED client unblocked via CLIENT UNBLOCK"),
            Release::Demoted => out
                .error(b"UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"),
        }
        w.sink.deliver(out.buf);
        true
    }

    /// Releases every blocked client (for instance with [`Release::Demoted`]); returns
    /// their ids.
    pub fn release_all(&self, knobs: &Knobs, why: Release) -> Vec<u64> {
        let ids: Vec<u64> = self.lock().waiters.keys().copied().collect();
        ids.into_iter().filter(|&id| self.release(knobs, id, why)).collect()
    }

    /// Blocked clients that have a timeout (INFO's `clients_in_timeout_table`).
    pub fn timed(&self) -> usize {
        self.lock().waiters.values().filter(|w| w.timed).count()
    }

    /// Forgets client `id`'s waiter without replying (it disconnected).
    pub fn forget(&self, knobs: &Knobs, id: u64) {
        self.take(knobs, id);
    }
}

fn unqueue(s: &mut State, id: u64, w: &Waiter) {
    if let Some(queues) = s.queues.get_mut(&w.db) {
        for k in &w.keys {
            if let Some(q) = queues.get_mut(k.as_slice()) {
                q.retain(|&x| x != id);
                if q.is_empty() {
                    queues.remove(k.as_slice());
                }
            }
        }
        if queues.is_empty() {
            s.queues.remove(&w.db);
        }
    }
}

/// A blocking command's timeout argument (seconds) as an absolute deadline in unix ms
/// for [`BlockSpec::deadline_ms`] (0: wait forever), with Redis 7.0's errors
/// (`getTimeoutFromObjectOrReply`).
pub fn timeout_arg(a: &[u8], now_ms: i64) -> Result<i64, CmdError> {
    let ms = crate::longdouble::timeout_ms(a).ok_or(CmdError::Static("ERR timeout is not a float or out of range"))?;
    if ms < 0 {
        return Err(CmdError::Static("ERR timeout is negative"));
    }
    // Redis adds the clock in a C long long, which overflows for absurd timeouts and
    // then never fires; saturating gives the same "never".
    Ok(if ms > 0 { now_ms.saturating_add(ms) } else { 0 })
}

/// Whether the running command may park its client (false in MULTI, scripts, AOF
/// loading and replication, where Redis treats an empty key as an immediate timeout).
pub fn may_block(ctx: &Ctx<'_, '_, '_>) -> bool {
    ctx.db.blocker.is_some()
}

/// Parks the running command's client on `spec.keys` (see the module doc). The
/// command writes no reply. Returns false, doing nothing, if the client may not block.
pub fn block(ctx: &mut Ctx<'_, '_, '_>, spec: BlockSpec<'_>, args: Args<'_>) -> bool {
    let Some(blocker) = ctx.db.blocker.clone() else { return false };
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(spec.keys.len());
    for k in spec.keys {
        if !keys.iter().any(|x| x.as_slice() == k) {
            keys.push(k.to_vec());
        }
    }
    let w = Waiter {
        db: ctx.db.index,
        keys,
        args: args.to_owned_args(),
        value_type: spec.value_type,
        serve: spec.serve,
        target: spec.target.map(|t| t.to_vec()),
        proto: ctx.out.proto,
        sink: blocker.sink,
        timed: spec.deadline_ms != 0,
    };
    let engine = ctx.db.engine;
    // Registered while the keys' shards are locked: a push to any of them after this
    // command sees the waiter, and none can have happened in between.
    engine.blocking.register(&engine.knobs, blocker.client_id, w);
    let deadline_ms = (spec.deadline_ms != 0).then_some(spec.deadline_ms);
    ctx.db.set_blocked(BlockedOn { deadline_ms });
    true
}

/// Serves the waiters on the keys the Db's commands made ready, in rounds (Redis's
/// `handleClientsBlockedOnKeys`). Called by `Db::finish` with the command's locks held
/// and its journal entries written. Returns the keys that could not be served because
/// a waiter's target shard was unavailable (see the module doc), for
/// [`serve_deferred`].
pub(crate) fn serve_ready(db: &mut Db<'_>) -> Vec<(usize, Vec<u8>)> {
    let mut deferred: Vec<(usize, Vec<u8>)> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let ready = db.take_ready();
        if ready.is_empty() {
            break;
        }
        let mut seen: HashSet<(usize, Vec<u8>)> = HashSet::new();
        for (index, key) in ready {
            if !seen.insert((index, key.clone())) || deferred.iter().any(|(d, k)| *d == index && *k == key) {
                continue;
            }
            if !serve_key(db, index, &key) {
                deferred.push((index, key));
            }
        }
    }
    deferred
}

/// Serves waiters on one ready key while it holds data of their type. False if it
/// stopped at a waiter whose target shard could not be taken.
fn serve_key(db: &mut Db<'_>, index: usize, key: &[u8]) -> bool {
    let engine = db.engine;
    // Each pass serves a waiter (removing it) or returns: bounded by the waiters.
    loop {
        let vt = match db.find_in(index, key, Access::Peek) {
            Ok(Some(e)) => e.value().value_type(),
            _ => return true,
        };
        let Some((id, target)) = engine.blocking.first_for(index, key, vt) else { return true };
        if let Some(t) = target {
            if !db.hold_shard(KeyLoc::of(&t).shard()) {
                return false;
            }
        }
        // Taken by another thread in the meantime (served through another key, timed
        // out, unblocked): look again.
        let Some(w) = engine.blocking.take(&engine.knobs, id) else { continue };
        serve_one(db, index, key, w);
    }
}

fn serve_one(db: &mut Db<'_>, index: usize, key: &[u8], w: Waiter) {
    let mut out = ReplyBuf::new(w.proto);
    let selected = db.index;
    db.index = index;
    let result = (w.serve)(&mut Ctx { db: &mut *db, out: &mut out }, key, w.args.args());
    db.index = selected;
    if let Err(e) = result {
        out.error(e.as_bytes());
    }
    w.sink.deliver(out.buf);
}

/// Serves keys that [`serve_ready`] had to leave, under every shard lock (taken after
/// the command's own locks were released, so in the global order). Returns what the
/// serving changed.
pub(crate) fn serve_deferred(engine: &Engine, now_ms: i64, keys: Vec<(usize, Vec<u8>)>) -> Changes {
    let mut db = Db::new(engine, engine.keyspace.lock_all(), 0, now_ms);
    for (index, key) in keys {
        db.signal_ready_in(index, &key);
    }
    db.finish()
}

/// After SWAPDB: signals every key of databases `a` and `b` that clients wait on and
/// that now holds a value (Redis's `scanDatabaseForReadyKeys`). Needs every shard.
pub fn signal_swapped(db: &mut Db<'_>, a: usize, b: usize) {
    let engine = db.engine;
    if engine.knobs.blocked.load(Relaxed) == 0 {
        return;
    }
    for index in [a, b] {
        for key in engine.blocking.keys_in(index) {
            if matches!(db.find_in(index, &key, Access::Peek), Ok(Some(_))) {
                db.signal_ready_in(index, &key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::registry::{execute_for, Registry};
    use crate::journal::JournalSink;
    use redoubt_resp::request::OwnedArgs;

    /// A client's mailbox.
    #[derive(Default)]
    struct Mailbox(Mutex<Vec<Vec<u8>>>);

    impl BlockSink for Mailbox {
        fn deliver(&self, reply: Vec<u8>) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(reply);
        }
    }

    impl Mailbox {
        fn take(&self) -> Vec<String> {
            let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
            m.drain(..).map(|r| String::from_utf8_lossy(&r).into_owned()).collect()
        }
    }

    /// The journal as text, one command per line.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<u8>>);

    impl JournalSink for Recorder {
        fn append(&self, bytes: &[u8], _end: u64) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes);
        }
    }

    impl Recorder {
        /// The commands journaled so far (SELECTs left out), as space-joined words.
        fn commands(&self) -> Vec<String> {
            let raw = String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
            let mut out = Vec::new();
            for cmd in raw.split('*').filter(|c| !c.is_empty()) {
                let words: Vec<&str> =
                    cmd.split("\r\n").skip(1).filter(|w| !w.starts_with('$') && !w.is_empty()).collect();
                if words.first() != Some(&"SELECT") {
                    out.push(words.join(" "));
                }
            }
            out
        }
    }

    struct Bench {
        engine: Engine,
        reg: Registry,
        journal: Arc<Recorder>,
    }

    impl Bench {
        fn new() -> Bench {
            let engine = Engine::new(16);
            let journal = Arc::new(Recorder::default());
            engine.journal.attach(journal.clone());
            Bench { engine, reg: Registry::new(), journal }
        }

        /// Runs a command for client `id` (which may block when `sink` is given).
        fn run(&self, id: u64, sink: Option<&Arc<Mailbox>>, parts: &[&str]) -> (String, Changes) {
            let args = OwnedArgs::from_slices(parts.iter().map(|p| p.as_bytes()));
            let r = self.reg.resolve(args.args()).expect("known command");
            let mut out = ReplyBuf::new(Protocol::Resp2);
            let blocker = sink.map(|s| Blocker { client_id: id, sink: s.clone() });
            let (res, changes) =
                execute_for(&self.engine, &r.meta, r.cmd, 0, args.args(), &mut out, crate::clock::now_ms(), blocker);
            if let Err(e) = res {
                out.error(e.as_bytes());
            }
            (String::from_utf8_lossy(&out.buf).into_owned(), changes)
        }
    }

    #[test]
    fn a_push_serves_waiters_in_order_and_journals_their_pops_after_it() {
        let b = Bench::new();
        let (m1, m2) = (Arc::new(Mailbox::default()), Arc::new(Mailbox::default()));
        let (reply, changes) = b.run(1, Some(&m1), &["BLPOP", "q", "0"]);
        assert_eq!(reply, "", "a blocked command writes no reply");
        assert_eq!(changes.blocked, Some(BlockedOn { deadline_ms: None }));
        let (_, changes) = b.run(2, Some(&m2), &["BRPOP", "other", "q", "10"]);
        assert!(changes.blocked.is_some_and(|on| on.deadline_ms.is_some()));
        assert_eq!(b.engine.knobs.blocked.load(Relaxed), 2);
        assert_eq!(b.run(3, None, &["RPUSH", "q", "a", "b", "c"]).0, ":3\r\n");
        assert_eq!(m1.take(), ["*2\r\n$1\r\nq\r\n$1\r\na\r\n"]);
        assert_eq!(m2.take(), ["*2\r\n$1\r\nq\r\n$1\r\nc\r\n"]);
        assert_eq!(b.engine.knobs.blocked.load(Relaxed), 0);
        assert_eq!(b.run(3, None, &["LRANGE", "q", "0", "-1"]).0, "*1\r\n$1\r\nb\r\n");
        assert_eq!(b.journal.commands(), ["RPUSH q a b c", "LPOP q", "RPOP q"]);
    }

    #[test]
    fn blmove_chains_and_blmpop_counts_are_propagated_as_redis_does() {
        let b = Bench::new();
        let (m1, m2) = (Arc::new(Mailbox::default()), Arc::new(Mailbox::default()));
        b.run(1, Some(&m1), &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
        b.run(2, Some(&m2), &["BLMPOP", "0", "1", "dst", "LEFT", "COUNT", "5"]);
        b.run(3, None, &["RPUSH", "src", "x", "y"]);
        assert_eq!(m1.take(), ["$1\r\ny\r\n"]);
        assert_eq!(m2.take(), ["*2\r\n$3\r\ndst\r\n*1\r\n$1\r\ny\r\n"]);
        assert_eq!(b.journal.commands(), ["RPUSH src x y", "LMOVE src dst right left", "LPOP dst 1"]);
        // An immediate BLMOVE is propagated as the LMOVE the client wrote.
        b.run(1, Some(&m1), &["BLMOVE", "src", "dst", "LEFT", "Right", "0"]);
        assert_eq!(b.journal.commands()[3], "LMOVE src dst LEFT Right");
    }

    #[test]
    fn timeouts_unblock_and_a_wrong_destination_release_the_waiter() {
        let b = Bench::new();
        let m = Arc::new(Mailbox::default());
        b.run(7, Some(&m), &["BLPOP", "k", "0"]);
        assert!(b.engine.blocking.is_blocked(7));
        assert!(b.engine.blocking.release(&b.engine.knobs, 7, Release::Timeout));
        assert!(!b.engine.blocking.release(&b.engine.knobs, 7, Release::Timeout), "released once");
        assert_eq!(m.take(), ["*-1\r\n"]);
        b.run(7, Some(&m), &["BLMOVE", "k", "s", "LEFT", "LEFT", "0"]);
        assert!(b.engine.blocking.release(&b.engine.knobs, 7, Release::Error));
        assert_eq!(m.take(), ["-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"]);
        b.run(3, None, &["SET", "s", "string"]);
        b.run(7, Some(&m), &["BLMOVE", "k", "s", "LEFT", "LEFT", "0"]);
        b.run(3, None, &["RPUSH", "k", "v"]);
        assert_eq!(m.take(), ["-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"]);
        assert_eq!(b.run(3, None, &["LLEN", "k"]).0, ":1\r\n", "nothing moved");
        b.run(7, Some(&m), &["BLPOP", "gone", "0"]);
        b.engine.blocking.forget(&b.engine.knobs, 7);
        b.run(3, None, &["RPUSH", "gone", "v"]);
        assert!(m.take().is_empty());
        assert_eq!(b.engine.knobs.blocked.load(Relaxed), 0);
        b.run(7, Some(&m), &["BLPOP", "a", "0"]);
        b.run(8, Some(&m), &["BLPOP", "b", "5"]);
        assert_eq!(b.engine.blocking.timed(), 1);
        let mut released = b.engine.blocking.release_all(&b.engine.knobs, Release::Demoted);
        released.sort_unstable();
        assert_eq!(released, [7, 8]);
        assert_eq!(m.take().len(), 2);
        assert!(b.engine.blocking.is_empty());
    }

    #[test]
    fn timeouts_are_read_as_redis_reads_them() {
        let err = |a: &[u8]| timeout_arg(a, 1000).map_err(|e| e.text().into_owned());
        assert_eq!(err(b"0"), Ok(0));
        assert_eq!(err(b"1.5"), Ok(2500));
        assert_eq!(err(b"0.0001"), Ok(1001));
        assert_eq!(err(b"-0.0001"), Ok(0));
        assert_eq!(err(b"9223372036854775"), Ok(i64::MAX));
        assert_eq!(err(b"-1"), Err("ERR timeout is negative".into()));
        assert_eq!(err(b"inf"), Err("ERR timeout is negative".into()));
        assert_eq!(err(b"abc"), Err("ERR timeout is not a float or out of range".into()));
    }

    /// Two keys, the first in a higher shard than the second.
    fn keys_in_descending_shards() -> (String, String) {
        let shard = |k: &str| KeyLoc::of(k.as_bytes()).shard();
        let names: Vec<String> = (0..1000).map(|i| format!("key{i}")).collect();
        let hi = names.iter().max_by_key(|k| shard(k)).cloned().unwrap_or_default();
        let lo = names.iter().min_by_key(|k| shard(k)).cloned().unwrap_or_default();
        assert!(shard(&hi) > shard(&lo));
        (hi, lo)
    }

    #[test]
    fn a_blmove_whose_destination_shard_is_busy_is_served_after_the_push() {
        let b = Bench::new();
        let m = Arc::new(Mailbox::default());
        let (src, dst) = keys_in_descending_shards();
        b.run(1, Some(&m), &["BLMOVE", &src, &dst, "LEFT", "RIGHT", "0"]);
        // Another command holds the destination's shard (lower than the pusher's), so
        // the pusher cannot take it without risking a deadlock: the waiter is served
        // once the pusher's locks are gone, under every shard lock.
        let held = b.engine.keyspace.lock_shard(KeyLoc::of(dst.as_bytes()).shard());
        std::thread::scope(|s| {
            let pusher = s.spawn(|| b.run(3, None, &["RPUSH", &src, "v"]).0);
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(m.take().is_empty(), "not served while the destination is held");
            drop(held);
            assert_eq!(pusher.join().ok(), Some(":1\r\n".to_string()));
        });
        assert_eq!(m.take(), ["$1\r\nv\r\n"]);
        assert_eq!(b.run(3, None, &["LRANGE", &dst, "0", "-1"]).0, "*1\r\n$1\r\nv\r\n");
        assert_eq!(b.journal.commands()[1], format!("LMOVE {src} {dst} left right"));
        // With the shard free, it is taken at once and served under the push's locks.
        b.run(1, Some(&m), &["BLMOVE", &src, &dst, "LEFT", "RIGHT", "0"]);
        b.run(3, None, &["RPUSH", &src, "w"]);
        assert_eq!(m.take(), ["$1\r\nw\r\n"]);
    }

    #[test]
    fn rename_and_swapdb_make_keys_ready() {
        let b = Bench::new();
        let m = Arc::new(Mailbox::default());
        b.run(3, None, &["RPUSH", "tmp", "v"]);
        b.run(1, Some(&m), &["BLPOP", "k", "0"]);
        b.run(3, None, &["RENAME", "tmp", "k"]);
        assert_eq!(m.take(), ["*2\r\n$1\r\nk\r\n$1\r\nv\r\n"]);
        // A waiter on a key of another type stays; a deleted key changes nothing.
        b.run(1, Some(&m), &["BLPOP", "k", "0"]);
        b.run(3, None, &["SADD", "k", "member"]);
        b.run(3, None, &["DEL", "k"]);
        assert!(m.take().is_empty());
        assert!(b.engine.blocking.is_blocked(1));
        assert_eq!(b.engine.blocking.keys_in(0), [b"k".to_vec()]);
    }
}
