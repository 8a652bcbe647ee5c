//! The string family: GET, SET and its options, counters, ranges, APPEND, LCS.

use redoubt_resp::request::{Args, OwnedArgs};
use redoubt_resp::ReplyBuf;

use super::{int_arg, invalid_expire, is, DataCommand, LockMode::Keys};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx, Expiry};
use crate::longdouble::{self, LdError};
use crate::notify;
use crate::value::{NewValue, Object, StrRef, ValueRef};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "get", lock: Keys, handler: get },
    DataCommand { name: "set", lock: Keys, handler: set },
    DataCommand { name: "setnx", lock: Keys, handler: setnx },
    DataCommand { name: "setex", lock: Keys, handler: setex },
    DataCommand { name: "psetex", lock: Keys, handler: psetex },
    DataCommand { name: "getset", lock: Keys, handler: getset },
    DataCommand { name: "getdel", lock: Keys, handler: getdel },
    DataCommand { name: "getex", lock: Keys, handler: getex },
    DataCommand { name: "mget", lock: Keys, handler: mget },
    DataCommand { name: "mset", lock: Keys, handler: mset },
    DataCommand { name: "msetnx", lock: Keys, handler: msetnx },
    DataCommand { name: "incr", lock: Keys, handler: incr },
    DataCommand { name: "decr", lock: Keys, handler: decr },
    DataCommand { name: "incrby", lock: Keys, handler: incrby },
    DataCommand { name: "decrby", lock: Keys, handler: decrby },
    DataCommand { name: "incrbyfloat", lock: Keys, handler: incrbyfloat },
    DataCommand { name: "append", lock: Keys, handler: append },
    DataCommand { name: "strlen", lock: Keys, handler: strlen },
    DataCommand { name: "getrange", lock: Keys, handler: getrange },
    DataCommand { name: "substr", lock: Keys, handler: getrange },
    DataCommand { name: "setrange", lock: Keys, handler: setrange },
];

/// Writes a string (or null) as a bulk reply.
pub fn reply_str(out: &mut ReplyBuf, s: Option<StrRef<'_>>) {
    match s {
        None => out.null(),
        Some(s) => {
            let mut scratch = [0u8; 20];
            out.bulk(s.bytes(&mut scratch));
        }
    }
}

fn get(ctx: &mut Ctx, args: Args) -> CmdResult {
    let out = &mut *ctx.out;
    ctx.db.with_string(args.get(1), Access::Read, |s| reply_str(out, s))
}

/// Options shared by SET and GETEX (Redis's `parseExtendedStringArgumentsOrReply`).
#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// Absolute expiry in ms.
    expire_at: Option<i64>,
}

#[derive(PartialEq)]
enum OptionsFor {
    Set,
    GetEx,
}

