//! HyperLogLog: PFADD, PFCOUNT, PFMERGE, on strings in Redis's own HLL format, so
//! that GET, DUMP and an RDB of one mean the same thing in Redis and here.
//!
//! - [`repr`]: the header, the dense registers, the hash and the estimator;
//! - [`sparse`]: the run-length coded sparse encoding, updated as Redis updates it.
//!
//! An HLL is an ordinary string: it is changed in place in its `raw` buffer (an
//! `embstr` value, such as one written back by SET or RESTORE, is made `raw` first,
//! as Redis's `dbUnshareStringValue` does). Even PFCOUNT writes: it stores the count it computed in the header, and
//! then, as in Redis, it counts as a change and is propagated (so replicas hold the
//! same bytes).
//!
//! PFDEBUG and PFSELFTEST are not implemented.

mod repr;
mod sparse;

use std::sync::atomic::Ordering::Relaxed;

use redoubt_resp::request::Args;

use super::{DataCommand, LockMode::Keys};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx, Db, Expiry};
use crate::notify;
use crate::value::{NewValue, Object, StrRef, ValueRef};
use repr::{Encoding, Invalid, REGISTERS};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "pfadd", lock: Keys, handler: pfadd },
    DataCommand { name: "pfcount", lock: Keys, handler: pfcount },
    DataCommand { name: "pfmerge", lock: Keys, handler: pfmerge },
];

/// Redis's reply for a string that is not an HLL.
const NOT_HLL: CmdError = CmdError::Static("WRONGTYPE Key is not a valid HyperLogLog string value.");
/// Redis's reply for an HLL whose sparse opcodes are corrupt.
const CORRUPT: CmdError = CmdError::Static("INVALIDOBJ Corrupted HLL object detected");

impl From<Invalid> for CmdError {
    fn from(e: Invalid) -> CmdError {
        match e {
            Invalid::NotHll => NOT_HLL,
            Invalid::Corrupt => CORRUPT,
        }
    }
}

/// The bytes of a value that must be an HLL, with its encoding (Redis's
/// `isHLLObjectOrReply`): WRONGTYPE for another type, the HLL error for a string
/// that is not one (an `int`-encoded string never is).
fn hll_bytes(v: ValueRef<'_>) -> Result<(&[u8], Encoding), CmdError> {
    match v.as_str() {
        None => Err(err::WRONGTYPE),
        Some(StrRef::Int(_)) => Err(NOT_HLL),
        Some(StrRef::Embstr(b) | StrRef::Raw(b)) => Ok((b, repr::check(b)?)),
    }
}

/// The `raw` buffer of the HLL at `key` (None if the key is missing), looked up with
/// `access` and checked as [`hll_bytes`] checks it; an `embstr` value is made `raw`
/// first. Only a conversion counts as touching the key; a caller that changes the
/// bytes touches it itself.
fn hll_buffer<'d>(db: &'d mut Db<'_>, key: &[u8], access: Access) -> Result<Option<&'d mut Vec<u8>>, CmdError> {
    let copy = match db.find(key, access)? {
        None => return Ok(None),
        Some(e) => {
            let (bytes, _) = hll_bytes(e.value())?;
            match e.value() {
                ValueRef::Obj(Object::Str(_)) => None,
                _ => Some(bytes.to_vec()),
            }
        }
    };
    if let Some(bytes) = copy {
        db.set(key, NewValue::raw(bytes), Expiry::Keep)?;
    }
    match db.find(key, Access::Peek)?.and_then(|mut e| e.object_mut()) {
        Some(Object::Str(v)) => Ok(Some(v)),
        _ => Err(err::WRONGTYPE),
    }
}

/// Raises register `index` of a validated HLL string to `count`, in whichever
/// encoding it has; true if it changed.
fn raise(hll: &mut Vec<u8>, index: usize, count: u8, sparse_max_bytes: usize) -> Result<bool, Invalid> {
    match repr::encoding(hll) {
        Encoding::Dense => Ok(repr::dense_raise(hll, index, count)),
        Encoding::Sparse => sparse::set(hll, index, count, sparse_max_bytes),
    }
}

fn sparse_max_bytes(ctx: &Ctx) -> usize {
    ctx.db.engine.knobs.hll_sparse_max_bytes.load(Relaxed)
}

/// PFADD key [element ...]: 1 if the key was created or a register changed.
fn pfadd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let max_bytes = sparse_max_bytes(ctx);
    let mut updated = 0u64;
    if !ctx.db.exists(key)? {
        ctx.db.set(key, NewValue::raw(repr::new_sparse()), Expiry::Clear)?;
        updated += 1;
    }
    let hll = hll_buffer(ctx.db, key, Access::Peek)?.ok_or(err::NO_SUCH_KEY)?;
    for element in args.iter().skip(2) {
        let (index, count) = repr::register_of(element);
        // On corruption the registers already raised stay raised, unannounced and
        // unpropagated, as in Redis.
        if raise(hll, index, count, max_bytes)? {
            updated += 1;
        }
    }
    if updated > 0 {
        repr::invalidate_cache(hll);
        ctx.db.touch(key);
        ctx.db.notify(notify::STRING, "pfadd", key);
        ctx.db.dirty += updated;
    }
    ctx.out.int((updated > 0) as i64);
    Ok(())
}

