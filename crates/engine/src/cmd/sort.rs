//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted numerically or
//! byte-wise, optionally by the values of other keys (BY), returned as themselves or
//! as the values of other keys (GET), or stored as a list (STORE).
//!
//! The replies are Redis 7.0's, ties included, which takes three of Redis's choices:
//! - the comparison (`sortCompare`): numbers, then the elements' bytes; ALPHA compares
//!   with `strcoll`, which in the C and C.UTF-8 locales is `strcmp` (bytes up to the
//!   first NUL), except under STORE, which compares whole strings;
//! - the algorithm: glibc's `qsort` is a stable merge sort, so a stable sort gives the
//!   same order; with BY and a LIMIT, Redis runs its own partial quicksort
//!   ([`crate::pqsort`]), whose order of equal elements is reproduced step by step;
//! - the numbers: `strtod` on the whole value, where an underflow or overflow is an
//!   error too.
//!
//! Locking: without BY and GET patterns SORT touches only its key and its STORE key,
//! so it locks their shards (the key procedure in `command::keys` names the STORE
//! key, for COMMAND GETKEYS too). A pattern makes it read keys named by the data,
//! which could be anywhere: then it locks every shard, as a script does
//! ([`needs_every_shard`] decides, before the command runs, with the same parser).

use std::cmp::Ordering;
use std::sync::atomic::Ordering::Relaxed;

use redoubt_resp::request::Args;

use super::{int_arg, is, DataCommand, LockMode::KeysOrPatterns};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx, Db, Expiry};
use crate::float::strtod;
use crate::notify;
use crate::pqsort::pqsort;
use crate::types::list::List;
use crate::value::{NewValue, Object, ValueRef};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "sort", lock: KeysOrPatterns, handler: sort },
    DataCommand { name: "sort_ro", lock: KeysOrPatterns, handler: sort_ro },
];

/// True when SORT must lock every shard rather than those of its keys: when a BY or
/// GET pattern makes it look up keys named by the data, or when the STORE key it will
/// write is not the one Redis's key procedure names (the procedure skips options
/// roughly: `STORE limit STORE d` names `limit`, SORT writes `d`). Decided with the
/// handler's own parser, before the command runs.
pub fn needs_every_shard(args: Args) -> bool {
    let readonly = is(args.get(0), "sort_ro");
    let Ok(o) = parse(args, readonly) else { return false };
    let by = !o.dontsort && o.by.is_some_and(|p| star(p).is_some());
    let get = o.gets.iter().any(|p| star(p).is_some());
    let named = crate::command::keys::procedure("sort", &|i| args.get(i), args.len())
        .and_then(|keys| keys.get(1).map(|&(i, _)| i));
    by || get || (!readonly && o.store_at != named)
}

/// The position of the `*` of a pattern, read as a C string (Redis uses `strchr`, so
/// a `*` after a NUL byte does not count).
fn star(pattern: &[u8]) -> Option<usize> {
    c_str(pattern).iter().position(|&c| c == b'*')
}

/// The bytes before the first NUL: what C's string functions see.
fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

/* ----------------------------- Options ------------------------------------ */

/// SORT's options, parsed as Redis's `sortCommandGeneric` parses them.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<&'a [u8]>,
    /// The position of `store` in the arguments.
    store_at: Option<usize>,
    /// The last BY pattern.
    by: Option<&'a [u8]>,
    /// Set by any BY without a `*` (`BY nosort`), and never cleared by a later one.
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

