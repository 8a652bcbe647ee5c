//! The hash family: HSET, HGET and the rest, with Redis 7.0's replies, errors,
//! propagation (HINCRBYFLOAT as HSET) and keyspace events (`hset`, `hdel`,
//! `hincrby`, `hincrbyfloat`, and `del` when the last field goes).
//!
//! The data structure and its encodings are in `types/hash.rs`; this module looks keys
//! up, checks arguments in Redis's order and keeps the bookkeeping (touch, dirty,
//! events) that every write owes.

use redoubt_resp::number::parse_i64;
use redoubt_resp::request::{Args, OwnedArgs};

use super::elements::{self, reply_elem};
use super::keys::{parse_cursor, parse_scan_options};
use super::registry::arity_error;
use super::{int_arg, is, DataCommand, LockMode::Keys};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx, Db, Expiry};
use crate::glob::glob_match;
use crate::longdouble::{self, LdError};
use crate::notify;
use crate::types::hash::{Hash, HashLimits};
use crate::types::packed::Elem;
use crate::value::{format_i64, NewValue, Object, ValueRef};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "hset", lock: Keys, handler: hset },
    DataCommand { name: "hmset", lock: Keys, handler: hmset },
    DataCommand { name: "hsetnx", lock: Keys, handler: hsetnx },
    DataCommand { name: "hget", lock: Keys, handler: hget },
    DataCommand { name: "hmget", lock: Keys, handler: hmget },
    DataCommand { name: "hdel", lock: Keys, handler: hdel },
    DataCommand { name: "hlen", lock: Keys, handler: hlen },
    DataCommand { name: "hstrlen", lock: Keys, handler: hstrlen },
    DataCommand { name: "hexists", lock: Keys, handler: hexists },
    DataCommand { name: "hkeys", lock: Keys, handler: hkeys },
    DataCommand { name: "hvals", lock: Keys, handler: hvals },
    DataCommand { name: "hgetall", lock: Keys, handler: hgetall },
    DataCommand { name: "hincrby", lock: Keys, handler: hincrby },
    DataCommand { name: "hincrbyfloat", lock: Keys, handler: hincrbyfloat },
    DataCommand { name: "hrandfield", lock: Keys, handler: hrandfield },
    DataCommand { name: "hscan", lock: Keys, handler: hscan },
];

/* ---- LOOKUPS ---- */

/// The hash at `key`: None if absent, WRONGTYPE for another type.
fn read<'d>(db: &'d mut Db, key: &[u8], access: Access) -> Result<Option<&'d Hash>, CmdError> {
    match db.find(key, access)? {
        None => Ok(None),
        Some(e) => match e.value() {
            ValueRef::Obj(Object::Hash(h)) => Ok(Some(h)),
            _ => Err(err::WRONGTYPE),
        },
    }
}

/// The hash at `key`, to change in place: None if absent, WRONGTYPE for another type.
/// The caller owes `db.touch(key)` once it changed something.
fn write<'d>(db: &'d mut Db, key: &[u8]) -> Result<Option<&'d mut Hash>, CmdError> {
    match db.find(key, Access::Write)? {
        None => Ok(None),
        Some(mut e) => match e.object_mut() {
            Some(Object::Hash(h)) => Ok(Some(h)),
            _ => Err(err::WRONGTYPE),
        },
    }
}

/// Runs `f` on the hash at `key`, or on a new empty one (Redis's
/// `hashTypeLookupWriteOrCreate`) that is stored only if `f` succeeds and leaves it
/// non-empty, so an empty hash never exists. The caller owes `db.touch(key)`.
fn upsert<R>(db: &mut Db, key: &[u8], f: impl FnOnce(&mut Hash) -> Result<R, CmdError>) -> Result<R, CmdError> {
    if let Some(h) = write(db, key)? {
        return f(h);
    }
    let mut h = Hash::new();
    let r = f(&mut h)?;
    if !h.is_empty() {
        db.set(key, NewValue::Obj(Box::new(Object::Hash(h))), Expiry::Clear)?;
    }
    Ok(r)
}

fn limits(db: &Db) -> HashLimits {
    HashLimits::of(&db.engine.knobs)
}

