//! [`Node`]: one member of an indexed sorted set in a single allocation — the link of
//! its hash chain, its score and its bytes:
//!
//! ```text
//! [next: 8][score: 8][len: 1, or 0xff + 8][member bytes]
//! ```
//!
//! A short member ("player:12345") costs one 32-byte block, which is the point: Redis
//! spends a skiplist node, an sds string and a dict entry on it. The member table
//! ([`super::members`]) owns every node; the order index ([`super::tree`]) only holds
//! copies of the pointer. All the unsafe code of the sorted set is in this file and
//! in `members.rs`.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::{self, NonNull};

const OFF_NEXT: usize = 0;
const OFF_SCORE: usize = 8;
const OFF_LEN: usize = 16;
/// Length bytes this long or longer are stored as 0xff and a u64.
const LONG_LEN: usize = 0xff;

/// A pointer to a member node. Copying it copies the pointer, not the node: whoever
/// owns the node (the member table) frees it exactly once with [`Node::free`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Node(NonNull<u8>);

fn header_len(member_len: usize) -> usize {
    OFF_LEN + if member_len < LONG_LEN { 1 } else { 9 }
}

fn layout(total: usize) -> Layout {
    // Alignment 8 keeps the two words naturally aligned. The size is a member that
    // already sits in memory plus at most 25 bytes, so it cannot exceed isize::MAX; if
    // it somehow did, the process aborts as on any failed allocation.
    match Layout::from_size_align(total, 8) {
        Ok(l) => l,
        Err(_) => handle_alloc_error(Layout::new::<[u64; 4]>()),
    }
}

impl Node {
    /// Allocates a node for `member` with `score`, unlinked.
    pub fn new(member: &[u8], score: f64) -> Node {
        let head = header_len(member.len());
        let total = head + member.len();
        let lay = layout(total);
        // Safety: the layout has a non-zero size (at least the 17-byte header); every
        // byte written below is inside it.
        unsafe {
            let p = alloc(lay);
            if p.is_null() {
                handle_alloc_error(lay);
            }
            ptr::write_unaligned(p.add(OFF_NEXT) as *mut *mut u8, ptr::null_mut());
            ptr::write_unaligned(p.add(OFF_SCORE) as *mut f64, score);
            if member.len() < LONG_LEN {
                *p.add(OFF_LEN) = member.len() as u8;
            } else {
                *p.add(OFF_LEN) = LONG_LEN as u8;
                ptr::write_unaligned(p.add(OFF_LEN + 1) as *mut u64, member.len() as u64);
            }
            ptr::copy_nonoverlapping(member.as_ptr(), p.add(head), member.len());
            Node(NonNull::new_unchecked(p))
        }
    }

    /// Bytes the node occupies (for memory accounting).
    pub fn alloc_size(member_len: usize) -> usize {
        header_len(member_len) + member_len
    }

    fn len_and_offset(self) -> (usize, usize) {
        // Safety: `self` points at a live node (the caller's contract, see `member`).
        unsafe {
            let p = self.0.as_ptr();
            let short = *p.add(OFF_LEN) as usize;
            if short < LONG_LEN {
                (short, OFF_LEN + 1)
            } else {
                (ptr::read_unaligned(p.add(OFF_LEN + 1) as *const u64) as usize, OFF_LEN + 9)
            }
        }
    }

    /// The member's bytes.
    ///
    /// # Safety
    /// The node must be live (not freed) for as long as the returned slice is used;
    /// the sorted set guarantees this by tying the lifetime to a borrow of itself.
    pub unsafe fn member<'a>(self) -> &'a [u8] {
        let (len, off) = self.len_and_offset();
        std::slice::from_raw_parts(self.0.as_ptr().add(off), len)
    }

    /// The score stored in the node (the member table's answer to ZSCORE).
    pub fn score(self) -> f64 {
        // Safety: nodes handed out by the member table are live.
        unsafe { ptr::read_unaligned(self.0.as_ptr().add(OFF_SCORE) as *const f64) }
    }

    pub fn set_score(self, score: f64) {
        // Safety: as `score`; the sorted set holds `&mut self` while it updates.
        unsafe { ptr::write_unaligned(self.0.as_ptr().add(OFF_SCORE) as *mut f64, score) }
    }

    /// The next node of the same hash chain.
    pub fn next(self) -> Option<Node> {
        // Safety: as `score`.
        unsafe { NonNull::new(ptr::read_unaligned(self.0.as_ptr().add(OFF_NEXT) as *const *mut u8)).map(Node) }
    }

    pub fn set_next(self, next: Option<Node>) {
        let raw = next.map_or(ptr::null_mut(), |n| n.0.as_ptr());
        // Safety: as `set_score`.
        unsafe { ptr::write_unaligned(self.0.as_ptr().add(OFF_NEXT) as *mut *mut u8, raw) }
    }

    /// Frees the node.
    ///
    /// # Safety
    /// The node must be live and unreachable afterwards (removed from the member table
    /// and the order index); it must not be freed twice.
    pub unsafe fn free(self) {
        let (len, _) = self.len_and_offset();
        dealloc(self.0.as_ptr(), layout(Node::alloc_size(len)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_members_round_trip() {
        for len in [0usize, 1, 13, 254, 255, 256, 5000] {
            let member: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let n = Node::new(&member, -1.5);
            unsafe {
                assert_eq!(n.member(), &member[..]);
            }
            assert_eq!(n.score(), -1.5);
            n.set_score(f64::INFINITY);
            assert_eq!(n.score(), f64::INFINITY);
            assert_eq!(n.next(), None);
            let other = Node::new(b"x", 0.0);
            n.set_next(Some(other));
            assert_eq!(n.next(), Some(other));
            unsafe {
                other.free();
                n.free();
            }
        }
        assert_eq!(Node::alloc_size(13), 30, "a 13-byte member fits a 32-byte block");
    }
}
