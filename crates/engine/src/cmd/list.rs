//! The list family: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN, LRANGE, LINDEX,
//! LSET, LINSERT, LREM, LTRIM, LPOS, LMOVE, RPOPLPUSH, LMPOP; the blocking forms are in
//! [`block`].
//!
//! Each command follows Redis 7.0's `t_list.c` step for step where the order shows:
//! which argument is parsed before the key is looked up (so which error wins), which
//! null a missing key gets (RESP2 `$-1` or `*-1`), the keyspace events and their order,
//! what is propagated (LMPOP as `LPOP key n`), and that an emptied list is deleted
//! with a `del` event: an empty list never exists.

pub mod block;

use std::sync::atomic::Ordering::Relaxed;

use redoubt_resp::request::{Args, OwnedArgs};
use redoubt_resp::ReplyBuf;

use super::elements::reply_elem;
use super::{int_arg, is, DataCommand, LockMode::Keys};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx, Db, Expiry};
use crate::notify;
use crate::types::list::{End, List};
use crate::value::{NewValue, Object, ValueRef};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "lpush", lock: Keys, handler: lpush },
    DataCommand { name: "rpush", lock: Keys, handler: rpush },
    DataCommand { name: "lpushx", lock: Keys, handler: lpushx },
    DataCommand { name: "rpushx", lock: Keys, handler: rpushx },
    DataCommand { name: "lpop", lock: Keys, handler: lpop },
    DataCommand { name: "rpop", lock: Keys, handler: rpop },
    DataCommand { name: "llen", lock: Keys, handler: llen },
    DataCommand { name: "lrange", lock: Keys, handler: lrange },
    DataCommand { name: "lindex", lock: Keys, handler: lindex },
    DataCommand { name: "lset", lock: Keys, handler: lset },
    DataCommand { name: "linsert", lock: Keys, handler: linsert },
    DataCommand { name: "lrem", lock: Keys, handler: lrem },
    DataCommand { name: "ltrim", lock: Keys, handler: ltrim },
    DataCommand { name: "lpos", lock: Keys, handler: lpos },
    DataCommand { name: "lmove", lock: Keys, handler: lmove },
    DataCommand { name: "rpoplpush", lock: Keys, handler: rpoplpush },
    DataCommand { name: "lmpop", lock: Keys, handler: lmpop },
    DataCommand { name: "blpop", lock: Keys, handler: block::blpop },
    DataCommand { name: "brpop", lock: Keys, handler: block::brpop },
    DataCommand { name: "blmove", lock: Keys, handler: block::blmove },
    DataCommand { name: "brpoplpush", lock: Keys, handler: block::brpoplpush },
    DataCommand { name: "blmpop", lock: Keys, handler: block::blmpop },
];

/* ---- Access to the list at a key ---- */

/// The list at `key`: None if the key is missing, WRONGTYPE if it holds another type.
pub fn read_list<'d>(db: &'d mut Db<'_>, key: &[u8], access: Access) -> Result<Option<&'d List>, CmdError> {
    match db.find(key, access)? {
        None => Ok(None),
        Some(e) => match e.value() {
            ValueRef::Obj(Object::List(l)) => Ok(Some(l)),
            _ => Err(err::WRONGTYPE),
        },
    }
}

/// The list at `key` for an in-place change (the caller then calls `db.touch`).
pub fn write_list<'d>(db: &'d mut Db<'_>, key: &[u8]) -> Result<Option<&'d mut List>, CmdError> {
    match db.find(key, Access::Write)? {
        None => Ok(None),
        Some(mut e) => match e.object_mut() {
            Some(Object::List(l)) => Ok(Some(l)),
            _ => Err(err::WRONGTYPE),
        },
    }
}

/// `list-max-listpack-size`, for lists created now (Redis sets it per list).
fn fill(db: &Db<'_>) -> i64 {
    db.engine.knobs.list_max_listpack_size.load(Relaxed)
}

/// The event name of a push or a pop at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

/// LEFT or RIGHT (Redis's `getListPositionFromObjectOrReply`).
pub fn end_arg(a: &[u8]) -> Result<End, CmdError> {
    if is(a, "left") {
        Ok(End::Head)
    } else if is(a, "right") {
        Ok(End::Tail)
    } else {
        Err(err::SYNTAX)
    }
}

