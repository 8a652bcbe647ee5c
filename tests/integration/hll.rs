//! HyperLogLog, differential: after the same PFADDs and PFMERGEs, GET of the key must
//! return exactly Redis's bytes (sparse opcodes, dense registers, cached count) and
//! PFCOUNT the same numbers; corrupt HLL strings must get Redis's errors.

use crate::support::rand::xorshift;
use crate::support::Diff;

/// A deterministic stream of elements of varied length, binary bytes included.
struct Elements(u64);

impl Elements {
    fn next(&mut self) -> Vec<u8> {
        let x = xorshift(&mut self.0);
        match x % 4 {
            // Short decimal-looking strings (hash collisions on registers are common).
            0 => format!("{}", x % 100_000).into_bytes(),
            1 => format!("user:{x:x}").into_bytes(),
            // Raw bytes, 0..=23 of them.
            2 => x.to_le_bytes().iter().cycle().take((x >> 59) as usize).copied().collect(),
            _ => format!("element-{}-{}", x % 7, x % 1_000_003).into_bytes(),
        }
    }

    fn batch(&mut self, n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// PFADDs `elements` to `key` in chunks of `chunk`, comparing the reply, GET of the
/// key and (every `count_every` chunks) PFCOUNT.
fn add_and_compare(d: &mut Diff, key: &str, elements: &[Vec<u8>], chunk: usize, count_every: usize) {
    for (i, part) in elements.chunks(chunk.max(1)).enumerate() {
        let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
        args.extend(part.iter().map(|e| e.as_slice()));
        d.check(&args);
        d.check(&["GET", key]);
        if count_every > 0 && i % count_every == 0 {
            d.check(&["PFCOUNT", key]);
            d.check(&["GET", key]);
        }
    }
    d.check(&["PFCOUNT", key]);
    d.check(&["GET", key]);
}

#[test]
fn basics_and_errors() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
PFADD h a b c
GET h
PFADD h a
PFCOUNT h
GET h
PFADD h a
GET h
PFADD h d
GET h
PFCOUNT h
PFCOUNT h h
PFCOUNT missing
PFCOUNT missing other
PFADD empty
GET empty
PFADD empty
PFCOUNT empty
GET empty
PFADD bin "" "\x00" "\xff\xfe" "a b"
GET bin
PFCOUNT bin
PFADD
PFCOUNT
PFMERGE
SET s "not an hll at all"
PFADD s a
PFCOUNT s
PFCOUNT h s
PFCOUNT s h
PFMERGE s h
PFMERGE h s
PFMERGE d s
EXISTS d
SET i 12345
PFADD i a
PFCOUNT i
SET short HYLL
PFCOUNT short
SET e ""
PFCOUNT e
PFADD e a
LPUSH l x
PFADD l a
PFCOUNT l
PFCOUNT h l
PFMERGE l h
PFMERGE h l
PFMERGE newkey h l
EXISTS newkey
TYPE h
OBJECT ENCODING h
pfadd lower X
pfcount lower
pfmerge lower h
GET lower
"#,
    );
}

#[test]
fn headers_that_are_not_hll() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
# Bad magic, unknown encoding, dense of the wrong size, too short.
SET k "HYLX\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
PFCOUNT k
SET k "HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
PFCOUNT k
PFADD k a
SET k "HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
PFCOUNT k
PFADD k a
PFMERGE x k
SET k "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
PFCOUNT k
# The header alone is a sparse HLL covering no register: corrupt, not invalid.
SET k "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80"
PFCOUNT k
PFADD k a
GET k
PFMERGE x k
EXISTS x
# A valid cached count is returned as is, whatever the registers say.
SET k "HYLL\x01\x00\x00\x00\x2a\x00\x00\x00\x00\x00\x00\x00\x7f\xff"
PFCOUNT k
OBJECT ENCODING k
PFADD k a
PFCOUNT k
GET k
# Unused header bytes are kept.
SET k "HYLL\x01\xaa\xbb\xcc\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
PFADD k a b c
PFCOUNT k
GET k
"#,
    );
}

