//! Counters that every worker thread bumps on the hot path (commands, hits, misses,
//! expired and evicted keys, per-command calls and latency) without sharing a cache
//! line: each thread owns a [`StatBlock`]; readers (INFO) add the blocks up.
//!
//! A block is recycled when its thread ends, so short-lived threads do not leak one
//! each, and the totals keep what the departed thread counted.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

/// Named process-wide counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Stat {
    KeyspaceHits,
    KeyspaceMisses,
    ExpiredKeys,
    ExpiredStaleSamples,
    ExpiredTimeCapReached,
    EvictedKeys,
    EvictedClients,
    NetInputBytes,
    NetOutputBytes,
    ConnectionsReceived,
    RejectedConnections,
    TotalErrorReplies,
    UnexpectedErrorReplies,
    ReadsProcessed,
    WritesProcessed,
    ClientQueryBufferLimitDisconnections,
    ClientOutputBufferLimitDisconnections,
    ActiveExpireCpuUs,
    EvictionCpuUs,
    /// Bytes of the replication stream (and snapshots) received from our master and
    /// sent to replicas.
    NetReplInputBytes,
    NetReplOutputBytes,
    /// Changes to the dataset (Redis's `server.dirty`), for save points.
    Dirty,
}

const STAT_COUNT: usize = Stat::Dirty as usize + 1;

/// Commands (and subcommands) that can have statistics.
pub const MAX_COMMANDS: usize = 512;

/// Latency histogram: bucket `b` holds latencies in [2^(b/4)·k...], log-linear with
/// four buckets per power of two, up to ~2^40 µs.
pub const HIST_BUCKETS: usize = 164;

/// Per-command counters of one thread.
#[derive(Default)]
pub struct CmdStat {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    hist: OnceLock<Box<[AtomicU64; HIST_BUCKETS]>>,
}

/// One thread's counters.
pub struct StatBlock {
    counters: [AtomicU64; STAT_COUNT],
    cmds: Box<[CmdStat]>,
}

impl StatBlock {
    fn new() -> Self {
        StatBlock {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            cmds: (0..MAX_COMMANDS).map(|_| CmdStat::default()).collect(),
        }
    }
}

struct Registry {
    blocks: Vec<Arc<StatBlock>>,
    free: Vec<Arc<StatBlock>>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Registry { blocks: Vec::new(), free: Vec::new() }))
}

struct Handle(Arc<StatBlock>);

impl Drop for Handle {
    fn drop(&mut self) {
        if let Ok(mut r) = registry().lock() {
            r.free.push(self.0.clone());
        }
    }
}

thread_local! {
    static MINE: RefCell<Option<Handle>> = const { RefCell::new(None) };
    /// The thread's block, once it has one: a plain pointer read on the hot path. The
    /// registry keeps every block alive for the life of the process, so the pointer
    /// stays valid even while the thread is being torn down.
    static FAST: Cell<*const StatBlock> = const { Cell::new(std::ptr::null()) };
}

#[inline]
fn with_block<R>(f: impl FnOnce(&StatBlock) -> R) -> Option<R> {
    let fast = FAST.with(Cell::get);
    if !fast.is_null() {
        // Safety: blocks are never freed (see FAST).
        return Some(f(unsafe { &*fast }));
    }
    with_block_slow(f)
}

#[cold]
fn with_block_slow<R>(f: impl FnOnce(&StatBlock) -> R) -> Option<R> {
    MINE.try_with(|m| {
        let mut m = m.borrow_mut();
        let h = m.get_or_insert_with(|| {
            let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
            let block = r.free.pop().unwrap_or_else(|| {
                let b = Arc::new(StatBlock::new());
                r.blocks.push(b.clone());
                b
            });
            Handle(block)
        });
        FAST.with(|c| c.set(Arc::as_ptr(&h.0)));
        f(&h.0)
    })
    .ok()
}

/// Adds to a counter only this thread writes: a load and a store, no locked
/// instruction (two threads share a block only around a thread's exit, where a lost
/// increment does not matter).
#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Adds `n` to a named counter.
#[inline]
pub fn add(stat: Stat, n: u64) {
    with_block(|b| bump(&b.counters[stat as usize], n));
}

#[inline]
pub fn incr(stat: Stat) {
    add(stat, 1);
}

/// The process-wide total of a named counter.
pub fn total(stat: Stat) -> u64 {
    let r = registry().lock().unwrap_or_else(|e| e.into_inner());
    r.blocks.iter().map(|b| b.counters[stat as usize].load(Relaxed)).sum()
}

static LATENCY_TRACKING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// `latency-tracking`: whether calls feed the per-command latency histograms.
pub fn set_latency_tracking(on: bool) {
    LATENCY_TRACKING.store(on, Relaxed);
}

pub fn latency_tracking() -> bool {
    LATENCY_TRACKING.load(Relaxed)
}

/// Records one call of command `id`.
#[inline]
pub fn record_call(id: usize, usec: u64, failed: bool) {
    if id >= MAX_COMMANDS {
        return;
    }
    with_block(|b| {
        let c = &b.cmds[id];
        bump(&c.calls, 1);
        bump(&c.usec, usec);
        if failed {
            bump(&c.failed, 1);
        }
        if LATENCY_TRACKING.load(Relaxed) {
            let h = c.hist.get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU64::new(0))));
            bump(&h[hist_bucket(usec)], 1);
        }
    });
}

