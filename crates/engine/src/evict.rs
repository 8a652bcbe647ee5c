//! maxmemory: when used memory is over the limit, [`perform_evictions`] deletes keys
//! chosen by `maxmemory-policy` until it is back under, before a command that may grow
//! memory runs. The caller rejects such a command with `-OOM` (`err::OOM`) when this
//! returns [`NeedMemory`].
//!
//! The choice is approximate, as in Redis 7.0 (`evict.c`): rather than keep every key
//! ordered by idle time, frequency or TTL, each round samples `maxmemory-samples`
//! random keys per database (volatile ones only, for the `volatile-*` policies) into a
//! pool of the [`POOL_SIZE`] best candidates seen so far, and evicts the best of the
//! pool. The pool survives between calls, which is what makes a handful of samples per
//! round behave close to true LRU. The `*-random` policies evict a random key of each
//! database in turn. `noeviction` never evicts.
//!
//! Freed memory is estimated from the evicted entries' sizes rather than read back
//! from the allocator counter after each deletion as Redis does, because
//! [`memory::used_bytes`] is folded in per thread in steps of up to
//! [`memory::FLUSH_BYTES`] and would lag; the counter is still re-read every
//! [`RECHECK_EVERY`] evictions, so an estimate that runs low cannot over-evict by much.
//!
//! Chapters: LIMITS AND OUTCOMES, THE CALL, SAMPLING, THE POOL, EVICTING ONE KEY.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redoubt_resp::request::OwnedArgs;

use crate::clock::{self, idle_ms, lfu_decayed};
use crate::dict::Dict;
use crate::engine::{Engine, EvictionPolicy};
use crate::entry::EntryRef;
use crate::exec::{fast_random, Db};
use crate::keyspace::{KeyLoc, SHARDS};
use crate::memory;
use crate::stats::{self, Stat};
use crate::value::{Object, ValueRef};

/* ---- LIMITS AND OUTCOMES ---- */

/// Candidates kept between rounds (Redis's `EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;
/// `maxmemory-samples` is clamped to this many samples per database per round, so that
/// a huge setting cannot make one round unbounded.
pub const SAMPLES_MAX: usize = 64;
/// Keys one call may evict, a bound that holds whatever the clock does.
pub const EVICTIONS_PER_CALL_MAX: u64 = 16 * 1024;
/// Rounds in a row that may find nothing to evict (every sampled candidate deleted by
/// someone else meanwhile) before the call gives up.
pub const FRUITLESS_ROUNDS_MAX: u32 = 64;
/// The real memory reading is taken again after this many evictions (as Redis does).
pub const RECHECK_EVERY: u64 = 16;
/// Sampling tries to find a volatile key with random picks this many times, then falls
/// back to scanning a few buckets from a random place.
const VOLATILE_RANDOM_TRIES: usize = 8;
/// Buckets that fallback scan may visit.
const VOLATILE_SCAN_BUCKETS_MAX: usize = 64;
/// How long a census of candidate keys per shard is trusted. Taking one locks every
/// shard, which under steady memory pressure (a call before every write) would cost
/// more than the evictions themselves; a census a little stale only skews sampling.
const CENSUS_MAX_AGE: Duration = Duration::from_millis(100);

/// Redis's default eviction time limit per call (`maxmemory-eviction-tenacity` 10).
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_micros(500);

/// The time one call may spend evicting for a given `maxmemory-eviction-tenacity`
/// (0..=100), as Redis's `evictionTimeLimitUs`: linear up to 10 (500 µs), then growing
/// 15% per step; 100 means no limit (`None`).
pub fn time_limit_for_tenacity(tenacity: u32) -> Option<Duration> {
    match tenacity {
        0..=10 => Some(Duration::from_micros(50 * tenacity as u64)),
        11..=99 => Some(Duration::from_micros((500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64)),
        _ => None,
    }
}

/// What a call did when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictOutcome {
    /// maxmemory is off or not exceeded: nothing to do.
    UnderLimit,
    /// This is a replica: like Redis with `replica-ignore-maxmemory yes` (the default),
    /// it evicts nothing and follows its master's deletions.
    Replica,
    /// Enough was evicted to get back under the limit (by estimate or by reading).
    Evicted { keys: u64, bytes: u64 },
    /// The call's time or work limit ran out while still over the limit, with keys left
    /// to evict: like Redis's `EVICT_RUNNING`, the command may proceed, and the next
    /// call goes on evicting.
    Running { keys: u64, bytes: u64 },
}

