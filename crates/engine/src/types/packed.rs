//! [`Packed`]: a small collection as one packed byte array (the role Redis 7.0 gives
//! its `listpack`), and [`Elem`], one element read from it.
//!
//! Small hashes (and any other small collection that wants it) are kept this way until
//! they outgrow their `*-max-listpack-*` thresholds: one allocation, no pointers, read
//! by a forward walk. Like a listpack, an element that is the canonical text of an
//! integer (Redis's `string2ll` accepts it and it prints back the same) is stored as
//! that integer, in the fewest bytes; it reads back as the same text, so the encoding
//! never shows in a reply or a digest.
//!
//! Unlike a listpack there is no header (the element count and the byte length live
//! in the owner, next to the pointer) and no back-length byte per element (nothing
//! walks these backwards), so the same data takes fewer bytes than in Redis.
//!
//! Element layout, by its first byte `t`:
//!
//! ```text
//! 0x00..=0x7f   a string of t bytes (0..=127), the bytes follow
//! 0x80..=0xbf   the integer t - 0x80 (0..=63), nothing follows
//! 0xc0..=0xc4   an integer in 1, 2, 3, 4 or 8 little-endian two's complement bytes
//! 0xc5          a string of 128 bytes or more: its length as a LEB128 varint, then bytes
//! ```
//!
//! The array is reallocated to its exact size on every change, as Redis does with a
//! listpack: small collections are written rarely compared with how often they exist.

use redoubt_resp::number::parse_i64;

use crate::value::format_i64;
use crate::varint;

const SMALL_INT: u8 = 0x80;
const SMALL_INT_MAX: i64 = 63;
const INT_BASE: u8 = 0xc0;
const LONG_STR: u8 = 0xc5;
/// Byte widths of the integer forms `0xc0..=0xc4`.
const INT_WIDTHS: [usize; 5] = [1, 2, 3, 4, 8];
const SHORT_STR_MAX: usize = 0x7f;

/// Longest text that can be an integer ("-9223372036854775808").
const MAX_INT_TEXT: usize = 20;

/// A packed array never grows past this many bytes (Redis's `LISTPACK_MAX_SAFETY_SIZE`):
/// an owner converts to its other encoding instead, see [`Packed::safe_to_add`].
pub const SAFETY_BYTES: usize = 1 << 30;

/// One element of a packed collection: a string, or an integer stored as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> Elem<'a> {
    /// The element as it would be stored: an integer if `bytes` is one in canonical form.
    pub fn of(bytes: &'a [u8]) -> Elem<'a> {
        match int_of(bytes) {
            Some(v) => Elem::Int(v),
            None => Elem::Str(bytes),
        }
    }

    /// The element's text; an integer is formatted into `scratch`.
    pub fn bytes<'s>(&'s self, scratch: &'s mut [u8; 20]) -> &'s [u8] {
        match self {
            Elem::Str(b) => b,
            Elem::Int(v) => format_i64(*v, scratch),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut scratch = [0u8; 20];
        self.bytes(&mut scratch).to_vec()
    }

    /// Length of the element's text.
    pub fn len(&self) -> usize {
        match self {
            Elem::Str(b) => b.len(),
            Elem::Int(v) => crate::value::int_len(*v),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when this element's text equals `needle` (with `needle`'s integer form
    /// precomputed by [`Elem::of`], so a stored integer is compared as a number).
    pub fn matches(&self, needle: &Elem<'_>) -> bool {
        match (self, needle) {
            (Elem::Str(a), Elem::Str(b)) => a == b,
            (Elem::Int(a), Elem::Int(b)) => a == b,
            // A string element is never the canonical text of an integer, and the
            // reverse: they cannot be equal.
            _ => false,
        }
    }
}

/// An element copied out of its collection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OwnedElem {
    Str(Vec<u8>),
    Int(i64),
}

impl OwnedElem {
    pub fn as_elem(&self) -> Elem<'_> {
        match self {
            OwnedElem::Str(b) => Elem::Str(b),
            OwnedElem::Int(v) => Elem::Int(*v),
        }
    }
}

impl Elem<'_> {
    pub fn to_owned_elem(&self) -> OwnedElem {
        match *self {
            Elem::Str(b) => OwnedElem::Str(b.to_vec()),
            Elem::Int(v) => OwnedElem::Int(v),
        }
    }
}

/// `bytes` as an integer if it is one in canonical form (Redis's `string2ll`).
pub fn int_of(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > MAX_INT_TEXT {
        return None;
    }
    parse_i64(bytes)
}

/// Bytes `e` takes once encoded.
pub fn encoded_len(e: Elem<'_>) -> usize {
    match e {
        Elem::Int(v) if (0..=SMALL_INT_MAX).contains(&v) => 1,
        Elem::Int(v) => 1 + INT_WIDTHS[int_form(v)],
        Elem::Str(b) if b.len() <= SHORT_STR_MAX => 1 + b.len(),
        Elem::Str(b) => 1 + varint::len(b.len()) + b.len(),
    }
}

