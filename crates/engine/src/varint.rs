//! LEB128 varints: the lengths in the engine's own packed layouts — a key's length in
//! its entry (`entry.rs`), a long string in a packed array (`types/packed.rs`), a
//! member of a small sorted set (`types/zset/packed.rs`), a field of a hash pair
//! (`types/hash.rs`). Seven bits a byte, lowest first; a set top bit means another
//! byte follows. (Redis's own formats, the listpack's backlens among them, are not
//! these.)

/// The most bytes the varint of a `usize` takes.
pub const MAX_BYTES: usize = 10;

/// Bytes the varint of `v` takes.
pub fn len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Writes the varint of `v` at the start of `out`, which has room for [`len`]`(v)`
/// bytes; returns that length.
pub fn write(out: &mut [u8], mut v: usize) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

/// Appends the varint of `v` to `out`.
pub fn push(out: &mut Vec<u8>, v: usize) {
    let mut b = [0u8; MAX_BYTES];
    let n = write(&mut b, v);
    out.extend_from_slice(&b[..n]);
}

/// Reads the varint at the start of `b`: (value, bytes it takes).
///
/// Every buffer read here was written by the engine itself, so its varints are whole;
/// one cut off by the end of `b` (a bug) fails a debug assertion, and in a release
/// build reads as far as it goes rather than panicking.
pub fn read(b: &[u8]) -> (usize, usize) {
    read_with(|i| b.get(i).copied())
}

/// [`read`] over bytes handed out one at a time by `byte(i)` (None past the end), for
/// a varint that is not in a slice (an entry's header, behind a raw pointer).
pub fn read_with(mut byte: impl FnMut(usize) -> Option<u8>) -> (usize, usize) {
    let (mut v, mut shift, mut i) = (0usize, 0u32, 0);
    while let Some(b) = byte(i) {
        v |= ((b & 0x7f) as usize) << shift.min(63);
        i += 1;
        if b & 0x80 == 0 {
            return (v, i);
        }
        shift += 7;
    }
    debug_assert!(false, "truncated varint");
    (v, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_every_length() {
        for v in [0usize, 1, 127, 128, 300, 16383, 16384, 1 << 21, 1 << 35, usize::MAX] {
            let mut b = Vec::new();
            push(&mut b, v);
            assert_eq!(b.len(), len(v), "{v}");
            assert_eq!(read(&b), (v, b.len()), "{v}");
            b.push(0xAA);
            assert_eq!(read(&b), (v, b.len() - 1), "{v}: stops at its last byte");
        }
        assert_eq!(len(usize::MAX), MAX_BYTES);
        let mut b = Vec::new();
        push(&mut b, 300);
        assert_eq!(b, [0xAC, 0x02]);
    }
}
