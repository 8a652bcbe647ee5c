//! [`Members`]: the member → node table of an indexed sorted set (ZSCORE, ZADD's
//! lookup, ZSCAN). It owns the nodes.
//!
//! Chained hashing over power-of-two bucket arrays, like Redis's dict and for the same
//! two reasons: the chains run through the nodes themselves, so a member costs one
//! bucket pointer beyond its node; and ZSCAN's reverse-binary cursor keeps its
//! guarantee (every member present for the whole scan is returned) across resizes.
//!
//! Unlike the keyspace's per-slot tables, one sorted set can hold millions of members,
//! so a resize is incremental as in Redis: while a second table is being filled, every
//! write moves one more bucket ([`REHASH_EMPTY_VISITS`] empty ones at most), and reads
//! look in both tables. No single command pays for moving a whole table.

use super::node::Node;
use crate::dict::hash_key;

/// Smallest non-empty table (Redis's `DICT_HT_INITIAL_SIZE`).
const MIN_BUCKETS: usize = 4;
/// The table shrinks when fewer than 1 in this many buckets would be used (Redis's
/// `HASHTABLE_MIN_FILL` of 10%).
const SHRINK_RATIO: usize = 10;
/// Empty buckets one rehash step may skip before it gives up (Redis uses n*10 with n=1).
const REHASH_EMPTY_VISITS: usize = 10;

type Buckets = Box<[Option<Node>]>;

/// The member table. Every node reachable from its buckets is owned by it.
pub struct Members {
    /// `t[0]` is the table in use; `t[1]` is only non-empty while rehashing into it.
    t: [Buckets; 2],
    /// The next bucket of `t[0]` to move while rehashing.
    rehash_at: Option<usize>,
    len: usize,
    /// Bytes of all nodes, for memory accounting.
    node_bytes: usize,
}

// The table owns its nodes exclusively; nothing else frees or mutates them, so moving
// it to another thread (with the shard that holds it) is sound.
unsafe impl Send for Members {}

impl Default for Members {
    fn default() -> Self {
        Members { t: [Box::new([]), Box::new([])], rehash_at: None, len: 0, node_bytes: 0 }
    }
}

fn mask(t: &Buckets) -> usize {
    t.len().wrapping_sub(1)
}

/// The chain of `member` in table `t` and the node holding it, if any.
fn find_in(t: &Buckets, hash: u64, member: &[u8]) -> Option<Node> {
    if t.is_empty() {
        return None;
    }
    let mut cur = t[hash as usize & mask(t)];
    while let Some(n) = cur {
        // Safety: nodes reachable from the table are live while it is borrowed.
        if unsafe { n.member() } == member {
            return Some(n);
        }
        cur = n.next();
    }
    None
}

/// Unlinks the node holding `member` from table `t` and returns it.
fn unlink_in(t: &mut Buckets, hash: u64, member: &[u8]) -> Option<Node> {
    if t.is_empty() {
        return None;
    }
    let idx = hash as usize & mask(t);
    let mut prev: Option<Node> = None;
    let mut cur = t[idx];
    while let Some(n) = cur {
        // Safety: as in `find_in`.
        if unsafe { n.member() } == member {
            match prev {
                None => t[idx] = n.next(),
                Some(p) => p.set_next(n.next()),
            }
            n.set_next(None);
            return Some(n);
        }
        prev = cur;
        cur = n.next();
    }
    None
}

fn push_front(t: &mut Buckets, hash: u64, n: Node) {
    let idx = hash as usize & mask(t);
    n.set_next(t[idx]);
    t[idx] = Some(n);
}

fn empty_table(size: usize) -> Buckets {
    vec![None; size].into_boxed_slice()
}

