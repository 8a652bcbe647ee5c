//! Redis's HyperLogLog string, byte for byte: the header, the dense registers, the
//! element hash and the cardinality estimator. The sparse encoding is in
//! [`super::sparse`].
//!
//! Layout (Redis's `struct hllhdr`), 16 bytes then the registers:
//!
//! ```text
//! +------+---+-----+----------+---------------------------------+
//! | HYLL | E | N/U | Cardin.  | registers (dense) or opcodes    |
//! +------+---+-----+----------+---------------------------------+
//!   4 B   1 B  3 B     8 B
//! ```
//!
//! `E` is 0 (dense) or 1 (sparse); `N/U` is never read or written (a string SET by
//! a client keeps whatever it holds); `Cardin.` is the last count, little-endian, and
//! its top bit set means "stale" (any change sets it, PFCOUNT clears it).
//!
//! Dense: 16384 registers of 6 bits, packed from the least significant bit of each
//! byte upwards (register 0 is the low 6 bits of byte 0, register 1 the top 2 bits of
//! byte 0 and the low 4 of byte 1, ...), 12288 bytes.

use super::sparse;

/// Bits of the hash that pick a register (Redis's `HLL_P`).
pub const P: u32 = 14;
/// Bits left for the run of zeros (Redis's `HLL_Q`).
pub const Q: usize = 64 - P as usize;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Bits per dense register, and the largest value one holds.
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Header length.
pub const HDR: usize = 16;
/// Length of a dense HLL string (header and packed registers).
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
/// Offsets in the header.
const ENCODING_AT: usize = 4;
const CARD_AT: usize = 8;
/// The seed Redis hashes elements with.
const SEED: u64 = 0xadc8_3b19;
/// The estimator's constant, 1 / (2 ln 2) (Redis's `HLL_ALPHA_INF`).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// A bound on the estimator's fixed-point loops; they converge in under 70 rounds
/// (the step halves or squares each time), so this is never reached.
const MAX_ROUNDS: usize = 10_000;

/// The two encodings a stored HLL may have (the header's `E` byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Dense = 0,
    Sparse = 1,
}

/// Why a string is not a usable HLL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// The header is wrong (Redis: "WRONGTYPE Key is not a valid HyperLogLog string
    /// value.").
    NotHll,
    /// The header is right but the sparse opcodes do not cover exactly the 16384
    /// registers (Redis: "INVALIDOBJ Corrupted HLL object detected").
    Corrupt,
}

/// Checks the header as Redis's `isHLLObjectOrReply` does: the magic, a known
/// encoding, and the exact length of a dense one. Sparse opcodes are not checked
/// here (commands find corruption as they walk them).
pub fn check(hll: &[u8]) -> Result<Encoding, Invalid> {
    if hll.len() < HDR || &hll[..4] != b"HYLL" {
        return Err(Invalid::NotHll);
    }
    match hll[ENCODING_AT] {
        0 if hll.len() == DENSE_SIZE => Ok(Encoding::Dense),
        1 => Ok(Encoding::Sparse),
        _ => Err(Invalid::NotHll),
    }
}

/// The encoding of a string already accepted by [`check`].
pub fn encoding(hll: &[u8]) -> Encoding {
    if hll[ENCODING_AT] == 0 {
        Encoding::Dense
    } else {
        Encoding::Sparse
    }
}

/// A new, empty HLL as PFADD creates it (Redis's `createHLLObject`): sparse, one
/// XZERO opcode covering every register, cached count 0 and valid.
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HDR + 2);
    s.extend_from_slice(b"HYLL");
    s.push(Encoding::Sparse as u8);
    s.extend_from_slice(&[0; 3 + 8]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(sparse::XZERO_MAX_LEN);
        s.extend_from_slice(&sparse::xzero(run));
        left -= run;
    }
    s
}

/// The cached cardinality, if it is valid.
pub fn cached_count(hll: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(hll[CARD_AT..CARD_AT + 8].try_into().ok()?);
    (card >> 63 == 0).then_some(card)
}

/// Stores `count` as the cached cardinality (valid).
pub fn set_cached_count(hll: &mut [u8], count: u64) {
    hll[CARD_AT..CARD_AT + 8].copy_from_slice(&count.to_le_bytes());
}

