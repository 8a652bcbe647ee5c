//! BITFIELD and BITFIELD_RO: signed and unsigned integers of 1 to 64 bits (unsigned up
//! to 63, so that every value fits a RESP integer) at any bit offset of a string.
//!
//! The command is parsed whole before anything is looked up, as in Redis, so a bad
//! argument anywhere fails the command with no effect. A command of GETs only reads
//! (and works on a missing key without creating it); one with a SET or INCRBY grows the
//! string once, to the farthest bit any write reaches, then runs its operations in
//! order, each under the OVERFLOW mode in force where it appears.

use redoubt_resp::number::parse_i64;
use redoubt_resp::request::Args;

use super::bits::{bit_offset, read_bitmap, with_bitmap};
use super::{int_arg, is, DataCommand, LockMode::Keys};
use crate::exec::{err, CmdError, CmdResult, Ctx};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "bitfield", lock: Keys, handler: bitfield },
    DataCommand { name: "bitfield_ro", lock: Keys, handler: bitfield_ro },
];

const TYPE_ERR: CmdError = CmdError::Static(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
const OVERFLOW_ERR: CmdError = CmdError::Static("ERR Invalid OVERFLOW type specified");
const RO_ERR: CmdError = CmdError::Static("ERR BITFIELD_RO only supports the GET subcommand");

/* ---------------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------------ */

/// A field's type: `i<bits>` or `u<bits>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FieldType {
    signed: bool,
    bits: u32,
}

impl FieldType {
    /// Parses `i1`..`i64` or `u1`..`u63`. Like Redis (which reads the width with
    /// `strlen`), anything after a NUL byte is ignored.
    fn parse(arg: &[u8]) -> Result<FieldType, CmdError> {
        let signed = match arg.first() {
            Some(b'i') => true,
            Some(b'u') => false,
            _ => return Err(TYPE_ERR),
        };
        let width = &arg[1..];
        let width = width.split(|&b| b == 0).next().unwrap_or(width);
        let bits = parse_i64(width).ok_or(TYPE_ERR)?;
        let max = if signed { 64 } else { 63 };
        if !(1..=max).contains(&bits) {
            return Err(TYPE_ERR);
        }
        Ok(FieldType { signed, bits: bits as u32 })
    }

    /// The smallest and largest value the field holds.
    fn range(self) -> (i128, i128) {
        if self.signed {
            (-(1i128 << (self.bits - 1)), (1i128 << (self.bits - 1)) - 1)
        } else {
            (0, (1i128 << self.bits) - 1)
        }
    }

    /// Reads `raw` (the field's bits, right-aligned) as a number of this type.
    fn decode(self, raw: u64) -> i128 {
        if self.signed && self.bits < 64 && raw >> (self.bits - 1) & 1 == 1 {
            i128::from((raw | (u64::MAX << self.bits)) as i64)
        } else if self.signed {
            i128::from(raw as i64)
        } else {
            i128::from(raw)
        }
    }
}

/// What to do when a SET or INCRBY result does not fit its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    /// Keep the low bits (two's complement for signed fields). The default.
    Wrap,
    /// Clamp to the field's minimum or maximum.
    Sat,
    /// Leave the field alone and reply a null.
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One GET, SET or INCRBY, with the OVERFLOW mode in force where it appeared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FieldOp {
    kind: OpKind,
    ty: FieldType,
    offset: u64,
    overflow: Overflow,
}

fn parse_overflow(arg: &[u8]) -> Result<Overflow, CmdError> {
    if is(arg, "wrap") {
        Ok(Overflow::Wrap)
    } else if is(arg, "sat") {
        Ok(Overflow::Sat)
    } else if is(arg, "fail") {
        Ok(Overflow::Fail)
    } else {
        Err(OVERFLOW_ERR)
    }
}

/// Parses the operations after the key, reporting the first bad argument in Redis's
/// order (a subcommand short of arguments is a syntax error; then type, offset, value).
/// There are fewer operations than arguments, which bounds the list.
fn parse_ops(args: Args, max_bytes: u64) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    while i < args.len() {
        let (sub, left) = (args.get(i), args.len() - i - 1);
        if is(sub, "overflow") && left >= 1 {
            overflow = parse_overflow(args.get(i + 1))?;
            i += 2;
            continue;
        }
        let is_get = is(sub, "get") && left >= 2;
        if !is_get && !((is(sub, "set") || is(sub, "incrby")) && left >= 3) {
            return Err(err::SYNTAX);
        }
        let ty = FieldType::parse(args.get(i + 1))?;
        let offset = bit_offset(args.get(i + 2), Some(ty.bits), max_bytes)?;
        let kind = if is_get {
            OpKind::Get
        } else if is(sub, "set") {
            OpKind::Set(int_arg(args.get(i + 3))?)
        } else {
            OpKind::IncrBy(int_arg(args.get(i + 3))?)
        };
        ops.push(FieldOp { kind, ty, offset, overflow });
        i += if is_get { 3 } else { 4 };
    }
    Ok(ops)
}

