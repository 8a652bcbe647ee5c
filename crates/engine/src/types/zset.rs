//! A sorted set, in one of Redis's two encodings:
//!
//! - `listpack` ([`packed::Packed`]): while the set has at most
//!   `zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes, a
//!   single buffer of (member, score) pairs in order, scanned linearly;
//! - `skiplist` ([`Indexed`]): beyond that, a member table ([`members::Members`],
//!   member → node, O(1)) plus an order index ([`tree::Tree`], a counted B+tree,
//!   O(log n) rank, select and bound search). OBJECT ENCODING says "skiplist" because
//!   that is what Redis 7.0 says for this encoding; the structure is ours.
//!
//! Conversions follow Redis 7.0 exactly, since OBJECT ENCODING shows them: ZADD and
//! friends convert a listpack to the big encoding when an insertion would cross a
//! threshold and never convert back; results of store commands (ZUNIONSTORE,
//! ZRANGESTORE, GEOSEARCHSTORE, ...) are built in the small encoding whenever they fit
//! ([`ZSet::from_sorted`]).
//!
//! Ranks are 0-based and ascending; "reverse" walks go from a rank towards 0.

pub mod members;
pub mod node;
pub mod packed;
pub mod range;
pub mod tree;

use std::cmp::Ordering;

use members::Members;
use node::Node;
use packed::Packed;
use range::Range;
use tree::{cmp_entries, Entry, Tree};

use crate::digest::{mix_digest, xor_digest, Digest};

/// Redis's `LISTPACK_MAX_SAFETY_SIZE`: a listpack is never let grow past 1 GB.
const PACKED_MAX_BYTES: usize = 1 << 30;

/// The thresholds of the small encoding (`zset-max-listpack-entries`/`-value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

impl Limits {
    /// The thresholds currently configured.
    pub fn of(knobs: &crate::Knobs) -> Limits {
        use std::sync::atomic::Ordering::Relaxed;
        Limits {
            entries: knobs.zset_max_listpack_entries.load(Relaxed),
            value: knobs.zset_max_listpack_value.load(Relaxed),
        }
    }
}

/// ZADD's conditions (Redis's `ZADD_IN_*`).
#[derive(Clone, Copy, Debug, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What [`ZSet::add`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddOutcome {
    /// A new member, with this score.
    Added(f64),
    /// An existing member now has this score.
    Updated(f64),
    /// An existing member already had this score (INCR by 0, or the same score).
    Unchanged(f64),
    /// A condition (NX, XX, GT, LT) said no.
    Skipped,
    /// The resulting score would be NaN (`inf` plus `-inf`); nothing changed.
    NotANumber,
}

/// The big encoding: member table plus order index.
pub struct Indexed {
    members: Members,
    tree: Tree,
}

// Both halves own or point at nodes owned by this set alone.
unsafe impl Send for Indexed {}

impl Indexed {
    fn with_capacity(n: usize) -> Indexed {
        Indexed { members: Members::with_capacity(n), tree: Tree::default() }
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        self.members.get(member).map(Node::score)
    }

    /// Adds a member that is not present.
    fn insert_new(&mut self, member: &[u8], score: f64) {
        let node = Node::new(member, score);
        self.members.insert(node);
        self.tree.insert(Entry { score, node });
    }

    /// Gives a present member a new score (it moves in the order).
    fn update(&mut self, member: &[u8], score: f64) {
        let Some(node) = self.members.get(member) else { return };
        self.tree.remove(&Entry { score: node.score(), node });
        node.set_score(score);
        self.tree.insert(Entry { score, node });
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let node = self.members.remove(member)?;
        let score = node.score();
        self.tree.remove(&Entry { score, node });
        // Safety: the node is now in neither structure.
        unsafe { node.free() };
        Some(score)
    }

    fn rank(&self, member: &[u8]) -> Option<usize> {
        let node = self.members.get(member)?;
        let e = Entry { score: node.score(), node };
        Some(self.tree.count_while(|x| cmp_entries(x, &e) == Ordering::Less))
    }

    fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        // Safety: the node is live while `self` is borrowed.
        self.tree.get(rank).map(|e| (unsafe { e.member() }, e.score))
    }

    fn remove_ranks(&mut self, lo: usize, hi: usize) {
        if lo == 0 && hi >= self.len() {
            // Everything (ZREMRANGEBYRANK key 0 -1, a pop of the whole set): drop the
            // structures at once instead of unlinking entry by entry.
            *self = Indexed::with_capacity(0);
            return;
        }
        for _ in lo..hi.min(self.len()) {
            let Some(e) = self.tree.remove_at(lo) else { break };
            // Safety: the node is live until freed below; the member table gives back
            // the very same node.
            if let Some(node) = self.members.remove(unsafe { e.member() }) {
                unsafe { node.free() };
            }
        }
    }

    /// Entries for which `before` holds, where it holds for a prefix of the order.
    fn count_while(&self, range: &Range<'_>, before: impl Fn(&Range<'_>, &[u8], f64) -> bool) -> usize {
        if range.by_score() {
            self.tree.count_while(|e| before(range, b"", e.score))
        } else {
            // Safety: as in `get`.
            self.tree.count_while(|e| before(range, unsafe { e.member() }, e.score))
        }
    }
}

impl Clone for Indexed {
    fn clone(&self) -> Indexed {
        let mut copy = Indexed::with_capacity(self.len());
        self.tree.walk(0, false, |e| {
            // Safety: as in `get`.
            copy.insert_new(unsafe { e.member() }, e.score);
            true
        });
        copy
    }
}

impl std::fmt::Debug for Indexed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Indexed({} members)", self.len())
    }
}

/// A sorted set.
#[derive(Clone, Debug)]
pub enum ZSet {
    Packed(Packed),
    /// Boxed: the index is large, and every collection key pays for the largest
    /// variant of `Object` (100,000 small hashes measured 1.13× Redis's memory with it
    /// inline, 0.88× boxed).
    Indexed(Box<Indexed>),
}

const _: () = assert!(std::mem::size_of::<ZSet>() <= 32);

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Packed(Packed::default())
    }
}

impl ZSet {
    /// The empty set ZADD creates for a key that does not exist, given the length of
    /// the first member it adds (Redis 7.0 looks at that one member only).
    pub fn for_first_member(member_len: usize, limits: Limits) -> ZSet {
        if limits.entries == 0 || limits.value < member_len {
            ZSet::Indexed(Box::new(Indexed::with_capacity(0)))
        } else {
            ZSet::Packed(Packed::default())
        }
    }

