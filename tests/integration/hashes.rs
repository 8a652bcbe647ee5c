//! Hash commands, differential: replies, errors and WRONGTYPE compared byte for byte
//! with redis-server, in both encodings and across conversions (OBJECT ENCODING after
//! every step), big and binary values, RESP3; the random replies of HRANDFIELD by
//! their shape; HSCAN's guarantee on a hashtable; memory for many small hashes.

use std::collections::HashSet;

use redoubt_resp::value::Value;

use crate::support::scan::{missed_under_churn, scan_elements, Scan};
use crate::support::{items, text, Diff, ServerProcess};

/// Every hash command with its errors and edge cases, on listpack-encoded hashes
/// (whose order is Redis's, so compared exactly).
const COMMANDS: &str = r#"
HSET h a 1 b 2
OBJECT ENCODING h
HSET h c
HSET h
HMSET h a
HSETNX h a 5
HSETNX h z 5
HGETALL h
HINCRBY h a 10
HINCRBY h a x
HINCRBY h a 1.5
HINCRBY h missing 9223372036854775807
HINCRBY h missing 1
HINCRBY h m2 -9223372036854775808
HINCRBY h m2 -1
HINCRBYFLOAT h f 1.5
HINCRBYFLOAT h f inf
HINCRBYFLOAT h f -inf
HINCRBYFLOAT h f nan
HINCRBYFLOAT h f abc
HINCRBYFLOAT h f ""
HINCRBYFLOAT h f " 1"
HSET h s abc
HINCRBYFLOAT h s 1
HINCRBY h s 1
HINCRBYFLOAT h missing 1
HINCRBYFLOAT h f 5.0e3
HINCRBYFLOAT h f -5001.5
HINCRBYFLOAT h g 0.1
HINCRBYFLOAT h g 0.2
HINCRBYFLOAT h big 9223372036854775807
HINCRBYFLOAT h big 1
HINCRBYFLOAT h tiny 1e-300
HGETALL h
HSTRLEN h f
HSTRLEN h a
HSTRLEN h missing
HSTRLEN h m2
HSTRLEN nokey a
HGET h a
HGET h nope
HGET nokey a
HMGET h a nope f
HMGET nokey a b
HEXISTS h a
HEXISTS h nope
HEXISTS nokey a
HLEN h
HLEN nokey
HDEL h a nope a
HDEL nokey a
HKEYS h
HVALS h
HGETALL nokey
HKEYS nokey
HVALS nokey
HSET h2 a 1 b 2 c 3
HDEL h2 a b c
EXISTS h2
HSET h3 z 1 y 2 x 3
HSET h3 y 20
HDEL h3 z
HSET h3 z 9
HGETALL h3
HRANDFIELD h3 10
HRANDFIELD h3 10 withvalues
HRANDFIELD h3 3 WITHVALUES
HRANDFIELD nokey
HRANDFIELD nokey 5
HRANDFIELD nokey 5 WITHVALUES
HRANDFIELD h3 0
HRANDFIELD h3 0 WITHVALUES
HRANDFIELD h3 -1 x
HRANDFIELD h3 1 withvalues x
HRANDFIELD h3 x
HRANDFIELD h3 1.5
HRANDFIELD nokey x
HRANDFIELD nokey 1 foo
HRANDFIELD h3 -9223372036854775808
HRANDFIELD h3 -4611686018427387904 WITHVALUES
HRANDFIELD h3 4611686018427387904 WITHVALUES
HRANDFIELD h3 4611686018427387903 WITHVALUES
HSCAN h3 0
HSCAN h3 0 MATCH z*
HSCAN h3 0 match ?
HSCAN h3 0 COUNT 1
HSCAN h3 0 COUNT 0
HSCAN h3 0 COUNT -1
HSCAN h3 0 COUNT x
HSCAN nokey 0 COUNT 0
HSCAN h3 0 MATCH
HSCAN h3 5
HSCAN h3 -1
HSCAN h3 18446744073709551615
HSCAN h3 18446744073709551616
HSCAN h3 x
HSCAN h3 0 TYPE string
HSET e "" ""
HGET e ""
HGETALL e
HSTRLEN e ""
HEXISTS e ""
HSET bin "\x00\xff" "\r\n" "\xc5" "\x80"
HGETALL bin
HGET bin "\xc5"
HSET ints 0 63 64 -1 -128 127 128 -32769 8388608 2147483648 9223372036854775807 -9223372036854775808
HGETALL ints
HSTRLEN ints -9223372036854775808
HSET ints 0 007 64 -0 -1 +1
HGETALL ints
DEBUG DIGEST-VALUE h h3 e bin ints
"#;

