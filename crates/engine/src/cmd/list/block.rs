//! The blocking list commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP.
//!
//! Each tries its non-blocking form first (propagated as that form: `LPOP key`,
//! `LPOP key n`, `LMOVE ...`, `RPOPLPUSH ...`). With nothing to pop it parks the client
//! through `crate::blocking` — or, where the client may not block (MULTI, scripts),
//! answers as a timeout would at once. A parked client is later served by the `serve_*`
//! function registered here, run by the command that gave one of its keys data,
//! before that command's locks are released.

use redoubt_resp::request::{Args, OwnedArgs};

use super::{
    end_arg, end_word, first_list, move_one, parse_mpop, pop_event, pop_range_with_key, read_list, write_list,
};
pub use crate::blocking::timeout_arg;
use crate::blocking::{self, BlockSpec};
use crate::cmd::elements::reply_elem;
use crate::cmd::is;
use crate::exec::{Access, CmdError, CmdResult, Ctx};
use crate::notify;
use crate::types::list::End;
use crate::value::ValueType;

/// BLPOP and BRPOP (Redis's `blockingPopGenericCommand` without a count).
fn bpop_generic(ctx: &mut Ctx, args: Args, end: End) -> CmdResult {
    let deadline_ms = timeout_arg(args.get(args.len() - 1), ctx.db.now_ms)?;
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    if let Some(key) = first_list(ctx.db, &keys)? {
        pop_one_with_key(ctx, key, end)?;
        return Ok(());
    }
    if !blocking::may_block(ctx) {
        ctx.out.null_array();
        return Ok(());
    }
    let spec = BlockSpec { keys, value_type: ValueType::List, serve: serve_bpop, target: None, deadline_ms };
    blocking::block(ctx, spec, args);
    Ok(())
}

/// `[key, element]` for one element popped from `end` of the list at `key` (which
/// exists); propagated as `LPOP|RPOP key`, as Redis rewrites a served BLPOP.
fn pop_one_with_key(ctx: &mut Ctx, key: &[u8], end: End) -> CmdResult {
    let verb: &[u8] = if end == End::Head { b"LPOP" } else { b"RPOP" };
    ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([verb, key]));
    let Some(l) = write_list(ctx.db, key)? else { return Ok(()) };
    let out = &mut *ctx.out;
    out.array(2);
    out.bulk(key);
    l.pop_with(end, |e| reply_elem(out, e));
    let left = l.len();
    ctx.db.notify(notify::LIST, pop_event(end), key);
    if left == 0 {
        ctx.db.delete(key)?;
        ctx.db.notify(notify::GENERIC, "del", key);
    } else {
        ctx.db.touch(key);
    }
    ctx.db.dirty += 1;
    Ok(())
}

/// Serves a parked BLPOP/BRPOP from `key`.
fn serve_bpop(ctx: &mut Ctx, key: &[u8], args: Args) -> CmdResult {
    let end = if is(args.get(0), "brpop") { End::Tail } else { End::Head };
    pop_one_with_key(ctx, key, end)
}

pub fn blpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    bpop_generic(ctx, args, End::Head)
}

pub fn brpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    bpop_generic(ctx, args, End::Tail)
}

/// BLMOVE and BRPOPLPUSH (Redis's `blmoveGenericCommand`): the destination's type is
/// only checked when there is something to move.
fn blmove_generic(ctx: &mut Ctx, args: Args, from: End, to: End, deadline_ms: i64) -> CmdResult {
    let (src, dst) = (args.get(1), args.get(2));
    if read_list(ctx.db, src, Access::Write)?.is_some() {
        move_one(ctx, src, dst, from, to)?;
        propagate_move(ctx, args, src, dst, None);
        return Ok(());
    }
    if !blocking::may_block(ctx) {
        ctx.out.null();
        return Ok(());
    }
    let spec =
        BlockSpec { keys: vec![src], value_type: ValueType::List, serve: serve_blmove, target: Some(dst), deadline_ms };
    blocking::block(ctx, spec, args);
    Ok(())
}

/// Propagates a move done by BLMOVE or BRPOPLPUSH as its non-blocking form: the ends
/// as the client wrote them (`sides` None) or, for a served client, as Redis's shared
/// lower-case `left`/`right`.
fn propagate_move(ctx: &mut Ctx, args: Args, src: &[u8], dst: &[u8], sides: Option<(End, End)>) {
    let a = if is(args.get(0), "brpoplpush") {
        OwnedArgs::from_slices([&b"RPOPLPUSH"[..], src, dst])
    } else {
        let (f, t) = match sides {
            Some((f, t)) => (end_word(f), end_word(t)),
            None => (args.get(3), args.get(4)),
        };
        OwnedArgs::from_slices([&b"LMOVE"[..], src, dst, f, t])
    };
    ctx.db.propagate(ctx.db.index, a);
}

/// The ends of a parked BLMOVE/BRPOPLPUSH, from its arguments.
fn move_ends(args: Args) -> Result<(End, End), CmdError> {
    if is(args.get(0), "brpoplpush") {
        return Ok((End::Tail, End::Head));
    }
    Ok((end_arg(args.get(3))?, end_arg(args.get(4))?))
}

/// Serves a parked BLMOVE/BRPOPLPUSH from `key`; a destination of another type is
/// the waiter's WRONGTYPE error (and nothing moves), as in Redis.
fn serve_blmove(ctx: &mut Ctx, key: &[u8], args: Args) -> CmdResult {
    let dst = args.get(2);
    let (from, to) = move_ends(args)?;
    read_list(ctx.db, dst, Access::Write)?;
    move_one(ctx, key, dst, from, to)?;
    propagate_move(ctx, args, key, dst, Some((from, to)));
    Ok(())
}

pub fn blmove(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (from, to) = (end_arg(args.get(3))?, end_arg(args.get(4))?);
    let deadline_ms = timeout_arg(args.get(5), ctx.db.now_ms)?;
    blmove_generic(ctx, args, from, to, deadline_ms)
}

pub fn brpoplpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    let deadline_ms = timeout_arg(args.get(3), ctx.db.now_ms)?;
    blmove_generic(ctx, args, End::Tail, End::Head, deadline_ms)
}

/// BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT n]: the keys and options are
/// checked before the timeout, as in Redis.
pub fn blmpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = parse_mpop(args, 2)?;
    let deadline_ms = timeout_arg(args.get(1), ctx.db.now_ms)?;
    if let Some(key) = first_list(ctx.db, &m.keys)? {
        return pop_range_with_key(ctx, key, m.end, m.count);
    }
    if !blocking::may_block(ctx) {
        ctx.out.null_array();
        return Ok(());
    }
    let spec = BlockSpec { keys: m.keys, value_type: ValueType::List, serve: serve_blmpop, target: None, deadline_ms };
    blocking::block(ctx, spec, args);
    Ok(())
}

/// Serves a parked BLMPOP from `key`.
fn serve_blmpop(ctx: &mut Ctx, key: &[u8], args: Args) -> CmdResult {
    let m = parse_mpop(args, 2)?;
    pop_range_with_key(ctx, key, m.end, m.count)
}
