//! The FUNCTION DUMP / RESTORE payload, in Redis 7.0's format so that a dump made by
//! one server restores on the other: for each library the `FUNCTION2` opcode and its
//! code as an RDB string (LZF-compressed under `rdbcompression`, as Redis writes
//! it), then the RDB version (2 bytes, little-endian) and the CRC64 of everything
//! before (8 bytes, little-endian) — the footer of every DUMP payload
//! (`redoubt_persist::dump`).

use redoubt_persist::dump::{push_footer, verify_payload};
use redoubt_persist::rdb::opcode::FUNCTION2;
use redoubt_persist::rdb::read::RdbReader;
use redoubt_persist::rdb::write::RdbWriter;

const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";

/// The payload of `codes` (the libraries' code, in any order).
pub fn payload(codes: &[&[u8]], compress: bool) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), compress, false);
    for code in codes {
        // Writing into a Vec cannot fail.
        let _ = w.byte(FUNCTION2);
        let _ = w.string(code);
    }
    let mut out = w.into_inner();
    push_footer(&mut out);
    out
}

/// The libraries' code in `payload`, or Redis's error text.
pub fn libraries(payload: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    // `verify_payload` fails only with Redis's "version or checksum" error.
    let body = verify_payload(payload).map_err(|_| BAD_PAYLOAD)?;
    let body_len = body.len();
    let mut r = RdbReader::new(body, body_len as u64);
    let mut codes = Vec::new();
    while (r.pos() as usize) < body_len {
        match r.byte() {
            Ok(FUNCTION2) => {}
            Ok(_) => return Err("ERR given type is not a function"),
            Err(_) => return Err("ERR failed loading the given functions payload"),
        }
        codes.push(r.string().map_err(|_| "ERR failed loading the given functions payload")?);
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip_and_redis_bytes() {
        // A FUNCTION DUMP made by Redis 7.0.15 of one small library.
        let code = b"#!lua name=lib\nredis.register_function('f1', function(keys, args) return 1 end)";
        let redis =
            [&[0xf5, 0x40, 0x4f][..], code, &[0x0a, 0x00, 0x0b, 0xf1, 0x76, 0x46, 0x3f, 0x13, 0x60, 0x9f][..]].concat();
        assert_eq!(payload(&[code], true), redis);
        assert_eq!(libraries(&redis), Ok(vec![code.to_vec()]));
        let mut bad = redis.clone();
        bad[5] ^= 1;
        assert_eq!(libraries(&bad), Err(BAD_PAYLOAD));
        assert_eq!(libraries(b"short"), Err(BAD_PAYLOAD));
        assert_eq!(libraries(&payload(&[], true)), Ok(vec![]));
    }
}