#[test]
fn hash_commands_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(COMMANDS);
}

#[test]
fn hash_commands_match_redis_in_resp3() {
    let mut d = Diff::new(&[]).resp3();
    d.script(COMMANDS);
}

#[test]
fn wrong_types() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SET str x
SADD set 1
HGET str a
HSET str a 1
HMSET str a 1
HSETNX str a 1
HMGET str a
HGETALL str
HKEYS str
HVALS str
HLEN str
HDEL str a
HINCRBY str a 1
HINCRBY str a x
HINCRBYFLOAT str a 1
HINCRBYFLOAT str a x
HINCRBYFLOAT str a inf
HSTRLEN str a
HEXISTS str a
HRANDFIELD str
HRANDFIELD str 1
HRANDFIELD str x
HRANDFIELD str 1 foo
HSCAN str 0
HSCAN str x
HSCAN str 0 COUNT 0
HGET set a
HSET set a 1
GET str
TYPE set
"#,
    );
}

#[test]
fn encodings_follow_redis_conversions() {
    let mut d = Diff::new(&["--hash-max-listpack-entries", "3", "--hash-max-listpack-value", "8"]);
    d.script(
        r#"
[pairs] CONFIG GET hash-max-listpack-*
CONFIG GET hash-max-ziplist-entries
HSET h a 1 b 2 c 3
OBJECT ENCODING h
HSET h a 10
OBJECT ENCODING h
HSET h d 4
OBJECT ENCODING h
HDEL h a b c
OBJECT ENCODING h
HGETALL h
HSET h2 a 12345678
OBJECT ENCODING h2
HSET h2 b 123456789
OBJECT ENCODING h2
HSET h3 a 1 a 2 a 3 a 4
OBJECT ENCODING h3
HINCRBY h4 aaaaaaaaa 1
OBJECT ENCODING h4
HINCRBYFLOAT h5 a 1.5
HINCRBYFLOAT h5 a 0.00001
OBJECT ENCODING h5
HINCRBYFLOAT h5 a 100000000
OBJECT ENCODING h5
HGET h5 a
HSETNX h6 aaaaaaaaa 1
OBJECT ENCODING h6
HSET h7 a 1
HSETNX h7 a aaaaaaaaaaaaaaaa
OBJECT ENCODING h7
HSET h8 a 1 b 2 c 3
HSETNX h8 d 4
OBJECT ENCODING h8
HSET h9 a 1
HINCRBY h9 a 99999999
OBJECT ENCODING h9
HINCRBY h9 a 1
OBJECT ENCODING h9
HSET h10 x 1 y 2
HSET h10 z 3 w aaaaaaaaaaaa
OBJECT ENCODING h10
HMSET h11 a 1 b aaaaaaaaaaaaaa
OBJECT ENCODING h11
CONFIG SET hash-max-ziplist-entries 0
HSET h12 a 1
OBJECT ENCODING h12
CONFIG SET hash-max-listpack-entries 512
CONFIG SET hash-max-listpack-value 64
HSET h13 a 1
OBJECT ENCODING h13
[pairs] HGETALL h
[pairs] HGETALL h4
[unordered] HKEYS h10
[unordered] HVALS h10
HLEN h10
HGET h10 w
HMGET h10 x nope w
DEBUG DIGEST
"#,
    );
}