/// Records a change to the hash at `key`: WATCH, the keyspace event, the dirty count.
fn changed(db: &mut Db, key: &[u8], event: &'static str, dirty: u64) {
    db.touch(key);
    db.notify(notify::HASH, event, key);
    db.dirty += dirty;
}

/* ---- WRITES ---- */

fn hset(ctx: &mut Ctx, args: Args) -> CmdResult {
    hset_generic(ctx, args, "hset")
}

fn hmset(ctx: &mut Ctx, args: Args) -> CmdResult {
    hset_generic(ctx, args, "hmset")
}

/// HSET answers with the number of new fields, HMSET with OK.
fn hset_generic(ctx: &mut Ctx, args: Args, name: &str) -> CmdResult {
    if args.len() % 2 == 1 {
        return Err(arity_error(name));
    }
    let key = args.get(1);
    let limits = limits(ctx.db);
    let created = upsert(ctx.db, key, |h| {
        h.convert_for(args.iter().skip(2), limits);
        let mut created = 0;
        for i in (2..args.len()).step_by(2) {
            created += h.set(args.get(i), args.get(i + 1), limits)? as i64;
        }
        Ok(created)
    })?;
    if name == "hset" {
        ctx.out.int(created);
    } else {
        ctx.out.ok();
    }
    changed(ctx.db, key, "hset", (args.len() as u64 - 2) / 2);
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, field, value) = (args.get(1), args.get(2), args.get(3));
    let limits = limits(ctx.db);
    let added = upsert(ctx.db, key, |h| {
        if h.contains(field) {
            return Ok(false);
        }
        h.convert_for([field, value], limits);
        h.set(field, value, limits)?;
        Ok(true)
    })?;
    ctx.out.int(added as i64);
    if added {
        changed(ctx.db, key, "hset", 1);
    }
    Ok(())
}

