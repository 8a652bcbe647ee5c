//! [`Listpack`]: one node of a list, laid out byte for byte as Redis's listpack.
//!
//! Using Redis's own format (rather than a private one) costs nothing in memory and
//! makes every node a valid listpack blob: an RDB writer can emit a node as a
//! `QUICKLIST_2` packed node as it is, and a loader can adopt a blob after
//! [`Listpack::from_blob`] has checked it.
//!
//! ```text
//! total-bytes u32 LE | count u16 LE (65535: too many to say) | entries... | 0xFF
//! entry: encoding+data | backlen (the entry's encoding+data length, 1..=5 bytes,
//!        read right to left, so the list can be walked from either end)
//! ```
//!
//! Encodings, by the first byte (Redis's `LP_ENCODING_*`):
//!
//! ```text
//! 0xxxxxxx   7-bit unsigned integer               10xxxxxx   string, 6-bit length
//! 110xxxxx   13-bit signed integer (+1 byte)      1110xxxx   string, 12-bit length (+1 byte)
//! 0xF0       string, 32-bit length                0xF1..0xF4 16/24/32/64-bit integer
//! ```
//!
//! An element that is the canonical text of an integer (Redis's `string2ll`) is stored
//! as that integer and reads back as the same text, so the encoding never shows.
//!
//! Offsets handed out by this type always point at the first byte of an entry (or at
//! the terminator, meaning "the end"); every method keeps them in bounds, so a bad
//! offset is a bug here, not undefined behaviour.

use crate::types::packed::{int_of, Elem};

/// Bytes of the header: total length and element count.
pub const HEADER_BYTES: usize = 6;
const EOF: u8 = 0xFF;
/// The header's count field saturates here ("unknown", recounted by readers).
const COUNT_UNKNOWN: u16 = u16::MAX;

const STR_6BIT: u8 = 0x80;
const INT_13BIT: u8 = 0xC0;
const STR_12BIT: u8 = 0xE0;
const STR_32BIT: u8 = 0xF0;
const INT_16BIT: u8 = 0xF1;
const INT_24BIT: u8 = 0xF2;
const INT_32BIT: u8 = 0xF3;
const INT_64BIT: u8 = 0xF4;

/// One list node: a listpack and its element count.
#[derive(Clone, Debug)]
pub struct Listpack {
    buf: Vec<u8>,
    count: u32,
}

impl Default for Listpack {
    fn default() -> Self {
        Self::new()
    }
}

/// Length of an element's encoding plus data (what its backlen records).
pub fn entry_body_len(e: Elem<'_>) -> usize {
    match e {
        Elem::Int(v) => match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8_388_608..=8_388_607 => 4,
            -2_147_483_648..=2_147_483_647 => 5,
            _ => 9,
        },
        Elem::Str(b) if b.len() < 64 => 1 + b.len(),
        Elem::Str(b) if b.len() < 4096 => 2 + b.len(),
        Elem::Str(b) => 5 + b.len(),
    }
}

