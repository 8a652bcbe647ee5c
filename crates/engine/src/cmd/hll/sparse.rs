//! The sparse HLL encoding: the registers as a run-length coded sequence of opcodes,
//! exactly as Redis writes them, so that the same PFADDs leave the same bytes.
//!
//! Three opcodes (Redis's `HLL_SPARSE_*`):
//! - ZERO  `00xxxxxx`: 1..=64 registers at 0 (`xxxxxx` + 1);
//! - XZERO `01xxxxxx yyyyyyyy`: 1..=16384 registers at 0 (14 bits + 1);
//! - VAL   `1vvvvvxx`: 1..=4 registers (`xx` + 1) at value 1..=32 (`vvvvv` + 1).
//!
//! A value above 32, or a string that would grow past `hll-sparse-max-bytes`, turns
//! the HLL dense. Opcodes that do not cover exactly 16384 registers are corruption;
//! an XZERO cut off at the end of the string reads a zero second byte, as Redis reads
//! the terminator of its strings.

use super::repr::{self, Invalid, HDR, REGISTERS};

/// Longest run of a ZERO opcode.
pub const ZERO_MAX_LEN: usize = 64;
/// Longest run of an XZERO opcode.
pub const XZERO_MAX_LEN: usize = 16384;
/// Largest value a VAL opcode holds.
pub const VAL_MAX_VALUE: u8 = 32;
/// Longest run of a VAL opcode.
const VAL_MAX_LEN: usize = 4;
/// How many opcodes after a change are looked at to merge neighbouring VALs.
const MERGE_SCAN_OPCODES: usize = 5;

/// The ZERO opcode for a run of `len` (1..=64) registers.
fn zero(len: usize) -> u8 {
    (len - 1) as u8
}

/// The XZERO opcode for a run of `len` (1..=16384) registers.
pub fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | 0x40, (l & 0xff) as u8]
}

/// The VAL opcode for a run of `len` (1..=4) registers at `value` (1..=32).
fn val(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len - 1) as u8
}

fn is_zero(op: u8) -> bool {
    op & 0xc0 == 0
}

fn is_xzero(op: u8) -> bool {
    op & 0xc0 == 0x40
}

fn is_val(op: u8) -> bool {
    op & 0x80 != 0
}

fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}

fn val_len(op: u8) -> usize {
    (op & 0x3) as usize + 1
}

/// One decoded opcode.
#[derive(Clone, Copy)]
struct Op {
    /// Registers covered.
    span: usize,
    /// Bytes taken (2 for XZERO).
    bytes: usize,
    /// The registers' value (0 for ZERO and XZERO).
    value: u8,
}

/// Decodes the opcode at `ops[p]` (`p` in range).
fn decode(ops: &[u8], p: usize) -> Op {
    let op = ops[p];
    if is_zero(op) {
        Op { span: (op & 0x3f) as usize + 1, bytes: 1, value: 0 }
    } else if is_xzero(op) {
        let low = ops.get(p + 1).copied().unwrap_or(0) as usize;
        Op { span: ((((op & 0x3f) as usize) << 8) | low) + 1, bytes: 2, value: 0 }
    } else {
        Op { span: val_len(op), bytes: 1, value: val_value(op) }
    }
}

/// Walks the opcodes `ops` in order, calling `f(first register, op)` for each until
/// it returns false; `Corrupt` unless the registers walked (not counting the opcode
/// `f` stopped at) are exactly the 16384.
fn walk(ops: &[u8], mut f: impl FnMut(usize, Op) -> bool) -> Result<(), Invalid> {
    let (mut p, mut idx) = (0, 0usize);
    while p < ops.len() {
        let op = decode(ops, p);
        if !f(idx, op) {
            break;
        }
        idx += op.span;
        p += op.bytes;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Invalid::Corrupt)
    }
}

