//! The primitive RDB reader. Every length read from the input is checked against the
//! bytes that remain before anything is allocated, so a corrupt or hostile file can
//! neither make the reader allocate more than its own size nor read past its end.

use std::io::Read;

use super::write::{ENCVAL, ENC_INT16, ENC_INT32, ENC_INT8, ENC_LZF, LEN_32BIT, LEN_64BIT};
use super::{corrupt, RdbError};
use crate::crc64::crc64;
use crate::lzf;

/// How much larger than its compressed form an LZF string can be: a 3-byte
/// back-reference expands to at most 264 bytes.
const LZF_MAX_RATIO: u64 = 89;

/// A length, or a special string encoding.
#[derive(Debug, PartialEq, Eq)]
pub enum Len {
    Plain(u64),
    Encoded(u8),
}

/// Reads RDB primitives from `R`, at most `limit` bytes, keeping a running CRC.
pub struct RdbReader<R: Read> {
    input: R,
    crc: u64,
    checksum: bool,
    pos: u64,
    limit: u64,
}

impl<R: Read> RdbReader<R> {
    /// A reader of at most `limit` bytes (the file's or payload's size).
    pub fn new(input: R, limit: u64) -> Self {
        RdbReader { input, crc: 0, checksum: true, pos: 0, limit }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Bytes left before the limit.
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.pos)
    }

    /// The CRC of everything read so far.
    pub fn crc(&self) -> u64 {
        self.crc
    }

    /// Stops computing the CRC (when the file says it has none, or to save time).
    pub fn set_checksum(&mut self, on: bool) {
        self.checksum = on;
    }

    pub fn into_inner(self) -> R {
        self.input
    }

    /// Fills `buf` exactly, or fails with `Truncated`.
    pub fn exact(&mut self, buf: &mut [u8]) -> Result<(), RdbError> {
        if buf.len() as u64 > self.remaining() {
            return Err(RdbError::Truncated);
        }
        self.input.read_exact(buf)?;
        if self.checksum {
            self.crc = crc64(self.crc, buf);
        }
        self.pos += buf.len() as u64;
        Ok(())
    }

    pub fn byte(&mut self) -> Result<u8, RdbError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    /// `n` bytes, after checking that they can exist.
    pub fn bytes(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        if n > self.remaining() {
            return Err(RdbError::Truncated);
        }
        let mut v = vec![0u8; n as usize];
        self.exact(&mut v)?;
        Ok(v)
    }

    /// A length or a special encoding marker (`rdbLoadLenByRef`).
    pub fn len_or_enc(&mut self) -> Result<Len, RdbError> {
        let first = self.byte()?;
        match first >> 6 {
            0 => Ok(Len::Plain((first & 0x3f) as u64)),
            1 => Ok(Len::Plain((((first & 0x3f) as u64) << 8) | self.byte()? as u64)),
            ENCVAL => Ok(Len::Encoded(first & 0x3f)),
            _ => match first {
                LEN_32BIT => {
                    let mut b = [0u8; 4];
                    self.exact(&mut b)?;
                    Ok(Len::Plain(u32::from_be_bytes(b) as u64))
                }
                LEN_64BIT => {
                    let mut b = [0u8; 8];
                    self.exact(&mut b)?;
                    Ok(Len::Plain(u64::from_be_bytes(b)))
                }
                _ => corrupt(format!("Unknown length encoding {first} in rdbLoadLen()")),
            },
        }
    }

    /// A plain length.
    pub fn length(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => corrupt("unexpected string encoding where a length belongs"),
        }
    }

    /// A count of items that each take at least `min_item_bytes`: refused when the
    /// rest of the input could not hold them, so no loop or allocation trusts it blindly.
    pub fn count(&mut self, min_item_bytes: u64) -> Result<u64, RdbError> {
        let n = self.length()?;
        if n.saturating_mul(min_item_bytes.max(1)) > self.remaining() {
            return Err(RdbError::Truncated);
        }
        Ok(n)
    }

    /// A string in any encoding (`rdbGenericLoadStringObject`), as bytes.
    pub fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => self.bytes(n),
            Len::Encoded(enc) => match self.encoded(enc)? {
                Loaded::Int(v) => Ok(v.to_string().into_bytes()),
                Loaded::Bytes(b) => Ok(b),
            },
        }
    }

    /// A string, keeping an integer encoding as a number (what the loader needs to
    /// pick Redis's `int` encoding without parsing the text again).
    pub fn string_or_int(&mut self) -> Result<Loaded, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(Loaded::Bytes(self.bytes(n)?)),
            Len::Encoded(enc) => self.encoded(enc),
        }
    }

    fn encoded(&mut self, enc: u8) -> Result<Loaded, RdbError> {
        match enc {
            ENC_INT8 => Ok(Loaded::Int(self.byte()? as i8 as i64)),
            ENC_INT16 => {
                let mut b = [0u8; 2];
                self.exact(&mut b)?;
                Ok(Loaded::Int(i16::from_le_bytes(b) as i64))
            }
            ENC_INT32 => {
                let mut b = [0u8; 4];
                self.exact(&mut b)?;
                Ok(Loaded::Int(i32::from_le_bytes(b) as i64))
            }
            ENC_LZF => {
                let clen = self.length()?;
                let ulen = self.length()?;
                if clen > self.remaining() {
                    return Err(RdbError::Truncated);
                }
                if ulen > clen.saturating_mul(LZF_MAX_RATIO) + 64 {
                    return corrupt("Invalid LZF compressed string");
                }
                let compressed = self.bytes(clen)?;
                lzf::decompress(&compressed, ulen as usize)
                    .map(Loaded::Bytes)
                    .or_else(|_| corrupt("Invalid LZF compressed string"))
            }
            _ => corrupt(format!("Unknown RDB string encoding type {enc}")),
        }
    }

    /// A binary double (ZSET_2 scores).
    pub fn binary_double(&mut self) -> Result<f64, RdbError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(f64::from_le_bytes(b))
    }

    /// A double in the old text form (ZSET scores before RDB 8): a length byte, or
    /// 253/254/255 for NaN, +inf, -inf.
    pub fn text_double(&mut self) -> Result<f64, RdbError> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.bytes(n as u64)?;
                std::str::from_utf8(&text)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .map_or_else(|| corrupt("Invalid double value"), Ok)
            }
        }
    }

    /// Milliseconds, little-endian (RDB 9+; Redis's older files had a byte-order bug
    /// on big-endian machines only, which produced no other files).
    pub fn millis(&mut self) -> Result<i64, RdbError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(i64::from_le_bytes(b))
    }

    /// Seconds (the old EXPIRETIME opcode), little-endian i32.
    pub fn seconds(&mut self) -> Result<i64, RdbError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(i32::from_le_bytes(b) as i64)
    }
}

