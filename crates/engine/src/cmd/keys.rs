//! Generic key commands: DEL, EXISTS, TYPE, RENAME, COPY, MOVE, TOUCH, KEYS, SCAN,
//! RANDOMKEY, OBJECT and the expiry commands.

use redoubt_resp::request::{Args, OwnedArgs};

use super::{int32_arg, int_arg, invalid_expire, is, DataCommand, LockMode};
use crate::clock::{idle_ms, lfu_decayed};
use crate::engine::EvictionPolicy;
use crate::exec::{err, fast_random, Access, CmdError, CmdResult, Ctx};
use crate::glob::glob_match;
use crate::keyspace::{shard_of_slot, SHARDS};
use crate::notify;
use crate::slot::SLOTS;
use crate::value::{StrRef, ValueRef};

use LockMode::{All, Keys, None as Unlocked};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "del", lock: Keys, handler: del },
    DataCommand { name: "unlink", lock: Keys, handler: del },
    DataCommand { name: "exists", lock: Keys, handler: exists },
    DataCommand { name: "type", lock: Keys, handler: type_cmd },
    DataCommand { name: "rename", lock: Keys, handler: rename },
    DataCommand { name: "renamenx", lock: Keys, handler: renamenx },
    DataCommand { name: "copy", lock: Keys, handler: copy },
    DataCommand { name: "move", lock: Keys, handler: move_cmd },
    DataCommand { name: "touch", lock: Keys, handler: touch },
    DataCommand { name: "keys", lock: All, handler: keys },
    DataCommand { name: "scan", lock: Unlocked, handler: scan },
    DataCommand { name: "randomkey", lock: All, handler: randomkey },
    DataCommand { name: "object|encoding", lock: Keys, handler: object_encoding },
    DataCommand { name: "object|freq", lock: Keys, handler: object_freq },
    DataCommand { name: "object|idletime", lock: Keys, handler: object_idletime },
    DataCommand { name: "object|refcount", lock: Keys, handler: object_refcount },
    DataCommand { name: "object|help", lock: Unlocked, handler: object_help },
    DataCommand { name: "expire", lock: Keys, handler: expire },
    DataCommand { name: "pexpire", lock: Keys, handler: pexpire },
    DataCommand { name: "expireat", lock: Keys, handler: expireat },
    DataCommand { name: "pexpireat", lock: Keys, handler: pexpireat },
    DataCommand { name: "ttl", lock: Keys, handler: ttl },
    DataCommand { name: "pttl", lock: Keys, handler: pttl },
    DataCommand { name: "expiretime", lock: Keys, handler: expiretime },
    DataCommand { name: "pexpiretime", lock: Keys, handler: pexpiretime },
    DataCommand { name: "persist", lock: Keys, handler: persist },
];

fn del(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut n = 0;
    for key in args.iter().skip(1) {
        if ctx.db.delete(key)? {
            ctx.db.notify(notify::GENERIC, "del", key);
            n += 1;
        }
    }
    ctx.db.dirty += n;
    ctx.out.int(n as i64);
    Ok(())
}

