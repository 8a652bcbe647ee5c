//! ziplist (Redis before 7.0: small lists, hashes and zsets, and quicklist nodes).
//! Only decoded: Redis 7.0 converts ziplists to listpacks on load, and so do we.
//!
//! ```text
//! zlbytes u32 LE | zltail u32 LE | zllen u16 LE (65535: count them) | entries | 0xFF
//! entry: prevlen (1 byte < 254, or 0xFE + u32 LE) | encoding | data
//! ```
//! Encodings: `00pppppp` string up to 63; `01pppppp qqqqqqqq` up to 16383 (big-endian);
//! `10000000`+u32 BE longer string; `0xC0` int16, `0xD0` int32, `0xE0` int64,
//! `0xF0` int24, `0xFE` int8 (little-endian); `0xF1`..`0xFD` the values 0..12.

use super::{bytes_at, BlobError, Elem};

const HEADER: usize = 10;
const END: u8 = 0xff;
const BIG_PREVLEN: u8 = 0xfe;

/// Decodes every entry, checking the header, each entry's prevlen against the real
/// length of the entry before it, the tail offset and the terminator
/// (`ziplistValidateIntegrity` with deep checking).
pub fn decode(blob: &[u8]) -> Result<Vec<Elem>, BlobError> {
    let total = u32::from_le_bytes(bytes_at(blob, 0, "ziplist header")?) as usize;
    let tail = u32::from_le_bytes(bytes_at(blob, 4, "ziplist header")?) as usize;
    let count = u16::from_le_bytes(bytes_at(blob, 8, "ziplist header")?) as usize;
    if total != blob.len() || total < HEADER + 1 || blob[total - 1] != END {
        return Err(BlobError("ziplist size"));
    }
    let mut out = Vec::with_capacity(count.min(blob.len()));
    let mut p = HEADER;
    let mut prev_len = 0usize;
    let mut last_start = HEADER;
    while blob[p] != END {
        let (stored_prev, prev_size) = if blob[p] == BIG_PREVLEN {
            (u32::from_le_bytes(bytes_at(blob, p + 1, "ziplist prevlen")?) as usize, 5)
        } else {
            (blob[p] as usize, 1)
        };
        if stored_prev != prev_len {
            return Err(BlobError("ziplist prevlen"));
        }
        let (elem, body) = entry(blob, p + prev_size)?;
        let len = prev_size + body;
        out.push(elem);
        last_start = p;
        prev_len = len;
        p = p.checked_add(len).ok_or(BlobError("ziplist entry"))?;
        if p >= total {
            return Err(BlobError("ziplist entry past the end"));
        }
    }
    if p != total - 1 || (!out.is_empty() && tail != last_start) || (count != 65535 && count != out.len()) {
        return Err(BlobError("ziplist header"));
    }
    Ok(out)
}

/// The element whose encoding byte is at `p`, and the length of encoding plus data.
fn entry(blob: &[u8], p: usize) -> Result<(Elem, usize), BlobError> {
    let b = *blob.get(p).ok_or(BlobError("ziplist entry"))?;
    let s = |start: usize, len: usize| -> Result<Elem, BlobError> {
        let end = start.checked_add(len).ok_or(BlobError("ziplist string"))?;
        Ok(Elem::Bytes(blob.get(start..end).ok_or(BlobError("ziplist string"))?.to_vec()))
    };
    let le = |n: usize| -> Result<i64, BlobError> {
        let bytes = blob.get(p + 1..p + 1 + n).ok_or(BlobError("ziplist integer"))?;
        let v = bytes.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64);
        let bits = 8 * n as u32;
        Ok(((v << (64 - bits)) as i64) >> (64 - bits))
    };
    Ok(match b >> 6 {
        0 => {
            let len = (b & 0x3f) as usize;
            (s(p + 1, len)?, 1 + len)
        }
        1 => {
            let lo = *blob.get(p + 1).ok_or(BlobError("ziplist string"))? as usize;
            let len = ((b as usize & 0x3f) << 8) | lo;
            (s(p + 2, len)?, 2 + len)
        }
        2 => {
            if b != 0x80 {
                return Err(BlobError("ziplist encoding"));
            }
            let len = u32::from_be_bytes(bytes_at(blob, p + 1, "ziplist string")?) as usize;
            (s(p + 5, len)?, 5 + len)
        }
        _ => match b {
            0xc0 => (Elem::Int(le(2)?), 3),
            0xd0 => (Elem::Int(le(4)?), 5),
            0xe0 => (Elem::Int(le(8)?), 9),
            0xf0 => (Elem::Int(le(3)?), 4),
            0xfe => (Elem::Int(le(1)?), 2),
            0xf1..=0xfd => (Elem::Int((b & 0x0f) as i64 - 1), 1),
            _ => return Err(BlobError("ziplist encoding")),
        },
    })
}

