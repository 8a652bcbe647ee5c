//! intset: a sorted array of integers, all of one width.
//!
//! ```text
//! encoding u32 LE (2, 4 or 8: bytes per element) | length u32 LE | elements LE, ascending
//! ```

use super::{bytes_at, BlobError};

/// Decodes an intset, checking its header, its size and that it is sorted without
/// duplicates (Redis's `intsetValidateIntegrity` with deep checking).
pub fn decode(blob: &[u8]) -> Result<Vec<i64>, BlobError> {
    let enc = u32::from_le_bytes(bytes_at(blob, 0, "intset header")?) as usize;
    let len = u32::from_le_bytes(bytes_at(blob, 4, "intset header")?) as usize;
    if !matches!(enc, 2 | 4 | 8) {
        return Err(BlobError("intset encoding"));
    }
    if len == 0 || blob.len() != 8 + len.checked_mul(enc).ok_or(BlobError("intset length"))? {
        return Err(BlobError("intset length"));
    }
    let mut out = Vec::with_capacity(len);
    for chunk in blob[8..].chunks_exact(enc) {
        let v = match enc {
            2 => i16::from_le_bytes([chunk[0], chunk[1]]) as i64,
            4 => i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as i64,
            _ => i64::from_le_bytes(chunk.try_into().map_err(|_| BlobError("intset element"))?),
        };
        if out.last().is_some_and(|&prev| prev >= v) {
            return Err(BlobError("intset order"));
        }
        out.push(v);
    }
    Ok(out)
}

/// Encodes sorted, distinct integers as Redis does: the narrowest width that holds them.
pub fn encode(sorted: &[i64]) -> Vec<u8> {
    debug_assert!(sorted.windows(2).all(|w| w[0] < w[1]));
    let width = |v: i64| {
        if v >= i16::MIN as i64 && v <= i16::MAX as i64 {
            2
        } else if v >= i32::MIN as i64 && v <= i32::MAX as i64 {
            4
        } else {
            8
        }
    };
    let enc = sorted.iter().map(|&v| width(v)).max().unwrap_or(2);
    let mut out = Vec::with_capacity(8 + enc * sorted.len());
    out.extend_from_slice(&(enc as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        match enc {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_widths() {
        for set in [vec![1, 2, 3], vec![-40000, 5], vec![i64::MIN, 0, i64::MAX]] {
            let blob = encode(&set);
            assert_eq!(decode(&blob).unwrap(), set);
        }
        assert_eq!(encode(&[1, 2, 3]), b"\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00");
    }

    #[test]
    fn rejects_bad_blobs() {
        assert!(decode(b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00").is_err());
        assert!(decode(b"\x03\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00").is_err());
        assert!(decode(b"\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\x01\x00").is_err());
        assert!(decode(b"\x02\x00").is_err());
    }
}
