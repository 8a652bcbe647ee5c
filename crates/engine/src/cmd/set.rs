//! The set family: SADD, SREM, SPOP, the set algebra (SINTER, SUNION, SDIFF, their
//! STORE forms, SINTERCARD) and the rest, with Redis 7.0's replies, errors,
//! propagation (SPOP as SREM, or DEL when it empties the set) and keyspace events.
//!
//! The data structure and its encodings are in `types/set.rs`. A command sees one key
//! at a time (a lookup borrows the keyspace), so the algebra works the way Redis's
//! does but in passes: look every key up once (counting hits and misses, finding the
//! first WRONGTYPE), then visit the sets one after another, carrying the candidate
//! members between them. Results are built exactly as Redis builds them (an empty
//! intset filled member by member), so their encoding and, for intsets, their order
//! are Redis's.

use redoubt_resp::request::{Args, OwnedArgs};

use super::elements::{self, reply_elem};
use super::keys::{parse_cursor, parse_scan_options};
use super::{int_arg, DataCommand, LockMode::Keys};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx, Db, Expiry};
use crate::glob::glob_match;
use crate::notify;
use crate::types::packed::{Elem, OwnedElem};
use crate::types::set::Set;
use crate::value::{NewValue, Object, ValueRef};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "sadd", lock: Keys, handler: sadd },
    DataCommand { name: "srem", lock: Keys, handler: srem },
    DataCommand { name: "smembers", lock: Keys, handler: smembers },
    DataCommand { name: "sismember", lock: Keys, handler: sismember },
    DataCommand { name: "smismember", lock: Keys, handler: smismember },
    DataCommand { name: "scard", lock: Keys, handler: scard },
    DataCommand { name: "spop", lock: Keys, handler: spop },
    DataCommand { name: "srandmember", lock: Keys, handler: srandmember },
    DataCommand { name: "smove", lock: Keys, handler: smove },
    DataCommand { name: "sinter", lock: Keys, handler: sinter },
    DataCommand { name: "sintercard", lock: Keys, handler: sintercard },
    DataCommand { name: "sinterstore", lock: Keys, handler: sinterstore },
    DataCommand { name: "sunion", lock: Keys, handler: sunion },
    DataCommand { name: "sunionstore", lock: Keys, handler: sunionstore },
    DataCommand { name: "sdiff", lock: Keys, handler: sdiff },
    DataCommand { name: "sdiffstore", lock: Keys, handler: sdiffstore },
    DataCommand { name: "sscan", lock: Keys, handler: sscan },
];

/* ---- LOOKUPS ---- */

/// The set at `key`: None if absent, WRONGTYPE for another type.
fn read<'d>(db: &'d mut Db, key: &[u8], access: Access) -> Result<Option<&'d Set>, CmdError> {
    match db.find(key, access)? {
        None => Ok(None),
        Some(e) => match e.value() {
            ValueRef::Obj(Object::Set(s)) => Ok(Some(s)),
            _ => Err(err::WRONGTYPE),
        },
    }
}

/// The set at `key`, to change in place: None if absent, WRONGTYPE for another type.
/// The caller owes `db.touch(key)` once it changed something.
fn write<'d>(db: &'d mut Db, key: &[u8], access: Access) -> Result<Option<&'d mut Set>, CmdError> {
    match db.find(key, access)? {
        None => Ok(None),
        Some(mut e) => match e.object_mut() {
            Some(Object::Set(s)) => Ok(Some(s)),
            _ => Err(err::WRONGTYPE),
        },
    }
}

/// Runs `f` on the set at `key`, or on a new empty one of the encoding Redis picks for
/// `first` (`setTypeCreate`), stored only if `f` succeeds and leaves it non-empty. The
/// caller owes `db.touch(key)`.
fn upsert<R>(
    db: &mut Db,
    key: &[u8],
    first: &[u8],
    f: impl FnOnce(&mut Set) -> Result<R, CmdError>,
) -> Result<R, CmdError> {
    if let Some(s) = write(db, key, Access::Write)? {
        return f(s);
    }
    let mut s = Set::new_for(Elem::Str(first));
    let r = f(&mut s)?;
    if !s.is_empty() {
        db.set(key, NewValue::Obj(Box::new(Object::Set(s))), Expiry::Clear)?;
    }
    Ok(r)
}

