//! The execution context of one command: [`Ctx`] (the reply buffer and the keyspace
//! view) and [`Db`], through which every read and write of a key goes, so that lazy
//! expiry, the LRU/LFU clock, hit/miss counters, the dirty counter and the journal are
//! handled in one place and no command can forget them.
//!
//! A `Db` holds the shard locks the dispatcher took for the command; a key outside
//! them is a bug in the command's key spec, reported as an error, never a deadlock.

use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;

use redoubt_resp::request::{Args, OwnedArgs};
use redoubt_resp::ReplyBuf;

use crate::clock::{lfu_init, lfu_touch, lru_clock};
use crate::dict::Dict;
use crate::engine::Engine;
use crate::entry::{Entry, EntryMut, EntryRef};
use crate::keyspace::{KeyLoc, Locked, ShardDb};
use crate::notify;
use crate::stats::{self, Stat};
use crate::value::{NewValue, Object, StrRef, ValueRef};

/// An error reply: its full text after the `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    Static(&'static str),
    Owned(String),
    /// A text that quotes client bytes which need not be UTF-8 (unknown command names).
    Bytes(Vec<u8>),
}

impl CmdError {
    /// The reply's text, byte for byte.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            CmdError::Static(s) => s.as_bytes(),
            CmdError::Owned(s) => s.as_bytes(),
            CmdError::Bytes(b) => b,
        }
    }

    /// The text for logs and tests (bytes that are not UTF-8 shown as U+FFFD).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.as_bytes())
    }
}

impl From<String> for CmdError {
    fn from(s: String) -> Self {
        CmdError::Owned(s)
    }
}

pub type CmdResult = Result<(), CmdError>;

/// Error texts shared by many commands, exactly as Redis 7.0 words them.
pub mod err {
    use super::CmdError::{self, Static};
    pub const WRONGTYPE: CmdError = Static("WRONGTYPE Operation against a key holding the wrong kind of value");
    pub const NOT_INTEGER: CmdError = Static("ERR value is not an integer or out of range");
    pub const NOT_FLOAT: CmdError = Static("ERR value is not a valid float");
    pub const SYNTAX: CmdError = Static("ERR syntax error");
    pub const OVERFLOW: CmdError = Static("ERR increment or decrement would overflow");
    pub const NO_SUCH_KEY: CmdError = Static("ERR no such key");
    pub const DB_RANGE: CmdError = Static("ERR DB index is out of range");
    pub const STRING_TOO_BIG: CmdError = Static("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    pub const NOT_LOCKED: CmdError = Static("ERR internal error: key outside the command's locked shards");
    pub const INDEX_RANGE: CmdError = Static("ERR index out of range");
    pub const OOM: CmdError = Static("OOM command not allowed when used memory > 'maxmemory'.");
}

/// How a lookup treats the key's statistics and clock (Redis's `LOOKUP_*` flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// A read: counts a hit or miss and touches the LRU/LFU clock.
    Read,
    /// A read that counts a hit or miss but leaves the clock (TYPE, TTL, EXISTS).
    ReadNoTouch,
    /// As `ReadNoTouch`, without the `keymiss` event (OBJECT: Redis's `LOOKUP_NONOTIFY`).
    ReadQuiet,
    /// A lookup before a write: touches the clock, no hit/miss. A value changed in
    /// place (`EntryMut::object_mut`) must have been looked up this way first: that is
    /// where a running snapshot takes the slot as it was (`crate::snapshot`).
    Write,
    /// Neither (internal checks).
    Peek,
}

impl Access {
    fn counts(self) -> bool {
        matches!(self, Access::Read | Access::ReadNoTouch | Access::ReadQuiet)
    }
    fn touches(self) -> bool {
        matches!(self, Access::Read | Access::Write)
    }
}