/// Calls of every command, summed (INFO's `total_commands_processed`).
pub fn total_calls() -> u64 {
    let r = registry().lock().unwrap_or_else(|e| e.into_inner());
    r.blocks.iter().flat_map(|b| b.cmds.iter()).map(|c| c.calls.load(Relaxed)).sum()
}

/// Records a call of command `id` rejected before it ran (arity, OOM, ...).
pub fn record_rejected(id: usize) {
    if id < MAX_COMMANDS {
        with_block(|b| bump(&b.cmds[id].rejected, 1));
    }
}

/// Totals of one command across threads.
#[derive(Debug, Default, Clone)]
pub struct CmdTotals {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
    pub hist: Vec<u64>,
}

pub fn command_totals(id: usize) -> CmdTotals {
    let mut t = CmdTotals { hist: vec![0; HIST_BUCKETS], ..Default::default() };
    if id >= MAX_COMMANDS {
        return t;
    }
    let r = registry().lock().unwrap_or_else(|e| e.into_inner());
    for b in &r.blocks {
        let c = &b.cmds[id];
        t.calls += c.calls.load(Relaxed);
        t.usec += c.usec.load(Relaxed);
        t.rejected += c.rejected.load(Relaxed);
        t.failed += c.failed.load(Relaxed);
        if let Some(h) = c.hist.get() {
            for (i, v) in h.iter().enumerate() {
                t.hist[i] += v.load(Relaxed);
            }
        }
    }
    t
}

/// Zeroes every counter (CONFIG RESETSTAT).
pub fn reset() {
    let r = registry().lock().unwrap_or_else(|e| e.into_inner());
    for b in &r.blocks {
        b.counters.iter().for_each(|c| c.store(0, Relaxed));
        for c in b.cmds.iter() {
            c.calls.store(0, Relaxed);
            c.usec.store(0, Relaxed);
            c.rejected.store(0, Relaxed);
            c.failed.store(0, Relaxed);
            if let Some(h) = c.hist.get() {
                h.iter().for_each(|v| v.store(0, Relaxed));
            }
        }
    }
}

/// Histogram bucket of a latency: four buckets per power of two.
pub fn hist_bucket(usec: u64) -> usize {
    if usec < 4 {
        return usec as usize;
    }
    let log = 63 - usec.leading_zeros() as usize; // >= 2
    let sub = ((usec >> (log - 2)) & 3) as usize;
    (log * 4 + sub).min(HIST_BUCKETS - 1) - 4
}

/// The upper bound (µs) of the values in bucket `b`.
pub fn hist_bucket_upper(b: usize) -> u64 {
    if b < 4 {
        return b as u64;
    }
    let log = (b + 4) / 4;
    let sub = ((b + 4) % 4) as u64;
    ((4 + sub + 1) << (log - 2)) - 1
}

/// The value at percentile `p` (0..=100) of a histogram, as Redis's latencystats
/// reports it (an upper bound of the bucket that holds it).
pub fn percentile(hist: &[u64], p: f64) -> u64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return hist_bucket_upper(b);
        }
    }
    hist_bucket_upper(hist.len() - 1)
}

/// Error replies by their first word (`errorstat_ERR`), for INFO errorstats. Errors
/// are off the hot path, so one lock is enough.
pub fn record_error(code: &[u8]) {
    let mut m = error_counts().lock().unwrap_or_else(|e| e.into_inner());
    // Redis caps the number of distinct error codes it tracks at 128.
    if m.len() >= 128 && !m.iter().any(|(k, _)| k.as_slice() == code) {
        return;
    }
    match m.iter_mut().find(|(k, _)| k.as_slice() == code) {
        Some((_, n)) => *n += 1,
        None => m.push((code.to_vec(), 1)),
    }
}

pub fn error_totals() -> Vec<(Vec<u8>, u64)> {
    let mut v = error_counts().lock().unwrap_or_else(|e| e.into_inner()).clone();
    v.sort();
    v
}

pub fn reset_errors() {
    error_counts().lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Error codes and their counts.
type ErrorCounts = Mutex<Vec<(Vec<u8>, u64)>>;

fn error_counts() -> &'static ErrorCounts {
    static E: OnceLock<ErrorCounts> = OnceLock::new();
    E.get_or_init(|| Mutex::new(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_ordered() {
        let mut last = 0;
        for us in 0..100_000u64 {
            let b = hist_bucket(us);
            assert!(b >= last);
            assert!(hist_bucket_upper(b) >= us, "{us} in {b} upper {}", hist_bucket_upper(b));
            last = b;
        }
        let mut h = vec![0u64; HIST_BUCKETS];
        h[hist_bucket(10)] += 99;
        h[hist_bucket(1000)] += 1;
        assert!(percentile(&h, 50.0) >= 10 && percentile(&h, 50.0) < 12);
        assert!(percentile(&h, 99.9) >= 1000);
    }

    #[test]
    fn counters_add_up_across_threads() {
        let before = total(Stat::ExpiredStaleSamples);
        let t = std::thread::spawn(|| add(Stat::ExpiredStaleSamples, 3));
        t.join().unwrap();
        add(Stat::ExpiredStaleSamples, 2);
        assert_eq!(total(Stat::ExpiredStaleSamples) - before, 5);
    }
}
