//! The primitive RDB writer: lengths, strings (with Redis's integer and LZF
//! encodings), doubles, times, and the running CRC-64.

use std::io::{self, Write};

use crate::crc64::crc64;
use crate::lzf;

/// Length encodings (`RDB_6BITLEN` ... `RDB_64BITLEN`, `RDB_ENCVAL`).
pub(crate) const LEN_6BIT: u8 = 0;
pub(crate) const LEN_14BIT: u8 = 1;
pub(crate) const LEN_32BIT: u8 = 0x80;
pub(crate) const LEN_64BIT: u8 = 0x81;
pub(crate) const ENCVAL: u8 = 3;
/// Special string encodings after `ENCVAL`.
pub(crate) const ENC_INT8: u8 = 0;
pub(crate) const ENC_INT16: u8 = 1;
pub(crate) const ENC_INT32: u8 = 2;
pub(crate) const ENC_LZF: u8 = 3;

/// Strings longer than this are offered to LZF (Redis's threshold: shorter ones
/// rarely shrink).
const LZF_MIN_LEN: usize = 20;
/// Strings up to this long are tried as integers (an i32 has at most 11 characters).
const INT_ENC_MAX_LEN: usize = 11;

/// Writes RDB primitives to `W`, keeping a CRC of everything written.
pub struct RdbWriter<W: Write> {
    out: W,
    crc: u64,
    checksum: bool,
    compress: bool,
    written: u64,
}

