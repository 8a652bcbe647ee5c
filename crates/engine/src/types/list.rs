//! A list, as Redis 7.0's `quicklist`: a deque of listpack nodes.
//!
//! Each node is a real Redis listpack ([`listpack::Listpack`]), filled up to the
//! `list-max-listpack-size` the list was created with (negative: a byte budget per
//! node, -2 = 8 KB; positive: an element count, within an 8 KB safety limit). So an
//! element costs what it costs in Redis (its bytes plus 2 to 10 of encoding), small
//! integers are stored as numbers, and the nodes can be written to an RDB file as they
//! are. OBJECT ENCODING always says `quicklist`, as Redis 7.0 does for every list.
//!
//! Costs, as in Redis: pushes and pops at either end are O(1) plus a move of at most
//! one node's bytes; LINDEX, LSET and LINSERT walk nodes from the nearer end (O(n /
//! node size)) and then one node; LRANGE is O(start + count). `list-compress-depth`
//! (LZF compression of inner nodes) is not implemented: nodes are never compressed.
//!
//! Invariants: no node is empty (an emptied node is dropped at once); `len` is the sum
//! of the nodes' counts; a list handed to the keyspace is never empty (commands delete
//! the key instead).

pub mod listpack;

use std::collections::VecDeque;

use crate::digest::{mix_digest, Digest};
use crate::types::packed::{Elem, OwnedElem};
use listpack::{as_elem, entry_body_len, entry_len, Listpack};

/// Node byte budgets for `list-max-listpack-size` -1..-5 (Redis's `optimization_level`).
const NODE_BYTES_BY_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// A count-limited node still never grows past this (Redis's `SIZE_SAFETY_LIMIT`).
const NODE_SAFETY_BYTES: usize = 8192;
/// An element this large gets a node of its own (Redis's `packed_threshold`).
const LARGE_ELEMENT_BYTES: usize = 1 << 30;
/// The largest count limit (Redis's `FILL_MAX`).
const FILL_MAX: i64 = (1 << 15) - 1;
/// The largest element a list stores: a listpack records lengths in 32 bits. (Redis
/// keeps larger ones in "plain" nodes; reaching this needs `proto-max-bulk-len` raised
/// past 4 GB, so commands refuse such an element instead, see [`List::fits`].)
pub const MAX_ELEMENT_BYTES: usize = u32::MAX as usize - 64;

/// A list of byte strings.
#[derive(Clone)]
pub struct List {
    nodes: VecDeque<Listpack>,
    len: usize,
    /// `list-max-listpack-size` when the list was created, clamped as Redis does.
    fill: i16,
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("List").field("len", &self.len).field("nodes", &self.nodes.len()).finish()
    }
}

impl Default for List {
    fn default() -> Self {
        List::new(-2)
    }
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (LEFT, LPUSH, LPOP).
    Head,
    /// The tail (RIGHT, RPUSH, RPOP).
    Tail,
}

impl List {
    /// An empty list whose nodes follow `list-max-listpack-size` = `fill`.
    pub fn new(fill: i64) -> List {
        List { nodes: VecDeque::new(), len: 0, fill: fill.clamp(-5, FILL_MAX) as i16 }
    }