fn parse_set_options(
    args: Args,
    from: usize,
    now_ms: i64,
    cmd: OptionsFor,
    name: &str,
) -> Result<SetOptions, CmdError> {
    let mut o = SetOptions::default();
    // The expiry option seen last (its name and argument): repeating the same option
    // is allowed and the last one wins; only that one is parsed, as in Redis.
    let mut expire: Option<(&[u8], &[u8])> = None;
    let set = cmd == OptionsFor::Set;
    let mut i = from;
    while i < args.len() {
        let a = args.get(i);
        let has_next = i + 1 < args.len();
        let other_expire = |kind: &str| expire.is_some_and(|(k, _)| !is(k, kind));
        if is(a, "nx") && !o.xx && set {
            o.nx = true;
        } else if is(a, "xx") && !o.nx && set {
            o.xx = true;
        } else if is(a, "get") && set {
            o.get = true;
        } else if is(a, "keepttl") && !o.persist && expire.is_none() && set {
            o.keepttl = true;
        } else if is(a, "persist") && !set && expire.is_none() && !o.keepttl {
            o.persist = true;
        } else if ["ex", "px", "exat", "pxat"].iter().any(|k| is(a, k) && !other_expire(k))
            && !o.keepttl
            && !o.persist
            && has_next
        {
            expire = Some((a, args.get(i + 1)));
            i += 1;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    if let Some((kind, value)) = expire {
        let seconds = is(kind, "ex") || is(kind, "exat");
        let relative = is(kind, "ex") || is(kind, "px");
        o.expire_at = Some(expire_arg(value, seconds, relative, now_ms, name)?);
    }
    Ok(o)
}

/// Parses an expire argument into an absolute time in ms, with Redis's checks
/// (`getExpireMillisecondsOrReply`).
pub fn expire_arg(a: &[u8], seconds: bool, relative: bool, now_ms: i64, name: &str) -> Result<i64, CmdError> {
    let v = int_arg(a)?;
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(invalid_expire(name));
    }
    let ms = if seconds { v * 1000 } else { v };
    let at = if relative { ms.checked_add(now_ms).ok_or_else(|| invalid_expire(name))? } else { ms };
    if at <= 0 {
        return Err(invalid_expire(name));
    }
    Ok(at)
}

/// The common core of SET, SETNX, SETEX, PSETEX: applies the options, replies, and
/// rewrites the propagated command as Redis 7.0 does (relative expiries become PXAT).
fn set_generic(ctx: &mut Ctx, key: &[u8], value: &[u8], o: &SetOptions, ok_reply: SetReply) -> CmdResult {
    let found = if o.get {
        let out = &mut *ctx.out;
        ctx.db.with_string(key, Access::Read, |s| {
            let found = s.is_some();
            reply_str(out, s);
            found
        })?
    } else {
        ctx.db.exists(key)?
    };
    if (o.nx && found) || (o.xx && !found) {
        if !o.get {
            match ok_reply {
                SetReply::Ok => ctx.out.null(),
                SetReply::Int => ctx.out.int(0),
            }
        }
        return Ok(());
    }
    let expiry = match (o.expire_at, o.keepttl) {
        (Some(t), _) => Expiry::At(t),
        (None, true) => Expiry::Keep,
        (None, false) => Expiry::Clear,
    };
    ctx.db.set(key, NewValue::string(value), expiry)?;
    ctx.db.dirty += 1;
    ctx.db.notify(notify::STRING, "set", key);
    if o.expire_at.is_some() {
        ctx.db.notify(notify::GENERIC, "expire", key);
    }
    if !o.get {
        match ok_reply {
            SetReply::Ok => ctx.out.ok(),
            SetReply::Int => ctx.out.int(1),
        }
    }
    if let Some(t) = o.expire_at {
        let at = redoubt_resp::number::i64_to_vec(t);
        ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([&b"SET"[..], key, value, b"PXAT", &at]));
    }
    Ok(())
}

/// SET ... GET is propagated without its GET arguments (replicas reply to no one).
fn propagate_set_without_get(ctx: &mut Ctx, args: Args) {
    let kept = args.iter().enumerate().filter(|&(i, a)| i < 3 || !is(a, "get")).map(|(_, a)| a);
    ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices(kept));
}

#[derive(Clone, Copy)]
enum SetReply {
    Ok,
    Int,
}

fn set(ctx: &mut Ctx, args: Args) -> CmdResult {
    let o = parse_set_options(args, 3, ctx.db.now_ms, OptionsFor::Set, "set")?;
    let dirty = ctx.db.dirty;
    set_generic(ctx, args.get(1), args.get(2), &o, SetReply::Ok)?;
    if o.get && o.expire_at.is_none() && ctx.db.dirty > dirty {
        propagate_set_without_get(ctx, args);
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx, args: Args) -> CmdResult {
    let o = SetOptions { nx: true, ..Default::default() };
    set_generic(ctx, args.get(1), args.get(2), &o, SetReply::Int)
}

fn setex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let at = expire_arg(args.get(2), true, true, ctx.db.now_ms, "setex")?;
    let o = SetOptions { expire_at: Some(at), ..Default::default() };
    set_generic(ctx, args.get(1), args.get(3), &o, SetReply::Ok)
}

fn psetex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let at = expire_arg(args.get(2), false, true, ctx.db.now_ms, "psetex")?;
    let o = SetOptions { expire_at: Some(at), ..Default::default() };
    set_generic(ctx, args.get(1), args.get(3), &o, SetReply::Ok)
}

fn getset(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, value) = (args.get(1), args.get(2));
    let out = &mut *ctx.out;
    ctx.db.with_string(key, Access::Read, |s| reply_str(out, s))?;
    ctx.db.set(key, NewValue::string(value), Expiry::Clear)?;
    ctx.db.dirty += 1;
    ctx.db.notify(notify::STRING, "set", key);
    ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([&b"SET"[..], key, value]));
    Ok(())
}

fn getdel(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let out = &mut *ctx.out;
    let found = ctx.db.with_string(key, Access::Read, |s| {
        reply_str(out, s);
        s.is_some()
    })?;
    if found {
        ctx.db.delete(key)?;
        ctx.db.dirty += 1;
        ctx.db.notify(notify::GENERIC, "del", key);
        ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([&b"DEL"[..], key]));
    }
    Ok(())
}

