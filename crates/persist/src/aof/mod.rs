//! The append-only file, Redis 7.0's multi-part form: a directory (`appenddirname`)
//! holding one base file (an RDB, or commands), incremental files of commands, and
//! a manifest naming them in order.
//!
//! - [`manifest`]: the manifest's format, file names, atomic replacement
//! - [`reader`]: the command stream of an AOF file, with Redis's truncation rules
//! - [`rewrite`]: a dataset as commands (the base when `aof-use-rdb-preamble no`)
//! - [`writer`]: the journal consumer that appends, fsyncs and rotates incr files

pub mod manifest;
pub mod reader;
pub mod rewrite;
pub mod writer;