/// Marks the cached cardinality stale (Redis's `HLL_INVALIDATE_CACHE`).
pub fn invalidate_cache(hll: &mut [u8]) {
    hll[CARD_AT + 7] |= 0x80;
}

/* ----------------------------- Hashing ------------------------------------ */

/// MurmurHash64A (Austin Appleby), as Redis's copy computes it on a little-endian
/// machine: 8-byte blocks read little-endian, then the tail.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element updates and the value it proposes: one more than the
/// number of trailing zeros of the hash above the register bits, so 1..=Q+1
/// (Redis's `hllPatLen`).
pub fn register_of(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The sentinel bit bounds the run at Q zeros.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/* ----------------------------- Dense registers ---------------------------- */

/// Register `i` of a dense register area. The last register's "next byte" lies past
/// the area; Redis reads the string's terminating zero there, so 0 is read here.
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = regs.get(byte).copied().unwrap_or(0) as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u16) as u8
}

/// Sets register `i` of a dense register area to `v`.
pub fn dense_set_register(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = (v & REGISTER_MAX) as u16;
    let lo = (regs[byte] as u16 & !((REGISTER_MAX as u16) << fb)) | (v << fb);
    regs[byte] = lo as u8;
    // The second byte of the last register is past the area (and would receive only
    // zero bits): Redis writes the string's terminator there, unchanged.
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = ((*b as u16 & !((REGISTER_MAX as u16) >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// Raises register `i` of a dense HLL string to `count` if it is lower; true if it
/// changed (Redis's `hllDenseSet`).
pub fn dense_raise(hll: &mut [u8], i: usize, count: u8) -> bool {
    let regs = &mut hll[HDR..];
    if count > dense_get(regs, i) {
        dense_set_register(regs, i, count);
        true
    } else {
        false
    }
}

/// Converts a sparse HLL string to dense in place, keeping the header (magic, unused
/// bytes and cached count) but for the encoding (Redis's `hllSparseToDense`). A dense
/// one is left as it is. On corrupt opcodes the string is left unchanged.
pub fn to_dense(hll: &mut Vec<u8>) -> Result<(), Invalid> {
    if encoding(hll) == Encoding::Dense {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&hll[..HDR]);
    dense[ENCODING_AT] = Encoding::Dense as u8;
    let regs = &mut dense[HDR..];
    sparse::for_each_run(&hll[HDR..], |first, len, value| {
        if value > 0 {
            for i in first..first + len {
                dense_set_register(regs, i, value);
            }
        }
    })?;
    *hll = dense;
    Ok(())
}

/* ----------------------------- Counting ----------------------------------- */

/// How many registers hold each value (indices above Q+1 occur only in strings
/// written by clients; the estimator ignores them, as Redis's does).
pub type Histogram = [u64; 64];

/// The register histogram of a validated HLL string; `Corrupt` for sparse opcodes
/// that do not cover exactly the 16384 registers.
pub fn histogram(hll: &[u8]) -> Result<Histogram, Invalid> {
    let mut h = [0u64; 64];
    match encoding(hll) {
        Encoding::Dense => {
            let regs = &hll[HDR..];
            for i in 0..REGISTERS {
                h[dense_get(regs, i) as usize] += 1;
            }
        }
        Encoding::Sparse => sparse::histogram(&hll[HDR..], &mut h)?,
    }
    Ok(h)
}

/// The histogram of registers held one per byte (the union PFCOUNT builds).
pub fn raw_histogram(regs: &[u8; REGISTERS]) -> Histogram {
    let mut h = [0u64; 64];
    for &r in regs {
        h[(r & 63) as usize] += 1;
    }
    h
}

/// Raises each of `max`'s registers to the HLL's (Redis's `hllMerge`); `Corrupt` for
/// sparse opcodes that do not cover exactly the 16384 registers (registers before
/// the fault are raised already, as in Redis).
pub fn merge_into(max: &mut [u8; REGISTERS], hll: &[u8]) -> Result<(), Invalid> {
    match encoding(hll) {
        Encoding::Dense => {
            let regs = &hll[HDR..];
            for (i, m) in max.iter_mut().enumerate() {
                *m = (*m).max(dense_get(regs, i));
            }
            Ok(())
        }
        Encoding::Sparse => sparse::for_each_run(&hll[HDR..], |first, len, value| {
            for m in &mut max[first..first + len] {
                *m = (*m).max(value);
            }
        }),
    }
}

/// The estimate from a register histogram: Otmar Ertl's improved estimator
/// ("New cardinality estimation algorithms for HyperLogLog sketches",
/// arXiv:1702.01284), with Redis's exact sequence of floating-point operations, so
/// the numbers are Redis's.
pub fn estimate(h: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    to_count(ALPHA_INF * m * m / z)
}

/// Redis's `(uint64_t)(double)llroundl(e)` on x86-64: half away from zero; a value
/// beyond the range of a `long long` (only registers written by a client get there, or
/// z = 0 when every register is above Q+1) gives LLONG_MIN, which reads as 2^63.
fn to_count(e: f64) -> u64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    let r = e.round();
    if r.is_nan() || !(-LIMIT..LIMIT).contains(&r) {
        return 1 << 63;
    }
    // Through a double, as Redis keeps the rounded count in one.
    (r as i64) as f64 as u64
}

/// Ertl's sigma function (Redis's `hllSigma`).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    for _ in 0..MAX_ROUNDS {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            break;
        }
    }
    z
}