fn getex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let o = parse_set_options(args, 2, ctx.db.now_ms, OptionsFor::GetEx, "getex")?;
    let out = &mut *ctx.out;
    let found = ctx.db.with_string(key, Access::Read, |s| {
        reply_str(out, s);
        s.is_some()
    })?;
    if !found {
        return Ok(());
    }
    let db = ctx.db.index;
    if let Some(t) = o.expire_at {
        if t <= ctx.db.now_ms && !ctx.db.engine.knobs.is_replica.load(std::sync::atomic::Ordering::Relaxed) {
            ctx.db.delete(key)?;
            ctx.db.dirty += 1;
            ctx.db.notify(notify::GENERIC, "del", key);
            ctx.db.propagate(db, OwnedArgs::from_slices([&b"DEL"[..], key]));
        } else {
            ctx.db.set_expire(key, Some(t))?;
            ctx.db.dirty += 1;
            ctx.db.notify(notify::GENERIC, "expire", key);
            let at = redoubt_resp::number::i64_to_vec(t);
            ctx.db.propagate(db, OwnedArgs::from_slices([&b"PEXPIREAT"[..], key, &at]));
        }
    } else if o.persist {
        let had = ctx.db.find(key, Access::Peek)?.is_some_and(|e| e.expire_ms().is_some());
        if had {
            ctx.db.set_expire(key, None)?;
            ctx.db.dirty += 1;
            ctx.db.notify(notify::GENERIC, "persist", key);
            ctx.db.propagate(db, OwnedArgs::from_slices([&b"PERSIST"[..], key]));
        }
    }
    Ok(())
}

fn mget(ctx: &mut Ctx, args: Args) -> CmdResult {
    ctx.out.array(args.len() - 1);
    for key in args.iter().skip(1) {
        let e = ctx.db.find(key, Access::Read)?;
        reply_str(ctx.out, e.and_then(|e| e.value().as_str()));
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx, args: Args, nx: bool) -> CmdResult {
    if args.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        return Err(CmdError::Owned(format!("ERR wrong number of arguments for '{name}' command")));
    }
    if nx {
        for i in (1..args.len()).step_by(2) {
            if ctx.db.exists(args.get(i))? {
                ctx.out.int(0);
                return Ok(());
            }
        }
    }
    for i in (1..args.len()).step_by(2) {
        ctx.db.set(args.get(i), NewValue::string(args.get(i + 1)), Expiry::Clear)?;
        ctx.db.notify(notify::STRING, "set", args.get(i));
    }
    ctx.db.dirty += (args.len() as u64 - 1) / 2;
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn mset(ctx: &mut Ctx, args: Args) -> CmdResult {
    mset_generic(ctx, args, false)
}

fn msetnx(ctx: &mut Ctx, args: Args) -> CmdResult {
    mset_generic(ctx, args, true)
}

/// The integer held at `key` (0 when absent); Redis's errors for other values.
fn stored_int(ctx: &mut Ctx, key: &[u8]) -> Result<i64, CmdError> {
    ctx.db.with_string(key, Access::Write, |s| match s {
        None => Ok(0),
        Some(StrRef::Int(i)) => Ok(i),
        Some(StrRef::Embstr(b)) | Some(StrRef::Raw(b)) => redoubt_resp::number::parse_i64(b).ok_or(err::NOT_INTEGER),
    })?
}

fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    let old = stored_int(ctx, key)?;
    let new = old.checked_add(by).ok_or(err::OVERFLOW)?;
    ctx.db.update(key, NewValue::Int(new))?;
    ctx.db.dirty += 1;
    ctx.db.notify(notify::STRING, "incrby", key);
    ctx.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx, args: Args) -> CmdResult {
    incr_by(ctx, args.get(1), 1)
}

fn decr(ctx: &mut Ctx, args: Args) -> CmdResult {
    incr_by(ctx, args.get(1), -1)
}

fn incrby(ctx: &mut Ctx, args: Args) -> CmdResult {
    let by = int_arg(args.get(2))?;
    incr_by(ctx, args.get(1), by)
}

fn decrby(ctx: &mut Ctx, args: Args) -> CmdResult {
    let by = int_arg(args.get(2))?;
    if by == i64::MIN {
        return Err(CmdError::Static("ERR decrement would overflow"));
    }
    incr_by(ctx, args.get(1), -by)
}

fn incrbyfloat(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let current = ctx.db.get_string(key, Access::Write)?;
    let new = longdouble::add(current.as_deref(), args.get(2)).map_err(|e| match e {
        LdError::BadValue | LdError::BadIncrement => err::NOT_FLOAT,
        LdError::NanOrInfinity => CmdError::Static("ERR increment would produce NaN or Infinity"),
    })?;
    // Redis stores the formatted result as is, never as an int-encoded string.
    ctx.db.update(key, NewValue::text(&new))?;
    ctx.db.dirty += 1;
    ctx.db.notify(notify::STRING, "incrbyfloat", key);
    ctx.out.bulk(&new);
    // Replicated as SET with the final value, so replicas never redo float arithmetic.
    ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([&b"SET"[..], key, &new, b"KEEPTTL"]));
    Ok(())
}

