//! The data commands, one module per family, each exporting a `COMMANDS` table of
//! `(name, lock mode, handler)`; the server joins them with the generated metadata.
//!
//! - [`string`]: GET, SET and the rest of the string family
//! - [`bits`]: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP
//! - [`bitfield`]: BITFIELD and BITFIELD_RO
//! - [`lcs`]: LCS, the longest common subsequence of two strings
//! - [`keys`]: generic key commands (DEL, EXISTS, EXPIRE, RENAME, SCAN, ...)
//! - [`db`]: whole-database commands (DBSIZE, FLUSHDB, FLUSHALL, SWAPDB)
//! - [`dump`]: DUMP and RESTORE, through the payload codec the server installs
//! - [`hll`]: HyperLogLog (PFADD, PFCOUNT, PFMERGE) in Redis's string format
//! - [`sort`]: SORT and SORT_RO (BY, GET, LIMIT, ALPHA, STORE)
//! - [`hash`]: HSET, HGET, HINCRBY, HRANDFIELD, HSCAN and the rest of the hash family
//! - [`set`]: SADD, SPOP, SINTER/SUNION/SDIFF (and STORE), SSCAN and the set family
//! - [`elements`]: replying with collection elements; random picks (SRANDMEMBER, ...)
//! - [`zset`]: ZADD, ZRANGE (all forms), ZUNION/ZINTER/ZDIFF, ZPOP*, ZSCAN: sorted sets
//! - [`geo`]: GEOADD, GEOSEARCH, GEORADIUS and the rest: positions in sorted sets
//! - [`list`]: LPUSH, LPOP, LRANGE, LMOVE, LMPOP, ... and the blocking BLPOP family
//! - [`registry`]: the data commands joined with their metadata, and `execute`

pub mod bitfield;
pub mod bits;
pub mod db;
pub mod dump;
pub mod elements;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod lcs;
pub mod list;
pub mod registry;
pub mod set;
pub mod sort;
pub mod string;
pub mod zset;

use redoubt_resp::number::parse_i64;

use crate::exec::{err, CmdError, Handler};

/// Which shards the dispatcher locks before calling a handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// The shards of the keys named by the command's key specs.
    Keys,
    /// SORT and SORT_RO: the shards of their keys, or every shard when a BY or GET
    /// pattern makes them read keys named by the data ([`sort::needs_every_shard`]).
    KeysOrPatterns,
    /// Every shard (the command sees the whole keyspace at one instant).
    All,
    /// None: the handler locks what it needs itself, shard by shard.
    None,
}

/// A data command's registration.
pub struct DataCommand {
    pub name: &'static str,
    pub lock: LockMode,
    pub handler: Handler,
}

/// Every data command of this crate.
pub fn all() -> impl Iterator<Item = &'static DataCommand> {
    string::COMMANDS
        .iter()
        .chain(keys::COMMANDS)
        .chain(db::COMMANDS)
        .chain(dump::COMMANDS)
        .chain(bits::COMMANDS)
        .chain(bitfield::COMMANDS)
        .chain(lcs::COMMANDS)
        .chain(hll::COMMANDS)
        .chain(sort::COMMANDS)
        .chain(hash::COMMANDS)
        .chain(set::COMMANDS)
        .chain(zset::COMMANDS)
        .chain(geo::COMMANDS)
        .chain(list::COMMANDS)
}

/// An integer argument, or Redis's "not an integer" error.
pub fn int_arg(a: &[u8]) -> Result<i64, CmdError> {
    parse_i64(a).ok_or(err::NOT_INTEGER)
}

/// Writes a HELP reply the way Redis's `addReplyHelp` does: a header, the given lines,
/// then the HELP entry itself.
pub fn help_reply(out: &mut redoubt_resp::ReplyBuf, command: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes());
    for l in lines {
        out.simple(l.as_bytes());
    }
    out.simple(b"HELP");
    out.simple(b"    Prints this help.");
}

/// The error of a subcommand given arguments it does not take (Redis's
/// `addReplySubcommandSyntaxError`).
pub fn subcommand_syntax_error(args: redoubt_resp::request::Args) -> CmdError {
    let sub = args.get(1);
    CmdError::Owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        String::from_utf8_lossy(args.get(0)).to_ascii_uppercase()
    ))
}

/// A 32-bit integer argument (Redis's `getIntFromObjectOrReply`).
pub fn int32_arg(a: &[u8]) -> Result<i32, CmdError> {
    let n = int_arg(a)?;
    i32::try_from(n)
        .map_err(|_| CmdError::Static("ERR value is out of range, value must between -2147483648 and 2147483647"))
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(a: &[u8], name: &str) -> bool {
    a.eq_ignore_ascii_case(name.as_bytes())
}

/// The error for a bad expire time in command `name`.
pub fn invalid_expire(name: &str) -> CmdError {
    CmdError::Owned(format!("ERR invalid expire time in '{name}' command"))
}