/// Memory is over the limit and nothing more can be evicted (`noeviction`, or no
/// candidate keys for the policy): the caller answers with `err::OOM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedMemory {
    /// Keys evicted before candidates ran out.
    pub evicted_keys: u64,
}

/* ---- THE CALL ---- */

/// Evicts keys until used memory ([`memory::used_bytes`]) is back under `maxmemory`,
/// within Redis's default time limit. See [`perform_evictions_with`].
pub fn perform_evictions(engine: &Engine) -> Result<EvictOutcome, NeedMemory> {
    perform_evictions_with(engine, memory::used_bytes, Some(DEFAULT_TIME_LIMIT))
}

/// Evicts keys by `maxmemory-policy` while `used()` is over `maxmemory` (0 = no limit),
/// for at most `time_limit` (`None`: no time limit; [`EVICTIONS_PER_CALL_MAX`] still
/// bounds the call). Each eviction counts `evicted_keys` and journals a DEL (UNLINK with
/// `lazyfree-lazy-eviction`) before its shard lock is released.
///
/// Calls are serialized: two threads over the limit at once would otherwise both evict
/// for the same excess. The second one re-reads `used()` once it gets its turn and
/// usually finds nothing left to do. The caller must hold no shard lock: a call locks
/// shards while it holds the eviction lock.
pub fn perform_evictions_with(
    engine: &Engine,
    used: impl Fn() -> usize,
    time_limit: Option<Duration>,
) -> Result<EvictOutcome, NeedMemory> {
    let knobs = &engine.knobs;
    let max = knobs.maxmemory.load(Relaxed);
    if max == 0 || used() as u64 <= max {
        return Ok(EvictOutcome::UnderLimit);
    }
    if knobs.is_replica.load(Relaxed) {
        return Ok(EvictOutcome::Replica);
    }
    let policy = knobs.policy();
    if policy == EvictionPolicy::NoEviction {
        return Err(NeedMemory { evicted_keys: 0 });
    }
    let mut evictor = EVICTOR.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let used_now = used() as u64;
    if used_now <= max {
        return Ok(EvictOutcome::UnderLimit);
    }
    let to_free = used_now - max;
    evictor.prepare(engine, policy, start);
    let mut fresh_census = evictor.census_at == Some(start);

    let (mut keys, mut bytes) = (0u64, 0u64);
    let (mut freeing_rounds, mut fruitless) = (0u64, 0u32);
    // Each round frees a key or counts as fruitless, so this bounds the rounds.
    let rounds_max = EVICTIONS_PER_CALL_MAX + FRUITLESS_ROUNDS_MAX as u64;
    let stop = 'rounds: {
        for _ in 0..rounds_max {
            if bytes >= to_free {
                break 'rounds Stop::Done;
            }
            if evictor.candidates_left() == 0 {
                // Before giving up on a cached census, count again: keys may have
                // arrived since.
                if fresh_census {
                    break 'rounds Stop::NoCandidates;
                }
                evictor.take_census(engine, policy, Instant::now());
                fresh_census = true;
                continue;
            }
            let Some(freed) = evictor.evict_one(engine, policy, clock::now_ms()) else {
                // Samples drawn by a cached census may all miss (keys moved since):
                // count again once before calling rounds fruitless.
                if !fresh_census {
                    evictor.take_census(engine, policy, Instant::now());
                    fresh_census = true;
                    continue;
                }
                fruitless += 1;
                if fruitless >= FRUITLESS_ROUNDS_MAX {
                    break 'rounds Stop::NoCandidates;
                }
                continue;
            };
            fruitless = 0;
            keys += freed.evicted as u64;
            bytes += freed.bytes;
            freeing_rounds += 1;
            // As Redis: every few keys, see whether the real reading is already under
            // (the estimate may run low), then whether the time is up.
            if freeing_rounds % RECHECK_EVERY == 0 {
                if used() as u64 <= max {
                    break 'rounds Stop::Done;
                }
                if time_limit.is_some_and(|t| start.elapsed() >= t) {
                    break 'rounds Stop::Limit;
                }
            }
            if keys >= EVICTIONS_PER_CALL_MAX {
                break 'rounds Stop::Limit;
            }
        }
        Stop::Limit
    };
    stats::add(Stat::EvictionCpuUs, start.elapsed().as_micros() as u64);
    match stop {
        Stop::Done => Ok(EvictOutcome::Evicted { keys, bytes }),
        _ if bytes >= to_free || used() as u64 <= max => Ok(EvictOutcome::Evicted { keys, bytes }),
        Stop::NoCandidates => Err(NeedMemory { evicted_keys: keys }),
        Stop::Limit => Ok(EvictOutcome::Running { keys, bytes }),
    }
}

