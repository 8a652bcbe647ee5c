//! The bitmap family: SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP (BITFIELD, which
//! shares the helpers here, lives in [`super::bitfield`]).
//!
//! A bitmap is a plain string read as bits, bit 0 being the most significant bit of
//! the first byte, as in Redis. An absent key reads as an endless run of zeros; a write
//! past the end pads the string with zero bytes and leaves it `raw`-encoded, like
//! Redis's `lookupStringForBitCommand`.
//!
//! Argument checks and lookups happen in exactly Redis 7.0's order, because the order
//! decides which error (or which reply for a missing key) a client sees.

use redoubt_resp::number::parse_i64;
use redoubt_resp::request::Args;

use super::string::with_raw;
use super::{int_arg, is, DataCommand, LockMode::Keys};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx, Db, Expiry};
use crate::value::NewValue;

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "setbit", lock: Keys, handler: setbit },
    DataCommand { name: "getbit", lock: Keys, handler: getbit },
    DataCommand { name: "bitcount", lock: Keys, handler: bitcount },
    DataCommand { name: "bitpos", lock: Keys, handler: bitpos },
    DataCommand { name: "bitop", lock: Keys, handler: bitop },
];

const BIT_OFFSET_ERR: CmdError = CmdError::Static("ERR bit offset is not an integer or out of range");
const BIT_VALUE_ERR: CmdError = CmdError::Static("ERR bit is not an integer or out of range");
const BIT_ARG_ERR: CmdError = CmdError::Static("ERR The bit argument must be 1 or 0.");
const BITOP_NOT_ERR: CmdError = CmdError::Static("ERR BITOP NOT must be called with a single source key.");

/* ---------------------------------------------------------------------------------
 * Helpers shared with BITFIELD
 * ------------------------------------------------------------------------------ */

/// Parses a bit offset the way Redis's `getBitOffsetFromArgument` does. With
/// `field_bits`, a `#n` offset means "the n-th field of that width" (BITFIELD).
///
/// The offset must be non-negative and address a byte below `max_bytes`
/// (proto-max-bulk-len), which bounds every allocation a bit write can cause.
/// `#n` is multiplied with wrapping arithmetic on purpose: Redis multiplies a C `long
/// long` and relies on two's complement wrap-around, so `#6148914691236517206` with
/// width 3 really is offset 2 there, and a huge `#n` usually wraps negative and fails.
pub(super) fn bit_offset(arg: &[u8], field_bits: Option<u32>, max_bytes: u64) -> Result<u64, CmdError> {
    let (digits, scale) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits).ok_or(BIT_OFFSET_ERR)?.wrapping_mul(scale);
    if offset < 0 || (offset >> 3) as u64 >= max_bytes {
        return Err(BIT_OFFSET_ERR);
    }
    Ok(offset as u64)
}

/// Runs `f` on the bytes of the string at `key` (read access; `None` when absent).
/// WRONGTYPE for another type, before `f` runs, so `f` may start a reply.
pub(super) fn read_bitmap<R>(db: &mut Db, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, CmdError> {
    db.with_string(key, Access::Read, |s| match s {
        None => f(None),
        Some(s) => {
            let mut scratch = [0u8; 20];
            f(Some(s.bytes(&mut scratch)))
        }
    })
}

/// Runs `f` on the string at `key` made at least `min_len` bytes long, creating it (zero
/// filled) or padding it with zeros as needed, in the `raw` encoding. Returns what `f`
/// returns and whether the string was created or grew: Redis counts a grown string as
/// a change even when no bit flipped.
///
/// The caller has bounded `min_len` through [`bit_offset`]; an allocation that still
/// fails (proto-max-bulk-len set very high) is an OOM error, not an abort. Growth is
/// amortised, so setting bits one past the end again and again stays linear.
pub(super) fn with_bitmap<R>(
    ctx: &mut Ctx,
    key: &[u8],
    min_len: usize,
    f: impl FnOnce(&mut Vec<u8>) -> R,
) -> Result<(R, bool), CmdError> {
    let exists = ctx.db.with_string(key, Access::Write, |s| s.is_some())?;
    if !exists {
        let mut v = Vec::new();
        v.try_reserve_exact(min_len).map_err(|_| err::OOM)?;
        v.resize(min_len, 0);
        ctx.db.set(key, NewValue::raw(v), Expiry::Clear)?;
    }
    with_raw(ctx, key, |v| {
        let grew = !exists || v.len() < min_len;
        if v.len() < min_len {
            v.try_reserve(min_len - v.len()).map_err(|_| err::OOM)?;
            v.resize(min_len, 0);
        }
        Ok((f(v), grew))
    })?
}

/// The mask of bit `offset` within its byte (bit 0 is the most significant).
fn bit_mask(offset: u64) -> u8 {
    0x80 >> (offset & 7)
}

/* ---------------------------------------------------------------------------------
 * SETBIT, GETBIT
 * ------------------------------------------------------------------------------ */

/// The value argument of SETBIT: exactly `0` or `1`.
fn bit_value(arg: &[u8]) -> Result<bool, CmdError> {
    match parse_i64(arg) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(BIT_VALUE_ERR),
    }
}

