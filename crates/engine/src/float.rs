//! Doubles read and written the way Redis reads and writes them, where that differs
//! from Rust's own parsing and formatting:
//!
//! - [`strtod`]: C's `strtod` on a C string — the longest accepted prefix, leading
//!   white space, `inf`/`infinity`/`nan`, hexadecimal floats, and the range errors;
//! - [`string2d`]: Redis's strict reading of a whole argument as a double (used by
//!   `getDoubleFromObject`: ZADD scores, ZINCRBY, WEIGHTS, GEO coordinates and radii);
//! - [`push_fixed`]: `printf("%.Nf")` (the coordinates in GEO's range errors);
//! - [`push_fixedpoint`]: Redis's `fixedpoint_d2string`, how GEO distances print: the
//!   value scaled and rounded to an integer first, which is not always `%.4f`;
//! - [`push_human`]: Redis's "human" long double (`%.17Lf` without trailing zeros),
//!   the form of GEOPOS and WITHCOORD coordinates.
//!
//! Decimal input is converted by Rust's parser, which rounds correctly like glibc's
//! `strtod`; only the syntax around it (what prefix is taken, what is an error) is
//! reproduced here.

/// What `strtod` makes of a C string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strtod {
    pub value: f64,
    /// Bytes taken, leading white space included; 0 when nothing could be converted.
    pub consumed: usize,
    /// C's `ERANGE` for a finite input that overflowed to infinity or underflowed to
    /// zero (the cases Redis rejects; a subnormal result is accepted).
    pub range_error: bool,
}

/// C's `isspace` in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parses the longest prefix of `s` that C's `strtod` accepts. `s` is read as a C
/// string: it ends at its first NUL byte, if any.
pub fn strtod(s: &[u8]) -> Strtod {
    let s = s.iter().position(|&c| c == 0).map_or(s, |n| &s[..n]);
    let none = Strtod { value: 0.0, consumed: 0, range_error: false };
    let mut i = s.iter().take_while(|&&c| is_c_space(c)).count();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let rest = &s[i..];
    let starts = |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"infinity") {
        return Strtod { value: sign * f64::INFINITY, consumed: i + 8, range_error: false };
    }
    if starts(b"inf") {
        return Strtod { value: sign * f64::INFINITY, consumed: i + 3, range_error: false };
    }
    if starts(b"nan") {
        let mut n = 3;
        // "nan(n-char-sequence)" is taken whole; a "(" without its ")" is not.
        if rest.get(3) == Some(&b'(') {
            let inner = rest[4..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
            if rest.get(4 + inner) == Some(&b')') {
                n = 5 + inner;
            }
        }
        let nan = if negative { -f64::NAN } else { f64::NAN };
        return Strtod { value: nan, consumed: i + n, range_error: false };
    }
    let hex_start = rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x';
    if hex_start {
        if let Some((value, n)) = parse_hex(&rest[2..]) {
            let value = sign * value;
            let range_error = value.is_infinite() || value == 0.0 && n.1;
            return Strtod { value, consumed: i + 2 + n.0, range_error };
        }
    }
    let Some(n) = decimal_len(rest) else { return none };
    let text = std::str::from_utf8(&rest[..n]).unwrap_or("0");
    let magnitude: f64 = text.parse().unwrap_or(0.0);
    let nonzero_digits = rest[..n].iter().take_while(|c| !matches!(c, b'e' | b'E')).any(|c| matches!(c, b'1'..=b'9'));
    let range_error = magnitude.is_infinite() || (magnitude == 0.0 && nonzero_digits);
    Strtod { value: sign * magnitude, consumed: i + n, range_error }
}