/// A hashtable-encoded hash (compared as pairs, since its order is a dict's), with
/// large and binary values, and its HSCAN iteration.
#[test]
fn big_hashes_and_values() {
    let mut d = Diff::new(&[]);
    let mut hset: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"big".to_vec()];
    for i in 0..1000u32 {
        hset.push(format!("field:{i}").into_bytes());
        hset.push(match i % 4 {
            0 => i.to_string().into_bytes(),
            1 => vec![(i % 251) as u8; (i % 90) as usize],
            2 => format!("-{}", i as u64 * 1_000_003).into_bytes(),
            _ => format!("value {i}\r\n\x00").into_bytes(),
        });
    }
    d.check(&hset);
    // The longest float text Redis reads is 5119 bytes.
    for len in [5119, 5120] {
        let incr = format!("{}1", "0".repeat(len - 1));
        d.check(&["HINCRBYFLOAT", "floats", "f", &incr]);
    }
    let huge = vec![b'v'; 200_000];
    d.check(&[b"HSET".as_slice(), b"lp", b"small", b"1"]);
    d.check(&[b"HSET".as_slice(), b"lp", b"huge", &huge]);
    d.check(&[b"HSET".as_slice(), b"huge-field", &huge, b"1"]);
    d.script(
        r#"
OBJECT ENCODING big
OBJECT ENCODING lp
OBJECT ENCODING huge-field
HLEN big
HSTRLEN lp huge
HGET big field:999
HGET big field:1
HMGET big field:0 field:2 nope
HEXISTS big field:500
HINCRBY big field:0 5
HINCRBY big field:2 -5
HINCRBY big field:1 1
HINCRBYFLOAT big field:4 2.5
HINCRBYFLOAT big field:3 1
HDEL big field:10 field:11 nope
HLEN big
[pairs] HGETALL big
[unordered] HKEYS big
[unordered] HVALS big
[pairs] HGETALL lp
[pairs] HGETALL huge-field
DEBUG DIGEST-VALUE big lp huge-field floats
DEBUG DIGEST
"#,
    );
    for (cmd, key) in [("HSCAN", "big"), ("HSCAN", "lp")] {
        for extra in [&[][..], &["COUNT", "7"][..], &["MATCH", "field:1*"][..], &["COUNT", "100", "MATCH", "*9"][..]] {
            let (a, b) = {
                let (ca, cb) = d.conns();
                (scan_elements(ca, cmd, key, extra, Scan::Pairs), scan_elements(cb, cmd, key, extra, Scan::Pairs))
            };
            assert_eq!(a, b, "{cmd} {key} {extra:?}: whole iterations differ");
        }
    }
    // Deleting every field deletes the key.
    let mut hdel: Vec<String> = vec!["HDEL".into(), "big".into()];
    hdel.extend((0..1000).map(|i| format!("field:{i}")));
    d.check(&hdel);
    d.check(&["EXISTS", "big"]);
}

/// HSCAN's guarantee on a hashtable: every field present for the whole iteration is
/// returned, while other fields are added and removed (the table grows and shrinks).
#[test]
fn hscan_returns_every_stable_field_under_writes() {
    let s = ServerProcess::redoubt(&[]);
    let (mut c, mut w) = (s.conn(), s.conn());
    let stable: Vec<String> = (0..2000).map(|i| format!("stable:{i}")).collect();
    let mut hset = vec!["HSET".to_string(), "h".to_string()];
    for f in &stable {
        hset.push(f.clone());
        hset.push("v".into());
    }
    c.cmd(&hset);
    let churn = |round: usize| {
        for j in 0..50 {
            w.cmd(&["HSET", "h", &format!("churn:{round}:{j}"), "x"]);
        }
        if round % 2 == 1 {
            let mut del = vec!["HDEL".to_string(), "h".to_string()];
            del.extend((0..50).map(|j| format!("churn:{}:{j}", round - 1)));
            w.cmd(&del);
        }
    };
    let hscan = |cursor: &str| ["HSCAN", "h", cursor, "COUNT", "40"].map(String::from).to_vec();
    let missing = missed_under_churn(&mut c, hscan, Scan::Pairs, 100_000, churn, &stable);
    let missing = missing.expect("HSCAN never finished");
    assert!(
        missing.is_empty(),
        "HSCAN missed {} stable fields, e.g. {:?}",
        missing.len(),
        &missing[..5.min(missing.len())]
    );
}

