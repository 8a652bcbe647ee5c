//! The active expiry cycle: the server's cron calls [`active_expire_cycle`] `hz` times
//! a second to delete keys whose time has passed but that nobody has touched since
//! (lazy expiry only catches keys that are looked up), so their memory comes back.
//!
//! It follows Redis 7.0's slow cycle (`activeExpireCycle` in `expire.c`): databases are
//! visited in turn, starting where the previous call stopped; in each, volatile keys are
//! examined in windows of `20 + 5 * (effort - 1)` and the database is left as soon as a
//! window finds no more than `10 - (effort - 1)` percent of them expired, since most of
//! what is left is then alive and looking further costs more than it frees.
//!
//! Where it differs, and why:
//! - Redis walks a separate dict of volatile keys; here the expiry lives in the entry,
//!   so the cycle walks the slot tables that hold volatile keys (per-shard and per-slot
//!   volatile counts let it skip the rest) and passes over non-volatile entries in the
//!   tables it does walk. Those visits count against the per-call entry budget.
//! - The walk is a cursor over (slot, bucket) per database, in shard order, so each
//!   shard lock is taken once per stretch of slots, and a call resumes exactly where the
//!   last one stopped: over successive calls every key is examined, like Redis's
//!   `expires_cursor`.
//! - A deletion goes through [`Db`], exactly as a lazy expiry does: `expired_keys` is
//!   counted and a DEL (UNLINK with `lazyfree-lazy-expire`) is journaled before the
//!   shard lock is released.

use std::time::{Duration, Instant};

use redoubt_resp::request::OwnedArgs;

use crate::clock;
use crate::engine::Engine;
use crate::exec::{Access, Db};
use crate::keyspace::{SHARDS, SLOTS_PER_SHARD};
use crate::slot::SLOTS;
use crate::stats::{self, Stat};

