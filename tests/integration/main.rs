//! Black-box tests: real `redoubt-server` processes on free loopback ports, talked to
//! over raw sockets and with the `redis` crate, and compared byte for byte with the real
//! `redis-server` 7.0 (the oracle) wherever both should answer the same.
//!
//! Run: `cargo test --release -p redoubt-server --test integration` (needs `redis-server`,
//! `redis-cli` and `redis-benchmark` 7.0 on PATH). A failing differential test prints
//! every command whose replies differ, Redis's reply first; a failing test prints the
//! log, stdout and stderr of the servers it started.
//!
//! Map:
//! - [`support`]: server processes, the raw RESP client, the differential harness
//! - [`protocol`]: malformed requests and their exact errors, pipelining, inline, RESP3
//! - [`strings`]: string commands, option combinations, number limits, encodings, LCS
//! - [`bits`]: SETBIT/GETBIT, BITCOUNT/BITPOS ranges, BITOP, BITFIELD(_RO)
//! - [`keys`]: generic key commands, KEYS globs, SCAN (as sets, and its guarantee), OBJECT
//! - [`lists`]: list commands, many-node lists at every node size, list events, memory
//! - [`blocking`]: BLPOP & co. with real concurrent clients: FIFO, timeouts, UNBLOCK, MULTI
//! - [`expiry`]: EXPIRE NX/XX/GT/LT, TTLs, which commands keep a TTL, lazy expiry
//! - [`databases`]: SELECT, SWAPDB, MOVE, COPY DB, FLUSHDB/FLUSHALL, INFO keyspace
//! - [`digest`]: DEBUG DIGEST / DIGEST-VALUE equal to Redis's for the same dataset
//! - [`hll`]: PFADD/PFCOUNT/PFMERGE, the HLL string byte for byte, corrupt HLLs
//! - [`hashes`]: hash commands, listpack/hashtable conversions, HRANDFIELD, HSCAN, memory
//! - [`sets`]: set commands and algebra, intset/hashtable conversions, SPOP, SSCAN, digests
//! - [`zsets`]: sorted sets in both encodings, ranges, set algebra, pops, ZSCAN, memory
//! - [`sort`]: SORT/SORT_RO on every type, BY/GET patterns, LIMIT, ALPHA, STORE, ties
//! - [`geo`]: GEOADD/GEOPOS/GEOHASH/GEODIST, radius and box searches, stores, vs Redis
//! - [`multi`]: MULTI/EXEC/DISCARD, WATCH broken by writes, expiry, flushes; atomic EXEC
//! - [`pubsub`]: (un)subscribe, message frames in RESP2/RESP3, PUBSUB, slow subscribers
//! - [`notifications`]: keyspace/keyevent messages of every command and class flag
//! - [`errors`]: arity of every command, unknown commands and subcommands, HELP texts
//! - [`introspection`]: COMMAND INFO/DOCS/GETKEYS/LIST/COUNT, CONFIG GET/SET
//! - [`config_file`]: redis.conf start-up, include, units, fatal errors, CONFIG REWRITE
//! - [`clients`]: CLIENT LIST/INFO/KILL/REPLY/PAUSE and their errors
//! - [`info`]: INFO sections and fields, counters, keyspace, command/error stats
//! - [`observe`]: MONITOR, SLOWLOG, LATENCY
//! - [`limits`]: maxclients, timeout, protected mode, AUTH, maxmemory, active expiry
//! - [`aof`]: the AOF: kill -9 under writes, Redis interop both ways, rewrites, bad files
//! - [`persistence`]: RDB files to and from Redis, BGSAVE under writes, SHUTDOWN, bad files
//! - [`replication`]: full and partial syncs, restarts, failover, WAIT, stale and corrupt masters, chains; interop
//! - [`scripting`]: EVAL/EVALSHA/SCRIPT: conversions, errors, libraries, journal, BUSY and SCRIPT KILL
//! - [`functions`]: FUNCTION LOAD/LIST/DUMP/RESTORE..., FCALL, FUNCTION KILL
//! - [`process`]: -v/-h, daemonize/pidfile/logfile, SIGTERM/SIGINT, SHUTDOWN
//! - [`client_lib`]: the `redis` crate (sync, async, RESP3), redis-cli, redis-benchmark

mod aof;
mod bits;
mod blocking;
mod client_lib;
mod clients;
mod config_file;
mod databases;
mod digest;
mod errors;
mod expiry;
mod functions;
mod geo;
mod hashes;
mod hll;
mod info;
mod introspection;
mod keys;
mod limits;
mod lists;
mod multi;
mod notifications;
mod observe;
mod persistence;
mod process;
mod protocol;
mod pubsub;
mod replication;
mod scripting;
mod sets;
mod sort;
mod strings;
mod support;
mod zsets;
