//! ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD (Redis's
//! `zunionInterDiffGenericCommand`). Plain sets are accepted as inputs, every member
//! scoring 1.
//!
//! Redis holds all inputs at once; here a `Db` lends one value at a time, so each
//! operation is phrased to need one input at a time with the same arithmetic in the
//! same order: a union accumulates input after input (smallest first), an
//! intersection starts from the smallest input and filters/aggregates its candidates
//! through the others in order, a difference filters the first input through the
//! rest. The result is then sorted by (score, member), as Redis's destination
//! skiplist orders it.

use std::collections::HashMap;

use redoubt_resp::request::Args;

use super::{limits, reply_owned, store, store_nothing};
use crate::cmd::{int_arg, is};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx, Db};
use crate::float::string2d;
use crate::notify;
use crate::types::packed::Elem;
use crate::types::zset::ZSet;
use crate::value::{Object, ValueRef};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's `zunionInterAggregate`: a sum that comes out NaN (inf + -inf) is 0; MIN and
/// MAX keep the current value when compared with NaN.
fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// One input key, as found by the first pass.
struct Input<'a> {
    key: &'a [u8],
    weight: f64,
    len: usize,
}

/// Calls `f` with each (member, score) of the input at `key` (a sorted set, or a set
/// whose members score 1). The key was checked by the first pass.
fn for_each_entry(db: &mut Db<'_>, key: &[u8], mut f: impl FnMut(&[u8], f64)) -> CmdResult {
    match db.find(key, Access::Peek)? {
        None => {}
        Some(e) => match e.value() {
            ValueRef::Obj(Object::ZSet(z)) => z.walk(0, false, |m, s| {
                f(m, s);
                true
            }),
            ValueRef::Obj(Object::Set(s)) => {
                let mut scratch = [0u8; 20];
                for m in s.iter() {
                    f(m.bytes(&mut scratch), 1.0);
                }
            }
            _ => return Err(err::WRONGTYPE),
        },
    }
    Ok(())
}

/// The score of `member` in the input at `key`, if it has it.
fn lookup_in<'a>(db: &'a mut Db<'_>, key: &[u8]) -> Result<Option<Lookup<'a>>, CmdError> {
    Ok(match db.find(key, Access::Peek)? {
        None => None,
        Some(e) => match e.value() {
            ValueRef::Obj(Object::ZSet(z)) => Some(Lookup::Z(z)),
            ValueRef::Obj(Object::Set(s)) => Some(Lookup::S(s)),
            _ => return Err(err::WRONGTYPE),
        },
    })
}

enum Lookup<'a> {
    Z(&'a ZSet),
    S(&'a crate::types::set::Set),
}

impl Lookup<'_> {
    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Lookup::Z(z) => z.score(member),
            Lookup::S(s) => s.contains(Elem::of(member)).then_some(1.0),
        }
    }
}

/// The parsed command.
struct Request<'a> {
    inputs: Vec<Input<'a>>,
    how: Aggregate,
    withscores: bool,
    limit: u64,
}