/// HRANDFIELD's random replies, checked by their shape on both servers: counts,
/// distinctness, membership, values matching their fields.
#[test]
fn hrandfield_semantics() {
    for s in [ServerProcess::redis(&[]), ServerProcess::redoubt(&[])] {
        let name = s.flavor.name();
        for resp3 in [false, true] {
            let mut c = if resp3 { s.conn3() } else { s.conn() };
            c.cmd(&["DEL", "small", "large"]);
            let mut small = vec!["HSET".to_string(), "small".into()];
            let mut large = vec!["HSET".to_string(), "large".into()];
            for i in 0..600 {
                if i < 5 {
                    small.extend([format!("f{i}"), format!("v{i}")]);
                }
                large.extend([format!("f{i}"), format!("v{i}")]);
            }
            c.cmd(&small);
            c.cmd(&large);
            for key in ["small", "large"] {
                let size = if key == "small" { 5 } else { 600 };
                for count in [-1000i64, -3, -1, 1, 2, 4, 5, 7, 250, 599, 600, 1000] {
                    for withvalues in [false, true] {
                        let mut args = vec!["HRANDFIELD".to_string(), key.into(), count.to_string()];
                        if withvalues {
                            args.push("WITHVALUES".into());
                        }
                        let reply = c.val(&args);
                        let pairs = fields_and_values(&reply, withvalues, resp3);
                        let want = if count < 0 { count.unsigned_abs() as usize } else { (count as usize).min(size) };
                        assert_eq!(pairs.len(), want, "{name} {args:?}");
                        for (f, v) in &pairs {
                            let i: usize = f[1..].parse().unwrap_or(usize::MAX);
                            assert!(i < size, "{name} {args:?}: {f} is not a field");
                            if let Some(v) = v {
                                assert_eq!(v, &format!("v{i}"), "{name} {args:?}");
                            }
                        }
                        let distinct: HashSet<_> = pairs.iter().map(|p| &p.0).collect();
                        if count > 0 {
                            assert_eq!(distinct.len(), pairs.len(), "{name} {args:?}: repeats");
                        } else if count <= -1000 {
                            assert!(distinct.len() > size.min(3), "{name} {args:?}: not random");
                        }
                    }
                }
            }
            let single = text(&c.val(&["HRANDFIELD", "large"]));
            assert!(single.starts_with('f'), "{name}: {single}");
        }
    }
}

/// Fields (and values) of an HRANDFIELD reply in any protocol shape.
fn fields_and_values(reply: &Value, withvalues: bool, resp3: bool) -> Vec<(String, Option<String>)> {
    let all = items(reply);
    match (withvalues, resp3) {
        (false, _) => all.iter().map(|f| (text(f), None)).collect(),
        (true, false) => all.chunks(2).map(|p| (text(&p[0]), Some(text(&p[1])))).collect(),
        (true, true) => all
            .iter()
            .map(|p| {
                let p = items(p);
                (text(&p[0]), Some(text(&p[1])))
            })
            .collect(),
    }
}

/// Resident memory of the process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// Loads `n` hashes of 10 small fields (`HSET hash:<i> field:<f> value:<i>:<f> ...`),
/// pipelined, and returns the growth of the server's RSS.
fn rss_growth_for_hashes(s: &ServerProcess, n: usize) -> u64 {
    let pid = s.pid().expect("server pid");
    let mut c = s.conn();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = rss_bytes(pid);
    const BATCH: usize = 1000;
    for start in (0..n).step_by(BATCH) {
        let mut bytes = Vec::new();
        for i in start..(start + BATCH).min(n) {
            let mut args = vec!["HSET".to_string(), format!("hash:{i}")];
            for f in 0..10 {
                args.push(format!("field:{f}"));
                args.push(format!("value:{i:08}:{f}"));
            }
            bytes.extend(crate::support::conn::encode(&args));
        }
        c.send_raw(&bytes);
        for _ in start..(start + BATCH).min(n) {
            assert_eq!(c.read(), b":10\r\n");
        }
    }
    assert_eq!(c.cmd(&["DBSIZE"]), format!(":{n}\r\n").into_bytes());
    std::thread::sleep(std::time::Duration::from_millis(500));
    rss_bytes(pid).saturating_sub(before)
}

/// The issue's target: 100,000 hashes of 10 small fields take no more memory in
/// Redoubt than in Redis (RSS growth of each process while loading them).
#[test]
fn small_hashes_take_less_memory_than_redis() {
    const N: usize = 100_000;
    let redoubt = rss_growth_for_hashes(&ServerProcess::redoubt(&[]), N);
    let redis = rss_growth_for_hashes(&ServerProcess::redis(&[]), N);
    let ratio = redoubt as f64 / redis as f64;
    eprintln!(
        "100,000 hashes of 10 fields: redoubt {} B/hash, redis {} B/hash, ratio {ratio:.3}",
        redoubt / N as u64,
        redis / N as u64
    );
    assert!(ratio <= 1.0, "Redoubt uses {ratio:.3}x Redis's memory for small hashes");
}
