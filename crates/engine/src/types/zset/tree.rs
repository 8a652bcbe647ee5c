//! [`Tree`]: the order index of an indexed sorted set — a B+tree of (score, node)
//! entries in (score, member) order whose inner nodes count the entries under each
//! child, so that rank → entry, entry → rank and "how many entries come before this
//! bound" are all O(log n) (ZRANK, ZRANGE by index, ZCOUNT, ZREMRANGEBYRANK).
//!
//! An entry is 16 bytes: the score (a copy, so that descending compares numbers
//! without touching member nodes; members are read only to break ties) and the node
//! pointer. Leaves hold up to [`LEAF_CAP`] entries. Each child of an inner node keeps
//! its subtree's first entry and entry count; the first entry is always a live entry
//! (it is recomputed whenever the subtree changes), so no separator ever points at a
//! freed node.
//!
//! Splits are even, except at the two ends of the whole tree: appending past the last
//! entry (scores that only grow — timestamps, counters) or prepending before the first
//! leaves the old leaf full, so such sets fill their leaves instead of half-filling
//! them. Removal merges a leaf or inner node that falls below a third of its capacity
//! with a neighbour, or evens the two out.

use std::cmp::Ordering;

use super::node::Node;

/// Entries per leaf (16 bytes each: one leaf is a 1 KB block).
const LEAF_CAP: usize = 64;
/// Children per inner node.
const INNER_CAP: usize = 64;

/// One (score, member) of the index.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub score: f64,
    pub node: Node,
}

impl Entry {
    /// The member's bytes.
    ///
    /// # Safety
    /// The node must be live while the slice is used (entries of a tree are live while
    /// the sorted set that owns them is borrowed).
    pub unsafe fn member<'a>(&self) -> &'a [u8] {
        self.node.member()
    }
}

/// Redis's order: by score, then by member bytes (scores are never NaN; -0 and 0 are
/// equal, as C's `<` and `==` say).
pub fn cmp_entries(a: &Entry, b: &Entry) -> Ordering {
    match a.score.partial_cmp(&b.score) {
        Some(Ordering::Equal) | None => {
            if a.node == b.node {
                return Ordering::Equal;
            }
            // Safety: both entries belong to the set being searched, which is borrowed.
            unsafe { a.member().cmp(b.member()) }
        }
        Some(o) => o,
    }
}

enum TNode {
    Leaf(Vec<Entry>),
    Inner(Vec<Child>),
}

struct Child {
    /// The first entry of the subtree.
    min: Entry,
    /// Entries in the subtree.
    count: usize,
    node: TNode,
}

impl TNode {
    fn new_leaf() -> TNode {
        TNode::Leaf(Vec::with_capacity(LEAF_CAP))
    }

    /// Entries (leaf) or children (inner): what the capacity limits.
    fn width(&self) -> usize {
        match self {
            TNode::Leaf(v) => v.len(),
            TNode::Inner(c) => c.len(),
        }
    }

    fn cap(&self) -> usize {
        match self {
            TNode::Leaf(_) => LEAF_CAP,
            TNode::Inner(_) => INNER_CAP,
        }
    }

    fn count(&self) -> usize {
        match self {
            TNode::Leaf(v) => v.len(),
            TNode::Inner(c) => c.iter().map(|c| c.count).sum(),
        }
    }

    /// The first entry; the node is not empty.
    fn first(&self) -> Option<Entry> {
        match self {
            TNode::Leaf(v) => v.first().copied(),
            TNode::Inner(c) => c.first().map(|c| c.min),
        }
    }

    /// Moves the items from `at` on into a new node of the same kind.
    fn split_off(&mut self, at: usize) -> TNode {
        match self {
            TNode::Leaf(v) => {
                let mut right = Vec::with_capacity(LEAF_CAP);
                right.extend(v.drain(at..));
                TNode::Leaf(right)
            }
            TNode::Inner(c) => {
                let mut right = Vec::with_capacity(INNER_CAP);
                right.extend(c.drain(at..));
                TNode::Inner(right)
            }
        }
    }

    /// Appends all items of `other` (of the same kind).
    fn append(&mut self, other: TNode) {
        match (self, other) {
            (TNode::Leaf(a), TNode::Leaf(b)) => a.extend(b),
            (TNode::Inner(a), TNode::Inner(b)) => a.extend(b),
            _ => debug_assert!(false, "siblings of different kinds"),
        }
    }
}