/// Calls `f(first, len, value)` for every VAL run of the opcodes `ops`, in order;
/// `Corrupt` if they do not cover exactly the 16384 registers. A VAL run reaching
/// past the last register stops the walk before `f` sees it (Redis's `hllMerge` and
/// `hllSparseToDense`).
pub fn for_each_run(ops: &[u8], mut f: impl FnMut(usize, usize, u8)) -> Result<(), Invalid> {
    walk(ops, |idx, op| {
        if op.value > 0 {
            if idx + op.span > REGISTERS {
                return false;
            }
            f(idx, op.span, op.value);
        }
        true
    })
}

/// Adds the register counts of the opcodes `ops` to `h` (Redis's
/// `hllSparseRegHisto`); `Corrupt` if they do not cover exactly 16384 registers.
pub fn histogram(ops: &[u8], h: &mut repr::Histogram) -> Result<(), Invalid> {
    walk(ops, |_, op| {
        h[op.value as usize] += op.span as u64;
        true
    })
}

/// Raises register `index` of the sparse HLL string `hll` to `count` if it is lower,
/// rewriting the opcodes in place as Redis's `hllSparseSet` does (same split, same
/// merge of neighbouring VALs), or converting the string to dense when `count` is
/// above 32 or the string would grow past `max_bytes`. Returns whether the register
/// changed; `Corrupt` when the opcodes do not reach the register, or the conversion
/// finds them corrupt.
///
/// Does not touch the cached cardinality: callers invalidate it once per command.
pub fn set(hll: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Result<bool, Invalid> {
    // Hashing never proposes 0, and no register is below it.
    if count == 0 {
        return Ok(false);
    }
    if count > VAL_MAX_VALUE {
        return promote(hll, index, count);
    }

    // Step 1: find the opcode covering `index`, and the one before it.
    let end = hll.len();
    let (mut p, mut first, mut prev) = (HDR, 0usize, None);
    let mut found = None;
    while p < end {
        let op = decode(hll, p);
        if index < first + op.span {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += op.bytes;
        first += op.span;
    }
    let Some(op) = found else { return Err(Invalid::Corrupt) };
    let byte = hll[p];

    // Step 2: the cases that rewrite one byte in place. A VAL at `count` or above
    // needs nothing; a VAL or ZERO of run 1 becomes a VAL of our value.
    if is_val(byte) {
        if op.value >= count {
            return Ok(false);
        }
        if op.span == 1 {
            hll[p] = val(count, 1);
            merge_neighbours(hll, prev.unwrap_or(HDR));
            return Ok(true);
        }
    }
    if is_zero(byte) && op.span == 1 {
        hll[p] = val(count, 1);
        merge_neighbours(hll, prev.unwrap_or(HDR));
        return Ok(true);
    }

    // Otherwise the opcode is split around the register: at worst XZERO-VAL-XZERO.
    let last = first + op.span - 1;
    let mut seq = [0u8; 5];
    let mut n = 0;
    if op.value == 0 {
        if index != first {
            push_zeros(&mut seq, &mut n, index - first);
        }
        seq[n] = val(count, 1);
        n += 1;
        if index != last {
            push_zeros(&mut seq, &mut n, last - index);
        }
    } else {
        if index != first {
            seq[n] = val(op.value, index - first);
            n += 1;
        }
        seq[n] = val(count, 1);
        n += 1;
        if index != last {
            seq[n] = val(op.value, last - index);
            n += 1;
        }
    }

    // Step 3: put the new sequence in place of the old opcode, unless that grows
    // the string past the limit.
    let new_len = (end + n).saturating_sub(op.bytes);
    if new_len > end && new_len > max_bytes {
        return promote(hll, index, count);
    }
    let old_end = (p + op.bytes).min(end);
    hll.splice(p..old_end, seq[..n].iter().copied());
    // An XZERO cut off at the end of the string counted its missing byte; Redis's
    // length arithmetic drops the sequence's last byte then, and so does this.
    hll.truncate(new_len);
    merge_neighbours(hll, prev.unwrap_or(HDR));
    Ok(true)
}

/// Appends the opcode for a run of `len` zero registers to `seq` at `*n`: ZERO when
/// it fits, XZERO otherwise.
fn push_zeros(seq: &mut [u8; 5], n: &mut usize, len: usize) {
    if len > ZERO_MAX_LEN {
        seq[*n..*n + 2].copy_from_slice(&xzero(len));
        *n += 2;
    } else {
        seq[*n] = zero(len);
        *n += 1;
    }
}

/// Step 4 of a sparse update: merges adjacent VAL opcodes of equal value whose runs
/// fit one opcode, looking at a few opcodes from `p` (the one before the change).
fn merge_neighbours(hll: &mut Vec<u8>, mut p: usize) {
    let mut scan = MERGE_SCAN_OPCODES;
    while p < hll.len() && scan > 0 {
        scan -= 1;
        let op = hll[p];
        if is_xzero(op) {
            p += 2;
            continue;
        }
        if is_zero(op) {
            p += 1;
            continue;
        }
        if let Some(&next) = hll.get(p + 1) {
            if is_val(next) && val_value(op) == val_value(next) {
                let len = val_len(op) + val_len(next);
                if len <= VAL_MAX_LEN {
                    hll[p + 1] = val(val_value(op), len);
                    hll.remove(p);
                    // Stay on the merged opcode: it may merge with the next one too.
                    continue;
                }
            }
        }
        p += 1;
    }
}

/// Converts to dense and sets the register there; the register is always raised (a
/// sparse value is at most 32 and the update was needed).
fn promote(hll: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Invalid> {
    repr::to_dense(hll)?;
    repr::dense_raise(hll, index, count);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::hll::repr::{estimate, histogram, new_sparse, register_of};

    fn add(hll: &mut Vec<u8>, e: &[u8], max: usize) -> bool {
        let (i, c) = register_of(e);
        match repr::encoding(hll) {
            repr::Encoding::Sparse => set(hll, i, c, max).expect("valid"),
            repr::Encoding::Dense => repr::dense_raise(hll, i, c),
        }
    }

    #[test]
    fn three_elements_give_redis_bytes() {
        let mut h = new_sparse();
        for e in ["a", "b", "c"] {
            assert!(add(&mut h, e.as_bytes(), 3000));
        }
        assert!(!add(&mut h, b"a", 3000));
        assert_eq!(&h[HDR..], b"`\xf3\x80P\xb1\x84K\xfb\x80BZ");
        assert_eq!(estimate(&histogram(&h).expect("valid")), 3);
    }

    #[test]
    fn sparse_and_dense_count_alike() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        repr::to_dense(&mut dense).expect("valid");
        for i in 0..2000 {
            let e = format!("element:{i}");
            add(&mut sparse, e.as_bytes(), usize::MAX);
            add(&mut dense, e.as_bytes(), usize::MAX);
        }
        assert_eq!(repr::encoding(&sparse), repr::Encoding::Sparse);
        assert_eq!(histogram(&sparse), histogram(&dense));
        let mut converted = sparse.clone();
        repr::to_dense(&mut converted).expect("valid");
        assert_eq!(converted, dense);
    }

    #[test]
    fn grows_dense_past_the_limit() {
        let mut h = new_sparse();
        for i in 0..1000 {
            add(&mut h, format!("{i}").as_bytes(), 100);
        }
        assert_eq!(repr::encoding(&h), repr::Encoding::Dense);
        assert_eq!(h.len(), repr::DENSE_SIZE);
    }

    #[test]
    fn corrupt_opcodes_are_reported() {
        // Opcodes covering only 64 registers.
        let mut h = new_sparse();
        h.truncate(HDR);
        h.push(zero(64));
        assert_eq!(set(&mut h, 10_000, 1, 3000), Err(Invalid::Corrupt));
        assert_eq!(set(&mut h, 3, 40, 3000), Err(Invalid::Corrupt));
        assert_eq!(histogram(&h), Err(Invalid::Corrupt));
        // A lone XZERO byte at the end reads a zero second byte, and Redis's length
        // arithmetic then counts two bytes replaced by one: the string loses both.
        h.truncate(HDR);
        h.push(0x40);
        assert_eq!(set(&mut h, 0, 1, 3000), Ok(true));
        assert_eq!(h.len(), HDR);
    }
}