/// Why a call's rounds ended.
enum Stop {
    /// Enough was freed.
    Done,
    /// Nothing (more) can be evicted.
    NoCandidates,
    /// The time or work limit of the call.
    Limit,
}

/// The state kept between calls: the pool, the census, and where the random policies
/// resume. One per process, since calls are serialized anyway; it remembers which
/// engine and policy it served, so that a second engine (tests) or a policy change
/// starts from an empty pool (scores of different policies do not compare).
struct Evictor {
    engine_id: usize,
    policy: EvictionPolicy,
    pool: Pool,
    /// Next database for the `*-random` policies (Redis's static `next_db`).
    next_db: usize,
    /// Candidate keys per database and shard, counted at the start of the call (keys,
    /// or volatile keys for `volatile-*`): the weights for sampling. Kept up to date
    /// with our own evictions; other writers may make it slightly stale, which only
    /// skews the sampling a little.
    census: Vec<[usize; SHARDS]>,
    /// Row sums of `census`.
    census_totals: Vec<usize>,
    /// When the census was taken; None: never, or invalidated.
    census_at: Option<Instant>,
}

static EVICTOR: Mutex<Evictor> = Mutex::new(Evictor {
    engine_id: 0,
    policy: EvictionPolicy::NoEviction,
    pool: Pool::new(),
    next_db: 0,
    census: Vec::new(),
    census_totals: Vec::new(),
    census_at: None,
});

/// Freed by one round.
struct Freed {
    /// 1 when a key was evicted, 0 when the candidate had expired and was deleted as
    /// expired instead (its memory is freed all the same).
    evicted: u8,
    bytes: u64,
}

impl Evictor {
    /// Readies the state for a call at `now`: forgets what belongs to another engine
    /// or policy, and counts the candidates again if the census is too old.
    fn prepare(&mut self, engine: &Engine, policy: EvictionPolicy, now: Instant) {
        let id = engine as *const Engine as usize;
        if self.engine_id != id || self.policy != policy {
            self.engine_id = id;
            self.policy = policy;
            self.pool.clear();
            self.next_db = 0;
            self.census_at = None;
        }
        if self.census_at.is_none_or(|at| now.saturating_duration_since(at) > CENSUS_MAX_AGE) {
            self.take_census(engine, policy, now);
        }
    }

    /// Counts the candidate keys of every database in every shard (one shard locked
    /// at a time).
    fn take_census(&mut self, engine: &Engine, policy: EvictionPolicy, now: Instant) {
        let dbs = engine.keyspace.databases();
        self.census.clear();
        self.census.resize(dbs, [0; SHARDS]);
        for shard in 0..SHARDS {
            let mut locked = engine.keyspace.lock_shard(shard);
            let Some(s) = locked.shard(shard) else { continue };
            for (d, part) in s.dbs.iter().enumerate().take(dbs) {
                self.census[d][shard] = if policy.volatile_only() { part.volatile() } else { part.keys() };
            }
        }
        self.census_totals = self.census.iter().map(|row| row.iter().sum()).collect();
        self.census_at = Some(now);
    }

    fn candidates_left(&self) -> usize {
        self.census_totals.iter().sum::<usize>() + self.pool.len()
    }

