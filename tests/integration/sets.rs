//! Set commands, differential: replies, errors and WRONGTYPE compared byte for byte
//! with redis-server (intsets answer in sorted order, so most replies are exact; a
//! hashtable's order is its own and is compared unordered), encodings across
//! conversions and set operations, RESP3; SPOP and SRANDMEMBER by the shape of their
//! random replies; SSCAN's guarantee; DEBUG DIGEST of a dataset of hashes and sets.

use std::collections::HashSet;

use crate::support::scan::{missed_under_churn, scan_elements, Scan};
use crate::support::{items, text, Diff, ServerProcess, Value};

/// Every set command with its errors and edge cases, mostly on intsets (whose order is
/// Redis's, so compared exactly).
const COMMANDS: &str = r#"
SET str x
SADD s 3 1 2 -5 100000 70000000000
OBJECT ENCODING s
SMEMBERS s
SADD s
SADD s2 a 1
OBJECT ENCODING s2
SADD s3 -0
OBJECT ENCODING s3
SADD s4 1
SADD s4 01
OBJECT ENCODING s4
SPOP s -1
SPOP s 0
SPOP s x
SPOP s 1.5
SPOP s 9223372036854775808
SPOP missing 0
SPOP missing
SPOP s 1 2
SRANDMEMBER s 0
SRANDMEMBER s a
SRANDMEMBER missing 5
SRANDMEMBER missing -5
SRANDMEMBER missing
SRANDMEMBER s 1 2
SPOP missing -1
SRANDMEMBER s -9223372036854775808
SRANDMEMBER s 9223372036854775807
SRANDMEMBER s 100
SRANDMEMBER s 6
SADD t 2 3 4
SINTER s t
SINTER t s
SINTER s missing t
SINTER s
SINTER s s
SUNION s t
SUNION missing
SUNION s missing t s
SDIFF s t
SDIFF t s
SDIFF s s
SDIFF s t s
SDIFF missing s
SDIFF s missing
SINTERSTORE d s t
SMEMBERS d
OBJECT ENCODING d
SUNIONSTORE d s t
SMEMBERS d
SDIFFSTORE d s t
SMEMBERS d
SDIFFSTORE d t t
EXISTS d
SINTERCARD 1 s
SINTERCARD 2 s t
SINTERCARD 0 s
SINTERCARD -1 s
SINTERCARD 2 s
SINTERCARD 3 s t
SINTERCARD a s
SINTERCARD 2 s t LIMIT
SINTERCARD 2 s t LIMIT -1
SINTERCARD 2 s t LIMIT 1
SINTERCARD 2 s t LIMIT 0
SINTERCARD 2 s t LIMIT 100
SINTERCARD 2 s t limit 1 limit 5
SINTERCARD 2 s t foo 1
SINTERCARD 2 s missing
SINTERCARD 2147483648 s
SINTERCARD 9223372036854775807 s
SINTERCARD 2 s s LIMIT abc
SINTERCARD 1 s LIMIT 9223372036854775808
SINTERCARD 1 s LIMIT 2 junk
SINTERCARD 1 s junk
SMOVE s t 1
SMOVE s t 9
SMOVE s s 2
SMOVE s s 9
SMOVE missing t 1
SMOVE s fresh 2
SMEMBERS s
SMEMBERS t
SMEMBERS fresh
OBJECT ENCODING fresh
SMOVE t fresh2 a
SADD t a
SMOVE t fresh2 a
OBJECT ENCODING fresh2
OBJECT ENCODING t
SISMEMBER s 3
SISMEMBER s 9
SISMEMBER s 03
SISMEMBER missing 1
SMISMEMBER s 3 9 3
SMISMEMBER missing 1 2
SMISMEMBER s
SCARD s
SCARD missing
SREM s 3 9 -5
SREM missing 1
SREM s
SMEMBERS s
SSCAN missing 0 COUNT 0
SSCAN s 0 COUNT 0
SSCAN s x
SSCAN s 0 MATCH
SSCAN s 0 MATCH 1*
SSCAN s 5
SSCAN s -1
SSCAN s 0 COUNT 1
SSCAN s 0 TYPE string
SADD big 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16
SINTER big s
SUNION s big
SDIFF big s
SDIFFSTORE dd big s
OBJECT ENCODING dd
SMEMBERS dd
SREM dd 2 4 6 7 8 9 10 11 12 13 14 15 16 1
EXISTS dd
SADD e ""
SMEMBERS e
SISMEMBER e ""
SADD bin "\x00\xff" "a\r\nb"
[unordered] SMEMBERS bin
SREM bin "\x00\xff" "a\r\nb"
EXISTS bin
SADD wide 1 -32768 32767 32768 -2147483648 2147483647 2147483648 -9223372036854775808 9223372036854775807
SMEMBERS wide
SREM wide 2147483648 -9223372036854775808 9223372036854775807
SMEMBERS wide
SISMEMBER wide 9223372036854775808
SPOP one 5
SADD one 5
SPOP one 5
EXISTS one
SADD one 5
SPOP one
EXISTS one
DEBUG DIGEST-VALUE s t big wide fresh2
"#;

