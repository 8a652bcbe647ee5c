//! The blocking pops of sorted sets: BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! Each pops at once when one of its keys holds a sorted set (propagated as the
//! non-blocking form Redis rewrites it into: `ZPOPMIN key`, or `ZPOPMIN key count` for
//! BZMPOP); otherwise it parks the client through `crate::blocking` — or, where the
//! client may not block (MULTI, scripts), answers the null array a timeout gives. A
//! parked client is served later by the `serve_*` function registered here, run by
//! the command that created one of its keys, before that command's locks are released.

use redoubt_resp::request::{Args, OwnedArgs};

use super::pop::{first_nonempty, mpop_from, parse_mpop, pop_reply, End, Shape};
use crate::blocking::{self, BlockSpec};
use crate::cmd::is;
use crate::cmd::list::block::timeout_arg;
use crate::exec::{CmdResult, Ctx};
use crate::value::ValueType;

/// `[key, member, score]` for the entry at `end` of the sorted set at `key` (which
/// exists), propagated as `ZPOPMIN|ZPOPMAX key`.
fn pop_one_with_key(ctx: &mut Ctx, key: &[u8], end: End) -> CmdResult {
    pop_reply(ctx, key, end, 1, Shape { with_key: true, nested: false })?;
    ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([end.command(), key]));
    Ok(())
}

/// BZPOPMIN and BZPOPMAX (Redis's `blockingGenericZpopCommand` without a count): the
/// timeout is checked first, then the keys in order.
fn bzpop(ctx: &mut Ctx, args: Args, end: End) -> CmdResult {
    let deadline_ms = timeout_arg(args.get(args.len() - 1), ctx.db.now_ms)?;
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    if let Some(key) = first_nonempty(ctx, keys.iter().copied())? {
        return pop_one_with_key(ctx, key, end);
    }
    if !blocking::may_block(ctx) {
        ctx.out.null_array();
        return Ok(());
    }
    let spec = BlockSpec { keys, value_type: ValueType::ZSet, serve: serve_bzpop, target: None, deadline_ms };
    blocking::block(ctx, spec, args);
    Ok(())
}

/// Serves a parked BZPOPMIN/BZPOPMAX from `key`.
fn serve_bzpop(ctx: &mut Ctx, key: &[u8], args: Args) -> CmdResult {
    let end = if is(args.get(0), "bzpopmax") { End::Max } else { End::Min };
    pop_one_with_key(ctx, key, end)
}

pub fn bzpopmin(ctx: &mut Ctx, args: Args) -> CmdResult {
    bzpop(ctx, args, End::Min)
}

pub fn bzpopmax(ctx: &mut Ctx, args: Args) -> CmdResult {
    bzpop(ctx, args, End::Max)
}

/// BZMPOP timeout numkeys key... MIN|MAX [COUNT n]: the keys and options are checked
/// before the timeout, as in Redis.
pub fn bzmpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = parse_mpop(args, 2)?;
    let deadline_ms = timeout_arg(args.get(1), ctx.db.now_ms)?;
    if let Some(key) = first_nonempty(ctx, m.keys.iter().copied())? {
        return mpop_from(ctx, key, m.end, m.count);
    }
    if !blocking::may_block(ctx) {
        ctx.out.null_array();
        return Ok(());
    }
    let spec = BlockSpec { keys: m.keys, value_type: ValueType::ZSet, serve: serve_bzmpop, target: None, deadline_ms };
    blocking::block(ctx, spec, args);
    Ok(())
}

/// Serves a parked BZMPOP from `key`.
fn serve_bzmpop(ctx: &mut Ctx, key: &[u8], args: Args) -> CmdResult {
    let m = parse_mpop(args, 2)?;
    mpop_from(ctx, key, m.end, m.count)
}

#[cfg(test)]
mod tests {
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::Registry;
    use crate::Engine;

    #[test]
    fn pops_at_once_or_times_out_without_a_client() {
        let (e, r) = (Engine::new(16), Registry::new());
        run(&e, &r, &["ZADD", "z", "1", "a", "2", "b"]);
        assert_eq!(run(&e, &r, &["BZPOPMIN", "nokey", "z", "0"]), "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n");
        assert_eq!(run(&e, &r, &["BZPOPMAX", "z", "0"]), "*3\r\n$1\r\nz\r\n$1\r\nb\r\n$1\r\n2\r\n");
        assert_eq!(run(&e, &r, &["BZPOPMIN", "z", "0"]), "*-1\r\n");
        assert_eq!(run(&e, &r, &["BZPOPMIN", "z", "-1"]), "-ERR timeout is negative\r\n");
        assert_eq!(run(&e, &r, &["BZPOPMIN", "z", "x"]), "-ERR timeout is not a float or out of range\r\n");
        run(&e, &r, &["ZADD", "z", "1", "a"]);
        assert_eq!(
            run(&e, &r, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"]),
            "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(run(&e, &r, &["BZMPOP", "x", "1", "z", "LEFT"]), "-ERR syntax error\r\n");
        assert_eq!(run(&e, &r, &["BZMPOP", "0", "1", "z", "MIN"]), "*-1\r\n");
    }
}
