//! The RDB format: Redis's snapshot file, also the body of DUMP payloads, the base of
//! a multi-part AOF and (with replication) the full-sync transfer.
//!
//! ```text
//! "REDIS" + 4-digit version | AUX fields | per database: SELECTDB, RESIZEDB, keys
//! | EOF (0xFF) | CRC-64 of everything before it (8 bytes LE; zero when disabled)
//! key: [EXPIRETIME_MS t] [IDLE s | FREQ f] type key-string value
//! ```
//!
//! - [`write`]: the primitive writer (lengths, strings with int/LZF encodings, doubles)
//! - [`read`]: the primitive reader, bounded by the bytes that remain
//! - [`value`]: values of every type and encoding, to and from the engine's
//! - [`save`]: a whole file from the keyspace
//! - [`load`]: a whole file into the keyspace

pub mod load;
pub mod object;
pub mod read;
pub mod save;
#[cfg(test)]
mod tests;
pub mod value;
pub mod write;

/// The version Redis 7.0 writes, and so do we.
pub const RDB_VERSION: u32 = 10;
/// Oldest and newest versions the reader accepts.
pub const RDB_VERSION_MIN: u32 = 6;
pub const RDB_VERSION_MAX: u32 = 12;

/// Opcodes that can appear where a value type is expected.
pub mod opcode {
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Value types (`RDB_TYPE_*`).
pub mod rdb_type {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;
}

/// Quicklist 2 node containers.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;

/// Why an RDB (file or payload) could not be read or written.
#[derive(Debug)]
pub enum RdbError {
    Io(std::io::Error),
    /// The input ends before the format says it should.
    Truncated,
    /// Not an RDB at all (bad magic).
    NotRdb,
    /// A version this reader does not handle.
    Version(u32),
    /// The bytes contradict the format.
    Corrupt(String),
    /// The checksum at the end does not match the content: `expected` is what the
    /// content hashes to, `got` what the file says (Redis's wording).
    Checksum {
        expected: u64,
        got: u64,
    },
    /// Valid data of a kind Redoubt does not hold (modules, streams, functions).
    Unsupported(String),
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RdbError::Io(e) => write!(f, "{e}"),
            RdbError::Truncated => f.write_str("Unexpected EOF reading RDB file"),
            RdbError::NotRdb => f.write_str("Wrong signature trying to load DB from file"),
            RdbError::Version(v) => write!(f, "Can't handle RDB format version {v}"),
            RdbError::Corrupt(why) => f.write_str(why),
            RdbError::Checksum { expected, got } => {
                write!(f, "Wrong RDB checksum expected: ({expected:x}) but got ({got:x}). Aborting now.")
            }
            RdbError::Unsupported(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for RdbError {}

impl From<std::io::Error> for RdbError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            RdbError::Truncated
        } else {
            RdbError::Io(e)
        }
    }
}

impl From<crate::codec::BlobError> for RdbError {
    fn from(e: crate::codec::BlobError) -> Self {
        RdbError::Corrupt(format!("invalid {} blob", e.0))
    }
}

/// Shorthand for a corruption error.
pub(crate) fn corrupt<T>(why: impl Into<String>) -> Result<T, RdbError> {
    Err(RdbError::Corrupt(why.into()))
}