/// Volatile keys examined per window at effort 1 (Redis's
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`); each effort step above 1 adds a quarter.
pub const KEYS_PER_WINDOW: u64 = 20;
/// A database is left once a window finds at most this percentage expired, at effort 1
/// (`ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE`); each effort step lowers it by one.
pub const ACCEPTABLE_STALE_PERCENT: u64 = 10;
/// Entries (volatile or not) one call may visit, whatever its time budget: a bound that
/// holds even if the clock misbehaves. At ~100 ns a visit this is ~25 ms, Redis's
/// default slow-cycle budget at hz 10.
pub const VISITS_PER_CALL_MAX: u64 = 256 * 1024;
/// A shard lock is released and taken again after this many visits, so that a slot
/// with a great many keys (one hash tag) does not keep its shard's clients waiting.
pub const VISITS_PER_LOCK_MAX: u64 = 1024;
/// Buckets scanned between two checks of the budget.
pub const BUCKETS_PER_STEP: usize = 64;

/// Where the cycle stands, kept by the caller between calls.
#[derive(Debug, Default, Clone)]
pub struct ExpireCursor {
    /// The database the next call starts with (Redis's static `current_db`).
    next_db: usize,
    /// One position per database.
    positions: Vec<DbPosition>,
    /// Running estimate of the share of examined volatile keys found expired (Redis's
    /// `expired_stale_perc`, a 0..=1 ratio; INFO shows it as a percentage).
    stale_ratio: f64,
}

/// A database's walk: the next slot, in shard order, and the bucket cursor inside it.
#[derive(Debug, Default, Clone, Copy)]
struct DbPosition {
    /// 0..SLOTS: `shard * SLOTS_PER_SHARD + i`, the `i`-th slot of that shard.
    slot_pos: usize,
    bucket: u64,
}

impl ExpireCursor {
    pub fn new() -> Self {
        Self::default()
    }

    /// INFO's `expired_stale_perc`: the running estimate, in percent.
    pub fn stale_percent(&self) -> f64 {
        self.stale_ratio * 100.0
    }
}

/// What one call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpireStats {
    /// Entries looked at, volatile or not.
    pub visited: u64,
    /// Volatile entries looked at.
    pub sampled: u64,
    /// Keys deleted.
    pub expired: u64,
    /// True when the call stopped on its time or entry budget with work left.
    pub budget_reached: bool,
    /// Time the call took, in microseconds.
    pub elapsed_us: u64,
}

/// The tunables of one call, derived from `active-expire-effort`.
#[derive(Clone, Copy)]
struct Params {
    keys_per_window: u64,
    acceptable_stale_percent: u64,
    deadline: Instant,
    now_ms: i64,
}

/// Deletes expired keys for at most `time_budget` (and [`VISITS_PER_CALL_MAX`]
/// entries), resuming at `state`'s position. Does nothing while active expiry is off
/// (DEBUG SET-ACTIVE-EXPIRE 0) or on a replica, which waits for its master's DELs.
/// Each call makes some progress, even with a zero budget.
pub fn active_expire_cycle(engine: &Engine, state: &mut ExpireCursor, time_budget: Duration) -> ExpireStats {
    active_expire_cycle_at(engine, state, time_budget, clock::now_ms())
}

/// [`active_expire_cycle`] with the clock given: keys expire when `now_ms` is past
/// their expiry.
pub fn active_expire_cycle_at(
    engine: &Engine,
    state: &mut ExpireCursor,
    time_budget: Duration,
    now_ms: i64,
) -> ExpireStats {
    use std::sync::atomic::Ordering::Relaxed;
    let knobs = &engine.knobs;
    let mut out = ExpireStats::default();
    if !knobs.active_expire.load(Relaxed) || knobs.is_replica.load(Relaxed) {
        return out;
    }
    let start = Instant::now();
    let effort = knobs.active_expire_effort.load(Relaxed).clamp(1, 10) as u64 - 1;
    let params = Params {
        keys_per_window: KEYS_PER_WINDOW + KEYS_PER_WINDOW / 4 * effort,
        acceptable_stale_percent: ACCEPTABLE_STALE_PERCENT - effort,
        deadline: start.checked_add(time_budget).unwrap_or(start),
        now_ms,
    };
    let dbs = engine.keyspace.databases();
    state.positions.resize(dbs, DbPosition::default());
    let mut db = Db::new(engine, engine.keyspace.lock_none(), 0, now_ms);
    for _ in 0..dbs {
        let index = state.next_db % dbs;
        // Advanced before the walk, as Redis does: a database that used up the budget
        // does not get first turn again next time, so one busy database cannot starve
        // the others.
        state.next_db = (index + 1) % dbs;
        if !expire_db(&mut db, index, &mut state.positions[index], &params, &mut out) {
            out.budget_reached = true;
            break;
        }
    }
    // Journals the last shard's deletions, then releases its lock; the `expired`
    // events go to the server (notifications) once no lock is held.
    let changes = db.commit(OwnedArgs::default().args());
    engine.report_background(changes);

    let current = if out.sampled > 0 { out.expired as f64 / out.sampled as f64 } else { 0.0 };
    state.stale_ratio = current * 0.05 + state.stale_ratio * 0.95;
    out.elapsed_us = start.elapsed().as_micros() as u64;
    stats::add(Stat::ActiveExpireCpuUs, out.elapsed_us);
    if out.budget_reached {
        stats::incr(Stat::ExpiredTimeCapReached);
    }
    out
}

/// The slot at walk position `pos` (shard-major, so consecutive positions share a lock).
fn slot_at(pos: usize) -> u16 {
    ((pos % SLOTS_PER_SHARD) * SHARDS + pos / SLOTS_PER_SHARD) as u16
}

/// Walks database `index` from `pos` until a window comes back mostly alive or one full
/// pass is done. Returns false when the call's budget ran out first.
fn expire_db(db: &mut Db<'_>, index: usize, pos: &mut DbPosition, p: &Params, out: &mut ExpireStats) -> bool {
    let (mut win_sampled, mut win_expired) = (0u64, 0u64);
    let mut held: Option<usize> = None;
    let mut visits_under_lock = 0u64;
    let mut expired_keys: Vec<Vec<u8>> = Vec::new();
    // One full pass at most: every slot once, plus the slot we may have started in the
    // middle of. Each step below either finishes a slot, skips a whole shard, or stops
    // on a budget, so this also bounds the loop.
    let mut slots_left = SLOTS + 1;
    let mut first_step = true;
    while slots_left > 0 {
        // The budget is checked after at least one step, so a call always moves on.
        if !first_step && (out.visited >= VISITS_PER_CALL_MAX || Instant::now() >= p.deadline) {
            return false;
        }
        first_step = false;
        let shard = pos.slot_pos / SLOTS_PER_SHARD;
        if held != Some(shard) || visits_under_lock >= VISITS_PER_LOCK_MAX {
            db.relock_shard(shard);
            held = Some(shard);
            visits_under_lock = 0;
        }
        if db.shard_part(index, shard).map_or(0, |part| part.volatile()) == 0 {
            let skipped = SLOTS_PER_SHARD - pos.slot_pos % SLOTS_PER_SHARD;
            slots_left = slots_left.saturating_sub(skipped);
            pos.slot_pos = (shard + 1) * SLOTS_PER_SHARD % SLOTS;
            pos.bucket = 0;
            continue;
        }

        // Scan a few buckets of the current slot, noting the expired keys.
        let (mut visited, mut sampled) = (0u64, 0u64);
        expired_keys.clear();
        let next_bucket = match db.slot_dict(index, slot_at(pos.slot_pos)) {
            Some(d) if d.volatile() > 0 => {
                let mut cursor = pos.bucket;
                for _ in 0..BUCKETS_PER_STEP {
                    cursor = d.scan(cursor, |e| {
                        visited += 1;
                        if let Some(at) = e.expire_ms() {
                            sampled += 1;
                            if p.now_ms > at {
                                expired_keys.push(e.key().to_vec());
                            }
                        }
                    });
                    if cursor == 0 || win_sampled + sampled >= p.keys_per_window {
                        break;
                    }
                }
                cursor
            }
            _ => 0,
        };
        // Delete through the lazy-expiry path: same stats, same journal effect. The
        // lock has been held since the scan, so each of these is still expired.
        let mut expired = 0u64;
        for key in &expired_keys {
            if matches!(db.find_in(index, key, Access::Peek), Ok(None)) {
                expired += 1;
            }
        }
        out.visited += visited;
        out.sampled += sampled;
        out.expired += expired;
        visits_under_lock += visited;
        win_sampled += sampled;
        win_expired += expired;

        pos.bucket = next_bucket;
        if next_bucket == 0 {
            pos.slot_pos = (pos.slot_pos + 1) % SLOTS;
            slots_left -= 1;
        }
        if win_sampled >= p.keys_per_window {
            if win_expired * 100 <= p.acceptable_stale_percent * win_sampled {
                return true;
            }
            (win_sampled, win_expired) = (0, 0);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Expiry;
    use crate::value::NewValue;
    use std::sync::atomic::Ordering::Relaxed;

    const NOW: i64 = 1_700_000_000_000;

    fn set(engine: &Engine, index: usize, key: &[u8], expiry: Expiry) {
        let mut db = Db::new(engine, engine.keyspace.lock_keys([key]), index, NOW);
        db.set_in(index, key, NewValue::Int(1), expiry).unwrap();
    }

    fn keys(engine: &Engine) -> usize {
        (0..engine.keyspace.databases()).map(|d| engine.keyspace.count(d).0).sum()
    }

    #[test]
    fn memory_comes_back_under_load() {
        let engine = Engine::new(16);
        let start = clock::now_ms();
        for i in 0..100_000u32 {
            let key = format!("key:{i}");
            let mut db = Db::new(&engine, engine.keyspace.lock_keys([key.as_bytes()]), 0, start);
            db.set_in(0, key.as_bytes(), NewValue::Int(i as i64), Expiry::At(start + 1)).unwrap();
        }
        set(&engine, 0, b"lives", Expiry::At(start + 3_600_000));
        std::thread::sleep(Duration::from_millis(5));
        let before = stats::total(Stat::ExpiredKeys);
        let mut cursor = ExpireCursor::new();
        let mut cycles = 0;
        // 10 ms per cycle; even a debug build deletes far more than 100k keys a second.
        while keys(&engine) > 1 && cycles < 200 {
            active_expire_cycle(&engine, &mut cursor, Duration::from_millis(10));
            cycles += 1;
        }
        assert_eq!(keys(&engine), 1, "still {} keys after {cycles} cycles", keys(&engine));
        assert!(stats::total(Stat::ExpiredKeys) - before >= 100_000);
        assert_eq!(engine.keyspace.count(0), (1, 1));
        assert!(cursor.stale_percent() > 0.0);
    }

    #[test]
    fn resumes_where_it_stopped() {
        let engine = Engine::new(2);
        for i in 0..5_000u32 {
            set(&engine, (i % 2) as usize, format!("k{i}").as_bytes(), Expiry::At(NOW + 10));
        }
        let mut cursor = ExpireCursor::new();
        let mut calls = 0;
        // A zero budget still makes one step per call: the walk must resume, not restart.
        while keys(&engine) > 0 && calls < 100_000 {
            let s = active_expire_cycle_at(&engine, &mut cursor, Duration::ZERO, NOW + 11);
            assert!(s.visited <= (BUCKETS_PER_STEP * 8) as u64);
            calls += 1;
        }
        assert_eq!(keys(&engine), 0, "after {calls} calls");
    }

    #[test]
    fn leaves_live_keys_and_stops_early_when_few_are_stale() {
        let engine = Engine::new(1);
        for i in 0..10_000u32 {
            set(&engine, 0, format!("live{i}").as_bytes(), Expiry::At(NOW + 60_000));
        }
        set(&engine, 0, b"plain", Expiry::Clear);
        let mut cursor = ExpireCursor::new();
        let s = active_expire_cycle_at(&engine, &mut cursor, Duration::from_secs(1), NOW);
        assert_eq!(s.expired, 0);
        assert!(s.sampled < 2 * KEYS_PER_WINDOW, "a mostly-alive window ends the walk: {s:?}");
        assert!(!s.budget_reached);
        assert_eq!(keys(&engine), 10_001);
    }

    #[test]
    fn off_switches_and_journal() {
        let engine = Engine::new(1);
        engine.journal.set_enabled(true);
        set(&engine, 0, b"gone", Expiry::At(NOW - 1));
        set(&engine, 0, b"stays", Expiry::At(NOW + 60_000));
        let mut cursor = ExpireCursor::new();

        engine.knobs.active_expire.store(false, Relaxed);
        assert_eq!(active_expire_cycle_at(&engine, &mut cursor, Duration::from_secs(1), NOW).expired, 0);
        engine.knobs.active_expire.store(true, Relaxed);
        engine.knobs.is_replica.store(true, Relaxed);
        assert_eq!(active_expire_cycle_at(&engine, &mut cursor, Duration::from_secs(1), NOW).expired, 0);
        engine.knobs.is_replica.store(false, Relaxed);
        assert_eq!(keys(&engine), 2);

        let before = engine.journal.offset();
        let s = active_expire_cycle_at(&engine, &mut cursor, Duration::from_secs(1), NOW);
        assert_eq!((s.expired, keys(&engine)), (1, 1));
        let tail = engine.journal.read_from(before, usize::MAX).unwrap();
        assert!(tail.ends_with(b"*2\r\n$3\r\nDEL\r\n$4\r\ngone\r\n"), "{}", String::from_utf8_lossy(&tail));

        engine.knobs.lazyfree_lazy_expire.store(true, Relaxed);
        set(&engine, 0, b"gone", Expiry::At(NOW - 1));
        let before = engine.journal.offset();
        active_expire_cycle_at(&engine, &mut cursor, Duration::from_secs(1), NOW);
        let tail = engine.journal.read_from(before, usize::MAX).unwrap();
        assert!(tail.ends_with(b"*2\r\n$6\r\nUNLINK\r\n$4\r\ngone\r\n"), "{}", String::from_utf8_lossy(&tail));
    }

    #[test]
    fn slot_walk_covers_every_slot_once() {
        let mut seen = vec![false; SLOTS];
        for pos in 0..SLOTS {
            let s = slot_at(pos) as usize;
            assert!(!seen[s]);
            seen[s] = true;
            assert_eq!(crate::keyspace::shard_of_slot(s as u16), pos / SLOTS_PER_SHARD);
        }
    }
}