/// Parses and checks the arguments after `numkeys` at `numkeys_at`, looking every
/// input key up (which counts hits and misses, and refuses other types before any
/// option is read, as Redis does).
fn parse<'a>(
    ctx: &mut Ctx,
    args: Args<'a>,
    numkeys_at: usize,
    op: Op,
    store_mode: bool,
    card_only: bool,
) -> Result<Request<'a>, CmdError> {
    let numkeys = int_arg(args.get(numkeys_at))?;
    if numkeys < 1 {
        let name = String::from_utf8_lossy(args.get(0)).to_ascii_lowercase();
        return Err(CmdError::Owned(format!("ERR at least 1 input key is needed for '{name}' command")));
    }
    let first = numkeys_at + 1;
    if numkeys as u64 > (args.len() - first) as u64 {
        return Err(err::SYNTAX);
    }
    let numkeys = numkeys as usize;
    let mut inputs = Vec::with_capacity(numkeys);
    for i in first..first + numkeys {
        let key = args.get(i);
        let len = match ctx.db.find(key, Access::Read)? {
            None => 0,
            Some(e) => match e.value() {
                ValueRef::Obj(Object::ZSet(z)) => z.len(),
                ValueRef::Obj(Object::Set(s)) => s.len(),
                _ => return Err(err::WRONGTYPE),
            },
        };
        inputs.push(Input { key, weight: 1.0, len });
    }
    let mut req = Request { inputs, how: Aggregate::Sum, withscores: false, limit: 0 };
    let mut j = first + numkeys;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = args.get(j);
        if op != Op::Diff && !card_only && remaining > numkeys && is(a, "weights") {
            for (k, input) in req.inputs.iter_mut().enumerate() {
                input.weight =
                    string2d(args.get(j + 1 + k)).ok_or(CmdError::Static("ERR weight value is not a float"))?;
            }
            j += 1 + numkeys;
        } else if op != Op::Diff && !card_only && remaining >= 2 && is(a, "aggregate") {
            let how = args.get(j + 1);
            req.how = if is(how, "sum") {
                Aggregate::Sum
            } else if is(how, "min") {
                Aggregate::Min
            } else if is(how, "max") {
                Aggregate::Max
            } else {
                return Err(err::SYNTAX);
            };
            j += 2;
        } else if !store_mode && !card_only && is(a, "withscores") {
            req.withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(a, "limit") {
            const NEGATIVE: CmdError = CmdError::Static("ERR LIMIT can't be negative");
            let limit = int_arg(args.get(j + 1)).map_err(|_| NEGATIVE)?;
            req.limit = u64::try_from(limit).map_err(|_| NEGATIVE)?;
            j += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    Ok(req)
}

/// Computes the operation's result, unordered.
fn compute(db: &mut Db<'_>, req: &Request<'_>, op: Op) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let mut order: Vec<&Input<'_>> = req.inputs.iter().collect();
    if op != Op::Diff {
        // Smallest first, as Redis sorts them (glibc's qsort is a stable merge sort).
        order.sort_by_key(|i| i.len);
    }
    match op {
        Op::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::with_capacity(order.last().map_or(0, |i| i.len));
            for input in &order {
                let w = input.weight;
                for_each_entry(db, input.key, |m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, req.how),
                        None => {
                            acc.insert(m.to_vec(), score);
                        }
                    }
                })?;
            }
            Ok(acc.into_iter().collect())
        }
        Op::Inter => {
            if order.first().is_none_or(|i| i.len == 0) {
                return Ok(Vec::new());
            }
            let mut cands = Vec::with_capacity(order[0].len);
            let w0 = order[0].weight;
            for_each_entry(db, order[0].key, |m, s| {
                let mut score = w0 * s;
                if score.is_nan() {
                    score = 0.0;
                }
                cands.push((m.to_vec(), score));
            })?;
            for input in &order[1..] {
                let Some(other) = lookup_in(db, input.key)? else { return Ok(Vec::new()) };
                cands.retain_mut(|(m, score)| match other.score(m) {
                    Some(v) => {
                        aggregate(score, v * input.weight, req.how);
                        true
                    }
                    None => false,
                });
            }
            Ok(cands)
        }
        Op::Diff => {
            let Some(first) = order.first() else { return Ok(Vec::new()) };
            let mut cands = Vec::with_capacity(first.len);
            for_each_entry(db, first.key, |m, s| cands.push((m.to_vec(), s)))?;
            for input in &order[1..] {
                if cands.is_empty() {
                    break;
                }
                let Some(other) = lookup_in(db, input.key)? else { continue };
                cands.retain(|(m, _)| other.score(m).is_none());
            }
            Ok(cands)
        }
    }
}

/// Sorts entries into Redis's (score, member) order.
fn sort_entries(entries: &mut [(Vec<u8>, f64)]) {
    entries.sort_unstable_by(|a, b| {
        a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0))
    });
}