fn exists(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut n = 0;
    for key in args.iter().skip(1) {
        if ctx.db.find(key, Access::ReadNoTouch)?.is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn touch(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut n = 0;
    for key in args.iter().skip(1) {
        if ctx.db.find(key, Access::Read)?.is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn type_cmd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let name = ctx.db.find(args.get(1), Access::ReadNoTouch)?.map_or("none", |e| e.value().value_type().name());
    ctx.out.simple(name.as_bytes());
    Ok(())
}

/// RENAME and RENAMENX; returns false when NX found the destination taken.
fn rename_generic(ctx: &mut Ctx, args: Args, nx: bool) -> Result<bool, CmdError> {
    let (src, dst) = (args.get(1), args.get(2));
    if !ctx.db.exists(src)? {
        return Err(err::NO_SUCH_KEY);
    }
    if src == dst {
        return Ok(!nx);
    }
    if ctx.db.exists(dst)? {
        if nx {
            return Ok(false);
        }
        ctx.db.delete(dst)?;
    }
    let db = ctx.db.index;
    let entry = ctx.db.take_in(db, src)?.ok_or(err::NO_SUCH_KEY)?;
    ctx.db.put_entry_in(db, entry.rekey(dst))?;
    ctx.db.dirty += 1;
    ctx.db.notify(notify::GENERIC, "rename_from", src);
    ctx.db.notify(notify::GENERIC, "rename_to", dst);
    Ok(true)
}

fn rename(ctx: &mut Ctx, args: Args) -> CmdResult {
    rename_generic(ctx, args, false)?;
    ctx.out.ok();
    Ok(())
}

fn renamenx(ctx: &mut Ctx, args: Args) -> CmdResult {
    let done = rename_generic(ctx, args, true)?;
    ctx.out.int(done as i64);
    Ok(())
}

fn copy(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (src, dst) = (args.get(1), args.get(2));
    let mut dst_db = ctx.db.index;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(args.get(i), "replace") {
            replace = true;
        } else if is(args.get(i), "db") && i + 1 < args.len() {
            let n = int32_arg(args.get(i + 1))?;
            if n < 0 || n as usize >= ctx.db.engine.keyspace.databases() {
                return Err(err::DB_RANGE);
            }
            dst_db = n as usize;
            i += 1;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    if src == dst && dst_db == ctx.db.index {
        return Err(CmdError::Static("ERR source and destination objects are the same"));
    }
    let Some(copy) = ctx.db.find(src, Access::Read)?.map(|e| e.duplicate(dst)) else {
        ctx.out.int(0);
        return Ok(());
    };
    if ctx.db.find_in(dst_db, dst, Access::Write)?.is_some() {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        ctx.db.take_in(dst_db, dst)?;
    }
    ctx.db.put_entry_in(dst_db, copy)?;
    ctx.db.dirty += 1;
    ctx.db.notify_in(dst_db, notify::GENERIC, "copy_to", dst);
    ctx.out.int(1);
    Ok(())
}

fn move_cmd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let target = int32_arg(args.get(2))?;
    if target < 0 || target as usize >= ctx.db.engine.keyspace.databases() {
        return Err(err::DB_RANGE);
    }
    let target = target as usize;
    let src = ctx.db.index;
    if target == src {
        return Err(CmdError::Static("ERR source and destination objects are the same"));
    }
    if !ctx.db.exists(key)? || ctx.db.find_in(target, key, Access::Write)?.is_some() {
        ctx.out.int(0);
        return Ok(());
    }
    let entry = ctx.db.take_in(src, key)?.ok_or(err::NO_SUCH_KEY)?;
    ctx.db.put_entry_in(target, entry)?;
    ctx.db.dirty += 1;
    ctx.db.notify_in(src, notify::GENERIC, "move_from", key);
    ctx.db.notify_in(target, notify::GENERIC, "move_to", key);
    ctx.out.int(1);
    Ok(())
}

fn keys(ctx: &mut Ctx, args: Args) -> CmdResult {
    let pattern = args.get(1);
    let all = pattern == b"*";
    let (db, now) = (ctx.db.index, ctx.db.now_ms);
    let mut found: Vec<Vec<u8>> = Vec::new();
    for shard in 0..SHARDS {
        let Some(part) = ctx.db.shard_part(db, shard) else {
            continue;
        };
        for (_, dict) in part.dicts(shard) {
            for e in dict.iter() {
                if e.expire_ms().is_some_and(|t| now > t) {
                    continue;
                }
                if all || glob_match(pattern, e.key(), false) {
                    found.push(e.key().to_vec());
                }
            }
        }
    }
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// Parses a SCAN cursor as Redis does (`strtoul`: digits, optional sign, nothing else).
pub fn parse_cursor(a: &[u8]) -> Result<u64, CmdError> {
    let bad = CmdError::Static("ERR invalid cursor");
    let (neg, digits) = match a.first() {
        Some(b'-') => (true, &a[1..]),
        Some(b'+') => (false, &a[1..]),
        Some(c) if c.is_ascii_whitespace() => return Err(bad),
        _ => (false, a),
    };
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(bad);
        }
        v = v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as u64)).ok_or(bad.clone())?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN's options, shared with HSCAN/SSCAN/ZSCAN.
pub struct ScanOptions<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

pub fn parse_scan_options<'a>(args: Args<'a>, from: usize, allow_type: bool) -> Result<ScanOptions<'a>, CmdError> {
    let mut o = ScanOptions { count: 10, pattern: None, type_name: None };
    let mut i = from;
    while i < args.len() {
        let has_next = i + 1 < args.len();
        if is(args.get(i), "count") && has_next {
            let n = int_arg(args.get(i + 1))?;
            if n < 1 {
                return Err(err::SYNTAX);
            }
            o.count = n as usize;
        } else if is(args.get(i), "match") && has_next {
            let p = args.get(i + 1);
            o.pattern = if p == b"*" { None } else { Some(p) };
        } else if is(args.get(i), "type") && has_next && allow_type {
            o.type_name = Some(args.get(i + 1));
        } else {
            return Err(err::SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

const SLOT_BITS: u32 = 14;

/// SCAN walks slots in order and, inside a slot, buckets in reverse-binary order; the
/// cursor packs both (`bucket cursor << 14 | slot`), so the guarantee of each slot's
/// table carries over to the whole keyspace. Only the shard of the slot being read is
/// locked, one at a time.
fn scan(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cursor = parse_cursor(args.get(1))?;
    let o = parse_scan_options(args, 2, true)?;
    let (db, now) = (ctx.db.index, ctx.db.now_ms);
    let mut slot = (cursor & (SLOTS as u64 - 1)) as usize;
    let mut inner = cursor >> SLOT_BITS;
    let mut batch: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut visits = o.count.saturating_mul(10);
    let next = loop {
        if slot >= SLOTS {
            break 0;
        }
        let shard = shard_of_slot(slot as u16);
        if !ctx.db.holds(shard) {
            ctx.db.relock_shard(shard);
        }
        batch.clear();
        match ctx.db.slot_dict(db, slot as u16) {
            Some(d) if !d.is_empty() => {
                inner = d.scan(inner, |e| batch.push((e.key().to_vec(), e.expire_ms().is_some_and(|t| now > t))));
                visits = visits.saturating_sub(1);
            }
            _ => inner = 0,
        }
        for (key, expired) in batch.drain(..) {
            // An expired key is deleted on the way, as Redis's SCAN does.
            if expired && ctx.db.find(&key, Access::Peek)?.is_none() {
                continue;
            }
            if o.pattern.is_some_and(|p| !glob_match(p, &key, false)) {
                continue;
            }
            if let Some(t) = o.type_name {
                let ty = ctx.db.find(&key, Access::Peek)?.map(|e| e.value().value_type().name());
                if !ty.is_some_and(|ty| t.eq_ignore_ascii_case(ty.as_bytes())) {
                    continue;
                }
            }
            keys.push(key);
        }
        if inner == 0 {
            slot += 1;
        }
        if keys.len() >= o.count || visits == 0 {
            break if slot >= SLOTS { 0 } else { inner << SLOT_BITS | slot as u64 };
        }
    };
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// A random live key of the selected database, or None if it has none. Expired keys
/// met on the way are deleted (on a master) and another is drawn.
pub fn random_key(ctx: &mut Ctx) -> Result<Option<Vec<u8>>, CmdError> {
    let (db, now) = (ctx.db.index, ctx.db.now_ms);
    for _ in 0..100 {
        let counts: Vec<usize> = (0..SHARDS).map(|s| ctx.db.shard_part(db, s).map_or(0, |p| p.keys())).collect();
        let total: usize = counts.iter().sum();
        if total == 0 {
            return Ok(None);
        }
        let mut pick = (fast_random() % total as u64) as usize;
        let shard = counts
            .iter()
            .position(|&c| {
                if pick < c {
                    true
                } else {
                    pick -= c;
                    false
                }
            })
            .unwrap_or(0);
        let Some(part) = ctx.db.shard_part(db, shard) else {
            continue;
        };
        let dicts: Vec<_> = part.dicts(shard).collect();
        let mut pick = (fast_random() % part.keys().max(1) as u64) as usize;
        let Some((_, dict)) = dicts.iter().find(|(_, d)| {
            if pick < d.len() {
                true
            } else {
                pick -= d.len();
                false
            }
        }) else {
            continue;
        };
        let Some(e) = dict.random(fast_random) else {
            continue;
        };
        let (key, expired) = (e.key().to_vec(), e.expire_ms().is_some_and(|t| now > t));
        if !expired || ctx.db.find(&key, Access::Peek)?.is_some() {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

fn randomkey(ctx: &mut Ctx, _args: Args) -> CmdResult {
    match random_key(ctx)? {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Looks up the key of an OBJECT subcommand; replies null and returns None if absent.
fn object_target<'c>(ctx: &'c mut Ctx, args: Args) -> Result<Option<crate::entry::EntryMut<'c>>, CmdError> {
    let e = ctx.db.find(args.get(2), Access::ReadQuiet)?;
    if e.is_none() {
        ctx.out.null();
    }
    Ok(e)
}

fn object_encoding(ctx: &mut Ctx, args: Args) -> CmdResult {
    let Some(enc) = ctx.db.find(args.get(2), Access::ReadQuiet)?.map(|e| e.value().encoding()) else {
        ctx.out.null();
        return Ok(());
    };
    ctx.out.bulk(enc.as_bytes());
    Ok(())
}

const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

fn object_freq(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (now, decay) = (ctx.db.now_ms, ctx.db.engine.knobs.lfu_decay_time.load(std::sync::atomic::Ordering::Relaxed));
    let lfu = ctx.db.engine.knobs.policy().is_lfu();
    let Some(lru) = object_target(ctx, args)?.map(|e| e.lru()) else {
        return Ok(());
    };
    if !lfu {
        return Err(CmdError::Static(LFU_NOT_SELECTED));
    }
    ctx.out.int(lfu_decayed(lru, now, decay) as i64);
    Ok(())
}

fn object_idletime(ctx: &mut Ctx, args: Args) -> CmdResult {
    let now = ctx.db.now_ms;
    let lfu = ctx.db.engine.knobs.policy().is_lfu();
    let Some(lru) = object_target(ctx, args)?.map(|e| e.lru()) else {
        return Ok(());
    };
    if lfu {
        return Err(CmdError::Static(LFU_SELECTED));
    }
    ctx.out.int((idle_ms(lru, now) / 1000) as i64);
    Ok(())
}

/// Redis shares the objects of the integers 0..10000 (refcount INT_MAX) unless an
/// LRU/LFU maxmemory policy needs a clock per key; everything else has refcount 1.
fn object_refcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    let knobs = &ctx.db.engine.knobs;
    let policy = knobs.policy();
    let shares = knobs.maxmemory.load(std::sync::atomic::Ordering::Relaxed) == 0
        || !(policy.is_lfu() || matches!(policy, EvictionPolicy::AllkeysLru | EvictionPolicy::VolatileLru));
    let Some(value) = object_target(ctx, args)?.map(|e| e.value()) else {
        return Ok(());
    };
    let shared = shares && matches!(value, ValueRef::Str(StrRef::Int(i)) if (0..10000).contains(&i));
    ctx.out.int(if shared { i32::MAX as i64 } else { 1 });
    Ok(())
}

fn object_help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    super::help_reply(
        ctx.out,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    The internal representation of the value at <key> (int, embstr, raw, ...).",
            "FREQ <key>",
            "    The access-frequency counter of <key> (needs an LFU maxmemory-policy).",
            "IDLETIME <key>",
            "    Seconds since <key> was last accessed (needs a non-LFU maxmemory-policy).",
            "REFCOUNT <key>",
            "    The number of references to the value at <key>.",
        ],
    );
    Ok(())
}

/// EXPIRE's NX/XX/GT/LT options.
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn expire_flags(args: Args) -> Result<ExpireFlags, CmdError> {
    let mut f = ExpireFlags::default();
    for a in args.iter().skip(3) {
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else {
            return Err(CmdError::Owned(format!("ERR Unsupported option {}", String::from_utf8_lossy(a))));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(CmdError::Static("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if f.gt && f.lt {
        return Err(CmdError::Static("ERR GT and LT options at the same time are not compatible"));
    }
    Ok(f)
}

/// The EXPIRE family (Redis's `expireGenericCommand`): `base_ms` is 0 for absolute
/// times; the change is propagated as PEXPIREAT, or as DEL when already in the past.
fn expire_generic(ctx: &mut Ctx, args: Args, base_ms: i64, seconds: bool, name: &str) -> CmdResult {
    let key = args.get(1);
    let flags = expire_flags(args)?;
    let mut when = int_arg(args.get(2))?;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(invalid_expire(name));
        }
        when *= 1000;
    }
    if when > i64::MAX - base_ms {
        return Err(invalid_expire(name));
    }
    when += base_ms;
    let Some(current) = ctx.db.find(key, Access::Write)?.map(|e| e.expire_ms()) else {
        ctx.out.int(0);
        return Ok(());
    };
    let refused = (flags.nx && current.is_some())
        || (flags.xx && current.is_none())
        || (flags.gt && current.is_none_or(|c| when <= c))
        || (flags.lt && current.is_some_and(|c| when >= c));
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    let replica = ctx.db.engine.knobs.is_replica.load(std::sync::atomic::Ordering::Relaxed);
    let db = ctx.db.index;
    if when <= ctx.db.now_ms && !replica {
        ctx.db.delete(key)?;
        ctx.db.notify(notify::GENERIC, "del", key);
        let verb: &[u8] = if ctx.db.engine.knobs.lazyfree_lazy_expire.load(std::sync::atomic::Ordering::Relaxed) {
            b"UNLINK"
        } else {
            b"DEL"
        };
        ctx.db.propagate(db, OwnedArgs::from_slices([verb, key]));
    } else {
        ctx.db.set_expire(key, Some(when))?;
        ctx.db.notify(notify::GENERIC, "expire", key);
        let mut a = OwnedArgs::from_slices([&b"PEXPIREAT"[..], key, when.to_string().as_bytes()]);
        args.iter().skip(3).for_each(|x| a.push(x));
        ctx.db.propagate(db, a);
    }
    ctx.db.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, args: Args) -> CmdResult {
    let now = ctx.db.now_ms;
    expire_generic(ctx, args, now, true, "expire")
}

fn pexpire(ctx: &mut Ctx, args: Args) -> CmdResult {
    let now = ctx.db.now_ms;
    expire_generic(ctx, args, now, false, "pexpire")
}

fn expireat(ctx: &mut Ctx, args: Args) -> CmdResult {
    expire_generic(ctx, args, 0, true, "expireat")
}

fn pexpireat(ctx: &mut Ctx, args: Args) -> CmdResult {
    expire_generic(ctx, args, 0, false, "pexpireat")
}

/// TTL and friends: -2 for a missing key, -1 without expiry.
fn ttl_generic(ctx: &mut Ctx, args: Args, ms: bool, absolute: bool) -> CmdResult {
    let now = ctx.db.now_ms;
    let reply = match ctx.db.find(args.get(1), Access::ReadNoTouch)?.map(|e| e.expire_ms()) {
        None => -2,
        Some(None) => -1,
        Some(Some(at)) => {
            let t = if absolute { at } else { (at - now).max(0) };
            if ms {
                t
            } else {
                (t + 500) / 1000
            }
        }
    };
    ctx.out.int(reply);
    Ok(())
}

fn ttl(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, false, false)
}

fn pttl(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, true, false)
}

fn expiretime(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, true, true)
}

fn persist(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let had = ctx.db.find(key, Access::Write)?.is_some_and(|e| e.expire_ms().is_some());
    if had {
        ctx.db.set_expire(key, None)?;
        ctx.db.dirty += 1;
        ctx.db.notify(notify::GENERIC, "persist", key);
    }
    ctx.out.int(had as i64);
    Ok(())
}