    /// A list of `items`, in order.
    pub fn from_items<'a>(fill: i64, items: impl IntoIterator<Item = &'a [u8]>) -> List {
        let mut l = List::new(fill);
        for i in items {
            l.push(End::Tail, i);
        }
        l
    }

    /// A list made of listpack nodes (an RDB loader's `QUICKLIST_2` nodes, checked with
    /// [`Listpack::from_blob`]); empty nodes are dropped.
    pub fn from_nodes(fill: i64, nodes: impl IntoIterator<Item = Listpack>) -> List {
        let mut l = List::new(fill);
        for n in nodes.into_iter().filter(|n| !n.is_empty()) {
            l.len += n.len();
            l.nodes.push_back(n);
        }
        l
    }

    /// The nodes, head to tail, each a Redis listpack (for RDB writers).
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &Listpack> {
        self.nodes.iter()
    }

    /// What OBJECT ENCODING answers.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Whether an element of `len` bytes can be stored (see [`MAX_ELEMENT_BYTES`]).
    pub fn fits(len: usize) -> bool {
        len <= MAX_ELEMENT_BYTES
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `node` may take one more element of `body` bytes (Redis's
    /// `_quicklistNodeAllowInsert`, whose size estimate this mirrors).
    fn allows(&self, node: &Listpack, body: usize) -> bool {
        if body >= LARGE_ELEMENT_BYTES || node.byte_len() >= LARGE_ELEMENT_BYTES {
            return false;
        }
        let overhead = if body < 254 { 1 } else { 5 }
            + if body < 64 {
                1
            } else if body < 16384 {
                2
            } else {
                5
            };
        let new_bytes = node.byte_len() + body + overhead;
        if self.fill < 0 {
            let level = (-(self.fill as i32) - 1) as usize;
            return new_bytes <= NODE_BYTES_BY_LEVEL[level.min(NODE_BYTES_BY_LEVEL.len() - 1)];
        }
        new_bytes <= NODE_SAFETY_BYTES && node.len() < self.fill as usize
    }

    /// Pushes `bytes` at one end.
    pub fn push(&mut self, end: End, bytes: &[u8]) {
        let body = bytes.len();
        let fits = match end {
            End::Head => self.nodes.front().is_some_and(|n| self.allows(n, body)),
            End::Tail => self.nodes.back().is_some_and(|n| self.allows(n, body)),
        };
        if !fits {
            match end {
                End::Head => self.nodes.push_front(Listpack::new()),
                End::Tail => self.nodes.push_back(Listpack::new()),
            }
        }
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
        if let Some(n) = node {
            match end {
                End::Head => n.push_front(bytes),
                End::Tail => n.push_back(bytes),
            }
            self.len += 1;
        }
    }

    /// Pops the element at one end and hands it to `f` before it is freed (so a reply
    /// can be written from it without a copy).
    pub fn pop_with<R>(&mut self, end: End, f: impl FnOnce(Elem<'_>) -> R) -> Option<R> {
        let ni = match end {
            End::Head => 0,
            End::Tail => self.nodes.len().checked_sub(1)?,
        };
        let node = self.nodes.get_mut(ni)?;
        let off = match end {
            End::Head => node.first()?,
            End::Tail => node.last()?,
        };
        let r = f(node.get(off).0);
        node.delete(off, 1);
        self.len -= 1;
        self.drop_if_empty(ni);
        Some(r)
    }

    /// Pops the element at one end.
    pub fn pop(&mut self, end: End) -> Option<OwnedElem> {
        self.pop_with(end, |e| e.to_owned_elem())
    }

    fn drop_if_empty(&mut self, ni: usize) {
        if self.nodes.get(ni).is_some_and(|n| n.is_empty()) {
            self.nodes.remove(ni);
        }
    }

    /// A 0-based position from a Redis index (negative counts from the tail).
    pub fn position(&self, index: i64) -> Option<usize> {
        let len = self.len as i64;
        let i = if index < 0 { len.checked_add(index)? } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The node holding position `pos` and the position inside it, walking from the
    /// nearer end of the list (Redis's `quicklistGetIteratorAtIdx`).
    fn locate(&self, pos: usize) -> Option<(usize, usize)> {
        if pos >= self.len {
            return None;
        }
        if pos < self.len / 2 {
            let mut skipped = 0;
            for (ni, n) in self.nodes.iter().enumerate() {
                if pos < skipped + n.len() {
                    return Some((ni, pos - skipped));
                }
                skipped += n.len();
            }
        } else {
            let mut after = self.len;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                let start = after - n.len();
                if pos >= start {
                    return Some((ni, pos - start));
                }
                after = start;
            }
        }
        None
    }

    /// The element at a Redis index (negative counts from the tail).
    pub fn get(&self, index: i64) -> Option<Elem<'_>> {
        let (ni, i) = self.locate(self.position(index)?)?;
        let n = &self.nodes[ni];
        n.offset_of(i).map(|off| n.get(off).0)
    }

    /// Replaces the element at a Redis index; false if the index is out of range.
    pub fn set(&mut self, index: i64, bytes: &[u8]) -> bool {
        let Some(pos) = self.position(index) else { return false };
        let Some((ni, i)) = self.locate(pos) else { return false };
        let node = &self.nodes[ni];
        let Some(off) = node.offset_of(i) else { return false };
        let old = entry_len(node.get(off).0);
        let new_bytes = node.byte_len() - old + entry_len(as_elem(bytes));
        // In place when the node stays within its budget (or holds nothing else);
        // otherwise as a delete and an insert, which may split the node.
        let budget = match self.fill {
            f if f < 0 => NODE_BYTES_BY_LEVEL[((-(f as i32) - 1) as usize).min(4)],
            _ => NODE_SAFETY_BYTES,
        };
        if node.len() == 1 || new_bytes <= budget {
            self.nodes[ni].replace(off, bytes);
        } else {
            self.nodes[ni].delete(off, 1);
            self.len -= 1;
            self.insert_at(ni, i, bytes);
        }
        true
    }

    /// Inserts `bytes` at position `i` of node `ni` (before the element there; `i` may
    /// be the node's length), keeping every node within its budget (Redis's
    /// `_quicklistInsert`: this node, else the neighbour at that edge, else a split).
    fn insert_at(&mut self, ni: usize, i: usize, bytes: &[u8]) {
        let body = entry_body_len(as_elem(bytes));
        self.len += 1;
        let node_len = self.nodes[ni].len();
        if self.allows(&self.nodes[ni], body) {
            let n = &mut self.nodes[ni];
            let off = n.offset_of(i).unwrap_or(n.end());
            n.insert_bytes(off, bytes);
        } else if i == node_len && self.nodes.get(ni + 1).is_some_and(|n| self.allows(n, body)) {
            self.nodes[ni + 1].push_front(bytes);
        } else if i == 0 && ni > 0 && self.allows(&self.nodes[ni - 1], body) {
            self.nodes[ni - 1].push_back(bytes);
        } else {
            let right = self.nodes[ni].split_off(i);
            let mut middle = Listpack::new();
            middle.push_back(bytes);
            let mut at = ni + 1;
            self.nodes.insert(at, middle);
            if !right.is_empty() {
                at += 1;
                self.nodes.insert(at, right);
            }
            self.drop_if_empty(ni);
        }
    }

    /// LINSERT: inserts `value` before (or after) the first element equal to `pivot`;
    /// false if there is none.
    pub fn insert(&mut self, pivot: &[u8], after: bool, value: &[u8]) -> bool {
        let needle = as_elem(pivot);
        let mut found = None;
        'nodes: for (ni, n) in self.nodes.iter().enumerate() {
            for (i, e) in n.iter().enumerate() {
                if e.matches(&needle) {
                    found = Some((ni, i));
                    break 'nodes;
                }
            }
        }
        let Some((ni, i)) = found else { return false };
        self.insert_at(ni, if after { i + 1 } else { i }, value);
        true
    }

    /// LREM: removes up to `count` elements equal to `value` (all when 0; from the tail
    /// when negative); returns how many went.
    pub fn remove(&mut self, value: &[u8], count: i64) -> usize {
        let needle = as_elem(value);
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs().min(usize::MAX as u64) as usize };
        let mut removed = 0;
        let order: Vec<usize> =
            if count < 0 { (0..self.nodes.len()).rev().collect() } else { (0..self.nodes.len()).collect() };
        for ni in order {
            if removed == limit {
                break;
            }
            let n = &mut self.nodes[ni];
            if count < 0 {
                let mut at = n.last();
                while let Some(off) = at {
                    if removed == limit {
                        break;
                    }
                    at = n.prev(off);
                    if n.get(off).0.matches(&needle) {
                        n.delete(off, 1);
                        removed += 1;
                    }
                }
            } else {
                let mut at = n.first();
                while let Some(off) = at {
                    if removed == limit {
                        break;
                    }
                    if n.get(off).0.matches(&needle) {
                        n.delete(off, 1);
                        removed += 1;
                        at = (off < n.end()).then_some(off);
                    } else {
                        at = n.next(off);
                    }
                }
            }
        }
        self.len -= removed;
        self.nodes.retain(|n| !n.is_empty());
        removed
    }

    /// Removes `n` elements starting at position `start` (LTRIM, pops with a count).
    pub fn delete_range(&mut self, start: usize, n: usize) {
        let mut left = n.min(self.len.saturating_sub(start));
        let Some((mut ni, mut i)) = self.locate(start) else { return };
        while left > 0 && ni < self.nodes.len() {
            let node = &mut self.nodes[ni];
            let take = left.min(node.len() - i);
            if i == 0 && take == node.len() {
                self.nodes.remove(ni);
            } else {
                if let Some(off) = node.offset_of(i) {
                    node.delete(off, take);
                }
                ni += 1;
            }
            self.len -= take;
            left -= take;
            i = 0;
        }
    }

    /// LTRIM's core: keeps positions `start..=end` (already clamped to the list).
    pub fn retain_range(&mut self, start: usize, end: usize) {
        if start > end || start >= self.len {
            self.nodes.clear();
            self.len = 0;
            return;
        }
        let end = end.min(self.len - 1);
        self.delete_range(end + 1, self.len - end - 1);
        self.delete_range(0, start);
    }

    /// Every element, head to tail (and tail to head with `.rev()`).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Elem<'_>> + '_ {
        self.nodes.iter().flat_map(|n| n.iter())
    }

    /// The elements from position `start` towards the tail.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = Elem<'_>> + '_ {
        let (ni, i) = self.locate(start).unwrap_or((self.nodes.len(), 0));
        let first = self.nodes.get(ni).map(|n| listpack::Iter::from_index(n, i));
        first.into_iter().flatten().chain(self.nodes.range((ni + 1).min(self.nodes.len())..).flat_map(|n| n.iter()))
    }

    /// The elements from position `start` towards the head.
    pub fn iter_back_from(&self, start: usize) -> impl Iterator<Item = Elem<'_>> + '_ {
        let (ni, i, found) = match self.locate(start) {
            Some((ni, i)) => (ni, i, true),
            None => (0, 0, false),
        };
        let first = found.then(|| listpack::Iter::up_to(&self.nodes[ni], i).rev());
        let rest = if found { self.nodes.range(..ni) } else { self.nodes.range(..0) };
        first.into_iter().flatten().chain(rest.rev().flat_map(|n| n.iter().rev()))
    }

    /// Mixes the contents into a DEBUG DIGEST as Redis does: each element in order, as
    /// its text (rules in `digest::xor_object_digest`).
    pub fn mix_digest(&self, d: &mut Digest) {
        let mut scratch = [0u8; 20];
        for e in self.iter() {
            mix_digest(d, e.bytes(&mut scratch));
        }
    }

    /// Heap bytes held (for eviction's estimate and MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Listpack>() + self.nodes.iter().map(|n| n.capacity()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(l: &List) -> Vec<String> {
        l.iter().map(|e| String::from_utf8(e.to_vec()).unwrap()).collect()
    }

    fn check(l: &List) {
        assert_eq!(l.len(), l.nodes.iter().map(|n| n.len()).sum::<usize>());
        assert!(l.nodes.iter().all(|n| !n.is_empty()));
        for n in &l.nodes {
            assert!(Listpack::from_blob(n.as_bytes()).is_some());
        }
    }

    #[test]
    fn pushes_and_pops_at_both_ends_across_nodes() {
        let mut l = List::new(-2);
        let mut model = VecDeque::new();
        for i in 0..5000 {
            let v = format!("element:{i}");
            if i % 3 == 0 {
                l.push(End::Head, v.as_bytes());
                model.push_front(v);
            } else {
                l.push(End::Tail, v.as_bytes());
                model.push_back(v);
            }
        }
        check(&l);
        assert!(l.nodes.len() > 5, "8 KB nodes");
        assert!(l.nodes.iter().all(|n| n.byte_len() <= 8192));
        assert_eq!(texts(&l), model.iter().cloned().collect::<Vec<_>>());
        let rev: Vec<String> = l.iter().rev().map(|e| String::from_utf8(e.to_vec()).unwrap()).collect();
        assert_eq!(rev, model.iter().rev().cloned().collect::<Vec<_>>());
        for i in 0..4999 {
            let (got, want) =
                if i % 2 == 0 { (l.pop(End::Head), model.pop_front()) } else { (l.pop(End::Tail), model.pop_back()) };
            assert_eq!(got.map(|e| e.as_elem().to_vec()), want.map(|s| s.into_bytes()));
        }
        check(&l);
        assert_eq!(l.len(), 1);
        assert!(l.pop(End::Tail).is_some());
        assert!(l.pop(End::Tail).is_none());
        assert_eq!(l.nodes.len(), 0);
    }

    #[test]
    fn positive_fill_counts_elements() {
        let mut l = List::new(3);
        for i in 0..10 {
            l.push(End::Tail, i.to_string().as_bytes());
        }
        assert_eq!(l.nodes.iter().map(|n| n.len()).collect::<Vec<_>>(), vec![3, 3, 3, 1]);
    }

    #[test]
    fn index_set_insert_remove_trim() {
        let mut l = List::new(4);
        for s in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] {
            l.push(End::Tail, s.as_bytes());
        }
        assert_eq!(l.get(0).map(|e| e.to_vec()), Some(b"a".to_vec()));
        assert_eq!(l.get(-1).map(|e| e.to_vec()), Some(b"j".to_vec()));
        assert_eq!(l.get(-10).map(|e| e.to_vec()), Some(b"a".to_vec()));
        assert!(l.get(10).is_none() && l.get(-11).is_none() && l.get(i64::MIN).is_none());
        assert!(l.set(5, b"F"));
        assert!(l.set(-1, &[b'x'; 9000]));
        assert!(!l.set(10, b"no"));
        check(&l);
        assert!(l.insert(b"c", false, b"before-c"));
        assert!(l.insert(b"c", true, b"after-c"));
        assert!(!l.insert(b"zz", true, b"x"));
        check(&l);
        let t = texts(&l);
        assert_eq!(&t[..6], ["a", "b", "before-c", "c", "after-c", "d"]);
        assert_eq!(t[7], "F");
        assert_eq!(t[11].len(), 9000);
        for s in ["x", "y", "x", "x"] {
            l.push(End::Tail, s.as_bytes());
        }
        assert_eq!(l.remove(b"x", -2), 2);
        assert_eq!(texts(&l)[12..], ["x", "y"]);
        assert_eq!(l.remove(b"x", 0), 1);
        check(&l);
        l.retain_range(2, 5);
        assert_eq!(texts(&l), ["before-c", "c", "after-c", "d"]);
        check(&l);
        let from: Vec<Vec<u8>> = l.iter_from(1).map(|e| e.to_vec()).collect();
        assert_eq!(from, [b"c".to_vec(), b"after-c".to_vec(), b"d".to_vec()]);
        let back: Vec<Vec<u8>> = l.iter_back_from(2).map(|e| e.to_vec()).collect();
        assert_eq!(back, [b"after-c".to_vec(), b"c".to_vec(), b"before-c".to_vec()]);
        assert_eq!(l.iter_from(9).count(), 0);
        assert_eq!(l.iter_back_from(9).count(), 0);
        l.retain_range(3, 2);
        assert!(l.is_empty());
    }

    #[test]
    fn delete_range_spans_nodes() {
        let mut l = List::new(5);
        for i in 0..23 {
            l.push(End::Tail, i.to_string().as_bytes());
        }
        l.delete_range(3, 14);
        check(&l);
        let want: Vec<String> = (0..3).chain(17..23).map(|i| i.to_string()).collect();
        assert_eq!(texts(&l), want);
        l.delete_range(0, 100);
        assert!(l.is_empty());
        check(&l);
    }

    #[test]
    fn inserting_into_full_nodes_splits_them() {
        let mut l = List::new(2);
        for s in ["a", "b", "c", "d"] {
            l.push(End::Tail, s.as_bytes());
        }
        for (pivot, v) in [("a", "1"), ("b", "2"), ("d", "3"), ("c", "4")] {
            assert!(l.insert(pivot.as_bytes(), true, v.as_bytes()));
            check(&l);
            assert!(l.nodes.iter().all(|n| n.len() <= 2));
        }
        assert_eq!(texts(&l), ["a", "1", "b", "2", "c", "4", "d", "3"]);
    }

    #[test]
    fn digest_mixes_elements_as_text() {
        let mut a = List::new(-2);
        let mut b = List::new(1);
        for s in ["1", "foo", "-42"] {
            a.push(End::Tail, s.as_bytes());
            b.push(End::Tail, s.as_bytes());
        }
        let (mut da, mut db) = ([0u8; 20], [0u8; 20]);
        a.mix_digest(&mut da);
        b.mix_digest(&mut db);
        assert_eq!(da, db);
        let mut want = [0u8; 20];
        for s in ["1", "foo", "-42"] {
            mix_digest(&mut want, s.as_bytes());
        }
        assert_eq!(da, want);
    }
}
