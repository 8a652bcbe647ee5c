//! [`Packed`]: the `listpack` encoding of a small sorted set — (member, score) pairs in
//! (score, member) order, packed end to end in one buffer:
//!
//! ```text
//! [member length: LEB128][member bytes][score: f64, little endian] ...
//! ```
//!
//! Everything is a linear scan, as in Redis's listpack: the set has at most
//! `zset-max-listpack-entries` members (128 by default), and one contiguous buffer is
//! both smaller and faster than any pointer structure at that size.
//!
//! Redis stores a listpack score as an integer when it is integral, and -0 has no
//! integer form: a listpack keeps 0 for it (ZADD z -0 m; ZSCORE z m → "0", while the
//! skiplist encoding answers "-0"). [`Packed::insert`] does the same.

use crate::varint;

/// The packed encoding.
#[derive(Clone, Debug, Default)]
pub struct Packed {
    buf: Vec<u8>,
    len: usize,
}

/// One decoded entry and where the next one starts.
struct At<'a> {
    member: &'a [u8],
    score: f64,
    next: usize,
}

/// Bytes one entry takes.
fn entry_size(member_len: usize) -> usize {
    varint::len(member_len) + member_len + 8
}

impl Packed {
    /// An empty set with room for entries totalling `bytes`.
    pub fn with_capacity(bytes: usize) -> Packed {
        Packed { buf: Vec::with_capacity(bytes), len: 0 }
    }

