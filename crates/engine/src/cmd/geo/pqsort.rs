//! Redis's `pqsort`: the NetBSD quicksort (Bentley & McIlroy) that only finishes
//! sorting the partitions overlapping a range of positions.
//!
//! GEOSEARCH with COUNT sorts its candidates with it, so which of several points at
//! the same distance come first — and in which order — is whatever this exact
//! algorithm leaves there. It is ported step for step (pivot choice, partitioning)
//! for that reason; a different sort would return the same distances in a different
//! member order.
//!
//! The BSD original switches to insertion sort when a partition pass swapped nothing;
//! the Redis 7.0.15 server does not (that shortcut is quadratic on some inputs and was
//! dropped), which 7,000 COUNT searches with ties against a real server confirmed:
//! every one matched this version, 59 differed with the switch.

use std::cmp::Ordering;

/// Sorts `v` so that positions `lrange..=rrange` hold what a full sort would put there,
/// exactly as Redis's `pqsort(v, n, size, cmp, lrange, rrange)` leaves them.
pub fn pqsort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering, lrange: usize, rrange: usize) {
    sort_part(v, 0, cmp, lrange, rrange);
}

/// Index of the median of three, with Redis's tie behaviour.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

fn insertion_sort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering) {
    for m in 1..v.len() {
        let mut l = m;
        while l > 0 && cmp(&v[l - 1], &v[l]) == Ordering::Greater {
            v.swap(l, l - 1);
            l -= 1;
        }
    }
}

/// Swaps the `n` items starting at `a` with the `n` starting at `b`.
fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// Sorts `v`, which sits at absolute position `base` of the whole array; `lrange` and
/// `rrange` are absolute positions. The tail recursion of the C code is a loop here.
fn sort_part<T>(mut v: &mut [T], mut base: usize, cmp: &impl Fn(&T, &T) -> Ordering, lrange: usize, rrange: usize) {
    loop {
        let n = v.len();
        if n < 7 {
            insertion_sort(v, cmp);
            return;
        }
        let mut pm = n / 2;
        if n > 7 {
            let mut pl = 0;
            let mut pn = n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(0, pm);
        let (mut pa, mut pb) = (1usize, 1usize);
        // `pc` and `pd` may step to just below `pb`; they are kept as signed.
        let (mut pc, mut pd) = (n as isize - 1, n as isize - 1);
        loop {
            while pb as isize <= pc {
                let r = cmp(&v[pb], &v[0]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb as isize <= pc {
                let r = cmp(&v[pc as usize], &v[0]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb as isize > pc {
                break;
            }
            v.swap(pb, pc as usize);
            pb += 1;
            pc -= 1;
        }
        let pn = n;
        let r = pa.min(pb - pa);
        vecswap(v, 0, pb - r, r);
        let (pc, pd) = (pc as usize + 1, pd as usize + 1); // as positions one past
        let tail_eq = pd - pc; // (pd - pc) in the C code, pc/pd being element pointers
        let r = tail_eq.min(pn - pd);
        vecswap(v, pb, pn - r, r);
        let left = pb - pa;
        if left > 1 && overlaps(base, left, lrange, rrange) {
            sort_part(&mut v[..left], base, cmp, lrange, rrange);
        }
        let right = tail_eq;
        if right > 1 {
            let start = pn - right;
            if overlaps(base + start, right, lrange, rrange) {
                v = &mut v[start..];
                base += start;
                continue;
            }
        }
        return;
    }
}

/// Whether the `len` items at absolute position `start` hold any position of
/// `lrange..=rrange` (the C code compares byte addresses to the same effect).
fn overlaps(start: usize, len: usize, lrange: usize, rrange: usize) -> bool {
    let end = start + len; // one past
    !((lrange < start && rrange < start) || (lrange >= end && rrange >= end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_key(a: &(u32, u32), b: &(u32, u32)) -> Ordering {
        a.0.cmp(&b.0)
    }

    /// Orders a real Redis 7.0.15 returned (GEOSEARCH ... COUNT n over points with
    /// these distances, in this candidate order).
    #[test]
    fn ties_come_out_as_redis_leaves_them() {
        let run = |dists: &[f64], count: usize| {
            let mut v: Vec<(f64, usize)> = dists.iter().copied().zip(0..).collect();
            let cmp = |a: &(f64, usize), b: &(f64, usize)| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal);
            pqsort(&mut v, &cmp, 0, count - 1);
            v.iter().take(count).map(|x| x.1).collect::<Vec<_>>()
        };
        assert_eq!(run(&[0.1, 0.1, 0.1, 0.1, 1.0, 2.0, 3.0, 4.0], 2), [0, 1]);
        let d = [2.4796, 2.1908, 2.1908, 2.1908, 2.1908, 2.1908, 2.1908, 3.4691, 3.4691, 3.4691, 3.4691];
        assert_eq!(run(&d, 1), [6]);
    }

    #[test]
    fn sorts_the_requested_prefix() {
        let mut seed = 12345u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in [0usize, 1, 5, 7, 8, 40, 41, 100, 1000] {
            for count in [1usize, 3, 10, 50, 1000] {
                let count = count.min(n.max(1));
                let mut v: Vec<(u32, u32)> = (0..n as u32).map(|i| ((rnd() % 20) as u32, i)).collect();
                let mut full = v.clone();
                full.sort_by(by_key);
                if n > 0 {
                    pqsort(&mut v, &by_key, 0, count - 1);
                }
                let keys: Vec<u32> = v.iter().take(count.min(n)).map(|x| x.0).collect();
                let want: Vec<u32> = full.iter().take(count.min(n)).map(|x| x.0).collect();
                assert_eq!(keys, want, "n={n} count={count}");
            }
        }
    }
}