/// What SET-like writes do with an existing expiry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Expiry {
    /// Drop it (plain SET).
    Clear,
    /// Keep it (KEEPTTL, and in-place changes such as APPEND or INCR).
    Keep,
    /// Set it to this absolute unix time in milliseconds.
    At(i64),
}

/// A keyspace event (Redis's `notifyKeyspaceEvent`): its class flag (`notify::*` in
/// the server's config), its name (`set`, `del`, `expired`, ...), database and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    pub class: u32,
    pub event: &'static str,
    pub db: usize,
    pub key: Vec<u8>,
}

/// What a command changed, for the server to act on once its locks are released:
/// blocked clients to serve, notifications to publish. Each list is filled only while
/// someone needs it (`Knobs::watching`, `Knobs::blocked`, `Knobs::notify_flags`), so
/// the hot path records nothing.
///
/// WATCH cannot wait for the locks to go (a transaction taking them next must see its
/// watch broken already): the engine's `Observer` hears of each touched key at once.
/// `touched` and `touched_dbs` keep the same record for anything that can act later.
#[derive(Debug, Default)]
pub struct Changes {
    /// Changes made (Redis's `server.dirty` delta).
    pub dirty: u64,
    /// Keys modified, as `(db, key)`.
    pub touched: Vec<(usize, Vec<u8>)>,
    /// Databases changed wholesale (FLUSHDB, FLUSHALL, SWAPDB).
    pub touched_dbs: Vec<usize>,
    pub events: Vec<KeyEvent>,
    /// Set when the command parked its client (`blocking::block`): it wrote no reply;
    /// the reply reaches the client's `BlockSink` when the wait ends.
    pub blocked: Option<crate::blocking::BlockedOn>,
}

impl Changes {
    /// Adds what `other` changed to these changes.
    pub fn merge(&mut self, other: Changes) {
        self.dirty += other.dirty;
        self.touched.extend(other.touched);
        self.touched_dbs.extend(other.touched_dbs);
        self.events.extend(other.events);
        self.blocked = self.blocked.or(other.blocked);
    }
}

thread_local! {
    /// True while this thread applies a command from our master (a replica's link):
    /// logically expired keys are then still there for it.
    static FROM_MASTER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the commands this thread runs until the guard is dropped as coming from
/// our master (see [`FROM_MASTER`]).
pub fn from_master() -> FromMaster {
    FROM_MASTER.with(|f| f.set(true));
    FromMaster(())
}

/// [`from_master`]'s guard.
pub struct FromMaster(());

impl Drop for FromMaster {
    fn drop(&mut self) {
        FROM_MASTER.with(|f| f.set(false));
    }
}

/// Keyspace access for one command.
pub struct Db<'a> {
    pub engine: &'a Engine,
    locked: Locked<'a>,
    /// The client's selected database.
    pub index: usize,
    /// The command's clock: one reading per command, as Redis's `commandTimeSnapshot`.
    pub now_ms: i64,
    /// Changes made so far (Redis's `server.dirty` delta).
    pub dirty: u64,
    /// Journal entries produced so far: expired-key deletions, custom propagation.
    effects: Vec<(usize, OwnedArgs)>,
    /// True when the command replaced its own propagation with [`Db::propagate`].
    custom_propagation: bool,
    /// A key already hashed by the dispatcher (its address, length and location).
    hint: Option<(usize, usize, KeyLoc)>,
    changes: Changes,
    /// For a batch ([`Db::new_batch`]): the journal entries of its commands so far,
    /// appended as one block by [`Db::finish`].
    block: Option<Vec<(usize, OwnedArgs)>>,
    /// The client this command may park (`blocking::block`); None runs blocking
    /// commands in their non-blocking form (MULTI, scripts, loading, replication).
    pub blocker: Option<crate::blocking::Blocker>,
    /// Keys that got data blocked clients may wait for, as `(db, key)`, served by
    /// [`Db::finish`] before the locks are released (recorded while `Knobs::blocked`).
    ready: Vec<(usize, Vec<u8>)>,
}