/// Checks a string length against `proto-max-bulk-len` (Redis's `checkStringLength`).
pub fn check_len(ctx: &Ctx, len: u64) -> CmdResult {
    if len > ctx.db.engine.knobs.max_string() {
        return Err(err::STRING_TOO_BIG);
    }
    Ok(())
}

/// Applies `f` to the raw (growable) bytes of the string at `key`, converting its
/// encoding to raw first, as Redis's `dbUnshareStringValue` does. The key must exist
/// and hold a string. Returns what `f` returns.
pub fn with_raw<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&mut Vec<u8>) -> R) -> Result<R, CmdError> {
    ctx.db.touch(key);
    let mut entry = ctx.db.find(key, Access::Write)?.ok_or(err::NO_SUCH_KEY)?;
    if let Some(Object::Str(v)) = entry.object_mut() {
        return Ok(f(v));
    }
    let bytes = match entry.value() {
        ValueRef::Str(s) => s.to_vec(),
        ValueRef::Obj(_) => return Err(err::WRONGTYPE),
    };
    ctx.db.update(key, NewValue::raw(bytes))?;
    let mut entry = ctx.db.find(key, Access::Peek)?.ok_or(err::NO_SUCH_KEY)?;
    match entry.object_mut() {
        Some(Object::Str(v)) => Ok(f(v)),
        _ => Err(err::WRONGTYPE),
    }
}

fn append(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, tail) = (args.get(1), args.get(2));
    let len = ctx.db.with_string(key, Access::Write, |s| s.map(|s| s.len()))?;
    let total = match len {
        None => {
            ctx.db.set(key, NewValue::string(tail), Expiry::Clear)?;
            tail.len()
        }
        Some(len) => {
            check_len(ctx, (len + tail.len()) as u64)?;
            with_raw(ctx, key, |v| {
                v.extend_from_slice(tail);
                v.len()
            })?
        }
    };
    ctx.db.dirty += 1;
    ctx.db.notify(notify::STRING, "append", key);
    ctx.out.int(total as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = ctx.db.with_string(args.get(1), Access::Read, |s| s.map_or(0, |s| s.len()))?;
    ctx.out.int(n as i64);
    Ok(())
}

fn getrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut start = int_arg(args.get(2))?;
    let mut end = int_arg(args.get(3))?;
    let out = &mut *ctx.out;
    ctx.db.with_string(args.get(1), Access::Read, |s| {
        let Some(s) = s else { return out.bulk(b"") };
        let mut scratch = [0u8; 20];
        let bytes = s.bytes(&mut scratch);
        let len = bytes.len() as i64;
        if start < 0 && end < 0 && start > end {
            return out.bulk(b"");
        }
        if start < 0 {
            start += len;
        }
        if end < 0 {
            end += len;
        }
        start = start.max(0);
        end = end.max(0);
        if end >= len {
            end = len - 1;
        }
        if start > end || len == 0 {
            out.bulk(b"");
        } else {
            out.bulk(&bytes[start as usize..=end as usize]);
        }
    })
}

fn setrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, value) = (args.get(1), args.get(3));
    let offset = int_arg(args.get(2))?;
    if offset < 0 {
        return Err(CmdError::Static("ERR offset is out of range"));
    }
    let offset = offset as u64;
    let existing = ctx.db.with_string(key, Access::Write, |s| s.map(|s| s.len()))?;
    let new_len = match existing {
        None if value.is_empty() => {
            ctx.out.int(0);
            return Ok(());
        }
        None => {
            check_len(ctx, offset + value.len() as u64)?;
            let mut v = vec![0u8; offset as usize + value.len()];
            v[offset as usize..].copy_from_slice(value);
            let n = v.len();
            ctx.db.set(key, NewValue::raw(v), Expiry::Clear)?;
            n
        }
        Some(len) if value.is_empty() => {
            ctx.out.int(len as i64);
            return Ok(());
        }
        Some(_) => {
            check_len(ctx, offset + value.len() as u64)?;
            with_raw(ctx, key, |v| {
                let end = offset as usize + value.len();
                if v.len() < end {
                    v.resize(end, 0);
                }
                v[offset as usize..end].copy_from_slice(value);
                v.len()
            })?
        }
    };
    ctx.db.dirty += 1;
    ctx.db.notify(notify::STRING, "setrange", key);
    ctx.out.int(new_len as i64);
    Ok(())
}
