//! Loading an RDB into the keyspace (`rdbLoadRio`): the header, AUX fields, the
//! opcodes, then each key with its expiry and clock.
//!
//! A file that is truncated, corrupt, of an unknown version or holding data Redoubt
//! cannot represent is refused with an error saying what and where; the caller then
//! stops (at start-up) or empties what was loaded (DEBUG RELOAD), so a half-loaded
//! dataset is never served as if whole. The checksum is verified at the end, before
//! the load counts as done.

use std::io::Read;

use redoubt_engine::clock::{lfu_init, lru_clock, LRU_CLOCK_MAX};
use redoubt_engine::entry::Entry;
use redoubt_engine::exec::Db;
use redoubt_engine::keyspace::KeyLoc;
use redoubt_engine::{Engine, EvictionPolicy};

use super::object::with_engine_value;
use super::read::RdbReader;
use super::value::{module_name, read_value, Value};
use super::{corrupt, opcode, RdbError, RDB_VERSION_MAX, RDB_VERSION_MIN};

/// How to load.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Drop keys whose expiry has passed (a master does; a replica and the AOF base
    /// keep them for the master's DELs to come).
    pub drop_expired: bool,
    /// Verify the checksum (`rdbchecksum`).
    pub verify_checksum: bool,
    /// The policy decides what IDLE and FREQ set the key's clock to.
    pub policy: EvictionPolicy,
    /// Updated with the bytes read, now and then.
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

/// Keys between two updates of `LoadOptions::progress`.
const PROGRESS_EVERY_KEYS: u64 = 1024;

/// What a load found, for the log and for INFO.
#[derive(Debug, Default, Clone)]
pub struct LoadInfo {
    pub version: u32,
    pub keys_loaded: u64,
    pub keys_expired: u64,
    pub empty_keys_skipped: u64,
    pub redis_ver: Option<String>,
    pub ctime: Option<i64>,
    pub used_mem: Option<i64>,
    pub repl_id: Option<String>,
    pub repl_offset: Option<i64>,
    pub repl_stream_db: Option<i64>,
    pub aof_base: bool,
    pub bytes: u64,
}

/// An error with the offset where it was found.
#[derive(Debug)]
pub struct LoadError {
    pub offset: u64,
    pub error: RdbError,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            RdbError::Corrupt(why) => write!(f, "Internal error in RDB reading offset {} -> {why}", self.offset),
            RdbError::Truncated => {
                write!(f, "Internal error in RDB reading offset {} -> Unexpected EOF reading RDB file", self.offset)
            }
            e => write!(f, "{e}"),
        }
    }
}

/// Where loaded keys go.
pub trait KeySink {
    /// Number of databases keys may be loaded into.
    fn databases(&self) -> usize;
    /// Adds one key; a key that exists already is an error unless the sink merges.
    fn insert(&mut self, db: usize, key: &[u8], value: Value, expire: Option<i64>, clock: u32) -> Result<(), RdbError>;

    /// Loads one FUNCTION library's code. A sink without a function engine refuses.
    fn function(&mut self, code: Vec<u8>) -> Result<(), RdbError> {
        let _ = code;
        Err(RdbError::Unsupported(
            "The RDB holds functions (FUNCTION LOAD libraries) and nothing here can load them".into(),
        ))
    }
}

/// Loads into a live keyspace, locking each key's shard for its insert (start-up:
/// clients meanwhile get -LOADING; nothing else writes).
pub struct EngineSink<'e>(pub &'e Engine);

impl KeySink for EngineSink<'_> {
    fn databases(&self) -> usize {
        self.0.keyspace.databases()
    }

    fn insert(&mut self, db: usize, key: &[u8], value: Value, expire: Option<i64>, clock: u32) -> Result<(), RdbError> {
        let engine = self.0;
        let mut d = Db::new(engine, engine.keyspace.lock_shard(KeyLoc::of(key).shard()), db, 0);
        insert_into(&mut d, db, key, value, expire, clock, false)
    }
}

/// Loads through a `Db` that already holds every shard lock (DEBUG RELOAD: the whole
/// reload is one step for other clients). `merge` replaces existing keys instead of
/// refusing them (DEBUG RELOAD MERGE).
pub struct DbSink<'d, 'a> {
    pub db: &'d mut Db<'a>,
    pub merge: bool,
}

