//! Score and lexicographic intervals of a sorted set (Redis's `zrangespec` and
//! `zlexrangespec`), and the two tests every range operation is built from: "is this
//! entry at or past the minimum" and "is it at or before the maximum".

use std::cmp::Ordering;

/// A score interval; `min_ex`/`max_ex` make a bound exclusive (`(1.5`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_ex: bool,
    pub max_ex: bool,
}

/// One end of a lexicographic interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexBound<'a> {
    /// `-`: before every member.
    Min,
    /// `+`: after every member.
    Max,
    /// `[member`.
    Incl(&'a [u8]),
    /// `(member`.
    Excl(&'a [u8]),
}

impl LexBound<'_> {
    fn is_exclusive(&self) -> bool {
        // Redis marks `-` and `+` exclusive; it only matters when both ends are equal.
        !matches!(self, LexBound::Incl(_))
    }
}

/// `value` compared with a bound as Redis's `sdscmplex` does.
fn cmp_lex(value: &[u8], bound: &LexBound<'_>) -> Ordering {
    match bound {
        LexBound::Min => Ordering::Greater,
        LexBound::Max => Ordering::Less,
        LexBound::Incl(b) | LexBound::Excl(b) => value.cmp(b),
    }
}

/// A lexicographic interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexRange<'a> {
    pub min: LexBound<'a>,
    pub max: LexBound<'a>,
}

/// A score or lexicographic interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Range<'a> {
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

impl Range<'_> {
    /// True when no entry can be inside (min above max, or equal with an exclusive
    /// end), checked before searching as Redis's `zslIsInRange` does.
    pub fn is_void(&self) -> bool {
        match self {
            Range::Score(r) => r.min > r.max || (r.min == r.max && (r.min_ex || r.max_ex)),
            Range::Lex(r) => {
                let cmp = match (&r.min, &r.max) {
                    (LexBound::Min, LexBound::Min) | (LexBound::Max, LexBound::Max) => Ordering::Equal,
                    (LexBound::Min, _) | (_, LexBound::Max) => Ordering::Less,
                    (LexBound::Max, _) | (_, LexBound::Min) => Ordering::Greater,
                    (LexBound::Incl(a) | LexBound::Excl(a), LexBound::Incl(b) | LexBound::Excl(b)) => a.cmp(b),
                };
                cmp == Ordering::Greater || (cmp == Ordering::Equal && (r.min.is_exclusive() || r.max.is_exclusive()))
            }
        }
    }

    /// True when the range only looks at scores (no member needs to be read).
    pub fn by_score(&self) -> bool {
        matches!(self, Range::Score(_))
    }

    /// The entry is at or past the minimum.
    pub fn gte_min(&self, member: &[u8], score: f64) -> bool {
        match self {
            Range::Score(r) => {
                if r.min_ex {
                    score > r.min
                } else {
                    score >= r.min
                }
            }
            Range::Lex(r) => {
                let c = cmp_lex(member, &r.min);
                if r.min.is_exclusive() {
                    c == Ordering::Greater
                } else {
                    c != Ordering::Less
                }
            }
        }
    }

    /// The entry is at or before the maximum.
    pub fn lte_max(&self, member: &[u8], score: f64) -> bool {
        match self {
            Range::Score(r) => {
                if r.max_ex {
                    score < r.max
                } else {
                    score <= r.max
                }
            }
            Range::Lex(r) => {
                let c = cmp_lex(member, &r.max);
                if r.max.is_exclusive() {
                    c == Ordering::Less
                } else {
                    c != Ordering::Greater
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_redis() {
        let r = Range::Score(ScoreRange { min: 1.0, max: 2.0, min_ex: true, max_ex: false });
        assert!(!r.gte_min(b"", 1.0) && r.gte_min(b"", 1.5) && r.lte_max(b"", 2.0) && !r.lte_max(b"", 2.1));
        let void = Range::Score(ScoreRange { min: 1.0, max: 1.0, min_ex: false, max_ex: true });
        assert!(void.is_void());
        let all = Range::Lex(LexRange { min: LexBound::Min, max: LexBound::Max });
        assert!(!all.is_void() && all.gte_min(b"", 0.0) && all.lte_max(b"\xff", 0.0));
        let none = Range::Lex(LexRange { min: LexBound::Min, max: LexBound::Min });
        assert!(none.is_void());
        let ab = Range::Lex(LexRange { min: LexBound::Incl(b"a"), max: LexBound::Excl(b"b") });
        assert!(ab.gte_min(b"a", 0.0) && ab.lte_max(b"az", 0.0) && !ab.lte_max(b"b", 0.0));
        let same = Range::Lex(LexRange { min: LexBound::Incl(b"a"), max: LexBound::Incl(b"a") });
        assert!(!same.is_void());
        let open = Range::Lex(LexRange { min: LexBound::Incl(b"a"), max: LexBound::Excl(b"a") });
        assert!(open.is_void());
    }
}