impl Child {
    fn of(node: TNode) -> Option<Child> {
        Some(Child { min: node.first()?, count: node.count(), node })
    }

    /// Recomputes the cached first entry and count after the subtree changed.
    fn refresh(&mut self) {
        self.count = self.node.count();
        if let Some(m) = self.node.first() {
            self.min = m;
        }
    }
}

/// Node counts, for memory accounting.
#[derive(Default, Clone, Copy)]
struct Shape {
    leaves: usize,
    inners: usize,
}

/// The order index.
pub struct Tree {
    root: TNode,
    len: usize,
    shape: Shape,
}

impl Default for Tree {
    fn default() -> Self {
        Tree { root: TNode::new_leaf(), len: 0, shape: Shape { leaves: 1, inners: 0 } }
    }
}

/// Index of the child of `children` whose subtree `e` belongs to: the last child whose
/// first entry is not after `e` (or the first child).
fn child_for(children: &[Child], e: &Entry) -> usize {
    children.partition_point(|c| cmp_entries(&c.min, e) != Ordering::Greater).saturating_sub(1)
}

impl Tree {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held by the tree's nodes.
    pub fn heap_bytes(&self) -> usize {
        self.shape.leaves * LEAF_CAP * std::mem::size_of::<Entry>()
            + self.shape.inners * INNER_CAP * std::mem::size_of::<Child>()
    }

    /// Adds an entry that is not in the tree yet.
    pub fn insert(&mut self, e: Entry) {
        if let Some(right) = insert_rec(&mut self.root, e, true, true, &mut self.shape) {
            let left = std::mem::replace(&mut self.root, TNode::Inner(Vec::with_capacity(INNER_CAP)));
            if let TNode::Inner(c) = &mut self.root {
                c.extend(Child::of(left));
                c.extend(Child::of(right));
            }
            self.shape.inners += 1;
        }
        self.len += 1;
    }

    /// Removes the entry equal to `e` (same score and member); false if absent.
    pub fn remove(&mut self, e: &Entry) -> bool {
        if !remove_rec(&mut self.root, e, &mut self.shape) {
            return false;
        }
        self.len -= 1;
        // A root with one child hands its place to that child.
        while let TNode::Inner(c) = &mut self.root {
            if c.len() != 1 {
                break;
            }
            let Some(only) = c.pop().map(|c| c.node) else { break };
            self.root = only;
            self.shape.inners -= 1;
        }
        true
    }

    /// The entry at 0-based `rank`.
    pub fn get(&self, mut rank: usize) -> Option<Entry> {
        if rank >= self.len {
            return None;
        }
        let mut node = &self.root;
        loop {
            match node {
                TNode::Leaf(v) => return v.get(rank).copied(),
                TNode::Inner(children) => {
                    let mut next = None;
                    for c in children {
                        if rank < c.count {
                            next = Some(&c.node);
                            break;
                        }
                        rank -= c.count;
                    }
                    node = next?;
                }
            }
        }
    }

    /// Removes and returns the entry at `rank`.
    pub fn remove_at(&mut self, rank: usize) -> Option<Entry> {
        let e = self.get(rank)?;
        self.remove(&e).then_some(e)
    }

    /// How many entries satisfy `before`, a predicate that holds for a prefix of the
    /// entries in order and for none after it ("score < 5", "entry < this one").
    pub fn count_while(&self, before: impl Fn(&Entry) -> bool) -> usize {
        let mut node = &self.root;
        let mut acc = 0;
        loop {
            match node {
                TNode::Leaf(v) => return acc + v.partition_point(&before),
                TNode::Inner(children) => {
                    // Every child before the last one whose first entry is "before"
                    // lies wholly before the bound.
                    let i = children.partition_point(|c| before(&c.min)).saturating_sub(1);
                    acc += children[..i].iter().map(|c| c.count).sum::<usize>();
                    node = &children[i].node;
                }
            }
        }
    }

    /// Calls `f` for entries from `rank` on, ascending (or descending when `reverse`,
    /// from `rank` down to 0), until `f` returns false.
    pub fn walk(&self, rank: usize, reverse: bool, mut f: impl FnMut(&Entry) -> bool) {
        if rank >= self.len {
            return;
        }
        if reverse {
            walk_back(&self.root, self.len - 1 - rank, &mut f);
        } else {
            walk_fwd(&self.root, rank, &mut f);
        }
    }
}