fn hdel(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let Some(h) = write(ctx.db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let (mut deleted, mut emptied) = (0, false);
    for field in args.iter().skip(2) {
        if h.remove(field) {
            deleted += 1;
            if h.is_empty() {
                emptied = true;
                break;
            }
        }
    }
    if emptied {
        ctx.db.delete(key)?;
    }
    if deleted > 0 {
        changed(ctx.db, key, "hdel", deleted);
        if emptied {
            ctx.db.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn hincrby(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, field) = (args.get(1), args.get(2));
    let incr = int_arg(args.get(3))?;
    let limits = limits(ctx.db);
    let value = upsert(ctx.db, key, |h| {
        let old = match h.get(field) {
            None => 0,
            Some(Elem::Int(v)) => v,
            Some(Elem::Str(b)) => parse_i64(b).ok_or(CmdError::Static("ERR hash value is not an integer"))?,
        };
        let new = old.checked_add(incr).ok_or(err::OVERFLOW)?;
        let mut scratch = [0u8; 20];
        h.set(field, format_i64(new, &mut scratch), limits)?;
        Ok(new)
    })?;
    ctx.out.int(value);
    changed(ctx.db, key, "hincrby", 1);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, field, incr) = (args.get(1), args.get(2), args.get(3));
    // The increment is checked on its own first, as Redis does before the lookup.
    match longdouble::add(None, incr) {
        Ok(_) => {}
        Err(LdError::NanOrInfinity) => return Err(CmdError::Static("ERR value is NaN or Infinity")),
        Err(_) => return Err(err::NOT_FLOAT),
    }
    let limits = limits(ctx.db);
    let new = upsert(ctx.db, key, |h| {
        let current = h.get(field).map(|e| e.to_vec());
        let new = longdouble::add(current.as_deref(), incr).map_err(|e| match e {
            LdError::BadValue => CmdError::Static("ERR hash value is not a float"),
            LdError::NanOrInfinity => CmdError::Static("ERR increment would produce NaN or Infinity"),
            LdError::BadIncrement => err::NOT_FLOAT,
        })?;
        h.set(field, &new, limits)?;
        Ok(new)
    })?;
    ctx.out.bulk(&new);
    changed(ctx.db, key, "hincrbyfloat", 1);
    // Replicated as HSET with the final value, so that replicas and the AOF never
    // redo float arithmetic (Redis rewrites the command the same way).
    ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([&b"HSET"[..], key, field, &new]));
    Ok(())
}

/* ---- READS ---- */

fn hget(ctx: &mut Ctx, args: Args) -> CmdResult {
    let out = &mut *ctx.out;
    match read(ctx.db, args.get(1), Access::Read)?.and_then(|h| h.get(args.get(2))) {
        Some(v) => reply_elem(out, v),
        None => out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, args: Args) -> CmdResult {
    let out = &mut *ctx.out;
    let h = read(ctx.db, args.get(1), Access::Read)?;
    out.array(args.len() - 2);
    for field in args.iter().skip(2) {
        match h.and_then(|h| h.get(field)) {
            Some(v) => reply_elem(out, v),
            None => out.null(),
        }
    }
    Ok(())
}

fn hlen(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = read(ctx.db, args.get(1), Access::Read)?.map_or(0, |h| h.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, args: Args) -> CmdResult {
    let h = read(ctx.db, args.get(1), Access::Read)?;
    let n = h.and_then(|h| h.get(args.get(2))).map_or(0, |v| v.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, args: Args) -> CmdResult {
    let found = read(ctx.db, args.get(1), Access::Read)?.is_some_and(|h| h.contains(args.get(2)));
    ctx.out.int(found as i64);
    Ok(())
}

/// What HKEYS, HVALS and HGETALL answer with.
#[derive(Clone, Copy, PartialEq)]
enum Parts {
    Fields,
    Values,
    Both,
}

/// HKEYS and HVALS answer with an array, HGETALL with a map (Redis's
/// `genericHgetallCommand`).
fn getall(ctx: &mut Ctx, args: Args, parts: Parts) -> CmdResult {
    let out = &mut *ctx.out;
    let h = read(ctx.db, args.get(1), Access::Read)?;
    let n = h.map_or(0, |h| h.len());
    if parts == Parts::Both {
        out.map(n);
    } else {
        out.array(n);
    }
    for (f, v) in h.into_iter().flat_map(|h| h.iter()) {
        if parts != Parts::Values {
            reply_elem(out, f);
        }
        if parts != Parts::Fields {
            reply_elem(out, v);
        }
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx, args: Args) -> CmdResult {
    getall(ctx, args, Parts::Fields)
}

fn hvals(ctx: &mut Ctx, args: Args) -> CmdResult {
    getall(ctx, args, Parts::Values)
}

fn hgetall(ctx: &mut Ctx, args: Args) -> CmdResult {
    getall(ctx, args, Parts::Both)
}

/* ---- HRANDFIELD ---- */

fn hrandfield(ctx: &mut Ctx, args: Args) -> CmdResult {
    if args.len() >= 3 {
        let count = elements::count_arg(args.get(2))?;
        let withvalues = match args.len() {
            3 => false,
            4 if is(args.get(3), "withvalues") => true,
            _ => return Err(err::SYNTAX),
        };
        // Twice the count must fit in a long (Redis's own check).
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(CmdError::Static("ERR value is out of range"));
        }
        return hrandfield_count(ctx, args.get(1), count, withvalues);
    }
    let out = &mut *ctx.out;
    let h = read(ctx.db, args.get(1), Access::Read)?;
    match h.filter(|h| !h.is_empty()).and_then(|h| h.iter().nth(elements::random_index(h.len()))) {
        Some((field, _)) => reply_elem(out, field),
        None => out.null(),
    }
    Ok(())
}

/// HRANDFIELD with a count (Redis's `hrandfieldWithCountCommand`): repeats for a
/// negative count (and for 1), the whole hash in its order when the count covers it,
/// else distinct fields (in listpack order for a listpack, as Redis answers).
fn hrandfield_count(ctx: &mut Ctx, key: &[u8], count: i64, withvalues: bool) -> CmdResult {
    let out = &mut *ctx.out;
    let Some(h) = read(ctx.db, key, Access::Read)? else {
        out.array(0);
        return Ok(());
    };
    if count == 0 || h.is_empty() {
        out.array(0);
        return Ok(());
    }
    let resp3 = out.resp3();
    let header = |out: &mut redoubt_resp::ReplyBuf, n: usize| out.array(if withvalues && !resp3 { n * 2 } else { n });
    let emit = |out: &mut redoubt_resp::ReplyBuf, (f, v): (Elem<'_>, Elem<'_>)| {
        if withvalues && resp3 {
            out.array(2);
        }
        reply_elem(out, f);
        if withvalues {
            reply_elem(out, v);
        }
    };
    if count < 0 || count == 1 {
        let n = count.unsigned_abs();
        elements::check_repeated_picks(n)?;
        let ix = h.indexed();
        header(out, n as usize);
        for _ in 0..n {
            emit(out, ix.get(elements::random_index(ix.len())));
        }
        return Ok(());
    }
    let count = count as usize;
    if count >= h.len() {
        header(out, h.len());
        h.iter().for_each(|pair| emit(out, pair));
        return Ok(());
    }
    let ix = h.indexed();
    let mut picks = elements::distinct_indexes(ix.len(), count);
    if ix.ordered() {
        picks.sort_unstable();
    }
    header(out, count);
    for i in picks {
        emit(out, ix.get(i));
    }
    Ok(())
}

/* ---- HSCAN ---- */

fn hscan(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cursor = parse_cursor(args.get(2))?;
    let out = &mut *ctx.out;
    let Some(h) = read(ctx.db, args.get(1), Access::Read)? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    let o = parse_scan_options(args, 3, false)?;
    let mut pairs = Vec::new();
    let next = h.scan(cursor, o.count, |f, v| pairs.push((f, v)));
    if let Some(pattern) = o.pattern {
        let mut scratch = [0u8; 20];
        pairs.retain(|(f, _)| glob_match(pattern, f.bytes(&mut scratch), false));
    }
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(pairs.len() * 2);
    for (f, v) in pairs {
        reply_elem(out, f);
        reply_elem(out, v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::Registry;
    use crate::cmd::set::tests::{events, journal};
    use crate::Engine;

    #[test]
    fn hset_hget_and_encodings() {
        let (e, r) = (Engine::new(16), Registry::new());
        assert_eq!(run(&e, &r, &["HSET", "h", "a", "1", "b", "two"]), ":2\r\n");
        assert_eq!(run(&e, &r, &["HSET", "h", "a", "3"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["HGET", "h", "a"]), "$1\r\n3\r\n");
        assert_eq!(run(&e, &r, &["HGETALL", "h"]), "*4\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$3\r\ntwo\r\n");
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "h"]), "$8\r\nlistpack\r\n");
        assert_eq!(run(&e, &r, &["HSET", "h", "c"]), "-ERR wrong number of arguments for 'hset' command\r\n");
        assert_eq!(run(&e, &r, &["HMSET", "h", "c"]), "-ERR wrong number of arguments for 'hmset' command\r\n");
        let long = "x".repeat(65);
        assert_eq!(run(&e, &r, &["HSETNX", "h", "a", &long]), ":0\r\n");
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "h"]), "$8\r\nlistpack\r\n");
        assert_eq!(run(&e, &r, &["HSETNX", "h", "z", &long]), ":1\r\n");
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "h"]), "$9\r\nhashtable\r\n");
        assert_eq!(run(&e, &r, &["HLEN", "h"]), ":3\r\n");
        assert_eq!(run(&e, &r, &["HDEL", "h", "a", "b", "z", "a"]), ":3\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "h"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["SET", "s", "x"]), "+OK\r\n");
        assert!(run(&e, &r, &["HGET", "s", "a"]).starts_with("-WRONGTYPE"));
    }

    #[test]
    fn counters() {
        let (e, r) = (Engine::new(16), Registry::new());
        assert_eq!(run(&e, &r, &["HINCRBY", "h", "n", "x"]), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "h"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["HINCRBY", "h", "n", "9223372036854775807"]), ":9223372036854775807\r\n");
        assert_eq!(run(&e, &r, &["HINCRBY", "h", "n", "1"]), "-ERR increment or decrement would overflow\r\n");
        assert_eq!(run(&e, &r, &["HSET", "h", "s", "abc"]), ":1\r\n");
        assert_eq!(run(&e, &r, &["HINCRBY", "h", "s", "1"]), "-ERR hash value is not an integer\r\n");
        assert_eq!(run(&e, &r, &["HINCRBYFLOAT", "h", "s", "1"]), "-ERR hash value is not a float\r\n");
        assert_eq!(run(&e, &r, &["HINCRBYFLOAT", "h", "f", "inf"]), "-ERR value is NaN or Infinity\r\n");
        assert_eq!(run(&e, &r, &["HINCRBYFLOAT", "h", "f", "nan"]), "-ERR value is not a valid float\r\n");
        assert_eq!(run(&e, &r, &["HINCRBYFLOAT", "h", "f", "10.5"]), "$4\r\n10.5\r\n");
        assert_eq!(run(&e, &r, &["HINCRBYFLOAT", "h", "f", "0.1"]), "$4\r\n10.6\r\n");
        assert_eq!(run(&e, &r, &["HINCRBYFLOAT", "h", "n", "1"]), "$19\r\n9223372036854775808\r\n");
    }

    #[test]
    fn propagation_as_redis() {
        let (e, r) = (Engine::new(16), Registry::new());
        e.journal.set_enabled(true);
        run(&e, &r, &["HINCRBYFLOAT", "h", "f", "1.5"]);
        let text = journal(&e);
        assert!(text.ends_with("*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$3\r\n1.5\r\n"), "{text:?}");
        run(&e, &r, &["HINCRBY", "h", "n", "0"]);
        assert!(journal(&e).ends_with("$7\r\nHINCRBY\r\n$1\r\nh\r\n$1\r\nn\r\n$1\r\n0\r\n"));
        let before = journal(&e).len();
        run(&e, &r, &["HSETNX", "h", "f", "x"]);
        run(&e, &r, &["HDEL", "h", "nope"]);
        run(&e, &r, &["HDEL", "missing", "f"]);
        assert_eq!(journal(&e).len(), before, "no change, no propagation");
    }

    #[test]
    fn keyspace_events_as_redis() {
        let (e, r) = (Engine::new(16), Registry::new());
        assert_eq!(events(&e, &r, &["HSET", "h", "a", "1"]).1, ["hset:h"]);
        assert_eq!(events(&e, &r, &["HSET", "h", "a", "1"]).1, ["hset:h"]);
        assert_eq!(events(&e, &r, &["HMSET", "h", "b", "2"]).1, ["hset:h"]);
        assert!(events(&e, &r, &["HSETNX", "h", "a", "1"]).1.is_empty());
        assert_eq!(events(&e, &r, &["HSETNX", "h", "c", "1"]).1, ["hset:h"]);
        assert_eq!(events(&e, &r, &["HINCRBY", "h", "a", "1"]).1, ["hincrby:h"]);
        assert_eq!(events(&e, &r, &["HINCRBYFLOAT", "h", "a", "1"]).1, ["hincrbyfloat:h"]);
        assert!(events(&e, &r, &["HINCRBY", "h", "a", "x"]).1.is_empty());
        assert!(events(&e, &r, &["HDEL", "h", "zz"]).1.is_empty());
        assert_eq!(events(&e, &r, &["HDEL", "h", "a", "b"]).1, ["hdel:h"]);
        assert_eq!(events(&e, &r, &["HDEL", "h", "c"]).1, ["hdel:h", "del:h"]);
    }

    #[test]
    fn hrandfield_shapes() {
        let (e, r) = (Engine::new(16), Registry::new());
        run(&e, &r, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(run(&e, &r, &["HRANDFIELD", "h", "5"]), "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
        assert!(run(&e, &r, &["HRANDFIELD", "h", "-5", "WITHVALUES"]).starts_with("*10\r\n"));
        assert!(run(&e, &r, &["HRANDFIELD", "h", "2"]).starts_with("*2\r\n"));
        assert_eq!(run(&e, &r, &["HRANDFIELD", "h", "0"]), "*0\r\n");
        assert_eq!(run(&e, &r, &["HRANDFIELD", "h", "1", "x"]), "-ERR syntax error\r\n");
        assert_eq!(
            run(&e, &r, &["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"]),
            "-ERR value is out of range\r\n"
        );
        assert!(run(&e, &r, &["HRANDFIELD", "h", "-200000000"]).starts_with("-ERR value is out of range"));
        assert_eq!(run(&e, &r, &["HRANDFIELD", "missing"]), "$-1\r\n");
    }
}
