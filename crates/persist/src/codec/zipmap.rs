//! zipmap (small hashes before Redis 2.6). Only decoded.
//!
//! ```text
//! zmlen u8 | (len key len free value free-bytes)* | 0xFF
//! len: 1 byte below 254, or 254 + u32 LE
//! ```

use super::{bytes_at, BlobError, Pairs};

const END: u8 = 0xff;
const BIGLEN: u8 = 254;

/// Decodes the field-value pairs, checking every length against the blob.
pub fn decode(blob: &[u8]) -> Result<Pairs, BlobError> {
    if blob.len() < 2 || blob[blob.len() - 1] != END {
        return Err(BlobError("zipmap size"));
    }
    let mut out = Vec::new();
    let mut p = 1;
    let len_at = |p: usize| -> Result<(usize, usize), BlobError> {
        match blob.get(p) {
            Some(&BIGLEN) => Ok((u32::from_le_bytes(bytes_at(blob, p + 1, "zipmap length")?) as usize, 5)),
            Some(&END) | None => Err(BlobError("zipmap length")),
            Some(&b) => Ok((b as usize, 1)),
        }
    };
    let take = |p: usize, n: usize| -> Result<Vec<u8>, BlobError> {
        let end = p.checked_add(n).ok_or(BlobError("zipmap string"))?;
        Ok(blob.get(p..end).ok_or(BlobError("zipmap string"))?.to_vec())
    };
    while blob.get(p) != Some(&END) {
        let (klen, s) = len_at(p)?;
        p += s;
        let key = take(p, klen)?;
        p += klen;
        let (vlen, s) = len_at(p)?;
        p += s;
        let free = *blob.get(p).ok_or(BlobError("zipmap free"))? as usize;
        p += 1;
        let value = take(p, vlen)?;
        p = p.checked_add(vlen + free).ok_or(BlobError("zipmap string"))?;
        out.push((key, value));
        if p >= blob.len() {
            return Err(BlobError("zipmap entry past the end"));
        }
    }
    if p != blob.len() - 1 {
        return Err(BlobError("zipmap trailing bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_rejects() {
        // {"a": "1", "bb": "22"} with one free byte after the second value.
        let blob = b"\x02\x01a\x01\x001\x02bb\x02\x0122x\xff";
        assert_eq!(decode(blob).unwrap(), vec![(b"a".to_vec(), b"1".to_vec()), (b"bb".to_vec(), b"22".to_vec())]);
        assert!(decode(&blob[..blob.len() - 2]).is_err());
        assert!(decode(b"\x00\x05ab\xff").is_err());
    }
}
