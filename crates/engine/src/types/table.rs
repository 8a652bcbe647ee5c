//! [`Table`]: the `hashtable` encoding of hashes and sets — a chained hash table over
//! items that carry their own key.
//!
//! Layout: the items live in one dense vector (the "slab"); buckets and chain links are
//! 32-bit indexes into it. Compared with Redis's dict (a 24-byte `dictEntry` allocated
//! per item, 8-byte bucket pointers) an item costs one 24-byte slot and a 4-byte
//! bucket, and:
//! - a uniformly random item is one random index (SPOP, SRANDMEMBER, HRANDFIELD), where
//!   Redis samples buckets and chain positions;
//! - SCAN keeps Redis's guarantee, because items are found through power-of-two
//!   buckets exactly like a dict: the reverse-binary cursor of `dictScan` visits every
//!   item present for the whole scan at least once, across grows and shrinks;
//! - removal moves the last slot into the hole (one chain fix-up), so the slab stays
//!   dense.
//!
//! Each slot keeps 32 bits of its key's hash (in what would be padding), so a resize
//! re-buckets without hashing a key again and a chain walk compares keys only when the
//! hashes agree. A resize happens at once, not incrementally as in Redis: for a
//! collection of millions of items that is one pause of a few milliseconds per
//! doubling, the price of the smaller layout.
//!
//! Bound: at most [`MAX_LEN`] items (the indexes are 32-bit); inserting beyond it is
//! refused with [`Full`], never a panic.

use crate::dict::{hash_key, next_cursor};

/// What a table holds: something with a key (a set member; a hash field with its value).
pub trait Keyed {
    fn key(&self) -> &[u8];
    /// Heap bytes the item holds (for memory estimates).
    fn heap_bytes(&self) -> usize;
}

/// The empty link.
const NIL: u32 = u32::MAX;
/// Most items a table holds.
pub const MAX_LEN: usize = (u32::MAX - 1) as usize;
/// Smallest bucket array.
const MIN_BUCKETS: usize = 4;
/// Shrink when fewer than one bucket in this many would be used (Redis's
/// `HASHTABLE_MIN_FILL` of 10%).
const SHRINK_RATIO: usize = 10;

/// The table already holds [`MAX_LEN`] items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

#[derive(Debug, Clone)]
struct Slot<T> {
    item: T,
    /// The next slot in this bucket's chain, or NIL.
    next: u32,
    hash: u32,
}

/// A chained hash table of keyed items.
#[derive(Debug, Clone)]
pub struct Table<T> {
    slots: Vec<Slot<T>>,
    /// Head of each chain; always a power of two long.
    buckets: Box<[u32]>,
}

fn hash32(key: &[u8]) -> u32 {
    hash_key(key) as u32
}

impl<T: Keyed> Default for Table<T> {
    fn default() -> Self {
        Table::with_capacity(0)
    }
}

impl<T: Keyed> Table<T> {
    /// An empty table sized for `n` items.
    pub fn with_capacity(n: usize) -> Table<T> {
        let n = n.min(MAX_LEN);
        let buckets = n.next_power_of_two().max(MIN_BUCKETS);
        Table { slots: Vec::with_capacity(n), buckets: vec![NIL; buckets].into_boxed_slice() }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn find(&self, key: &[u8], hash: u32) -> Option<usize> {
        let mut i = self.buckets[hash as usize & self.mask()];
        while i != NIL {
            let s = &self.slots[i as usize];
            if s.hash == hash && s.item.key() == key {
                return Some(i as usize);
            }
            i = s.next;
        }
        None
    }

    pub fn get(&self, key: &[u8]) -> Option<&T> {
        self.find(key, hash32(key)).map(|i| &self.slots[i].item)
    }

    /// The item with `key`, to change anything but its key.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut T> {
        let i = self.find(key, hash32(key))?;
        Some(&mut self.slots[i].item)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(key, hash32(key)).is_some()
    }