/// SETBIT key offset value: replies the old bit. Only a flipped bit or a grown string
/// counts as a change (and so is propagated), as in Redis 7.0.15.
fn setbit(ctx: &mut Ctx, args: Args) -> CmdResult {
    let offset = bit_offset(args.get(2), None, ctx.db.engine.knobs.max_string())?;
    let on = bit_value(args.get(3))?;
    let (byte, mask) = ((offset >> 3) as usize, bit_mask(offset));
    let (old, grew) = with_bitmap(ctx, args.get(1), byte + 1, |v| {
        let old = v[byte] & mask != 0;
        if on {
            v[byte] |= mask;
        } else {
            v[byte] &= !mask;
        }
        old
    })?;
    if grew || old != on {
        ctx.db.dirty += 1;
        ctx.db.notify(crate::notify::STRING, "setbit", args.get(1));
    }
    ctx.out.int(i64::from(old));
    Ok(())
}

/// GETBIT key offset: bits past the end (or of a missing key) are 0.
fn getbit(ctx: &mut Ctx, args: Args) -> CmdResult {
    let offset = bit_offset(args.get(2), None, ctx.db.engine.knobs.max_string())?;
    let byte = (offset >> 3) as usize;
    let bit =
        read_bitmap(ctx.db, args.get(1), |s| s.and_then(|s| s.get(byte)).is_some_and(|b| b & bit_mask(offset) != 0))?;
    ctx.out.int(i64::from(bit));
    Ok(())
}

/* ---------------------------------------------------------------------------------
 * Ranges: BITCOUNT and BITPOS
 * ------------------------------------------------------------------------------ */

/// The unit of a BITCOUNT/BITPOS range (Redis 7.0 added BIT; BYTE is the default).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Unit {
    Byte,
    Bit,
}

fn parse_unit(arg: &[u8]) -> Result<Unit, CmdError> {
    if is(arg, "bit") {
        Ok(Unit::Bit)
    } else if is(arg, "byte") {
        Ok(Unit::Byte)
    } else {
        Err(err::SYNTAX)
    }
}

/// Resolves a `start end` range in `unit` over a string of `len` bytes into an
/// inclusive range of bit positions, or `None` when it is empty. Negative indexes count
/// from the end; both ends are then clamped into the string, as Redis does.
fn bit_range(start: i64, end: i64, unit: Unit, len: usize) -> Option<(u64, u64)> {
    let total = match unit {
        Unit::Byte => len as i64,
        Unit::Bit => len as i64 * 8,
    };
    // `total` is at most a few billion, so adding it to any i64 below 0 cannot overflow.
    let start = if start < 0 { start + total } else { start }.max(0);
    let end = if end < 0 { end + total } else { end }.max(0).min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(match unit {
        Unit::Byte => (start * 8, end * 8 + 7),
        Unit::Bit => (start, end),
    })
}

/// The bits of `byte_index` that fall inside the inclusive bit range `first..=last`.
fn range_mask(byte_index: usize, first: u64, last: u64) -> u8 {
    let mut mask = 0xffu8;
    if byte_index as u64 == first / 8 {
        mask &= 0xff >> (first % 8);
    }
    if byte_index as u64 == last / 8 {
        mask &= 0xff << (7 - last % 8);
    }
    mask
}

/// Counts the set bits of `bytes`, eight bytes at a time.
fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = chunks
        .by_ref()
        .map(|c| u64::from(u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]).count_ones()))
        .sum();
    n += chunks.remainder().iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
    n
}

