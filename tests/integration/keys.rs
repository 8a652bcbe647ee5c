//! Generic key commands, differential: DEL/UNLINK/EXISTS/TYPE/RENAME/COPY/TOUCH, KEYS
//! glob patterns, SCAN (whole iterations compared as sets), RANDOMKEY, OBJECT.

use crate::support::diff::Compare;
use crate::support::help::canon_help;
use crate::support::scan::{missed_under_churn, Scan};
use crate::support::{int, Diff, ServerProcess, Value};

#[test]
fn del_exists_type_rename_copy_touch() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
MSET a 1 b 2 c 3
DEL a
DEL a
DEL b c missing b
DEL
UNLINK missing
MSET a 1 b 2
UNLINK a b a
EXISTS a
MSET a 1 b 2
EXISTS a a b missing a
EXISTS
TYPE a
TYPE missing
TYPE
TYPE a b
RENAME a x
GET x
EXISTS a
RENAME a y
RENAME missing y
RENAME x x
RENAME missing missing
GET x
SET y 9
RENAME x y
GET y
RENAME y
RENAMENX y z
RENAMENX b z
RENAMENX z z
RENAMENX missing q
SET q 1
RENAMENX z q
GET q
SET y 1 EX 1000
RENAME y ttlkey
[approx 1] TTL ttlkey
COPY ttlkey copied
[approx 1] TTL copied
GET copied
COPY ttlkey copied
COPY ttlkey copied REPLACE
COPY missing copied
COPY ttlkey ttlkey
COPY ttlkey other DB 0 REPLACE
COPY ttlkey other FOO
COPY ttlkey other DB
COPY ttlkey other DB abc
COPY ttlkey other DB 16
COPY ttlkey other DB -1
COPY ttlkey other REPLACE REPLACE
COPY ttlkey
TOUCH ttlkey copied missing ttlkey
TOUCH missing
TOUCH
SET "\x00" v
RENAME "\x00" "\xff"
GET "\xff"
[unordered] KEYS *
DBSIZE
DBSIZE extra
"#,
    );
}

