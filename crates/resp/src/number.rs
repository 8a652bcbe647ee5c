//! Numbers as Redis writes and reads them on the wire.
//!
//! Redis is strict about integers (`string2ll`: no `+`, no leading zeros, no spaces) and
//! prints doubles with `%.17g`; clients and differential tests see these texts, so they
//! are reproduced here rather than left to Rust's formatting.

/// Parses a signed 64-bit integer exactly as Redis's `string2ll` does: an optional `-`,
/// then digits with no leading zero (unless the number is `0`), no `+`, no spaces, and
/// no overflow. Returns `None` for anything else.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    // Accumulate as a negative number so that i64::MIN parses without overflow.
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub((c - b'0') as i64)?;
    }
    if negative {
        Some(v)
    } else {
        v.checked_neg()
    }
}

/// Parses an unsigned 64-bit integer with the same strictness as [`parse_i64`].
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s == b"0" {
        return Some(0);
    }
    match s.first() {
        Some(b'1'..=b'9') if s.len() <= 20 => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

/// Writes the decimal digits of `n` at the end of `scratch`; returns where they start.
/// Twenty bytes hold any u64, and any i64 with its sign (|i64::MIN| has 19 digits).
fn write_digits(mut n: u64, scratch: &mut [u8; 20]) -> usize {
    let mut i = scratch.len();
    loop {
        i -= 1;
        scratch[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return i;
        }
    }
}

/// The decimal form of `v`, written at the end of `scratch` (no allocation).
pub fn format_i64(v: i64, scratch: &mut [u8; 20]) -> &[u8] {
    let mut i = write_digits(v.unsigned_abs(), scratch);
    if v < 0 {
        i -= 1;
        scratch[i] = b'-';
    }
    &scratch[i..]
}

/// Appends the decimal form of `v` to `out` without going through `fmt`.
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(format_i64(v, &mut [0u8; 20]));
}

/// Appends the decimal form of an unsigned value.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut scratch = [0u8; 20];
    let i = write_digits(n, &mut scratch);
    out.extend_from_slice(&scratch[i..]);
}

/// The decimal text of an integer, as an owned string.
pub fn i64_to_vec(v: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    push_i64(&mut out, v);
    out
}

/// Appends `d` formatted like C's `printf("%.17g", d)`, which is how Redis 7.0 prints
/// scores and other doubles (`inf`, `-inf` and `nan` spelled as glibc spells them).
pub fn push_g17(out: &mut Vec<u8>, d: f64) {
    // Integral values below 2^53 (most sorted-set scores) print as plain integers under
    // %.17g: they have at most 16 digits, so no exponent and no fraction. -0 is not
    // taken here (it prints "-0").
    if d.fract() == 0.0 && d.abs() < 9007199254740992.0 && d != 0.0 {
        push_i64(out, d as i64);
        return;
    }
    push_g(out, d, 17);
}

/// Appends `d` formatted like C's `printf("%.<precision>g", d)` (precision 1..=17).
pub fn push_g(out: &mut Vec<u8>, d: f64, precision: usize) {
    let precision = precision.clamp(1, 17);
    if d.is_nan() {
        out.extend_from_slice(if d.is_sign_negative() { b"-nan" } else { b"nan" });
        return;
    }
    if d.is_infinite() {
        out.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if d == 0.0 {
        out.extend_from_slice(if d.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // Rust's `{:.Ne}` rounds correctly to N+1 significant digits, like glibc does.
    let sci = format!("{:.*e}", precision - 1, d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: Vec<u8> = mantissa.bytes().filter(|c| c.is_ascii_digit()).collect();
    if negative {
        out.push(b'-');
    }
    if exp < -4 || exp >= precision as i32 {
        out.push(digits[0]);
        let frac = trim_zeros(&digits[1..]);
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        push_u64(out, e as u64);
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        out.extend_from_slice(&digits[..int_len]);
        let frac = trim_zeros(&digits[int_len..]);
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
    } else {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(trim_zeros(&digits));
    }
}

/// `%.17g` as an owned string.
pub fn g17_to_vec(d: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    push_g17(&mut out, d);
    out
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let end = digits.iter().rposition(|&c| c != b'0').map_or(0, |p| p + 1);
    &digits[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"-", b"+1", b"01", b"-0", b" 1", b"1 ", b"9223372036854775808", b"1a", b"--1"] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
    }

    #[test]
    fn integers_print_like_c() {
        for v in [0, 1, -1, 42, i64::MAX, i64::MIN] {
            assert_eq!(i64_to_vec(v), v.to_string().into_bytes());
        }
    }

    fn g(d: f64) -> String {
        String::from_utf8(g17_to_vec(d)).unwrap()
    }

    #[test]
    fn doubles_print_like_printf_g17() {
        assert_eq!(g(1.1), "1.1000000000000001");
        assert_eq!(g(1.5), "1.5");
        assert_eq!(g(100.0), "100");
        assert_eq!(g(0.1), "0.10000000000000001");
        assert_eq!(g(1e17), "1e+17");
        assert_eq!(g(1.5e16), "15000000000000000");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(0.00001), "1.0000000000000001e-05");
        assert_eq!(g(-2.5), "-2.5");
        assert_eq!(g(f64::INFINITY), "inf");
        assert_eq!(g(f64::NEG_INFINITY), "-inf");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g(1e300), "1.0000000000000001e+300");
        assert_eq!(g(123456789.125), "123456789.125");
        // The integer shortcut agrees with the general path at its edges.
        for d in [1.0, -1.0, 9007199254740991.0, -9007199254740991.0, 9007199254740992.0, 1e15, 3e15] {
            let mut general = Vec::new();
            push_g(&mut general, d, 17);
            assert_eq!(g17_to_vec(d), general, "{d}");
        }
    }
}