/// PFCOUNT key [key ...]: the estimate for one key (cached in its header), or for
/// the union of several (computed, stored nowhere).
fn pfcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    if args.len() > 2 {
        let mut max = Box::new([0u8; REGISTERS]);
        union_into(ctx, args.iter().skip(1), &mut max)?;
        ctx.out.int(repr::estimate(&repr::raw_histogram(&max)) as i64);
        return Ok(());
    }
    let key = args.get(1);
    let Some(hll) = hll_buffer(ctx.db, key, Access::Read)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let count = match repr::cached_count(hll) {
        Some(c) => c,
        None => {
            let c = repr::estimate(&repr::histogram(hll)?);
            repr::set_cached_count(hll, c);
            // The bytes changed: WATCH sees it, and replicas get the same cache.
            ctx.db.touch(key);
            ctx.db.dirty += 1;
            c
        }
    };
    ctx.out.int(count as i64);
    Ok(())
}

/// Raises `max`'s registers to those of every HLL in `keys` (absent keys count as
/// empty); returns whether any of them is dense.
fn union_into<'k>(
    ctx: &mut Ctx,
    keys: impl Iterator<Item = &'k [u8]>,
    max: &mut [u8; REGISTERS],
) -> Result<bool, CmdError> {
    let mut any_dense = false;
    for key in keys {
        let Some(e) = ctx.db.find(key, Access::Read)? else { continue };
        let (bytes, encoding) = hll_bytes(e.value())?;
        any_dense |= encoding == Encoding::Dense;
        repr::merge_into(max, bytes)?;
    }
    Ok(any_dense)
}

/// PFMERGE destkey [sourcekey ...]: the union of all of them, destkey included, into
/// destkey (dense if any input is).
fn pfmerge(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let mut max = Box::new([0u8; REGISTERS]);
    let use_dense = union_into(ctx, args.iter().skip(1), &mut max)?;
    if !ctx.db.exists(key)? {
        ctx.db.set(key, NewValue::raw(repr::new_sparse()), Expiry::Clear)?;
    }
    let max_bytes = sparse_max_bytes(ctx);
    let hll = hll_buffer(ctx.db, key, Access::Peek)?.ok_or(err::NO_SUCH_KEY)?;
    if use_dense {
        repr::to_dense(hll)?;
    }
    for (index, &count) in max.iter().enumerate() {
        if count > 0 {
            // The destination's opcodes were validated by the union above, so this
            // cannot fail; Redis ignores the outcome too.
            let _ = raise(hll, index, count, max_bytes);
        }
    }
    repr::invalidate_cache(hll);
    ctx.db.touch(key);
    ctx.db.notify(notify::STRING, "pfadd", key);
    ctx.db.dirty += 1;
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use redoubt_resp::request::OwnedArgs;
    use redoubt_resp::Protocol;

    use crate::cmd::registry::tests::{run, run_owned};
    use crate::cmd::registry::Registry;
    use crate::Engine;

    #[test]
    fn add_count_merge() {
        let engine = Engine::new(16);
        let reg = Registry::new();
        assert_eq!(run(&engine, &reg, &["PFADD", "h", "a", "b", "c"]), ":1\r\n");
        assert_eq!(run(&engine, &reg, &["PFADD", "h", "a"]), ":0\r\n");
        assert_eq!(run(&engine, &reg, &["PFCOUNT", "h"]), ":3\r\n");
        let get = OwnedArgs::from_slices([&b"GET"[..], b"h"]);
        assert_eq!(
            run_owned(&engine, &reg, Protocol::Resp2, &get),
            b"$27\r\nHYLL\x01\0\0\0\x03\0\0\0\0\0\0\0`\xf3\x80P\xb1\x84K\xfb\x80BZ\r\n"
        );
        assert_eq!(run(&engine, &reg, &["PFADD", "g", "c", "d"]), ":1\r\n");
        assert_eq!(run(&engine, &reg, &["PFCOUNT", "h", "g", "missing"]), ":4\r\n");
        assert_eq!(run(&engine, &reg, &["PFMERGE", "u", "h", "g"]), "+OK\r\n");
        assert_eq!(run(&engine, &reg, &["PFCOUNT", "u"]), ":4\r\n");
        assert_eq!(run(&engine, &reg, &["PFCOUNT", "missing"]), ":0\r\n");
        assert_eq!(run(&engine, &reg, &["PFADD", "empty"]), ":1\r\n");
        assert_eq!(run(&engine, &reg, &["PFADD", "empty"]), ":0\r\n");
    }

    #[test]
    fn errors() {
        let engine = Engine::new(16);
        let reg = Registry::new();
        run(&engine, &reg, &["SET", "s", "not an hll at all"]);
        run(&engine, &reg, &["SET", "i", "12345"]);
        let not_hll = "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n";
        assert_eq!(run(&engine, &reg, &["PFADD", "s", "a"]), not_hll);
        assert_eq!(run(&engine, &reg, &["PFCOUNT", "i"]), not_hll);
        assert_eq!(run(&engine, &reg, &["PFMERGE", "d", "s"]), not_hll);
        // Sparse opcodes covering 64 registers only.
        let set = OwnedArgs::from_slices([&b"SET"[..], b"c", b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x3f"]);
        run_owned(&engine, &reg, Protocol::Resp2, &set);
        let corrupt = "-INVALIDOBJ Corrupted HLL object detected\r\n";
        assert_eq!(run(&engine, &reg, &["PFCOUNT", "c"]), corrupt);
        assert_eq!(run(&engine, &reg, &["PFCOUNT", "c", "c"]), corrupt);
        assert_eq!(run(&engine, &reg, &["PFMERGE", "d", "c"]), corrupt);
        assert_eq!(run(&engine, &reg, &["EXISTS", "d"]), ":0\r\n");
    }
}
