//! [`Engine`]: the shared state a command runs against — the keyspace, the journal
//! and the tunables that commands read on the hot path (as atomics, so a CONFIG SET
//! is seen by every thread without a lock).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};

use crate::journal::Journal;
use crate::keyspace::Keyspace;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EvictionPolicy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

impl EvictionPolicy {
    pub const ALL: [EvictionPolicy; 8] = [
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::VolatileTtl,
        EvictionPolicy::AllkeysLru,
        EvictionPolicy::AllkeysLfu,
        EvictionPolicy::AllkeysRandom,
        EvictionPolicy::NoEviction,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
            EvictionPolicy::AllkeysLru => "allkeys-lru",
            EvictionPolicy::AllkeysLfu => "allkeys-lfu",
            EvictionPolicy::AllkeysRandom => "allkeys-random",
            EvictionPolicy::NoEviction => "noeviction",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, EvictionPolicy::VolatileLfu | EvictionPolicy::AllkeysLfu)
    }

    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }
}

/// Tunables read by commands. Set by the server's config layer.
pub struct Knobs {
    pub maxmemory: AtomicU64,
    policy: AtomicU8,
    pub maxmemory_samples: AtomicU32,
    pub lfu_log_factor: AtomicU32,
    pub lfu_decay_time: AtomicU32,
    /// `proto-max-bulk-len`: also the largest string a command may build.
    pub proto_max_bulk_len: AtomicI64,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire: AtomicBool,
    pub lazyfree_lazy_expire: AtomicBool,
    pub lazyfree_lazy_eviction: AtomicBool,
    pub lazyfree_lazy_user_del: AtomicBool,
    pub lazyfree_lazy_user_flush: AtomicBool,
    /// True while this server replicates from a master: keys expire only logically.
    pub is_replica: AtomicBool,
    /// `active-expire-effort` (1..=10).
    pub active_expire_effort: AtomicU32,
    /// Keys WATCHed by some client: while non-zero, commands record the keys they touch.
    pub watching: AtomicUsize,
    /// Clients blocked on keys: while non-zero, pushes record ready keys.
    pub blocked: AtomicUsize,
    /// `notify-keyspace-events` as `notify::*` bits (0: no events are recorded).
    pub notify_flags: AtomicU32,
    /// Encoding thresholds (Redis's `*-max-listpack-*`, `set-max-intset-entries`).
    pub hash_max_listpack_entries: AtomicUsize,
    pub hash_max_listpack_value: AtomicUsize,
    pub set_max_intset_entries: AtomicUsize,
    pub zset_max_listpack_entries: AtomicUsize,
    pub zset_max_listpack_value: AtomicUsize,
    pub list_max_listpack_size: AtomicI64,
    pub list_compress_depth: AtomicUsize,
    pub hll_sparse_max_bytes: AtomicUsize,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(EvictionPolicy::NoEviction as u8),
            maxmemory_samples: AtomicU32::new(5),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            proto_max_bulk_len: AtomicI64::new(512 * 1024 * 1024),
            active_expire: AtomicBool::new(true),
            lazyfree_lazy_expire: AtomicBool::new(false),
            lazyfree_lazy_eviction: AtomicBool::new(false),
            lazyfree_lazy_user_del: AtomicBool::new(false),
            lazyfree_lazy_user_flush: AtomicBool::new(false),
            is_replica: AtomicBool::new(false),
            active_expire_effort: AtomicU32::new(1),
            watching: AtomicUsize::new(0),
            blocked: AtomicUsize::new(0),
            notify_flags: AtomicU32::new(0),
            hash_max_listpack_entries: AtomicUsize::new(512),
            hash_max_listpack_value: AtomicUsize::new(64),
            set_max_intset_entries: AtomicUsize::new(512),
            zset_max_listpack_entries: AtomicUsize::new(128),
            zset_max_listpack_value: AtomicUsize::new(64),
            list_max_listpack_size: AtomicI64::new(-2),
            list_compress_depth: AtomicUsize::new(0),
            hll_sparse_max_bytes: AtomicUsize::new(3000),
        }
    }
}

impl Knobs {
    pub fn policy(&self) -> EvictionPolicy {
        EvictionPolicy::ALL[self.policy.load(Relaxed) as usize]
    }
    pub fn set_policy(&self, p: EvictionPolicy) {
        self.policy.store(p as u8, Relaxed);
    }
    pub fn max_string(&self) -> u64 {
        self.proto_max_bulk_len.load(Relaxed).max(0) as u64
    }
}

/// What the server must learn from the engine as it happens. The engine knows no
/// clients, so WATCH and keyspace notifications live in the server, which installs one
/// observer at start-up ([`Engine::observer`]).
pub trait Observer: Send + Sync {
    /// `key` in database `db` was modified; `exists` says whether it is there now.
    /// Called only while some client WATCHes a key (`Knobs::watching`), with the key's
    /// shard still locked: a transaction that locks the shard next must already see its
    /// WATCH broken, which recording the touch for after the command could not promise.
    fn key_touched(&self, db: usize, key: &[u8], exists: bool);

    /// Database `db` is about to be emptied (`with` is None: FLUSHDB, FLUSHALL) or
    /// swapped with database `with` (SWAPDB), every shard locked. `probe(db, key)` looks
    /// a key up as it is now: None if absent, else whether it is logically expired.
    fn db_replaced(&self, db: usize, with: Option<usize>, probe: &mut dyn FnMut(usize, &[u8]) -> Option<bool>);

    /// What work outside any command changed (active expiry, eviction), after its
    /// locks are released: the server treats it as it treats a command's changes.
    fn background(&self, changes: crate::exec::Changes);
}

/// Everything a command can reach.
pub struct Engine {
    pub keyspace: Keyspace,
    pub journal: Journal,
    pub knobs: Knobs,
    /// Installed once by the server; unset in engine-only uses (tests, tools).
    pub observer: std::sync::OnceLock<Box<dyn Observer>>,
    /// The running snapshot's hook, consulted before every change to a slot.
    pub snapshot: crate::snapshot::SnapshotGate,
    /// DUMP/RESTORE's serializer (the RDB format), installed once by the server.
    pub codec: std::sync::OnceLock<Box<dyn crate::cmd::dump::PayloadCodec>>,
    /// Clients blocked on keys (BLPOP and friends), served by `Db::finish`.
    pub blocking: crate::blocking::Blocking,
}

impl Engine {
    pub fn new(databases: usize) -> Engine {
        Engine {
            keyspace: Keyspace::new(databases),
            journal: Journal::default(),
            knobs: Knobs::default(),
            observer: std::sync::OnceLock::new(),
            snapshot: crate::snapshot::SnapshotGate::new(databases),
            codec: std::sync::OnceLock::new(),
            blocking: crate::blocking::Blocking::default(),
        }
    }

    /// Hands what background work changed to the observer, if there is one.
    pub fn report_background(&self, changes: crate::exec::Changes) {
        let quiet = changes.events.is_empty() && changes.dirty == 0;
        if let (Some(o), false) = (self.observer.get(), quiet) {
            o.background(changes);
        }
    }
}
