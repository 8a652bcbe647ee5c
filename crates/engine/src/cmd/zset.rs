//! The sorted-set family. This file has the commands on single members (ZADD, ZINCRBY,
//! ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCARD, ZREM, ZRANDMEMBER, ZSCAN) and the helpers
//! every sorted-set command shares; the rest is split by concern:
//!
//! - [`range`]: range specifications and everything ranged — ZRANGE and its older
//!   forms, ZRANGESTORE, ZCOUNT, ZLEXCOUNT, ZREMRANGEBY*;
//! - [`setops`]: ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD;
//! - [`pop`]: ZPOPMIN, ZPOPMAX, ZMPOP (and what the blocking forms serve with);
//! - [`block`]: BZPOPMIN, BZPOPMAX, BZMPOP, parked through `crate::blocking`.
//!
//! The data structure is `crate::types::zset`. Replies, errors, keyspace events and
//! propagation follow Redis 7.0's `t_zset.c`.

pub mod block;
pub mod pop;
pub mod range;
pub mod setops;

use redoubt_resp::number::{g17_to_vec, i64_to_vec};
use redoubt_resp::request::{Args, OwnedArgs};
use redoubt_resp::ReplyBuf;

use super::elements::{check_repeated_picks, distinct_indexes, random_index};
use super::keys::{parse_cursor, parse_scan_options};
use super::{int_arg, is, DataCommand, LockMode::Keys};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx, Db, Expiry};
use crate::float::string2d;
use crate::glob::glob_match;
use crate::notify;
use crate::types::zset::{AddFlags, AddOutcome, Limits, ZSet};
use crate::value::{NewValue, Object, ValueRef};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "zadd", lock: Keys, handler: zadd },
    DataCommand { name: "zincrby", lock: Keys, handler: zincrby },
    DataCommand { name: "zscore", lock: Keys, handler: zscore },
    DataCommand { name: "zmscore", lock: Keys, handler: zmscore },
    DataCommand { name: "zrank", lock: Keys, handler: zrank },
    DataCommand { name: "zrevrank", lock: Keys, handler: zrevrank },
    DataCommand { name: "zcard", lock: Keys, handler: zcard },
    DataCommand { name: "zrem", lock: Keys, handler: zrem },
    DataCommand { name: "zrandmember", lock: Keys, handler: zrandmember },
    DataCommand { name: "zscan", lock: Keys, handler: zscan },
    DataCommand { name: "zrange", lock: Keys, handler: range::zrange },
    DataCommand { name: "zrangestore", lock: Keys, handler: range::zrangestore },
    DataCommand { name: "zrevrange", lock: Keys, handler: range::zrevrange },
    DataCommand { name: "zrangebyscore", lock: Keys, handler: range::zrangebyscore },
    DataCommand { name: "zrevrangebyscore", lock: Keys, handler: range::zrevrangebyscore },
    DataCommand { name: "zrangebylex", lock: Keys, handler: range::zrangebylex },
    DataCommand { name: "zrevrangebylex", lock: Keys, handler: range::zrevrangebylex },
    DataCommand { name: "zcount", lock: Keys, handler: range::zcount },
    DataCommand { name: "zlexcount", lock: Keys, handler: range::zlexcount },
    DataCommand { name: "zremrangebyrank", lock: Keys, handler: range::zremrangebyrank },
    DataCommand { name: "zremrangebyscore", lock: Keys, handler: range::zremrangebyscore },
    DataCommand { name: "zremrangebylex", lock: Keys, handler: range::zremrangebylex },
    DataCommand { name: "zunion", lock: Keys, handler: setops::zunion },
    DataCommand { name: "zinter", lock: Keys, handler: setops::zinter },
    DataCommand { name: "zdiff", lock: Keys, handler: setops::zdiff },
    DataCommand { name: "zunionstore", lock: Keys, handler: setops::zunionstore },
    DataCommand { name: "zinterstore", lock: Keys, handler: setops::zinterstore },
    DataCommand { name: "zdiffstore", lock: Keys, handler: setops::zdiffstore },
    DataCommand { name: "zintercard", lock: Keys, handler: setops::zintercard },
    DataCommand { name: "zpopmin", lock: Keys, handler: pop::zpopmin },
    DataCommand { name: "zpopmax", lock: Keys, handler: pop::zpopmax },
    DataCommand { name: "zmpop", lock: Keys, handler: pop::zmpop },
    DataCommand { name: "bzpopmin", lock: Keys, handler: block::bzpopmin },
    DataCommand { name: "bzpopmax", lock: Keys, handler: block::bzpopmax },
    DataCommand { name: "bzmpop", lock: Keys, handler: block::bzmpop },
];