fn parse(args: Args<'_>, readonly: bool) -> Result<Options<'_>, CmdError> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        store_at: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let a = args.get(j);
        let left = args.len() - j - 1;
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            o.limit_start = int_arg(args.get(j + 1))?;
            o.limit_count = int_arg(args.get(j + 2))?;
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            o.store = Some(args.get(j + 1));
            o.store_at = Some(j + 1);
            j += 1;
        } else if is(a, "by") && left >= 1 {
            let pattern = args.get(j + 1);
            o.by = Some(pattern);
            if star(pattern).is_none() {
                o.dontsort = true;
            }
            j += 1;
        } else if is(a, "get") && left >= 1 {
            o.gets.push(args.get(j + 1));
            j += 1;
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// The range of the sorted elements to return, as Redis computes it from LIMIT for
/// `len` elements (inputs clamped first, so no arithmetic overflows). `end` may be
/// `start - 1`: nothing is returned.
fn limit_range(start: i64, count: i64, len: i64) -> (i64, i64) {
    let start = start.clamp(0, len);
    let count = count.clamp(-1, len);
    let end = if count < 0 { len - 1 } else { start + count - 1 };
    if start >= len {
        return (len - 1, len - 2);
    }
    (start, end.min(len - 1))
}

/* ----------------------------- Pattern lookups ---------------------------- */

/// Calls `f` with what a BY or GET pattern names for `elem` (Redis's
/// `lookupKeyByPattern`): `#` is the element itself; otherwise the first `*` is
/// replaced by the element, and `key->field` reads a hash field. A pattern without a
/// `*`, a missing key or field, or a key of another type gives None. `key` is scratch
/// space, reused across calls.
fn with_pattern<R>(
    db: &mut Db,
    pattern: &[u8],
    elem: &[u8],
    key: &mut Vec<u8>,
    f: impl FnOnce(Option<&[u8]>) -> R,
) -> Result<R, CmdError> {
    // C's test `p[0] == '#' && p[1] == '\0'`.
    if pattern.first() == Some(&b'#') && pattern.get(1).is_none_or(|&c| c == 0) {
        return Ok(f(Some(elem)));
    }
    let Some(at) = star(pattern) else { return Ok(f(None)) };
    // `strstr(p + 1, "->")`, with a non-empty field after it.
    let after = c_str(&pattern[at + 1..]);
    let arrow = after.windows(2).position(|w| w == b"->").filter(|&i| i + 2 < after.len());
    let (postfix, field) = match arrow {
        Some(i) => (&pattern[at + 1..at + 1 + i], Some(&pattern[at + 1 + i + 2..])),
        None => (&pattern[at + 1..], None),
    };
    key.clear();
    key.extend_from_slice(&pattern[..at]);
    key.extend_from_slice(elem);
    key.extend_from_slice(postfix);
    let Some(e) = db.find(key, Access::Read)? else { return Ok(f(None)) };
    let mut digits = [0u8; 20];
    Ok(match (field, e.value()) {
        (None, v) => match v.as_str() {
            Some(s) => f(Some(s.bytes(&mut digits))),
            None => f(None),
        },
        (Some(field), ValueRef::Obj(Object::Hash(h))) => match h.get(field) {
            Some(v) => f(Some(v.bytes(&mut digits))),
            None => f(None),
        },
        _ => f(None),
    })
}

/* ----------------------------- Comparison --------------------------------- */

/// One element to sort, with what it is sorted by.
struct Item {
    elem: Vec<u8>,
    /// The numeric key (0 when BY found nothing).
    score: f64,
    /// The ALPHA key when sorting BY a pattern (None when it found nothing).
    by: Option<Vec<u8>>,
}

/// Redis's `sortCompare`, with its flags.
struct Compare {
    desc: bool,
    alpha: bool,
    by_pattern: bool,
    store: bool,
}

impl Compare {
    fn cmp(&self, a: &Item, b: &Item) -> Ordering {
        let c = if !self.alpha {
            // Equal scores fall back to the elements' bytes, so the order is total.
            a.score.partial_cmp(&b.score).filter(|o| o.is_ne()).unwrap_or_else(|| a.elem.cmp(&b.elem))
        } else if self.by_pattern {
            match (&a.by, &b.by) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => self.text_cmp(x, y),
            }
        } else {
            self.text_cmp(&a.elem, &b.elem)
        };
        if self.desc {
            c.reverse()
        } else {
            c
        }
    }

    /// STORE compares whole strings (`compareStringObjects`); a reply compares them
    /// with `strcoll`, which is `strcmp` in the C locales.
    fn text_cmp(&self, a: &[u8], b: &[u8]) -> Ordering {
        if self.store {
            a.cmp(b)
        } else {
            c_str(a).cmp(c_str(b))
        }
    }
}