    /// Inserts an item whose key is not in the table yet (the caller checked).
    pub fn insert_new(&mut self, item: T) -> Result<(), Full> {
        debug_assert!(!self.contains(item.key()), "insert_new with a present key");
        let hash = hash32(item.key());
        self.insert_hashed(item, hash)
    }

    /// The item with `key` (false), or a new one made by `make` (true): one hash and
    /// one chain walk for both cases (HSET, SADD).
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> T) -> Result<(&mut T, bool), Full> {
        let hash = hash32(key);
        if let Some(i) = self.find(key, hash) {
            return Ok((&mut self.slots[i].item, false));
        }
        let item = make();
        debug_assert_eq!(item.key(), key);
        self.insert_hashed(item, hash)?;
        let last = self.slots.len() - 1;
        Ok((&mut self.slots[last].item, true))
    }

    fn insert_hashed(&mut self, item: T, hash: u32) -> Result<(), Full> {
        if self.slots.len() >= MAX_LEN {
            return Err(Full);
        }
        if self.slots.len() >= self.buckets.len() {
            self.rebuild(self.buckets.len() * 2);
        }
        let b = hash as usize & self.mask();
        let i = self.slots.len() as u32;
        self.slots.push(Slot { item, next: self.buckets[b], hash });
        self.buckets[b] = i;
        Ok(())
    }

    /// Removes and returns the item with `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        let i = self.find(key, hash32(key))?;
        Some(self.remove_at(i))
    }

    /// The item at slab position `i` (`0..len()`), for uniform random picks.
    pub fn at(&self, i: usize) -> &T {
        &self.slots[i].item
    }

    /// Removes and returns the item at slab position `i` (`0..len()`); the last item
    /// takes its position.
    pub fn remove_at(&mut self, i: usize) -> T {
        let mask = self.mask();
        let (hash, next) = (self.slots[i].hash, self.slots[i].next);
        self.relink(hash as usize & mask, i as u32, next);
        let last = self.slots.len() - 1;
        if i != last {
            let last_hash = self.slots[last].hash;
            self.relink(last_hash as usize & mask, last as u32, i as u32);
        }
        let item = self.slots.swap_remove(i).item;
        self.maybe_shrink();
        item
    }

    /// Makes the link that points at slot `from` in bucket `b` point at `to`.
    fn relink(&mut self, b: usize, from: u32, to: u32) {
        if self.buckets[b] == from {
            self.buckets[b] = to;
            return;
        }
        let mut j = self.buckets[b];
        while j != NIL {
            let next = self.slots[j as usize].next;
            if next == from {
                self.slots[j as usize].next = to;
                return;
            }
            j = next;
        }
        debug_assert!(false, "slot {from} missing from its bucket's chain");
    }

    /// Shrinks the buckets (and the slab's spare room) after removals, as Redis's
    /// `htNeedsResize` + `dictResize` do.
    fn maybe_shrink(&mut self) {
        let len = self.slots.len();
        if self.buckets.len() > MIN_BUCKETS && len * SHRINK_RATIO < self.buckets.len() {
            self.rebuild(len.next_power_of_two().max(MIN_BUCKETS));
        }
        if self.slots.capacity() > 16 && self.slots.capacity() / 4 > len {
            self.slots.shrink_to(len * 2);
        }
    }

    /// Re-buckets every item into `n` buckets (a power of two).
    fn rebuild(&mut self, n: usize) {
        let mut buckets = vec![NIL; n].into_boxed_slice();
        let mask = n - 1;
        for (i, s) in self.slots.iter_mut().enumerate() {
            let b = s.hash as usize & mask;
            s.next = buckets[b];
            buckets[b] = i as u32;
        }
        self.buckets = buckets;
    }

    /// Every item, in slab order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        self.slots.iter().map(|s| &s.item)
    }

    /// One step of a SCAN: calls `f` for every item of the bucket `cursor` designates
    /// and returns the next cursor, 0 when the scan is complete (Redis's `dictScan`).
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(&'a T)) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        let mut i = self.buckets[(cursor & mask) as usize];
        while i != NIL {
            let s = &self.slots[i as usize];
            f(&s.item);
            i = s.next;
        }
        next_cursor(cursor, mask)
    }

    /// The steps of one SCAN call (Redis's `scanGenericCommand` on a dict): buckets are
    /// visited until `count` reply items were produced (`per_item` for each item: 2
    /// for a hash's field and value), at most `10 * count` buckets, or the end.
    /// Returns the next cursor.
    pub fn scan_batch<'a>(&'a self, mut cursor: u64, count: usize, per_item: usize, mut f: impl FnMut(&'a T)) -> u64 {
        let mut produced = 0usize;
        let mut budget = count.saturating_mul(10);
        loop {
            cursor = self.scan(cursor, |item| {
                produced += per_item;
                f(item)
            });
            if cursor == 0 || budget == 0 || produced >= count {
                return cursor;
            }
            budget -= 1;
        }
    }

    /// Heap bytes held: slab, buckets and what the items hold. O(n).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<T>>()
            + self.buckets.len() * std::mem::size_of::<u32>()
            + self.slots.iter().map(|s| s.item.heap_bytes()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    impl Keyed for Vec<u8> {
        fn key(&self) -> &[u8] {
            self
        }
        fn heap_bytes(&self) -> usize {
            self.capacity()
        }
    }

    fn k(i: u32) -> Vec<u8> {
        format!("item:{i}").into_bytes()
    }

    fn full_scan(t: &Table<Vec<u8>>) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        let mut c = 0;
        loop {
            c = t.scan(c, |v| seen.push(v.clone()));
            if c == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn insert_find_remove_and_resize() {
        let mut t: Table<Vec<u8>> = Table::default();
        for i in 0..1000 {
            t.insert_new(k(i)).unwrap();
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(t.buckets.len(), 1024);
        for i in 0..1000 {
            assert_eq!(t.get(&k(i)), Some(&k(i)));
        }
        assert!(t.get(b"nope").is_none());
        for i in 0..990 {
            assert_eq!(t.remove(&k(i)), Some(k(i)), "{i}");
            assert!(!t.contains(&k(i)));
        }
        assert!(t.buckets.len() <= 64, "shrunk to {}", t.buckets.len());
        for i in 990..1000 {
            assert!(t.contains(&k(i)), "{i}");
        }
        let all: HashSet<_> = full_scan(&t).into_iter().collect();
        assert_eq!(all.len(), 10);
        assert_eq!(t.iter().count(), 10);
        for i in 990..1000 {
            t.remove(&k(i)).unwrap();
        }
        assert!(t.is_empty());
        assert_eq!(t.scan(0, |_| {}), 0);
    }

    #[test]
    fn remove_at_keeps_every_chain_consistent() {
        let mut t: Table<Vec<u8>> = Table::with_capacity(3);
        for i in 0..200 {
            t.insert_new(k(i)).unwrap();
        }
        let mut left: HashSet<Vec<u8>> = (0..200).map(k).collect();
        let mut n = 7usize;
        while !t.is_empty() {
            n = (n * 31 + 11) % t.len().max(1);
            let gone = t.remove_at(n % t.len());
            assert!(left.remove(&gone));
            for item in &left {
                assert!(t.contains(item));
            }
        }
    }

    #[test]
    fn scan_survives_resizes() {
        let mut t: Table<Vec<u8>> = Table::default();
        for i in 0..100 {
            t.insert_new(k(i)).unwrap();
        }
        let mut seen = HashSet::new();
        let (mut c, mut step) = (0, 0);
        loop {
            c = t.scan(c, |v| {
                seen.insert(v.clone());
            });
            step += 1;
            if step == 10 {
                for i in 100..2000 {
                    t.insert_new(k(i)).unwrap();
                }
            }
            if step == 40 {
                for i in 1000..2000 {
                    t.remove(&k(i));
                }
            }
            if c == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert!(seen.contains(&k(i)), "{i} present throughout but not returned");
        }
    }
}
