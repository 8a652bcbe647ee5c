//! The collection types behind [`crate::value::Object`]: their data structures and
//! encodings, with Redis 7.0's conversion thresholds. Commands that use them live in
//! `crate::cmd`.
//!
//! - [`list`]: lists, encoded as a quicklist
//! - [`hash`]: hashes, encoded as a listpack or a hashtable
//! - [`set`]: sets, encoded as an intset or a hashtable
//! - [`zset`]: sorted sets, encoded as a listpack or a skiplist

pub mod hash;
pub mod list;
pub mod set;
pub mod zset;
