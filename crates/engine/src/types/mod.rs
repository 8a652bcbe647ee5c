//! The collection types behind [`crate::value::Object`]: their data structures and
//! encodings, with Redis 7.0's conversion thresholds. Commands that use them live in
//! `crate::cmd`.
//!
//! - [`list`]: lists, encoded as a quicklist
//! - [`hash`]: hashes, encoded as a listpack or a hashtable
//! - [`set`]: sets, encoded as an intset or a hashtable
//! - [`zset`]: sorted sets, encoded as a listpack or a skiplist
//! - [`packed`]: the packed element array behind `listpack` encodings
//! - [`intset`]: sorted packed integers, the `intset` encoding of sets
//! - [`table`]: the chained hash table behind `hashtable` encodings

pub mod hash;
pub mod intset;
pub mod list;
pub mod packed;
pub mod set;
pub mod table;
pub mod zset;