impl KeySink for DbSink<'_, '_> {
    fn databases(&self) -> usize {
        self.db.engine.keyspace.databases()
    }

    fn insert(&mut self, db: usize, key: &[u8], value: Value, expire: Option<i64>, clock: u32) -> Result<(), RdbError> {
        insert_into(self.db, db, key, value, expire, clock, self.merge)
    }
}

/// Loads the RDB in `input` (`size` bytes at most) into `sink`. `notice` receives the
/// lines Redis logs while loading ("Loading RDB produced by version ..."); `progress`,
/// if given, follows the bytes read (INFO's `loading_loaded_bytes`).
pub fn load<R: Read>(
    sink: &mut dyn KeySink,
    input: R,
    size: u64,
    opts: &LoadOptions,
    notice: &mut dyn FnMut(String),
) -> Result<LoadInfo, LoadError> {
    let mut r = RdbReader::new(input, size);
    let mut info = LoadInfo::default();
    let result = load_inner(sink, &mut r, opts, &mut info, notice);
    info.bytes = r.pos();
    if let Some(p) = &opts.progress {
        p.store(r.pos(), std::sync::atomic::Ordering::Relaxed);
    }
    result.map(|_| info).map_err(|error| LoadError { offset: r.pos(), error })
}

/// Reads and checks the 9-byte header; returns the version.
pub fn read_header<R: Read>(r: &mut RdbReader<R>) -> Result<u32, RdbError> {
    let mut magic = [0u8; 9];
    r.exact(&mut magic)?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError::NotRdb);
    }
    let version = std::str::from_utf8(&magic[5..]).ok().and_then(|s| s.parse::<u32>().ok()).ok_or(RdbError::NotRdb)?;
    if !(RDB_VERSION_MIN..=RDB_VERSION_MAX).contains(&version) {
        return Err(RdbError::Version(version));
    }
    Ok(version)
}