/// Ertl's tau function (Redis's `hllTau`).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    for _ in 0..MAX_ROUNDS {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        // Redis writes pow(1 - x, 2), which compilers turn into this exact product.
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            break;
        }
    }
    z / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_and_registers_match_redis() {
        // PFADD h a b c on Redis 7.0 leaves these sparse opcodes.
        let mut regs: Vec<(usize, u8)> = ["a", "b", "c"].iter().map(|e| register_of(e.as_bytes())).collect();
        regs.sort();
        assert_eq!(regs, vec![(8436, 1), (12711, 2), (15780, 1)]);
    }

    #[test]
    fn new_sparse_is_redis_bytes() {
        assert_eq!(new_sparse(), b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff");
        assert_eq!(check(&new_sparse()), Ok(Encoding::Sparse));
        assert_eq!(cached_count(&new_sparse()), Some(0));
    }

    #[test]
    fn header_checks() {
        assert_eq!(check(b"HYLL"), Err(Invalid::NotHll));
        assert_eq!(check(b"HYLX\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), Err(Invalid::NotHll));
        assert_eq!(check(b"HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), Err(Invalid::NotHll));
        assert_eq!(check(b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), Err(Invalid::NotHll));
        let mut dense = vec![0u8; DENSE_SIZE];
        dense[..4].copy_from_slice(b"HYLL");
        assert_eq!(check(&dense), Ok(Encoding::Dense));
        assert_eq!(DENSE_SIZE, 12304);
    }

    #[test]
    fn dense_registers_round_trip_without_touching_neighbours() {
        let mut regs = vec![0u8; REGISTERS * BITS / 8];
        let mut expect = vec![0u8; REGISTERS];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..3 {
            for (i, e) in expect.iter_mut().enumerate() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = (x % 64) as u8;
                if round == 0 || i % 3 == 0 {
                    dense_set_register(&mut regs, i, v);
                    *e = v;
                }
            }
            for (i, &e) in expect.iter().enumerate() {
                assert_eq!(dense_get(&regs, i), e, "register {i}");
            }
        }
    }

    #[test]
    fn estimator_limits() {
        let mut h = [0u64; 64];
        h[0] = REGISTERS as u64;
        assert_eq!(estimate(&h), 0);
        // One register at 1: Redis counts 1.
        h[0] -= 1;
        h[1] = 1;
        assert_eq!(estimate(&h), 1);
        // Every register at 63 (a string SET by a client): z = 0, an infinite estimate.
        let mut h = [0u64; 64];
        h[63] = REGISTERS as u64;
        assert_eq!(estimate(&h), 1 << 63);
        assert_eq!(to_count(2.5), 3);
        assert_eq!(to_count(1e300), 1 << 63);
    }
}