impl Members {
    /// An empty table sized for `n` members (no rehash while they are added).
    pub fn with_capacity(n: usize) -> Members {
        let mut m = Members::default();
        if n > 0 {
            m.t[0] = empty_table(n.next_power_of_two().max(MIN_BUCKETS));
        }
        m
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes: buckets and nodes.
    pub fn heap_bytes(&self) -> usize {
        (self.t[0].len() + self.t[1].len()) * std::mem::size_of::<Option<Node>>() + self.node_bytes
    }

    /// The node of `member`.
    pub fn get(&self, member: &[u8]) -> Option<Node> {
        if self.len == 0 {
            return None;
        }
        let hash = hash_key(member);
        find_in(&self.t[0], hash, member).or_else(|| find_in(&self.t[1], hash, member))
    }

    /// Adds a node whose member is not in the table (checked in debug builds).
    pub fn insert(&mut self, n: Node) {
        // Safety: `n` is live; the caller just created it.
        let member = unsafe { n.member() };
        debug_assert!(self.get(member).is_none());
        self.rehash_step();
        let hash = hash_key(member);
        self.len += 1;
        self.node_bytes += Node::alloc_size(member.len());
        if self.rehash_at.is_some() {
            push_front(&mut self.t[1], hash, n);
            return;
        }
        if self.t[0].is_empty() {
            self.t[0] = empty_table(MIN_BUCKETS);
        }
        push_front(&mut self.t[0], hash, n);
        if self.len > self.t[0].len() {
            self.start_resize(self.len);
        }
    }

    /// Unlinks the node of `member` and hands it to the caller, who frees it.
    pub fn remove(&mut self, member: &[u8]) -> Option<Node> {
        if self.len == 0 {
            return None;
        }
        self.rehash_step();
        let hash = hash_key(member);
        let n = unlink_in(&mut self.t[0], hash, member).or_else(|| unlink_in(&mut self.t[1], hash, member))?;
        self.len -= 1;
        self.node_bytes -= Node::alloc_size(member.len());
        let size = self.t[0].len();
        if self.rehash_at.is_none() && size > MIN_BUCKETS && self.len * SHRINK_RATIO < size {
            self.start_resize(self.len.max(MIN_BUCKETS));
        }
        Some(n)
    }

    /// Starts moving into a table of the next power of two ≥ `want` buckets.
    fn start_resize(&mut self, want: usize) {
        let size = want.next_power_of_two().max(MIN_BUCKETS);
        if size == self.t[0].len() {
            return;
        }
        self.t[1] = empty_table(size);
        self.rehash_at = Some(0);
    }

    /// Moves one non-empty bucket of the old table into the new one (Redis's
    /// `_dictRehashStep`), and finishes the rehash when the old table is empty.
    fn rehash_step(&mut self) {
        let Some(mut at) = self.rehash_at else { return };
        let mut visits = REHASH_EMPTY_VISITS;
        while at < self.t[0].len() && self.t[0][at].is_none() {
            at += 1;
            visits -= 1;
            if visits == 0 {
                self.rehash_at = Some(at);
                return;
            }
        }
        if at < self.t[0].len() {
            let mut cur = self.t[0][at].take();
            while let Some(n) = cur {
                cur = n.next();
                // Safety: `n` is live; it moves from one chain to another.
                let hash = hash_key(unsafe { n.member() });
                push_front(&mut self.t[1], hash, n);
            }
            at += 1;
        }
        if at >= self.t[0].len() {
            self.t[0] = std::mem::replace(&mut self.t[1], Box::new([]));
            self.rehash_at = None;
        } else {
            self.rehash_at = Some(at);
        }
    }

    /// Calls `f` for every node (in no particular order).
    pub fn for_each(&self, mut f: impl FnMut(Node)) {
        for t in &self.t {
            for head in t.iter() {
                let mut cur = *head;
                while let Some(n) = cur {
                    cur = n.next();
                    f(n);
                }
            }
        }
    }

    /// One step of a ZSCAN: calls `f` for the nodes of the buckets at `cursor` and
    /// returns the next cursor (0 when done). Redis's `dictScan`, both tables included
    /// while rehashing, so a member present for the whole iteration is reported.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(Node)) -> u64 {
        let emit = |t: &Buckets, idx: usize, f: &mut dyn FnMut(Node)| {
            let mut cur = t[idx];
            while let Some(n) = cur {
                cur = n.next();
                f(n);
            }
        };
        let mut v = cursor;
        if self.rehash_at.is_none() {
            let t = &self.t[0];
            if t.is_empty() {
                return 0;
            }
            let m = mask(t) as u64;
            emit(t, (v & m) as usize, &mut f);
            v |= !m;
            return v.reverse_bits().wrapping_add(1).reverse_bits();
        }
        let (small, big) =
            if self.t[0].len() <= self.t[1].len() { (&self.t[0], &self.t[1]) } else { (&self.t[1], &self.t[0]) };
        let (m0, m1) = (mask(small) as u64, mask(big) as u64);
        emit(small, (v & m0) as usize, &mut f);
        loop {
            emit(big, (v & m1) as usize, &mut f);
            v |= !m1;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            if v & (m0 ^ m1) == 0 {
                break;
            }
        }
        v
    }

