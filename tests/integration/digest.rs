//! DEBUG DIGEST and DIGEST-VALUE: the same dataset gives the same digest on Redoubt and
//! on Redis 7.0 (many keys, several databases, absolute TTLs, binary and integer
//! values), so later issues can compare datasets across servers.

use crate::support::Diff;

/// Loads the same deterministic dataset through `d` (every reply compared as well).
fn load_dataset(d: &mut Diff) {
    for db in [0, 1, 5, 15] {
        d.check(&["SELECT", &db.to_string()]);
        let mut mset: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in 0..500u32 {
            mset.push(format!("db{db}:key:{i}").into_bytes());
            let v = match i % 5 {
                0 => i.to_string().into_bytes(),
                1 => format!("-{}", i * 7919).into_bytes(),
                2 => vec![b'x'; (i % 60) as usize],
                3 => (0..(i % 17)).map(|j| (j * 31 + i) as u8).collect(),
                _ => format!("{}.{}", i, i % 7).into_bytes(),
            };
            mset.push(v);
        }
        d.check(&mset);
        // Absolute expiry times, so both servers store the same numbers.
        for i in (0..500).step_by(7) {
            d.check(&["PEXPIREAT", &format!("db{db}:key:{i}"), &(4_102_444_800_000u64 + i as u64).to_string()]);
        }
        d.check(&[b"SET".as_slice(), b"\x00bin\xff", b"\x00\x01\x02\xff"]);
        d.check(&["SETBIT", "bits", &(db * 100 + 7).to_string(), "1"]);
        d.check(&["INCRBYFLOAT", "float", "3.25"]);
        d.check(&["SET", "empty", ""]);
    }
    d.check(&["SELECT", "0"]);
}

#[test]
fn digest_of_the_same_dataset_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
DEBUG DIGEST
DEBUG DIGEST-VALUE missing
"#,
    );
    load_dataset(&mut d);
    d.script(
        r#"
DEBUG DIGEST
DEBUG DIGEST-VALUE db0:key:0 db0:key:1 db0:key:2 db0:key:3 db0:key:4 missing
DEBUG DIGEST-VALUE "\x00bin\xff" bits float empty
DEBUG DIGEST-VALUE
PERSIST db0:key:0
DEBUG DIGEST
DEBUG DIGEST-VALUE db0:key:0
PEXPIREAT db0:key:0 4102444800001
DEBUG DIGEST
SELECT 5
DEL db5:key:3
DEBUG DIGEST
SWAPDB 5 6
DEBUG DIGEST
SELECT 0
APPEND db0:key:1 x
DEBUG DIGEST
SET db0:key:1 -7919
DEBUG DIGEST
FLUSHDB
DEBUG DIGEST
FLUSHALL
DEBUG DIGEST
"#,
    );
}

#[test]
fn digest_ignores_encoding_but_not_content() {
    // 123 stored as an int and as a string built by APPEND digest the same.
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SET a 123
DEBUG DIGEST
DEBUG DIGEST-VALUE a
SET a 12
APPEND a 3
OBJECT ENCODING a
DEBUG DIGEST
DEBUG DIGEST-VALUE a
SET a 124
DEBUG DIGEST-VALUE a
"#,
    );
}

#[test]
fn debug_populate_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
DEBUG POPULATE 1000
DBSIZE
GET key:0
GET key:999
DEBUG DIGEST
DEBUG POPULATE 1000
DEBUG POPULATE 20 pre 5
GET pre:3
DEBUG POPULATE 20 big 100
STRLEN big:7
GET big:7
DEBUG DIGEST
DEBUG POPULATE 0
DEBUG POPULATE -1
DEBUG POPULATE abc
DEBUG POPULATE 10 p abc
SELECT 2
DEBUG POPULATE 10
DEBUG DIGEST
"#,
    );
}

/// DEBUG OBJECT with the pointer and the LRU clock masked.
fn mask_debug_object(raw: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(raw)
        .split(' ')
        .map(|w| match w.split_once(':') {
            Some((k @ ("at" | "lru" | "lru_seconds_idle"), _)) => format!("{k}:*"),
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
        .into_bytes()
}

#[test]
// serializedlength is the RDB encoding's length: integers, LZF-compressed strings
// (over 20 bytes) and plain ones.
fn debug_object_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script_with(
        r#"
SET int 12345
SET small hello
SET long 12345678901234567890
SET empty ""
APPEND raw x
SET compressible "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc"
SET incompressible "q8Zr2LmX0vTn4WbYc7KdPs1JfHg9AeUo6NiRlQtVyBx3MzC5"
[canon] DEBUG OBJECT compressible
[canon] DEBUG OBJECT incompressible
[canon] DEBUG OBJECT int
[canon] DEBUG OBJECT small
[canon] DEBUG OBJECT long
[canon] DEBUG OBJECT empty
[canon] DEBUG OBJECT raw
DEBUG OBJECT missing
DEBUG OBJECT
"#,
        mask_debug_object,
    );
}
