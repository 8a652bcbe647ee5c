//! [`Registry`]: the data commands joined with their Redis 7.0 metadata, and the one
//! function that runs a data command against the engine: look it up, check its arity,
//! lock its shards, run it, journal it. The server's dispatcher adds clients, stats and
//! policies around this; loading an AOF or applying a master's stream uses it as is.

use std::collections::HashMap;

use redoubt_resp::request::Args;
use redoubt_resp::ReplyBuf;

use super::{DataCommand, LockMode};
use crate::command::{lookup_meta, CommandMeta};
use crate::exec::{Changes, CmdError, CmdResult, Ctx, Db};
use crate::keyspace::{KeyLoc, Locked};
use crate::Engine;

/// A data command with its metadata.
pub struct Registered {
    pub meta: CommandMeta,
    pub cmd: &'static DataCommand,
}

/// The data commands by lower-case name (`parent|sub` for subcommands).
pub struct Registry {
    by_name: HashMap<&'static str, Registered>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// Joins every data command with its generated metadata. A command without
    /// metadata is a programming error caught by this crate's tests.
    pub fn new() -> Registry {
        let by_name = super::all()
            .filter_map(|cmd| lookup_meta(cmd.name).map(|meta| (cmd.name, Registered { meta, cmd })))
            .collect();
        Registry { by_name }
    }

    pub fn get(&self, name: &str) -> Option<&Registered> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_name.keys().copied()
    }

    /// Resolves `args` to a command: the name, then for a container command its
    /// subcommand. Case-insensitive.
    pub fn resolve(&self, args: Args) -> Option<&Registered> {
        let name = lowercase(args.get(0))?;
        if let Some(r) = self.by_name.get(name.as_str()) {
            return Some(r);
        }
        if args.len() < 2 {
            return None;
        }
        let sub = lowercase(args.get(1))?;
        self.by_name.get(format!("{name}|{sub}").as_str())
    }
}

/// The lower-case form of a command name, if it is valid UTF-8.
pub fn lowercase(name: &[u8]) -> Option<String> {
    std::str::from_utf8(name).ok().map(|s| s.to_ascii_lowercase())
}

/// The shards a command needs, as its lock mode and key specs say; `None` means every
/// shard. For EXEC and scripts, which lock the union of several commands' shards once:
/// a command that locks shard by shard itself (`LockMode::None`, e.g. SCAN) needs them
/// all there, since it must not trade the batch's locks for its own.
pub fn shards_for(meta: &CommandMeta, mode: LockMode, args: Args) -> Option<Vec<usize>> {
    match mode {
        LockMode::None | LockMode::All => None,
        LockMode::KeysOrPatterns if super::sort::needs_every_shard(args) => None,
        LockMode::Keys | LockMode::KeysOrPatterns => {
            let positions = meta.key_positions(|i| args.get(i), args.len());
            Some(positions.into_iter().map(|i| KeyLoc::of(args.get(i)).shard()).collect())
        }
    }
}

/// Locks the shards a command needs, as its lock mode and key specs say. For a
/// command with one key at a fixed place, also returns that key and its location, so
/// the command does not hash it a second time.
pub fn lock_for<'e, 'a>(
    engine: &'e Engine,
    meta: &CommandMeta,
    mode: LockMode,
    args: Args<'a>,
) -> (Locked<'e>, Option<(&'a [u8], KeyLoc)>) {
    let ks = &engine.keyspace;
    match mode {
        LockMode::None => (ks.lock_none(), None),
        LockMode::All => (ks.lock_all(), None),
        LockMode::KeysOrPatterns if super::sort::needs_every_shard(args) => (ks.lock_all(), None),
        LockMode::Keys | LockMode::KeysOrPatterns => {
            let m = meta;
            // The common case, one key at a fixed place, without allocating.
            if m.key_specs.len() == 1
                && m.first_key > 0
                && m.first_key == m.last_key
                && (m.first_key as usize) < args.len()
            {
                let key = args.get(m.first_key as usize);
                let loc = KeyLoc::of(key);
                return (ks.lock_shard(loc.shard()), Some((key, loc)));
            }
            let mut shards = shards_for(m, LockMode::Keys, args).unwrap_or_default();
            (ks.lock_shards(&mut shards), None)
        }
    }
}

/// Runs a data command in database `db`; returns its outcome (an error is for the
/// caller to reply and count; a successful reply is already in `out`) and what it
/// changed. Its journal entries are appended before its locks are released.
pub fn execute(
    engine: &Engine,
    meta: &CommandMeta,
    cmd: &DataCommand,
    db: usize,
    args: Args,
    out: &mut ReplyBuf,
    now_ms: i64,
) -> (CmdResult, Changes) {
    execute_for(engine, meta, cmd, db, args, out, now_ms, None)
}

/// [`execute`] for a client that a blocking command may park (`blocker`: see
/// `blocking`). With None, blocking commands take their non-blocking form; when the
/// command blocked, `Changes::blocked` says so and `out` got no reply.
#[allow(clippy::too_many_arguments)]
pub fn execute_for(
    engine: &Engine,
    meta: &CommandMeta,
    cmd: &DataCommand,
    db: usize,
    args: Args,
    out: &mut ReplyBuf,
    now_ms: i64,
    blocker: Option<crate::blocking::Blocker>,
) -> (CmdResult, Changes) {
    let (locked, hint) = lock_for(engine, meta, cmd.lock, args);
    let mut db = Db::new(engine, locked, db, now_ms);
    db.blocker = blocker;
    if let Some((key, loc)) = hint {
        db.hint(key, loc);
    }
    let result = (cmd.handler)(&mut Ctx { db: &mut db, out }, args);
    (result, db.commit(args))
}