/// Counts the set bits at positions `first..=last` (which lie inside `bytes`).
fn count_bits(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    let edge = |i: usize| u64::from((bytes[i] & range_mask(i, first, last)).count_ones());
    if fb == lb {
        return edge(fb);
    }
    edge(fb) + popcount(&bytes[fb + 1..lb]) + edge(lb)
}

/// The position of the first bit equal to `bit` among positions `first..=last` (which
/// lie inside `bytes`), skipping whole words that cannot hold one.
fn find_bit(bytes: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    // Flip the bytes when looking for a 0, so that the search is always for a 1.
    let flip = if bit { 0 } else { 0xff };
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    let hit = |i: usize| {
        let b = (bytes[i] ^ flip) & range_mask(i, first, last);
        (b != 0).then(|| i as u64 * 8 + u64::from(b.leading_zeros()))
    };
    if let Some(pos) = hit(fb) {
        return Some(pos);
    }
    if lb > fb + 1 {
        let middle = &bytes[fb + 1..lb];
        let skip_word = u64::from_ne_bytes([flip; 8]);
        let words = middle
            .chunks_exact(8)
            .position(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) != skip_word);
        let from = words.map_or(middle.len() / 8 * 8, |w| w * 8);
        if let Some(i) = middle[from..].iter().position(|&b| b != flip) {
            return hit(fb + 1 + from + i);
        }
    }
    if lb > fb {
        return hit(lb);
    }
    None
}

/// BITCOUNT key [start end [BYTE|BIT]]. In Redis 7.0 the key is looked up first, so a
/// missing key answers 0 whatever the other arguments are.
fn bitcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = read_bitmap(ctx.db, args.get(1), |s| -> Result<u64, CmdError> {
        let Some(s) = s else { return Ok(0) };
        let (start, end, unit) = match args.len() {
            2 => (0, -1, Unit::Byte),
            4 | 5 => {
                let (start, end) = (int_arg(args.get(2))?, int_arg(args.get(3))?);
                // Redis answers this one before it looks at the unit argument.
                if start < 0 && end < 0 && start > end {
                    return Ok(0);
                }
                let unit = if args.len() == 5 { parse_unit(args.get(4))? } else { Unit::Byte };
                (start, end, unit)
            }
            _ => return Err(err::SYNTAX),
        };
        Ok(bit_range(start, end, unit, s.len()).map_or(0, |(first, last)| count_bits(s, first, last)))
    })??;
    ctx.out.int(n as i64);
    Ok(())
}

/// The range arguments of BITPOS, parsed in Redis's order (start, unit, end), over a
/// string of `len` bytes. Returns the bit range (`None` if empty) and whether an end
/// was given.
fn bitpos_range(args: Args, len: usize) -> Result<(Option<(u64, u64)>, bool), CmdError> {
    if args.len() == 3 {
        return Ok((bit_range(0, -1, Unit::Byte, len), false));
    }
    if args.len() > 6 {
        return Err(err::SYNTAX);
    }
    let start = int_arg(args.get(3))?;
    let unit = if args.len() == 6 { parse_unit(args.get(5))? } else { Unit::Byte };
    let end_given = args.len() >= 5;
    let end = if end_given { int_arg(args.get(4))? } else { -1 };
    Ok((bit_range(start, end, unit, len), end_given))
}

/// BITPOS key bit [start [end [BYTE|BIT]]]. A missing key is endless zeros (0 for a
/// clear bit, -1 for a set one). Without an explicit end the string counts as padded
/// with zeros on the right, so a search for 0 in all-ones answers the bit after it.
fn bitpos(ctx: &mut Ctx, args: Args) -> CmdResult {
    let bit = match int_arg(args.get(2))? {
        0 => false,
        1 => true,
        _ => return Err(BIT_ARG_ERR),
    };
    let pos = read_bitmap(ctx.db, args.get(1), |s| -> Result<i64, CmdError> {
        let Some(s) = s else { return Ok(if bit { -1 } else { 0 }) };
        let (range, end_given) = bitpos_range(args, s.len())?;
        let Some((first, last)) = range else { return Ok(-1) };
        Ok(match find_bit(s, first, last, bit) {
            Some(pos) => pos as i64,
            None if !bit && !end_given => last as i64 + 1,
            None => -1,
        })
    })??;
    ctx.out.int(pos);
    Ok(())
}