    /// One round: pick a victim by `policy` and evict it. None when no key could be
    /// evicted this round.
    fn evict_one(&mut self, engine: &Engine, policy: EvictionPolicy, now_ms: i64) -> Option<Freed> {
        let decay = engine.knobs.lfu_decay_time.load(Relaxed);
        let volatile = policy.volatile_only();
        if matches!(policy, EvictionPolicy::AllkeysRandom | EvictionPolicy::VolatileRandom) {
            let dbs = self.census.len();
            for _ in 0..dbs {
                let d = self.next_db % dbs;
                self.next_db = (d + 1) % dbs;
                if self.census_totals[d] == 0 {
                    continue;
                }
                let s = self.sample(engine, d, volatile)?;
                return self.evict(engine, d, &s.key, now_ms);
            }
            return None;
        }

        let samples = (engine.knobs.maxmemory_samples.load(Relaxed) as usize).clamp(1, SAMPLES_MAX);
        for d in 0..self.census.len() {
            if self.census_totals[d] == 0 {
                continue;
            }
            for _ in 0..samples {
                if let Some(s) = self.sample(engine, d, volatile) {
                    let score = score(policy, &s, now_ms, decay);
                    self.pool.offer(Candidate { score, db: d, key: s.key });
                }
            }
        }
        // Best first; a candidate deleted since it was sampled is a ghost: drop it and
        // try the next. The pool's size bounds this.
        while let Some(c) = self.pool.pop_best() {
            if let Some(freed) = self.evict(engine, c.db, &c.key, now_ms) {
                return Some(freed);
            }
        }
        None
    }

    /// Evicts `key` of database `d` and keeps the census in step.
    fn evict(&mut self, engine: &Engine, d: usize, key: &[u8], now_ms: i64) -> Option<Freed> {
        let freed = evict_key(engine, d, key, now_ms)?;
        let shard = KeyLoc::of(key).shard();
        if let Some(n) = self.census.get_mut(d).map(|row| &mut row[shard]) {
            if *n > 0 {
                *n -= 1;
                self.census_totals[d] -= 1;
            }
        }
        Some(freed)
    }
}

/* ---- SAMPLING ---- */

/// What a sample needs from its entry.
struct Sample {
    key: Vec<u8>,
    lru: u32,
    expire_ms: Option<i64>,
}

/// The pool's ordering value: higher is evicted first.
fn score(policy: EvictionPolicy, s: &Sample, now_ms: i64, decay_minutes: u32) -> u64 {
    match policy {
        // Redis's `estimateObjectIdleTime`, in milliseconds.
        EvictionPolicy::AllkeysLru | EvictionPolicy::VolatileLru => idle_ms(s.lru, now_ms),
        // The least frequently used first: 255 minus the decayed counter.
        EvictionPolicy::AllkeysLfu | EvictionPolicy::VolatileLfu => {
            255 - lfu_decayed(s.lru, now_ms, decay_minutes) as u64
        }
        // The soonest to expire first.
        EvictionPolicy::VolatileTtl => u64::MAX - s.expire_ms.unwrap_or(i64::MAX).max(0) as u64,
        EvictionPolicy::AllkeysRandom | EvictionPolicy::VolatileRandom | EvictionPolicy::NoEviction => 0,
    }
}

impl Evictor {
    /// A random key of database `d` (a volatile one when `volatile`): a shard weighted
    /// by the census, a slot table weighted by its count, then a random entry.
    fn sample(&self, engine: &Engine, d: usize, volatile: bool) -> Option<Sample> {
        let row = self.census.get(d)?;
        let total = *self.census_totals.get(d)?;
        if total == 0 {
            return None;
        }
        let shard = weighted_pick(row.iter().copied(), fast_random() % total as u64)?;
        let mut locked = engine.keyspace.lock_shard(shard);
        let part = locked.shard(shard)?.dbs.get(d)?;
        let weight = |t: &Dict| if volatile { t.volatile() } else { t.len() };
        let in_shard: usize = part.dicts(shard).map(|(_, t)| weight(t)).sum();
        if in_shard == 0 {
            return None;
        }
        let i = weighted_pick(part.dicts(shard).map(|(_, t)| weight(t)), fast_random() % in_shard as u64)?;
        let (_, dict) = part.dicts(shard).nth(i)?;
        if volatile {
            random_volatile(dict)
        } else {
            dict.random(fast_random).map(|e| sample_of(e))
        }
    }
}