/* ---------------------------------------------------------------- shared helpers */

/// The sorted set at `key`, for reading: None if absent, WRONGTYPE for another type.
pub fn read_zset<'a>(db: &'a mut Db<'_>, key: &[u8], access: Access) -> Result<Option<&'a ZSet>, CmdError> {
    match db.find(key, access)? {
        None => Ok(None),
        Some(e) => match e.value() {
            ValueRef::Obj(Object::ZSet(z)) => Ok(Some(z)),
            _ => Err(err::WRONGTYPE),
        },
    }
}

/// The sorted set at `key`, for changing in place (looked up as before a write). The
/// caller calls `db.touch(key)` after changing it, and [`drop_if_empty`].
pub fn write_zset<'a>(db: &'a mut Db<'_>, key: &[u8]) -> Result<Option<&'a mut ZSet>, CmdError> {
    match db.find(key, Access::Write)? {
        None => Ok(None),
        Some(mut e) => match e.object_mut() {
            Some(Object::ZSet(z)) => Ok(Some(z)),
            _ => Err(err::WRONGTYPE),
        },
    }
}

/// Deletes `key` if its sorted set became empty, with Redis's "del" event; returns
/// whether it did.
pub fn drop_if_empty(db: &mut Db<'_>, key: &[u8]) -> Result<bool, CmdError> {
    let empty = matches!(read_zset(db, key, Access::Peek)?, Some(z) if z.is_empty());
    if empty {
        db.delete(key)?;
        db.notify(notify::GENERIC, "del", key);
    }
    Ok(empty)
}

/// Stores `z` at `key` as a store command's result (Redis's `setKey`: any old value
/// and its TTL are replaced; a key created this way wakes blocked clients, which the
/// Db does for every new sorted set, as Redis's `dbAdd`).
pub fn store(db: &mut Db<'_>, key: &[u8], z: ZSet) -> CmdResult {
    db.set(key, NewValue::Obj(Box::new(Object::ZSet(z))), Expiry::Clear)
}

/// A store command found nothing to store: the destination is deleted if it existed
/// (with its "del" event), and the command counts as a change only then.
pub fn store_nothing(db: &mut Db<'_>, key: &[u8]) -> CmdResult {
    if db.delete(key)? {
        db.notify(notify::GENERIC, "del", key);
        db.dirty += 1;
    }
    Ok(())
}

/// The reply of a range or search command whose source key does not exist: an empty
/// array, or with a destination (STORE) the count 0 and [`store_nothing`].
pub fn reply_no_source(db: &mut Db<'_>, out: &mut ReplyBuf, dst: Option<&[u8]>) -> CmdResult {
    match dst {
        Some(dst) => {
            out.int(0);
            store_nothing(db, dst)
        }
        None => {
            out.array(0);
            Ok(())
        }
    }
}

/// The thresholds of the small encoding, as configured now.
pub fn limits(db: &Db<'_>) -> Limits {
    Limits::of(&db.engine.knobs)
}

/// The header of a reply of `n` entries: with scores, RESP2 flattens them into 2n
/// items and RESP3 nests [member, score] pairs.
pub fn reply_entries_header(out: &mut ReplyBuf, n: usize, withscores: bool) {
    out.array(if withscores && !out.resp3() { n * 2 } else { n });
}

/// One entry of such a reply.
pub fn reply_entry(out: &mut ReplyBuf, member: &[u8], score: f64, withscores: bool) {
    if withscores && out.resp3() {
        out.array(2);
    }
    out.bulk(member);
    if withscores {
        out.double(score);
    }
}

/// Writes owned entries as a reply.
pub fn reply_owned(out: &mut ReplyBuf, entries: &[(Vec<u8>, f64)], withscores: bool) {
    reply_entries_header(out, entries.len(), withscores);
    for (m, s) in entries {
        reply_entry(out, m, *s, withscores);
    }
}

/// A score argument (Redis's `getDoubleFromObjectOrReply`).
pub fn score_arg(a: &[u8]) -> Result<f64, CmdError> {
    string2d(a).ok_or(err::NOT_FLOAT)
}

