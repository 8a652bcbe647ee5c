//! The keyspace: databases split by hash slot into shards, each behind its own lock.
//!
//! Slot `s` lives in shard `s % SHARDS`, so neighbouring slots spread over different
//! locks. A shard holds, for every database, the [`Dict`]s of its slots. Commands lock
//! the shards their keys live in, always in ascending shard order (that order is what
//! makes multi-key commands and transactions deadlock-free); commands that see the whole
//! keyspace (FLUSHALL, SWAPDB, KEYS) lock every shard.
//!
//! Why std's Mutex: critical sections are short, never await and never block on I/O,
//! and an uncontended std mutex is one atomic operation. Poisoning is ignored: a panic
//! in one command must not take the whole keyspace down with it.

use std::sync::{Mutex, MutexGuard};

use crate::dict::{hash_key, Dict};
use crate::slot::{key_slot, SLOTS};

/// Number of shard locks; many more than cores, so two random keys rarely collide.
pub const SHARDS: usize = 256;
/// Slots per shard.
pub const SLOTS_PER_SHARD: usize = SLOTS / SHARDS;

const _: () = assert!(SLOTS.is_multiple_of(SHARDS));

/// Where a key lives: its slot and its hash inside the slot's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLoc {
    pub slot: u16,
    pub hash: u64,
}

impl KeyLoc {
    pub fn of(key: &[u8]) -> KeyLoc {
        KeyLoc { slot: key_slot(key), hash: hash_key(key) }
    }
    pub fn shard(&self) -> usize {
        shard_of_slot(self.slot)
    }
}

pub fn shard_of_slot(slot: u16) -> usize {
    slot as usize % SHARDS
}

fn local_index(slot: u16) -> usize {
    slot as usize / SHARDS
}

/// The slots of shard `shard`, in ascending order.
pub fn slots_of_shard(shard: usize) -> impl Iterator<Item = u16> {
    (0..SLOTS_PER_SHARD).map(move |i| (i * SHARDS + shard) as u16)
}

/// One database's part of one shard.
#[derive(Default)]
pub struct ShardDb {
    /// Empty until the first key arrives, then one table per slot of the shard.
    slots: Vec<Dict>,
    keys: usize,
    volatile: usize,
}

impl ShardDb {
    pub fn keys(&self) -> usize {
        self.keys
    }
    pub fn volatile(&self) -> usize {
        self.volatile
    }

    pub fn dict(&self, slot: u16) -> Option<&Dict> {
        self.slots.get(local_index(slot))
    }

    /// The table of `slot`, created on first use. Counters are refreshed by
    /// [`ShardDb::sync_counts`] after a change, since the dict keeps its own.
    pub fn dict_mut(&mut self, slot: u16) -> &mut Dict {
        if self.slots.is_empty() {
            self.slots = (0..SLOTS_PER_SHARD).map(|_| Dict::default()).collect();
        }
        &mut self.slots[local_index(slot)]
    }

    /// Applies a change in one slot's counts to the shard's totals.
    pub fn account(&mut self, keys_delta: isize, volatile_delta: isize) {
        self.keys = (self.keys as isize + keys_delta) as usize;
        self.volatile = (self.volatile as isize + volatile_delta) as usize;
    }

    /// Every non-empty slot table of shard `shard`, with its slot number.
    pub fn dicts(&self, shard: usize) -> impl Iterator<Item = (u16, &Dict)> {
        self.slots.iter().enumerate().filter(|(_, d)| !d.is_empty()).map(move |(i, d)| ((i * SHARDS + shard) as u16, d))
    }

    /// Drops every key; returns the tables so the caller may free them elsewhere.
    pub fn take(&mut self) -> ShardDb {
        std::mem::take(self)
    }
}

/// One shard: its part of every database.
pub struct Shard {
    pub dbs: Vec<ShardDb>,
}

/// The whole keyspace.
pub struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    dbs: usize,
}

impl Keyspace {
    pub fn new(dbs: usize) -> Keyspace {
        let shards =
            (0..SHARDS).map(|_| Mutex::new(Shard { dbs: (0..dbs).map(|_| ShardDb::default()).collect() })).collect();
        Keyspace { shards, dbs }
    }

    pub fn databases(&self) -> usize {
        self.dbs
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks no shard (for commands that touch no key).
    pub fn lock_none(&self) -> Locked<'_> {
        Locked { guards: Guards::None }
    }

