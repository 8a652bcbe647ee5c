//! The CRC-64 Redis puts at the end of RDB files and DUMP payloads: the Jones
//! polynomial (0xad93d23594c935a9), reflected input and output, initial value 0, no
//! final XOR (Redis's `crc64.c`). Check value: `crc64(0, "123456789")` is
//! `0xe9c6d914c4b8d9ca`.
//!
//! Computed eight bytes at a time ("slicing-by-8") from tables built at compile time,
//! because every byte of a snapshot passes through it and SAVE must keep up with
//! Redis's own table-driven implementation.

/// The Jones polynomial, bit-reversed (the reflected form the shift-right loop uses).
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn build_tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY_REFLECTED } else { crc >> 1 };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static TABLES: [[u64; 256]; 8] = build_tables();

/// Continues the CRC `crc` over `data` (start with 0).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = crc ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        crc = t[7][(v & 0xff) as usize]
            ^ t[6][((v >> 8) & 0xff) as usize]
            ^ t[5][((v >> 16) & 0xff) as usize]
            ^ t[4][((v >> 24) & 0xff) as usize]
            ^ t[3][((v >> 32) & 0xff) as usize]
            ^ t[2][((v >> 40) & 0xff) as usize]
            ^ t[1][((v >> 48) & 0xff) as usize]
            ^ t[0][(v >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_check_value() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        // Redis's own test string from crc64.c.
        let li = b"This is a test of the emergency broadcast system.";
        assert_eq!(crc64(0, li), crc64(crc64(0, &li[..13]), &li[13..]));
    }

    #[test]
    fn sliced_equals_bytewise() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut slow = 0u64;
        for &b in &data {
            slow = TABLES[0][((slow ^ b as u64) & 0xff) as usize] ^ (slow >> 8);
        }
        assert_eq!(crc64(0, &data), slow);
    }
}
