//! Ranged sorted-set commands: ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES) and its
//! older spellings, ZRANGESTORE, ZCOUNT, ZLEXCOUNT and ZREMRANGEBYRANK/SCORE/LEX, with
//! the parsing of score and lex intervals (Redis's `zslParseRange` and
//! `zslParseLexRange`).
//!
//! A range is resolved to ranks first (where it starts, how many entries follow while
//! in range, as Redis's walks do), so every reply knows its length before it is
//! written and a store command collects exactly what a client would have been sent.

use redoubt_resp::request::Args;

use super::{
    drop_if_empty, limits, read_zset, reply_entries_header, reply_entry, reply_no_source, store, store_nothing,
    write_zset,
};
use crate::cmd::{int_arg, is};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx};
use crate::float::strtod;
use crate::notify;
use crate::types::zset::range::{LexBound, LexRange, Range, ScoreRange};
use crate::types::zset::ZSet;

const NOT_FLOAT_RANGE: CmdError = CmdError::Static("ERR min or max is not a float");
const NOT_LEX_RANGE: CmdError = CmdError::Static("ERR min or max not valid string range item");

/* ---------------------------------------------------------------- parsing */

/// One end of a score range: `(` makes it exclusive; the rest goes to C's `strtod`,
/// which must stop at the end of the C string (so " 1" and "" are accepted, as in
/// Redis, and NaN is not).
fn score_bound(a: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match a.first() {
        Some(b'(') => (&a[1..], true),
        _ => (a, false),
    };
    let c_len = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    let r = strtod(text);
    (r.consumed == c_len && !r.value.is_nan()).then_some((r.value, exclusive))
}

/// A score interval (Redis's `zslParseRange`).
pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let (min, min_ex) = score_bound(min).ok_or(NOT_FLOAT_RANGE)?;
    let (max, max_ex) = score_bound(max).ok_or(NOT_FLOAT_RANGE)?;
    Ok(ScoreRange { min, max, min_ex, max_ex })
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
fn lex_bound(a: &[u8]) -> Option<LexBound<'_>> {
    // Redis reads `-` and `+` as C strings: "+\0anything" is still `+`.
    let alone = a.len() == 1 || a.get(1) == Some(&0);
    match a.first()? {
        b'-' if alone => Some(LexBound::Min),
        b'+' if alone => Some(LexBound::Max),
        b'[' => Some(LexBound::Incl(&a[1..])),
        b'(' => Some(LexBound::Excl(&a[1..])),
        _ => None,
    }
}

/// A lex interval (Redis's `zslParseLexRange`).
pub fn parse_lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>, CmdError> {
    let min = lex_bound(min).ok_or(NOT_LEX_RANGE)?;
    let max = lex_bound(max).ok_or(NOT_LEX_RANGE)?;
    Ok(LexRange { min, max })
}

/* ---------------------------------------------------------------- resolving */

/// Ranks to emit: `count` entries from `start`, upwards or (reverse) downwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub count: usize,
    pub reverse: bool,
}

const EMPTY: Span = Span { start: 0, count: 0, reverse: false };

/// A range of ranks as ZRANGE takes it (negative counts from the end), clamped as
/// Redis's `genericZrangebyrankCommand` does.
pub fn rank_span(len: usize, start: i64, end: i64, reverse: bool) -> Span {
    let llen = len as i64;
    let mut start = if start < 0 { start.saturating_add(llen) } else { start };
    let mut end = if end < 0 { end.saturating_add(llen) } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return EMPTY;
    }
    if end >= llen {
        end = llen - 1;
    }
    let count = (end - start + 1) as usize;
    let start = if reverse { (llen - 1 - start) as usize } else { start as usize };
    Span { start, count, reverse }
}

/// The entries of a score or lex range, after LIMIT's offset and count (a negative
/// count means all; a negative offset, as in Redis, means none).
pub fn range_span(z: &ZSet, range: &Range<'_>, offset: i64, limit: i64, reverse: bool) -> Span {
    if offset < 0 || (offset > 0 && offset as u64 >= z.len() as u64) {
        return EMPTY;
    }
    let first = if reverse { z.last_in_range(range) } else { z.first_in_range(range) };
    let Some(first) = first else { return EMPTY };
    let inside = if reverse { z.run_down(first, range) } else { z.run_up(first, range) };
    let offset = offset as usize;
    let avail = inside.saturating_sub(offset);
    let count = if limit < 0 { avail } else { avail.min(limit as usize) };
    if count == 0 {
        return EMPTY;
    }
    let start = if reverse { first - offset } else { first + offset };
    Span { start, count, reverse }
}

/// Copies the entries of `span` out.
pub fn collect(z: &ZSet, span: Span) -> Vec<(Vec<u8>, f64)> {
    let mut out = Vec::with_capacity(span.count);
    if span.count > 0 {
        z.walk(span.start, span.reverse, |m, s| {
            out.push((m.to_vec(), s));
            out.len() < span.count
        });
    }
    out
}