    /// A set built from entries in (score, member) order, in the encoding Redis gives
    /// a store command's result (`zsetConvertToListpackIfNeeded`): the small one when
    /// the entries fit its thresholds.
    pub fn from_sorted<'a, I>(entries: I, limits: Limits) -> ZSet
    where
        I: IntoIterator<Item = (&'a [u8], f64)>,
        I::IntoIter: Clone,
    {
        let it = entries.into_iter();
        let (mut n, mut longest, mut total) = (0usize, 0usize, 0usize);
        for (m, _) in it.clone() {
            n += 1;
            longest = longest.max(m.len());
            total += m.len();
        }
        if n <= limits.entries && longest <= limits.value && total < PACKED_MAX_BYTES {
            return ZSet::Packed(Packed::from_sorted(it));
        }
        let mut ix = Indexed::with_capacity(n);
        for (m, s) in it {
            ix.insert_new(m, s);
        }
        ZSet::Indexed(Box::new(ix))
    }

    /// What OBJECT ENCODING answers.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Indexed(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.len(),
            ZSet::Indexed(ix) => ix.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(p) => p.find(member).map(|(_, s)| s),
            ZSet::Indexed(ix) => ix.score(member),
        }
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Packed(p) => p.find(member).map(|(r, _)| r),
            ZSet::Indexed(ix) => ix.rank(member),
        }
    }

    /// The entry at `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Packed(p) => p.get(rank),
            ZSet::Indexed(ix) => ix.get(rank),
        }
    }

    /// Converts to the big encoding (an insertion is about to cross a threshold; SORT
    /// converts the set it sorts, as Redis 7.0's `zsetConvert` in `sortCommand` does).
    pub fn convert_to_indexed(&mut self) {
        if let ZSet::Packed(p) = self {
            let mut ix = Indexed::with_capacity(p.len());
            for (m, s) in p.iter() {
                ix.insert_new(m, s);
            }
            *self = ZSet::Indexed(Box::new(ix));
        }
    }

    /// Adds or updates `member` as ZADD does with `flags` (Redis's `zsetAdd`),
    /// converting to the big encoding when a new member crosses `limits`.
    pub fn add(&mut self, member: &[u8], score: f64, flags: AddFlags, limits: Limits) -> AddOutcome {
        if score.is_nan() {
            return AddOutcome::NotANumber;
        }
        match self.score(member) {
            Some(current) => {
                if flags.nx {
                    return AddOutcome::Skipped;
                }
                let mut score = score;
                if flags.incr {
                    score += current;
                    if score.is_nan() {
                        return AddOutcome::NotANumber;
                    }
                }
                if (flags.lt && score >= current) || (flags.gt && score <= current) {
                    return AddOutcome::Skipped;
                }
                if score == current {
                    return AddOutcome::Unchanged(score);
                }
                match self {
                    ZSet::Packed(p) => {
                        p.remove(member);
                        p.insert(member, score);
                    }
                    ZSet::Indexed(ix) => ix.update(member, score),
                }
                AddOutcome::Updated(score)
            }
            None if flags.xx => AddOutcome::Skipped,
            None => {
                self.insert_new(member, score, limits);
                AddOutcome::Added(score)
            }
        }
    }

    /// Inserts a member known to be absent, converting first if it would not fit.
    fn insert_new(&mut self, member: &[u8], score: f64, limits: Limits) {
        if let ZSet::Packed(p) = self {
            if p.len() + 1 > limits.entries
                || member.len() > limits.value
                || p.heap_bytes() + member.len() > PACKED_MAX_BYTES
            {
                self.convert_to_indexed();
            }
        }
        match self {
            ZSet::Packed(p) => p.insert(member, score),
            ZSet::Indexed(ix) => ix.insert_new(member, score),
        }
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(p) => p.remove(member),
            ZSet::Indexed(ix) => ix.remove(member),
        }
    }

    /// Removes the entries of ranks `lo..hi`.
    pub fn remove_ranks(&mut self, lo: usize, hi: usize) {
        match self {
            ZSet::Packed(p) => p.remove_ranks(lo, hi),
            ZSet::Indexed(ix) => ix.remove_ranks(lo, hi),
        }
    }

    /// Calls `f` for entries from `rank` on, ascending (or descending from `rank` to 0
    /// when `reverse`), until `f` returns false.
    pub fn walk(&self, rank: usize, reverse: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        match self {
            ZSet::Packed(p) => p.walk(rank, reverse, f),
            // Safety: as in `Indexed::get`.
            ZSet::Indexed(ix) => ix.tree.walk(rank, reverse, |e| f(unsafe { e.member() }, e.score)),
        }
    }

    /// Whether `range` is not void and overlaps the span from the first entry to the
    /// last (Redis's `zslIsInRange` / `zzlIsInRange` and their lex forms): the check
    /// before looking for the range's ends.
    fn may_hold(&self, range: &Range<'_>) -> bool {
        let len = self.len();
        if range.is_void() || len == 0 {
            return false;
        }
        let (Some((last_m, last_s)), Some((first_m, first_s))) = (self.get(len - 1), self.get(0)) else {
            return false;
        };
        range.gte_min(last_m, last_s) && range.lte_max(first_m, first_s)
    }

    /// Rank of the first entry in `range` (Redis's `zzlFirstInRange` /
    /// `zslFirstInRange` and their lex forms), or None when the range holds nothing.
    pub fn first_in_range(&self, range: &Range<'_>) -> Option<usize> {
        if !self.may_hold(range) {
            return None;
        }
        let at = match self {
            // The listpack is scanned from its head, as Redis does.
            ZSet::Packed(p) => p.first_where(|m, s| range.gte_min(m, s))?,
            ZSet::Indexed(ix) => ix.count_while(range, |r, m, s| !r.gte_min(m, s)),
        };
        let (m, s) = self.get(at)?;
        range.lte_max(m, s).then_some(at)
    }

    /// Rank of the last entry in `range`, or None when the range holds nothing.
    pub fn last_in_range(&self, range: &Range<'_>) -> Option<usize> {
        if !self.may_hold(range) {
            return None;
        }
        let at = match self {
            // The listpack is scanned from its tail, as Redis does.
            ZSet::Packed(p) => p.last_where(|m, s| range.lte_max(m, s))?,
            ZSet::Indexed(ix) => ix.count_while(range, |r, m, s| r.lte_max(m, s)).checked_sub(1)?,
        };
        let (m, s) = self.get(at)?;
        range.gte_min(m, s).then_some(at)
    }

    /// Number of consecutive entries from `start` upwards that are at or before the
    /// range's maximum (how far a forward range walk goes).
    pub fn run_up(&self, start: usize, range: &Range<'_>) -> usize {
        match self {
            ZSet::Packed(p) => {
                let mut n = 0;
                p.walk(start, false, |m, s| {
                    let inside = range.lte_max(m, s);
                    n += inside as usize;
                    inside
                });
                n
            }
            ZSet::Indexed(ix) => ix.count_while(range, |r, m, s| r.lte_max(m, s)).saturating_sub(start),
        }
    }

    /// Number of consecutive entries from `start` downwards that are at or past the
    /// range's minimum (how far a reverse range walk goes).
    pub fn run_down(&self, start: usize, range: &Range<'_>) -> usize {
        match self {
            ZSet::Packed(p) => {
                let mut n = 0;
                p.walk(start, true, |m, s| {
                    let inside = range.gte_min(m, s);
                    n += inside as usize;
                    inside
                });
                n
            }
            ZSet::Indexed(ix) => {
                let below = ix.count_while(range, |r, m, s| !r.gte_min(m, s));
                (start + 1).saturating_sub(below)
            }
        }
    }

    /// One step of ZSCAN: calls `f` for some entries and returns the next cursor (0
    /// when done). A listpack is returned whole in one step, as in Redis.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Packed(p) => {
                p.iter().for_each(|(m, s)| f(m, s));
                0
            }
            ZSet::Indexed(ix) => ix.members.scan(cursor, |n| {
                // Safety: nodes of the table are live while `self` is borrowed.
                f(unsafe { n.member() }, n.score())
            }),
        }
    }

    /// Mixes the contents into a DEBUG DIGEST as Redis does for this type: for each
    /// member, `e = mix(mix(0, member), "%.17g" score)`, then `xor(e)` (order-free).
    pub fn mix_digest(&self, d: &mut Digest) {
        let mut add = |member: &[u8], score: f64| {
            let mut e = Digest::default();
            mix_digest(&mut e, member);
            mix_digest(&mut e, &redoubt_resp::number::g17_to_vec(score));
            xor_digest(d, &e);
        };
        match self {
            ZSet::Packed(p) => p.iter().for_each(|(m, s)| add(m, s)),
            ZSet::Indexed(ix) => ix.members.for_each(|n| add(unsafe { n.member() }, n.score())),
        }
    }

    /// Heap bytes held (for eviction's estimate).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.heap_bytes(),
            ZSet::Indexed(ix) => ix.members.heap_bytes() + ix.tree.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::range::{LexBound, LexRange, ScoreRange};
    use super::*;

    const SMALL: Limits = Limits { entries: 128, value: 64 };

    fn members(z: &ZSet) -> Vec<String> {
        let mut out = Vec::new();
        z.walk(0, false, |m, _| {
            out.push(String::from_utf8(m.to_vec()).unwrap());
            true
        });
        out
    }

    fn both_encodings(entries: &[(&str, f64)]) -> [ZSet; 2] {
        let mut small = ZSet::for_first_member(1, SMALL);
        let mut big = ZSet::for_first_member(1, Limits { entries: 0, value: 64 });
        for (m, s) in entries {
            small.add(m.as_bytes(), *s, AddFlags::default(), SMALL);
            big.add(m.as_bytes(), *s, AddFlags::default(), SMALL);
        }
        assert_eq!(small.encoding(), "listpack");
        assert_eq!(big.encoding(), "skiplist");
        [small, big]
    }

    #[test]
    fn add_follows_zadd_rules() {
        for mut z in both_encodings(&[("a", 1.0), ("b", 2.0)]) {
            let f = AddFlags::default();
            assert_eq!(z.add(b"a", 5.0, AddFlags { nx: true, ..f }, SMALL), AddOutcome::Skipped);
            assert_eq!(z.add(b"c", 5.0, AddFlags { xx: true, ..f }, SMALL), AddOutcome::Skipped);
            assert_eq!(z.add(b"a", 0.5, AddFlags { gt: true, ..f }, SMALL), AddOutcome::Skipped);
            assert_eq!(z.add(b"a", 3.0, AddFlags { gt: true, ..f }, SMALL), AddOutcome::Updated(3.0));
            assert_eq!(z.add(b"a", 1.0, AddFlags { incr: true, ..f }, SMALL), AddOutcome::Updated(4.0));
            assert_eq!(z.add(b"a", 0.0, AddFlags { incr: true, ..f }, SMALL), AddOutcome::Unchanged(4.0));
            assert_eq!(z.add(b"i", f64::INFINITY, f, SMALL), AddOutcome::Added(f64::INFINITY));
            let nan = z.add(b"i", f64::NEG_INFINITY, AddFlags { incr: true, ..f }, SMALL);
            assert_eq!(nan, AddOutcome::NotANumber);
            assert_eq!(members(&z), ["b", "a", "i"]);
            assert_eq!(z.rank(b"a"), Some(1));
            assert_eq!(z.score(b"i"), Some(f64::INFINITY));
            assert_eq!(z.remove(b"b"), Some(2.0));
            assert_eq!(z.remove(b"b"), None);
            assert_eq!(z.len(), 2);
        }
    }

    #[test]
    fn converts_at_the_thresholds() {
        let limits = Limits { entries: 3, value: 5 };
        let mut z = ZSet::for_first_member(1, limits);
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            z.add(m.as_bytes(), i as f64, AddFlags::default(), limits);
        }
        assert_eq!(z.encoding(), "listpack");
        z.add(b"d", 9.0, AddFlags::default(), limits);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(members(&z), ["a", "b", "c", "d"]);
        let mut z = ZSet::for_first_member(1, limits);
        z.add(b"toolong", 1.0, AddFlags::default(), limits);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(ZSet::for_first_member(6, limits).encoding(), "skiplist");
        let small = [(&b"x"[..], 1.0), (&b"y"[..], 2.0)];
        assert_eq!(ZSet::from_sorted(small.iter().copied(), limits).encoding(), "listpack");
        let long = [(&b"x"[..], 1.0), (&b"yyyyyy"[..], 2.0)];
        assert_eq!(ZSet::from_sorted(long.iter().copied(), limits).encoding(), "skiplist");
    }

    #[test]
    fn negative_zero_only_survives_the_big_encoding() {
        let [small, big] = both_encodings(&[("z", -0.0)]);
        assert!(small.score(b"z").unwrap().is_sign_positive());
        assert!(big.score(b"z").unwrap().is_sign_negative());
    }

    #[test]
    fn ranges_agree_across_encodings() {
        let entries: Vec<(String, f64)> = (0..300).map(|i| (format!("m{i:03}"), (i / 4) as f64)).collect();
        let refs: Vec<(&str, f64)> = entries.iter().map(|(m, s)| (m.as_str(), *s)).collect();
        let small_limits = Limits { entries: 1000, value: 64 };
        let mut small = ZSet::for_first_member(1, small_limits);
        for (m, s) in &refs {
            small.add(m.as_bytes(), *s, AddFlags::default(), small_limits);
        }
        let mut big = ZSet::for_first_member(1, Limits { entries: 0, value: 64 });
        for (m, s) in &refs {
            big.add(m.as_bytes(), *s, AddFlags::default(), SMALL);
        }
        assert_eq!((small.encoding(), big.encoding()), ("listpack", "skiplist"));
        let score = |min, max, min_ex, max_ex| Range::Score(ScoreRange { min, max, min_ex, max_ex });
        let ranges = [
            score(10.0, 20.0, false, false),
            score(10.0, 20.0, true, true),
            score(f64::NEG_INFINITY, 3.0, false, true),
            score(74.0, f64::INFINITY, false, false),
            score(20.0, 10.0, false, false),
            score(1000.0, 2000.0, false, false),
        ];
        for r in &ranges {
            let a = (small.first_in_range(r), small.last_in_range(r));
            let b = (big.first_in_range(r), big.last_in_range(r));
            assert_eq!(a, b, "{r:?}");
            if let Some(first) = a.0 {
                assert_eq!(small.run_up(first, r), big.run_up(first, r));
            }
            if let Some(last) = a.1 {
                assert_eq!(small.run_down(last, r), big.run_down(last, r));
            }
        }
        let [lex_small, lex_big] = both_encodings(&[("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0)]);
        let lex = Range::Lex(LexRange { min: LexBound::Excl(b"a"), max: LexBound::Incl(b"c") });
        for z in [&lex_small, &lex_big] {
            assert_eq!(z.first_in_range(&lex), Some(1));
            assert_eq!(z.last_in_range(&lex), Some(2));
            assert_eq!(z.run_up(1, &lex), 2);
            assert_eq!(z.run_down(2, &lex), 2);
        }
    }

    #[test]
    fn digest_matches_redis() {
        // DEBUG DIGEST-VALUE of `ZADD z 1 a 2 b` on Redis 7.0.15.
        for z in both_encodings(&[("a", 1.0), ("b", 2.0)]) {
            let mut d = Digest::default();
            mix_digest(&mut d, &3u32.to_be_bytes());
            z.mix_digest(&mut d);
            assert_eq!(crate::digest::to_hex(&d), "4de4c922f0624dd27cb8fc6bbf04d3d6df72c877");
        }
    }

    #[test]
    fn clone_is_deep() {
        let [_, big] = both_encodings(&[("a", 1.0), ("b", 2.0)]);
        let mut copy = big.clone();
        copy.remove(b"a");
        assert_eq!(members(&big), ["a", "b"]);
        assert_eq!(members(&copy), ["b"]);
    }
}