impl<W: Write> RdbWriter<W> {
    /// `compress`: `rdbcompression`; `checksum`: `rdbchecksum`.
    pub fn new(out: W, compress: bool, checksum: bool) -> Self {
        RdbWriter { out, crc: 0, checksum, compress, written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.checksum {
            self.crc = crc64(self.crc, bytes);
        }
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    pub fn byte(&mut self, b: u8) -> io::Result<()> {
        self.raw(&[b])
    }

    /// A length in the smallest of Redis's encodings.
    pub fn len(&mut self, n: u64) -> io::Result<()> {
        let mut buf = [0u8; 9];
        let used = encode_len(n, &mut buf);
        self.raw(&buf[..used])
    }

    /// A string, as `rdbSaveRawString` writes it: an integer encoding when it is a
    /// small integer's exact text, LZF when enabled and it saves at least 4 bytes,
    /// otherwise length + bytes.
    pub fn string(&mut self, s: &[u8]) -> io::Result<()> {
        if s.len() <= INT_ENC_MAX_LEN {
            if let Some(v) = redoubt_engine::types::packed::int_of(s) {
                let mut buf = [0u8; 5];
                if let Some(n) = encode_int(v, &mut buf) {
                    return self.raw(&buf[..n]);
                }
            }
        }
        if self.compress && s.len() > LZF_MIN_LEN {
            if let Some(c) = lzf::compress(s, s.len() - 4) {
                self.byte((ENCVAL << 6) | ENC_LZF)?;
                self.len(c.len() as u64)?;
                self.len(s.len() as u64)?;
                return self.raw(&c);
            }
        }
        self.len(s.len() as u64)?;
        self.raw(s)
    }

    /// An integer value as a string (`rdbSaveLongLongAsStringObject`).
    pub fn int_string(&mut self, v: i64) -> io::Result<()> {
        let mut buf = [0u8; 5];
        if let Some(n) = encode_int(v, &mut buf) {
            return self.raw(&buf[..n]);
        }
        let mut digits = [0u8; 20];
        let text = redoubt_engine::value::format_i64(v, &mut digits);
        self.len(text.len() as u64)?;
        self.raw(text)
    }

    /// A double in binary (little-endian IEEE 754), as ZSET_2 scores are written.
    pub fn binary_double(&mut self, v: f64) -> io::Result<()> {
        self.raw(&v.to_le_bytes())
    }

    /// Milliseconds, little-endian.
    pub fn millis(&mut self, ms: i64) -> io::Result<()> {
        self.raw(&ms.to_le_bytes())
    }

    /// An AUX field with a string value.
    pub fn aux(&mut self, key: &str, value: &[u8]) -> io::Result<()> {
        self.byte(super::opcode::AUX)?;
        self.string(key.as_bytes())?;
        self.string(value)
    }

    /// An AUX field with an integer value (written as its decimal string).
    pub fn aux_int(&mut self, key: &str, value: i64) -> io::Result<()> {
        self.aux(key, value.to_string().as_bytes())
    }

    /// The EOF opcode and the checksum (zero when checksums are off).
    pub fn finish(&mut self) -> io::Result<()> {
        self.byte(super::opcode::EOF)?;
        let crc = if self.checksum { self.crc } else { 0 };
        self.out.write_all(&crc.to_le_bytes())?;
        self.written += 8;
        self.out.flush()
    }

    /// The CRC of everything written so far.
    pub fn crc(&self) -> u64 {
        self.crc
    }
}

/// Encodes a length into `buf`; returns the bytes used.
pub fn encode_len(n: u64, buf: &mut [u8; 9]) -> usize {
    if n < 1 << 6 {
        buf[0] = (LEN_6BIT << 6) | n as u8;
        1
    } else if n < 1 << 14 {
        buf[0] = (LEN_14BIT << 6) | (n >> 8) as u8;
        buf[1] = n as u8;
        2
    } else if n <= u32::MAX as u64 {
        buf[0] = LEN_32BIT;
        buf[1..5].copy_from_slice(&(n as u32).to_be_bytes());
        5
    } else {
        buf[0] = LEN_64BIT;
        buf[1..9].copy_from_slice(&n.to_be_bytes());
        9
    }
}

/// Bytes `encode_len` would use.
pub fn len_size(n: u64) -> usize {
    match n {
        0..64 => 1,
        64..16384 => 2,
        16384..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Redis's `rdbEncodeInteger`: 8, 16 or 32 bits; `None` when it needs more.
fn encode_int(v: i64, buf: &mut [u8; 5]) -> Option<usize> {
    if (i8::MIN as i64..=i8::MAX as i64).contains(&v) {
        buf[0] = (ENCVAL << 6) | ENC_INT8;
        buf[1] = v as i8 as u8;
        Some(2)
    } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
        buf[0] = (ENCVAL << 6) | ENC_INT16;
        buf[1..3].copy_from_slice(&(v as i16).to_le_bytes());
        Some(3)
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        buf[0] = (ENCVAL << 6) | ENC_INT32;
        buf[1..5].copy_from_slice(&(v as i32).to_le_bytes());
        Some(5)
    } else {
        None
    }
}

/// The bytes `RdbWriter::string` would write for `s` (DEBUG OBJECT's
/// `serializedlength`), computed without writing.
pub fn string_size(s: &[u8], compress: bool) -> usize {
    let mut counter = RdbWriter::new(io::sink(), compress, false);
    let _ = counter.string(s);
    counter.written() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut RdbWriter<Vec<u8>>) -> io::Result<()>) -> Vec<u8> {
        let mut w = RdbWriter::new(Vec::new(), true, true);
        f(&mut w).unwrap();
        w.into_inner()
    }

    #[test]
    fn lengths_and_strings() {
        assert_eq!(written(|w| w.len(10)), [10]);
        assert_eq!(written(|w| w.len(100)), [0x40, 100]);
        assert_eq!(written(|w| w.len(20000)), [0x80, 0, 0, 0x4e, 0x20]);
        assert_eq!(written(|w| w.len(1 << 40)), [0x81, 0, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(written(|w| w.string(b"12")), [0xc0, 12]);
        assert_eq!(written(|w| w.string(b"-300")), [0xc1, 0xd4, 0xfe]);
        assert_eq!(written(|w| w.string(b"100000")), [0xc2, 0xa0, 0x86, 1, 0]);
        assert_eq!(written(|w| w.string(b"012")), [3, b'0', b'1', b'2']);
        assert_eq!(written(|w| w.int_string(1 << 40)), b"\x0d1099511627776");
        // 100 times 'a', as Redis 7.0's DUMP shows it.
        let mut want = vec![0xc3, 9, 0x40, 100];
        want.extend_from_slice(&[0x01, b'a', b'a', 0xe0, 0x57, 0x00, 0x01, b'a', b'a']);
        assert_eq!(written(|w| w.string(&[b'a'; 100])), want);
        assert_eq!(string_size(&[b'a'; 100], true), 13);
    }
}