    /// Frees every node and empties the table.
    pub fn clear(&mut self) {
        let mut all = Vec::with_capacity(self.len);
        self.for_each(|n| all.push(n));
        // Field by field: assigning a whole `Members` would drop the old one, whose
        // `Drop` would free the same nodes again.
        self.t = [Box::new([]), Box::new([])];
        self.rehash_at = None;
        self.len = 0;
        self.node_bytes = 0;
        for n in all {
            // Safety: each node was reachable exactly once and no longer is.
            unsafe { n.free() };
        }
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(m: &mut Members, s: &str) {
        m.insert(Node::new(s.as_bytes(), 0.0));
    }

    fn del(m: &mut Members, s: &str) -> bool {
        match m.remove(s.as_bytes()) {
            Some(n) => {
                unsafe { n.free() };
                true
            }
            None => false,
        }
    }

    fn full_scan(m: &Members) -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = m.scan(cursor, |n| seen.push(String::from_utf8(unsafe { n.member() }.to_vec()).unwrap()));
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        seen
    }

    #[test]
    fn grows_and_shrinks_incrementally() {
        let mut m = Members::default();
        for i in 0..10_000 {
            add(&mut m, &format!("m{i}"));
        }
        assert_eq!(m.len(), 10_000);
        for i in 0..10_000 {
            assert!(m.get(format!("m{i}").as_bytes()).is_some(), "m{i}");
        }
        assert!(m.get(b"nope").is_none());
        for i in 0..9_990 {
            assert!(del(&mut m, &format!("m{i}")));
        }
        assert!(!del(&mut m, "m0"));
        assert_eq!(m.len(), 10);
        for i in 9_990..10_000 {
            assert!(m.get(format!("m{i}").as_bytes()).is_some());
        }
        // Enough writes to finish any rehash still going on (each moves one bucket,
        // or skips up to ten empty ones).
        for i in 0..3000 {
            add(&mut m, &format!("x{i}"));
            assert!(del(&mut m, &format!("x{i}")));
        }
        assert!(m.t[0].len() <= 64, "shrunk to {}", m.t[0].len());
    }

    #[test]
    fn scan_reports_every_stable_member_across_resizes() {
        let mut m = Members::default();
        for i in 0..1000 {
            add(&mut m, &format!("keep{i}"));
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = m.scan(cursor, |n| seen.push(String::from_utf8(unsafe { n.member() }.to_vec()).unwrap()));
            // Grow, then shrink, while the scan is under way.
            step += 1;
            if step < 50 {
                for j in 0..200 {
                    add(&mut m, &format!("tmp{step}-{j}"));
                }
            } else if step < 100 {
                for j in 0..200 {
                    del(&mut m, &format!("tmp{}-{j}", step - 49));
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(&format!("keep{i}")), "keep{i} missed");
        }
        assert!(full_scan(&m).len() >= 1000);
    }
}