/* ---------------------------------------------------------------- ZRANGE family */

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Runs a ZRANGE-family command (Redis's `zrangeGenericCommand`). `at` is the index of
/// the source key; `dst` is ZRANGESTORE's destination.
fn zrange_generic(ctx: &mut Ctx, args: Args, at: usize, dst: Option<&[u8]>, by: By, rev: Option<bool>) -> CmdResult {
    let store_mode = dst.is_some();
    let (mut by, mut rev) = (by, rev);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = at + 3;
    while j < args.len() {
        let a = args.get(j);
        let left = args.len() - j - 1;
        if !store_mode && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = int_arg(args.get(j + 1))?;
            limit = int_arg(args.get(j + 2))?;
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if by == By::Auto && is(a, "bylex") {
            by = By::Lex;
        } else if by == By::Auto && is(a, "byscore") {
            by = By::Score;
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    let reverse = rev.unwrap_or(false);
    if by == By::Auto {
        by = By::Rank;
    }
    if limit != -1 && by == By::Rank {
        return Err(CmdError::Static(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(CmdError::Static("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    // Reversed score and lex ranges are written max first.
    let (mut lo, mut hi) = (args.get(at + 1), args.get(at + 2));
    if reverse && by != By::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    enum Parsed<'a> {
        Ranks(i64, i64),
        Range(Range<'a>),
    }
    let parsed = match by {
        By::Score => Parsed::Range(Range::Score(parse_score_range(lo, hi)?)),
        By::Lex => Parsed::Range(Range::Lex(parse_lex_range(lo, hi)?)),
        _ => Parsed::Ranks(int_arg(lo)?, int_arg(hi)?),
    };
    let key = args.get(at);
    let out = &mut *ctx.out;
    let Some(z) = read_zset(ctx.db, key, Access::Read)? else {
        return reply_no_source(ctx.db, out, dst);
    };
    let span = match &parsed {
        Parsed::Ranks(start, end) => rank_span(z.len(), *start, *end, reverse),
        Parsed::Range(r) => range_span(z, r, offset, limit, reverse),
    };
    let Some(dst) = dst else {
        reply_entries_header(out, span.count, withscores);
        if span.count > 0 {
            let mut left = span.count;
            z.walk(span.start, span.reverse, |m, s| {
                reply_entry(out, m, s, withscores);
                left -= 1;
                left > 0
            });
        }
        return Ok(());
    };
    let entries = collect(z, span);
    out.int(entries.len() as i64);
    if entries.is_empty() {
        return store_nothing(ctx.db, dst);
    }
    // A reversed range arrives in descending order; the stored set is ordered anyway.
    let mut sorted = entries;
    if span.reverse {
        sorted.reverse();
    }
    let z = ZSet::from_sorted(sorted.iter().map(|(m, s)| (m.as_slice(), *s)), limits(ctx.db));
    store(ctx.db, dst, z)?;
    ctx.db.notify(notify::ZSET, "zrangestore", dst);
    ctx.db.dirty += 1;
    Ok(())
}

pub fn zrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    zrange_generic(ctx, args, 1, None, By::Auto, None)
}

pub fn zrangestore(ctx: &mut Ctx, args: Args) -> CmdResult {
    zrange_generic(ctx, args, 2, Some(args.get(1)), By::Auto, None)
}

pub fn zrevrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    zrange_generic(ctx, args, 1, None, By::Rank, Some(true))
}

pub fn zrangebyscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    zrange_generic(ctx, args, 1, None, By::Score, Some(false))
}

pub fn zrevrangebyscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    zrange_generic(ctx, args, 1, None, By::Score, Some(true))
}

pub fn zrangebylex(ctx: &mut Ctx, args: Args) -> CmdResult {
    zrange_generic(ctx, args, 1, None, By::Lex, Some(false))
}

pub fn zrevrangebylex(ctx: &mut Ctx, args: Args) -> CmdResult {
    zrange_generic(ctx, args, 1, None, By::Lex, Some(true))
}

/* ---------------------------------------------------------------- counts */

/// Entries of `range` in the set at `key` (ZCOUNT, ZLEXCOUNT).
fn count_in(ctx: &mut Ctx, key: &[u8], range: &Range<'_>) -> CmdResult {
    let n = match read_zset(ctx.db, key, Access::Read)? {
        None => 0,
        Some(z) => z.first_in_range(range).map_or(0, |first| z.run_up(first, range)),
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn zcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    let range = Range::Score(parse_score_range(args.get(2), args.get(3))?);
    count_in(ctx, args.get(1), &range)
}

pub fn zlexcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    let range = Range::Lex(parse_lex_range(args.get(2), args.get(3))?);
    count_in(ctx, args.get(1), &range)
}

/* ---------------------------------------------------------------- removals */

enum RemoveBy<'a> {
    Rank(i64, i64),
    Range(Range<'a>),
}

/// ZREMRANGEBYRANK/SCORE/LEX once the range is parsed.
fn remove_range(ctx: &mut Ctx, key: &[u8], what: RemoveBy<'_>, event: &'static str) -> CmdResult {
    let mut deleted = 0usize;
    if let Some(z) = write_zset(ctx.db, key)? {
        let (lo, n) = match &what {
            RemoveBy::Rank(start, end) => {
                let span = rank_span(z.len(), *start, *end, false);
                (span.start, span.count)
            }
            RemoveBy::Range(r) => match z.first_in_range(r) {
                Some(first) => (first, z.run_up(first, r)),
                None => (0, 0),
            },
        };
        z.remove_ranks(lo, lo + n);
        deleted = n;
    }
    if deleted > 0 {
        ctx.db.touch(key);
        ctx.db.notify(notify::ZSET, event, key);
        drop_if_empty(ctx.db, key)?;
        ctx.db.dirty += deleted as u64;
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

pub fn zremrangebyrank(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (start, end) = (int_arg(args.get(2))?, int_arg(args.get(3))?);
    remove_range(ctx, args.get(1), RemoveBy::Rank(start, end), "zremrangebyrank")
}

pub fn zremrangebyscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let range = Range::Score(parse_score_range(args.get(2), args.get(3))?);
    remove_range(ctx, args.get(1), RemoveBy::Range(range), "zremrangebyscore")
}

pub fn zremrangebylex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let range = Range::Lex(parse_lex_range(args.get(2), args.get(3))?);
    remove_range(ctx, args.get(1), RemoveBy::Range(range), "zremrangebylex")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::Registry;
    use crate::Engine;

    #[test]
    fn range_parsing_follows_redis() {
        assert_eq!(
            parse_score_range(b"(1", b"+inf").unwrap(),
            ScoreRange { min: 1.0, max: f64::INFINITY, min_ex: true, max_ex: false }
        );
        assert_eq!(parse_score_range(b"", b" 2").unwrap().max, 2.0);
        assert_eq!(parse_score_range(b"1e400", b"2").unwrap().min, f64::INFINITY);
        assert!(parse_score_range(b"nan", b"1").is_err());
        assert!(parse_score_range(b"1x", b"1").is_err());
        assert!(parse_score_range(b"1", b"((2").is_err());
        assert_eq!(parse_lex_range(b"-", b"[b").unwrap().max, LexBound::Incl(b"b"));
        assert!(parse_lex_range(b"a", b"+").is_err());
        assert!(parse_lex_range(b"-x", b"+").is_err());
        assert!(parse_lex_range(b"", b"+").is_err());
    }

    #[test]
    fn rank_spans_clamp_like_redis() {
        assert_eq!(rank_span(5, 0, -1, false), Span { start: 0, count: 5, reverse: false });
        assert_eq!(rank_span(5, -100, 1, false), Span { start: 0, count: 2, reverse: false });
        assert_eq!(rank_span(5, 3, 100, true), Span { start: 1, count: 2, reverse: true });
        assert_eq!(rank_span(5, 4, 3, false).count, 0);
        assert_eq!(rank_span(5, 5, 10, false).count, 0);
        assert_eq!(rank_span(5, i64::MIN, i64::MAX, false).count, 5);
    }

    #[test]
    fn ranges_end_to_end() {
        let (e, r) = (Engine::new(16), Registry::new());
        run(&e, &r, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(run(&e, &r, &["ZRANGE", "z", "1", "2"]), "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
        assert_eq!(run(&e, &r, &["ZRANGE", "z", "(1", "3", "BYSCORE", "LIMIT", "1", "5"]), "*1\r\n$1\r\nc\r\n");
        assert_eq!(run(&e, &r, &["ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "0", "1"]), "*1\r\n$1\r\nd\r\n");
        assert!(run(&e, &r, &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]).starts_with("-ERR syntax error, LIMIT"));
        assert_eq!(run(&e, &r, &["ZCOUNT", "z", "2", "(4"]), ":2\r\n");
        assert_eq!(run(&e, &r, &["ZLEXCOUNT", "z", "-", "+"]), ":4\r\n");
        assert_eq!(run(&e, &r, &["ZRANGESTORE", "dst", "z", "0", "-1", "REV"]), ":4\r\n");
        assert_eq!(run(&e, &r, &["ZRANGE", "dst", "0", "0"]), "*1\r\n$1\r\na\r\n");
        assert_eq!(run(&e, &r, &["ZREMRANGEBYSCORE", "z", "-inf", "(3"]), ":2\r\n");
        assert_eq!(run(&e, &r, &["ZREMRANGEBYRANK", "z", "0", "-1"]), ":2\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "z"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["ZRANGESTORE", "dst", "z", "0", "-1"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "dst"]), ":0\r\n");
    }
}