#[test]
fn set_commands_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(COMMANDS);
}

#[test]
fn set_commands_match_redis_in_resp3() {
    let mut d = Diff::new(&[]).resp3();
    d.script(COMMANDS);
}

#[test]
fn wrong_types() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SET str x
SADD s 1 2
HSET h a 1
SADD str 1
SREM str 1
SMEMBERS str
SISMEMBER str 1
SMISMEMBER str 1
SCARD str
SPOP str
SPOP str 0
SPOP str -1
SPOP str x
SRANDMEMBER str
SRANDMEMBER str 0
SRANDMEMBER str -1
SRANDMEMBER str x
SINTER missing str
SINTER str missing
SINTER s str
SINTER s h
SUNION s str
SUNION missing str
SDIFF missing str
SDIFF str
SDIFF s h
SINTERSTORE d missing str
SINTERSTORE d s h
SUNIONSTORE d s str
SDIFFSTORE d s str
EXISTS d
SINTERSTORE str s s
TYPE str
SET str x
SUNIONSTORE str s
TYPE str
SET str x
SDIFFSTORE str s
TYPE str
SET str x
SINTERCARD 2 s str
SINTERCARD 2 missing str
SINTERCARD 1 str
SMOVE s str 2
SMOVE str s 2
SMOVE missing str 2
SMOVE s str 9
SMOVE str str 1
SMOVE s h 1
SSCAN str 0
SSCAN str x
SSCAN str 0 COUNT 0
"#,
    );
}

#[test]
fn encodings_follow_redis_conversions() {
    let mut d = Diff::new(&["--set-max-intset-entries", "4"]);
    d.script(
        r#"
CONFIG GET set-max-intset-entries
SADD a 1 2 3 4
OBJECT ENCODING a
SADD a 5
OBJECT ENCODING a
SREM a 5 4 3 2
OBJECT ENCODING a
SADD b 1 2 3 4 5 6 7 8
OBJECT ENCODING b
SADD c 1 2 3 4 5 6 7 8 9 10
SADD d 9 10
SDIFFSTORE r c d
OBJECT ENCODING r
SADD e 3 4 5 6 7 8 9 10
SDIFFSTORE r2 c e
OBJECT ENCODING r2
SMEMBERS r2
SDIFFSTORE r3 c e d
OBJECT ENCODING r3
SINTERSTORE r4 c e
OBJECT ENCODING r4
SINTERSTORE r5 c d
OBJECT ENCODING r5
SMEMBERS r5
SUNIONSTORE r6 d
OBJECT ENCODING r6
SUNIONSTORE r7 c
OBJECT ENCODING r7
SADD f a
SUNIONSTORE r8 d f
OBJECT ENCODING r8
SDIFFSTORE r9 f d
OBJECT ENCODING r9
SDIFFSTORE r10 c c
EXISTS r10
SDIFFSTORE r10 c missing c
EXISTS r10
[unordered] SDIFF c d e
SDIFF d c
# Redis picks its SDIFF algorithm by estimated work; the choice shows in the result's
# encoding (the second one starts from a copy of the first set).
SADD c2 a 1 2
SADD d2 a
SDIFFSTORE r11 c2 d2 d2 d2 d2 d2
OBJECT ENCODING r11
SDIFFSTORE r12 c2 d2 d2 d2 d2
OBJECT ENCODING r12
SPOP r6 5
EXISTS r6
SMOVE b fresh 1
OBJECT ENCODING fresh
SMOVE b fresh3 1
SMOVE f fresh3 a
OBJECT ENCODING fresh3
CONFIG SET set-max-intset-entries 0
SADD z 1
OBJECT ENCODING z
CONFIG SET set-max-intset-entries 512
SADD z2 1
OBJECT ENCODING z2
[unordered] SMEMBERS c
SCARD c
DEBUG DIGEST
"#,
    );
}

