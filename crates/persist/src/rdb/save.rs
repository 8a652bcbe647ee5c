//! Writing an RDB: the header and AUX fields, the per-database opcodes, and one key
//! with its expiry, its LRU/LFU clock and its value. The walk over the keyspace that
//! calls these, point-in-time and without stopping writers, is `crate::snapshot`.

use std::io::Write;

use redoubt_engine::clock::{idle_ms, lfu_decayed};
use redoubt_engine::entry::EntryRef;
use redoubt_engine::EvictionPolicy;

use super::object::{type_of, write_body};
use super::write::RdbWriter;
use super::{opcode, RDB_VERSION};

/// Everything a save needs besides the data.
#[derive(Clone)]
pub struct SaveOptions {
    /// `rdbcompression`.
    pub compress: bool,
    /// `rdbchecksum`.
    pub checksum: bool,
    /// True for the base of a multi-part AOF (the `aof-base` AUX field).
    pub aof_base: bool,
    /// The replication id and offset the data corresponds to, so that a restart (or
    /// a replica loading this file) can resume replication partially.
    pub repl_id: String,
    pub repl_offset: u64,
    /// The database the replication stream last selected.
    pub repl_stream_db: usize,
    /// Decides whether IDLE (LRU policies) or FREQ (LFU policies) is written per key.
    pub policy: EvictionPolicy,
    pub lfu_decay_time: u32,
    /// The code of every FUNCTION library, written before the keys (as Redis does).
    pub functions: Vec<Vec<u8>>,
}

/// What the clock field of each key turns into.
fn keeps_lru(p: EvictionPolicy) -> bool {
    matches!(p, EvictionPolicy::AllkeysLru | EvictionPolicy::VolatileLru)
}

/// Writes the magic, the AUX fields Redis 7.0 writes (in its order) and the function
/// libraries.
pub fn write_header<W: Write>(
    w: &mut RdbWriter<W>,
    opts: &SaveOptions,
    redis_version: &str,
    now_ms: i64,
    used_mem: usize,
) -> std::io::Result<()> {
    w.raw(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
    w.aux("redis-ver", redis_version.as_bytes())?;
    w.aux_int("redis-bits", 64)?;
    w.aux_int("ctime", now_ms / 1000)?;
    w.aux_int("used-mem", used_mem as i64)?;
    w.aux_int("repl-stream-db", opts.repl_stream_db as i64)?;
    w.aux("repl-id", opts.repl_id.as_bytes())?;
    w.aux_int("repl-offset", opts.repl_offset as i64)?;
    w.aux_int("aof-base", opts.aof_base as i64)?;
    for code in &opts.functions {
        w.byte(opcode::FUNCTION2)?;
        w.string(code)?;
    }
    Ok(())
}

/// SELECTDB, and RESIZEDB with the database's sizes when they are known.
pub fn write_select<W: Write>(w: &mut RdbWriter<W>, db: usize, sizes: Option<(usize, usize)>) -> std::io::Result<()> {
    w.byte(opcode::SELECTDB)?;
    w.len(db as u64)?;
    if let Some((keys, volatile)) = sizes {
        w.byte(opcode::RESIZEDB)?;
        w.len(keys as u64)?;
        w.len(volatile as u64)?;
    }
    Ok(())
}

/// Writes one key: expiry, clock, type, key, value (`rdbSaveKeyValuePair`).
pub fn write_entry<W: Write>(
    w: &mut RdbWriter<W>,
    e: EntryRef<'_>,
    opts: &SaveOptions,
    now_ms: i64,
) -> std::io::Result<()> {
    if let Some(t) = e.expire_ms() {
        w.byte(opcode::EXPIRETIME_MS)?;
        w.millis(t)?;
    }
    if keeps_lru(opts.policy) {
        w.byte(opcode::IDLE)?;
        w.len(idle_ms(e.lru(), now_ms) / 1000)?;
    } else if opts.policy.is_lfu() {
        w.byte(opcode::FREQ)?;
        w.byte(lfu_decayed(e.lru(), now_ms, opts.lfu_decay_time) as u8)?;
    }
    let v = e.value();
    w.byte(type_of(v))?;
    w.string(e.key())?;
    write_body(w, v)
}
