//! DUMP/RESTORE payloads (Redis's `createDumpPayload` / `verifyDumpPayload`):
//!
//! ```text
//! RDB type byte | value body | RDB version (u16 LE) | CRC-64 of all before (u64 LE)
//! ```
//!
//! [`RdbCodec`] is what the server installs in the engine for the DUMP and RESTORE
//! commands. A payload is always validated in depth (every blob, every count, no
//! duplicates) before anything is stored, whatever `sanitize-dump-payload` says: the
//! checks are cheap next to building the value.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use redoubt_engine::cmd::dump::PayloadCodec;
use redoubt_engine::entry::Entry;
use redoubt_engine::exec::CmdError;
use redoubt_engine::value::ValueRef;
use redoubt_engine::Knobs;

use crate::crc64::crc64;
use crate::rdb::object::{type_of, with_engine_value, write_body};
use crate::rdb::read::RdbReader;
use crate::rdb::value::read_value;
use crate::rdb::write::RdbWriter;
use crate::rdb::{rdb_type, RDB_VERSION};

/// Version and checksum.
const FOOTER_BYTES: usize = 10;

const BAD_VERSION_OR_CRC: CmdError = CmdError::Static("ERR DUMP payload version or checksum are wrong");
const BAD_FORMAT: CmdError = CmdError::Static("ERR Bad data format");

/// The payload codec, with the one setting it follows (`rdbcompression`). Clones
/// share that setting: the server keeps one to update it, the engine holds another.
#[derive(Clone, Default)]
pub struct RdbCodec {
    compress: Arc<AtomicBool>,
}

impl RdbCodec {
    pub fn new(compress: bool) -> RdbCodec {
        RdbCodec { compress: Arc::new(AtomicBool::new(compress)) }
    }

    pub fn set_compress(&self, on: bool) {
        self.compress.store(on, Relaxed);
    }
}

/// The DUMP payload of a value.
pub fn dump_payload(v: ValueRef<'_>, compress: bool) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), compress, false);
    // Writing into a vector cannot fail; a value that could not be serialized would
    // be a bug in the engine's types, and then the payload is refused on RESTORE.
    let _ = w.byte(type_of(v)).and_then(|_| write_body(&mut w, v));
    let mut out = w.into_inner();
    push_footer(&mut out);
    out
}

/// Appends the footer to the body of a payload in `out`: the RDB version and the
/// CRC-64 of all before it. FUNCTION DUMP payloads end the same way.
pub fn push_footer(out: &mut Vec<u8>) {
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(0, out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Checks the footer (of a DUMP or a FUNCTION DUMP payload); returns the body.
pub fn verify_payload(p: &[u8]) -> Result<&[u8], CmdError> {
    if p.len() < FOOTER_BYTES {
        return Err(BAD_VERSION_OR_CRC);
    }
    let (body, footer) = p.split_at(p.len() - FOOTER_BYTES);
    let version = u16::from_le_bytes([footer[0], footer[1]]) as u32;
    // As Redis 7.0: a payload from a newer format version is refused.
    if version > RDB_VERSION {
        return Err(BAD_VERSION_OR_CRC);
    }
    let crc = u64::from_le_bytes(footer[2..10].try_into().map_err(|_| BAD_VERSION_OR_CRC)?);
    if crc64(0, &p[..p.len() - 8]) != crc {
        return Err(BAD_VERSION_OR_CRC);
    }
    Ok(body)
}

/// True for the type bytes a value can have (`rdbIsObjectType`).
fn is_object_type(t: u8) -> bool {
    matches!(t, 0..=7 | 9..=rdb_type::STREAM_LISTPACKS_3)
}

impl PayloadCodec for RdbCodec {
    fn dump(&self, v: ValueRef<'_>) -> Vec<u8> {
        dump_payload(v, self.compress.load(Relaxed))
    }

    fn restore(
        &self,
        payload: &[u8],
        key: &[u8],
        expire_ms: Option<i64>,
        lru: u32,
        knobs: &Knobs,
    ) -> Result<Entry, CmdError> {
        let body = verify_payload(payload)?;
        let mut r = RdbReader::new(body, body.len() as u64);
        r.set_checksum(false);
        let t = r.byte().map_err(|_| BAD_FORMAT)?;
        if !is_object_type(t) {
            return Err(BAD_FORMAT);
        }
        let value = read_value(&mut r, t).map_err(|_| BAD_FORMAT)?;
        if value.is_empty_collection() {
            return Err(BAD_FORMAT);
        }
        with_engine_value(value, knobs, |v| Entry::new(key, v, expire_ms, lru)).map_err(|_| BAD_FORMAT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redoubt_engine::value::StrRef;

    #[test]
    fn payloads_as_redis_writes_them() {
        // Redis 7.0: DUMP of "a" * 100 and of the integer 1.
        let p = dump_payload(ValueRef::Str(StrRef::Raw(&[b'a'; 100])), true);
        let mut want =
            vec![0x00, 0xc3, 0x09, 0x40, 0x64, 0x01, b'a', b'a', 0xe0, 0x57, 0x00, 0x01, b'a', b'a', 0x0a, 0x00];
        want.extend_from_slice(&[0xe8, 0xa3, 0xb5, 0x07, 0xb0, 0x6d, 0xf2, 0x71]);
        assert_eq!(p, want);
        assert!(verify_payload(&p).is_ok());
        let mut bad = p.clone();
        bad[3] ^= 1;
        assert_eq!(verify_payload(&bad), Err(BAD_VERSION_OR_CRC));
        assert_eq!(verify_payload(b"short"), Err(BAD_VERSION_OR_CRC));
    }
}