#[test]
fn corrupt_sparse_opcodes() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
# Runs covering 64 registers only.
SET k "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f"
PFCOUNT k
PFCOUNT k k
PFMERGE d k
EXISTS d
PFADD k a b c d e f g
GET k
# Runs covering more than 16384 registers.
SET k "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\x7f\xff"
PFCOUNT k
PFADD k a
GET k
PFCOUNT k
PFMERGE d k
# A VAL run reaching past the last register.
SET k "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xfe\x83"
PFCOUNT k
PFMERGE d k
PFCOUNT k other
# Exactly 16384 registers, one VAL inside: valid.
SET k "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xfd\x84\x00"
PFCOUNT k
GET k
PFADD k a b c
GET k
PFMERGE d k
GET d
# An XZERO cut off at the end of the string.
SET k "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x40"
PFADD k x
GET k
PFCOUNT k
SET k "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xfe\x40"
PFCOUNT k
PFADD k a b c d e f g h i j
GET k
# A value too large for sparse on a corrupt HLL: the dense conversion fails.
SET k "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f"
CONFIG SET hll-sparse-max-bytes 0
PFADD k a b c
GET k
"#,
    );
}

#[test]
fn many_keys_sparse_and_dense_byte_exact() {
    let mut d = Diff::new(&[]);
    let mut gen = Elements(0x2545_f491_4f6c_dd1d);
    // Sizes chosen around the sparse limit (about 1,500-2,000 distinct registers at
    // the default 3000 bytes) and well past it.
    for (n, (total, chunk)) in
        [(1, 1), (10, 3), (100, 7), (700, 50), (1500, 100), (2500, 250), (6000, 500), (20_000, 2000)]
            .into_iter()
            .enumerate()
    {
        let key = format!("hll:{n}");
        let elements = gen.batch(total);
        add_and_compare(&mut d, &key, &elements, chunk, 3);
        // The same elements again change nothing.
        add_and_compare(&mut d, &key, &elements[..elements.len().min(200)], 100, 1);
    }
    d.check(&["PFCOUNT", "hll:0", "hll:3", "hll:7"]);
    d.check(&["PFCOUNT", "hll:2", "hll:4", "hll:5", "missing"]);
}

#[test]
fn one_element_at_a_time_across_the_sparse_limit() {
    let mut d = Diff::new(&[]);
    let mut gen = Elements(0x9e37_79b9_7f4a_7c15);
    let elements = gen.batch(2600);
    add_and_compare(&mut d, "grow", &elements, 1, 97);
    d.check(&["STRLEN", "grow"]);
}

#[test]
fn sparse_limit_setting() {
    let mut d = Diff::new(&["--hll-sparse-max-bytes", "100"]);
    let mut gen = Elements(7);
    let elements = gen.batch(300);
    add_and_compare(&mut d, "small", &elements, 1, 10);
    d.check(&["CONFIG", "SET", "hll-sparse-max-bytes", "0"]);
    add_and_compare(&mut d, "zero", &gen.batch(3), 1, 1);
    d.check(&["CONFIG", "SET", "hll-sparse-max-bytes", "20000"]);
    add_and_compare(&mut d, "big", &gen.batch(8000), 400, 2);
    d.check(&["CONFIG", "GET", "hll-sparse-max-bytes"]);
}

#[test]
fn merges_of_sparse_and_dense() {
    let mut d = Diff::new(&[]);
    let mut gen = Elements(42);
    let sizes = [("s1", 50), ("s2", 300), ("s3", 900), ("d1", 5000), ("d2", 30_000)];
    for (key, n) in sizes {
        let elements = gen.batch(n);
        add_and_compare(&mut d, key, &elements, 1000, 0);
    }
    d.script(
        r#"
PFMERGE m1 s1 s2
GET m1
PFCOUNT m1
PFMERGE m2 s1 s2 s3
GET m2
PFCOUNT m2
PFMERGE m3 s1 d1
GET m3
PFCOUNT m3
PFMERGE m4 d1 d2
GET m4
PFCOUNT m4
PFCOUNT s1 s2 s3 d1 d2
PFCOUNT s1 s1
PFCOUNT d2 d1 missing
PFMERGE m5
GET m5
PFCOUNT m5
PFMERGE m5 missing
GET m5
PFMERGE s1 s2
GET s1
PFCOUNT s1
PFMERGE s2 d1
GET s2
PFMERGE d1 s3
GET d1
PFMERGE d1
GET d1
PFCOUNT d1
PFMERGE s3
GET s3
PFCOUNT s3
PFMERGE s3 s3 s3
GET s3
"#,
    );
    // A merge whose sparse result outgrows the limit turns dense.
    d.check(&["CONFIG", "SET", "hll-sparse-max-bytes", "300"]);
    d.check(&["PFMERGE", "m6", "s2", "s3"]);
    d.check(&["GET", "m6"]);
    d.check(&["PFCOUNT", "m6"]);
}