/// The number SORT sorts a value by, or None when Redis's check refuses it: `strtod`
/// must take the whole value (up to a NUL byte; an empty value is 0, a blank one is
/// not), and neither overflow nor underflow (C's ERANGE) nor give NaN.
fn score_of(value: &[u8]) -> Option<f64> {
    let text = c_str(value);
    let r = strtod(text);
    let taken_all = r.consumed == text.len();
    // glibc also reports ERANGE for an inexact subnormal result; a decimal that lands
    // on a subnormal is inexact unless it spells out hundreds of digits, and a
    // hexadecimal one is taken as exact.
    let hex = {
        let t = text.trim_ascii_start();
        let t = t.strip_prefix(b"-").or_else(|| t.strip_prefix(b"+")).unwrap_or(t);
        t.len() > 1 && t[0] == b'0' && (t[1] | 0x20) == b'x'
    };
    let subnormal = r.value != 0.0 && r.value.abs() < f64::MIN_POSITIVE && !hex;
    (taken_all && !r.range_error && !subnormal && !r.value.is_nan()).then_some(r.value)
}

/* ----------------------------- The command -------------------------------- */

fn sort(ctx: &mut Ctx, args: Args) -> CmdResult {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: Args) -> CmdResult {
    sort_generic(ctx, args, true)
}

/// The type of the value sorted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A missing key sorts as an empty list.
    List,
    Set,
    ZSet,
}