fn sample_of(e: EntryRef<'_>) -> Sample {
    Sample { key: e.key().to_vec(), lru: e.lru(), expire_ms: e.expire_ms() }
}

/// The index at which `pick` (below the sum of `weights`) falls.
fn weighted_pick(weights: impl Iterator<Item = usize>, mut pick: u64) -> Option<usize> {
    for (i, w) in weights.enumerate() {
        if pick < w as u64 {
            return Some(i);
        }
        pick -= w as u64;
    }
    None
}

/// A random entry with an expiry. Random picks first; when volatile keys are rare in
/// this table, a short scan from a random bucket, taking the first one it meets.
fn random_volatile(dict: &Dict) -> Option<Sample> {
    for _ in 0..VOLATILE_RANDOM_TRIES {
        let e = dict.random(fast_random)?;
        if e.expire_ms().is_some() {
            return Some(sample_of(e));
        }
    }
    let mut found = None;
    let mut cursor = fast_random();
    for _ in 0..VOLATILE_SCAN_BUCKETS_MAX {
        cursor = dict.scan(cursor, |e| {
            if found.is_none() && e.expire_ms().is_some() {
                found = Some(sample_of(e));
            }
        });
        if found.is_some() || cursor == 0 {
            break;
        }
    }
    found
}

/* ---- THE POOL ---- */

struct Candidate {
    score: u64,
    db: usize,
    key: Vec<u8>,
}

/// The best [`POOL_SIZE`] candidates seen, in ascending score order (best last).
struct Pool {
    items: Vec<Candidate>,
}