/// Index into [`INT_WIDTHS`] of the narrowest form holding `v`.
fn int_form(v: i64) -> usize {
    // Significant bits plus the sign bit.
    let magnitude = if v < 0 { !v } else { v };
    let bits_needed = 64 - magnitude.leading_zeros() + 1;
    INT_WIDTHS.iter().position(|&w| (w * 8) as u32 >= bits_needed).unwrap_or(INT_WIDTHS.len() - 1)
}

/// Appends the encoding of `e` to `out`.
pub fn encode(e: Elem<'_>, out: &mut Vec<u8>) {
    match e {
        Elem::Int(v) if (0..=SMALL_INT_MAX).contains(&v) => out.push(SMALL_INT + v as u8),
        Elem::Int(v) => {
            let form = int_form(v);
            out.push(INT_BASE + form as u8);
            out.extend_from_slice(&v.to_le_bytes()[..INT_WIDTHS[form]]);
        }
        Elem::Str(b) if b.len() <= SHORT_STR_MAX => {
            out.push(b.len() as u8);
            out.extend_from_slice(b);
        }
        Elem::Str(b) => {
            out.push(LONG_STR);
            varint::push(out, b.len());
            out.extend_from_slice(b);
        }
    }
}

/// Decodes the element at the start of `b`: (element, bytes it takes).
///
/// `b` is always a suffix of a buffer this module wrote, so its framing is trusted.
pub fn decode(b: &[u8]) -> (Elem<'_>, usize) {
    let t = b[0];
    match t {
        0..=0x7f => {
            let n = t as usize;
            (Elem::Str(&b[1..1 + n]), 1 + n)
        }
        SMALL_INT..=0xbf => (Elem::Int((t - SMALL_INT) as i64), 1),
        INT_BASE..=0xc4 => {
            let w = INT_WIDTHS[(t - INT_BASE) as usize];
            let mut raw = [0u8; 8];
            raw[..w].copy_from_slice(&b[1..1 + w]);
            // Sign-extend from the top byte that was stored.
            let shift = 64 - 8 * w as u32;
            let v = (i64::from_le_bytes(raw) << shift) >> shift;
            (Elem::Int(v), 1 + w)
        }
        _ => {
            debug_assert_eq!(t, LONG_STR);
            let (n, used) = varint::read(&b[1..]);
            let start = 1 + used;
            (Elem::Str(&b[start..start + n]), start + n)
        }
    }
}

/// A packed array of elements, with its element count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    buf: Box<[u8]>,
    count: u32,
}

impl Packed {
    pub fn new() -> Packed {
        Packed::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the packed bytes.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// True when `extra` more bytes keep the array under [`SAFETY_BYTES`] (Redis's
    /// `lpSafeToAdd`); owners convert to their other encoding otherwise.
    pub fn safe_to_add(&self, extra: usize) -> bool {
        self.buf.len().saturating_add(extra) <= SAFETY_BYTES
    }

    /// The elements in order, each with its byte offset.
    pub fn iter(&self) -> Iter<'_> {
        Iter { buf: &self.buf, off: 0 }
    }

    /// The element at byte offset `off` (an offset [`Packed::iter`] gave) and the offset
    /// of the next one.
    pub fn at(&self, off: usize) -> (Elem<'_>, usize) {
        let (e, n) = decode(&self.buf[off..]);
        (e, off + n)
    }

    /// The byte offset of every element, in order (for random access by index).
    pub fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.iter().map(|(off, _)| off));
        v
    }

    /// Offset of the first element equal to `needle` among elements `0, step, 2*step,
    /// ...` (step 2 searches the fields of field/value pairs).
    pub fn find(&self, needle: &Elem<'_>, step: usize) -> Option<usize> {
        self.iter().step_by(step.max(1)).find(|(_, e)| e.matches(needle)).map(|(off, _)| off)
    }

    /// Appends elements at the end.
    pub fn push(&mut self, items: &[Elem<'_>]) {
        let off = self.buf.len();
        self.insert(off, items);
    }

    /// Inserts elements before the element at byte offset `off` (or at the end when
    /// `off` is the byte length).
    pub fn insert(&mut self, off: usize, items: &[Elem<'_>]) {
        let add: usize = items.iter().map(|e| encoded_len(*e)).sum();
        let mut encoded = Vec::with_capacity(add);
        for e in items {
            encode(*e, &mut encoded);
        }
        self.splice(off, off, &encoded);
        self.count += items.len() as u32;
    }

    /// Replaces the element at byte offset `off` with `e`.
    pub fn replace(&mut self, off: usize, e: Elem<'_>) {
        let (_, end) = self.at(off);
        let mut encoded = Vec::with_capacity(encoded_len(e));
        encode(e, &mut encoded);
        if encoded.len() == end - off {
            // Same size (a counter, a fixed-size value): overwrite, no reallocation.
            self.buf[off..end].copy_from_slice(&encoded);
        } else {
            self.splice(off, end, &encoded);
        }
    }

    /// Removes `n` consecutive elements starting at byte offset `off`.
    pub fn remove(&mut self, off: usize, n: usize) {
        let mut end = off;
        for _ in 0..n {
            end = self.at(end).1;
        }
        self.splice(off, end, &[]);
        self.count -= n as u32;
    }

    /// Replaces bytes `from..to` with `with`, leaving the array at its exact size.
    fn splice(&mut self, from: usize, to: usize, with: &[u8]) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        let grow = with.len().saturating_sub(to - from);
        v.reserve_exact(grow);
        v.splice(from..to, with.iter().copied());
        // `into_boxed_slice` gives back any spare capacity (a shrink in place).
        self.buf = v.into_boxed_slice();
    }
}

