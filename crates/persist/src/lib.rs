//! # redoubt-persist — data on disk
//!
//! Everything that turns the keyspace into bytes that outlive the process and back:
//! the RDB format Redis 7.0 reads and writes, fork-free snapshots, DUMP/RESTORE
//! payloads and the multi-part AOF. No network: the server (and replication) hand it
//! files and streams. The engine does not depend on this crate; it only offers the
//! serialize-before-mutate hook (`redoubt_engine::snapshot`) that [`snapshot`] uses.
//!
//! Map:
//! - [`aof`]: the multi-part append-only file: manifest, reader, rewrite, writer
//! - [`crc64`]: the CRC-64 (Jones) at the end of RDB files and DUMP payloads
//! - [`lzf`]: liblzf-compatible compression of RDB strings
//! - [`codec`]: listpack, ziplist, intset, zipmap blobs
//! - [`rdb`]: the RDB format: primitives, values, whole files
//! - [`dump`]: DUMP/RESTORE payloads, and the codec the server installs for them
//! - [`snapshot`]: point-in-time snapshots while the server keeps serving
//!
//! Bad input (a truncated, corrupt or foreign file or payload) is an error that says
//! what and where, never a panic, an unbounded allocation or a partial result.

pub mod aof;
pub mod codec;
pub mod crc64;
pub mod dump;
pub mod lzf;
pub mod rdb;
pub mod snapshot;