/* ---------------------------------------------------------------- ZADD, ZINCRBY */

/// ZADD's options before the score/member pairs.
#[derive(Default, Clone, Copy)]
pub struct ZaddOptions {
    pub flags: AddFlags,
    pub ch: bool,
}

/// Which option words a ZADD-like command takes before its pairs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ZaddSyntax {
    /// ZADD: NX, XX, CH, INCR, GT, LT.
    Zadd,
    /// ZINCRBY: ZADD's words, INCR preset (Redis runs it through ZADD's parser).
    Zincrby,
    /// GEOADD: NX, XX and CH only.
    Geoadd,
}

/// Parses the options of a ZADD-like command from `args[from..]`, up to the first
/// word that is not one of `syntax`'s; returns them and the index of that word.
pub fn parse_zadd_options(args: Args, from: usize, syntax: ZaddSyntax) -> (ZaddOptions, usize) {
    let mut o = ZaddOptions::default();
    o.flags.incr = syntax == ZaddSyntax::Zincrby;
    let zadd_words = syntax != ZaddSyntax::Geoadd;
    let mut i = from;
    while i < args.len() {
        let a = args.get(i);
        if is(a, "nx") {
            o.flags.nx = true;
        } else if is(a, "xx") {
            o.flags.xx = true;
        } else if is(a, "ch") {
            o.ch = true;
        } else if zadd_words && is(a, "incr") {
            o.flags.incr = true;
        } else if zadd_words && is(a, "gt") {
            o.flags.gt = true;
        } else if zadd_words && is(a, "lt") {
            o.flags.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    (o, i)
}

/// Checks the combinations Redis refuses, in Redis's order.
fn check_zadd_options(o: &ZaddOptions, pairs: usize) -> CmdResult {
    let f = &o.flags;
    if f.nx && f.xx {
        return Err(CmdError::Static("ERR XX and NX options at the same time are not compatible"));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(CmdError::Static("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if f.incr && pairs > 1 {
        return Err(CmdError::Static("ERR INCR option supports a single increment-element pair"));
    }
    Ok(())
}

/// The work of ZADD once its arguments are parsed (shared with GEOADD): applies the
/// (score, member) pairs to `key`, replies, and records events. Returns the number of
/// members added or updated (the dirty count).
pub fn zadd_apply(ctx: &mut Ctx, key: &[u8], o: &ZaddOptions, pairs: &[(f64, &[u8])]) -> Result<u64, CmdError> {
    let limits = limits(ctx.db);
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last_score = 0.0;
    let mut nan = false;
    let mut apply = |z: &mut ZSet| {
        for &(score, member) in pairs {
            match z.add(member, score, o.flags, limits) {
                AddOutcome::NotANumber => {
                    nan = true;
                    break;
                }
                AddOutcome::Added(s) => (added, processed, last_score) = (added + 1, processed + 1, s),
                AddOutcome::Updated(s) => (updated, processed, last_score) = (updated + 1, processed + 1, s),
                AddOutcome::Unchanged(s) => (processed, last_score) = (processed + 1, s),
                AddOutcome::Skipped => {}
            }
        }
    };
    let created = match write_zset(ctx.db, key)? {
        Some(z) => {
            apply(z);
            false
        }
        None if o.flags.xx => false,
        None => {
            let first = pairs.first().map_or(0, |(_, m)| m.len());
            let mut z = ZSet::for_first_member(first, limits);
            apply(&mut z);
            // Redis creates the key before adding and never leaves it empty: an
            // increment that would be NaN cannot happen on a new member.
            if !z.is_empty() {
                ctx.db.set(key, NewValue::Obj(Box::new(Object::ZSet(z))), Expiry::Clear)?;
            }
            true
        }
    };
    let changed = added + updated;
    if changed > 0 {
        if !created {
            ctx.db.touch(key);
        }
        ctx.db.notify(notify::ZSET, if o.flags.incr { "zincr" } else { "zadd" }, key);
    }
    if nan {
        return Err(CmdError::Static("ERR resulting score is not a number (NaN)"));
    }
    if o.flags.incr {
        if processed > 0 {
            ctx.out.double(last_score);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int((if o.ch { changed } else { added }) as i64);
    }
    Ok(changed)
}

fn zadd_generic(ctx: &mut Ctx, args: Args, syntax: ZaddSyntax) -> CmdResult {
    let (o, first) = parse_zadd_options(args, 2, syntax);
    let rest = args.len() - first;
    if rest == 0 || !rest.is_multiple_of(2) {
        return Err(err::SYNTAX);
    }
    check_zadd_options(&o, rest / 2)?;
    let mut pairs = Vec::with_capacity(rest / 2);
    for i in (first..args.len()).step_by(2) {
        pairs.push((score_arg(args.get(i))?, args.get(i + 1)));
    }
    let changed = zadd_apply(ctx, args.get(1), &o, &pairs)?;
    ctx.db.dirty += changed;
    Ok(())
}

fn zadd(ctx: &mut Ctx, args: Args) -> CmdResult {
    zadd_generic(ctx, args, ZaddSyntax::Zadd)
}

fn zincrby(ctx: &mut Ctx, args: Args) -> CmdResult {
    zadd_generic(ctx, args, ZaddSyntax::Zincrby)
}

/// The ZADD that GEOADD is propagated as (Redis rewrites GEOADD's arguments into a
/// ZADD call): `zadd key [options] score member ...`.
pub fn zadd_propagation(key: &[u8], options: &[&[u8]], pairs: &[(f64, &[u8])]) -> OwnedArgs {
    let mut out = OwnedArgs::from_slices([&b"zadd"[..], key]);
    for o in options {
        out.push(o);
    }
    for (score, member) in pairs {
        // Geo scores are 52-bit integers; Redis writes them as integers.
        out.push(&i64_to_vec(*score as i64));
        out.push(member);
    }
    out
}

/* ---------------------------------------------------------------- reads of members */

fn zscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let score = read_zset(ctx.db, args.get(1), Access::Read)?.and_then(|z| z.score(args.get(2)));
    match score {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let z = read_zset(ctx.db, args.get(1), Access::Read)?;
    ctx.out.array(args.len() - 2);
    for member in args.iter().skip(2) {
        match z.and_then(|z| z.score(member)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn rank_generic(ctx: &mut Ctx, args: Args, reverse: bool) -> CmdResult {
    let rank = read_zset(ctx.db, args.get(1), Access::Read)?
        .and_then(|z| z.rank(args.get(2)).map(|r| if reverse { z.len() - 1 - r } else { r }));
    match rank {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, args: Args) -> CmdResult {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: Args) -> CmdResult {
    rank_generic(ctx, args, true)
}

fn zcard(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = read_zset(ctx.db, args.get(1), Access::Read)?.map_or(0, |z| z.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn zrem(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let mut deleted = 0u64;
    if let Some(z) = write_zset(ctx.db, key)? {
        for member in args.iter().skip(2) {
            if z.remove(member).is_some() {
                deleted += 1;
            }
            if z.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        ctx.db.touch(key);
        ctx.db.notify(notify::ZSET, "zrem", key);
        drop_if_empty(ctx.db, key)?;
        ctx.db.dirty += deleted;
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

/* ---------------------------------------------------------------- ZRANDMEMBER */

fn zrandmember(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    if args.len() < 3 {
        let Some(z) = read_zset(ctx.db, key, Access::Read)? else {
            ctx.out.null();
            return Ok(());
        };
        match z.get(random_index(z.len())) {
            Some((m, _)) => ctx.out.bulk(m),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let l = int_arg(args.get(2))?;
    let withscores = args.len() == 4;
    if args.len() > 4 || (withscores && !is(args.get(3), "withscores")) {
        return Err(err::SYNTAX);
    }
    if withscores && !(i64::MIN / 2..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::Static("ERR value is out of range"));
    }
    let (count, unique) = (l.unsigned_abs(), l >= 0);
    let out = &mut *ctx.out;
    let Some(z) = read_zset(ctx.db, key, Access::Read)? else {
        out.array(0);
        return Ok(());
    };
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    let size = z.len();
    // A listpack is decoded once rather than walked from its head for every pick.
    let decoded: Option<Vec<(&[u8], f64)>> = match z {
        ZSet::Packed(p) => Some(p.iter().collect()),
        ZSet::Indexed(_) => None,
    };
    let entry_at = |rank: usize| match &decoded {
        Some(all) => all.get(rank).copied(),
        None => z.get(rank),
    };
    if !unique || count == 1 {
        check_repeated_picks(count)?;
        let count = count as usize;
        reply_entries_header(out, count, withscores);
        for _ in 0..count {
            if let Some((m, s)) = entry_at(random_index(size)) {
                reply_entry(out, m, s, withscores);
            }
        }
        return Ok(());
    }
    let count = count.min(size as u64) as usize;
    reply_entries_header(out, count, withscores);
    if count == size {
        // The whole set, walked from its tail as Redis's iterator does.
        z.walk(size - 1, true, |m, s| {
            reply_entry(out, m, s, withscores);
            true
        });
        return Ok(());
    }
    for rank in distinct_indexes(size, count) {
        if let Some((m, s)) = entry_at(rank) {
            reply_entry(out, m, s, withscores);
        }
    }
    Ok(())
}

/* ---------------------------------------------------------------- ZSCAN */

/// A score as ZSCAN writes it: a listpack hands out its stored text (an integer when
/// the score is one, within ±2^62), the big encoding prints `%.17g`.
fn scan_score_text(score: f64, packed: bool) -> Vec<u8> {
    let limit = (i64::MAX / 2) as f64;
    if packed && score >= -limit && score <= limit && score == (score as i64) as f64 {
        return i64_to_vec(score as i64);
    }
    g17_to_vec(score)
}

fn zscan(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut cursor = parse_cursor(args.get(2))?;
    let out = &mut *ctx.out;
    let Some(z) = read_zset(ctx.db, args.get(1), Access::Read)? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    let o = parse_scan_options(args, 3, false)?;
    let packed = matches!(z, ZSet::Packed(_));
    let mut found: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut visits = o.count.saturating_mul(10);
    loop {
        cursor = z.scan(cursor, |m, s| found.push((m.to_vec(), scan_score_text(s, packed))));
        visits = visits.saturating_sub(1);
        if cursor == 0 || visits == 0 || found.len() >= o.count {
            break;
        }
    }
    if let Some(p) = o.pattern {
        found.retain(|(m, _)| glob_match(p, m, false));
    }
    out.array(2);
    out.bulk(cursor.to_string().as_bytes());
    out.array(found.len() * 2);
    for (m, s) in &found {
        out.bulk(m);
        out.bulk(s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::Registry;
    use crate::Engine;

    #[test]
    fn zadd_and_member_reads() {
        let (e, r) = (Engine::new(16), Registry::new());
        assert_eq!(run(&e, &r, &["ZADD", "z", "1", "a", "2", "b"]), ":2\r\n");
        assert_eq!(run(&e, &r, &["ZADD", "z", "CH", "5", "a", "2", "b", "0", "c"]), ":2\r\n");
        assert_eq!(
            run(&e, &r, &["ZADD", "z", "NX", "XX", "1", "a"]),
            "-ERR XX and NX options at the same time are not compatible\r\n"
        );
        assert_eq!(
            run(&e, &r, &["ZADD", "z", "GT", "LT", "1", "a"]),
            "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
        );
        assert_eq!(run(&e, &r, &["ZADD", "z", "1", "a", "2"]), "-ERR syntax error\r\n");
        assert_eq!(run(&e, &r, &["ZADD", "z", "x", "a"]), "-ERR value is not a valid float\r\n");
        assert_eq!(run(&e, &r, &["ZADD", "z", "INCR", "1.5", "a"]), "$3\r\n6.5\r\n");
        assert_eq!(run(&e, &r, &["ZINCRBY", "z", "1", "new"]), "$1\r\n1\r\n");
        assert_eq!(run(&e, &r, &["ZSCORE", "z", "a"]), "$3\r\n6.5\r\n");
        assert_eq!(run(&e, &r, &["ZSCORE", "z", "nope"]), "$-1\r\n");
        assert_eq!(run(&e, &r, &["ZRANK", "z", "a"]), ":3\r\n");
        assert_eq!(run(&e, &r, &["ZREVRANK", "z", "a"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["ZCARD", "z"]), ":4\r\n");
        assert_eq!(run(&e, &r, &["ZMSCORE", "z", "c", "x"]), "*2\r\n$1\r\n0\r\n$-1\r\n");
        assert_eq!(run(&e, &r, &["ZADD", "z", "inf", "i"]), ":1\r\n");
        assert_eq!(run(&e, &r, &["ZINCRBY", "z", "-inf", "i"]), "-ERR resulting score is not a number (NaN)\r\n");
        assert_eq!(run(&e, &r, &["ZREM", "z", "a", "b", "zz"]), ":2\r\n");
        assert_eq!(run(&e, &r, &["ZREM", "z", "c", "new", "i"]), ":3\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "z"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["SET", "s", "v"]), "+OK\r\n");
        assert_eq!(
            run(&e, &r, &["ZADD", "s", "1", "a"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
    }

    #[test]
    fn encodings_follow_the_thresholds() {
        let (e, r) = (Engine::new(16), Registry::new());
        for i in 0..128 {
            run(&e, &r, &["ZADD", "z", &i.to_string(), &format!("m{i}")]);
        }
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "z"]), "$8\r\nlistpack\r\n");
        run(&e, &r, &["ZADD", "z", "1000", "one-more"]);
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
        assert_eq!(run(&e, &r, &["ZRANK", "z", "one-more"]), ":128\r\n");
        assert_eq!(run(&e, &r, &["ZADD", "long", "1", &"x".repeat(65)]), ":1\r\n");
        assert_eq!(run(&e, &r, &["OBJECT", "ENCODING", "long"]), "$8\r\nskiplist\r\n");
    }

    #[test]
    fn keyspace_events_as_redis() {
        use crate::cmd::set::tests::events;
        let (e, r) = (Engine::new(16), Registry::new());
        assert_eq!(events(&e, &r, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]).1, ["zadd:z"]);
        assert!(events(&e, &r, &["ZADD", "z", "1", "a"]).1.is_empty());
        assert_eq!(events(&e, &r, &["ZINCRBY", "z", "1", "a"]).1, ["zincr:z"]);
        assert!(events(&e, &r, &["ZINCRBY", "z", "0", "a"]).1.is_empty());
        assert_eq!(events(&e, &r, &["ZRANGESTORE", "d", "z", "0", "0"]).1, ["zrangestore:d"]);
        assert_eq!(events(&e, &r, &["ZUNIONSTORE", "d", "1", "z"]).1, ["zunionstore:d"]);
        assert_eq!(events(&e, &r, &["ZINTERSTORE", "d", "2", "z", "missing"]).1, ["del:d"]);
        assert!(events(&e, &r, &["ZDIFFSTORE", "d", "2", "z", "z"]).1.is_empty());
        assert_eq!(events(&e, &r, &["ZREMRANGEBYSCORE", "z", "3", "3"]).1, ["zremrangebyscore:z"]);
        assert_eq!(events(&e, &r, &["ZPOPMIN", "z"]).1, ["zpopmin:z"]);
        assert_eq!(events(&e, &r, &["ZREM", "z", "c", "b"]).1, ["zrem:z", "del:z"]);
        events(&e, &r, &["ZADD", "z", "1", "a", "2", "b"]);
        assert_eq!(events(&e, &r, &["ZMPOP", "1", "z", "MAX", "COUNT", "5"]).1, ["zpopmax:z", "del:z"]);
    }

    #[test]
    fn propagation_as_redis() {
        use crate::cmd::set::tests::journal;
        let (e, r) = (Engine::new(16), Registry::new());
        e.journal.set_enabled(true);
        run(&e, &r, &["ZADD", "z", "1", "a", "2", "b"]);
        assert!(journal(&e).ends_with(
            "*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n".replace("*4", "*6").as_str()
        ));
        let before = journal(&e).len();
        run(&e, &r, &["ZADD", "z", "1", "a"]);
        run(&e, &r, &["ZINCRBY", "z", "0", "a"]);
        assert_eq!(journal(&e).len(), before, "no change, nothing propagated");
        run(&e, &r, &["ZMPOP", "1", "z", "MIN", "COUNT", "10"]);
        assert!(journal(&e).ends_with("*3\r\n$7\r\nZPOPMIN\r\n$1\r\nz\r\n$1\r\n2\r\n"));
    }

    #[test]
    fn zscan_prints_scores_as_the_encoding_stores_them() {
        assert_eq!(super::scan_score_text(1e17, true), b"100000000000000000");
        assert_eq!(super::scan_score_text(1e17, false), b"1e+17");
        assert_eq!(super::scan_score_text(1.5, true), b"1.5");
        assert_eq!(super::scan_score_text(f64::INFINITY, true), b"inf");
    }
}
