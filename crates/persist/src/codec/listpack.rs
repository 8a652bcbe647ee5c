//! listpack (Redis 7.0's compact list, hash and zset encoding).
//!
//! ```text
//! total-bytes u32 LE | num-elements u16 LE (65535: count them) | entries | 0xFF
//! entry: encoding+data | backlen (1-5 bytes: the entry's length, 7 bits a byte)
//! ```
//! Encodings: `0xxxxxxx` 7-bit uint; `10xxxxxx` string up to 63 bytes; `110xxxxx`+1
//! 13-bit int; `1110xxxx`+1 string up to 4095 bytes; `0xF0`+u32 longer string;
//! `0xF1`/`0xF2`/`0xF3`/`0xF4` 16/24/32/64-bit ints (little-endian).
//!
//! Entries are encoded by the engine's listpack (`redoubt_engine::types::list::listpack`,
//! whose list nodes are this very format); here foreign blobs are validated and read,
//! and new ones assembled for RDB files.

use redoubt_engine::types::list::listpack::{as_elem, encode, push_backlen};
use redoubt_engine::types::packed::Elem as Entry;

use super::{bytes_at, BlobError, Elem};

const HEADER: usize = 6;
const EOF: u8 = 0xff;
/// `num-elements` saturates here; the real count is then found by walking.
const NUMELE_UNKNOWN: usize = 65535;

/// Decodes every element, validating the header, every entry's encoding and backlen,
/// and the terminator (Redis's `lpValidateIntegrity` with deep checking).
pub fn decode(blob: &[u8]) -> Result<Vec<Elem>, BlobError> {
    let total = u32::from_le_bytes(bytes_at(blob, 0, "listpack header")?) as usize;
    let count = u16::from_le_bytes(bytes_at(blob, 4, "listpack header")?) as usize;
    if total != blob.len() || total < HEADER + 1 || blob[total - 1] != EOF {
        return Err(BlobError("listpack size"));
    }
    let mut out = Vec::with_capacity(count.min(blob.len()));
    let mut p = HEADER;
    while blob[p] != EOF {
        let (elem, len) = entry(blob, p)?;
        let back_len = check_backlen(blob, p + len, len)?;
        out.push(elem);
        p += len + back_len;
        if p >= total {
            return Err(BlobError("listpack entry past the end"));
        }
    }
    if p != total - 1 || (count != NUMELE_UNKNOWN && count != out.len()) {
        return Err(BlobError("listpack count"));
    }
    Ok(out)
}