/// How an end is written when a served BLMOVE is propagated (Redis's shared `left`
/// and `right` objects).
fn end_word(end: End) -> &'static [u8] {
    match end {
        End::Head => b"left",
        End::Tail => b"right",
    }
}

/// A count that must be positive, or `msg` (Redis's `getRangeLongFromObjectOrReply`
/// with a message: the same text for a non-number and for a number out of range).
fn ranged_arg(a: &[u8], min: i64, msg: &'static str) -> Result<i64, CmdError> {
    match int_arg(a) {
        Ok(n) if n >= min => Ok(n),
        _ => Err(CmdError::Static(msg)),
    }
}

/// Pushes `value` at `end` of the list at `key`, creating it when absent (Redis's
/// `lmoveHandlePush`, also used by served BLMOVE): the destination's events and the
/// reply (the value) are the caller's... except the push event, sent here.
fn push_creating(db: &mut Db<'_>, key: &[u8], end: End, value: &[u8]) -> CmdResult {
    let f = fill(db);
    match write_list(db, key)? {
        Some(l) => {
            l.push(end, value);
            db.touch(key);
        }
        None => {
            let mut l = List::new(f);
            l.push(end, value);
            db.set(key, NewValue::Obj(Box::new(Object::List(l))), Expiry::Clear)?;
        }
    }
    db.notify(notify::LIST, push_event(end), key);
    Ok(())
}

/// What follows removing `count` elements from `end` of the list at `key` that now has
/// `left` elements (Redis's `listElementsRemoved`): the pop event, the deletion of an
/// emptied list with its `del` event, the dirty count.
fn elements_removed(db: &mut Db<'_>, key: &[u8], end: End, left: usize, count: usize) -> CmdResult {
    db.notify(notify::LIST, pop_event(end), key);
    delete_if_empty(db, key, left)?;
    db.dirty += count as u64;
    Ok(())
}

/// Deletes the list at `key` when it has no elements left (with the `del` event);
/// otherwise records the change for WATCH.
fn delete_if_empty(db: &mut Db<'_>, key: &[u8], left: usize) -> CmdResult {
    if left == 0 {
        db.delete(key)?;
        db.notify(notify::GENERIC, "del", key);
    } else {
        db.touch(key);
    }
    Ok(())
}

/// Writes positions `start..=end` (Redis indexes, negative from the tail) of `l` as an
/// array, tail first when `reverse` (Redis's `addListRangeReply`).
fn reply_range(out: &mut ReplyBuf, l: &List, start: i64, end: i64, reverse: bool) {
    let len = l.len() as i64;
    let start = if start < 0 { len.saturating_add(start) } else { start }.max(0);
    let end = if end < 0 { len.saturating_add(end) } else { end };
    if start > end || start >= len {
        out.array(0);
        return;
    }
    let end = end.min(len - 1);
    let n = (end - start + 1) as usize;
    out.array(n);
    if reverse {
        l.iter_back_from(end as usize).take(n).for_each(|e| reply_elem(out, e));
    } else {
        l.iter_from(start as usize).take(n).for_each(|e| reply_elem(out, e));
    }
}

/// Replies with up to `count` elements from `end` of the list at `key` (which exists
/// and is a list) and removes them; returns how many (Redis's pop with a count).
fn pop_range(db: &mut Db<'_>, out: &mut ReplyBuf, key: &[u8], end: End, count: usize) -> Result<usize, CmdError> {
    let Some(l) = write_list(db, key)? else { return Ok(0) };
    let n = count.min(l.len());
    match end {
        End::Head => reply_range(out, l, 0, n as i64 - 1, false),
        End::Tail => reply_range(out, l, -(n as i64), -1, true),
    }
    match end {
        End::Head => l.delete_range(0, n),
        End::Tail => l.delete_range(l.len() - n, n),
    }
    let left = l.len();
    elements_removed(db, key, end, left, n)?;
    Ok(n)
}

/// `[key, [elements...]]` for up to `count` elements popped from `end` of the list at
/// `key` (Redis's `listPopRangeAndReplyWithKey`); propagated as `LPOP|RPOP key n`.
pub fn pop_range_with_key(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> CmdResult {
    let len = read_list(ctx.db, key, Access::Peek)?.map_or(0, |l| l.len());
    let n = count.min(len);
    let verb: &[u8] = if end == End::Head { b"LPOP" } else { b"RPOP" };
    ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([verb, key, n.to_string().as_bytes()]));
    ctx.out.array(2);
    ctx.out.bulk(key);
    pop_range(ctx.db, ctx.out, key, end, count)?;
    Ok(())
}