#[test]
fn keys_glob_patterns() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
MSET hello 1 hallo 1 hxllo 1 hllo 1 heeeello 1 "h*llo" 1 "h?llo" 1 "h[a]llo" 1 "h\\llo" 1 a 1 ab 1 abc 1 "" 1 "-" 1 "]" 1 "^" 1
[unordered] KEYS *
[unordered] KEYS h?llo
[unordered] KEYS h*llo
[unordered] KEYS h[ae]llo
[unordered] KEYS h[^e]llo
[unordered] KEYS h[!e]llo
[unordered] KEYS h[a-b]llo
[unordered] KEYS h[b-a]llo
[unordered] KEYS "h\\*llo"
[unordered] KEYS "h\\?llo"
[unordered] KEYS "h\\[a\\]llo"
[unordered] KEYS "h\\\\llo"
[unordered] KEYS "h[\\]llo"
[unordered] KEYS h[
[unordered] KEYS h[a
[unordered] KEYS "[]"
[unordered] KEYS "[]]"
[unordered] KEYS "[^]]"
[unordered] KEYS [-]
[unordered] KEYS [a-]
[unordered] KEYS *[
[unordered] KEYS ?
[unordered] KEYS ??
[unordered] KEYS ???
[unordered] KEYS a*
[unordered] KEYS *b*
[unordered] KEYS **
[unordered] KEYS *****c
[unordered] KEYS "\\"
[unordered] KEYS ""
[unordered] KEYS nomatch*
[unordered] KEYS HELLO
KEYS
KEYS a b
"#,
    );
}

#[test]
fn scan_matches_redis_over_whole_iterations() {
    let mut d = Diff::new(&[]);
    // Enough keys that the table grows and a scan takes many calls.
    let mut mset: Vec<String> = vec!["MSET".into()];
    for i in 0..2000 {
        mset.push(format!("key:{i}"));
        mset.push(i.to_string());
        if i % 3 == 0 {
            mset.push(format!("other:{i}"));
            mset.push("x".into());
        }
    }
    d.check(&mset);
    d.scan_all(&[] as &[&str]);
    d.scan_all(&["COUNT", "7"]);
    d.scan_all(&["COUNT", "1000"]);
    d.scan_all(&["MATCH", "key:1*"]);
    d.scan_all(&["MATCH", "other:*", "COUNT", "3"]);
    d.scan_all(&["MATCH", "nomatch*"]);
    d.scan_all(&["TYPE", "string"]);
    d.scan_all(&["TYPE", "list"]);
    d.scan_all(&["TYPE", "nosuchtype"]);
    d.scan_all(&["MATCH", "key:19?", "TYPE", "string", "COUNT", "50"]);
    d.script(
        r#"
SCAN abc
[type] SCAN -1
SCAN 0 COUNT 0
SCAN 0 COUNT -1
SCAN 0 COUNT abc
SCAN 0 COUNT
SCAN 0 MATCH
SCAN 0 TYPE
SCAN 0 FOO bar
SCAN 18446744073709551616
SCAN
FLUSHALL
SCAN 0
SCAN 0 MATCH * COUNT 100
SET only v
SCAN 0
SCAN 0 MATCH nope
SCAN 0 TYPE list
"#,
    );
}

/// SCAN's guarantee: every key present for the whole iteration is returned, even while
/// keys are added and removed and the table resizes. Checked on both servers.
#[test]
fn scan_returns_every_stable_key_under_concurrent_writes() {
    for s in [ServerProcess::redis(&[]), ServerProcess::redoubt(&[])] {
        let mut c = s.conn();
        let mut w = s.conn();
        let stable: Vec<String> = (0..3000).map(|i| format!("stable:{i}")).collect();
        let mut mset: Vec<String> = vec!["MSET".into()];
        for k in &stable {
            mset.push(k.clone());
            mset.push("v".into());
        }
        assert_eq!(c.cmd(&mset), b"+OK\r\n");
        // Churn: add and delete other keys between the calls (forces rehashing).
        let churn = |round: usize| {
            for j in 0..40 {
                w.cmd(&["SET", &format!("churn:{round}:{j}"), "x"]);
            }
            if round % 2 == 1 {
                for j in 0..40 {
                    w.cmd(&["DEL", &format!("churn:{}:{j}", round - 1)]);
                }
            }
        };
        let scan = |cursor: &str| ["SCAN", cursor, "COUNT", "50"].map(String::from).to_vec();
        let missing = missed_under_churn(&mut c, scan, Scan::Members, 10_000, churn, &stable);
        let missing = missing.unwrap_or_else(|| panic!("{}: SCAN did not finish", s.flavor.name()));
        assert!(
            missing.is_empty(),
            "{}: SCAN missed {} stable keys, e.g. {:?}",
            s.flavor.name(),
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
}

#[test]
fn randomkey() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
RANDOMKEY
SET only v
RANDOMKEY
RANDOMKEY
RANDOMKEY extra
DEL only
RANDOMKEY
SET "\x00bin" v
RANDOMKEY
"#,
    );
    // With many keys: RANDOMKEY returns existing keys, and not always the same one.
    let s = ServerProcess::redoubt(&[]);
    let mut c = s.conn();
    let mut mset = vec!["MSET".to_string()];
    for i in 0..100 {
        mset.push(format!("r:{i}"));
        mset.push("v".into());
    }
    c.cmd(&mset);
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..50 {
        let k = crate::support::text(&c.val(&["RANDOMKEY"]));
        assert!(k.starts_with("r:"), "RANDOMKEY returned {k}");
        distinct.insert(k);
    }
    assert!(distinct.len() > 5, "RANDOMKEY returned only {} distinct keys in 50 calls", distinct.len());
    // An expired key is never returned.
    c.cmd(&["FLUSHALL"]);
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    c.cmd(&["SET", "gone", "v", "PX", "1"]);
    c.cmd(&["SET", "stays", "v"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    for _ in 0..20 {
        assert_eq!(c.cmd(&["RANDOMKEY"]), b"$5\r\nstays\r\n");
    }
}

#[test]
fn object_subcommands() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SET k v
OBJECT ENCODING k
OBJECT ENCODING missing
OBJECT REFCOUNT k
OBJECT REFCOUNT missing
[type] OBJECT IDLETIME k
OBJECT IDLETIME missing
OBJECT FREQ k
OBJECT FREQ missing
OBJECT HELP extra
OBJECT FOO
OBJECT FOO k
OBJECT
OBJECT ENCODING
OBJECT ENCODING k extra
CONFIG SET maxmemory-policy allkeys-lfu
[type] OBJECT FREQ k
OBJECT IDLETIME k
CONFIG SET maxmemory-policy volatile-lfu
OBJECT IDLETIME k
CONFIG SET maxmemory-policy allkeys-lru
OBJECT FREQ k
[type] OBJECT IDLETIME k
SET n 100
OBJECT REFCOUNT n
"#,
    );
    d.check_as(Compare::Canon(canon_help), &["OBJECT", "HELP"]);
    d.check_as(Compare::Canon(canon_help), &["OBJECT", "help"]);
    // IDLETIME grows while a key is not touched, and an access resets it.
    let s = ServerProcess::redoubt(&[]);
    let mut c = s.conn();
    c.cmd(&["SET", "k", "v"]);
    crate::support::wait_for("OBJECT IDLETIME to reach 1", std::time::Duration::from_secs(5), || {
        int(&c.val(&["OBJECT", "IDLETIME", "k"])) >= 1
    });
    c.cmd(&["GET", "k"]);
    assert_eq!(c.val(&["OBJECT", "IDLETIME", "k"]), Value::Int(0));
}
