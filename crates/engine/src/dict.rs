//! [`Dict`]: the hash table of one hash slot in one database.
//!
//! Chained hashing over a power-of-two bucket array, like Redis's dict, because it gives
//! SCAN its guarantee for free: a reverse-binary cursor over the bucket index visits
//! every entry that stays in the table, even when the table grows or shrinks between
//! calls. Chains are threaded through the entries themselves (their `next` field), so a
//! key costs its entry plus one bucket pointer.
//!
//! A slot holds 1/16384 of a database, so a resize moves few entries and is done at
//! once instead of incrementally as Redis does; a dataset that puts millions of keys in
//! one slot (one hash tag) pays for that with one longer pause per doubling.

use std::hash::BuildHasher;
use std::ptr;
use std::sync::OnceLock;

use crate::entry::{self, Entry, EntryMut, EntryRef};

/// Smallest non-empty table.
const MIN_BUCKETS: usize = 4;
/// A table shrinks when fewer than 1 in this many buckets would be used.
const SHRINK_RATIO: usize = 10;

static SEED: OnceLock<foldhash::fast::FixedState> = OnceLock::new();

/// The hash of a key inside its slot's table. Seeded once per process from the
/// standard library's random source so that bucket placement cannot be predicted.
pub fn hash_key(key: &[u8]) -> u64 {
    SEED.get_or_init(|| {
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        foldhash::fast::FixedState::with_seed(seed)
    })
    .hash_one(key)
}

/// The hash table of one slot.
pub struct Dict {
    buckets: Box<[*mut u8]>,
    len: usize,
    volatile: usize,
}

// The dict owns every entry reachable from its buckets; none is shared.
unsafe impl Send for Dict {}

impl Default for Dict {
    fn default() -> Self {
        Dict { buckets: Box::new([]), len: 0, volatile: 0 }
    }
}

impl Dict {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of entries that carry an expiry.
    pub fn volatile(&self) -> usize {
        self.volatile
    }

    /// Number of buckets (for memory accounting and tests).
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The link that points at the entry with `key`, or at the null end of its chain.
    /// `buckets` is derived from `&mut self` by callers that write through the link.
    fn link(buckets: *mut *mut u8, mask: usize, hash: u64, key: &[u8]) -> *mut *mut u8 {
        let mut link = unsafe { buckets.add(hash as usize & mask) };
        unsafe {
            loop {
                let p = *link;
                if p.is_null() || entry::key_of(p) == key {
                    return link;
                }
                // The next field is at offset 0 of the entry: the entry pointer is the link.
                link = p as *mut *mut u8;
            }
        }
    }

