//! [`IntSet`]: a sorted array of distinct integers in the narrowest width that holds
//! them all (2, 4 or 8 bytes each), as Redis's `intset`: the `intset` encoding of a
//! set whose members are all integers.
//!
//! Membership is a binary search; adding or removing moves the tail of the array and
//! reallocates it to its exact size, so the structure is for small sets
//! (`set-max-intset-entries`, 512 by default). As in Redis, the width only ever grows:
//! removing the one wide member leaves the others wide.

/// A sorted set of integers, packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntSet {
    /// Members in ascending order, little-endian, `width` bytes each.
    buf: Box<[u8]>,
    width: u8,
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet { buf: Box::new([]), width: 2 }
    }
}

/// Bytes needed for `v` (Redis's `_intsetValueEncoding`).
fn width_of(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    pub fn new() -> IntSet {
        IntSet::default()
    }

    pub fn len(&self) -> usize {
        self.buf.len() / self.width as usize
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes per member (2, 4 or 8).
    pub fn width(&self) -> usize {
        self.width as usize
    }

    /// Heap bytes held.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// The `i`-th smallest member. `i` must be below `len()`.
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width as usize;
        let b = &self.buf[i * w..(i + 1) * w];
        match w {
            2 => i16::from_le_bytes([b[0], b[1]]) as i64,
            4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Ok(index) if `v` is a member, else Err(where it would go).
    fn search(&self, v: i64) -> Result<usize, usize> {
        if width_of(v) > self.width {
            // Wider than every member: beyond one end.
            return Err(if v < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    /// Adds `v`; false if it was already a member.
    pub fn insert(&mut self, v: i64) -> bool {
        let at = match self.search(v) {
            Ok(_) => return false,
            Err(at) => at,
        };
        let width = self.width.max(width_of(v));
        if width == self.width {
            let w = width as usize;
            let mut bytes = std::mem::take(&mut self.buf).into_vec();
            bytes.reserve_exact(w);
            bytes.splice(at * w..at * w, v.to_le_bytes()[..w].iter().copied());
            self.buf = bytes.into_boxed_slice();
            return true;
        }
        // An upgrade rewrites every member in the new width.
        let mut out = Vec::with_capacity((self.len() + 1) * width as usize);
        let mut push = |x: i64| out.extend_from_slice(&x.to_le_bytes()[..width as usize]);
        for i in 0..at {
            push(self.get(i));
        }
        push(v);
        for i in at..self.len() {
            push(self.get(i));
        }
        self.buf = out.into_boxed_slice();
        self.width = width;
        true
    }

    /// Removes `v`; false if it was not a member.
    pub fn remove(&mut self, v: i64) -> bool {
        let Ok(i) = self.search(v) else { return false };
        self.remove_at(i);
        true
    }

    /// Removes the `i`-th smallest member and returns it. `i` must be below `len()`.
    pub fn remove_at(&mut self, i: usize) -> i64 {
        let v = self.get(i);
        let w = self.width as usize;
        let mut bytes = std::mem::take(&mut self.buf).into_vec();
        bytes.drain(i * w..(i + 1) * w);
        self.buf = bytes.into_boxed_slice();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_distinct_and_upgrades_width() {
        let mut s = IntSet::new();
        for v in [5, -3, 100, 5, 0] {
            s.insert(v);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-3, 0, 5, 100]);
        assert_eq!(s.width(), 2);
        assert!(s.insert(70_000));
        assert_eq!(s.width(), 4);
        assert!(s.insert(i64::MIN));
        assert_eq!(s.width(), 8);
        assert!(s.insert(i64::MAX));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 0, 5, 100, 70_000, i64::MAX]);
        assert!(s.contains(70_000) && s.contains(i64::MIN) && !s.contains(6));
        assert!(!s.insert(100));
        assert!(s.remove(i64::MIN) && !s.remove(i64::MIN));
        assert_eq!(s.width(), 8, "the width never shrinks");
        assert_eq!(s.byte_len(), 6 * 8);
        assert_eq!(s.remove_at(0), -3);
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn wide_values_against_narrow_sets() {
        let mut s = IntSet::new();
        s.insert(1);
        assert!(!s.contains(1 << 40));
        assert!(!s.contains(-(1 << 40)));
        assert!(!s.remove(1 << 40));
        assert!(s.insert(-(1 << 40)));
        assert_eq!(s.get(0), -(1 << 40));
    }
}