/// A string as it was stored: an integer encoding, or bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    Int(i64),
    Bytes(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::super::write::RdbWriter;
    use super::*;

    #[test]
    fn reads_what_the_writer_wrote() {
        let mut w = RdbWriter::new(Vec::new(), true, true);
        for n in [0u64, 63, 64, 16383, 16384, u32::MAX as u64, 1 << 40] {
            w.len(n).unwrap();
        }
        let strings: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"12".to_vec(),
            b"-300".to_vec(),
            b"2147483647".to_vec(),
            b"2147483648".to_vec(),
            vec![b'a'; 100],
            (0..=255u8).collect(),
        ];
        for s in &strings {
            w.string(s).unwrap();
        }
        w.binary_double(1.5).unwrap();
        let bytes = w.into_inner();
        let mut r = RdbReader::new(&bytes[..], bytes.len() as u64);
        for n in [0u64, 63, 64, 16383, 16384, u32::MAX as u64, 1 << 40] {
            assert_eq!(r.length().unwrap(), n);
        }
        for s in &strings {
            assert_eq!(&r.string().unwrap(), s);
        }
        assert_eq!(r.binary_double().unwrap(), 1.5);
        assert_eq!(r.remaining(), 0);
        assert!(matches!(r.byte(), Err(RdbError::Truncated)));
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        // A 64-bit length of 2^60 followed by nothing.
        let bytes = [0x81, 0x10, 0, 0, 0, 0, 0, 0, 0];
        let mut r = RdbReader::new(&bytes[..], bytes.len() as u64);
        assert!(matches!(r.string(), Err(RdbError::Truncated)));
        // LZF claiming a gigabyte from 3 bytes.
        let bytes = [0xc3, 0x03, 0x80, 0x40, 0, 0, 0, 0, 0, 0];
        let mut r = RdbReader::new(&bytes[..], bytes.len() as u64);
        assert!(r.string().is_err());
    }
}