    pub fn get(&self, hash: u64, key: &[u8]) -> Option<EntryRef<'_>> {
        if self.len == 0 {
            return None;
        }
        let p = unsafe { *Self::link(self.buckets.as_ptr() as *mut *mut u8, self.mask(), hash, key) };
        (!p.is_null()).then(|| unsafe { EntryRef::from_ptr(p) })
    }

    /// The entry with `key`, as a raw pointer (for `Db`, which ties it to its locks).
    pub(crate) fn get_raw(&self, hash: u64, key: &[u8]) -> Option<std::ptr::NonNull<u8>> {
        if self.len == 0 {
            return None;
        }
        let p = unsafe { *Self::link(self.buckets.as_ptr() as *mut *mut u8, self.mask(), hash, key) };
        std::ptr::NonNull::new(p)
    }

    pub fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<EntryMut<'_>> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let p = unsafe { *Self::link(self.buckets.as_mut_ptr(), mask, hash, key) };
        (!p.is_null()).then(|| unsafe { EntryMut::from_ptr(p) })
    }

    /// Adds an entry whose key is not in the table (checked in debug builds).
    pub fn insert_new(&mut self, hash: u64, e: Entry) {
        debug_assert!(self.get(hash, e.as_ref().key()).is_none());
        if self.len >= self.buckets.len() {
            self.resize((self.len + 1).next_power_of_two().max(MIN_BUCKETS));
        }
        if e.as_ref().expire_ms().is_some() {
            self.volatile += 1;
        }
        let b = hash as usize & self.mask();
        let p = e.into_raw();
        unsafe { entry::set_next(p, self.buckets[b]) };
        self.buckets[b] = p;
        self.len += 1;
    }

    /// Removes and returns the entry with `key`.
    pub fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let link = Self::link(self.buckets.as_mut_ptr(), mask, hash, key);
        let e = unsafe { self.unlink(link)? };
        self.maybe_shrink();
        Some(e)
    }

    /// Takes the entry at `link` out of its chain.
    unsafe fn unlink(&mut self, link: *mut *mut u8) -> Option<Entry> {
        let p = *link;
        if p.is_null() {
            return None;
        }
        *link = entry::next_of(p);
        entry::set_next(p, ptr::null_mut());
        self.len -= 1;
        if entry::has_expire(p) {
            self.volatile -= 1;
        }
        Some(Entry::from_raw(p))
    }

    /// Replaces the entry with `key` by `f(entry)`, which must keep the key. Returns
    /// false if the key is absent.
    pub fn replace(&mut self, hash: u64, key: &[u8], f: impl FnOnce(Entry) -> Entry) -> bool {
        if self.len == 0 {
            return false;
        }
        let mask = self.mask();
        let link = Self::link(self.buckets.as_mut_ptr(), mask, hash, key);
        unsafe {
            let p = *link;
            if p.is_null() {
                return false;
            }
            let next = entry::next_of(p);
            let was_volatile = entry::has_expire(p);
            let new = f(Entry::from_raw(p)).into_raw();
            debug_assert_eq!(entry::key_of(new), key);
            entry::set_next(new, next);
            *link = new;
            match (was_volatile, entry::has_expire(new)) {
                (false, true) => self.volatile += 1,
                (true, false) => self.volatile -= 1,
                _ => {}
            }
        }
        true
    }

    fn maybe_shrink(&mut self) {
        let n = self.buckets.len();
        if n > MIN_BUCKETS && self.len * SHRINK_RATIO < n {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    fn resize(&mut self, size: usize) {
        debug_assert!(size.is_power_of_two() && size >= self.len);
        let mut buckets = vec![ptr::null_mut::<u8>(); size].into_boxed_slice();
        let mask = size - 1;
        for head in self.buckets.iter() {
            let mut p = *head;
            while !p.is_null() {
                unsafe {
                    let next = entry::next_of(p);
                    let b = hash_key(entry::key_of(p)) as usize & mask;
                    entry::set_next(p, buckets[b]);
                    buckets[b] = p;
                    p = next;
                }
            }
        }
        self.buckets = buckets;
    }

    /// Visits the bucket named by `cursor` and returns the next cursor (0 when the
    /// table has been covered). The cursor counts in reverse binary so that it stays
    /// valid across resizes: entries present for the whole scan are all visited.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(EntryRef<'_>)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        let mut p = self.buckets[(cursor & mask) as usize];
        while !p.is_null() {
            let e = unsafe { EntryRef::from_ptr(p) };
            p = e.next();
            f(e);
        }
        next_cursor(cursor, mask)
    }

    /// Visits the bucket named by `cursor`, removing the entries for which `remove`
    /// answers true and handing them to `removed`. Returns the next cursor.
    pub fn scan_remove(
        &mut self,
        cursor: u64,
        mut remove: impl FnMut(EntryRef<'_>) -> bool,
        mut removed: impl FnMut(Entry),
    ) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        let mut link = unsafe { self.buckets.as_mut_ptr().add((cursor & mask) as usize) };
        unsafe {
            while !(*link).is_null() {
                let p = *link;
                if remove(EntryRef::from_ptr(p)) {
                    if let Some(e) = self.unlink(link) {
                        removed(e);
                    }
                } else {
                    link = p as *mut *mut u8;
                }
            }
        }
        let next = next_cursor(cursor, mask);
        self.maybe_shrink();
        next
    }

    /// A random entry: a random non-empty bucket, then a random entry of its chain.
    /// `rnd` supplies random numbers.
    pub fn random(&self, mut rnd: impl FnMut() -> u64) -> Option<EntryRef<'_>> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        // The table is at least 1/SHRINK_RATIO full, so a few tries find a bucket; the
        // bound keeps an unlucky streak from spinning, and the walk below always ends.
        let mut b = rnd() as usize & mask;
        for _ in 0..64 {
            if !self.buckets[b].is_null() {
                break;
            }
            b = rnd() as usize & mask;
        }
        while self.buckets[b].is_null() {
            b = (b + 1) & mask;
        }
        let mut chain = Vec::new();
        let mut p = self.buckets[b];
        while !p.is_null() {
            chain.push(p);
            p = unsafe { entry::next_of(p) };
        }
        let pick = chain[rnd() as usize % chain.len()];
        Some(unsafe { EntryRef::from_ptr(pick) })
    }

    /// Every entry, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        let mut bucket = 0;
        let mut p: *mut u8 = ptr::null_mut();
        std::iter::from_fn(move || {
            while p.is_null() {
                if bucket >= self.buckets.len() {
                    return None;
                }
                p = self.buckets[bucket];
                bucket += 1;
            }
            let e = unsafe { EntryRef::from_ptr(p) };
            p = e.next();
            Some(e)
        })
    }

    /// Removes every entry and returns the table to its empty state.
    pub fn clear(&mut self) {
        for head in self.buckets.iter_mut() {
            let mut p = std::mem::replace(head, ptr::null_mut());
            while !p.is_null() {
                unsafe {
                    let next = entry::next_of(p);
                    drop(Entry::from_raw(p));
                    p = next;
                }
            }
        }
        self.buckets = Box::new([]);
        self.len = 0;
        self.volatile = 0;
    }
}

