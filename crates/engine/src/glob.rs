//! Glob-style matching as Redis's `stringmatchlen` does it, for KEYS, SCAN MATCH,
//! CONFIG GET, PSUBSCRIBE and CLIENT KILL: `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
//!
//! Redis matches recursively and once had to cap the recursion; this version walks
//! the pattern once with single-star backtracking, so it needs no stack and runs in
//! O(pattern × subject) time at worst.

/// True when `subject` matches `pattern`; `nocase` folds ASCII letters.
pub fn glob_match(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    // Redis never matches an empty subject against a non-empty pattern, not even `*`
    // (KEYS and SCAN treat a lone `*` as "everything" before matching).
    if subject.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < subject.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            star = Some((p, i));
            continue;
        }
        if p < pattern.len() {
            if let Some(advance) = match_one(pattern, p, subject[i], nocase) {
                p += advance;
                i += 1;
                continue;
            }
        }
        match star {
            Some((sp, si)) => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// Matches the pattern element at `p` against one byte; returns the element's length.
fn match_one(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(1),
        b'[' => match_class(pattern, p, c, nocase),
        b'\\' if p + 1 < pattern.len() => (fold(pattern[p + 1], nocase) == fold(c, nocase)).then_some(2),
        lit => (fold(lit, nocase) == fold(c, nocase)).then_some(1),
    }
}

/// A `[...]` class starting at `p`. An unterminated class ends with the pattern.
fn match_class(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    let mut q = p + 1;
    let negate = pattern.get(q) == Some(&b'^');
    if negate {
        q += 1;
    }
    let c = fold(c, nocase);
    let mut matched = false;
    loop {
        let rest = pattern.len().saturating_sub(q);
        if rest == 0 {
            break;
        }
        if pattern[q] == b'\\' && rest >= 2 {
            q += 1;
            matched |= fold(pattern[q], nocase) == c;
        } else if pattern[q] == b']' {
            q += 1;
            break;
        } else if rest >= 3 && pattern[q + 1] == b'-' {
            let (mut lo, mut hi) = (fold(pattern[q], nocase), fold(pattern[q + 2], nocase));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            q += 2;
            matched |= (lo..=hi).contains(&c);
        } else {
            matched |= fold(pattern[q], nocase) == c;
        }
        q += 1;
    }
    (matched != negate).then_some(q - p)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn redis_glob_rules() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes(), false);
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("", ""));
        assert!(m("a*", "a"));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hbllo"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(!m("foo[", "foo"));
        assert!(m("foo[a", "fooa"));
        assert!(!m("abc", "abcd"));
        assert!(glob_match(b"HE*", b"hello", true));
        let long = "a".repeat(1000);
        assert!(!m(&"a*".repeat(50).chars().chain("b".chars()).collect::<String>(), &long));
    }
}