fn generic(ctx: &mut Ctx, args: Args, op: Op, dst: Option<&[u8]>) -> CmdResult {
    let numkeys_at = if dst.is_some() { 2 } else { 1 };
    let req = parse(ctx, args, numkeys_at, op, dst.is_some(), false)?;
    let mut result = compute(ctx.db, &req, op)?;
    sort_entries(&mut result);
    let Some(dst) = dst else {
        reply_owned(ctx.out, &result, req.withscores);
        return Ok(());
    };
    ctx.out.int(result.len() as i64);
    if result.is_empty() {
        return store_nothing(ctx.db, dst);
    }
    let z = ZSet::from_sorted(result.iter().map(|(m, s)| (m.as_slice(), *s)), limits(ctx.db));
    store(ctx.db, dst, z)?;
    let event = match op {
        Op::Union => "zunionstore",
        Op::Inter => "zinterstore",
        Op::Diff => "zdiffstore",
    };
    ctx.db.notify(notify::ZSET, event, dst);
    ctx.db.dirty += 1;
    Ok(())
}

pub fn zunion(ctx: &mut Ctx, args: Args) -> CmdResult {
    generic(ctx, args, Op::Union, None)
}

pub fn zinter(ctx: &mut Ctx, args: Args) -> CmdResult {
    generic(ctx, args, Op::Inter, None)
}

pub fn zdiff(ctx: &mut Ctx, args: Args) -> CmdResult {
    generic(ctx, args, Op::Diff, None)
}

pub fn zunionstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    generic(ctx, args, Op::Union, Some(args.get(1)))
}

pub fn zinterstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    generic(ctx, args, Op::Inter, Some(args.get(1)))
}

pub fn zdiffstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    generic(ctx, args, Op::Diff, Some(args.get(1)))
}

pub fn zintercard(ctx: &mut Ctx, args: Args) -> CmdResult {
    let req = parse(ctx, args, 1, Op::Inter, false, true)?;
    let n = compute(ctx.db, &req, Op::Inter)?.len() as u64;
    let n = if req.limit > 0 { n.min(req.limit) } else { n };
    ctx.out.int(n as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::Registry;
    use crate::Engine;

    #[test]
    fn union_inter_diff() {
        let (e, r) = (Engine::new(16), Registry::new());
        run(&e, &r, &["ZADD", "a", "1", "x", "2", "y", "inf", "i"]);
        run(&e, &r, &["ZADD", "b", "10", "y", "20", "z", "-inf", "i"]);
        assert_eq!(
            run(&e, &r, &["ZUNION", "2", "a", "b", "WITHSCORES"]),
            "*8\r\n$1\r\ni\r\n$1\r\n0\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n20\r\n"
        );
        assert_eq!(run(&e, &r, &["ZINTER", "2", "a", "b", "AGGREGATE", "MAX"]), "*2\r\n$1\r\ny\r\n$1\r\ni\r\n");
        assert_eq!(run(&e, &r, &["ZDIFF", "2", "a", "b"]), "*1\r\n$1\r\nx\r\n");
        assert_eq!(run(&e, &r, &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]), ":1\r\n");
        assert_eq!(run(&e, &r, &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "2", "1"]), ":4\r\n");
        assert_eq!(run(&e, &r, &["ZSCORE", "d", "y"]), "$2\r\n14\r\n");
        assert_eq!(run(&e, &r, &["ZUNION", "0", "a"]), "-ERR at least 1 input key is needed for 'zunion' command\r\n");
        assert_eq!(run(&e, &r, &["ZUNION", "3", "a", "b"]), "-ERR syntax error\r\n");
        assert_eq!(run(&e, &r, &["ZUNION", "1", "a", "WEIGHTS", "x"]), "-ERR weight value is not a float\r\n");
        assert_eq!(run(&e, &r, &["ZINTERSTORE", "d", "2", "a", "missing"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "d"]), ":0\r\n");
    }
}