/* ---- Pushes ---- */

/// Refuses elements a list cannot hold (over 4 GB: see `List::fits`).
fn check_sizes<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> CmdResult {
    match values.all(|v| List::fits(v.len())) {
        true => Ok(()),
        false => Err(err::STRING_TOO_BIG),
    }
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX (Redis's `pushGenericCommand`).
fn push_generic(ctx: &mut Ctx, args: Args, end: End, only_existing: bool) -> CmdResult {
    check_sizes(args.iter().skip(2))?;
    let key = args.get(1);
    let values = args.iter().skip(2);
    let len = match write_list(ctx.db, key)? {
        Some(l) => {
            values.for_each(|v| l.push(end, v));
            let len = l.len();
            ctx.db.touch(key);
            len
        }
        None if only_existing => {
            ctx.out.int(0);
            return Ok(());
        }
        None => {
            let mut l = List::new(fill(ctx.db));
            values.for_each(|v| l.push(end, v));
            let len = l.len();
            ctx.db.set(key, NewValue::Obj(Box::new(Object::List(l))), Expiry::Clear)?;
            len
        }
    };
    ctx.db.dirty += (args.len() - 2) as u64;
    ctx.out.int(len as i64);
    ctx.db.notify(notify::LIST, push_event(end), key);
    Ok(())
}

fn lpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    push_generic(ctx, args, End::Head, false)
}

fn rpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    push_generic(ctx, args, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx, args: Args) -> CmdResult {
    push_generic(ctx, args, End::Head, true)
}

fn rpushx(ctx: &mut Ctx, args: Args) -> CmdResult {
    push_generic(ctx, args, End::Tail, true)
}

/* ---- Pops ---- */

/// LPOP and RPOP, with or without a count (Redis's `popGenericCommand`).
fn pop_generic(ctx: &mut Ctx, args: Args, end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(super::registry::arity_error(&String::from_utf8_lossy(args.get(0)).to_ascii_lowercase()));
    }
    let has_count = args.len() == 3;
    let count = if has_count { ranged_arg(args.get(2), 0, "ERR value is out of range, must be positive")? } else { 0 };
    let key = args.get(1);
    if read_list(ctx.db, key, Access::Write)?.is_none() {
        if has_count {
            ctx.out.null_array();
        } else {
            ctx.out.null();
        }
        return Ok(());
    }
    if has_count && count == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    if !has_count {
        let Some(l) = write_list(ctx.db, key)? else { return Ok(()) };
        let out = &mut *ctx.out;
        l.pop_with(end, |e| reply_elem(out, e));
        let left = l.len();
        return elements_removed(ctx.db, key, end, left, 1);
    }
    pop_range(ctx.db, ctx.out, key, end, count as usize)?;
    Ok(())
}

fn lpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    pop_generic(ctx, args, End::Head)
}

fn rpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    pop_generic(ctx, args, End::Tail)
}

