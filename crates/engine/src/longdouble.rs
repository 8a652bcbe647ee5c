//! Long-double arithmetic for INCRBYFLOAT and HINCRBYFLOAT, done in C (see
//! `longdouble.c`) so that results and their text match Redis bit for bit.

use std::os::raw::{c_char, c_int};

extern "C" {
    fn redoubt_ld_add(
        value: *const c_char,
        vlen: usize,
        incr: *const c_char,
        ilen: usize,
        out: *mut c_char,
        cap: usize,
    ) -> c_int;
    fn redoubt_ld_timeout_ms(s: *const c_char, len: usize, out: *mut i64) -> c_int;
}

/// A blocking command's timeout in seconds converted to milliseconds exactly as Redis
/// 7.0 does (`strtold`, `* 1000`, `ceill`, x86 conversion: out-of-range values are
/// `i64::MIN`); None when `s` is not a float (hex floats and "inf" are floats).
pub fn timeout_ms(s: &[u8]) -> Option<i64> {
    let mut out: i64 = 0;
    // Safety: the pointer and length describe a live slice; C writes one i64.
    let ok = unsafe { redoubt_ld_timeout_ms(s.as_ptr() as *const c_char, s.len(), &mut out) };
    (ok == 1).then_some(out)
}

/// Why an increment failed.
#[derive(Debug, PartialEq, Eq)]
pub enum LdError {
    /// The stored value is not a float.
    BadValue,
    /// The increment is not a float.
    BadIncrement,
    /// The result would be NaN or infinite.
    NanOrInfinity,
}

/// `value + incr` as Redis computes it, formatted as Redis prints it.
pub fn add(value: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, LdError> {
    let mut out = vec![0u8; 5 * 1024 + 64];
    let (vp, vl) = value.map_or((std::ptr::null(), 0), |v| (v.as_ptr() as *const c_char, v.len()));
    // Safety: pointers and lengths describe live slices; C writes at most `cap` bytes.
    let n = unsafe {
        redoubt_ld_add(vp, vl, incr.as_ptr() as *const c_char, incr.len(), out.as_mut_ptr() as *mut c_char, out.len())
    };
    match n {
        -1 => Err(LdError::BadValue),
        -2 => Err(LdError::BadIncrement),
        -3 | -4 => Err(LdError::NanOrInfinity),
        n => {
            out.truncate(n as usize);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis() {
        assert_eq!(add(Some(b"10.5"), b"0.1").unwrap(), b"10.6");
        assert_eq!(add(None, b"1.1").unwrap(), b"1.1");
        assert_eq!(add(Some(b"5.0e3"), b"2.0e2").unwrap(), b"5200");
        assert_eq!(add(Some(b"3"), b"-3").unwrap(), b"0");
        assert_eq!(add(Some(b" 1"), b"1"), Err(LdError::BadValue));
        assert_eq!(add(Some(b"1"), b"nan"), Err(LdError::BadIncrement));
        assert_eq!(add(Some(b"1"), b"inf"), Err(LdError::NanOrInfinity));
    }

    #[test]
    fn timeouts_as_redis_reads_them() {
        assert_eq!(timeout_ms(b"1"), Some(1000));
        assert_eq!(timeout_ms(b"0.0001"), Some(1), "rounded up");
        assert_eq!(timeout_ms(b"-0.0001"), Some(0), "-0 is no timeout");
        assert_eq!(timeout_ms(b"0x10"), Some(16000));
        assert_eq!(timeout_ms(b"inf"), Some(i64::MIN));
        assert_eq!(timeout_ms(b"1e30"), Some(i64::MIN));
        assert_eq!(timeout_ms(b"nan"), None);
        assert_eq!(timeout_ms(b" 1"), None);
        assert_eq!(timeout_ms(b"1e"), None);
        assert_eq!(timeout_ms(b""), None);
    }
}