impl Pool {
    const fn new() -> Pool {
        Pool { items: Vec::new() }
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn clear(&mut self) {
        self.items.clear();
    }

    /// Adds a candidate if it beats the worst one of a full pool. A key already in the
    /// pool is updated rather than listed twice (Redis lists it twice; the second copy
    /// would only be a ghost later).
    fn offer(&mut self, c: Candidate) {
        if let Some(i) = self.items.iter().position(|x| x.db == c.db && x.key == c.key) {
            self.items.remove(i);
        }
        if self.items.len() >= POOL_SIZE {
            if self.items.first().is_some_and(|worst| c.score <= worst.score) {
                return;
            }
            self.items.remove(0);
        }
        let at = self.items.partition_point(|x| x.score <= c.score);
        self.items.insert(at, c);
    }

    fn pop_best(&mut self) -> Option<Candidate> {
        self.items.pop()
    }
}

/* ---- EVICTING ONE KEY ---- */

/// Bytes an entry holds: its block, its bucket pointer, and its object's heap.
fn entry_bytes(e: EntryRef<'_>) -> u64 {
    let object = match e.value() {
        ValueRef::Str(_) => 0,
        ValueRef::Obj(o) => std::mem::size_of::<Object>() + o.heap_bytes(),
    };
    (e.alloc_bytes() + std::mem::size_of::<*mut u8>() + object) as u64
}

/// Deletes `key` from database `d` as an eviction: counts `evicted_keys` and journals
/// DEL or UNLINK while the shard is locked, then frees the value after the lock is
/// released. A key that turns out to be expired is deleted as an expiry instead (the
/// lazy-expiry path counts and journals it). None if the key is gone.
///
/// With `lazyfree-lazy-eviction` only the journaled verb changes: strings are freed
/// here, as Redis frees small values synchronously even then. Collections that are
/// costly to free will want a background free.
fn evict_key(engine: &Engine, d: usize, key: &[u8], now_ms: i64) -> Option<Freed> {
    let shard = KeyLoc::of(key).shard();
    let mut db = Db::new(engine, engine.keyspace.lock_shard(shard), d, now_ms);
    let bytes = match db.peek_in(d, key) {
        Ok(Some(e)) => entry_bytes(e),
        _ => return None,
    };
    let taken = db.take_in(d, key);
    let evicted = matches!(taken, Ok(Some(_)));
    if evicted {
        stats::incr(Stat::EvictedKeys);
        db.notify_in(d, crate::notify::EVICTED, "evicted", key);
        let verb: &[u8] = if engine.knobs.lazyfree_lazy_eviction.load(Relaxed) { b"UNLINK" } else { b"DEL" };
        db.propagate(d, OwnedArgs::from_slices([verb, key]));
    }
    // Journals the deletion (ours, or the expiry's) and releases the shard; then the
    // server gets the `evicted` (or `expired`) event.
    let changes = db.commit(OwnedArgs::default().args());
    engine.report_background(changes);
    match taken {
        Ok(entry) => {
            drop(entry);
            Some(Freed { evicted: evicted as u8, bytes })
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{lfu_init, lru_clock};
    use crate::entry::Entry;
    use crate::value::NewValue;

    /// Each key "costs" this much in the tests' memory reading.
    const UNIT: usize = 1000;

    fn engine(policy: EvictionPolicy, max_keys: usize) -> Engine {
        let e = Engine::new(4);
        e.knobs.set_policy(policy);
        e.knobs.maxmemory.store((max_keys * UNIT) as u64, Relaxed);
        e
    }

    fn keys(engine: &Engine) -> usize {
        (0..engine.keyspace.databases()).map(|d| engine.keyspace.count(d).0).sum()
    }

    fn used(engine: &Engine) -> impl Fn() -> usize + '_ {
        move || keys(engine) * UNIT
    }

    fn put(engine: &Engine, d: usize, key: &str, expire_ms: Option<i64>, lru: u32) {
        let mut db = Db::new(engine, engine.keyspace.lock_keys([key.as_bytes()]), d, 0);
        db.put_entry_in(d, Entry::new(key.as_bytes(), NewValue::Int(7), expire_ms, lru)).unwrap();
    }

    fn exists(engine: &Engine, d: usize, key: &str) -> bool {
        let mut db = Db::new(engine, engine.keyspace.lock_keys([key.as_bytes()]), d, 0);
        db.peek_in(d, key.as_bytes()).unwrap().is_some()
    }

    fn run(engine: &Engine) -> Result<EvictOutcome, NeedMemory> {
        perform_evictions_with(engine, used(engine), None)
    }

    #[test]
    fn nothing_to_do_under_the_limit_or_without_one() {
        let e = engine(EvictionPolicy::AllkeysLru, 10);
        put(&e, 0, "a", None, 0);
        assert_eq!(run(&e), Ok(EvictOutcome::UnderLimit));
        e.knobs.maxmemory.store(0, Relaxed);
        assert_eq!(perform_evictions_with(&e, || usize::MAX, None), Ok(EvictOutcome::UnderLimit));
        assert_eq!(perform_evictions(&e), Ok(EvictOutcome::UnderLimit));
    }

    #[test]
    fn noeviction_and_replicas_evict_nothing() {
        let e = engine(EvictionPolicy::NoEviction, 1);
        put(&e, 0, "a", None, 0);
        put(&e, 0, "b", None, 0);
        assert_eq!(run(&e), Err(NeedMemory { evicted_keys: 0 }));
        e.knobs.set_policy(EvictionPolicy::AllkeysRandom);
        e.knobs.is_replica.store(true, Relaxed);
        assert_eq!(run(&e), Ok(EvictOutcome::Replica));
        assert_eq!(keys(&e), 2);
    }

    #[test]
    fn volatile_policies_need_volatile_keys() {
        for policy in [
            EvictionPolicy::VolatileLru,
            EvictionPolicy::VolatileLfu,
            EvictionPolicy::VolatileRandom,
            EvictionPolicy::VolatileTtl,
        ] {
            let e = engine(policy, 5);
            for i in 0..20 {
                put(&e, i % 3, &format!("plain{i}"), None, 0);
            }
            put(&e, 1, "v1", Some(i64::MAX / 2), 0);
            put(&e, 2, "v2", Some(i64::MAX / 2), 0);
            // Only the two volatile keys can go, which is not enough.
            assert_eq!(run(&e), Err(NeedMemory { evicted_keys: 2 }), "{policy:?}");
            assert_eq!(keys(&e), 20);
        }
    }

    /// The bytes of every entry, as eviction estimates them: with this as the memory
    /// reading, the estimate is exact and a perfect choice of victims is observable.
    fn dataset_bytes(engine: &Engine) -> usize {
        let mut total = 0;
        for shard in 0..SHARDS {
            let mut locked = engine.keyspace.lock_shard(shard);
            let Some(s) = locked.shard(shard) else { continue };
            for part in &s.dbs {
                for (_, dict) in part.dicts(shard) {
                    total += dict.iter().map(|e| entry_bytes(e) as usize).sum::<usize>();
                }
            }
        }
        total
    }

    /// Sets maxmemory so that exactly `victims` must go, and evicts.
    fn evict_exactly(engine: &Engine, victims: &[Entry]) -> Result<EvictOutcome, NeedMemory> {
        let excess: usize = victims.iter().map(|e| entry_bytes(e.as_ref()) as usize).sum();
        engine.knobs.maxmemory.store((dataset_bytes(engine) - excess) as u64, Relaxed);
        perform_evictions_with(engine, || dataset_bytes(engine), None)
    }

    #[test]
    fn allkeys_lru_evicts_the_idle_keys() {
        let now = clock::now_ms();
        let e = engine(EvictionPolicy::AllkeysLru, 0);
        let mut old = Vec::new();
        for i in 0..200 {
            put(&e, i % 4, &format!("old{i}"), None, lru_clock(now - 3_600_000));
            put(&e, i % 4, &format!("new{i}"), None, lru_clock(now));
            old.push(Entry::new(format!("old{i}").as_bytes(), NewValue::Int(7), None, 0));
        }
        let before = stats::total(Stat::EvictedKeys);
        // Names differ in length, so a wrong pick or two may take an extra key.
        let r = evict_exactly(&e, &old);
        assert!(matches!(r, Ok(EvictOutcome::Evicted { keys: 200..=210, .. })), "{r:?}");
        assert!(stats::total(Stat::EvictedKeys) - before >= 200);
        let new_left = (0..200).filter(|&i| exists(&e, i % 4, &format!("new{i}"))).count();
        assert!(new_left >= 190, "only {new_left} recently used keys kept");
    }

    #[test]
    fn allkeys_lfu_evicts_the_rarely_used_keys() {
        let now = clock::now_ms();
        let e = engine(EvictionPolicy::AllkeysLfu, 0);
        let hot = (lfu_init(now) & !0xff) | 200;
        let mut cold = Vec::new();
        for i in 0..100 {
            put(&e, 0, &format!("cold{i}"), None, lfu_init(now));
            put(&e, 0, &format!("hot{i}"), None, hot);
            cold.push(Entry::new(format!("cold{i}").as_bytes(), NewValue::Int(7), None, 0));
        }
        assert!(matches!(evict_exactly(&e, &cold), Ok(EvictOutcome::Evicted { .. })));
        let hot_left = (0..100).filter(|&i| exists(&e, 0, &format!("hot{i}"))).count();
        assert!(hot_left >= 90, "only {hot_left} frequently used keys kept");
    }

    #[test]
    fn volatile_ttl_evicts_the_soonest_to_expire() {
        let now = clock::now_ms();
        let e = engine(EvictionPolicy::VolatileTtl, 0);
        let mut soon = Vec::new();
        for i in 0..100 {
            put(&e, 0, &format!("soon{i}"), Some(now + 60_000 + i), 0);
            put(&e, 0, &format!("late{i}"), Some(now + 3_600_000), 0);
            put(&e, 0, &format!("plain{i}"), None, 0);
            soon.push(Entry::new(format!("soon{i}").as_bytes(), NewValue::Int(7), Some(0), 0));
        }
        assert!(matches!(evict_exactly(&e, &soon), Ok(EvictOutcome::Evicted { .. })));
        let plain_left = (0..100).filter(|&i| exists(&e, 0, &format!("plain{i}"))).count();
        let late_left = (0..100).filter(|&i| exists(&e, 0, &format!("late{i}"))).count();
        assert_eq!(plain_left, 100, "keys without a TTL are never volatile-ttl candidates");
        assert!(late_left >= 85, "only {late_left} late-expiring keys kept");
    }

    #[test]
    fn random_policies_spread_over_databases() {
        let e = engine(EvictionPolicy::AllkeysRandom, 40);
        for i in 0..100 {
            put(&e, i % 4, &format!("k{i}"), None, 0);
        }
        assert!(matches!(run(&e), Ok(EvictOutcome::Evicted { .. })));
        assert!(keys(&e) <= 40);
        for d in 0..4 {
            assert!(e.keyspace.count(d).0 < 25, "db {d} untouched");
        }
    }

    #[test]
    fn evictions_are_journaled() {
        let e = engine(EvictionPolicy::AllkeysRandom, 1);
        // One byte over with two keys: exactly one eviction is enough.
        e.knobs.maxmemory.store(2 * UNIT as u64 - 1, Relaxed);
        e.journal.set_enabled(true);
        put(&e, 2, "a", None, 0);
        put(&e, 2, "b", None, 0);
        assert!(matches!(run(&e), Ok(EvictOutcome::Evicted { keys: 1, .. })));
        let all = e.journal.read_from(0, usize::MAX).unwrap();
        let gone = if exists(&e, 2, "a") { "b" } else { "a" };
        let want = format!("*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\n{gone}\r\n");
        assert_eq!(String::from_utf8_lossy(&all), want);

        e.knobs.lazyfree_lazy_eviction.store(true, Relaxed);
        put(&e, 2, gone, None, 0);
        let before = e.journal.offset();
        assert!(matches!(run(&e), Ok(EvictOutcome::Evicted { keys: 1, .. })));
        let tail = e.journal.read_from(before, usize::MAX).unwrap();
        assert!(tail.starts_with(b"*2\r\n$6\r\nUNLINK\r\n"), "{}", String::from_utf8_lossy(&tail));
    }

    #[test]
    fn a_stale_census_is_taken_again() {
        let e = engine(EvictionPolicy::AllkeysRandom, 1);
        e.knobs.maxmemory.store(2 * UNIT as u64 - 1, Relaxed);
        put(&e, 0, "a", None, 0);
        put(&e, 0, "b", None, 0);
        assert!(matches!(run(&e), Ok(EvictOutcome::Evicted { keys: 1, .. })));
        // The cached census now points at db 0 only, where the last key goes away.
        for k in ["a", "b"] {
            let mut db = Db::new(&e, e.keyspace.lock_keys([k.as_bytes()]), 0, 0);
            db.delete(k.as_bytes()).unwrap();
        }
        put(&e, 3, "x", None, 0);
        put(&e, 3, "y", None, 0);
        assert!(matches!(run(&e), Ok(EvictOutcome::Evicted { keys: 1, .. })));
        assert_eq!(e.keyspace.count(3).0, 1);
    }

    #[test]
    fn expired_candidates_are_expired_not_evicted() {
        let e = engine(EvictionPolicy::VolatileTtl, 0);
        e.knobs.maxmemory.store(1, Relaxed);
        put(&e, 0, "dead", Some(1), 0);
        let before = stats::total(Stat::ExpiredKeys);
        assert_eq!(run(&e), Ok(EvictOutcome::Evicted { keys: 0, bytes: run_bytes("dead") }));
        assert_eq!(keys(&e), 0);
        assert!(stats::total(Stat::ExpiredKeys) > before);
    }

    fn run_bytes(key: &str) -> u64 {
        entry_bytes(Entry::new(key.as_bytes(), NewValue::Int(7), Some(1), 0).as_ref())
    }

    #[test]
    fn pool_keeps_the_best_and_no_duplicates() {
        let mut p = Pool::new();
        for i in 0..40u64 {
            p.offer(Candidate { score: i, db: 0, key: i.to_string().into_bytes() });
        }
        p.offer(Candidate { score: 1000, db: 0, key: b"39".to_vec() });
        assert_eq!(p.len(), POOL_SIZE);
        assert_eq!(p.pop_best().map(|c| (c.score, c.key)), Some((1000, b"39".to_vec())));
        assert_eq!(p.pop_best().map(|c| c.score), Some(38));
        assert!(p.items.iter().all(|c| c.score >= 24));
    }

    #[test]
    fn tenacity_time_limits() {
        assert_eq!(time_limit_for_tenacity(10), Some(DEFAULT_TIME_LIMIT));
        assert_eq!(time_limit_for_tenacity(0), Some(Duration::ZERO));
        assert!(time_limit_for_tenacity(50).is_some_and(|t| t > Duration::from_millis(100)));
        assert_eq!(time_limit_for_tenacity(100), None);
    }
}