impl<'a> Db<'a> {
    pub fn new(engine: &'a Engine, locked: Locked<'a>, index: usize, now_ms: i64) -> Db<'a> {
        Db {
            engine,
            locked,
            index,
            now_ms,
            dirty: 0,
            effects: Vec::new(),
            custom_propagation: false,
            hint: None,
            changes: Changes::default(),
            block: None,
            blocker: None,
            ready: Vec::new(),
        }
    }

    /// A Db for a batch of commands run under one lock set (EXEC, scripts), journaled
    /// as Redis 7.0 propagates a transaction: every entry the commands cause (expired
    /// keys' deletions included, where they happen) is held back and [`Db::finish`]
    /// appends them as one block, in MULTI/EXEC when there are several. The locks must
    /// cover every key of every command: the batch never trades them.
    pub fn new_batch(engine: &'a Engine, locked: Locked<'a>, index: usize, now_ms: i64) -> Db<'a> {
        Db { block: Some(Vec::new()), ..Db::new(engine, locked, index, now_ms) }
    }

    /// Tells the Db where `key` (a slice of the command's arguments) lives, so lookups
    /// of that very slice skip hashing it again.
    pub fn hint(&mut self, key: &[u8], loc: KeyLoc) {
        self.hint = Some((key.as_ptr() as usize, key.len(), loc));
    }

    /// The location of `key`, from the hint when it is the hinted slice.
    fn loc_of(&self, key: &[u8]) -> KeyLoc {
        match self.hint {
            Some((ptr, len, loc)) if ptr == key.as_ptr() as usize && len == key.len() => loc,
            _ => KeyLoc::of(key),
        }
    }

    /// The shard locks, for commands that walk whole shards (SCAN, KEYS, FLUSHDB).
    pub fn locked(&mut self) -> &mut Locked<'a> {
        &mut self.locked
    }

    /// Appends the pending effects to the journal. Must happen before a lock is
    /// released, so that no other write to the same keys can be journaled in between.
    fn flush_effects(&mut self) {
        match &mut self.block {
            Some(block) => block.append(&mut self.effects),
            None => {
                for (db, args) in self.effects.drain(..) {
                    self.engine.journal.append(db, args.args());
                }
            }
        }
    }

    /// Trades the current shard locks for `shards` (after journaling what was done
    /// under the old ones), for commands that walk the keyspace shard by shard.
    pub fn relock_shard(&mut self, shard: usize) {
        if self.block.is_some() {
            // A batch holds its locks to the end (it locked every shard for commands
            // that walk the keyspace), so there is nothing to trade.
            debug_assert!(self.holds(shard), "a batch must lock every shard its commands walk");
            return;
        }
        self.flush_effects();
        self.locked = self.engine.keyspace.lock_none();
        self.locked = self.engine.keyspace.lock_shard(shard);
    }

    /// Ends the command: journals its effects, then the command itself (`args`, in the
    /// selected database) if it changed data and chose no other propagation, serves
    /// the clients blocked on keys it made ready, and releases the locks. Returns what
    /// it changed.
    ///
    /// Like Redis 7.0, which propagates all a command caused at once: when that is
    /// more than one entry (say an expired key's DEL and the command), they are
    /// wrapped in MULTI/EXEC. Work that is no command (`args` empty: active expiry,
    /// eviction) journals each deletion on its own, as Redis does.
    pub fn commit(mut self, args: Args<'_>) -> Changes {
        if !args.is_empty() && self.block.is_none() && self.engine.journal.enabled() {
            self.block = Some(Vec::new());
        }
        self.end_command(args);
        self.finish()
    }

    /// Ends one command of several run under the same locks (EXEC, scripts): journals
    /// its effects, then the command itself (`args`, in the selected database) if it
    /// changed data and chose no other propagation, and readies the Db for the next
    /// command. Returns the command's dirty count; the total accumulates in the
    /// `Changes` that [`Db::finish`] returns.
    pub fn end_command(&mut self, args: Args<'_>) -> u64 {
        self.flush_effects();
        if self.dirty > 0 && !self.custom_propagation {
            match &mut self.block {
                Some(block) if self.engine.journal.enabled() => block.push((self.index, args.to_owned_args())),
                Some(_) => {}
                None => self.engine.journal.append(self.index, args),
            }
        }
        let dirty = std::mem::take(&mut self.dirty);
        self.custom_propagation = false;
        self.hint = None;
        self.changes.dirty += dirty;
        dirty
    }

    /// Releases the locks after commands ended with [`Db::end_command`]; returns what
    /// they changed, together. Before the locks go, clients blocked on keys the
    /// commands made ready are served (their pops journaled after the commands), so no
    /// other command can come between a push and the pop it wakes (`blocking`).
    pub fn finish(mut self) -> Changes {
        self.flush_effects();
        if let Some(block) = self.block.take() {
            self.engine.journal.append_block(&block);
        }
        let deferred = if self.ready.is_empty() { Vec::new() } else { crate::blocking::serve_ready(&mut self) };
        self.flush_effects();
        let mut changes = std::mem::take(&mut self.changes);
        changes.dirty += std::mem::take(&mut self.dirty);
        let (engine, now_ms) = (self.engine, self.now_ms);
        drop(self);
        if !deferred.is_empty() {
            changes.merge(crate::blocking::serve_deferred(engine, now_ms, deferred));
        }
        changes
    }

    /// What the commands ended so far changed, taken out (EXEC publishes each
    /// command's notifications before the next command runs).
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// Records that `key` in database `db` was modified (WATCH is broken by it). The
    /// table operations of this Db record their own keys; a command that changes a
    /// value in place (through `EntryMut::object_mut`) calls this itself.
    pub fn touch_in(&mut self, db: usize, key: &[u8]) {
        if self.engine.knobs.watching.load(Relaxed) > 0 {
            if let Some(o) = self.engine.observer.get() {
                let exists = matches!(self.peek_in(db, key), Ok(Some(_)));
                o.key_touched(db, key, exists);
            }
            self.changes.touched.push((db, key.to_vec()));
        }
    }

    /// [`Db::touch_in`] for the selected database.
    pub fn touch(&mut self, key: &[u8]) {
        self.touch_in(self.index, key);
    }

    /// Records that database `db` is about to be emptied (FLUSHDB, FLUSHALL); call it
    /// before the change, with every shard locked.
    pub fn touch_db(&mut self, db: usize) {
        self.db_replaced(db, None);
    }

    /// Records that databases `a` and `b` are about to be swapped (SWAPDB); call it
    /// before the change, with every shard locked.
    pub fn touch_swapped_dbs(&mut self, a: usize, b: usize) {
        self.db_replaced(a, Some(b));
        self.db_replaced(b, Some(a));
    }

    fn db_replaced(&mut self, db: usize, with: Option<usize>) {
        if self.engine.knobs.watching.load(Relaxed) > 0 {
            self.changes.touched_dbs.push(db);
            let (engine, now) = (self.engine, self.now_ms);
            if let (Some(o), true) = (engine.observer.get(), self.locked.is_all()) {
                let mut probe = |d: usize, key: &[u8]| match self.peek_in(d, key) {
                    Ok(Some(e)) => Some(e.expire_ms().is_some_and(|t| now > t)),
                    _ => None,
                };
                o.db_replaced(db, with, &mut probe);
            }
        }
    }

    /// Records that `key` received elements (LPUSH, ZADD, ...), for blocked clients.
    /// Creating a key that holds a list or a sorted set records it by itself.
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.signal_ready_in(self.index, key);
    }

    /// [`Db::signal_ready`] for a key of database `db`.
    pub fn signal_ready_in(&mut self, db: usize, key: &[u8]) {
        if self.engine.knobs.blocked.load(Relaxed) > 0 {
            self.ready.push((db, key.to_vec()));
        }
    }

    /// The ready keys recorded so far, taken out (for `blocking::serve_ready`).
    pub(crate) fn take_ready(&mut self) -> Vec<(usize, Vec<u8>)> {
        std::mem::take(&mut self.ready)
    }

    /// Records that the command parked its client (`blocking::block`).
    pub(crate) fn set_blocked(&mut self, on: crate::blocking::BlockedOn) {
        self.changes.blocked = Some(on);
    }

    /// Adds `shard` to the locks held, if that cannot deadlock (see
    /// `Keyspace::extend`); true when it is held afterwards.
    pub(crate) fn hold_shard(&mut self, shard: usize) -> bool {
        self.engine.keyspace.extend(&mut self.locked, shard)
    }

    /// Records a keyspace event of class `class` for `key` in database `db`, if
    /// `notify-keyspace-events` asks for that class.
    pub fn notify_in(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        if self.engine.knobs.notify_flags.load(Relaxed) & class != 0 {
            self.changes.events.push(KeyEvent { class, event, db, key: key.to_vec() });
        }
    }

    /// [`Db::notify_in`] for the selected database.
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.notify_in(self.index, class, event, key);
    }

    /// Propagates `args` (executed in database `db`) instead of the command itself;
    /// call once per command to propagate, in order.
    pub fn propagate(&mut self, db: usize, args: OwnedArgs) {
        self.custom_propagation = true;
        if self.engine.journal.enabled() {
            self.effects.push((db, args));
        }
    }

    /// Marks the command as propagating nothing, even if it changed data.
    pub fn propagate_nothing(&mut self) {
        self.custom_propagation = true;
    }

    fn effect(&mut self, db: usize, parts: &[&[u8]]) {
        if self.engine.journal.enabled() {
            self.effects.push((db, OwnedArgs::from_slices(parts.iter().copied())));
        }
    }

    /// A fresh value for the LRU/LFU field of a new key.
    pub fn new_clock(&self) -> u32 {
        if self.engine.knobs.policy().is_lfu() {
            lfu_init(self.now_ms)
        } else {
            lru_clock(self.now_ms)
        }
    }

    fn shard_db(&mut self, db: usize, loc: &KeyLoc) -> Result<&mut ShardDb, CmdError> {
        match self.locked.shard(loc.shard()) {
            Some(s) => s.dbs.get_mut(db).ok_or(err::DB_RANGE),
            None => {
                debug_assert!(false, "key outside the locked shards");
                Err(err::NOT_LOCKED)
            }
        }
    }

    /// Runs `f` on the slot table of `loc`, keeping the shard's counters in step.
    fn with_dict<R>(&mut self, db: usize, loc: &KeyLoc, f: impl FnOnce(&mut Dict) -> R) -> Result<R, CmdError> {
        let engine = self.engine;
        let sdb = self.shard_db(db, loc)?;
        let dict = sdb.dict_mut(loc.slot);
        // Serialize-before-mutate: a running snapshot gets this slot as it is now.
        engine.snapshot.before_write(db, loc.slot, Some(dict));
        let (len, vol) = (dict.len() as isize, dict.volatile() as isize);
        let r = f(dict);
        let (dl, dv) = (dict.len() as isize - len, dict.volatile() as isize - vol);
        if dl != 0 || dv != 0 {
            sdb.account(dl, dv);
        }
        Ok(r)
    }

    /// Deletes `key` if its expiry has passed; returns true if it did (or, on a replica,
    /// if the key is logically expired and must be hidden).
    fn expire_if_needed(&mut self, db: usize, key: &[u8], loc: &KeyLoc) -> Result<bool, CmdError> {
        let now = self.now_ms;
        let expired = {
            let sdb = self.shard_db(db, loc)?;
            match sdb.dict(loc.slot).and_then(|d| d.get(loc.hash, key)) {
                Some(e) => e.expire_ms().is_some_and(|t| now > t),
                None => return Ok(false),
            }
        };
        if !expired {
            return Ok(false);
        }
        if self.engine.knobs.is_replica.load(std::sync::atomic::Ordering::Relaxed) {
            // Hidden from clients; the master's own commands still see it (its DEL
            // must find it), as in Redis.
            return Ok(!FROM_MASTER.with(Cell::get));
        }
        self.with_dict(db, loc, |d| d.remove(loc.hash, key))?;
        stats::incr(Stat::ExpiredKeys);
        self.touch_in(db, key);
        self.notify_in(db, notify::EXPIRED, "expired", key);
        let verb: &[u8] = if self.engine.knobs.lazyfree_lazy_expire.load(std::sync::atomic::Ordering::Relaxed) {
            b"UNLINK"
        } else {
            b"DEL"
        };
        self.effect(db, &[verb, key]);
        Ok(true)
    }

    /// Looks `key` up in database `db`, expiring it lazily.
    pub fn find_in(&mut self, db: usize, key: &[u8], access: Access) -> Result<Option<EntryMut<'_>>, CmdError> {
        let loc = self.loc_of(key);
        let now = self.now_ms;
        // One probe of the table on the common path; the expired case (rare) goes
        // through `expire_if_needed`, which looks again and deletes.
        let sdb = self.shard_db(db, &loc)?;
        let mut found = sdb.dict(loc.slot).and_then(|d| d.get_raw(loc.hash, key));
        if let Some(p) = found {
            // Safety: `p` is a live entry of a shard this Db holds locked.
            let expired = unsafe { EntryRef::from_ptr(p.as_ptr()) }.expire_ms().is_some_and(|t| now > t);
            if expired && self.expire_if_needed(db, key, &loc)? {
                found = None;
            }
        }
        if access.counts() {
            stats::incr(if found.is_some() { Stat::KeyspaceHits } else { Stat::KeyspaceMisses });
            if found.is_none() && access != Access::ReadQuiet {
                self.notify_in(db, notify::KEY_MISS, "keymiss", key);
            }
        }
        let Some(p) = found else { return Ok(None) };
        if access == Access::Write && self.engine.snapshot.active() {
            // The caller may change the value in place: a running snapshot must have
            // this slot first (this only reads the table; `p` stays valid).
            let engine = self.engine;
            let sdb = self.shard_db(db, &loc)?;
            engine.snapshot.write_pair(db, loc.slot, sdb.dict(loc.slot));
        }
        // Safety: the entry is still in its table (only an expired one was removed, and
        // then `found` is None); the returned view borrows `self`, so nothing can remove
        // it while the view lives.
        let mut e = unsafe { EntryMut::from_ptr(p.as_ptr()) };
        if access.touches() {
            let knobs = &self.engine.knobs;
            let clock = if knobs.policy().is_lfu() {
                let (factor, decay) = (knobs.lfu_log_factor.load(Relaxed), knobs.lfu_decay_time.load(Relaxed));
                lfu_touch(e.lru(), now, factor, decay, fast_random_unit())
            } else {
                lru_clock(now)
            };
            e.set_lru(clock);
        }
        Ok(Some(e))
    }

    /// Looks `key` up in the selected database.
    pub fn find(&mut self, key: &[u8], access: Access) -> Result<Option<EntryMut<'_>>, CmdError> {
        self.find_in(self.index, key, access)
    }

    /// True when `key` exists (not expired) in the selected database, looked up as
    /// before a write (Redis's `lookupKeyWrite`).
    pub fn exists(&mut self, key: &[u8]) -> Result<bool, CmdError> {
        Ok(self.find(key, Access::Write)?.is_some())
    }

    /// The string at `key`, copied out; WRONGTYPE for another type.
    pub fn get_string(&mut self, key: &[u8], access: Access) -> Result<Option<Vec<u8>>, CmdError> {
        match self.find(key, access)? {
            None => Ok(None),
            Some(e) => match e.value().as_str() {
                Some(s) => Ok(Some(s.to_vec())),
                None => Err(err::WRONGTYPE),
            },
        }
    }

    /// Calls `f` with the string at `key` without copying it; WRONGTYPE for another type.
    pub fn with_string<R>(
        &mut self,
        key: &[u8],
        access: Access,
        f: impl FnOnce(Option<StrRef<'_>>) -> R,
    ) -> Result<R, CmdError> {
        match self.find(key, access)? {
            None => Ok(f(None)),
            Some(e) => match e.value().as_str() {
                Some(s) => Ok(f(Some(s))),
                None => Err(err::WRONGTYPE),
            },
        }
    }

    /// Stores `value` at `key` in database `db`, creating or overwriting it.
    pub fn set_in(&mut self, db: usize, key: &[u8], value: NewValue, expiry: Expiry) -> CmdResult {
        let loc = self.loc_of(key);
        self.expire_if_needed(db, key, &loc)?;
        let clock = self.new_clock();
        let blockable = matches!(&value, NewValue::Obj(o) if blockable(o));
        let created = self.with_dict(db, &loc, |d| {
            let exists = d.get(loc.hash, key).is_some();
            if exists {
                d.replace(loc.hash, key, |e| {
                    let keep = e.as_ref().expire_ms();
                    let e = e.with_value(value);
                    match expiry {
                        Expiry::Clear => e.with_expire(None),
                        Expiry::Keep => e.with_expire(keep),
                        Expiry::At(t) => e.with_expire(Some(t)),
                    }
                });
            } else {
                let exp = match expiry {
                    Expiry::At(t) => Some(t),
                    _ => None,
                };
                d.insert_new(loc.hash, Entry::new(key, value, exp, clock));
            }
            !exists
        })?;
        self.touch_in(db, key);
        if created {
            self.notify_in(db, notify::NEW, "new", key);
            if blockable {
                self.signal_ready_in(db, key);
            }
        }
        Ok(())
    }

    pub fn set(&mut self, key: &[u8], value: NewValue, expiry: Expiry) -> CmdResult {
        self.set_in(self.index, key, value, expiry)
    }

    /// Inserts an already-built entry (MOVE, COPY, RENAME), replacing any old one.
    pub fn put_entry_in(&mut self, db: usize, e: Entry) -> CmdResult {
        let key = e.as_ref().key().to_vec();
        let loc = KeyLoc::of(&key);
        let blockable = matches!(e.as_ref().value(), ValueRef::Obj(o) if blockable(o));
        let created = self.with_dict(db, &loc, |d| {
            let old = d.remove(loc.hash, &key);
            d.insert_new(loc.hash, e);
            old.is_none()
        })?;
        self.touch_in(db, &key);
        if created {
            self.notify_in(db, notify::NEW, "new", &key);
            if blockable {
                self.signal_ready_in(db, &key);
            }
        }
        Ok(())
    }

    /// Removes `key` from database `db` and returns its entry (expired keys count as
    /// absent and are expired on the way).
    pub fn take_in(&mut self, db: usize, key: &[u8]) -> Result<Option<Entry>, CmdError> {
        let loc = self.loc_of(key);
        if self.expire_if_needed(db, key, &loc)? {
            return Ok(None);
        }
        let taken = self.with_dict(db, &loc, |d| d.remove(loc.hash, key))?;
        if taken.is_some() {
            self.touch_in(db, key);
        }
        Ok(taken)
    }

    /// Deletes `key` from the selected database; true if it existed.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, CmdError> {
        Ok(self.take_in(self.index, key)?.is_some())
    }

    /// Sets or clears the expiry of an existing key; false if the key is absent.
    pub fn set_expire(&mut self, key: &[u8], expire_ms: Option<i64>) -> Result<bool, CmdError> {
        let loc = self.loc_of(key);
        if self.expire_if_needed(self.index, key, &loc)? {
            return Ok(false);
        }
        let done = self.with_dict(self.index, &loc, |d| d.replace(loc.hash, key, |e| e.with_expire(expire_ms)))?;
        if done {
            self.touch(key);
        }
        Ok(done)
    }

    /// Replaces the value of an existing key in place of the old one, keeping its
    /// expiry (APPEND, INCR, SETRANGE); creates the key if absent.
    pub fn update(&mut self, key: &[u8], value: NewValue) -> CmdResult {
        self.set(key, value, Expiry::Keep)
    }

    /// The table of `slot` in database `db`, if its shard is locked and it has one.
    pub fn slot_dict(&mut self, db: usize, slot: u16) -> Option<&Dict> {
        let shard = crate::keyspace::shard_of_slot(slot);
        self.locked.shard(shard)?.dbs.get(db)?.dict(slot)
    }

    /// Database `db`'s part of shard `shard`, if that shard is locked. A caller that
    /// changes it (rather than reading it) calls [`Db::before_write_db`] first.
    pub fn shard_part(&mut self, db: usize, shard: usize) -> Option<&mut ShardDb> {
        self.locked.shard(shard)?.dbs.get_mut(db)
    }

    /// Serialize-before-mutate for changes to a whole database (FLUSHDB, FLUSHALL,
    /// SWAPDB): a running snapshot first gets every slot of `db` in the locked shards.
    pub fn before_write_db(&mut self, db: usize) {
        let engine = self.engine;
        if !engine.snapshot.active() {
            return;
        }
        for shard in self.locked.shard_indexes() {
            let Some(part) = self.locked.shard(shard).and_then(|s| s.dbs.get(db)) else { continue };
            for slot in crate::keyspace::slots_of_shard(shard) {
                engine.snapshot.write_pair(db, slot, part.dict(slot));
            }
        }
    }

    /// True when the command holds the lock of `shard`.
    pub fn holds(&self, shard: usize) -> bool {
        self.locked.shard_ref(shard).is_some()
    }

    /// A read-only view of the entry at `key` without expiring it (for DEBUG, digests).
    pub fn peek_in(&mut self, db: usize, key: &[u8]) -> Result<Option<EntryRef<'_>>, CmdError> {
        let loc = self.loc_of(key);
        let sdb = self.shard_db(db, &loc)?;
        Ok(sdb.dict(loc.slot).and_then(|d| d.get(loc.hash, key)))
    }
}

