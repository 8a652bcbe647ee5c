//! ZPOPMIN, ZPOPMAX and ZMPOP (Redis's `genericZpopCommand`), and [`pop_reply`], the
//! piece the blocking forms (BZPOPMIN, BZPOPMAX, BZMPOP) serve a woken client with.

use redoubt_resp::number::i64_to_vec;
use redoubt_resp::request::{Args, OwnedArgs};

use super::{drop_if_empty, write_zset};
use crate::cmd::{int_arg, is};
use crate::exec::{err, CmdError, CmdResult, Ctx};
use crate::notify;

/// Which end a pop takes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Min,
    Max,
}

impl End {
    fn event(self) -> &'static str {
        match self {
            End::Min => "zpopmin",
            End::Max => "zpopmax",
        }
    }

    /// The command a pop is propagated as.
    pub fn command(self) -> &'static [u8] {
        match self {
            End::Min => b"ZPOPMIN",
            End::Max => b"ZPOPMAX",
        }
    }
}

/// How a pop's reply is shaped.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// The key comes first (ZMPOP and the blocking forms).
    pub with_key: bool,
    /// Entries as [member, score] pairs rather than a flat list.
    pub nested: bool,
}

/// Pops up to `count` entries from `end` of the sorted set at `key` (which exists and
/// is a sorted set: the caller checked) and writes the reply in `shape`. Records the
/// events and deletes the key once empty; returns how many entries were popped.
pub fn pop_reply(ctx: &mut Ctx, key: &[u8], end: End, count: usize, shape: Shape) -> Result<usize, CmdError> {
    let Some(z) = write_zset(ctx.db, key)? else { return Ok(0) };
    let len = z.len();
    let n = count.min(len);
    let start = match end {
        End::Min => 0,
        End::Max => len.saturating_sub(1),
    };
    let mut popped = Vec::with_capacity(n);
    if n > 0 {
        z.walk(start, end == End::Max, |m, s| {
            popped.push((m.to_vec(), s));
            popped.len() < n
        });
    }
    match end {
        End::Min => z.remove_ranks(0, n),
        End::Max => z.remove_ranks(len - n, len),
    }
    let out = &mut *ctx.out;
    match (shape.with_key, shape.nested) {
        (false, false) => out.array(n * 2),
        (false, true) => out.array(n),
        (true, false) => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        (true, true) => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    for (m, s) in &popped {
        if shape.nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
    if n > 0 {
        ctx.db.dirty += n as u64;
        ctx.db.notify(notify::ZSET, end.event(), key);
        ctx.db.touch(key);
        drop_if_empty(ctx.db, key)?;
    }
    Ok(n)
}

/// The first of `keys` that holds a sorted set (WRONGTYPE if the first existing one is
/// of another type), as `genericZpopCommand` picks it.
pub fn first_nonempty<'a>(ctx: &mut Ctx, keys: impl Iterator<Item = &'a [u8]>) -> Result<Option<&'a [u8]>, CmdError> {
    for key in keys {
        if write_zset(ctx.db, key)?.is_some() {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

fn zpop(ctx: &mut Ctx, args: Args, end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(err::SYNTAX);
    }
    let count = match args.len() {
        3 => Some(positive_count(args.get(2))?),
        _ => None,
    };
    let key = args.get(1);
    if first_nonempty(ctx, std::iter::once(key))?.is_none() {
        ctx.out.array(0);
        return Ok(());
    }
    if count == Some(0) {
        ctx.out.array(0);
        return Ok(());
    }
    let nested = ctx.out.resp3() && count.is_some();
    pop_reply(ctx, key, end, count.unwrap_or(1), Shape { with_key: false, nested })?;
    Ok(())
}

/// A count argument that must not be negative (`getPositiveLongFromObjectOrReply`,
/// whose one message covers a non-number too).
fn positive_count(a: &[u8]) -> Result<usize, CmdError> {
    int_arg(a)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(CmdError::Static("ERR value is out of range, must be positive"))
}

pub fn zpopmin(ctx: &mut Ctx, args: Args) -> CmdResult {
    zpop(ctx, args, End::Min)
}

pub fn zpopmax(ctx: &mut Ctx, args: Args) -> CmdResult {
    zpop(ctx, args, End::Max)
}

/// ZMPOP's and BZMPOP's arguments from `numkeys` on.
pub struct MpopArgs<'a> {
    pub keys: Vec<&'a [u8]>,
    pub end: End,
    pub count: usize,
}

/// Parses `numkeys key... MIN|MAX [COUNT count]` starting at `numkeys_at`.
pub fn parse_mpop(args: Args<'_>, numkeys_at: usize) -> Result<MpopArgs<'_>, CmdError> {
    let numkeys = int_arg(args.get(numkeys_at))
        .ok()
        .filter(|&n| n >= 1)
        .ok_or(CmdError::Static("ERR numkeys should be greater than 0"))?;
    let where_at = (numkeys_at as u64).saturating_add(numkeys as u64).saturating_add(1);
    if where_at >= args.len() as u64 {
        return Err(err::SYNTAX);
    }
    let where_at = where_at as usize;
    let end = match args.get(where_at) {
        w if is(w, "min") => End::Min,
        w if is(w, "max") => End::Max,
        _ => return Err(err::SYNTAX),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && is(args.get(j), "count") && j + 1 < args.len() {
            let n = int_arg(args.get(j + 1))
                .ok()
                .filter(|&n| n >= 1)
                .ok_or(CmdError::Static("ERR count should be greater than 0"))?;
            count = Some(n as usize);
            j += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    let keys = (numkeys_at + 1..where_at).map(|i| args.get(i)).collect();
    Ok(MpopArgs { keys, end, count: count.unwrap_or(1) })
}

/// Pops for ZMPOP and the blocking forms from `key`, and propagates the pop as Redis
/// rewrites it: `ZPOPMIN|ZPOPMAX key count`.
pub fn mpop_from(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> CmdResult {
    let n = pop_reply(ctx, key, end, count, Shape { with_key: true, nested: true })?;
    let count = i64_to_vec(n as i64);
    ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([end.command(), key, &count]));
    Ok(())
}

pub fn zmpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = parse_mpop(args, 1)?;
    match first_nonempty(ctx, m.keys.iter().copied())? {
        None => ctx.out.null_array(),
        Some(key) => mpop_from(ctx, key, m.end, m.count)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::Registry;
    use crate::Engine;

    #[test]
    fn pops() {
        let (e, r) = (Engine::new(16), Registry::new());
        run(&e, &r, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(run(&e, &r, &["ZPOPMIN", "z"]), "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
        assert_eq!(run(&e, &r, &["ZPOPMAX", "z", "5"]), "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n");
        assert_eq!(run(&e, &r, &["EXISTS", "z"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["ZPOPMIN", "z"]), "*0\r\n");
        assert_eq!(run(&e, &r, &["ZPOPMIN", "z", "-1"]), "-ERR value is out of range, must be positive\r\n");
        assert_eq!(run(&e, &r, &["ZMPOP", "1", "z", "MIN"]), "*-1\r\n");
        run(&e, &r, &["ZADD", "y", "1", "a"]);
        assert_eq!(
            run(&e, &r, &["ZMPOP", "2", "z", "y", "MAX", "COUNT", "3"]),
            "*2\r\n$1\r\ny\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(run(&e, &r, &["ZMPOP", "0", "z", "MIN"]), "-ERR numkeys should be greater than 0\r\n");
        assert_eq!(run(&e, &r, &["ZMPOP", "1", "z", "MIN", "COUNT", "0"]), "-ERR count should be greater than 0\r\n");
        assert_eq!(run(&e, &r, &["ZMPOP", "1", "z", "LEFT"]), "-ERR syntax error\r\n");
    }
}