/// LMPOP's and BLMPOP's arguments after the timeout: the keys, the end, the count.
pub struct MpopArgs<'a> {
    pub keys: Vec<&'a [u8]>,
    pub end: End,
    pub count: usize,
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT n]` starting at `numkeys_at` (Redis's
/// `lmpopGenericCommand`).
pub fn parse_mpop(args: Args<'_>, numkeys_at: usize) -> Result<MpopArgs<'_>, CmdError> {
    let numkeys = ranged_arg(args.get(numkeys_at), 1, "ERR numkeys should be greater than 0")? as u64;
    let end_at = (numkeys_at as u64).saturating_add(numkeys).saturating_add(1);
    if end_at >= args.len() as u64 {
        return Err(err::SYNTAX);
    }
    let end_at = end_at as usize;
    let end = end_arg(args.get(end_at))?;
    let mut count = None;
    let mut i = end_at + 1;
    while i < args.len() {
        if count.is_none() && is(args.get(i), "count") && i + 1 < args.len() {
            count = Some(ranged_arg(args.get(i + 1), 1, "ERR count should be greater than 0")? as usize);
            i += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    let keys = (numkeys_at + 1..end_at).map(|i| args.get(i)).collect();
    Ok(MpopArgs { keys, end, count: count.unwrap_or(1) })
}

/// The first of `keys` holding a list (WRONGTYPE if a key before it holds another
/// type), looked up as before a write.
pub fn first_list<'k>(db: &mut Db<'_>, keys: &[&'k [u8]]) -> Result<Option<&'k [u8]>, CmdError> {
    for &k in keys {
        if read_list(db, k, Access::Write)?.is_some() {
            return Ok(Some(k));
        }
    }
    Ok(None)
}

fn lmpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = parse_mpop(args, 1)?;
    match first_list(ctx.db, &m.keys)? {
        Some(key) => pop_range_with_key(ctx, key, m.end, m.count),
        None => {
            ctx.out.null_array();
            Ok(())
        }
    }
}

/* ---- Reads ---- */

fn llen(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = read_list(ctx.db, args.get(1), Access::Read)?.map_or(0, |l| l.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn lrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (start, end) = (int_arg(args.get(2))?, int_arg(args.get(3))?);
    match read_list(ctx.db, args.get(1), Access::Read)? {
        Some(l) => reply_range(ctx.out, l, start, end, false),
        None => ctx.out.array(0),
    }
    Ok(())
}

fn lindex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let Some(l) = read_list(ctx.db, args.get(1), Access::Read)? else {
        ctx.out.null();
        return Ok(());
    };
    let index = int_arg(args.get(2))?;
    match l.get(index) {
        Some(e) => reply_elem(ctx.out, e),
        None => ctx.out.null(),
    }
    Ok(())
}

/// LPOS's options.
struct LposOptions {
    /// 1-based rank of the first match to report; negative searches from the tail.
    rank: i64,
    /// Matches to report; None without COUNT (a single integer reply), 0 all.
    count: Option<u64>,
    /// Elements to compare at most; 0 all.
    maxlen: u64,
}

fn parse_lpos(args: Args) -> Result<LposOptions, CmdError> {
    let mut o = LposOptions { rank: 1, count: None, maxlen: 0 };
    let mut i = 3;
    while i < args.len() {
        let has_next = i + 1 < args.len();
        if is(args.get(i), "rank") && has_next {
            o.rank = int_arg(args.get(i + 1))?;
            if o.rank == 0 {
                return Err(CmdError::Static(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(args.get(i), "count") && has_next {
            o.count = Some(ranged_arg(args.get(i + 1), 0, "ERR COUNT can't be negative")? as u64);
        } else if is(args.get(i), "maxlen") && has_next {
            o.maxlen = ranged_arg(args.get(i + 1), 0, "ERR MAXLEN can't be negative")? as u64;
        } else {
            return Err(err::SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

fn lpos(ctx: &mut Ctx, args: Args) -> CmdResult {
    let o = parse_lpos(args)?;
    let needle = crate::types::list::listpack::as_elem(args.get(2));
    let Some(l) = read_list(ctx.db, args.get(1), Access::Read)? else {
        match o.count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let from_tail = o.rank < 0;
    // Redis negates a negative rank in a C long; i64::MIN saturates here instead.
    let rank = o.rank.unsigned_abs();
    let len = l.len() as u64;
    let limit = if o.maxlen == 0 { len } else { o.maxlen.min(len) };
    let elems: Box<dyn Iterator<Item = _>> = if from_tail { Box::new(l.iter().rev()) } else { Box::new(l.iter()) };
    let mut found: Vec<u64> = Vec::new();
    let mut matches = 0u64;
    for (i, e) in elems.take(limit as usize).enumerate() {
        if !e.matches(&needle) {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        found.push(if from_tail { len - i as u64 - 1 } else { i as u64 });
        match o.count {
            None => break,
            Some(c) if c > 0 && found.len() as u64 >= c => break,
            Some(_) => {}
        }
    }
    match o.count {
        Some(_) => {
            ctx.out.array(found.len());
            found.iter().for_each(|&i| ctx.out.int(i as i64));
        }
        None => match found.first() {
            Some(&i) => ctx.out.int(i as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

/* ---- In-place changes ---- */

fn lset(ctx: &mut Ctx, args: Args) -> CmdResult {
    check_sizes(std::iter::once(args.get(3)))?;
    let key = args.get(1);
    let Some(l) = write_list(ctx.db, key)? else { return Err(err::NO_SUCH_KEY) };
    let index = int_arg(args.get(2))?;
    if !l.set(index, args.get(3)) {
        return Err(err::INDEX_RANGE);
    }
    ctx.out.ok();
    ctx.db.touch(key);
    ctx.db.notify(notify::LIST, "lset", key);
    ctx.db.dirty += 1;
    Ok(())
}

fn linsert(ctx: &mut Ctx, args: Args) -> CmdResult {
    let after = if is(args.get(2), "after") {
        true
    } else if is(args.get(2), "before") {
        false
    } else {
        return Err(err::SYNTAX);
    };
    check_sizes(std::iter::once(args.get(4)))?;
    let key = args.get(1);
    let Some(l) = write_list(ctx.db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    if !l.insert(args.get(3), after, args.get(4)) {
        ctx.out.int(-1);
        return Ok(());
    }
    let len = l.len();
    ctx.db.touch(key);
    ctx.db.notify(notify::LIST, "linsert", key);
    ctx.db.dirty += 1;
    ctx.out.int(len as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx, args: Args) -> CmdResult {
    let count = int_arg(args.get(2))?;
    let key = args.get(1);
    let Some(l) = write_list(ctx.db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = l.remove(args.get(3), count);
    let left = l.len();
    if removed > 0 {
        ctx.db.touch(key);
        ctx.db.notify(notify::LIST, "lrem", key);
    }
    if left == 0 {
        ctx.db.delete(key)?;
        ctx.db.notify(notify::GENERIC, "del", key);
    }
    ctx.db.dirty += removed as u64;
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (start, end) = (int_arg(args.get(2))?, int_arg(args.get(3))?);
    let key = args.get(1);
    let Some(l) = write_list(ctx.db, key)? else {
        ctx.out.ok();
        return Ok(());
    };
    let len = l.len() as i64;
    let start = if start < 0 { len.saturating_add(start) } else { start }.max(0);
    let end = if end < 0 { len.saturating_add(end) } else { end };
    let before = l.len();
    if start > end || start >= len {
        l.retain_range(1, 0);
    } else {
        l.retain_range(start as usize, end.min(len - 1) as usize);
    }
    let left = l.len();
    ctx.db.notify(notify::LIST, "ltrim", key);
    delete_if_empty(ctx.db, key, left)?;
    ctx.db.dirty += (before - left) as u64;
    ctx.out.ok();
    Ok(())
}

/* ---- Moves ---- */

/// LMOVE's core (Redis's `lmoveGenericCommand`): pops from `from` of `src`, pushes at
/// `to` of `dst` (created if absent; `src` may be `dst`), replies the element. Returns
/// false, having replied null, when `src` is absent.
pub fn lmove_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> Result<bool, CmdError> {
    if read_list(ctx.db, src, Access::Write)?.is_none() {
        ctx.out.null();
        return Ok(false);
    }
    move_one(ctx, src, dst, from, to)?;
    Ok(true)
}

/// Moves one element from the list at `src` (which exists) to `dst`, with Redis's
/// events in Redis's order (the push first, then the pop, then the deletion of an
/// emptied source), and replies it. WRONGTYPE, changing nothing, if `dst` holds
/// another type.
pub fn move_one(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    read_list(ctx.db, dst, Access::Write)?;
    let Some(l) = write_list(ctx.db, src)? else { return Ok(()) };
    let Some(value) = l.pop(from) else { return Ok(()) };
    let value = value.as_elem().to_vec();
    // Pushed before the source is looked at again: when `src` is `dst` the element
    // goes back into the same list and the key never empties.
    push_creating(ctx.db, dst, to, &value)?;
    ctx.out.bulk(&value);
    ctx.db.notify(notify::LIST, pop_event(from), src);
    let left = read_list(ctx.db, src, Access::Peek)?.map_or(0, |l| l.len());
    delete_if_empty(ctx.db, src, left)?;
    ctx.db.dirty += 1;
    Ok(())
}

fn lmove(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (from, to) = (end_arg(args.get(3))?, end_arg(args.get(4))?);
    lmove_generic(ctx, args.get(1), args.get(2), from, to)?;
    Ok(())
}

fn rpoplpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    lmove_generic(ctx, args.get(1), args.get(2), End::Tail, End::Head)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::Registry;
    use crate::Engine;

    #[test]
    fn pushes_pops_and_reads() {
        let e = Engine::new(16);
        let r = Registry::new();
        assert_eq!(run(&e, &r, &["RPUSH", "l", "a", "1", "c"]), ":3\r\n");
        assert_eq!(run(&e, &r, &["LPUSH", "l", "z"]), ":4\r\n");
        assert_eq!(run(&e, &r, &["LRANGE", "l", "0", "-1"]), "*4\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n");
        assert_eq!(run(&e, &r, &["LRANGE", "l", "-2", "100"]), "*2\r\n$1\r\n1\r\n$1\r\nc\r\n");
        assert_eq!(run(&e, &r, &["LINDEX", "l", "-2"]), "$1\r\n1\r\n");
        assert_eq!(run(&e, &r, &["RPOP", "l", "2"]), "*2\r\n$1\r\nc\r\n$1\r\n1\r\n");
        assert_eq!(run(&e, &r, &["LPOP", "l"]), "$1\r\nz\r\n");
        assert_eq!(run(&e, &r, &["LPOP", "l", "0"]), "*0\r\n");
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "l"]), "$9\r\nquicklist\r\n");
        assert_eq!(run(&e, &r, &["LPOP", "l", "5"]), "*1\r\n$1\r\na\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "l"]), ":0\r\n", "an emptied list is deleted");
        assert_eq!(run(&e, &r, &["LPOP", "l", "5"]), "*-1\r\n");
        assert_eq!(run(&e, &r, &["LPUSHX", "l", "a"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["SET", "s", "x"]), "+OK\r\n");
        assert_eq!(
            run(&e, &r, &["LPUSH", "s", "a"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
        assert_eq!(run(&e, &r, &["LPOP", "l", "1", "2"]), "-ERR wrong number of arguments for 'lpop' command\r\n");
    }

    #[test]
    fn moves_including_onto_itself() {
        let e = Engine::new(16);
        let r = Registry::new();
        run(&e, &r, &["RPUSH", "a", "1", "2"]);
        assert_eq!(run(&e, &r, &["LMOVE", "a", "a", "LEFT", "RIGHT"]), "$1\r\n1\r\n");
        assert_eq!(run(&e, &r, &["LRANGE", "a", "0", "-1"]), "*2\r\n$1\r\n2\r\n$1\r\n1\r\n");
        assert_eq!(run(&e, &r, &["RPOPLPUSH", "a", "b"]), "$1\r\n1\r\n");
        assert_eq!(run(&e, &r, &["RPOPLPUSH", "a", "b"]), "$1\r\n2\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "a"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["LRANGE", "b", "0", "-1"]), "*2\r\n$1\r\n2\r\n$1\r\n1\r\n");
        assert_eq!(run(&e, &r, &["RPUSH", "one", "x"]), ":1\r\n");
        assert_eq!(run(&e, &r, &["LMOVE", "one", "one", "LEFT", "LEFT"]), "$1\r\nx\r\n");
        assert_eq!(run(&e, &r, &["LLEN", "one"]), ":1\r\n");
        assert_eq!(
            run(&e, &r, &["LMPOP", "2", "none", "b", "RIGHT", "COUNT", "5"]),
            "*2\r\n$1\r\nb\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
        );
    }

    #[test]
    fn blocking_commands_do_not_block_without_a_client() {
        let e = Engine::new(16);
        let r = Registry::new();
        assert_eq!(run(&e, &r, &["BLPOP", "k", "0"]), "*-1\r\n");
        assert_eq!(run(&e, &r, &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0"]), "$-1\r\n");
        assert_eq!(run(&e, &r, &["BLMPOP", "0", "1", "k", "LEFT"]), "*-1\r\n");
        assert_eq!(run(&e, &r, &["BLPOP", "k", "-1"]), "-ERR timeout is negative\r\n");
        assert_eq!(run(&e, &r, &["BLPOP", "k", "x"]), "-ERR timeout is not a float or out of range\r\n");
        run(&e, &r, &["RPUSH", "k", "v"]);
        assert_eq!(run(&e, &r, &["BRPOP", "none", "k", "0"]), "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }
}
