//! Redis's `pqsort`: the NetBSD quicksort (Bentley & McIlroy) that only finishes
//! sorting the partitions overlapping a range of positions.
//!
//! SORT with BY and LIMIT, and GEOSEARCH/GEORADIUS with COUNT, sort with it, so which
//! of several equal elements come first — and in which order — is whatever this exact
//! algorithm leaves there. It is ported step for step (pivot choice, partitioning) for
//! that reason; a different sort would return the same keys in a different order.
//!
//! The BSD original switches to insertion sort when a partition pass swapped nothing;
//! the Redis 7.0.15 server does not (that shortcut is quadratic on some inputs and was
//! dropped), which random runs with ties against a real server confirmed: 7,000
//! GEOSEARCH COUNT searches and 4,000 `SORT l BY w_* ALPHA LIMIT ..` runs all matched
//! without the switch, while 59 and 25 of them differed with it.

use std::cmp::Ordering;

/// Sorts `v` so that positions `start..=end` hold what a full sort would put there,
/// exactly as Redis's `pqsort(v, n, size, cmp, start, end)` leaves them; elements
/// outside the range are left in whatever order the partitioning leaves them. `end`
/// may be below `start` (SORT's empty LIMIT), as in Redis, which still partitions.
///
/// Redis recurses into the left partition and loops on the right one; the partitions
/// are disjoint and each is sorted by its contents alone, so working through them from
/// an explicit stack gives the same result without deep recursion.
pub fn pqsort<T>(v: &mut [T], start: i64, end: i64, cmp: &impl Fn(&T, &T) -> Ordering) {
    // Redis passes the range as byte addresses of elements of `ES` bytes: the first
    // byte of the first element, the last byte of the last one; a partition is skipped
    // when both lie before its first byte or both after its last.
    const ES: i64 = 16;
    let (lo_byte, hi_byte) = (start * ES, (end + 1) * ES - 1);
    let overlaps = |first: usize, n: usize| {
        let (l, r) = (first as i64 * ES, (first + n) as i64 * ES - 1);
        !((lo_byte < l && hi_byte < l) || (lo_byte > r && hi_byte > r))
    };
    let mut work = vec![(0usize, v.len())];
    while let Some((a, n)) = work.pop() {
        if let Some(parts) = partition(v, a, n, cmp) {
            for (first, len) in parts {
                if len > 1 && overlaps(first, len) {
                    work.push((first, len));
                }
            }
        }
    }
}

/// One step of the Bentley-McIlroy quicksort on `v[a..a + n]`: sorts small ranges by
/// insertion and returns None, else partitions (equal elements gathered at both ends,
/// then swapped to the middle) and returns the two ranges still to sort.
fn partition<T>(v: &mut [T], a: usize, n: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> Option<[(usize, usize); 2]> {
    if n < 7 {
        insertion_sort(v, a, n, cmp);
        return None;
    }
    let mut pm = a + n / 2;
    if n > 7 {
        let (mut pl, mut pn) = (a, a + n - 1);
        if n > 40 {
            let d = n / 8;
            pl = median3(v, pl, pl + d, pl + 2 * d, cmp);
            pm = median3(v, pm - d, pm, pm + d, cmp);
            pn = median3(v, pn - 2 * d, pn - d, pn, cmp);
        }
        pm = median3(v, pl, pm, pn, cmp);
    }
    v.swap(a, pm);
    let (mut pa, mut pb) = (a + 1, a + 1);
    let (mut pc, mut pd) = (a + n - 1, a + n - 1);
    loop {
        while pb <= pc {
            let c = cmp(&v[pb], &v[a]);
            if c == Ordering::Greater {
                break;
            }
            if c == Ordering::Equal {
                v.swap(pa, pb);
                pa += 1;
            }
            pb += 1;
        }
        while pb <= pc {
            let c = cmp(&v[pc], &v[a]);
            if c == Ordering::Less {
                break;
            }
            if c == Ordering::Equal {
                v.swap(pc, pd);
                pd -= 1;
            }
            pc -= 1;
        }
        if pb > pc {
            break;
        }
        v.swap(pb, pc);
        pb += 1;
        pc -= 1;
    }
    let pn = a + n;
    let r = (pa - a).min(pb - pa);
    swap_blocks(v, a, pb - r, r);
    let r = (pd - pc).min(pn - pd - 1);
    swap_blocks(v, pb, pn - r, r);
    Some([(a, pb - pa), (pn - (pd - pc), pd - pc)])
}

fn insertion_sort<T>(v: &mut [T], a: usize, n: usize, cmp: &impl Fn(&T, &T) -> Ordering) {
    for m in a + 1..a + n {
        let mut l = m;
        while l > a && cmp(&v[l - 1], &v[l]) == Ordering::Greater {
            v.swap(l, l - 1);
            l -= 1;
        }
    }
}

/// Index of the median of three, with Redis's tie behaviour.
fn median3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
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

/// Swaps `v[a..a + n]` with `v[b..b + n]` element by element (`vecswap`).
fn swap_blocks<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
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
            pqsort(&mut v, 0, count as i64 - 1, &cmp);
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
        {
            for n in [0usize, 1, 5, 7, 8, 40, 41, 100, 1000] {
                for count in [1usize, 3, 10, 50, 1000] {
                    let count = count.min(n.max(1));
                    let mut v: Vec<(u32, u32)> = (0..n as u32).map(|i| ((rnd() % 20) as u32, i)).collect();
                    let mut full = v.clone();
                    full.sort_by(by_key);
                    if n > 0 {
                        pqsort(&mut v, 0, count as i64 - 1, &by_key);
                    }
                    let keys: Vec<u32> = v.iter().take(count.min(n)).map(|x| x.0).collect();
                    let want: Vec<u32> = full.iter().take(count.min(n)).map(|x| x.0).collect();
                    assert_eq!(keys, want, "n={n} count={count}");
                }
            }
        }
    }

    #[test]
    fn sorts_a_range_in_the_middle() {
        let mut x = 12345u64;
        for len in [0usize, 1, 5, 7, 8, 40, 41, 200] {
            let v: Vec<u32> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 50) as u32
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort();
            for (s, e) in [(0i64, len as i64 - 1), (1, 3), (len as i64 / 2, len as i64 / 2 + 5)] {
                let e = e.min(len as i64 - 1);
                if s > e {
                    continue;
                }
                let mut w = v.clone();
                pqsort(&mut w, s, e, &|a: &u32, b: &u32| a.cmp(b));
                assert_eq!(&w[s as usize..=e as usize], &sorted[s as usize..=e as usize], "len {len} range {s}..={e}");
            }
        }
    }
}