/// Runs a data command on a `Db` whose locks already cover the command's keys (EXEC,
/// scripts: every command of the batch under one lock set). The caller ends the
/// command with [`Db::end_command`] and finally releases the locks with `Db::finish`.
pub fn execute_in(db: &mut Db, cmd: &DataCommand, args: Args, out: &mut ReplyBuf) -> CmdResult {
    (cmd.handler)(&mut Ctx { db, out }, args)
}

/// The arity error text.
pub fn arity_error(name: &str) -> CmdError {
    CmdError::Owned(format!("ERR wrong number of arguments for '{name}' command"))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::clock::now_ms;
    use redoubt_resp::request::OwnedArgs;
    use redoubt_resp::Protocol;

    /// Runs one command on `engine` in protocol `proto` and returns the raw reply,
    /// arity and command errors included, as a connection would see it.
    pub fn run_owned(engine: &Engine, reg: &Registry, proto: Protocol, args: &OwnedArgs) -> Vec<u8> {
        let mut out = ReplyBuf::new(proto);
        match reg.resolve(args.args()) {
            None => out.error(b"ERR unknown command"),
            Some(r) if !r.meta.arity_ok(args.len()) => out.error(arity_error(r.meta.name).as_bytes()),
            Some(r) => {
                if let (Err(e), _) = execute(engine, &r.meta, r.cmd, 0, args.args(), &mut out, now_ms()) {
                    out.error(e.as_bytes());
                }
            }
        }
        out.buf
    }

    /// Runs one command on `engine` and returns the raw RESP2 reply (errors included).
    pub fn run(engine: &Engine, reg: &Registry, parts: &[&str]) -> String {
        let args = OwnedArgs::from_slices(parts.iter().map(|p| p.as_bytes()));
        String::from_utf8_lossy(&run_owned(engine, reg, Protocol::Resp2, &args)).into_owned()
    }

    #[test]
    fn every_data_command_has_metadata() {
        let reg = Registry::new();
        for cmd in super::super::all() {
            assert!(reg.get(cmd.name).is_some(), "{} has no Redis metadata", cmd.name);
        }
    }

    #[test]
    fn strings_and_expiry_end_to_end() {
        let engine = Engine::new(16);
        let reg = Registry::new();
        assert_eq!(run(&engine, &reg, &["SET", "k", "v"]), "+OK\r\n");
        assert_eq!(run(&engine, &reg, &["get", "k"]), "$1\r\nv\r\n");
        assert_eq!(run(&engine, &reg, &["SET", "k", "v", "NX"]), "$-1\r\n");
        assert_eq!(run(&engine, &reg, &["SET", "n", "10"]), "+OK\r\n");
        assert_eq!(run(&engine, &reg, &["INCRBY", "n", "5"]), ":15\r\n");
        assert_eq!(run(&engine, &reg, &["APPEND", "n", "x"]), ":3\r\n");
        assert_eq!(run(&engine, &reg, &["INCR", "n"]), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(run(&engine, &reg, &["OBJECT", "ENCODING", "n"]), "$3\r\nraw\r\n");
        assert_eq!(run(&engine, &reg, &["PEXPIRE", "k", "1"]), ":1\r\n");
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(run(&engine, &reg, &["GET", "k"]), "$-1\r\n");
        assert_eq!(run(&engine, &reg, &["DBSIZE"]), ":1\r\n");
        assert_eq!(run(&engine, &reg, &["RENAME", "n", "m"]), "+OK\r\n");
        assert_eq!(run(&engine, &reg, &["GET", "m"]), "$3\r\n15x\r\n");
        assert_eq!(run(&engine, &reg, &["GET"]), "-ERR wrong number of arguments for 'get' command\r\n");
        assert_eq!(
            run(&engine, &reg, &["MSET", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'mset' command\r\n"
        );
        assert_eq!(run(&engine, &reg, &["INCRBYFLOAT", "f", "10.5"]), "$4\r\n10.5\r\n");
        assert_eq!(run(&engine, &reg, &["INCRBYFLOAT", "f", "0.1"]), "$4\r\n10.6\r\n");
    }

    #[test]
    fn scan_visits_every_key_once_when_stable() {
        let engine = Engine::new(16);
        let reg = Registry::new();
        for i in 0..500 {
            run(&engine, &reg, &["SET", &format!("key:{i}"), "v"]);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        for _ in 0..10_000 {
            let reply = run(&engine, &reg, &["SCAN", &cursor, "COUNT", "20"]);
            let parts: Vec<&str> = reply.split("\r\n").collect();
            cursor = parts[2].to_string();
            for p in parts.iter().skip(5).step_by(2) {
                if p.starts_with("key:") {
                    seen.insert(p.to_string());
                }
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(cursor, "0");
        assert_eq!(seen.len(), 500);
    }
}