fn load_inner<R: Read>(
    sink: &mut dyn KeySink,
    r: &mut RdbReader<R>,
    opts: &LoadOptions,
    info: &mut LoadInfo,
    notice: &mut dyn FnMut(String),
) -> Result<(), RdbError> {
    info.version = read_header(r)?;
    let databases = sink.databases();
    let now = redoubt_engine::clock::now_ms();
    let mut db = 0usize;
    let mut expire: Option<i64> = None;
    let mut idle: Option<u64> = None;
    let mut freq: Option<u8> = None;
    loop {
        let t = r.byte()?;
        match t {
            opcode::EXPIRETIME_MS => {
                expire = Some(r.millis()?);
                continue;
            }
            opcode::EXPIRETIME => {
                expire = Some(r.seconds()? * 1000);
                continue;
            }
            opcode::IDLE => {
                idle = Some(r.length()?);
                continue;
            }
            opcode::FREQ => {
                freq = Some(r.byte()?);
                continue;
            }
            opcode::EOF => break,
            opcode::SELECTDB => {
                let n = r.length()? as usize;
                if n >= databases {
                    return Err(RdbError::Unsupported(format!(
                        "FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting"
                    )));
                }
                db = n;
                continue;
            }
            opcode::RESIZEDB => {
                r.length()?;
                r.length()?;
                continue;
            }
            opcode::SLOT_INFO => {
                r.length()?;
                r.length()?;
                r.length()?;
                continue;
            }
            opcode::AUX => {
                let key = r.string()?;
                let value = r.string()?;
                aux_field(&key, &value, info, now, notice);
                continue;
            }
            opcode::MODULE_AUX => {
                let id = r.length()?;
                return Err(RdbError::Unsupported(format!(
                    "The RDB file contains AUX module data I can't load: no matching module '{}'",
                    module_name(id)
                )));
            }
            opcode::FUNCTION2 => {
                let code = r.string()?;
                sink.function(code)?;
                continue;
            }
            opcode::FUNCTION_PRE_GA => {
                return Err(RdbError::Unsupported(
                    "The RDB holds functions in the format of a Redis 7.0 release candidate, which Redoubt cannot load"
                        .into(),
                ));
            }
            _ => {}
        }
        // A key: type byte `t`, then the key, then the value.
        let key = r.string()?;
        let value = read_value(r, t)?;
        let (exp, idle_s, lfu) = (expire.take(), idle.take(), freq.take());
        if value.is_empty_collection() {
            if info.empty_keys_skipped < 10 {
                notice(format!("rdbLoadObject skipping empty key: {}", String::from_utf8_lossy(&key)));
            }
            info.empty_keys_skipped += 1;
            continue;
        }
        if opts.drop_expired && exp.is_some_and(|t| t < now) {
            info.keys_expired += 1;
            continue;
        }
        let clock = initial_clock(opts.policy, idle_s, lfu, now);
        sink.insert(db, &key, value, exp, clock)?;
        info.keys_loaded += 1;
        if info.keys_loaded.is_multiple_of(PROGRESS_EVERY_KEYS) {
            if let Some(p) = &opts.progress {
                p.store(r.pos(), std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    if info.version >= 5 {
        let expected = r.crc();
        let mut b = [0u8; 8];
        r.exact(&mut b)?;
        let got = u64::from_le_bytes(b);
        if got == 0 {
            notice("RDB file was saved with checksum disabled: no check performed.".into());
        } else if opts.verify_checksum && got != expected {
            return Err(RdbError::Checksum { expected, got });
        }
    }
    Ok(())
}

/// The clock of a loaded key (`objectSetLRUOrLFU`): from IDLE under an LRU policy, from
/// FREQ under an LFU one, otherwise a fresh one.
fn initial_clock(policy: EvictionPolicy, idle_s: Option<u64>, freq: Option<u8>, now: i64) -> u32 {
    if policy.is_lfu() {
        let base = lfu_init(now);
        match freq {
            Some(f) => (base & !0xff) | f as u32,
            None => base,
        }
    } else {
        let clock = lru_clock(now);
        match idle_s {
            Some(s) => {
                let s = (s.min(LRU_CLOCK_MAX as u64)) as u32;
                if s <= clock {
                    clock - s
                } else {
                    LRU_CLOCK_MAX - (s - clock)
                }
            }
            None => clock,
        }
    }
}

fn aux_field(key: &[u8], value: &[u8], info: &mut LoadInfo, now: i64, notice: &mut dyn FnMut(String)) {
    let text = String::from_utf8_lossy(value).into_owned();
    let int = || text.parse::<i64>().ok();
    match key {
        b"redis-ver" => {
            notice(format!("Loading RDB produced by version {text}"));
            info.redis_ver = Some(text);
        }
        b"ctime" => {
            if let Some(t) = int() {
                notice(format!("RDB age {} seconds", (now / 1000 - t).max(0)));
                info.ctime = Some(t);
            }
        }
        b"used-mem" => {
            if let Some(m) = int() {
                notice(format!("RDB memory usage when created {:.2} Mb", m as f64 / (1024.0 * 1024.0)));
                info.used_mem = Some(m);
            }
        }
        b"repl-id" => info.repl_id = Some(text),
        b"repl-offset" => info.repl_offset = int(),
        b"repl-stream-db" => info.repl_stream_db = int(),
        b"aof-base" => info.aof_base = int() == Some(1),
        // redis-bits, lua scripts of old versions, aof-preamble and unknown fields are
        // informational: Redis ignores them too.
        _ => {}
    }
}

/// Adds a loaded key through `d`. A key that already exists means the file is corrupt
/// (Redis stops with "RDB has duplicated key"), unless merging.
fn insert_into(
    d: &mut Db<'_>,
    db: usize,
    key: &[u8],
    value: Value,
    expire: Option<i64>,
    clock: u32,
    merge: bool,
) -> Result<(), RdbError> {
    if !merge && d.peek_in(db, key).ok().flatten().is_some() {
        return corrupt(format!("RDB has duplicated key '{}' in DB {db}", String::from_utf8_lossy(key)));
    }
    let entry = with_engine_value(value, &d.engine.knobs, |v| Entry::new(key, v, expire, clock))?;
    d.put_entry_in(db, entry).map_err(|e| RdbError::Corrupt(e.text().into_owned()))
}