/// The element at `p` and the length of its encoding plus data.
fn entry(blob: &[u8], p: usize) -> Result<(Elem, usize), BlobError> {
    let b = blob[p];
    let s = |start: usize, len: usize| -> Result<Elem, BlobError> {
        let end = start.checked_add(len).ok_or(BlobError("listpack string"))?;
        Ok(Elem::Bytes(blob.get(start..end).ok_or(BlobError("listpack string"))?.to_vec()))
    };
    let int = |n: usize| -> Result<u64, BlobError> {
        let bytes = blob.get(p + 1..p + 1 + n).ok_or(BlobError("listpack integer"))?;
        Ok(bytes.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    };
    let signed = |v: u64, bits: u32| -> i64 { ((v << (64 - bits)) as i64) >> (64 - bits) };
    Ok(match b {
        0x00..=0x7f => (Elem::Int(b as i64), 1),
        0x80..=0xbf => {
            let len = (b & 0x3f) as usize;
            (s(p + 1, len)?, 1 + len)
        }
        0xc0..=0xdf => {
            let lo = *blob.get(p + 1).ok_or(BlobError("listpack integer"))? as u64;
            (Elem::Int(signed(((b as u64 & 0x1f) << 8) | lo, 13)), 2)
        }
        0xe0..=0xef => {
            let lo = *blob.get(p + 1).ok_or(BlobError("listpack string"))? as usize;
            let len = ((b as usize & 0x0f) << 8) | lo;
            (s(p + 2, len)?, 2 + len)
        }
        0xf0 => {
            let len = u32::from_le_bytes(bytes_at(blob, p + 1, "listpack string")?) as usize;
            (s(p + 5, len)?, 5 + len)
        }
        0xf1 => (Elem::Int(signed(int(2)?, 16)), 3),
        0xf2 => (Elem::Int(signed(int(3)?, 24)), 4),
        0xf3 => (Elem::Int(signed(int(4)?, 32)), 5),
        0xf4 => (Elem::Int(int(8)? as i64), 9),
        _ => return Err(BlobError("listpack encoding")),
    })
}

/// Checks the backlen after an entry of `len` bytes that ends at `p`: it must be the
/// exact encoding of `len` (what a reader walking backwards relies on). Returns its size.
fn check_backlen(blob: &[u8], p: usize, len: usize) -> Result<usize, BlobError> {
    let mut want = Vec::with_capacity(5);
    push_backlen(&mut want, len);
    match blob.get(p..p + want.len()) {
        Some(got) if got == want.as_slice() => Ok(want.len()),
        _ => Err(BlobError("listpack backlen")),
    }
}

/// Builds a listpack, one element at a time, as `lpAppend` would.
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    pub fn new() -> Builder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; HEADER]);
        Builder { buf, count: 0 }
    }

    /// Bytes the listpack would have if finished now.
    pub fn len(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends a string, as an integer when it is one (what Redis does with every
    /// element it stores).
    pub fn push_str(&mut self, s: &[u8]) {
        self.push(as_elem(s));
    }

    /// Appends bytes as a string entry.
    pub fn push_bytes(&mut self, s: &[u8]) {
        self.push(Entry::Str(s));
    }

    /// Appends an integer in the smallest encoding that holds it.
    pub fn push_int(&mut self, v: i64) {
        self.push(Entry::Int(v));
    }

    fn push(&mut self, e: Entry<'_>) {
        encode(e, &mut self.buf);
        self.count += 1;
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(NUMELE_UNKNOWN) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_encoding() {
        let mut b = Builder::new();
        let ints = [0, 127, 128, -1, -4096, 4095, 4096, -32768, 32767, 32768, -(1 << 23), (1 << 23) - 1, 1 << 23];
        let more = [i32::MIN as i64, i32::MAX as i64, i32::MAX as i64 + 1, i64::MIN, i64::MAX];
        for v in ints.iter().chain(more.iter()) {
            b.push_int(*v);
        }
        let strings = [
            vec![],
            b"abc".to_vec(),
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 4096],
            vec![b'v'; 20000],
        ];
        for s in &strings {
            b.push_bytes(s);
        }
        b.push_str(b"007");
        b.push_str(b"-12");
        let blob = b.finish();
        let elems = decode(&blob).unwrap();
        let mut want: Vec<Elem> = ints.iter().chain(more.iter()).map(|&v| Elem::Int(v)).collect();
        want.extend(strings.iter().map(|s| Elem::Bytes(s.clone())));
        want.push(Elem::Bytes(b"007".to_vec()));
        want.push(Elem::Int(-12));
        assert_eq!(elems, want);
    }

    #[test]
    fn redis_bytes() {
        // HSET h a 1 in Redis 7.0 holds exactly this listpack.
        let mut b = Builder::new();
        b.push_str(b"a");
        b.push_str(b"1");
        assert_eq!(b.finish(), b"\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff");
    }

    #[test]
    fn rejects_corruption() {
        let mut b = Builder::new();
        b.push_str(b"hello");
        b.push_str(b"12345");
        let good = b.finish();
        assert!(decode(&good).is_ok());
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            // Any single flipped bit either still decodes to something or is rejected;
            // it never panics or reads out of bounds.
            let _ = decode(&bad);
        }
        assert!(decode(&good[..good.len() - 1]).is_err());
        let mut wrong_count = good.clone();
        wrong_count[4] = 3;
        assert!(decode(&wrong_count).is_err());
    }
}