impl Drop for Dict {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The reverse-binary increment of Redis's `dictScan`: set the bits above the mask,
/// reverse, add one, reverse back.
pub(crate) fn next_cursor(cursor: u64, mask: u64) -> u64 {
    let v = cursor | !mask;
    v.reverse_bits().wrapping_add(1).reverse_bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::NewValue;
    use std::collections::HashSet;

    fn put(d: &mut Dict, k: &[u8]) {
        d.insert_new(hash_key(k), Entry::new(k, NewValue::Int(1), None, 0));
    }

    fn full_scan(d: &Dict) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        let mut c = 0;
        loop {
            c = d.scan(c, |e| seen.push(e.key().to_vec()));
            if c == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn insert_get_remove_shrink() {
        let mut d = Dict::default();
        for i in 0..1000u32 {
            put(&mut d, &i.to_be_bytes());
        }
        assert_eq!(d.len(), 1000);
        assert_eq!(d.buckets(), 1024);
        for i in 0..1000u32 {
            assert!(d.get(hash_key(&i.to_be_bytes()), &i.to_be_bytes()).is_some());
        }
        for i in 0..990u32 {
            assert!(d.remove(hash_key(&i.to_be_bytes()), &i.to_be_bytes()).is_some());
        }
        assert!(d.buckets() <= 64, "shrunk to {}", d.buckets());
        assert_eq!(full_scan(&d).len(), 10);
    }

    #[test]
    fn scan_survives_resizes() {
        let mut d = Dict::default();
        for i in 0..100u32 {
            put(&mut d, &i.to_be_bytes());
        }
        let mut seen = HashSet::new();
        let mut c = 0;
        let mut step = 0;
        loop {
            c = d.scan(c, |e| {
                seen.insert(e.key().to_vec());
            });
            step += 1;
            if step == 10 {
                for i in 100..2000u32 {
                    put(&mut d, &i.to_be_bytes());
                }
            }
            if c == 0 {
                break;
            }
        }
        for i in 0..100u32 {
            assert!(seen.contains(&i.to_be_bytes()[..]), "missed {i}");
        }
    }

    #[test]
    fn volatile_counts_follow_replacements() {
        let mut d = Dict::default();
        put(&mut d, b"a");
        assert!(d.replace(hash_key(b"a"), b"a", |e| e.with_expire(Some(5))));
        assert_eq!(d.volatile(), 1);
        let mut gone = Vec::new();
        let mut c = 0;
        loop {
            c = d.scan_remove(c, |e| e.expire_ms().is_some(), |e| gone.push(e));
            if c == 0 {
                break;
            }
        }
        assert_eq!((gone.len(), d.len(), d.volatile()), (1, 0, 0));
        put(&mut d, b"b");
        let mut n = 0u64;
        assert_eq!(
            d.random(|| {
                n += 7;
                n
            })
            .map(|e| e.key().to_vec()),
            Some(b"b".to_vec())
        );
    }
}