/* ---------------------------------------------------------------------------------
 * Bit access
 * ------------------------------------------------------------------------------ */

/// Reads `bits` bits at bit `offset`, right-aligned; bits past the end of `bytes` read
/// as zero.
fn get_bits(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (offset..offset + u64::from(bits)).fold(0, |value, pos| {
        let byte = bytes.get((pos >> 3) as usize).copied().unwrap_or(0);
        (value << 1) | u64::from(byte >> (7 - (pos & 7)) & 1)
    })
}

/// Writes the low `bits` bits of `value` at bit `offset`; `bytes` is long enough.
fn set_bits(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let pos = offset + j;
        let mask = 0x80u8 >> (pos & 7);
        let byte = &mut bytes[(pos >> 3) as usize];
        if value >> (u64::from(bits) - 1 - j) & 1 == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// Fits `value` into a field of type `ty` under `overflow`: the value to store, or
/// `None` when FAIL refuses it. Wrapping keeps the low 64 bits of the exact result
/// and then the field's bits, which is what Redis's unsigned C arithmetic does.
fn fit(ty: FieldType, value: i128, overflow: Overflow) -> Option<i128> {
    let (min, max) = ty.range();
    if (min..=max).contains(&value) {
        return Some(value);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(value.clamp(min, max)),
        Overflow::Wrap => {
            let low = value as u64;
            let masked = if ty.bits == 64 { low } else { low & ((1u64 << ty.bits) - 1) };
            Some(ty.decode(masked))
        }
    }
}

/// Runs one SET or INCRBY on `bytes` (already long enough). Returns the reply (`None`
/// for a FAIL overflow) and whether the field's value changed.
fn write_field(bytes: &mut [u8], op: &FieldOp) -> (Option<i64>, bool) {
    let old = op.ty.decode(get_bits(bytes, op.offset, op.ty.bits));
    let (wanted, reply_new) = match op.kind {
        // An unsigned SET takes its argument as C's cast to uint64_t would: a negative
        // value is huge, so it overflows upwards (SAT stores the maximum).
        OpKind::Set(v) if !op.ty.signed => (i128::from(v as u64), false),
        OpKind::Set(v) => (i128::from(v), false),
        OpKind::IncrBy(by) => (old + i128::from(by), true),
        OpKind::Get => (old, false),
    };
    let Some(new) = fit(op.ty, wanted, op.overflow) else { return (None, false) };
    set_bits(bytes, op.offset, op.ty.bits, new as u64);
    // Both values fit an i64: fields are at most i64 or u63.
    let reply = if reply_new { new } else { old } as i64;
    (Some(reply), new != old)
}

/// The value a GET reads from `bytes`, zero padded.
fn read_field(bytes: &[u8], op: &FieldOp) -> i64 {
    // Fields are at most i64 or u63, so every value fits an i64.
    op.ty.decode(get_bits(bytes, op.offset, op.ty.bits)) as i64
}

/* ---------------------------------------------------------------------------------
 * The commands
 * ------------------------------------------------------------------------------ */

/// A reply per operation; `None` is the null of a FAIL overflow.
fn reply_all(ctx: &mut Ctx, replies: impl ExactSizeIterator<Item = Option<i64>>) {
    ctx.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
}

/// GETs only: read the key (absent reads as zeros) without creating it.
fn run_reads(ctx: &mut Ctx, key: &[u8], ops: &[FieldOp]) -> CmdResult {
    let out = &mut *ctx.out;
    read_bitmap(ctx.db, key, |s| {
        out.array(ops.len());
        for op in ops {
            out.int(read_field(s.unwrap_or_default(), op));
        }
    })
}

/// At least one write: grow the string to the farthest bit written, then run every
/// operation in order. As in Redis 7.0.15 a write counts as a change when the string
/// grew or the field's value changed, but never when FAIL refused it — so a refused
/// write that only padded the string is not propagated.
fn run_writes(ctx: &mut Ctx, key: &[u8], ops: &[FieldOp]) -> CmdResult {
    // Offsets are below 8 * proto-max-bulk-len and widths at most 64, so this is a
    // bounded size, at most one word beyond the limit.
    let last_bit = ops
        .iter()
        .filter(|op| op.kind != OpKind::Get)
        .map(|op| op.offset + u64::from(op.ty.bits) - 1)
        .max()
        .unwrap_or(0);
    let (results, grew) = with_bitmap(ctx, key, (last_bit >> 3) as usize + 1, |v| {
        ops.iter()
            .map(|op| match op.kind {
                OpKind::Get => (Some(read_field(v, op)), false),
                _ => write_field(v, op),
            })
            .collect::<Vec<_>>()
    })?;
    let changes = ops
        .iter()
        .zip(&results)
        .filter(|(op, (reply, changed))| op.kind != OpKind::Get && reply.is_some() && (grew || *changed))
        .count();
    if changes > 0 {
        ctx.db.dirty += changes as u64;
        ctx.db.notify(crate::notify::STRING, "setbit", key);
    }
    reply_all(ctx, results.iter().map(|&(reply, _)| reply));
    Ok(())
}

fn bitfield_generic(ctx: &mut Ctx, args: Args, read_only: bool) -> CmdResult {
    let ops = parse_ops(args, ctx.db.engine.knobs.max_string())?;
    let key = args.get(1);
    if ops.iter().all(|op| op.kind == OpKind::Get) {
        return run_reads(ctx, key, &ops);
    }
    if read_only {
        return Err(RO_ERR);
    }
    run_writes(ctx, key, &ops)
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset incr]
/// [OVERFLOW WRAP|SAT|FAIL] ...
fn bitfield(ctx: &mut Ctx, args: Args) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

/// BITFIELD_RO key [GET type offset] ...: the read-only form replicas can serve.
fn bitfield_ro(ctx: &mut Ctx, args: Args) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::bits::tests::{check, check_with, dirty_of};
    use crate::cmd::registry::Registry;
    use crate::Engine;
    use redoubt_resp::Protocol;

    const TYPE: &str =
        "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n";
    const OFFSET: &str = "-ERR bit offset is not an integer or out of range\r\n";

    #[test]
    fn get_set_incrby_and_overflow() {
        check(&[
            ("BITFIELD k SET i8 0 -100 GET i8 0 GET u8 0 GET u4 0 GET i4 0", "*5\r\n:0\r\n:-100\r\n:156\r\n:9\r\n:-7\r\n"),
            ("BITFIELD k INCRBY i8 0 -100", "*1\r\n:56\r\n"),
            ("BITFIELD k INCRBY i8 0 -100", "*1\r\n:-44\r\n"),
            ("BITFIELD k OVERFLOW SAT INCRBY i8 0 -100", "*1\r\n:-128\r\n"),
            ("BITFIELD k OVERFLOW FAIL INCRBY i8 0 -100", "*1\r\n$-1\r\n"),
            ("BITFIELD k OVERFLOW SAT INCRBY i8 0 1000 OVERFLOW WRAP INCRBY i8 0 1", "*2\r\n:127\r\n:-128\r\n"),
            // An unsigned SET of a negative value is a huge value: it overflows upwards.
            ("BITFIELD k SET u8 0 -1", "*1\r\n:128\r\n"),
            ("BITFIELD k GET u8 0", "*1\r\n:255\r\n"),
            ("BITFIELD k OVERFLOW SAT SET u8 0 0 SET u8 0 -5", "*2\r\n:255\r\n:0\r\n"),
            ("BITFIELD k GET u8 0", "*1\r\n:255\r\n"),
            ("BITFIELD k OVERFLOW FAIL SET u8 0 -5", "*1\r\n$-1\r\n"),
            ("BITFIELD k OVERFLOW SAT SET u8 0 256 OVERFLOW WRAP SET u8 0 257 GET u8 0", "*3\r\n:255\r\n:255\r\n:1\r\n"),
            ("BITFIELD k OVERFLOW SAT INCRBY u8 0 -1000 GET u8 0", "*2\r\n:0\r\n:0\r\n"),
            ("BITFIELD k OVERFLOW WRAP INCRBY u8 0 -1 GET u8 0", "*2\r\n:255\r\n:255\r\n"),
            (
                "BITFIELD k SET i64 0 9223372036854775807 INCRBY i64 0 1 OVERFLOW SAT INCRBY i64 0 -1 INCRBY i64 0 2",
                "*4\r\n:-72057594037927936\r\n:-9223372036854775808\r\n:-9223372036854775808\r\n:-9223372036854775806\r\n",
            ),
            (
                "BITFIELD k SET i64 0 -9223372036854775808 OVERFLOW SAT INCRBY i64 0 -1 OVERFLOW WRAP INCRBY i64 0 -1 \
                 OVERFLOW FAIL INCRBY i64 0 1",
                "*4\r\n:-9223372036854775806\r\n:-9223372036854775808\r\n:9223372036854775807\r\n$-1\r\n",
            ),
            (
                "BITFIELD k SET u63 0 9223372036854775807 INCRBY u63 0 1 OVERFLOW SAT INCRBY u63 0 -1 GET u63 0",
                "*4\r\n:4611686018427387903\r\n:0\r\n:0\r\n:0\r\n",
            ),
            (
                "BITFIELD k SET u63 0 -1 GET u63 0 SET u63 0 -9223372036854775808 GET u63 0",
                "*4\r\n:0\r\n:9223372036854775807\r\n:9223372036854775807\r\n:0\r\n",
            ),
            ("BITFIELD k OVERFLOW SAT SET i8 0 200 GET i8 0 SET i8 0 -200 GET i8 0", "*4\r\n:0\r\n:127\r\n:127\r\n:-128\r\n"),
            ("BITFIELD k OVERFLOW WRAP SET i8 0 200 GET i8 0 SET i8 0 -200 GET i8 0", "*4\r\n:-128\r\n:-56\r\n:-56\r\n:56\r\n"),
            ("BITFIELD k OVERFLOW FAIL SET i8 0 200 SET i8 0 127 SET i8 0 -129", "*3\r\n$-1\r\n:56\r\n$-1\r\n"),
            ("BITFIELD k get i8 0 set i8 0 1 incrby i8 0 1 overflow fail", "*3\r\n:127\r\n:127\r\n:2\r\n"),
            ("BITFIELD k GET i8 #1", "*1\r\n:0\r\n"),
            ("BITFIELD k SET u4 #1 15 GET u8 0", "*2\r\n:2\r\n:15\r\n"),
        ]);
    }

    #[test]
    fn argument_errors_in_redis_order() {
        check(&[
            ("BITFIELD k GET u64 0", TYPE),
            ("BITFIELD k GET i65 0", TYPE),
            ("BITFIELD k GET i0 0", TYPE),
            ("BITFIELD k GET u0 0", TYPE),
            ("BITFIELD k GET I8 0", TYPE),
            ("BITFIELD k GET x8 0", TYPE),
            ("BITFIELD k GET i 0", TYPE),
            ("BITFIELD k GET i+8 0", TYPE),
            ("BITFIELD k GET i08 0", TYPE),
            ("BITFIELD k GET '' 0", TYPE),
            ("BITFIELD k GET i8 -1", OFFSET),
            ("BITFIELD k GET i8 #-1", OFFSET),
            ("BITFIELD k GET i8 ##1", OFFSET),
            ("BITFIELD k GET i8 #", OFFSET),
            ("BITFIELD k GET i8 ''", OFFSET),
            ("BITFIELD k GET i8 4294967295", "*1\r\n:0\r\n"),
            ("BITFIELD k GET i8 4294967296", OFFSET),
            ("BITFIELD k GET i8 #536870911", "*1\r\n:0\r\n"),
            ("BITFIELD k GET i8 #536870912", OFFSET),
            // `#n` times the width wraps around like Redis's C arithmetic.
            ("BITFIELD k GET i3 #6148914691236517206", "*1\r\n:0\r\n"),
            ("BITFIELD k GET i64 #9223372036854775807", OFFSET),
            ("BITFIELD k GET i8 0 GET", "-ERR syntax error\r\n"),
            ("BITFIELD k GET i8", "-ERR syntax error\r\n"),
            ("BITFIELD k SET i8 0", "-ERR syntax error\r\n"),
            ("BITFIELD k INCRBY i8 0", "-ERR syntax error\r\n"),
            ("BITFIELD k SET i8 0 x", "-ERR value is not an integer or out of range\r\n"),
            ("BITFIELD k INCRBY i8 0 1.5", "-ERR value is not an integer or out of range\r\n"),
            ("BITFIELD k OVERFLOW", "-ERR syntax error\r\n"),
            ("BITFIELD k OVERFLOW foo", "-ERR Invalid OVERFLOW type specified\r\n"),
            ("BITFIELD k OVERFLOW foo GET x 0", "-ERR Invalid OVERFLOW type specified\r\n"),
            ("BITFIELD k GET x 0 OVERFLOW foo", TYPE),
            ("BITFIELD k FOO", "-ERR syntax error\r\n"),
            ("BITFIELD k GET i8 0 FOO", "-ERR syntax error\r\n"),
            ("BITFIELD k overflow sat", "*0\r\n"),
            ("BITFIELD k", "*0\r\n"),
            ("EXISTS k", ":0\r\n"),
            ("BITFIELD", "-ERR wrong number of arguments for 'bitfield' command\r\n"),
            ("BITFIELD_RO", "-ERR wrong number of arguments for 'bitfield_ro' command\r\n"),
        ]);
    }

    #[test]
    fn read_only_form() {
        check(&[
            ("BITFIELD k SET u8 0 2", "*1\r\n:0\r\n"),
            ("BITFIELD_RO k GET i8 0 GET u4 #1", "*2\r\n:2\r\n:2\r\n"),
            ("BITFIELD_RO k SET i8 0 1", "-ERR BITFIELD_RO only supports the GET subcommand\r\n"),
            ("BITFIELD_RO k INCRBY i8 0 1", "-ERR BITFIELD_RO only supports the GET subcommand\r\n"),
            ("BITFIELD_RO k OVERFLOW SAT", "*0\r\n"),
            // The whole command is parsed before the read-only check.
            ("BITFIELD_RO k GET i8 0 SET i8 x 1", OFFSET),
            ("BITFIELD_RO k SET i8 0 x", "-ERR value is not an integer or out of range\r\n"),
            ("BITFIELD_RO nokey GET u8 0", "*1\r\n:0\r\n"),
            ("BITFIELD nokey GET u8 0", "*1\r\n:0\r\n"),
            ("EXISTS nokey", ":0\r\n"),
        ]);
    }

    #[test]
    fn int_strings_are_read_as_digits_and_written_raw() {
        check(&[
            ("SET n 123", "+OK\r\n"),
            ("BITFIELD n GET u8 0 GET u8 8 GET u8 24 GET i64 4", "*4\r\n:49\r\n:50\r\n:0\r\n:1378998687463636992\r\n"),
            ("OBJECT ENCODING n", "$3\r\nint\r\n"),
            ("BITFIELD n SET u8 0 49", "*1\r\n:49\r\n"),
            ("OBJECT ENCODING n", "$3\r\nraw\r\n"),
            ("GET n", "$3\r\n123\r\n"),
        ]);
    }

    #[test]
    fn fail_is_a_null_in_resp3() {
        check_with(Protocol::Resp3, &[("BITFIELD k OVERFLOW FAIL SET u2 0 9 GET u2 0", "*2\r\n_\r\n:0\r\n")]);
    }

    #[test]
    fn changes_are_counted_like_redis() {
        let (e, r) = (Engine::new(16), Registry::new());
        let dirty = |cmd: &str| dirty_of(&e, &r, &cmd.split(' ').collect::<Vec<_>>());
        assert_eq!(dirty("SETBIT k 7 0"), 1);
        assert_eq!(dirty("BITFIELD k SET u8 0 0"), 0, "nothing changed");
        assert_eq!(dirty("BITFIELD k SET u8 0 0 SET u8 0 0"), 0);
        assert_eq!(dirty("BITFIELD k SET u8 200 0"), 1, "the string grew");
        assert_eq!(dirty("BITFIELD k SET u8 200 0 INCRBY u8 300 0"), 2, "every write of a growing command counts");
        assert_eq!(dirty("BITFIELD k SET u8 200 1 INCRBY u8 200 1 GET u8 200"), 2);
        // A refused write is no change, even when it padded the string.
        assert_eq!(dirty("BITFIELD k OVERFLOW FAIL SET u8 400 1000"), 0);
        assert_eq!(crate::cmd::registry::tests::run(&e, &r, &["STRLEN", "k"]), ":51\r\n");
        assert_eq!(dirty("BITFIELD nk OVERFLOW FAIL SET u8 0 1000"), 0);
        assert_eq!(crate::cmd::registry::tests::run(&e, &r, &["EXISTS", "nk"]), ":1\r\n");
        assert_eq!(dirty("BITFIELD nk2 OVERFLOW FAIL SET u8 0 1000 SET u8 8 0"), 1);
    }

    #[test]
    fn bit_helpers() {
        let mut v = vec![0u8; 2];
        set_bits(&mut v, 7, 5, 23);
        assert_eq!(v, [0b0000_0001, 0b0111_0000]);
        assert_eq!(get_bits(&v, 7, 5), 23);
        assert_eq!(get_bits(&v, 12, 64), 0, "reads past the end are zeros");
        let i8t = FieldType { signed: true, bits: 8 };
        assert_eq!(fit(i8t, 128, Overflow::Wrap), Some(-128));
        assert_eq!(fit(i8t, -129, Overflow::Sat), Some(-128));
        assert_eq!(fit(i8t, 128, Overflow::Fail), None);
        assert_eq!(FieldType::parse(b"u8\0junk"), Ok(FieldType { signed: false, bits: 8 }));
    }
}