/// `set-max-intset-entries`.
fn max_intset(db: &Db) -> usize {
    db.engine.knobs.set_max_intset_entries.load(std::sync::atomic::Ordering::Relaxed)
}

/// Deletes `key`, whose set just lost its last member (an empty set never exists).
fn delete_emptied(db: &mut Db, key: &[u8]) -> CmdResult {
    db.delete(key)?;
    db.notify(notify::GENERIC, "del", key);
    Ok(())
}

/* ---- SINGLE-KEY COMMANDS ---- */

fn sadd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let max = max_intset(ctx.db);
    let added = upsert(ctx.db, key, args.get(2), |s| {
        let mut added = 0u64;
        for m in args.iter().skip(2) {
            added += s.insert(Elem::Str(m), max)? as u64;
        }
        Ok(added)
    })?;
    if added > 0 {
        ctx.db.touch(key);
        ctx.db.notify(notify::SET, "sadd", key);
        ctx.db.dirty += added;
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let Some(s) = write(ctx.db, key, Access::Write)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let (mut removed, mut emptied) = (0u64, false);
    for m in args.iter().skip(2) {
        if s.remove(Elem::Str(m)) {
            removed += 1;
            if s.is_empty() {
                emptied = true;
                break;
            }
        }
    }
    if removed > 0 {
        if emptied {
            ctx.db.delete(key)?;
        }
        ctx.db.touch(key);
        ctx.db.notify(notify::SET, "srem", key);
        if emptied {
            ctx.db.notify(notify::GENERIC, "del", key);
        }
        ctx.db.dirty += removed;
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// SMEMBERS is SINTER of one key in Redis 7.0: a set reply in the set's order.
fn smembers(ctx: &mut Ctx, args: Args) -> CmdResult {
    let out = &mut *ctx.out;
    let s = read(ctx.db, args.get(1), Access::Read)?;
    out.set(s.map_or(0, |s| s.len()));
    s.into_iter().flat_map(|s| s.iter()).for_each(|m| reply_elem(out, m));
    Ok(())
}

fn sismember(ctx: &mut Ctx, args: Args) -> CmdResult {
    let found = read(ctx.db, args.get(1), Access::Read)?.is_some_and(|s| s.contains(Elem::Str(args.get(2))));
    ctx.out.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, args: Args) -> CmdResult {
    let out = &mut *ctx.out;
    let s = read(ctx.db, args.get(1), Access::Read)?;
    out.array(args.len() - 2);
    for m in args.iter().skip(2) {
        out.int(s.is_some_and(|s| s.contains(Elem::Str(m))) as i64);
    }
    Ok(())
}

fn scard(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = read(ctx.db, args.get(1), Access::Read)?.map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

/* ---- SPOP AND SRANDMEMBER ---- */

fn spop(ctx: &mut Ctx, args: Args) -> CmdResult {
    match args.len() {
        3 => return spop_count(ctx, args),
        n if n > 3 => return Err(err::SYNTAX),
        _ => {}
    }
    let key = args.get(1);
    let Some(s) = write(ctx.db, key, Access::Write)? else {
        ctx.out.null();
        return Ok(());
    };
    let member = s.remove_at(elements::random_index(s.len()));
    let emptied = s.is_empty();
    ctx.db.notify(notify::SET, "spop", key);
    ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([&b"SREM"[..], key, &member]));
    ctx.out.bulk(&member);
    if emptied {
        delete_emptied(ctx.db, key)?;
    }
    ctx.db.touch(key);
    ctx.db.dirty += 1;
    Ok(())
}

/// How much larger than what stays the popped part must be for SPOP to rebuild the
/// set from what stays instead of removing members one by one (Redis's
/// `SPOP_MOVE_STRATEGY_MUL`). The choice shows in the encoding of what stays.
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

/// SPOP with a count (Redis's `spopWithCountCommand`); each popped member is
/// propagated as an SREM, an emptied set as a DEL.
fn spop_count(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    // Redis gives the same error for a count that is not an integer at all.
    let count = int_arg(args.get(2))
        .ok()
        .filter(|&n| n >= 0)
        .ok_or(CmdError::Static("ERR value is out of range, must be positive"))?;
    let max = max_intset(ctx.db);
    let out = &mut *ctx.out;
    let Some(s) = write(ctx.db, key, Access::Write)? else {
        out.set(0);
        return Ok(());
    };
    if count == 0 {
        out.set(0);
        return Ok(());
    }
    let (size, count) = (s.len(), count as u64);
    if count >= size as u64 {
        // The whole set, answered as SUNION of this one key would answer.
        let all = Set::build(s.iter(), max)?;
        out.set(all.len());
        all.iter().for_each(|m| reply_elem(out, m));
        let db = &mut *ctx.db;
        db.notify(notify::SET, "spop", key);
        delete_emptied(db, key)?;
        db.propagate(db.index, OwnedArgs::from_slices([&b"DEL"[..], key]));
        db.touch(key);
        // Redis adds the requested count, which can be near 2^63; the members removed
        // are what changed, and cannot overflow the counter.
        db.dirty += size as u64;
        return Ok(());
    }
    let count = count as usize;
    let remaining = size - count;
    let mut popped: Vec<Vec<u8>> = Vec::with_capacity(count);
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        for _ in 0..count {
            popped.push(s.remove_at(elements::random_index(s.len())));
        }
    } else {
        // Few stay: pick them, build the new set from them, answer with the others.
        let keep = elements::distinct_indexes(size, remaining);
        let kept = Set::build(keep.iter().map(|&i| s.at(i)), max)?;
        let mut stays = vec![false; size];
        keep.iter().for_each(|&i| stays[i] = true);
        popped.extend((0..size).filter(|&i| !stays[i]).map(|i| s.at(i).to_vec()));
        *s = kept;
    }
    out.set(popped.len());
    let db = &mut *ctx.db;
    db.notify(notify::SET, "spop", key);
    for m in &popped {
        out.bulk(m);
        db.propagate(db.index, OwnedArgs::from_slices([&b"SREM"[..], key, m]));
    }
    db.touch(key);
    db.dirty += count as u64;
    Ok(())
}

fn srandmember(ctx: &mut Ctx, args: Args) -> CmdResult {
    match args.len() {
        3 => return srandmember_count(ctx, args),
        n if n > 3 => return Err(err::SYNTAX),
        _ => {}
    }
    let out = &mut *ctx.out;
    match read(ctx.db, args.get(1), Access::Read)? {
        Some(s) if !s.is_empty() => reply_elem(out, s.at(elements::random_index(s.len()))),
        _ => out.null(),
    }
    Ok(())
}

/// SRANDMEMBER with a count (Redis's `srandmemberWithCountCommand`): repeats for a
/// negative count (and for 1), the whole set in its order when the count covers it,
/// else distinct members in random order. Always an array, even in RESP3.
fn srandmember_count(ctx: &mut Ctx, args: Args) -> CmdResult {
    let count = elements::count_arg(args.get(2))?;
    let out = &mut *ctx.out;
    let Some(s) = read(ctx.db, args.get(1), Access::Read)? else {
        out.array(0);
        return Ok(());
    };
    if count == 0 || s.is_empty() {
        out.array(0);
        return Ok(());
    }
    if count < 0 || count == 1 {
        let n = count.unsigned_abs();
        elements::check_repeated_picks(n)?;
        out.array(n as usize);
        for _ in 0..n {
            reply_elem(out, s.at(elements::random_index(s.len())));
        }
        return Ok(());
    }
    let count = count as usize;
    if count >= s.len() {
        out.array(s.len());
        s.iter().for_each(|m| reply_elem(out, m));
        return Ok(());
    }
    out.array(count);
    for i in elements::distinct_indexes(s.len(), count) {
        reply_elem(out, s.at(i));
    }
    Ok(())
}

/* ---- SMOVE ---- */

/// What a key holds, for commands that look several keys up before judging them.
#[derive(PartialEq)]
enum Kind {
    Missing,
    Set,
    Other,
}

fn kind(db: &mut Db, key: &[u8], access: Access) -> Result<Kind, CmdError> {
    Ok(match db.find(key, access)? {
        None => Kind::Missing,
        Some(e) => match e.value() {
            ValueRef::Obj(Object::Set(_)) => Kind::Set,
            _ => Kind::Other,
        },
    })
}

fn smove(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (src, dst, member) = (args.get(1), args.get(2), args.get(3));
    // Both keys are looked up before either is judged, as in Redis.
    let src_kind = kind(ctx.db, src, Access::Write)?;
    let dst_kind = kind(ctx.db, dst, Access::Write)?;
    match src_kind {
        Kind::Missing => {
            ctx.out.int(0);
            return Ok(());
        }
        Kind::Other => return Err(err::WRONGTYPE),
        Kind::Set if dst_kind == Kind::Other => return Err(err::WRONGTYPE),
        Kind::Set => {}
    }
    if src == dst {
        let found = read(ctx.db, src, Access::Peek)?.is_some_and(|s| s.contains(Elem::Str(member)));
        ctx.out.int(found as i64);
        return Ok(());
    }
    let Some(s) = write(ctx.db, src, Access::Peek)? else { return Err(err::NO_SUCH_KEY) };
    if !s.remove(Elem::Str(member)) {
        ctx.out.int(0);
        return Ok(());
    }
    let emptied = s.is_empty();
    ctx.db.notify(notify::SET, "srem", src);
    if emptied {
        delete_emptied(ctx.db, src)?;
    }
    let max = max_intset(ctx.db);
    let added = upsert(ctx.db, dst, member, |s| Ok(s.insert(Elem::Str(member), max)?))?;
    ctx.db.touch(src);
    ctx.db.touch(dst);
    ctx.db.dirty += 1;
    if added {
        ctx.db.dirty += 1;
        ctx.db.notify(notify::SET, "sadd", dst);
    }
    ctx.out.int(1);
    Ok(())
}

/* ---- SET ALGEBRA ---- */

/// Looks up every key once, as a read (Redis's set operations, STORE forms included,
/// use `lookupKeyRead`), in order: each set's size, None for a missing key; WRONGTYPE
/// at the first key holding something else.
fn sizes(db: &mut Db, keys: &[&[u8]]) -> Result<Vec<Option<usize>>, CmdError> {
    keys.iter().map(|k| Ok(read(db, k, Access::Read)?.map(|s| s.len()))).collect()
}

/// A set already looked up by [`sizes`], seen again without counting a second lookup.
fn seen<'d>(db: &'d mut Db, key: &[u8]) -> Result<Option<&'d Set>, CmdError> {
    read(db, key, Access::Peek)
}