fn sort_generic(ctx: &mut Ctx, args: Args, readonly: bool) -> CmdResult {
    let mut o = parse(args, readonly)?;
    let key = args.get(1);
    let (kind, len) = match ctx.db.find(key, Access::Read)? {
        None => (Kind::List, 0),
        Some(e) => match e.value() {
            ValueRef::Obj(Object::List(l)) => (Kind::List, l.len()),
            ValueRef::Obj(Object::Set(s)) => (Kind::Set, s.len()),
            ValueRef::Obj(Object::ZSet(z)) => (Kind::ZSet, z.len()),
            _ => return Err(err::WRONGTYPE),
        },
    };
    // A set has no order of its own: unsorted output that is stored is sorted
    // byte-wise instead, so that a replica running the command stores the same list.
    // (Redis does the same inside a script; the engine cannot tell it runs in one yet,
    // so there a set comes out in its own order.)
    if o.dontsort && kind == Kind::Set && o.store.is_some() {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let (mut start, mut end) = limit_range(o.limit_start, o.limit_count, len as i64);
    let mut items = load(ctx, key, &o, start, end)?;
    if o.dontsort && kind != Kind::Set {
        // Only the range was loaded; the output below counts from 0.
        end -= start;
        start = 0;
    }
    let mut numbers_ok = true;
    if !o.dontsort {
        numbers_ok = compute_keys(ctx, &o, &mut items)?;
        let c = Compare { desc: o.desc, alpha: o.alpha, by_pattern: o.by.is_some(), store: o.store.is_some() };
        if o.by.is_some() && (start != 0 || end != items.len() as i64 - 1) {
            // Redis sorts a BY ... LIMIT range with its partial quicksort, whose tie
            // order clients see.
            pqsort(&mut items, start, end, &|a, b| c.cmp(a, b));
        } else {
            items.sort_by(|a, b| c.cmp(a, b));
        }
    }
    if !numbers_ok {
        return Err(CmdError::Static("ERR One or more scores can't be converted into double"));
    }
    // `end` is `start - 1` (or below 0) when nothing is to be returned.
    let range = match (usize::try_from(start), usize::try_from(end)) {
        (Ok(s), Ok(e)) if e >= s => items.get(s..=e).unwrap_or_default(),
        _ => &[],
    };
    match o.store {
        None => reply(ctx, &o, range),
        Some(dest) => store(ctx, &o, range, dest),
    }
}

/// Loads the elements to sort, as Redis fills its sort vector: all of them, or for a
/// list or sorted set left unsorted (`BY nosort`) only `start..=end`, counted from the
/// far end under DESC. A sorted set is converted to its big encoding first, as Redis
/// 7.0 does (OBJECT ENCODING shows it).
fn load(ctx: &mut Ctx, key: &[u8], o: &Options, start: i64, end: i64) -> Result<Vec<Item>, CmdError> {
    let item = |elem: Vec<u8>| Item { elem, score: 0.0, by: None };
    let count = if end >= start { (end - start + 1) as usize } else { 0 };
    let Some(mut e) = ctx.db.find(key, Access::Peek)? else { return Ok(Vec::new()) };
    let mut items = Vec::new();
    let first = start.max(0) as usize;
    match e.object_mut() {
        Some(Object::List(l)) if !o.dontsort => items.extend(l.iter().map(|m| item(m.to_vec()))),
        Some(Object::List(_)) if count == 0 => {}
        Some(Object::List(l)) if o.desc => {
            items.extend(l.iter_back_from(l.len() - 1 - first).take(count).map(|m| item(m.to_vec())));
        }
        Some(Object::List(l)) => items.extend(l.iter_from(first).take(count).map(|m| item(m.to_vec()))),
        Some(Object::Set(s)) => items.extend(s.iter().map(|m| item(m.to_vec()))),
        Some(Object::ZSet(z)) => {
            z.convert_to_indexed();
            // Without sorting, the range from its rank; otherwise every member. Redis
            // walks its member table then, in an order of its own: only elements that
            // compare equal can tell, and here they come in rank order.
            let (from, wanted) = match (o.dontsort, o.desc) {
                (false, _) => (0, usize::MAX),
                (true, true) => (z.len().saturating_sub(1 + first), count),
                (true, false) => (first, count),
            };
            if wanted > 0 {
                z.walk(from, o.dontsort && o.desc, |m, _| {
                    items.push(item(m.to_vec()));
                    items.len() < wanted
                });
            }
        }
        _ => {}
    }
    Ok(items)
}

/// What one element is sorted by, as read from its BY value or itself.
enum SortKey {
    Text(Vec<u8>),
    /// None when the value is not a number SORT accepts.
    Number(Option<f64>),
}

/// Fills in what each item is sorted by; false if some number could not be read (the
/// lookups all happen anyway, as in Redis). An element whose BY pattern names nothing
/// sorts as 0, or before everything under ALPHA.
fn compute_keys(ctx: &mut Ctx, o: &Options, items: &mut [Item]) -> Result<bool, CmdError> {
    let to_key = |v: &[u8]| if o.alpha { SortKey::Text(v.to_vec()) } else { SortKey::Number(score_of(v)) };
    let mut ok = true;
    let mut scratch = Vec::new();
    for it in items.iter_mut() {
        let key = match o.by {
            Some(pattern) => with_pattern(ctx.db, pattern, &it.elem, &mut scratch, |v| v.map(to_key))?,
            None if o.alpha => None,
            None => Some(SortKey::Number(score_of(&it.elem))),
        };
        match key {
            None => {}
            Some(SortKey::Text(t)) => it.by = Some(t),
            Some(SortKey::Number(Some(s))) => it.score = s,
            Some(SortKey::Number(None)) => ok = false,
        }
    }
    Ok(ok)
}

/// The reply without STORE: the elements, or for each the values of the GET patterns
/// (null where a pattern names nothing).
fn reply(ctx: &mut Ctx, o: &Options, items: &[Item]) -> CmdResult {
    let per_item = o.gets.len().max(1);
    ctx.out.array(items.len() * per_item);
    let mut scratch = Vec::new();
    for it in items {
        if o.gets.is_empty() {
            ctx.out.bulk(&it.elem);
        }
        for pattern in &o.gets {
            let out = &mut *ctx.out;
            with_pattern(ctx.db, pattern, &it.elem, &mut scratch, |v| match v {
                Some(v) => out.bulk(v),
                None => out.null(),
            })?;
        }
    }
    Ok(())
}

/// STORE: the output as a list at `dest` (an empty output deletes `dest`); replies
/// with the number of elements stored.
fn store(ctx: &mut Ctx, o: &Options, items: &[Item], dest: &[u8]) -> CmdResult {
    let mut values: Vec<Vec<u8>> = Vec::with_capacity(items.len() * o.gets.len().max(1));
    let mut scratch = Vec::new();
    for it in items {
        if o.gets.is_empty() {
            values.push(it.elem.clone());
        }
        for pattern in &o.gets {
            values.push(with_pattern(ctx.db, pattern, &it.elem, &mut scratch, |v| v.unwrap_or(b"").to_vec())?);
        }
    }
    let n = values.len();
    if n > 0 {
        let fill = ctx.db.engine.knobs.list_max_listpack_size.load(Relaxed);
        let list = List::from_items(fill, values.iter().map(|v| v.as_slice()));
        ctx.db.set(dest, NewValue::Obj(Box::new(Object::List(list))), Expiry::Clear)?;
        ctx.db.notify(notify::LIST, "sortstore", dest);
        ctx.db.dirty += n as u64;
    } else if ctx.db.delete(dest)? {
        ctx.db.notify(notify::GENERIC, "del", dest);
        ctx.db.dirty += 1;
    }
    ctx.out.int(n as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_matches_redis() {
        assert_eq!(limit_range(0, -1, 3), (0, 2));
        assert_eq!(limit_range(1, 1, 3), (1, 1));
        assert_eq!(limit_range(2, i64::MAX, 3), (2, 2));
        assert_eq!(limit_range(5, 1, 3), (2, 1));
        assert_eq!(limit_range(0, 0, 3), (0, -1));
        assert_eq!(limit_range(i64::MIN, 2, 3), (0, 1));
        assert_eq!(limit_range(0, -1, 0), (-1, -2));
    }

    #[test]
    fn numbers_as_redis_reads_them() {
        assert_eq!(score_of(b"1.5"), Some(1.5));
        assert_eq!(score_of(b""), Some(0.0));
        assert_eq!(score_of(b" 12"), Some(12.0));
        assert_eq!(score_of(b"0x10"), Some(16.0));
        assert_eq!(score_of(b"12\0abc"), Some(12.0));
        assert_eq!(score_of(b"-inf"), Some(f64::NEG_INFINITY));
        for bad in [&b" "[..], b"12 ", b"abc", b"nan", b"1e400", b"1e-400", b"1e-310", b"1_0"] {
            assert_eq!(score_of(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    fn needs_all(parts: &[&str]) -> bool {
        let owned = redoubt_resp::request::OwnedArgs::from_slices(parts.iter().map(|p| p.as_bytes()));
        needs_every_shard(owned.args())
    }

    #[test]
    fn locks_everything_only_for_patterns_or_a_hidden_store_key() {
        assert!(!needs_all(&["SORT", "l"]));
        assert!(!needs_all(&["SORT", "l", "ALPHA", "LIMIT", "0", "1", "STORE", "d"]));
        assert!(!needs_all(&["SORT", "l", "BY", "nosort", "GET", "#"]));
        assert!(!needs_all(&["SORT", "l", "BY", "nosort", "BY", "w_*"]));
        assert!(!needs_all(&["SORT", "l", "GET", "x*", "FOO"]));
        assert!(needs_all(&["SORT", "l", "BY", "w_*"]));
        assert!(needs_all(&["SORT", "l", "GET", "#", "GET", "o_*->f"]));
        assert!(needs_all(&["SORT_RO", "l", "GET", "o_*"]));
        assert!(needs_all(&["SORT", "l", "STORE", "limit", "STORE", "d"]));
        assert!(!needs_all(&["SORT_RO", "l", "STORE", "d"]));
    }

    #[test]
    fn end_to_end() {
        use crate::cmd::registry::tests::run;
        let engine = crate::Engine::new(16);
        let reg = crate::cmd::registry::Registry::new();
        run(&engine, &reg, &["RPUSH", "l", "3", "1", "2"]);
        run(&engine, &reg, &["MSET", "w_1", "9", "w_2", "8", "o_3", "three"]);
        assert_eq!(run(&engine, &reg, &["SORT", "l"]), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
        assert_eq!(run(&engine, &reg, &["SORT", "l", "BY", "w_*", "LIMIT", "0", "1"]), "*1\r\n$1\r\n3\r\n");
        assert_eq!(
            run(&engine, &reg, &["SORT", "l", "DESC", "LIMIT", "0", "1", "GET", "o_*"]),
            "*1\r\n$5\r\nthree\r\n"
        );
        // The STORE key SORT writes is not the one the key procedure names.
        assert_eq!(run(&engine, &reg, &["SORT", "l", "STORE", "limit", "STORE", "d"]), ":3\r\n");
        assert_eq!(run(&engine, &reg, &["LRANGE", "d", "0", "-1"]), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
        assert_eq!(run(&engine, &reg, &["SORT", "l", "LIMIT", "0", "0", "STORE", "d"]), ":0\r\n");
        assert_eq!(run(&engine, &reg, &["EXISTS", "d"]), ":0\r\n");
        assert_eq!(run(&engine, &reg, &["SORT_RO", "l", "STORE", "d"]), "-ERR syntax error\r\n");
        run(&engine, &reg, &["RPUSH", "bad", "x"]);
        assert_eq!(run(&engine, &reg, &["SORT", "bad"]), "-ERR One or more scores can't be converted into double\r\n");
    }

    #[test]
    fn patterns_read_as_c_strings() {
        assert_eq!(star(b"w_*"), Some(2));
        assert_eq!(star(b"nosort"), None);
        assert_eq!(star(b"a\0*"), None);
    }
}
