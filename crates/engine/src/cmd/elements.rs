//! What the collection commands share about answering with elements: writing an
//! element as a bulk string, and random picks for SRANDMEMBER, SPOP and HRANDFIELD
//! (ZRANDMEMBER has the same rules).
//!
//! Redis's count rules: a negative count asks for that many picks, repeats allowed;
//! a positive one for that many distinct elements, or the whole collection when it
//! has no more. Collections here have O(1) access by index, so every pick is one
//! uniformly random index — where Redis samples dict buckets.

use redoubt_resp::ReplyBuf;

use crate::exec::{fast_random, CmdError};
use crate::types::packed::Elem;
use crate::types::table::Full;

/// A collection at its element limit (`types::table::MAX_LEN`, about 4 billion) refuses
/// more; Redis has no such limit, but no machine of ours could hold that many.
impl From<Full> for CmdError {
    fn from(_: Full) -> Self {
        CmdError::Static("ERR the collection already holds the maximum number of elements")
    }
}

/// Writes an element as a bulk string (an integer in its decimal form).
pub fn reply_elem(out: &mut ReplyBuf, e: Elem<'_>) {
    match e {
        Elem::Str(b) => out.bulk(b),
        Elem::Int(v) => out.bulk_i64(v),
    }
}

/// Largest number of repeated picks one command answers with (a negative count).
///
/// Redis 7.0 has no limit: `SRANDMEMBER key -1000000000` builds a reply of gigabytes
/// and only stops if the client's output buffer limit closes it. Replies here are
/// built whole before they are sent, so the count is bounded instead (2^27 picks,
/// already a reply of more than half a gigabyte): a larger one, on a collection that
/// exists, gets Redis's range error with this bound in it.
pub const MAX_REPEATED_PICKS: u64 = 1 << 27;

/// The count argument of SRANDMEMBER and HRANDFIELD (Redis's
/// `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`).
pub fn count_arg(a: &[u8]) -> Result<i64, CmdError> {
    let n = super::int_arg(a)?;
    if n == i64::MIN {
        return Err(range_error(i64::MAX as u64));
    }
    Ok(n)
}

/// Checks a number of repeated picks against [`MAX_REPEATED_PICKS`].
pub fn check_repeated_picks(n: u64) -> Result<(), CmdError> {
    if n > MAX_REPEATED_PICKS {
        return Err(range_error(MAX_REPEATED_PICKS));
    }
    Ok(())
}

fn range_error(neg_bound: u64) -> CmdError {
    CmdError::Owned(format!("ERR value is out of range, value must between -{neg_bound} and {}", i64::MAX))
}

/// A uniformly random index in `0..n` (`n` > 0).
pub fn random_index(n: usize) -> usize {
    debug_assert!(n > 0);
    // The modulo bias is below 2^-40 for any collection that fits in memory.
    (fast_random() % n as u64) as usize
}

/// `count` distinct random indexes in `0..n` (`count` < `n`), in random order.
///
/// A partial Fisher-Yates shuffle when `count` is a large part of `n` (Redis's "case
/// 3", which copies the collection and deletes random elements), rejection sampling
/// otherwise ("case 4"): either way O(count) expected work beyond the O(n) copy of
/// the first, which Redis pays too.
pub fn distinct_indexes(n: usize, count: usize) -> Vec<usize> {
    debug_assert!(count < n);
    if count.saturating_mul(3) > n {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..count {
            let j = i + random_index(n - i);
            all.swap(i, j);
        }
        all.truncate(count);
        return all;
    }
    let mut seen = std::collections::HashSet::with_capacity(count);
    let mut picked = Vec::with_capacity(count);
    // Each draw succeeds with probability above 2/3, so this ends quickly; the bound
    // is only there so that no loop is unbounded.
    for _ in 0..count.saturating_mul(64).max(64) {
        if picked.len() == count {
            break;
        }
        let i = random_index(n);
        if seen.insert(i) {
            picked.push(i);
        }
    }
    // Complete deterministically in the (astronomically unlikely) case the bound hit.
    let mut i = 0;
    while picked.len() < count && i < n {
        if seen.insert(i) {
            picked.push(i);
        }
        i += 1;
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_and_in_range() {
        for (n, count) in [(10, 9), (10, 1), (1000, 5), (3, 2), (100, 34)] {
            let mut v = distinct_indexes(n, count);
            assert_eq!(v.len(), count);
            assert!(v.iter().all(|&i| i < n));
            v.sort();
            v.dedup();
            assert_eq!(v.len(), count);
        }
    }

    #[test]
    fn picks_are_spread() {
        let mut hits = [0usize; 4];
        for _ in 0..4000 {
            hits[random_index(4)] += 1;
        }
        assert!(hits.iter().all(|&h| h > 800), "{hits:?}");
    }

    #[test]
    fn count_bounds() {
        assert_eq!(count_arg(b"-5"), Ok(-5));
        assert_eq!(count_arg(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(count_arg(b"-9223372036854775807"), Ok(-i64::MAX));
        assert_eq!(
            count_arg(b"-9223372036854775808").unwrap_err().text(),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert!(check_repeated_picks(MAX_REPEATED_PICKS).is_ok());
        assert!(check_repeated_picks(MAX_REPEATED_PICKS + 1).is_err());
        assert!(count_arg(b"x").is_err());
    }
}