/// The members common to all `keys`, in the order of the smallest set (Redis's
/// `sinterGenericCommand`, which walks the smallest and probes the others).
fn intersection(db: &mut Db, keys: &[&[u8]], sizes: &[Option<usize>]) -> Result<Vec<OwnedElem>, CmdError> {
    if sizes.iter().any(|s| s.is_none()) {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // Stable, as glibc's qsort (a merge sort) is for Redis.
    order.sort_by_key(|&j| sizes[j]);
    let first = keys[order[0]];
    let mut members: Vec<OwnedElem> = match seen(db, first)? {
        Some(s) => s.iter().map(|m| m.to_owned_elem()).collect(),
        None => return Ok(Vec::new()),
    };
    for &j in &order[1..] {
        if members.is_empty() {
            break;
        }
        if keys[j] == first {
            continue;
        }
        match seen(db, keys[j])? {
            Some(s) => members.retain(|m| s.contains(m.as_elem())),
            None => members.clear(),
        }
    }
    Ok(members)
}

/// The union of `keys` (missing ones are empty), built as Redis builds it.
fn union(db: &mut Db, keys: &[&[u8]], max: usize) -> Result<Set, CmdError> {
    let mut result = Set::empty();
    for &key in keys {
        if let Some(s) = seen(db, key)? {
            for m in s.iter() {
                result.insert(m, max)?;
            }
        }
    }
    Ok(result)
}

/// The members of the first key in none of the others, built as Redis builds it:
/// Redis picks one of two algorithms by estimated work, and the choice shows in the
/// result's encoding (the second starts from a copy of the whole first set).
fn difference(db: &mut Db, keys: &[&[u8]], sizes: &[Option<usize>], max: usize) -> Result<Set, CmdError> {
    let Some(size0) = sizes[0] else { return Ok(Set::empty()) };
    let present = sizes.iter().flatten();
    let one_work = present.clone().count() * size0 / 2;
    let two_work: usize = present.sum();
    let first = keys[0];
    if one_work <= two_work {
        // Algorithm 1: each member of the first set, unless another set has it.
        let mut members: Vec<OwnedElem> = match seen(db, first)? {
            Some(s) => s.iter().map(|m| m.to_owned_elem()).collect(),
            None => Vec::new(),
        };
        for &key in &keys[1..] {
            if members.is_empty() {
                break;
            }
            if key == first {
                members.clear();
            } else if let Some(s) = seen(db, key)? {
                members.retain(|m| !s.contains(m.as_elem()));
            }
        }
        return Ok(Set::build(members.iter().map(|m| m.as_elem()), max)?);
    }
    // Algorithm 2: a copy of the first set, minus every member of the others.
    let mut result = match seen(db, first)? {
        Some(s) => Set::build(s.iter(), max)?,
        None => Set::empty(),
    };
    for &key in &keys[1..] {
        if result.is_empty() {
            break;
        }
        if key == first {
            // The first set minus itself: nothing is left.
            return Ok(Set::empty());
        }
        if let Some(s) = seen(db, key)? {
            for m in s.iter() {
                result.remove(m);
            }
        }
    }
    Ok(result)
}

/// Stores a set operation's result at `dst` (replacing what was there, TTL included),
/// or deletes `dst` when the result is empty; answers with the result's size.
fn store(ctx: &mut Ctx, dst: &[u8], result: Set, event: &'static str) -> CmdResult {
    let n = result.len();
    let db = &mut *ctx.db;
    if n > 0 {
        db.set(dst, NewValue::Obj(Box::new(Object::Set(result))), Expiry::Clear)?;
        db.notify(notify::SET, event, dst);
        db.dirty += 1;
    } else if db.delete(dst)? {
        db.notify(notify::GENERIC, "del", dst);
        db.dirty += 1;
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn reply_set(ctx: &mut Ctx, result: &Set) {
    ctx.out.set(result.len());
    result.iter().for_each(|m| reply_elem(ctx.out, m));
}

fn sinter(ctx: &mut Ctx, args: Args) -> CmdResult {
    let keys: Vec<&[u8]> = args.iter().skip(1).collect();
    let sizes = sizes(ctx.db, &keys)?;
    let members = intersection(ctx.db, &keys, &sizes)?;
    ctx.out.set(members.len());
    members.iter().for_each(|m| reply_elem(ctx.out, m.as_elem()));
    Ok(())
}

fn sinterstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let keys: Vec<&[u8]> = args.iter().skip(2).collect();
    let sizes = sizes(ctx.db, &keys)?;
    let members = intersection(ctx.db, &keys, &sizes)?;
    let result = Set::build(members.iter().map(|m| m.as_elem()), max_intset(ctx.db))?;
    store(ctx, args.get(1), result, "sinterstore")
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx, args: Args) -> CmdResult {
    let numkeys = int_arg(args.get(1))
        .ok()
        .filter(|&n| n >= 1)
        .ok_or(CmdError::Static("ERR numkeys should be greater than 0"))?;
    if numkeys > args.len() as i64 - 2 {
        return Err(CmdError::Static("ERR Number of keys can't be greater than number of args"));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < args.len() {
        if super::is(args.get(i), "limit") && i + 1 < args.len() {
            limit = int_arg(args.get(i + 1))
                .ok()
                .filter(|&n| n >= 0)
                .ok_or(CmdError::Static("ERR LIMIT can't be negative"))? as usize;
            i += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    let keys: Vec<&[u8]> = args.iter().skip(2).take(numkeys).collect();
    let sizes = sizes(ctx.db, &keys)?;
    let n = intersection(ctx.db, &keys, &sizes)?.len();
    ctx.out.int(if limit > 0 { n.min(limit) } else { n } as i64);
    Ok(())
}

fn sunion(ctx: &mut Ctx, args: Args) -> CmdResult {
    let keys: Vec<&[u8]> = args.iter().skip(1).collect();
    sizes(ctx.db, &keys)?;
    let max = max_intset(ctx.db);
    let result = union(ctx.db, &keys, max)?;
    reply_set(ctx, &result);
    Ok(())
}

fn sunionstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let keys: Vec<&[u8]> = args.iter().skip(2).collect();
    sizes(ctx.db, &keys)?;
    let max = max_intset(ctx.db);
    let result = union(ctx.db, &keys, max)?;
    store(ctx, args.get(1), result, "sunionstore")
}

fn sdiff(ctx: &mut Ctx, args: Args) -> CmdResult {
    let keys: Vec<&[u8]> = args.iter().skip(1).collect();
    let sizes = sizes(ctx.db, &keys)?;
    let max = max_intset(ctx.db);
    let result = difference(ctx.db, &keys, &sizes, max)?;
    reply_set(ctx, &result);
    Ok(())
}

fn sdiffstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let keys: Vec<&[u8]> = args.iter().skip(2).collect();
    let sizes = sizes(ctx.db, &keys)?;
    let max = max_intset(ctx.db);
    let result = difference(ctx.db, &keys, &sizes, max)?;
    store(ctx, args.get(1), result, "sdiffstore")
}

/* ---- SSCAN ---- */

fn sscan(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cursor = parse_cursor(args.get(2))?;
    let out = &mut *ctx.out;
    let Some(s) = read(ctx.db, args.get(1), Access::Read)? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    let o = parse_scan_options(args, 3, false)?;
    let mut members = Vec::new();
    let next = s.scan(cursor, o.count, |m| members.push(m));
    if let Some(pattern) = o.pattern {
        let mut scratch = [0u8; 20];
        members.retain(|m| glob_match(pattern, m.bytes(&mut scratch), false));
    }
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(members.len());
    members.into_iter().for_each(|m| reply_elem(out, m));
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use redoubt_resp::request::OwnedArgs;
    use redoubt_resp::{Protocol, ReplyBuf};

    use crate::clock::now_ms;
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::{execute, Registry};
    use crate::{notify, Engine};

    /// Runs a command; returns its RESP2 reply and the keyspace events it recorded
    /// (as `event:key`).
    pub(crate) fn events(e: &Engine, r: &Registry, parts: &[&str]) -> (String, Vec<String>) {
        e.knobs.notify_flags.store(notify::ALL | notify::KEYSPACE, Relaxed);
        let args = OwnedArgs::from_slices(parts.iter().map(|p| p.as_bytes()));
        let reg = r.resolve(args.args()).expect("known command");
        let mut out = ReplyBuf::new(Protocol::Resp2);
        let (res, changes) = execute(e, &reg.meta, reg.cmd, 0, args.args(), &mut out, now_ms());
        if let Err(err) = res {
            out.error(err.as_bytes());
        }
        let names = changes.events.iter().map(|ev| format!("{}:{}", ev.event, String::from_utf8_lossy(&ev.key)));
        (String::from_utf8_lossy(&out.buf).into_owned(), names.collect())
    }

    /// The journal's contents, with the SELECT it starts with.
    pub(crate) fn journal(e: &Engine) -> String {
        String::from_utf8_lossy(&e.journal.read_from(0, 1 << 20).unwrap_or_default()).into_owned()
    }

    #[test]
    fn keyspace_events_as_redis() {
        let (e, r) = (Engine::new(16), Registry::new());
        assert_eq!(events(&e, &r, &["SADD", "s", "1", "2"]).1, ["sadd:s"]);
        assert!(events(&e, &r, &["SADD", "s", "1"]).1.is_empty());
        assert!(events(&e, &r, &["SREM", "s", "9"]).1.is_empty());
        assert_eq!(events(&e, &r, &["SMOVE", "s", "t", "1"]).1, ["srem:s", "sadd:t"]);
        assert_eq!(events(&e, &r, &["SMOVE", "s", "t", "2"]).1, ["srem:s", "del:s", "sadd:t"]);
        assert_eq!(events(&e, &r, &["SINTERSTORE", "d", "t", "t"]).1, ["sinterstore:d"]);
        assert_eq!(events(&e, &r, &["SINTERSTORE", "d", "t", "missing"]).1, ["del:d"]);
        assert!(events(&e, &r, &["SINTERSTORE", "d", "t", "missing"]).1.is_empty());
        assert_eq!(events(&e, &r, &["SUNIONSTORE", "d", "t"]).1, ["sunionstore:d"]);
        assert_eq!(events(&e, &r, &["SDIFFSTORE", "d2", "t", "missing"]).1, ["sdiffstore:d2"]);
        assert_eq!(events(&e, &r, &["SPOP", "d"]).1, ["spop:d"]);
        assert_eq!(events(&e, &r, &["SREM", "t", "1", "2"]).1, ["srem:t", "del:t"]);
        assert_eq!(events(&e, &r, &["SPOP", "d2", "5"]).1, ["spop:d2", "del:d2"]);
        assert_eq!(run(&e, &r, &["EXISTS", "s", "t", "d", "d2"]), ":1\r\n");
    }

    #[test]
    fn spop_propagates_srem_or_del() {
        let (e, r) = (Engine::new(16), Registry::new());
        e.journal.set_enabled(true);
        run(&e, &r, &["SADD", "s", "7"]);
        assert_eq!(run(&e, &r, &["SPOP", "s"]), "$1\r\n7\r\n");
        assert!(journal(&e).ends_with("*3\r\n$4\r\nSREM\r\n$1\r\ns\r\n$1\r\n7\r\n"), "{}", journal(&e));
        run(&e, &r, &["SADD", "s", "1", "2", "3"]);
        assert_eq!(run(&e, &r, &["SPOP", "s", "3"]), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
        assert!(journal(&e).ends_with("*2\r\n$3\r\nDEL\r\n$1\r\ns\r\n"));
        run(&e, &r, &["SADD", "s", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
        let before = journal(&e).len();
        assert!(run(&e, &r, &["SPOP", "s", "2"]).starts_with("*2\r\n"));
        assert_eq!(journal(&e)[before..].matches("SREM").count(), 2);
        // Few stay: the set is rebuilt from them.
        let before = journal(&e).len();
        assert!(run(&e, &r, &["SPOP", "s", "7"]).starts_with("*7\r\n"));
        assert_eq!(journal(&e)[before..].matches("SREM").count(), 7);
        assert_eq!(run(&e, &r, &["SCARD", "s"]), ":1\r\n");
        // Nothing changed, nothing propagated.
        let before = journal(&e).len();
        run(&e, &r, &["SPOP", "s", "0"]);
        run(&e, &r, &["SREM", "s", "nope"]);
        run(&e, &r, &["SMOVE", "s", "s", "nope"]);
        assert_eq!(journal(&e).len(), before);
    }

    #[test]
    fn spop_rebuild_keeps_redis_encodings() {
        let (e, r) = (Engine::new(16), Registry::new());
        // A table (one non-integer member) that keeps only integers becomes an intset
        // again when SPOP rebuilds it, as in Redis.
        let mut args = vec!["SADD", "s", "x"];
        let nums: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        args.extend(nums.iter().map(|s| s.as_str()));
        run(&e, &r, &args);
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "s"]), "$9\r\nhashtable\r\n");
        let popped = run(&e, &r, &["SPOP", "s", "20"]);
        assert!(popped.starts_with("*20\r\n"));
        let left = run(&e, &r, &["SMEMBERS", "s"]);
        let want = if left.contains("\r\nx\r\n") { "$9\r\nhashtable\r\n" } else { "$6\r\nintset\r\n" };
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "s"]), want);
    }

    #[test]
    fn digests_match_redis() {
        // DEBUG DIGEST-VALUE of the same data on Redis 7.0.15, in both encodings here.
        let (e, r) = (Engine::new(16), Registry::new());
        run(&e, &r, &["HSET", "dh", "a", "1", "b", "hello", "c", "-5"]);
        run(&e, &r, &["SADD", "ds", "1", "2", "3"]);
        run(&e, &r, &["SADD", "ds2", "a", "b", "1"]);
        let want = "*3\r\n+dc337cf7231fba79d825ca5fc3ed12c9296e6be1\r\n\
                    +2a462a3f51a1db89738ebbeef0c47ce1bbc85246\r\n+e8f32bbb1ad9bf537c8867de4f19fec9e001296d\r\n";
        let digest = |e: &Engine| {
            let mut db = crate::exec::Db::new(e, e.keyspace.lock_all(), 0, 0);
            let mut out = String::from("*3\r\n");
            for key in ["dh", "ds", "ds2"] {
                let entry = db.peek_in(0, key.as_bytes()).unwrap().unwrap();
                out.push_str(&format!("+{}\r\n", crate::digest::to_hex(&crate::digest::value_digest(entry))));
            }
            out
        };
        assert_eq!(digest(&e), want);
        // The same contents in the other encodings digest the same.
        let (e2, _) = (Engine::new(16), ());
        e2.knobs.hash_max_listpack_entries.store(0, Relaxed);
        e2.knobs.set_max_intset_entries.store(0, Relaxed);
        run(&e2, &r, &["HSET", "dh", "c", "-5", "a", "1", "b", "hello"]);
        run(&e2, &r, &["SADD", "ds", "3", "2", "1"]);
        run(&e2, &r, &["SADD", "ds2", "1", "b", "a"]);
        assert_eq!(run(&e2, &r, &["OBJECT", "ENCODING", "ds"]), "$9\r\nhashtable\r\n");
        assert_eq!(digest(&e2), want);
    }

    #[test]
    fn algebra_on_mixed_encodings() {
        let (e, r) = (Engine::new(16), Registry::new());
        run(&e, &r, &["SADD", "a", "1", "2", "3", "x"]);
        run(&e, &r, &["SADD", "b", "3", "2", "9"]);
        assert_eq!(run(&e, &r, &["SINTER", "b", "a"]), "*2\r\n$1\r\n2\r\n$1\r\n3\r\n");
        assert_eq!(run(&e, &r, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), ":1\r\n");
        assert_eq!(run(&e, &r, &["SDIFF", "b", "a"]), "*1\r\n$1\r\n9\r\n");
        assert_eq!(run(&e, &r, &["SUNIONSTORE", "u", "a", "b"]), ":5\r\n");
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "u"]), "$9\r\nhashtable\r\n");
        assert_eq!(run(&e, &r, &["SINTERSTORE", "i", "a", "b"]), ":2\r\n");
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "i"]), "$6\r\nintset\r\n");
        assert_eq!(run(&e, &r, &["SDIFFSTORE", "i", "a", "a"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "i"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["SMISMEMBER", "a", "x", "4"]), "*2\r\n:1\r\n:0\r\n");
    }
}