    /// Locks the shards that hold `keys`, in ascending order.
    pub fn lock_keys<'k, I: IntoIterator<Item = &'k [u8]>>(&self, keys: I) -> Locked<'_> {
        let mut shards: Vec<usize> = keys.into_iter().map(|k| shard_of_slot(key_slot(k))).collect();
        self.lock_shards(&mut shards)
    }

    /// Locks the given shards (deduplicated and sorted here).
    pub fn lock_shards(&self, shards: &mut Vec<usize>) -> Locked<'_> {
        shards.sort_unstable();
        shards.dedup();
        match shards.len() {
            0 => self.lock_none(),
            1 => Locked { guards: Guards::One(shards[0], self.lock(shards[0])) },
            n if n == SHARDS => self.lock_all(),
            _ => Locked { guards: Guards::Some(shards.iter().map(|&s| (s, self.lock(s))).collect()) },
        }
    }

    /// Adds `shard` to a set of held locks without risking a deadlock: it waits for it
    /// only when it is above every shard held (the global ascending order still holds),
    /// and otherwise takes it only if it is free. Returns whether `locked` holds it now.
    /// (For a blocked BLMOVE served under a pusher's locks, see `blocking`.)
    pub fn extend<'k>(&'k self, locked: &mut Locked<'k>, shard: usize) -> bool {
        if shard >= SHARDS || locked.shard_ref(shard).is_some() {
            return shard < SHARDS;
        }
        let above_all = locked.shard_indexes().last().is_none_or(|&max| shard > max);
        let guard = if above_all {
            self.lock(shard)
        } else {
            match self.shards[shard].try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return false,
            }
        };
        let guards = std::mem::replace(&mut locked.guards, Guards::None);
        locked.guards = match guards {
            Guards::None => Guards::One(shard, guard),
            Guards::One(s, g) => {
                let mut v = vec![(s, g)];
                v.push((shard, guard));
                v.sort_unstable_by_key(|(s, _)| *s);
                Guards::Some(v)
            }
            Guards::Some(mut v) => {
                let at = v.partition_point(|(s, _)| *s < shard);
                v.insert(at, (shard, guard));
                Guards::Some(v)
            }
            // Every shard is held already (answered above).
            all @ Guards::All(_) => all,
        };
        true
    }

    /// Locks one shard.
    pub fn lock_shard(&self, shard: usize) -> Locked<'_> {
        Locked { guards: Guards::One(shard, self.lock(shard)) }
    }

    /// Locks every shard, in order.
    pub fn lock_all(&self) -> Locked<'_> {
        Locked { guards: Guards::All((0..SHARDS).map(|s| self.lock(s)).collect()) }
    }

    /// Keys in database `db`, shard by shard (each shard locked briefly, so the total
    /// is not a snapshot under concurrent writes, as DBSIZE need not be).
    pub fn count(&self, db: usize) -> (usize, usize) {
        (0..SHARDS).fold((0, 0), |(k, v), s| {
            let shard = self.lock(s);
            (k + shard.dbs[db].keys, v + shard.dbs[db].volatile)
        })
    }
}

enum Guards<'k> {
    None,
    One(usize, MutexGuard<'k, Shard>),
    Some(Vec<(usize, MutexGuard<'k, Shard>)>),
    All(Vec<MutexGuard<'k, Shard>>),
}

/// A set of locked shards; dropping it releases them.
pub struct Locked<'k> {
    guards: Guards<'k>,
}

impl<'k> Locked<'k> {
    /// The locked shard with index `shard`, if it is in this set.
    pub fn shard(&mut self, shard: usize) -> Option<&mut Shard> {
        match &mut self.guards {
            Guards::None => None,
            Guards::One(s, g) => (*s == shard).then(|| &mut **g),
            Guards::Some(v) => v.binary_search_by_key(&shard, |(s, _)| *s).ok().map(|i| &mut *v[i].1),
            Guards::All(v) => v.get_mut(shard).map(|g| &mut **g),
        }
    }

    /// Shared access to a locked shard.
    pub fn shard_ref(&self, shard: usize) -> Option<&Shard> {
        match &self.guards {
            Guards::None => None,
            Guards::One(s, g) => (*s == shard).then(|| &**g),
            Guards::Some(v) => v.binary_search_by_key(&shard, |(s, _)| *s).ok().map(|i| &*v[i].1),
            Guards::All(v) => v.get(shard).map(|g| &**g),
        }
    }

    /// True when every shard is locked.
    pub fn is_all(&self) -> bool {
        matches!(self.guards, Guards::All(_))
    }

    /// Indexes of the locked shards, ascending.
    pub fn shard_indexes(&self) -> Vec<usize> {
        match &self.guards {
            Guards::None => vec![],
            Guards::One(s, _) => vec![*s],
            Guards::Some(v) => v.iter().map(|(s, _)| *s).collect(),
            Guards::All(_) => (0..SHARDS).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_waits_only_upwards() {
        let ks = Keyspace::new(1);
        let mut l = ks.lock_shard(10);
        assert!(ks.extend(&mut l, 20), "above every held shard: waits, then holds");
        assert!(ks.extend(&mut l, 5), "below, but free");
        assert_eq!(l.shard_indexes(), vec![5, 10, 20]);
        let busy = ks.lock_shard(3);
        assert!(!ks.extend(&mut l, 3), "below and busy: refused rather than risk a deadlock");
        drop(busy);
        assert!(ks.extend(&mut l, 3));
        assert!(ks.extend(&mut l, 10));
        assert!(!ks.extend(&mut l, SHARDS));
        assert_eq!(l.shard_indexes(), vec![3, 5, 10, 20]);
    }

    #[test]
    fn lock_sets() {
        let ks = Keyspace::new(2);
        let mut l = ks.lock_keys([&b"a"[..], b"b", b"a"]);
        let sa = KeyLoc::of(b"a").shard();
        assert!(l.shard(sa).is_some());
        assert!(l.shard((sa + 1) % SHARDS).is_none() || KeyLoc::of(b"b").shard() == (sa + 1) % SHARDS);
        drop(l);
        let mut all = ks.lock_all();
        assert!(all.shard(SHARDS - 1).is_some());
        assert!(all.is_all());
        assert_eq!(slots_of_shard(3).take(2).collect::<Vec<_>>(), vec![3, 3 + SHARDS as u16]);
    }
}