#[test]
fn string_encodings_and_ttl() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
PFADD h a b
GET h
OBJECT ENCODING h
EXPIRE h 1000
PFADD h c
TTL h
PFCOUNT h
TTL h
PFMERGE h other
TTL h
# An HLL written back by SET is embstr; HLL commands make it raw.
SET e "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
OBJECT ENCODING e
PFCOUNT e
OBJECT ENCODING e
SET e "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"
OBJECT ENCODING e
PFCOUNT e
OBJECT ENCODING e
SET e "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"
PFADD e
OBJECT ENCODING e
SET e "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"
PFMERGE x e
OBJECT ENCODING e
APPEND h ""
PFCOUNT h
SETRANGE h 4 "\x02"
PFCOUNT h
"#,
    );
}

#[test]
fn resp3_replies() {
    let mut d = Diff::new(&[]).resp3();
    d.script(
        r#"
PFADD h a b c
PFCOUNT h
PFCOUNT h missing
PFMERGE m h
GET m
SET s x
PFADD s a
PFCOUNT s
"#,
    );
}

/// What PFADD, PFCOUNT and PFMERGE announce: keyspace events, and changes WATCH sees
/// (a PFADD that changes no register is no change; a PFCOUNT that refreshes the
/// cached count is one).
#[test]
fn notifications_and_watch() {
    crate::support::same_on_both(&[], |s, t| {
        let (mut c1, mut c2, mut sub) = (s.conn(), s.conn(), s.conn());
        c1.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        t.cmd_frames("sub", &mut sub, &["PSUBSCRIBE", "__key*__:*"], 1);
        for (args, events) in [
            (&["PFADD", "h", "a", "b"][..], 2),
            (&["PFADD", "h", "a"], 0),
            (&["PFCOUNT", "h"], 0),
            (&["PFMERGE", "m", "h"], 2),
            (&["PFADD", "e"], 2),
        ] {
            t.cmd("c2", &mut c2, args);
            t.frames("sub", &mut sub, events);
        }
        t.silence("sub", &mut sub);
        for (change, broken) in [
            (&["PFADD", "h", "a"][..], "unchanged register"),
            (&["PFADD", "h", "zz"], "changed register"),
            (&["PFCOUNT", "h"], "refreshed count"),
            (&["PFCOUNT", "h"], "cached count"),
            (&["PFMERGE", "h"], "merge into itself"),
        ] {
            t.note(broken);
            t.watch_across(&mut c1, &mut c2, "h", change);
        }
    });
}

/// Dense HLL strings written by SET with any register values (up to 63, beyond what
/// hashing produces): counted, merged into sparse and dense keys, added to.
#[test]
fn dense_strings_written_by_clients() {
    let mut d = Diff::new(&[]);
    let dense = |fill: &dyn Fn(usize) -> u8| {
        let mut v = b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80".to_vec();
        v.extend((0..12288).map(fill));
        v
    };
    let mut x = 99u64;
    let random: Vec<u8> = (0..12288).map(|_| xorshift(&mut x) as u8).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("ones", dense(&|_| 0xff)),
        ("zeros", dense(&|_| 0)),
        ("random", dense(&|i| random[i])),
        ("sparse_bits", dense(&|i| if i % 97 == 0 { 0x41 } else { 0 })),
    ];
    for (key, value) in &cases {
        d.check(&[&b"SET"[..], key.as_bytes(), value]);
        d.check(&["PFCOUNT", key]);
        d.check(&["GET", key]);
        d.check(&["PFADD", "small", "a", "b", "c"]);
        d.check(&["PFMERGE", "small", key]);
        d.check(&["GET", "small"]);
        d.check(&["PFCOUNT", "small", key, "missing"]);
        d.check(&["PFMERGE", key, "small"]);
        d.check(&["GET", key]);
        d.check(&["PFADD", key, "x", "y", "z"]);
        d.check(&["GET", key]);
        d.check(&["DEL", "small"]);
    }
}