/// Bytes the backlen of an entry of `body` bytes takes (Redis's `lpEncodeBacklen`).
fn backlen_len(body: usize) -> usize {
    match body {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Total bytes an element takes in a listpack.
pub fn entry_len(e: Elem<'_>) -> usize {
    let body = entry_body_len(e);
    body + backlen_len(body)
}

/// Appends the encoding, data and backlen of `e` to `out`: one listpack entry, in the
/// smallest encoding that holds it (also what the RDB writer builds blobs with).
pub fn encode(e: Elem<'_>, out: &mut Vec<u8>) {
    let body = entry_body_len(e);
    match e {
        Elem::Int(v) => match body {
            1 => out.push(v as u8),
            2 => {
                let u = (v & 0x1FFF) as u16;
                out.push(INT_13BIT | (u >> 8) as u8);
                out.push(u as u8);
            }
            3 => {
                out.push(INT_16BIT);
                out.extend_from_slice(&(v as i16).to_le_bytes());
            }
            4 => {
                out.push(INT_24BIT);
                out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            5 => {
                out.push(INT_32BIT);
                out.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                out.push(INT_64BIT);
                out.extend_from_slice(&v.to_le_bytes());
            }
        },
        Elem::Str(b) => {
            let n = b.len();
            if n < 64 {
                out.push(STR_6BIT | n as u8);
            } else if n < 4096 {
                out.push(STR_12BIT | (n >> 8) as u8);
                out.push(n as u8);
            } else {
                out.push(STR_32BIT);
                // Elements are bounded by proto-max-bulk-len, far below 4 GB.
                out.extend_from_slice(&(n as u32).to_le_bytes());
            }
            out.extend_from_slice(b);
        }
    }
    push_backlen(out, body);
}

/// Redis's `lpEncodeBacklen`: big-endian 7-bit groups, the continuation bit set on
/// every byte but the first, so a reader starting at the last byte walks left.
pub fn push_backlen(out: &mut Vec<u8>, body: usize) {
    let n = backlen_len(body);
    for i in (0..n).rev() {
        let group = ((body >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Decodes the entry whose encoding byte is at `p[0]`: the element and its body length.
/// None if the bytes are not a well-formed entry within `p`.
fn decode(p: &[u8]) -> Option<(Elem<'_>, usize)> {
    let b0 = *p.first()?;
    let sign = |u: u64, bits: u32| -> i64 {
        let neg = 1u64 << (bits - 1);
        if u >= neg {
            u as i64 - (1i64 << bits)
        } else {
            u as i64
        }
    };
    let le = |from: usize, n: usize| -> Option<u64> {
        let bytes = p.get(from..from + n)?;
        Some(bytes.iter().rev().fold(0u64, |acc, &b| acc << 8 | b as u64))
    };
    let str_at = |from: usize, n: usize| -> Option<(Elem<'_>, usize)> {
        let data = p.get(from..from.checked_add(n)?)?;
        Some((Elem::Str(data), from + n))
    };
    if b0 & 0x80 == 0 {
        return Some((Elem::Int((b0 & 0x7F) as i64), 1));
    }
    if b0 & 0xC0 == STR_6BIT {
        return str_at(1, (b0 & 0x3F) as usize);
    }
    if b0 & 0xE0 == INT_13BIT {
        let u = ((b0 & 0x1F) as u64) << 8 | *p.get(1)? as u64;
        return Some((Elem::Int(sign(u, 13)), 2));
    }
    if b0 & 0xF0 == STR_12BIT {
        let n = ((b0 & 0x0F) as usize) << 8 | *p.get(1)? as usize;
        return str_at(2, n);
    }
    match b0 {
        INT_16BIT => Some((Elem::Int(sign(le(1, 2)?, 16)), 3)),
        INT_24BIT => Some((Elem::Int(sign(le(1, 3)?, 24)), 4)),
        INT_32BIT => Some((Elem::Int(sign(le(1, 4)?, 32)), 5)),
        INT_64BIT => Some((Elem::Int(le(1, 8)? as i64), 9)),
        STR_32BIT => str_at(5, usize::try_from(le(1, 4)?).ok()?),
        _ => None,
    }
}

/// Reads a backlen whose last byte is `p[end]`, walking left: (value, bytes used).
fn read_backlen(p: &[u8], end: usize) -> Option<(usize, usize)> {
    let mut v = 0usize;
    for i in 0..5 {
        let b = *p.get(end.checked_sub(i)?)?;
        v |= ((b & 127) as usize) << (7 * i);
        if b & 128 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

impl Listpack {
    pub fn new() -> Listpack {
        let mut lp = Listpack { buf: Vec::with_capacity(HEADER_BYTES + 1), count: 0 };
        lp.buf.extend_from_slice(&[0; HEADER_BYTES]);
        lp.buf.push(EOF);
        lp.sync_header();
        lp
    }

    /// Adopts a listpack blob (from an RDB file or a DUMP payload) after checking every
    /// entry, its backlen and the header; None if it is malformed.
    pub fn from_blob(blob: &[u8]) -> Option<Listpack> {
        if blob.len() < HEADER_BYTES + 1 || *blob.last()? != EOF {
            return None;
        }
        let total = u32::from_le_bytes(blob[..4].try_into().ok()?) as usize;
        if total != blob.len() {
            return None;
        }
        let declared = u16::from_le_bytes([blob[4], blob[5]]);
        let end = blob.len() - 1;
        let (mut off, mut count) = (HEADER_BYTES, 0u32);
        while off < end {
            let (_, body) = decode(&blob[off..end])?;
            let (back, used) = read_backlen(blob, off + body + backlen_len(body) - 1)?;
            if back != body || used != backlen_len(body) || off + body + used > end {
                return None;
            }
            off += body + used;
            count = count.checked_add(1)?;
        }
        if declared != COUNT_UNKNOWN && declared as u32 != count {
            return None;
        }
        let mut lp = Listpack { buf: blob.to_vec(), count };
        lp.sync_header();
        Some(lp)
    }

    /// The node as a Redis listpack blob.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes used, header and terminator included (Redis's `lpBytes`).
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Bytes allocated.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Offset of the terminator: "past the last element".
    pub fn end(&self) -> usize {
        self.buf.len() - 1
    }

    /// Makes room for `extra` more bytes. Capacities are powers of two (the allocator's
    /// size classes): a full 8 KB node then fills its allocation exactly, where
    /// doubling from the 7-byte empty listpack would end at 14,336 bytes.
    fn reserve(&mut self, extra: usize) {
        let need = self.buf.len() + extra;
        if need > self.buf.capacity() {
            self.buf.reserve_exact(need.next_power_of_two() - self.buf.len());
        }
    }

    fn sync_header(&mut self) {
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let c = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&c.to_le_bytes());
    }

    /// Offset of the first element, if any.
    pub fn first(&self) -> Option<usize> {
        (self.count > 0).then_some(HEADER_BYTES)
    }

    /// Offset of the last element, if any.
    pub fn last(&self) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        self.prev(self.end())
    }

    /// The element at `off` and the offset of the one after it (`end()` after the last).
    pub fn get(&self, off: usize) -> (Elem<'_>, usize) {
        let end = self.end();
        match decode(&self.buf[off.min(end)..end]) {
            Some((e, body)) => (e, off + body + backlen_len(body)),
            // Unreachable for offsets this type handed out: every entry was checked
            // when it was written or adopted. Read as an empty string, never panic.
            None => {
                debug_assert!(false, "bad listpack offset {off}");
                (Elem::Str(&[]), end)
            }
        }
    }

    /// Offset of the element after the one at `off`, if there is one.
    pub fn next(&self, off: usize) -> Option<usize> {
        let (_, next) = self.get(off);
        (next < self.end()).then_some(next)
    }

    /// Offset of the element before the one at (or the end marker at) `off`.
    pub fn prev(&self, off: usize) -> Option<usize> {
        if off <= HEADER_BYTES {
            return None;
        }
        let (body, used) = read_backlen(&self.buf, off - 1)?;
        off.checked_sub(body + used).filter(|&p| p >= HEADER_BYTES)
    }

    /// Offset of the element at position `i` (0-based), walking from the nearer end.
    pub fn offset_of(&self, i: usize) -> Option<usize> {
        if i >= self.len() {
            return None;
        }
        if i < self.len() / 2 {
            let mut off = HEADER_BYTES;
            for _ in 0..i {
                off = self.get(off).1;
            }
            Some(off)
        } else {
            let mut off = self.end();
            for _ in 0..self.len() - i {
                off = self.prev(off)?;
            }
            Some(off)
        }
    }

    /// Inserts `e` before the element at `off` (`end()` appends).
    pub fn insert(&mut self, off: usize, e: Elem<'_>) {
        let mut enc = Vec::with_capacity(entry_len(e));
        encode(e, &mut enc);
        let off = off.clamp(HEADER_BYTES, self.end());
        self.reserve(enc.len());
        self.buf.splice(off..off, enc);
        self.count += 1;
        self.sync_header();
    }

    /// Inserts `bytes` (stored as an integer when it is one) before the element at `off`.
    pub fn insert_bytes(&mut self, off: usize, bytes: &[u8]) {
        self.insert(off, as_elem(bytes));
    }

    pub fn push_back(&mut self, bytes: &[u8]) {
        self.insert_bytes(self.end(), bytes);
    }

    pub fn push_front(&mut self, bytes: &[u8]) {
        self.insert_bytes(HEADER_BYTES, bytes);
    }

    /// Deletes `n` elements starting at `off`; returns the offset that now follows
    /// them. Memory beyond twice what is used is given back.
    pub fn delete(&mut self, off: usize, n: usize) -> usize {
        let mut stop = off;
        let mut removed = 0;
        while removed < n && stop < self.end() {
            stop = self.get(stop).1;
            removed += 1;
        }
        self.buf.drain(off..stop);
        self.count -= removed as u32;
        self.sync_header();
        if self.buf.capacity() > 2 * self.buf.len() && self.buf.capacity() > 64 {
            self.buf.shrink_to(self.buf.len().next_power_of_two());
        }
        off
    }

    /// Replaces the element at `off` with `bytes`.
    pub fn replace(&mut self, off: usize, bytes: &[u8]) {
        let (_, next) = self.get(off);
        let mut enc = Vec::new();
        encode(as_elem(bytes), &mut enc);
        self.reserve(enc.len().saturating_sub(next - off));
        self.buf.splice(off..next, enc);
        self.sync_header();
    }

    /// Moves the elements from position `at` onwards into a new listpack.
    pub fn split_off(&mut self, at: usize) -> Listpack {
        let Some(off) = self.offset_of(at) else { return Listpack::new() };
        let mut tail = Listpack::new();
        let end = self.end();
        tail.reserve(end - off);
        tail.buf.splice(HEADER_BYTES..HEADER_BYTES, self.buf[off..end].iter().copied());
        tail.count = self.count - at as u32;
        tail.sync_header();
        self.buf.drain(off..end);
        self.count = at as u32;
        self.sync_header();
        self.buf.shrink_to(self.buf.len().next_power_of_two());
        tail
    }

    /// Appends every element of `other` (merging two neighbouring nodes).
    pub fn append(&mut self, other: &Listpack) {
        let end = self.end();
        self.reserve(other.end() - HEADER_BYTES);
        self.buf.splice(end..end, other.buf[HEADER_BYTES..other.end()].iter().copied());
        self.count += other.count;
        self.sync_header();
    }

    /// The elements, first to last.
    pub fn iter(&self) -> Iter<'_> {
        Iter { lp: self, front: HEADER_BYTES, back: self.end(), left: self.len() }
    }
}

/// How an element is stored: as an integer when its text is one in canonical form.
pub fn as_elem(bytes: &[u8]) -> Elem<'_> {
    match int_of(bytes) {
        Some(v) => Elem::Int(v),
        None => Elem::Str(bytes),
    }
}

/// The elements of one listpack, from either end.
#[derive(Clone)]
pub struct Iter<'a> {
    lp: &'a Listpack,
    /// Offset of the next element from the front.
    front: usize,
    /// Offset just past the next element from the back.
    back: usize,
    left: usize,
}

impl<'a> Iter<'a> {
    /// An iterator whose front starts at element `i` (the back stays at the end).
    pub fn from_index(lp: &'a Listpack, i: usize) -> Iter<'a> {
        match lp.offset_of(i) {
            Some(front) => Iter { lp, front, back: lp.end(), left: lp.len() - i },
            None => Iter { lp, front: lp.end(), back: lp.end(), left: 0 },
        }
    }

    /// An iterator over elements `0..=i` (for walking backwards from element `i`).
    pub fn up_to(lp: &'a Listpack, i: usize) -> Iter<'a> {
        match lp.offset_of(i) {
            Some(off) => Iter { lp, front: HEADER_BYTES, back: lp.get(off).1, left: i + 1 },
            None => lp.iter(),
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        if self.left == 0 {
            return None;
        }
        let (e, next) = self.lp.get(self.front);
        self.front = next;
        self.left -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let at = self.lp.prev(self.back)?;
        self.back = at;
        self.left -= 1;
        Some(self.lp.get(at).0)
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lp: &Listpack) -> Vec<Vec<u8>> {
        lp.iter().map(|e| e.to_vec()).collect()
    }

    #[test]
    fn redis_byte_layout() {
        // The node Redis 7.0 writes for RPUSH x a 1 -1 300 (read from DUMP x).
        let mut lp = Listpack::new();
        for e in ["a", "1", "-1", "300"] {
            lp.push_back(e.as_bytes());
        }
        assert_eq!(lp.as_bytes(), b"\x12\x00\x00\x00\x04\x00\x81a\x02\x01\x01\xdf\xff\x02\xc1\x2c\x02\xff");
        assert_eq!(Listpack::from_blob(lp.as_bytes()).map(|l| texts(&l)), Some(texts(&lp)));
    }

    #[test]
    fn every_integer_width_round_trips() {
        let values: [i64; 16] = [
            0,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            8_388_607,
            -8_388_608,
            2_147_483_647,
            -2_147_483_648,
            i64::MAX,
            i64::MIN,
        ];
        let mut lp = Listpack::new();
        for v in values {
            lp.push_back(v.to_string().as_bytes());
        }
        let back: Vec<String> = lp.iter().map(|e| String::from_utf8(e.to_vec()).unwrap()).collect();
        assert_eq!(back, values.iter().map(|v| v.to_string()).collect::<Vec<_>>());
        let rev: Vec<Vec<u8>> = lp.iter().rev().map(|e| e.to_vec()).collect();
        assert_eq!(rev.len(), 16);
        assert_eq!(rev[0], i64::MIN.to_string().into_bytes());
        // Not canonical integers: kept as text.
        for s in ["01", "+1", "-0", " 1", "1 ", "99999999999999999999"] {
            assert!(matches!(as_elem(s.as_bytes()), Elem::Str(_)), "{s}");
        }
    }

    #[test]
    fn strings_of_every_length_class_walk_both_ways() {
        let lens = [0usize, 1, 63, 64, 127, 128, 4095, 4096, 16383, 20000];
        let mut lp = Listpack::new();
        for &n in &lens {
            lp.push_front(&vec![b'x'; n]);
        }
        let fwd: Vec<usize> = lp.iter().map(|e| e.len()).collect();
        let mut expect = lens.to_vec();
        expect.reverse();
        assert_eq!(fwd, expect);
        let bwd: Vec<usize> = lp.iter().rev().map(|e| e.len()).collect();
        assert_eq!(bwd, lens.to_vec());
        assert!(Listpack::from_blob(lp.as_bytes()).is_some());
    }

    #[test]
    fn edits_keep_the_header_in_step() {
        let mut lp = Listpack::new();
        for e in ["a", "b", "c", "d", "e"] {
            lp.push_back(e.as_bytes());
        }
        let off = lp.offset_of(1).unwrap();
        lp.delete(off, 2);
        assert_eq!(texts(&lp), vec![b"a".to_vec(), b"d".to_vec(), b"e".to_vec()]);
        let off = lp.offset_of(2).unwrap();
        lp.replace(off, b"12345");
        lp.insert_bytes(lp.offset_of(0).unwrap(), b"zz");
        assert_eq!(texts(&lp), vec![b"zz".to_vec(), b"a".to_vec(), b"d".to_vec(), b"12345".to_vec()]);
        let tail = lp.split_off(1);
        assert_eq!(lp.len(), 1);
        assert_eq!(tail.len(), 3);
        let mut joined = lp.clone();
        joined.append(&tail);
        assert_eq!(joined.len(), 4);
        for l in [&lp, &tail, &joined] {
            let again = Listpack::from_blob(l.as_bytes()).unwrap();
            assert_eq!(texts(&again), texts(l));
        }
        let mut it = Iter::from_index(&joined, 2);
        assert_eq!(it.next().map(|e| e.to_vec()), Some(b"d".to_vec()));
        let mut it = Iter::up_to(&joined, 1);
        assert_eq!(it.next_back().map(|e| e.to_vec()), Some(b"a".to_vec()));
    }

    #[test]
    fn malformed_blobs_are_refused() {
        let mut lp = Listpack::new();
        lp.push_back(b"hello");
        let good = lp.as_bytes().to_vec();
        assert!(Listpack::from_blob(&good).is_some());
        let mut bad = good.clone();
        bad[0] = 99; // total bytes
        assert!(Listpack::from_blob(&bad).is_none());
        let mut bad = good.clone();
        bad[4] = 2; // count
        assert!(Listpack::from_blob(&bad).is_none());
        let mut bad = good.clone();
        bad[6] = 0x80 | 40; // string longer than the blob
        assert!(Listpack::from_blob(&bad).is_none());
        let mut bad = good;
        let n = bad.len();
        bad[n - 2] = 3; // backlen
        assert!(Listpack::from_blob(&bad).is_none());
        assert!(Listpack::from_blob(b"").is_none());
    }
}
