//! DUMP and RESTORE: a value as Redis's serialized payload and back.
//!
//! The payload is an RDB value (type byte and body), the RDB version (2 bytes, little
//! endian) and a CRC-64 of all that (8 bytes). The RDB format lives in
//! `redoubt-persist`, which this crate must not depend on, so the server installs it as
//! a [`PayloadCodec`] at start-up; the commands here keep Redis's argument handling,
//! error order, expiry and propagation rules.

use redoubt_resp::request::{Args, OwnedArgs};

use super::{int_arg, is, DataCommand, LockMode::Keys};
use crate::clock::{lru_clock, LRU_CLOCK_MAX};
use crate::entry::Entry;
use crate::exec::{err, Access, CmdError, CmdResult, Ctx};
use crate::notify;
use crate::value::ValueRef;
use crate::Knobs;

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "dump", lock: Keys, handler: dump },
    DataCommand { name: "restore", lock: Keys, handler: restore },
];

/// The serializer behind DUMP and RESTORE.
pub trait PayloadCodec: Send + Sync {
    /// The payload of a value.
    fn dump(&self, v: ValueRef<'_>) -> Vec<u8>;

    /// Checks a payload's version and checksum and decodes it into an entry for
    /// `key` with `expire_ms` and clock `lru`; the error is Redis's reply
    /// ("ERR DUMP payload version or checksum are wrong", "ERR Bad data format").
    fn restore(
        &self,
        payload: &[u8],
        key: &[u8],
        expire_ms: Option<i64>,
        lru: u32,
        knobs: &Knobs,
    ) -> Result<Entry, CmdError>;
}

fn codec<'e>(ctx: &Ctx<'_, 'e, '_>) -> Result<&'e dyn PayloadCodec, CmdError> {
    ctx.db.engine.codec.get().map(|c| &**c).ok_or(CmdError::Static("ERR DUMP/RESTORE are not available in this build"))
}

fn dump(ctx: &mut Ctx, args: Args) -> CmdResult {
    let c = codec(ctx)?;
    match ctx.db.find(args.get(1), Access::Read)? {
        None => ctx.out.null(),
        Some(e) => {
            let payload = c.dump(e.value());
            ctx.out.bulk(&payload);
        }
    }
    Ok(())
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let c = codec(ctx)?;
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let a = args.get(j);
        let more = args.len() - j - 1;
        if is(a, "replace") {
            replace = true;
        } else if is(a, "absttl") {
            absttl = true;
        } else if is(a, "idletime") && more >= 1 && freq.is_none() {
            let v = int_arg(args.get(j + 1))?;
            if v < 0 {
                return Err(CmdError::Static("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if is(a, "freq") && more >= 1 && idle.is_none() {
            let v = int_arg(args.get(j + 1))?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::Static("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    let key = args.get(1);
    if !replace && ctx.db.exists(key)? {
        return Err(CmdError::Static("BUSYKEY Target key name already exists."));
    }
    let ttl = int_arg(args.get(2))?;
    if ttl < 0 {
        return Err(CmdError::Static("ERR Invalid TTL value, must be >= 0"));
    }
    let now = ctx.db.now_ms;
    let expire = (ttl > 0).then(|| if absttl { ttl } else { ttl.saturating_add(now) });
    let clock = restored_clock(ctx, idle, freq);
    let entry = c.restore(args.get(3), key, expire, clock, &ctx.db.engine.knobs)?;
    let deleted = replace && ctx.db.delete(key)?;
    let replica = ctx.db.engine.knobs.is_replica.load(std::sync::atomic::Ordering::Relaxed);
    if expire.is_some_and(|t| t <= now) && !replica {
        // Already expired: nothing is created; a replaced key is simply gone.
        if deleted {
            ctx.db.propagate(ctx.db.index, OwnedArgs::from_slices([&b"DEL"[..], key]));
            ctx.db.notify(notify::GENERIC, "del", key);
            ctx.db.dirty += 1;
        } else {
            ctx.db.propagate_nothing();
        }
        ctx.out.ok();
        return Ok(());
    }
    ctx.db.put_entry_in(ctx.db.index, entry)?;
    if let (Some(t), false) = (expire, absttl) {
        // Replicas and the AOF get the absolute time, so a later replay agrees.
        let mut rewritten = OwnedArgs::default();
        for (i, a) in args.iter().enumerate() {
            if i == 2 {
                rewritten.push(t.to_string().as_bytes());
            } else {
                rewritten.push(a);
            }
        }
        rewritten.push(b"ABSTTL");
        ctx.db.propagate(ctx.db.index, rewritten);
    }
    ctx.db.notify(notify::GENERIC, "restore", key);
    ctx.db.dirty += 1;
    ctx.out.ok();
    Ok(())
}

/// The clock of a restored key (`objectSetLRUOrLFU`): FREQ under an LFU policy,
/// IDLETIME under any other, else a fresh clock.
fn restored_clock(ctx: &Ctx, idle: Option<i64>, freq: Option<i64>) -> u32 {
    let now = ctx.db.now_ms;
    if ctx.db.engine.knobs.policy().is_lfu() {
        if let Some(f) = freq {
            return (ctx.db.new_clock() & !0xff) | f as u32;
        }
    } else if let Some(s) = idle {
        let clock = lru_clock(now) as i64;
        let abs = clock - s.min(LRU_CLOCK_MAX as i64);
        return if abs < 0 { (abs + LRU_CLOCK_MAX as i64) as u32 } else { abs as u32 };
    }
    ctx.db.new_clock()
}