/// Iterator over a [`Packed`]'s elements with their byte offsets.
pub struct Iter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (usize, Elem<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.off >= self.buf.len() {
            return None;
        }
        let (e, n) = decode(&self.buf[self.off..]);
        let at = self.off;
        self.off += n;
        Some((at, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(p: &Packed) -> Vec<Vec<u8>> {
        p.iter().map(|(_, e)| e.to_vec()).collect()
    }

    #[test]
    fn elements_round_trip_in_their_smallest_form() {
        let cases: &[(&[u8], usize)] = &[
            (b"", 1),
            (b"abc", 4),
            (b"0", 1),
            (b"63", 1),
            (b"64", 2),
            (b"-1", 2),
            (b"-128", 2),
            (b"127", 2),
            (b"128", 3),
            (b"-32769", 4),
            (b"8388607", 4),
            (b"8388608", 5),
            (b"2147483648", 9),
            (b"9223372036854775807", 9),
            (b"-9223372036854775808", 9),
            (b"007", 4),
            (b"-0", 3),
            (b"+1", 3),
            (b" 1", 3),
        ];
        let mut p = Packed::new();
        for (text, size) in cases {
            let e = Elem::of(text);
            assert_eq!(encoded_len(e), *size, "{:?}", String::from_utf8_lossy(text));
            p.push(&[e]);
        }
        let want: Vec<Vec<u8>> = cases.iter().map(|(t, _)| t.to_vec()).collect();
        assert_eq!(texts(&p), want);
        assert_eq!(p.len(), cases.len());
        assert_eq!(p.byte_len(), cases.iter().map(|c| c.1).sum::<usize>());
    }

    #[test]
    fn long_strings_and_binary() {
        let long = vec![0xffu8; 300];
        let bin = b"\x00\r\n\xc5".to_vec();
        let mut p = Packed::new();
        p.push(&[Elem::of(&long), Elem::of(&bin), Elem::of(&[b'x'; 127]), Elem::of(&[b'y'; 128])]);
        assert_eq!(texts(&p), vec![long.clone(), bin, vec![b'x'; 127], vec![b'y'; 128]]);
        assert_eq!(encoded_len(Elem::Str(&long)), 1 + 2 + 300);
    }

    #[test]
    fn find_replace_insert_remove() {
        let mut p = Packed::new();
        for t in ["a", "1", "b", "2", "c", "x"] {
            p.push(&[Elem::of(t.as_bytes())]);
        }
        // Fields only (step 2): "1" is a value, not a field.
        assert_eq!(p.find(&Elem::of(b"1"), 2), None);
        let b = p.find(&Elem::of(b"b"), 2).unwrap();
        let (_, v) = p.at(b);
        p.replace(v, Elem::of(b"a much longer value than before"));
        assert_eq!(p.at(v).0, Elem::Str(b"a much longer value than before"));
        p.replace(v, Elem::of(b"-5"));
        assert_eq!(p.at(v).0, Elem::Int(-5));
        p.remove(b, 2);
        assert_eq!(texts(&p), vec![b"a".to_vec(), b"1".to_vec(), b"c".to_vec(), b"x".to_vec()]);
        p.insert(0, &[Elem::of(b"z"), Elem::of(b"0")]);
        assert_eq!(p.at(0).0, Elem::Str(b"z"));
        assert_eq!(p.len(), 6);
        assert_eq!(p.offsets().len(), 6);
        let c = p.find(&Elem::of(b"c"), 2).unwrap();
        p.remove(c, 2);
        let a = p.find(&Elem::of(b"a"), 2).unwrap();
        p.remove(a, 2);
        p.remove(0, 2);
        assert!(p.is_empty());
        assert_eq!(p.byte_len(), 0);
    }

    #[test]
    fn int_needles_match_int_elements_only() {
        assert!(Elem::Int(12).matches(&Elem::of(b"12")));
        assert!(!Elem::Int(12).matches(&Elem::of(b"012")));
        assert!(Elem::Str(b"012").matches(&Elem::of(b"012")));
        assert!(p_safe());
    }

    fn p_safe() -> bool {
        let p = Packed::new();
        p.safe_to_add(SAFETY_BYTES) && !p.safe_to_add(SAFETY_BYTES + 1)
    }
}