/// Length of the decimal number at the start of `s` (digits, an optional fraction,
/// an optional exponent taken only when it has digits), or None if there is none.
fn decimal_len(s: &[u8]) -> Option<usize> {
    let digits = |from: usize| s[from.min(s.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(0);
    let mut n = int;
    let mut frac = 0;
    if s.get(n) == Some(&b'.') {
        frac = digits(n + 1);
        n += 1 + frac;
    }
    if int + frac == 0 {
        return None;
    }
    if matches!(s.get(n), Some(b'e' | b'E')) {
        let mut e = n + 1;
        if matches!(s.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let exp = digits(e);
        if exp > 0 {
            n = e + exp;
        }
    }
    Some(n)
}

/// A hexadecimal float after its `0x`: hex digits with an optional fraction and an
/// optional binary exponent (`p`). Returns the value, the bytes taken, and whether any
/// non-zero digit was seen (to tell an underflow from a true zero). Precision beyond
/// 64 bits of mantissa is truncated — an input no client sends in practice.
fn parse_hex(s: &[u8]) -> Option<(f64, (usize, bool))> {
    let hexval = |c: u8| (c as char).to_digit(16);
    let mut mantissa: u64 = 0;
    let mut exp: i64 = 0;
    let mut n = 0;
    let mut any = false;
    let mut nonzero = false;
    let mut seen_point = false;
    while n < s.len() {
        let c = s[n];
        if c == b'.' && !seen_point {
            seen_point = true;
            n += 1;
            continue;
        }
        let Some(d) = hexval(c) else { break };
        any = true;
        nonzero |= d != 0;
        if mantissa >> 60 == 0 {
            mantissa = mantissa << 4 | d as u64;
            if seen_point {
                exp -= 4;
            }
        } else if !seen_point {
            exp += 4;
        }
        n += 1;
    }
    if !any {
        return None;
    }
    if matches!(s.get(n), Some(b'p' | b'P')) {
        let mut e = n + 1;
        let neg = match s.get(e) {
            Some(b'-') => {
                e += 1;
                true
            }
            Some(b'+') => {
                e += 1;
                false
            }
            _ => false,
        };
        let digits = s[e.min(s.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            let mut p: i64 = 0;
            for &c in &s[e..e + digits] {
                p = (p * 10 + (c - b'0') as i64).min(1 << 20);
            }
            exp += if neg { -p } else { p };
            n = e + digits;
        }
    }
    Some((ldexp(mantissa as f64, exp), (n, nonzero)))
}

/// `x * 2^e` without overflowing or underflowing in between.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    while e > 1000 {
        x *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
    }
    x * 2f64.powi(e as i32)
}

/// Redis's `string2d`: the whole argument must be a double; empty, leading white space,
/// trailing bytes, an overflow, an underflow to zero and NaN are all refused.
pub fn string2d(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let r = strtod(s);
    (r.consumed == s.len() && !r.range_error && !r.value.is_nan()).then_some(r.value)
}

/// Appends `d` as C's `printf("%.<decimals>f", d)` does.
pub fn push_fixed(out: &mut Vec<u8>, d: f64, decimals: usize) {
    if d.is_nan() {
        out.extend_from_slice(if d.is_sign_negative() { b"-nan" } else { b"nan" });
    } else if d.is_infinite() {
        out.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
    } else {
        // Rust rounds the exact binary value, ties to even, like glibc.
        out.extend_from_slice(format!("{d:.decimals$}").as_bytes());
    }
}

/// C's `llrint` in the default rounding mode (ties to even), with x86-64's answer for
/// what does not fit (NaN, infinities, beyond ±2^63): `i64::MIN`.
fn llrint(x: f64) -> i64 {
    const LIMIT: f64 = 9223372036854775808.0;
    if !(-LIMIT..LIMIT).contains(&x) {
        return i64::MIN;
    }
    x.round_ties_even() as i64
}

/// Appends `d` with `decimals` digits after the point as Redis 7.0's
/// `fixedpoint_d2string` writes it (GEODIST, WITHDIST): `d * 10^decimals` rounded to
/// an integer (ties to even), then split at the point. Where the scaled product rounds
/// to a tie this differs from `%.4f`, which rounds the exact value:
/// 14861727.685050001 prints "14861727.6850" here and "14861727.6851" with printf.
pub fn push_fixedpoint(out: &mut Vec<u8>, d: f64, decimals: u32) {
    let decimals = decimals.clamp(1, 17);
    if d == 0.0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + decimals as usize, b'0');
        return;
    }
    let scaled = llrint(d * 10f64.powi(decimals as i32));
    if scaled < 0 {
        out.push(b'-');
    }
    let v = scaled.unsigned_abs();
    let unit = 10u64.pow(decimals);
    redoubt_resp::number::push_u64(out, v / unit);
    out.push(b'.');
    let frac = (v % unit).to_string();
    out.resize(out.len() + decimals as usize - frac.len(), b'0');
    out.extend_from_slice(frac.as_bytes());
}