    /// Builds from entries already in (score, member) order.
    pub fn from_sorted<'a>(entries: impl IntoIterator<Item = (&'a [u8], f64)>) -> Packed {
        let mut p = Packed::default();
        for (m, s) in entries {
            p.push_back(m, s);
        }
        p.buf.shrink_to_fit();
        p
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Decodes the entry at byte offset `off` (an entry boundary below `buf.len()`).
    fn at(&self, off: usize) -> At<'_> {
        // The buffer is only ever written by this type, so its varints are well
        // formed; the bounds below only keep a bug from turning into a panic (in a
        // release build; `varint::read` asserts in a debug one).
        let (len, used) = varint::read(self.buf.get(off..).unwrap_or_default());
        let p = off + used;
        let end = (p + len).min(self.buf.len());
        let member = &self.buf[p..end];
        let mut raw = [0u8; 8];
        if let Some(b) = self.buf.get(end..end + 8) {
            raw.copy_from_slice(b);
        }
        At { member, score: f64::from_le_bytes(raw), next: end + 8 }
    }

    /// Entries in order, with their byte offsets.
    fn entries(&self) -> impl Iterator<Item = (usize, &[u8], f64)> + '_ {
        let mut off = 0;
        std::iter::from_fn(move || {
            if off >= self.buf.len() {
                return None;
            }
            let e = self.at(off);
            let here = off;
            off = e.next;
            Some((here, e.member, e.score))
        })
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.entries().map(|(_, m, s)| (m, s))
    }

    /// The rank and score of `member`.
    pub fn find(&self, member: &[u8]) -> Option<(usize, f64)> {
        self.iter().enumerate().find(|(_, (m, _))| *m == member).map(|(rank, (_, s))| (rank, s))
    }

    /// Byte offset of the entry at `rank` (the buffer's end when `rank == len`).
    fn offset_of(&self, rank: usize) -> usize {
        self.entries().nth(rank).map_or(self.buf.len(), |(off, _, _)| off)
    }

    /// Appends an entry that sorts after every present one.
    pub fn push_back(&mut self, member: &[u8], score: f64) {
        let score = if score == 0.0 { 0.0 } else { score };
        varint::push(&mut self.buf, member.len());
        self.buf.extend_from_slice(member);
        self.buf.extend_from_slice(&score.to_le_bytes());
        self.len += 1;
    }

    /// Inserts a member that is not present, at its place in the order (Redis's
    /// `zzlInsert`: before the first entry with a greater score, or an equal score
    /// and a greater member).
    pub fn insert(&mut self, member: &[u8], score: f64) {
        let score = if score == 0.0 { 0.0 } else { score };
        let at = self
            .entries()
            .find(|&(_, m, s)| s > score || (s == score && m > member))
            .map_or(self.buf.len(), |(off, _, _)| off);
        let mut entry = Vec::with_capacity(entry_size(member.len()));
        varint::push(&mut entry, member.len());
        entry.extend_from_slice(member);
        entry.extend_from_slice(&score.to_le_bytes());
        self.buf.splice(at..at, entry);
        self.len += 1;
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (off, _, score) = self.entries().find(|&(_, m, _)| m == member)?;
        let next = self.at(off).next;
        self.buf.drain(off..next);
        self.len -= 1;
        Some(score)
    }

    /// Removes the entries of ranks `lo..hi`.
    pub fn remove_ranks(&mut self, lo: usize, hi: usize) {
        let hi = hi.min(self.len);
        if lo >= hi {
            return;
        }
        let (a, b) = (self.offset_of(lo), self.offset_of(hi));
        self.buf.drain(a..b);
        self.len -= hi - lo;
    }

    /// The entry at `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        self.iter().nth(rank)
    }

    /// Number of leading entries for which `before` holds.
    pub fn count_while(&self, mut before: impl FnMut(&[u8], f64) -> bool) -> usize {
        self.iter().take_while(|&(m, s)| before(m, s)).count()
    }

    /// Rank of the first entry, from the head, for which `pred` holds.
    pub fn first_where(&self, mut pred: impl FnMut(&[u8], f64) -> bool) -> Option<usize> {
        self.iter().position(|(m, s)| pred(m, s))
    }

    /// Rank of the first entry, from the tail, for which `pred` holds.
    pub fn last_where(&self, mut pred: impl FnMut(&[u8], f64) -> bool) -> Option<usize> {
        let all: Vec<(&[u8], f64)> = self.iter().collect();
        all.iter().rposition(|&(m, s)| pred(m, s))
    }

    /// Calls `f` for entries from `rank` on, ascending (or descending from `rank` to 0
    /// when `reverse`), until `f` returns false.
    pub fn walk(&self, rank: usize, reverse: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        if !reverse {
            for (m, s) in self.iter().skip(rank) {
                if !f(m, s) {
                    return;
                }
            }
            return;
        }
        // Entries have no back links; a small set is decoded once into a list.
        let all: Vec<(&[u8], f64)> = self.iter().take(rank.saturating_add(1)).collect();
        for &(m, s) in all.iter().rev() {
            if !f(m, s) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(p: &Packed) -> Vec<String> {
        p.iter().map(|(m, _)| String::from_utf8(m.to_vec()).unwrap()).collect()
    }

    #[test]
    fn keeps_redis_order_and_normalizes_negative_zero() {
        let mut p = Packed::default();
        p.insert(b"b", 1.0);
        p.insert(b"a", 1.0);
        p.insert(b"c", -2.0);
        p.insert(b"", f64::INFINITY);
        p.insert(b"z", -0.0);
        assert_eq!(members(&p), ["c", "z", "a", "b", ""]);
        assert_eq!(p.find(b"z"), Some((1, 0.0)));
        assert!(p.find(b"z").unwrap().1.is_sign_positive());
        assert_eq!(p.find(b"a"), Some((2, 1.0)));
        assert_eq!(p.find(b"x"), None);
        assert_eq!(p.remove(b"a"), Some(1.0));
        assert_eq!(p.remove(b"a"), None);
        assert_eq!(members(&p), ["c", "z", "b", ""]);
        assert_eq!(p.count_while(|_, s| s < 1.0), 2);
        let mut back = Vec::new();
        p.walk(2, true, |m, _| {
            back.push(m.to_vec());
            true
        });
        assert_eq!(back, [b"b".to_vec(), b"z".to_vec(), b"c".to_vec()]);
        p.remove_ranks(1, 3);
        assert_eq!(members(&p), ["c", ""]);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn long_members_use_longer_length_prefixes() {
        let mut p = Packed::default();
        let long = vec![b'x'; 300];
        p.insert(&long, 2.0);
        p.insert(b"short", 1.0);
        assert_eq!(p.get(1), Some((&long[..], 2.0)));
        assert_eq!(entry_size(300), 2 + 300 + 8);
        assert!(p.heap_bytes() >= entry_size(300) + entry_size(5));
    }
}
