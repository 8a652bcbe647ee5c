//! The engine's side of point-in-time snapshots without fork (DESIGN.md §3):
//! serialize-before-mutate.
//!
//! A snapshot (BGSAVE, an AOF rewrite, a full sync) starts with every shard locked:
//! [`SnapshotGate::begin`] marks every (database, slot) pair as "not written yet" and
//! installs the snapshot's [`SlotSink`]. From then on the snapshot's own walker visits
//! the pairs one by one, and any writer about to change a pair the walker has not
//! reached yet first hands that pair's table, as it still is, to the sink
//! ([`SnapshotGate::before_write`]). Either way each pair is written exactly once and
//! with its contents from the instant the snapshot began, while the server keeps
//! serving; no second copy of the data is made.
//!
//! Both the walker and the writers check and set a pair's "written" bit while holding
//! the shard lock of its slot, so the two can never both write a pair, and a writer
//! never changes a pair before it is written. When no snapshot runs, the hook costs
//! one relaxed atomic load; a shard lock taken after `begin` released its locks
//! happens after it, so that load can never miss a snapshot that has begun.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use crate::dict::Dict;
use crate::slot::SLOTS;

/// Where a snapshot's tables go. Called with the slot's shard locked.
pub trait SlotSink: Send + Sync {
    /// Serializes the keys of `slot` in database `db`, as they are now.
    fn save(&self, db: usize, slot: u16, dict: &Dict);
}

/// The state writers consult before changing a slot.
pub struct SnapshotGate {
    active: AtomicBool,
    /// One bit per (database, slot): set once that pair is in the snapshot.
    written: Box<[AtomicU64]>,
    sink: RwLock<Option<Arc<dyn SlotSink>>>,
    dbs: usize,
}

impl SnapshotGate {
    pub fn new(dbs: usize) -> SnapshotGate {
        let words = (dbs * SLOTS).div_ceil(64);
        SnapshotGate {
            active: AtomicBool::new(false),
            written: (0..words).map(|_| AtomicU64::new(0)).collect(),
            sink: RwLock::new(None),
            dbs,
        }
    }

    /// True while a snapshot runs.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Relaxed)
    }

    fn bit(&self, db: usize, slot: u16) -> (usize, u64) {
        let i = db * SLOTS + slot as usize;
        (i / 64, 1u64 << (i % 64))
    }

    /// True when (db, slot) is already in the running snapshot. Caller holds the
    /// slot's shard lock.
    pub fn is_written(&self, db: usize, slot: u16) -> bool {
        let (w, b) = self.bit(db, slot);
        self.written[w].load(Relaxed) & b != 0
    }

    /// Marks (db, slot) as written. Caller holds the slot's shard lock.
    pub fn mark_written(&self, db: usize, slot: u16) {
        let (w, b) = self.bit(db, slot);
        self.written[w].fetch_or(b, Relaxed);
    }

    /// Starts a snapshot. The caller must hold every shard lock (that instant is the
    /// snapshot's point in time). Returns false if one is already running.
    pub fn begin(&self, sink: Arc<dyn SlotSink>) -> bool {
        if self.active.load(Relaxed) {
            return false;
        }
        for w in self.written.iter() {
            w.store(0, Relaxed);
        }
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
        self.active.store(true, Relaxed);
        true
    }

    /// Ends the running snapshot (finished or abandoned). Writers stop calling the sink.
    pub fn end(&self) {
        self.active.store(false, Relaxed);
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Writes (db, slot) to the running snapshot if it is not there yet. Called by the
    /// snapshot's walker and, through [`SnapshotGate::before_write`], by writers; the
    /// caller holds the slot's shard lock. `dict` is the pair's table, if it has one.
    pub fn write_pair(&self, db: usize, slot: u16, dict: Option<&Dict>) {
        if db >= self.dbs || self.is_written(db, slot) {
            return;
        }
        if let Some(d) = dict.filter(|d| !d.is_empty()) {
            let sink = self.sink.read().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(sink) = sink {
                sink.save(db, slot, d);
            }
        }
        self.mark_written(db, slot);
    }

    /// The hook at every mutation point: before (db, slot) changes, make sure the
    /// running snapshot has it. One relaxed load when no snapshot runs.
    #[inline]
    pub fn before_write(&self, db: usize, slot: u16, dict: Option<&Dict>) {
        if self.active() {
            self.write_pair(db, slot, dict);
        }
    }
}