/* ---------------------------------------------------------------------------------
 * BITOP
 * ------------------------------------------------------------------------------ */

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn parse_bitop(arg: &[u8]) -> Result<BitOp, CmdError> {
    [("and", BitOp::And), ("or", BitOp::Or), ("xor", BitOp::Xor), ("not", BitOp::Not)]
        .into_iter()
        .find(|(name, _)| is(arg, name))
        .map(|(_, op)| op)
        .ok_or(err::SYNTAX)
}

/// Folds one source string into the result so far. Sources shorter than the result
/// read as zero-padded, so AND clears the tail and OR/XOR keep it.
fn fold_source(result: &mut Vec<u8>, src: &[u8], op: BitOp) {
    if result.len() < src.len() {
        result.resize(src.len(), 0);
    }
    let (head, tail) = result.split_at_mut(src.len());
    for (r, s) in head.iter_mut().zip(src) {
        match op {
            BitOp::And => *r &= s,
            BitOp::Or => *r |= s,
            BitOp::Xor => *r ^= s,
            BitOp::Not => *r = !s,
        }
    }
    if op == BitOp::And {
        tail.fill(0);
    }
}

/// BITOP op destkey key [key ...]: replies the length of the result, which is stored
/// `raw` without a TTL, or deletes `destkey` when it is empty.
///
/// The sources are folded into one buffer as they are read, so the command needs the
/// memory of its result only, not a copy of every source.
fn bitop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let op = parse_bitop(args.get(1))?;
    if op == BitOp::Not && args.len() != 4 {
        return Err(BITOP_NOT_ERR);
    }
    let mut result = Vec::new();
    for (i, key) in args.iter().enumerate().skip(3) {
        let src_op = if i == 3 && op != BitOp::Not { BitOp::Or } else { op };
        read_bitmap(ctx.db, key, |s| fold_source(&mut result, s.unwrap_or_default(), src_op))?;
    }
    let dest = args.get(2);
    let len = result.len();
    if len > 0 {
        ctx.db.set(dest, NewValue::raw(result), Expiry::Clear)?;
        ctx.db.dirty += 1;
        ctx.db.notify(crate::notify::STRING, "set", dest);
    } else if ctx.db.delete(dest)? {
        ctx.db.dirty += 1;
        ctx.db.notify(crate::notify::GENERIC, "del", dest);
    }
    ctx.out.int(len as i64);
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::tests::run_owned;
    use crate::cmd::registry::{execute, Registry};
    use crate::Engine;
    use redoubt_resp::request::OwnedArgs;
    use redoubt_resp::{Protocol, ReplyBuf};

    fn setup() -> (Engine, Registry) {
        (Engine::new(16), Registry::new())
    }

    /// Runs one command given as Latin-1 text (each char is one byte, so `\u{ff}` is
    /// the byte 0xff) and returns the raw reply the same way, errors included.
    pub(crate) fn run_latin1(e: &Engine, r: &Registry, proto: Protocol, parts: &[String]) -> String {
        let bytes: Vec<Vec<u8>> = parts.iter().map(|p| p.chars().map(|c| c as u32 as u8).collect()).collect();
        let args = OwnedArgs::from_slices(bytes.iter().map(Vec::as_slice));
        run_owned(e, r, proto, &args).iter().map(|&b| b as char).collect()
    }

    /// Runs each `(command, expected reply)` pair in order on one fresh engine.
    /// Arguments are split on spaces; `''` is an empty argument.
    pub(crate) fn check_with(proto: Protocol, cases: &[(&str, &str)]) {
        let (e, r) = setup();
        for (cmd, want) in cases {
            let parts: Vec<String> =
                cmd.split(' ').map(|p| if p == "''" { String::new() } else { p.to_string() }).collect();
            assert_eq!(run_latin1(&e, &r, proto, &parts), *want, "{cmd}");
        }
    }

    pub(crate) fn check(cases: &[(&str, &str)]) {
        check_with(Protocol::Resp2, cases)
    }

    /// How many changes (Redis's dirty count) a successful command made.
    pub(crate) fn dirty_of(e: &Engine, r: &Registry, parts: &[&str]) -> u64 {
        let args = OwnedArgs::from_slices(parts.iter().map(|p| p.as_bytes()));
        let reg = r.resolve(args.args()).expect("known command");
        let mut out = ReplyBuf::new(Protocol::Resp2);
        let (result, changes) = execute(e, &reg.meta, reg.cmd, 0, args.args(), &mut out, crate::clock::now_ms());
        result.expect("command succeeds");
        changes.dirty
    }

    #[test]
    fn setbit_and_getbit() {
        check(&[
            ("SETBIT k 7 1", ":0\r\n"),
            ("SETBIT k 7 1", ":1\r\n"),
            ("SETBIT k 0 1", ":0\r\n"),
            ("GET k", "$1\r\n\u{81}\r\n"),
            ("OBJECT ENCODING k", "$3\r\nraw\r\n"),
            ("SETBIT k -1 1", "-ERR bit offset is not an integer or out of range\r\n"),
            ("SETBIT k abc 1", "-ERR bit offset is not an integer or out of range\r\n"),
            ("SETBIT k 1.5 1", "-ERR bit offset is not an integer or out of range\r\n"),
            ("SETBIT k 9999999999999999999999 1", "-ERR bit offset is not an integer or out of range\r\n"),
            ("SETBIT k 4294967296 1", "-ERR bit offset is not an integer or out of range\r\n"),
            ("SETBIT k 4294967295 2", "-ERR bit is not an integer or out of range\r\n"),
            ("SETBIT k 0 -1", "-ERR bit is not an integer or out of range\r\n"),
            ("SETBIT k 0 x", "-ERR bit is not an integer or out of range\r\n"),
            ("SETBIT k 1 01", "-ERR bit is not an integer or out of range\r\n"),
            ("SETBIT k 1 +1", "-ERR bit is not an integer or out of range\r\n"),
            ("SETBIT k", "-ERR wrong number of arguments for 'setbit' command\r\n"),
            ("GETBIT k", "-ERR wrong number of arguments for 'getbit' command\r\n"),
            // An int-encoded string is read through its decimal digits.
            ("SET n 123", "+OK\r\n"),
            ("GETBIT n 0", ":0\r\n"),
            ("GETBIT n 2", ":1\r\n"),
            ("GETBIT n 23", ":1\r\n"),
            ("GETBIT n 24", ":0\r\n"),
            ("GETBIT n 4294967295", ":0\r\n"),
            ("OBJECT ENCODING n", "$3\r\nint\r\n"),
            // Writing converts it to raw even when no bit changes.
            ("SETBIT n 0 0", ":0\r\n"),
            ("OBJECT ENCODING n", "$3\r\nraw\r\n"),
            ("GET n", "$3\r\n123\r\n"),
            ("GETBIT missing 0", ":0\r\n"),
            ("GETBIT missing -1", "-ERR bit offset is not an integer or out of range\r\n"),
            ("GETBIT missing 4294967296", "-ERR bit offset is not an integer or out of range\r\n"),
            ("EXISTS missing", ":0\r\n"),
        ]);
    }

    #[test]
    fn setbit_pads_and_keeps_ttl() {
        check(&[
            ("SET e hello", "+OK\r\n"),
            ("EXPIRE e 100", ":1\r\n"),
            ("SETBIT e 100 1", ":0\r\n"),
            ("TTL e", ":100\r\n"),
            ("STRLEN e", ":13\r\n"),
            ("OBJECT ENCODING e", "$3\r\nraw\r\n"),
            ("GETBIT e 100", ":1\r\n"),
            ("GETBIT e 1", ":1\r\n"),
            ("SETBIT z 15 0", ":0\r\n"),
            ("GET z", "$2\r\n\0\0\r\n"),
        ]);
    }

    #[test]
    fn setbit_counts_only_real_changes() {
        let (e, r) = setup();
        let dirty = |parts: &[&str]| dirty_of(&e, &r, parts);
        assert_eq!(dirty(&["SETBIT", "k", "7", "0"]), 1, "creating the key is a change");
        assert_eq!(dirty(&["SETBIT", "k", "7", "0"]), 0);
        assert_eq!(dirty(&["SETBIT", "k", "7", "1"]), 1);
        assert_eq!(dirty(&["SETBIT", "k", "7", "1"]), 0);
        assert_eq!(dirty(&["SETBIT", "k", "100", "0"]), 1, "growing is a change");
        assert_eq!(dirty(&["BITOP", "AND", "d", "nokey"]), 0);
        assert_eq!(dirty(&["BITOP", "AND", "d", "k"]), 1);
        assert_eq!(dirty(&["BITOP", "AND", "d", "nokey"]), 1, "deleting the destination is a change");
    }

    #[test]
    fn offsets_follow_proto_max_bulk_len() {
        let (e, r) = setup();
        e.knobs.proto_max_bulk_len.store(1024, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(run(&e, &r, &["SETBIT", "k", "8192", "1"]), "-ERR bit offset is not an integer or out of range\r\n");
        assert_eq!(run(&e, &r, &["SETBIT", "k", "8191", "1"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["STRLEN", "k"]), ":1024\r\n");
    }

    #[test]
    fn an_impossible_allocation_is_an_error_not_an_abort() {
        let (e, r) = setup();
        e.knobs.proto_max_bulk_len.store(i64::MAX, std::sync::atomic::Ordering::Relaxed);
        let oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
        assert_eq!(run(&e, &r, &["SETBIT", "k", "9223372036854775807", "1"]), oom);
        assert_eq!(run(&e, &r, &["EXISTS", "k"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["SETBIT", "k", "0", "1"]), ":0\r\n");
        assert_eq!(run(&e, &r, &["BITFIELD", "k", "SET", "u8", "#1152921504606846975", "1"]), oom);
        assert_eq!(run(&e, &r, &["GETBIT", "k", "9223372036854775807"]), ":0\r\n");
    }

    #[test]
    fn bitcount() {
        check(&[
            ("SET s foobar", "+OK\r\n"),
            ("BITCOUNT s", ":26\r\n"),
            ("BITCOUNT s 0 0", ":4\r\n"),
            ("BITCOUNT s 1 1", ":6\r\n"),
            ("BITCOUNT s 1 1 BYTE", ":6\r\n"),
            ("BITCOUNT s 5 30 BIT", ":17\r\n"),
            ("BITCOUNT s 5 30 bit", ":17\r\n"),
            ("BITCOUNT s 0 -1 BIT", ":26\r\n"),
            ("BITCOUNT s -1 -2", ":0\r\n"),
            // Redis checks the reversed negative range before the unit.
            ("BITCOUNT s -1 -2 FOO", ":0\r\n"),
            ("BITCOUNT s -2 -1 FOO", "-ERR syntax error\r\n"),
            ("BITCOUNT s 1", "-ERR syntax error\r\n"),
            ("BITCOUNT s 1 2 3", "-ERR syntax error\r\n"),
            ("BITCOUNT s 1 2 BIT 3", "-ERR syntax error\r\n"),
            ("BITCOUNT s a b", "-ERR value is not an integer or out of range\r\n"),
            ("BITCOUNT s 1 b", "-ERR value is not an integer or out of range\r\n"),
            ("BITCOUNT s a 1 FOO", "-ERR value is not an integer or out of range\r\n"),
            // A missing key answers 0 before any argument is looked at.
            ("BITCOUNT nokey", ":0\r\n"),
            ("BITCOUNT nokey 1", ":0\r\n"),
            ("BITCOUNT nokey a b", ":0\r\n"),
            ("BITCOUNT nokey 1 2 FOO", ":0\r\n"),
            ("BITCOUNT nokey 1 2 3 4", ":0\r\n"),
            ("BITCOUNT s 100 200", ":0\r\n"),
            ("BITCOUNT s -100 -50", ":4\r\n"),
            ("BITCOUNT s -100 100", ":26\r\n"),
            ("BITCOUNT s -3 -1 BIT", ":1\r\n"),
            ("BITCOUNT s 47 47 BIT", ":0\r\n"),
            ("BITCOUNT s 48 100 BIT", ":0\r\n"),
            ("BITCOUNT s 9223372036854775807 -9223372036854775808", ":0\r\n"),
            ("BITCOUNT s -9223372036854775808 9223372036854775807", ":26\r\n"),
            ("BITCOUNT s -9223372036854775808 9223372036854775807 BIT", ":26\r\n"),
            ("BITCOUNT s -9223372036854775808 -9223372036854775807 BIT", ":0\r\n"),
            ("SET n 12345", "+OK\r\n"),
            ("BITCOUNT n", ":17\r\n"),
            ("BITCOUNT n 1 2 BIT", ":1\r\n"),
            ("SET empty ''", "+OK\r\n"),
            ("BITCOUNT empty", ":0\r\n"),
            ("BITCOUNT empty 0 -1", ":0\r\n"),
            ("BITCOUNT", "-ERR wrong number of arguments for 'bitcount' command\r\n"),
        ]);
    }

    #[test]
    fn bitpos() {
        check(&[
            ("SET empty ''", "+OK\r\n"),
            ("BITPOS empty 0", ":-1\r\n"),
            ("BITPOS empty 1", ":-1\r\n"),
            ("BITPOS empty 0 0 -1 BIT", ":-1\r\n"),
            ("SET ones \u{ff}\u{ff}\u{ff}", "+OK\r\n"),
            ("BITPOS ones 0", ":24\r\n"),
            ("BITPOS ones 0 0", ":24\r\n"),
            ("BITPOS ones 0 1", ":24\r\n"),
            // With an explicit end the right is not zero padded.
            ("BITPOS ones 0 0 -1", ":-1\r\n"),
            ("BITPOS ones 0 0 1 BIT", ":-1\r\n"),
            ("BITPOS ones 0 3", ":-1\r\n"),
            ("BITPOS ones 0 10 BIT", "-ERR value is not an integer or out of range\r\n"),
            ("BITPOS ones 1", ":0\r\n"),
            ("BITPOS ones 1 1", ":8\r\n"),
            ("BITPOS ones 2", "-ERR The bit argument must be 1 or 0.\r\n"),
            ("BITPOS ones -1", "-ERR The bit argument must be 1 or 0.\r\n"),
            ("BITPOS ones x", "-ERR value is not an integer or out of range\r\n"),
            ("BITPOS ones 1 a", "-ERR value is not an integer or out of range\r\n"),
            ("BITPOS ones 1 0 a", "-ERR value is not an integer or out of range\r\n"),
            ("BITPOS ones 1 0 1 FOO", "-ERR syntax error\r\n"),
            ("BITPOS ones 1 0 1 BIT 5", "-ERR syntax error\r\n"),
            ("BITPOS ones 1 a 1 FOO", "-ERR value is not an integer or out of range\r\n"),
            // The unit is parsed before the end.
            ("BITPOS ones 1 0 a FOO", "-ERR syntax error\r\n"),
            ("BITPOS nokey 1", ":-1\r\n"),
            ("BITPOS nokey 0", ":0\r\n"),
            ("BITPOS nokey 0 a b c d", ":0\r\n"),
            ("BITPOS nokey 2", "-ERR The bit argument must be 1 or 0.\r\n"),
            ("BITPOS nokey x", "-ERR value is not an integer or out of range\r\n"),
            ("SET z \0\0\0", "+OK\r\n"),
            ("BITPOS z 1", ":-1\r\n"),
            ("BITPOS z 0", ":0\r\n"),
            ("BITPOS z 0 1", ":8\r\n"),
            ("BITPOS z 1 0 -1 BIT", ":-1\r\n"),
            ("SET m \0\u{ff}\u{f0}", "+OK\r\n"),
            ("BITPOS m 1 0", ":8\r\n"),
            ("BITPOS m 1 2 -1 BYTE", ":16\r\n"),
            ("BITPOS m 0 8 -1 BIT", ":20\r\n"),
            ("BITPOS m 0 7 15 BIT", ":7\r\n"),
            ("BITPOS m 1 7 15 BIT", ":8\r\n"),
            ("BITPOS m 0 8 15 BIT", ":-1\r\n"),
            ("BITPOS m 0 8 20 BIT", ":20\r\n"),
            ("BITPOS m 0 8 19 BIT", ":-1\r\n"),
            ("BITPOS m 0 -1 -1", ":20\r\n"),
            ("BITPOS m 0 -100 -50", ":0\r\n"),
            ("BITPOS m 1 -9223372036854775808 9223372036854775807 BIT", ":8\r\n"),
            ("BITPOS m 0 9223372036854775807", ":-1\r\n"),
            ("BITPOS m 0 2 1", ":-1\r\n"),
            ("BITPOS m", "-ERR wrong number of arguments for 'bitpos' command\r\n"),
        ]);
    }

    #[test]
    fn bitpos_skips_long_runs() {
        let (e, r) = setup();
        let mut ones = vec!['\u{ff}'; 100];
        ones.push('\u{fe}');
        let set: Vec<String> = vec!["SET".into(), "k".into(), ones.into_iter().collect()];
        assert_eq!(run_latin1(&e, &r, Protocol::Resp2, &set), "+OK\r\n");
        assert_eq!(run(&e, &r, &["BITPOS", "k", "0"]), ":807\r\n");
        assert_eq!(run(&e, &r, &["BITPOS", "k", "0", "3", "99"]), ":-1\r\n");
        assert_eq!(run(&e, &r, &["BITPOS", "k", "0", "3"]), ":807\r\n");
        assert_eq!(run(&e, &r, &["BITPOS", "k", "1", "13", "-1", "BIT"]), ":13\r\n");
        assert_eq!(run(&e, &r, &["BITCOUNT", "k"]), ":807\r\n");
        assert_eq!(run(&e, &r, &["BITCOUNT", "k", "3", "806", "BIT"]), ":804\r\n");
    }

    #[test]
    fn bitop() {
        check(&[
            ("SET a \u{ff}\u{f}", "+OK\r\n"),
            ("SET b \u{f0}", "+OK\r\n"),
            ("SET n 12", "+OK\r\n"),
            ("BITOP AND d a b", ":2\r\n"),
            ("GET d", "$2\r\n\u{f0}\0\r\n"),
            ("OBJECT ENCODING d", "$3\r\nraw\r\n"),
            ("BITOP OR d a b", ":2\r\n"),
            ("GET d", "$2\r\n\u{ff}\u{f}\r\n"),
            ("BITOP XOR d a b n", ":2\r\n"),
            ("GET d", "$2\r\n>=\r\n"),
            ("BITOP NOT d a", ":2\r\n"),
            ("GET d", "$2\r\n\0\u{f0}\r\n"),
            ("BITOP NOT d a b", "-ERR BITOP NOT must be called with a single source key.\r\n"),
            ("BITOP not d nokey", ":0\r\n"),
            ("EXISTS d", ":0\r\n"),
            ("BITOP FOO d a", "-ERR syntax error\r\n"),
            ("BITOP ANDX d a", "-ERR syntax error\r\n"),
            ("BITOP AN d a", "-ERR syntax error\r\n"),
            ("BITOP NOT d", "-ERR wrong number of arguments for 'bitop' command\r\n"),
            ("BITOP AND d nokey nokey2", ":0\r\n"),
            ("BITOP and d a nokey", ":2\r\n"),
            ("GET d", "$2\r\n\0\0\r\n"),
            ("BITOP or d nokey a", ":2\r\n"),
            ("GET d", "$2\r\n\u{ff}\u{f}\r\n"),
            // The destination loses its TTL.
            ("SET d x", "+OK\r\n"),
            ("EXPIRE d 100", ":1\r\n"),
            ("BITOP AND d a", ":2\r\n"),
            ("TTL d", ":-1\r\n"),
            ("SET empty ''", "+OK\r\n"),
            ("BITOP OR d empty", ":0\r\n"),
            ("EXISTS d", ":0\r\n"),
            // The destination may be a source.
            ("BITOP NOT a a", ":2\r\n"),
            ("GET a", "$2\r\n\0\u{f0}\r\n"),
        ]);
    }

    #[test]
    fn range_helpers() {
        assert_eq!(bit_range(0, -1, Unit::Byte, 0), None);
        assert_eq!(bit_range(0, -1, Unit::Byte, 2), Some((0, 15)));
        assert_eq!(bit_range(3, 9, Unit::Bit, 1), Some((3, 7)));
        assert_eq!(find_bit(&[0x00, 0x00, 0x01], 0, 23, true), Some(23));
        assert_eq!(find_bit(&[0xff, 0xff, 0xff], 0, 23, false), None);
        assert_eq!(find_bit(&[0x80], 1, 7, true), None);
        assert_eq!(count_bits(&[0xff, 0xff], 3, 12), 10);
        assert_eq!(bit_offset(b"#2", Some(8), 1024), Ok(16));
        assert_eq!(bit_offset(b"#2", None, 1024), Err(BIT_OFFSET_ERR));
        assert_eq!(bit_offset(b"#6148914691236517206", Some(3), 1 << 29), Ok(2));
        assert_eq!(bit_offset(b"#9223372036854775807", Some(64), 1 << 29), Err(BIT_OFFSET_ERR));
    }
}