/// Inserts into the subtree `node`; returns a new right sibling if `node` split.
/// `rightmost`/`leftmost`: `node` is on the tree's last/first path.
fn insert_rec(node: &mut TNode, e: Entry, rightmost: bool, leftmost: bool, shape: &mut Shape) -> Option<TNode> {
    match node {
        TNode::Leaf(v) => {
            let pos = v.partition_point(|x| cmp_entries(x, &e) == Ordering::Less);
            if v.len() < LEAF_CAP {
                v.insert(pos, e);
                return None;
            }
            let old = v.len();
            let at = if rightmost && pos == old {
                old
            } else if leftmost && pos == 0 {
                0
            } else {
                old / 2
            };
            let mut right = node.split_off(at);
            shape.leaves += 1;
            let into_right = pos > at || (pos == at && at == old);
            match (node, &mut right) {
                (TNode::Leaf(l), TNode::Leaf(r)) => {
                    if into_right {
                        r.insert(pos - at, e);
                    } else {
                        l.insert(pos, e);
                    }
                }
                _ => debug_assert!(false, "a leaf split into something else"),
            }
            Some(right)
        }
        TNode::Inner(children) => {
            let i = child_for(children, &e);
            let last = children.len() - 1;
            let split = insert_rec(&mut children[i].node, e, rightmost && i == last, leftmost && i == 0, shape);
            children[i].refresh();
            let right = split?;
            children.insert(i + 1, Child::of(right)?);
            if children.len() <= INNER_CAP {
                return None;
            }
            let at = if rightmost && i + 1 == children.len() - 1 { INNER_CAP } else { children.len() / 2 };
            shape.inners += 1;
            Some(node.split_off(at))
        }
    }
}

/// Removes `e` from the subtree `node`; false if absent.
fn remove_rec(node: &mut TNode, e: &Entry, shape: &mut Shape) -> bool {
    match node {
        TNode::Leaf(v) => {
            let pos = v.partition_point(|x| cmp_entries(x, e) == Ordering::Less);
            if pos < v.len() && cmp_entries(&v[pos], e) == Ordering::Equal {
                v.remove(pos);
                true
            } else {
                false
            }
        }
        TNode::Inner(children) => {
            let i = child_for(children, e);
            if !remove_rec(&mut children[i].node, e, shape) {
                return false;
            }
            children[i].refresh();
            rebalance(children, i, shape);
            true
        }
    }
}

/// Keeps child `i` at least a third full: merges it with a neighbour when both fit in
/// one node, otherwise moves items over from the neighbour to even them out.
fn rebalance(children: &mut Vec<Child>, i: usize, shape: &mut Shape) {
    let cap = children[i].node.cap();
    if children[i].node.width() >= cap / 3 || children.len() < 2 {
        return;
    }
    let l = if i + 1 < children.len() { i } else { i - 1 };
    let (wl, wr) = (children[l].node.width(), children[l + 1].node.width());
    if wl + wr <= cap {
        let right = children.remove(l + 1);
        match right.node {
            TNode::Leaf(_) => shape.leaves -= 1,
            TNode::Inner(_) => shape.inners -= 1,
        }
        children[l].node.append(right.node);
        children[l].refresh();
        return;
    }
    let target = (wl + wr) / 2;
    let (left, right) = children.split_at_mut(l + 1);
    let (left, right) = (&mut left[l], &mut right[0]);
    if wl < target {
        // Move the first (target - wl) items of the right node to the end of the left.
        let moved = right.node.split_off(target - wl);
        let head = std::mem::replace(&mut right.node, moved);
        left.node.append(head);
    } else {
        let tail = left.node.split_off(target);
        let rest = std::mem::replace(&mut right.node, tail);
        right.node.append(rest);
    }
    left.refresh();
    right.refresh();
}

fn walk_fwd(node: &TNode, mut skip: usize, f: &mut impl FnMut(&Entry) -> bool) -> bool {
    match node {
        TNode::Leaf(v) => v.iter().skip(skip).all(f),
        TNode::Inner(children) => {
            for c in children {
                if skip >= c.count {
                    skip -= c.count;
                    continue;
                }
                if !walk_fwd(&c.node, skip, f) {
                    return false;
                }
                skip = 0;
            }
            true
        }
    }
}