/// Builds a ziplist (for tests of the loader: Redoubt never writes one).
#[cfg(test)]
pub fn build(elems: &[Elem]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut tail = HEADER;
    for e in elems {
        let start = body.len();
        tail = HEADER + start;
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(BIG_PREVLEN);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match e {
            Elem::Int(v @ 0..=12) => body.push(0xf1 + *v as u8),
            Elem::Int(v) if (-128..=127).contains(v) => body.extend_from_slice(&[0xfe, *v as i8 as u8]),
            Elem::Int(v) if (i16::MIN as i64..=i16::MAX as i64).contains(v) => {
                body.push(0xc0);
                body.extend_from_slice(&(*v as i16).to_le_bytes());
            }
            Elem::Int(v) if (-(1 << 23)..(1 << 23)).contains(v) => {
                body.push(0xf0);
                body.extend_from_slice(&(*v as i32).to_le_bytes()[..3]);
            }
            Elem::Int(v) if (i32::MIN as i64..=i32::MAX as i64).contains(v) => {
                body.push(0xd0);
                body.extend_from_slice(&(*v as i32).to_le_bytes());
            }
            Elem::Int(v) => {
                body.push(0xe0);
                body.extend_from_slice(&v.to_le_bytes());
            }
            Elem::Bytes(b) if b.len() < 64 => {
                body.push(b.len() as u8);
                body.extend_from_slice(b);
            }
            Elem::Bytes(b) if b.len() < 16384 => {
                body.extend_from_slice(&[0x40 | (b.len() >> 8) as u8, b.len() as u8]);
                body.extend_from_slice(b);
            }
            Elem::Bytes(b) => {
                body.push(0x80);
                body.extend_from_slice(&(b.len() as u32).to_be_bytes());
                body.extend_from_slice(b);
            }
        }
        prev = body.len() - start;
    }
    let mut out = Vec::new();
    out.extend_from_slice(&((HEADER + body.len() + 1) as u32).to_le_bytes());
    out.extend_from_slice(&(tail as u32).to_le_bytes());
    out.extend_from_slice(&(elems.len().min(65535) as u16).to_le_bytes());
    out.extend_from_slice(&body);
    out.push(END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let elems = vec![
            Elem::Int(0),
            Elem::Int(12),
            Elem::Int(13),
            Elem::Int(-100),
            Elem::Int(1000),
            Elem::Int(100_000),
            Elem::Int(1 << 30),
            Elem::Int(i64::MIN),
            Elem::Bytes(b"hi".to_vec()),
            Elem::Bytes(vec![b'a'; 300]),
            Elem::Bytes(vec![b'b'; 20000]),
            Elem::Bytes(vec![]),
        ];
        assert_eq!(decode(&build(&elems)).unwrap(), elems);
        assert_eq!(decode(&build(&[])).unwrap(), vec![]);
    }

    #[test]
    fn rejects_corruption() {
        let good = build(&[Elem::Bytes(b"abc".to_vec()), Elem::Int(7)]);
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                let _ = decode(&bad);
            }
        }
        assert!(decode(&good[..good.len() - 1]).is_err());
    }
}