/// Appends `d` as Redis's `ld2string(..., LD_STR_HUMAN)` prints it: `%.17Lf` (the
/// double widened to long double, so its exact value is what gets rounded), then the
/// trailing zeros and a bare `.` removed, and "-0" written as "0".
pub fn push_human(out: &mut Vec<u8>, d: f64) {
    if d.is_infinite() || d.is_nan() {
        push_fixed(out, d, 0);
        return;
    }
    let s = format!("{d:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    out.extend_from_slice(if s == "-0" { b"0" } else { s.as_bytes() });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> (f64, usize, bool) {
        let r = strtod(s.as_bytes());
        (r.value, r.consumed, r.range_error)
    }

    #[test]
    fn strtod_takes_the_longest_prefix() {
        assert_eq!(parsed("1.5"), (1.5, 3, false));
        assert_eq!(parsed("  -2e3xyz"), (-2000.0, 6, false));
        assert_eq!(parsed("1e"), (1.0, 1, false));
        assert_eq!(parsed("1e+"), (1.0, 1, false));
        assert_eq!(parsed(".5"), (0.5, 2, false));
        assert_eq!(parsed("5."), (5.0, 2, false));
        assert_eq!(parsed("."), (0.0, 0, false));
        assert_eq!(parsed(""), (0.0, 0, false));
        assert_eq!(parsed("+"), (0.0, 0, false));
        assert_eq!(parsed("-inf"), (f64::NEG_INFINITY, 4, false));
        assert_eq!(parsed("Infinity!"), (f64::INFINITY, 8, false));
        assert_eq!(parsed("infinit"), (f64::INFINITY, 3, false));
        assert_eq!(parsed("0x10"), (16.0, 4, false));
        assert_eq!(parsed("0x1.8p1"), (3.0, 7, false));
        assert_eq!(parsed("0x"), (0.0, 1, false));
        assert_eq!(parsed("0xg"), (0.0, 1, false));
        assert_eq!(parsed("1e400"), (f64::INFINITY, 5, true));
        assert_eq!(parsed("1e-400"), (0.0, 6, true));
        assert_eq!(parsed("0e-400"), (0.0, 6, false));
        assert!(!strtod(b"1e-320").range_error, "a subnormal result is not refused");
        assert_eq!(parsed("3\0junk"), (3.0, 1, false));
        let nan = strtod(b"nan(123)");
        assert!(nan.value.is_nan() && nan.consumed == 8);
        assert_eq!(strtod(b"nan(12").consumed, 3);
    }

    #[test]
    fn string2d_is_strict() {
        assert_eq!(string2d(b"1.5"), Some(1.5));
        assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(string2d(b"+1"), Some(1.0));
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"-1e400", b"1e-400", b"abc", b"1\x002", b"\t1"] {
            assert_eq!(string2d(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    // Redis's own test values are written with more digits than an f64 holds.
    #[allow(clippy::excessive_precision)]
    fn formats_like_printf() {
        let fixed = |d: f64| {
            let mut v = Vec::new();
            push_fixed(&mut v, d, 4);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(fixed(166274.15156960033), "166274.1516");
        assert_eq!(fixed(0.0), "0.0000");
        assert_eq!(fixed(0.00005), "0.0001");
        let point = |d: f64, n: u32| {
            let mut v = Vec::new();
            push_fixedpoint(&mut v, d, n);
            String::from_utf8(v).unwrap()
        };
        // Redis's own test cases for fixedpoint_d2string, and the tie seen in GEODIST.
        assert_eq!(point(0.0, 4), "0.0000");
        assert_eq!(point(0.0001, 4), "0.0001");
        assert_eq!(point(6.06429515983917e-5, 4), "0.0001");
        assert_eq!(point(0.01, 4), "0.0100");
        assert_eq!(point(-0.01, 4), "-0.0100");
        assert_eq!(point(-0.1, 1), "-0.1");
        assert_eq!(point(10.01, 4), "10.0100");
        assert_eq!(point(0.01, 17), "0.01000000000000000");
        assert_eq!(point(14861727.685050001, 4), "14861727.6850");
        assert_eq!(point(166274.15156960033, 4), "166274.1516");
        assert_eq!(point(f64::NAN, 4), "-922337203685477.5808");
        let human = |d: f64| {
            let mut v = Vec::new();
            push_human(&mut v, d);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(human(13.361389338970184), "13.36138933897018433");
        assert_eq!(human(2.0), "2");
        assert_eq!(human(-0.0), "0");
        assert_eq!(human(0.5), "0.5");
    }
}