/// Walks backwards, skipping the last `skip` entries of the subtree.
fn walk_back(node: &TNode, mut skip: usize, f: &mut impl FnMut(&Entry) -> bool) -> bool {
    match node {
        TNode::Leaf(v) => v.iter().rev().skip(skip).all(f),
        TNode::Inner(children) => {
            for c in children.iter().rev() {
                if skip >= c.count {
                    skip -= c.count;
                    continue;
                }
                if !walk_back(&c.node, skip, f) {
                    return false;
                }
                skip = 0;
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree over owned nodes, freed at the end of the test.
    struct Fixture {
        tree: Tree,
        nodes: Vec<Node>,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture { tree: Tree::default(), nodes: Vec::new() }
        }
        fn add(&mut self, member: &str, score: f64) -> Entry {
            let node = Node::new(member.as_bytes(), score);
            self.nodes.push(node);
            let e = Entry { score, node };
            self.tree.insert(e);
            e
        }
        fn members(&self) -> Vec<String> {
            let mut out = Vec::new();
            self.tree.walk(0, false, |e| {
                out.push(String::from_utf8(unsafe { e.member() }.to_vec()).unwrap());
                true
            });
            out
        }
        fn check(&self) {
            check_node(&self.tree.root);
            assert_eq!(self.tree.root.count(), self.tree.len);
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            for n in self.nodes.drain(..) {
                unsafe { n.free() };
            }
        }
    }

    fn check_node(n: &TNode) {
        if let TNode::Inner(children) = n {
            for c in children {
                assert_eq!(c.count, c.node.count());
                assert_eq!(cmp_entries(&c.min, &c.node.first().unwrap()), Ordering::Equal);
                check_node(&c.node);
            }
        }
    }

    #[test]
    fn orders_by_score_then_member() {
        let mut f = Fixture::new();
        f.add("b", 1.0);
        f.add("a", 1.0);
        f.add("z", -1.0);
        f.add("c", f64::INFINITY);
        f.add("m", f64::NEG_INFINITY);
        assert_eq!(f.members(), ["m", "z", "a", "b", "c"]);
        assert_eq!(f.tree.count_while(|e| e.score < 1.0), 2);
        assert_eq!(f.tree.count_while(|e| e.score <= 1.0), 4);
    }

    #[test]
    fn rank_select_and_walks_at_scale() {
        let mut f = Fixture::new();
        // A scrambled insertion order, and a run of equal scores.
        let n = 20_000usize;
        let mut entries = Vec::new();
        for i in 0..n {
            let k = (i * 7919) % n;
            entries.push(f.add(&format!("m{k:06}"), (k / 3) as f64));
        }
        f.check();
        assert_eq!(f.tree.len(), n);
        for k in [0usize, 1, 63, 64, 65, 4095, n - 1] {
            let e = f.tree.get(k).unwrap();
            assert_eq!(unsafe { e.member() }, format!("m{k:06}").as_bytes());
            let rank = f.tree.count_while(|x| cmp_entries(x, &e) == Ordering::Less);
            assert_eq!(rank, k);
        }
        let mut seen = Vec::new();
        f.tree.walk(n - 3, false, |e| {
            seen.push(e.score);
            true
        });
        assert_eq!(seen.len(), 3);
        let mut back = 0;
        f.tree.walk(100, true, |_| {
            back += 1;
            back < 1000
        });
        assert_eq!(back, 101);
        // Remove two thirds, scattered, then check structure and order.
        for (i, e) in entries.iter().enumerate() {
            if i % 3 != 0 {
                assert!(f.tree.remove(e));
            }
        }
        assert!(!f.tree.remove(&entries[1]));
        f.check();
        let left = f.members();
        assert_eq!(left.len(), f.tree.len());
        assert!(left.windows(2).all(|w| w[0] < w[1]));
        while !f.tree.is_empty() {
            let last = f.tree.len() - 1;
            assert!(f.tree.remove_at(last / 2).is_some());
        }
        f.check();
        assert!(f.tree.get(0).is_none());
    }

    #[test]
    fn sequential_inserts_fill_leaves() {
        let mut f = Fixture::new();
        for i in 0..(LEAF_CAP * 100) {
            f.add("same", i as f64);
        }
        assert!(f.tree.shape.leaves <= 101, "{} leaves for 100 leaves' worth", f.tree.shape.leaves);
        let mut g = Fixture::new();
        for i in (0..(LEAF_CAP * 100)).rev() {
            g.add("same", i as f64);
        }
        assert!(g.tree.shape.leaves <= 101, "{} leaves for 100 leaves' worth", g.tree.shape.leaves);
        g.check();
    }
}
