//! # redoubt-engine — the data, and what commands do to it
//!
//! This crate holds the keyspace and the data commands. It knows no sockets, no
//! clients and no configuration files (those are `redoubt-server`'s); it may depend on
//! `redoubt-resp` only to write replies.
//!
//! Map:
//! - [`slot`]: CRC16 hash slots and hash tags.
//! - [`entry`]: one key's single-allocation storage (key, expiry, clock, value).
//! - [`dict`]: the chained hash table of one slot, with the SCAN cursor.
//! - [`keyspace`]: shards (one lock each) of per-slot tables, for every database.
//! - [`value`]: value types and encodings (int, embstr, raw, objects).
//! - [`types`]: the collection data structures (list, hash, set, zset).
//! - [`exec`]: the command context: lookups with lazy expiry, writes, propagation.
//! - [`blocking`]: clients blocked on keys (BLPOP, BZPOPMIN, ...) and serving them.
//! - [`journal`]: the ordered stream of writes (replication, backlog, AOF).
//! - [`snapshot`]: serialize-before-mutate, for point-in-time snapshots without fork.
//! - [`expire`]: the active expiry cycle.
//! - [`evict`]: maxmemory and the eviction policies.
//! - [`digest`]: DEBUG DIGEST, identical to Redis's for the same data.
//! - [`notify`]: keyspace notification classes.
//! - [`command`]: command metadata (generated from Redis 7.0) and key specs.
//! - [`cmd`]: the data commands, one module per family.
//! - [`float`]: doubles parsed and printed as Redis does (`strtod`, fixed-point, human).
//! - [`pqsort`]: Redis's partial quicksort (SORT with LIMIT, GEOSEARCH with COUNT), so
//!   equal elements come out in Redis's order.
//! - [`varint`]: the LEB128 lengths of the engine's own packed layouts.
//! - [`clock`], [`glob`], [`memory`], [`stats`], [`longdouble`]: support.
//!
//! Hot path (a single-key command): hash the key, lock one shard, look up in one slot
//! table, write the reply. Forbidden there: blocking I/O, logging, any lock other than
//! the key's shard (and the journal's, only while a replica or AOF consumes it).

pub mod blocking;
pub mod clock;
pub mod cmd;
pub mod command;
pub mod dict;
pub mod digest;
pub mod engine;
pub mod entry;
pub mod evict;
pub mod exec;
pub mod expire;
pub mod float;
pub mod glob;
pub mod journal;
pub mod keyspace;
pub mod longdouble;
pub mod memory;
pub mod notify;
pub mod pqsort;
pub mod slot;
pub mod snapshot;
pub mod stats;
pub mod types;
pub mod value;
pub mod varint;

pub use engine::{Engine, EvictionPolicy, Knobs};
pub use exec::{CmdError, CmdResult, Ctx, Db};