/// Whether clients can block waiting for a value like `o` (lists and sorted sets):
/// creating a key that holds one wakes them, as Redis's `dbAdd` signals.
fn blockable(o: &Object) -> bool {
    matches!(o, Object::List(_) | Object::ZSet(_))
}

/// The value type check shared by string commands.
pub fn string_of<'e>(v: ValueRef<'e>) -> Result<StrRef<'e>, CmdError> {
    v.as_str().ok_or(err::WRONGTYPE)
}

/// A cheap thread-local xorshift generator, for sampling (LFU increments, random keys,
/// eviction). Not for anything an attacker should not predict.
pub fn fast_random() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = crate::clock::now_us() as u64;
            let addr = &t as *const u64 as u64;
            (t ^ addr.rotate_left(32)) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// A random number in [0, 1).
pub fn fast_random_unit() -> f64 {
    (fast_random() >> 11) as f64 / (1u64 << 53) as f64
}

/// What a command sees while it runs: the keyspace (borrowed, so that EXEC and
/// scripts can run many commands under one lock set) and the reply buffer.
pub struct Ctx<'d, 'a, 'o> {
    pub db: &'d mut Db<'a>,
    pub out: &'o mut ReplyBuf,
}

/// A data command's handler.
pub type Handler = fn(&mut Ctx<'_, '_, '_>, Args<'_>) -> CmdResult;
