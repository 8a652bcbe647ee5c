//! The collection types behind [`crate::value::Object`]: their data structures and
//! encodings, with Redis 7.0's conversion thresholds. Commands that use them live in
//! `crate::cmd`.
//!
//! - [`list`]: lists (quicklist)
//! - [`hash`]: hashes (listpack, hashtable)
//! - [`set`]: sets (intset, hashtable)
//! - [`zset`]: sorted sets (listpack, skiplist)

pub mod hash;
pub mod list;
pub mod set;
pub mod zset;