/// Hashtable-encoded sets (compared unordered), big members, SSCAN iterations, and
/// deleting every member.
#[test]
fn big_sets_and_members() {
    let mut d = Diff::new(&[]);
    let mut sadd: Vec<Vec<u8>> = vec![b"SADD".to_vec(), b"big".to_vec()];
    for i in 0..2000u32 {
        sadd.push(match i % 3 {
            0 => i.to_string().into_bytes(),
            1 => format!("member:{i}").into_bytes(),
            _ => vec![(i % 251) as u8; (i % 70) as usize + 1],
        });
    }
    d.check(&sadd);
    let mut ints: Vec<String> = vec!["SADD".into(), "ints".into()];
    ints.extend((0..600).map(|i| (i * 7).to_string()));
    d.check(&ints);
    let huge = vec![b'm'; 300_000];
    d.check(&[b"SADD".as_slice(), b"huge", &huge, b"1"]);
    d.script(
        r#"
OBJECT ENCODING big
OBJECT ENCODING ints
OBJECT ENCODING huge
SCARD big
SCARD ints
SISMEMBER big member:1
SISMEMBER big 3
SISMEMBER big 4
SMISMEMBER ints 0 7 8 4193
[unordered] SMEMBERS ints
[unordered] SMEMBERS huge
[unordered] SINTER big ints
[unordered] SINTER ints big
SINTERCARD 2 big ints
SINTERCARD 2 big ints LIMIT 10
[unordered] SUNION ints huge
[unordered] SDIFF ints big
SDIFFSTORE dst ints big
OBJECT ENCODING dst
SINTERSTORE dst2 ints big
OBJECT ENCODING dst2
SUNIONSTORE dst3 ints
OBJECT ENCODING dst3
[unordered] SMEMBERS dst2
DEBUG DIGEST-VALUE big ints huge dst dst2 dst3
DEBUG DIGEST
"#,
    );
    d.check_as(crate::support::diff::Compare::Unordered, &[b"SMEMBERS".as_slice(), b"big"]);
    for key in ["big", "ints", "huge"] {
        for extra in [&[][..], &["COUNT", "3"][..], &["MATCH", "member:1*"][..], &["COUNT", "1000", "MATCH", "*5"][..]]
        {
            let (a, b) = {
                let (ca, cb) = d.conns();
                (
                    scan_elements(ca, "SSCAN", key, extra, Scan::Members),
                    scan_elements(cb, "SSCAN", key, extra, Scan::Members),
                )
            };
            assert_eq!(a, b, "SSCAN {key} {extra:?}: whole iterations differ");
        }
    }
    let mut srem: Vec<Vec<u8>> = vec![b"SREM".to_vec(), b"big".to_vec()];
    srem.extend(sadd[2..].iter().cloned());
    d.check(&srem);
    d.check(&["EXISTS", "big"]);
}

/// SSCAN's guarantee on a hashtable: every member present for the whole iteration is
/// returned while other members come and go (the table grows and shrinks).
#[test]
fn sscan_returns_every_stable_member_under_writes() {
    let s = ServerProcess::redoubt(&[]);
    let (mut c, mut w) = (s.conn(), s.conn());
    let stable: Vec<String> = (0..2000).map(|i| format!("stable:{i}")).collect();
    let mut sadd = vec!["SADD".to_string(), "s".to_string()];
    sadd.extend(stable.iter().cloned());
    c.cmd(&sadd);
    let churn = |round: usize| {
        let mut add = vec!["SADD".to_string(), "s".to_string()];
        add.extend((0..60).map(|j| format!("churn:{round}:{j}")));
        w.cmd(&add);
        if round % 2 == 1 {
            let mut del = vec!["SREM".to_string(), "s".to_string()];
            del.extend((0..60).map(|j| format!("churn:{}:{j}", round - 1)));
            w.cmd(&del);
        }
    };
    let sscan = |cursor: &str| ["SSCAN", "s", cursor, "COUNT", "30"].map(String::from).to_vec();
    let missing = missed_under_churn(&mut c, sscan, Scan::Members, 100_000, churn, &stable);
    let missing = missing.expect("SSCAN never finished");
    assert!(
        missing.is_empty(),
        "SSCAN missed {} stable members, e.g. {:?}",
        missing.len(),
        &missing[..5.min(missing.len())]
    );
}

fn members_of(v: &Value) -> Vec<String> {
    items(v).iter().map(text).collect()
}

