//! LZF compression, in liblzf's format and with liblzf's algorithm as Redis builds it
//! (`lzf_c.c` with `HLOG 16`, `VERY_FAST`), so that strings Redoubt compresses load in
//! Redis and compress to the same bytes Redis would produce.
//!
//! The format is a sequence of runs, each introduced by a control byte `c`:
//! - `c < 32`: a literal run of `c + 1` bytes follows;
//! - otherwise a back-reference: length `c >> 5` (7 means "add the next byte"), plus 2;
//!   offset `((c & 0x1f) << 8) + next byte + 1` back from the output position.
//!
//! Like liblzf (whose table is uninitialised stack memory that in practice holds the
//! previous call's positions), the hash table is not cleared between calls: a stale
//! slot is only a candidate, used when the bytes it points at really match, so the
//! output is always correct; clearing 256 KB per string would cost more than the
//! compression itself.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

thread_local! {
    static HTAB: RefCell<Vec<u32>> = RefCell::new(vec![0; HSIZE]);
}

#[inline]
fn idx(h: u32) -> usize {
    // VERY_FAST: ((h >> (3*8 - HLOG)) - h*5) & (HSIZE - 1)
    ((h >> (24 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` into at most `max_out` bytes; `None` when the result would not
/// fit (the caller then stores the string uncompressed), as `lzf_compress` returns 0.
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    if input.is_empty() || max_out == 0 {
        return None;
    }
    HTAB.with(|t| compress_with(&mut t.borrow_mut(), input, max_out))
}

/// The open literal run of the output: how many bytes it holds so far, and where its
/// control byte sits (a placeholder until the run closes).
struct LiteralRun {
    len: usize,
    ctrl_at: usize,
}

impl LiteralRun {
    /// Opens a run at the end of `out`, with a placeholder for its control byte.
    fn open(out: &mut Vec<u8>) -> LiteralRun {
        out.push(0);
        LiteralRun { len: 0, ctrl_at: out.len() - 1 }
    }

    /// Appends a literal byte; a run that reaches `MAX_LIT` bytes is closed and the
    /// next one opened.
    fn push(&mut self, out: &mut Vec<u8>, b: u8) {
        self.len += 1;
        out.push(b);
        if self.len == MAX_LIT {
            self.close(out);
            *self = LiteralRun::open(out);
        }
    }

    /// Closes the run: writes its control byte, or drops the placeholder when the
    /// run is empty (it is then the last byte of `out`).
    fn close(&self, out: &mut Vec<u8>) {
        if self.len == 0 {
            out.pop();
        } else {
            out[self.ctrl_at] = (self.len - 1) as u8;
        }
    }
}

fn compress_with(htab: &mut [u32], input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    let mut out: Vec<u8> = Vec::with_capacity(max_out.min(in_len + in_len / 16 + 64));
    let first = |p: usize| ((input[p] as u32) << 8) | input[p + 1] as u32;
    let next = |v: u32, p: usize| (v << 8) | input[p + 2] as u32;
    let mut lit = LiteralRun::open(&mut out);
    let mut ip = 0usize;
    if in_len >= 2 {
        let mut hval = first(0);
        while ip + 2 < in_len {
            hval = next(hval, ip);
            let slot = idx(hval);
            let r = htab[slot] as usize;
            htab[slot] = ip as u32;
            let off = ip.wrapping_sub(r).wrapping_sub(1);
            if r < ip
                && off < MAX_OFF
                && r > 0
                && input[r + 2] == input[ip + 2]
                && input[r] == input[ip]
                && input[r + 1] == input[ip + 1]
            {
                let mut len = 2usize;
                let maxlen = (in_len - ip - len).min(MAX_REF);
                // Room for the reference (up to 3 bytes) and the next run's control byte.
                let pending = if lit.len == 0 { out.len() - 1 } else { out.len() };
                if pending + 3 + 1 >= max_out {
                    return None;
                }
                lit.close(&mut out);
                // liblzf's unrolled first 16 steps skip the bound check (safe there:
                // `maxlen > 16` leaves 18 readable bytes), so a match near the end of
                // the input can run up to two bytes past `maxlen`; kept for identical
                // output.
                let mut mismatch = false;
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            mismatch = true;
                            break;
                        }
                    }
                }
                if !mismatch {
                    loop {
                        len += 1;
                        if len >= maxlen || input[r + len] != input[ip + len] {
                            break;
                        }
                    }
                }
                len -= 2; // now the number of octets - 1
                ip += 1;
                if len < 7 {
                    out.push(((off >> 8) + (len << 5)) as u8);
                } else {
                    out.push(((off >> 8) + (7 << 5)) as u8);
                    out.push((len - 7) as u8);
                }
                out.push(off as u8);
                lit = LiteralRun::open(&mut out);
                ip += len + 1;
                if ip + 2 >= in_len {
                    break;
                }
                // VERY_FAST: re-hash the two positions before the new one.
                ip -= 2;
                hval = first(ip);
                hval = next(hval, ip);
                htab[idx(hval)] = ip as u32;
                ip += 1;
                hval = next(hval, ip);
                htab[idx(hval)] = ip as u32;
                ip += 1;
            } else {
                if out.len() >= max_out {
                    return None;
                }
                lit.push(&mut out, input[ip]);
                ip += 1;
            }
        }
    }
    if out.len() + 3 > max_out {
        return None;
    }
    for &b in input.get(ip..).unwrap_or_default() {
        lit.push(&mut out, b);
    }
    lit.close(&mut out);
    (out.len() <= max_out).then_some(out)
}

/// Why a compressed string could not be expanded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// The runs would write more than the declared length.
    Overflow,
    /// A back-reference points before the start of the output.
    BadReference,
    /// The input ends inside a run.
    Truncated,
}

/// Expands `input` into exactly `out_len` bytes.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if ip + n > input.len() {
                return Err(DecompressError::Truncated);
            }
            if out.len() + n > out_len {
                return Err(DecompressError::Overflow);
            }
            out.extend_from_slice(&input[ip..ip + n]);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip).ok_or(DecompressError::Truncated)? as usize;
                ip += 1;
            }
            let low = *input.get(ip).ok_or(DecompressError::Truncated)? as usize;
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            let n = len + 2;
            if back > out.len() {
                return Err(DecompressError::BadReference);
            }
            if out.len() + n > out_len {
                return Err(DecompressError::Overflow);
            }
            // Byte by byte: the source may overlap the bytes being written (runs).
            let start = out.len() - back;
            for i in 0..n {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    if out.len() != out_len {
        return Err(DecompressError::Truncated);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        if let Some(c) = compress(data, data.len() + 64) {
            assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn round_trips() {
        round_trip(b"a");
        round_trip(b"ab");
        round_trip(b"abc");
        round_trip(&[b'a'; 1000]);
        round_trip(b"hello hello hello hello hello world world world");
        let mixed: Vec<u8> = (0..100_000u32).map(|i| ((i * 7919) % 253) as u8 ^ (i / 1000) as u8).collect();
        round_trip(&mixed);
        let text: Vec<u8> = (0..20_000).flat_map(|i: u32| format!("key:{i} value:{}", i % 97).into_bytes()).collect();
        round_trip(&text);
    }

    #[test]
    fn known_bytes() {
        // What Redis 7.0 writes for 100 times 'a' (its DUMP payload holds these bytes).
        let c = compress(&[b'a'; 100], 96).unwrap();
        assert_eq!(c, vec![0x01, b'a', b'a', 0xe0, 0x57, 0x00, 0x01, b'a', b'a']);
        assert_eq!(decompress(&c, 100).unwrap(), vec![b'a'; 100]);
    }

    #[test]
    fn incompressible_is_refused() {
        let data: Vec<u8> = (0..64u8).collect();
        assert_eq!(compress(&data, data.len() - 4), None);
    }

    #[test]
    fn corrupt_input_is_an_error() {
        assert_eq!(decompress(&[0x05, b'a'], 6), Err(DecompressError::Truncated));
        assert_eq!(decompress(&[0x20, 0x05], 3), Err(DecompressError::BadReference));
        assert_eq!(decompress(&[0x01, b'a', b'b'], 1), Err(DecompressError::Overflow));
        assert_eq!(decompress(&[0x00, b'a', 0xe0], 100), Err(DecompressError::Truncated));
    }
}
