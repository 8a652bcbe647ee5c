//! Command metadata as data: one table drives dispatch, the arity error, COMMAND and
//! its subcommands, key extraction (for shard locking, cluster routing, GETKEYS) and
//! ACL categories.
//!
//! The metadata of every Redis 7.0 command is generated from the reference server
//! (`generated.rs`, see `tools/gen_command_table.py`); a command exists in Redoubt only
//! when a handler is registered for it, so an unimplemented command gets Redis's
//! unknown-command error rather than a stub.
//!
//! - [`node`]: constant reply trees (what COMMAND INFO/DOCS send)
//! - [`keys`]: Redis 7.0 key-spec interpretation (`begin_search` / `find_keys`)

pub mod keys;
pub mod node;
#[rustfmt::skip]
mod generated;

use node::Node;

pub use keys::{BeginSearch, FindKeys, KeySpec};

/// Command flags, as COMMAND INFO names them.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const MOVABLEKEYS: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 17;
    pub const PROTECTED: u32 = 1 << 18;
    pub const SENTINEL: u32 = 1 << 19;
    pub const ONLY_SENTINEL: u32 = 1 << 20;
    pub const NO_ASYNC_LOADING: u32 = 1 << 21;

    pub(super) fn parse(name: &str) -> u32 {
        match name {
            "write" => WRITE,
            "readonly" => READONLY,
            "denyoom" => DENYOOM,
            "admin" => ADMIN,
            "pubsub" => PUBSUB,
            "noscript" => NOSCRIPT,
            "blocking" => BLOCKING,
            "loading" => LOADING,
            "stale" => STALE,
            "skip_monitor" => SKIP_MONITOR,
            "skip_slowlog" => SKIP_SLOWLOG,
            "fast" => FAST,
            "no_auth" => NO_AUTH,
            "may_replicate" => MAY_REPLICATE,
            "no_multi" => NO_MULTI,
            "movablekeys" => MOVABLEKEYS,
            "allow_busy" => ALLOW_BUSY,
            "no_mandatory_keys" => NO_MANDATORY_KEYS,
            "protected" => PROTECTED,
            "sentinel" => SENTINEL,
            "only_sentinel" => ONLY_SENTINEL,
            "no_async_loading" => NO_ASYNC_LOADING,
            _ => 0,
        }
    }
}

/// The metadata of one command or subcommand.
#[derive(Debug)]
pub struct CommandMeta {
    /// Lower-case name; subcommands are `parent|sub`.
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    /// ACL categories, without the `@`.
    pub acl: Vec<&'static str>,
    pub key_specs: Vec<KeySpec>,
    /// The COMMAND INFO reply, without the subcommands element.
    pub info: &'static Node,
    /// The COMMAND DOCS entry, without subcommands.
    pub docs: Option<&'static Node>,
}

impl CommandMeta {
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// True when `argc` (the command name included) fits the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a > 0 && argc == a as usize) || (a < 0 && argc >= (-a) as usize)
    }

    /// The group COMMAND DOCS assigns (`string`, `generic`, `server`...).
    pub fn group(&self) -> &'static str {
        self.docs.and_then(|d| d.get("group")).and_then(Node::as_str).unwrap_or("")
    }

    /// Positions of the key arguments in `args` (the command name is position 0): from
    /// the key specs, or, for a command whose specs cannot say (SORT's STORE key), from
    /// its key procedure, as Redis's `getKeysFromCommandWithSpecs` falls back to one.
    pub fn key_positions<'a>(&self, args: impl Fn(usize) -> &'a [u8], argc: usize) -> Vec<usize> {
        match keys::procedure(self.name, &args, argc) {
            Some(found) => found.into_iter().map(|(i, _)| i).collect(),
            None => keys::positions(&self.key_specs, args, argc),
        }
    }
}

/// Metadata of the Redis 7.0 command `name` (lower case; `parent|sub` for subcommands).
pub fn lookup_meta(name: &str) -> Option<CommandMeta> {
    let (static_name, info) = generated::INFO.iter().find(|(n, _)| *n == name)?;
    let docs = generated::DOCS.iter().find(|(n, _)| *n == name).map(|(_, d)| d);
    Some(build(static_name, info, docs))
}

/// Names of every Redis 7.0 command and subcommand in the generated table.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    generated::INFO.iter().map(|(n, _)| *n)
}

fn build(name: &'static str, info: &'static Node, docs: Option<&'static Node>) -> CommandMeta {
    let items = info.items();
    let int = |i: usize| items.get(i).and_then(Node::as_int).unwrap_or(0) as i32;
    let flags = items
        .get(2)
        .map(|n| n.items().iter().filter_map(Node::as_str).map(flag::parse).fold(0, |a, f| a | f))
        .unwrap_or(0);
    let acl = items
        .get(6)
        .map(|n| n.items().iter().filter_map(Node::as_str).map(|s| s.trim_start_matches('@')).collect())
        .unwrap_or_default();
    let key_specs = items.get(8).map(|n| n.items().iter().filter_map(KeySpec::from_node).collect()).unwrap_or_default();
    CommandMeta {
        name,
        arity: int(1),
        flags,
        first_key: int(3),
        last_key: int(4),
        key_step: int(5),
        acl,
        key_specs,
        info,
        docs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_table_reads_back() {
        let get = lookup_meta("get").unwrap();
        assert_eq!((get.arity, get.first_key, get.last_key, get.key_step), (2, 1, 1, 1));
        assert!(get.has(flag::READONLY) && get.has(flag::FAST));
        assert_eq!(get.acl, vec!["read", "string", "fast"]);
        assert_eq!(get.group(), "string");
        let cfg = lookup_meta("config|get").unwrap();
        assert_eq!(cfg.name, "config|get");
        assert!(all_names().count() > 300);
    }
}