/// SRANDMEMBER and SPOP: counts, distinctness, membership and what is left, on both
/// servers and both encodings (their choices are random, so only their shape can be
/// compared).
#[test]
fn spop_and_srandmember_semantics() {
    for s in [ServerProcess::redis(&[]), ServerProcess::redoubt(&[])] {
        let name = s.flavor.name();
        let mut c = s.conn();
        for (key, size, strings) in [("ints", 40usize, false), ("strs", 40, true), ("large", 2000, true)] {
            let member = |i: usize| if strings { format!("m{i}") } else { i.to_string() };
            let all: HashSet<String> = (0..size).map(member).collect();
            let mut sadd = vec!["SADD".to_string(), key.into()];
            sadd.extend(all.iter().cloned());
            c.cmd(&sadd);
            for count in [-100i64, -1, 1, 2, 13, 14, 39, 40, 41, 1999, 5000] {
                let got = members_of(&c.val(&["SRANDMEMBER", key, &count.to_string()]));
                let want = if count < 0 { count.unsigned_abs() as usize } else { (count as usize).min(size) };
                assert_eq!(got.len(), want, "{name} SRANDMEMBER {key} {count}");
                assert!(got.iter().all(|m| all.contains(m)), "{name} SRANDMEMBER {key} {count}: not a member");
                let distinct: HashSet<_> = got.iter().collect();
                if count > 0 {
                    assert_eq!(distinct.len(), got.len(), "{name} SRANDMEMBER {key} {count}: repeats");
                }
            }
            // SPOP in all three of Redis's strategies, then the rest at once.
            let mut left = all.clone();
            for count in [1usize, size / 10, size / 2, size / 3] {
                let popped = members_of(&c.val(&["SPOP", key, &count.to_string()]));
                assert_eq!(popped.len(), count, "{name} SPOP {key} {count}");
                for m in &popped {
                    assert!(left.remove(m), "{name} SPOP {key} {count}: {m} popped twice or never there");
                }
                let scard = crate::support::int(&c.val(&["SCARD", key]));
                assert_eq!(scard as usize, left.len(), "{name} SCARD after SPOP {count}");
                let now: HashSet<String> = members_of(&c.val(&["SMEMBERS", key])).into_iter().collect();
                assert_eq!(now, left, "{name} {key}: members after SPOP {count}");
            }
            let one = text(&c.val(&["SPOP", key]));
            assert!(left.remove(&one), "{name} SPOP {key}: {one}");
            let rest = members_of(&c.val(&["SPOP", key, "100000"]));
            assert_eq!(rest.into_iter().collect::<HashSet<_>>(), left, "{name} {key}: the final SPOP");
            assert_eq!(c.cmd(&["EXISTS", key]), b":0\r\n", "{name} {key} still exists");
        }
    }
}

/// DEBUG DIGEST over a mixed dataset — strings, hashes and sets in both encodings,
/// with and without TTLs, in several databases — equals Redis's.
#[test]
fn digest_of_hashes_and_sets_matches_redis() {
    let mut d = Diff::new(&[]);
    for db in [0, 2, 9] {
        d.check(&["SELECT", &db.to_string()]);
        for i in 0..60u32 {
            let mut hset = vec![b"HSET".to_vec(), format!("hash:{i}").into_bytes()];
            for f in 0..(i % 7 + 1) {
                hset.push(format!("f{f}").into_bytes());
                hset.push(match f % 3 {
                    0 => (i * 31 + f).to_string().into_bytes(),
                    1 => format!("v{i}.{f}").into_bytes(),
                    _ => vec![(i + f) as u8; (f * 5) as usize],
                });
            }
            d.check(&hset);
            let mut sadd = vec![b"SADD".to_vec(), format!("set:{i}").into_bytes()];
            for m in 0..(i % 9 + 1) {
                sadd.push(if i % 2 == 0 {
                    (m as i64 * 1_000_003 - 5).to_string().into_bytes()
                } else {
                    format!("m{m}").into_bytes()
                });
            }
            d.check(&sadd);
        }
        let mut big_hash: Vec<String> = vec!["HSET".into(), "bighash".into()];
        let mut big_set: Vec<String> = vec!["SADD".into(), "bigset".into()];
        for i in 0..700 {
            big_hash.extend([format!("field{i}"), i.to_string()]);
            big_set.push(i.to_string());
        }
        d.check(&big_hash);
        d.check(&big_set);
        d.check(&["SET", "plain", "string"]);
        d.check(&["PEXPIREAT", "hash:3", "4102444800000"]);
        d.check(&["PEXPIREAT", "set:4", "4102444800000"]);
        d.check(&["PEXPIREAT", "bigset", "4102444800000"]);
    }
    d.script(
        r#"
SELECT 0
DEBUG DIGEST
DEBUG DIGEST-VALUE hash:0 hash:1 hash:2 hash:3 set:0 set:1 set:4 bighash bigset plain
OBJECT ENCODING bighash
OBJECT ENCODING bigset
HDEL hash:6 f0
SREM set:8 -5
HINCRBY bighash field1 1
SMOVE bigset set:8 699
DEBUG DIGEST
SPOP set:0 100
HDEL hash:0 f0
DEBUG DIGEST
"#,
    );
}
