//! List commands, differential: every reply compared byte for byte with redis-server —
//! errors and their precedence, WRONGTYPE, negative indexes, counts, empty results, the
//! RESP2/RESP3 nulls — on small lists and on lists of many nodes (every
//! `list-max-listpack-size`), with DEBUG DIGEST-VALUE after the edits; the keyspace
//! events of each command; and the memory a long list takes next to Redis's.

use std::time::Duration;

use crate::support::{esc, info_field, same_on_both, to_value, Conn, Diff, ServerProcess, Transcript, Value};

/// Pushes, pops (with and without counts) and reads, with their errors.
const PUSH_POP: &str = r#"
RPUSH l a b c
LPUSH l z y
LRANGE l 0 -1
LLEN l
OBJECT ENCODING l
RPUSHX l d
LPUSHX l x
LPUSHX nokey a
RPUSHX nokey a
EXISTS nokey
LPOP l
RPOP l
LPOP l 2
RPOP l 2
LRANGE l 0 -1
LPOP l 0
RPOP l 0
LPOP l 10
EXISTS l
LPOP l
LPOP l 1
LPOP l 0
RPOP nokey
RPOP nokey 3
LPOP l -1
LPOP l abc
LPOP l 1.5
LPOP nokey abc
LPOP l 1 2
RPOP l 1 2 3
LPUSH
LPUSH l
LLEN nokey
RPUSH n 1 -1 0 127 128 -4096 4095 4096 32767 -32768 8388607 -8388608 2147483647 -2147483648 9223372036854775807 -9223372036854775808
LRANGE n 0 -1
RPUSH n 01 +1 -0 " 1" 1.0 1e3 9223372036854775808 -9223372036854775809 ""
LRANGE n 0 -1
RPOP n 3
LPOP n 3
RPUSH e ""
LRANGE e 0 -1
LPOP e
EXISTS e
RPUSH bin "\x00\xff\r\n" "a\x00b"
LRANGE bin 0 -1
"#;

/// LRANGE and LINDEX at every kind of index.
const INDEXES: &str = r#"
RPUSH l 0 1 2 3 4 5 6 7 8 9
LRANGE l 0 0
LRANGE l -1 -1
LRANGE l -3 -1
LRANGE l -100 2
LRANGE l 8 100
LRANGE l 5 4
LRANGE l 10 20
LRANGE l -100 -50
LRANGE l 3 -4
LRANGE l 3 -8
LRANGE l 0 9223372036854775807
LRANGE l -9223372036854775808 9223372036854775807
LRANGE l 9223372036854775807 -9223372036854775808
LRANGE l a 1
LRANGE l 1 b
LRANGE l 1.5 2
LRANGE nokey 0 -1
LRANGE nokey a b
LINDEX l 0
LINDEX l -1
LINDEX l 9
LINDEX l 10
LINDEX l -10
LINDEX l -11
LINDEX l 9223372036854775807
LINDEX l -9223372036854775808
LINDEX l x
LINDEX nokey 0
LINDEX nokey x
"#;

/// LSET, LINSERT, LREM, LTRIM, LPOS.
const EDITS: &str = r#"
RPUSH l a b c a b c a
LSET l 0 A
LSET l -1 Z
LSET l 7 x
LSET l -8 x
LSET l x y
LSET nokey 0 x
LSET nokey x y
LRANGE l 0 -1
LINSERT l BEFORE b B1
LINSERT l after b B2
LINSERT l before nothere x
LINSERT l middle b x
LINSERT nokey before a x
LINSERT nokey middle a x
LRANGE l 0 -1
LREM l 0 c
LREM l 1 b
LREM l -1 B2
LREM l 5 zz
LREM l x a
LREM nokey 1 a
LRANGE l 0 -1
LREM l 0 A
LREM l 0 Z
LREM l 0 B1
LRANGE l 0 -1
LREM l 0 a
EXISTS l
RPUSH l 1 2 3 1 2 3 1
LREM l -2 1
LRANGE l 0 -1
LREM l 2 2
LRANGE l 0 -1
RPUSH t 0 1 2 3 4 5 6 7 8 9
LTRIM t 1 -2
LRANGE t 0 -1
LTRIM t -3 100
LRANGE t 0 -1
LTRIM t 0 -1
LRANGE t 0 -1
LTRIM t 1 0
EXISTS t
LTRIM t 0 1
LTRIM t a 1
LTRIM nokey 0 1
RPUSH t2 a b c
LTRIM t2 5 10
EXISTS t2
RPUSH t3 a b c
LTRIM t3 -100 -4
EXISTS t3
RPUSH p a b c a b c a
LPOS p a
LPOS p a RANK 2
LPOS p a RANK -1
LPOS p a RANK -2
LPOS p a RANK 4
LPOS p a RANK -9223372036854775807
LPOS p a RANK 9223372036854775807
LPOS p a COUNT 0
LPOS p a COUNT 2
LPOS p a RANK 2 COUNT 0
LPOS p a RANK -1 COUNT 2
LPOS p a MAXLEN 3
LPOS p a MAXLEN 1
LPOS p c MAXLEN 2
LPOS p a RANK -1 MAXLEN 1
LPOS p a RANK -2 MAXLEN 3
LPOS p a COUNT 0 MAXLEN 4
LPOS p zz
LPOS p zz COUNT 3
LPOS p a RANK 0
LPOS p a RANK x
LPOS p a COUNT -1
LPOS p a COUNT x
LPOS p a MAXLEN -1
LPOS p a MAXLEN x
LPOS p a RANK
LPOS p a FOO 1
LPOS p a COUNT 1 COUNT 2
LPOS nokey a
LPOS nokey a COUNT 0
LPOS nokey a RANK 0
RPUSH pi 1 10 1 -5
LPOS pi 1 COUNT 0
LPOS pi 01
LPOS pi -5
"#;

/// LMOVE, RPOPLPUSH, LMPOP.
const MOVES: &str = r#"
RPUSH src a b c d
LMOVE src dst LEFT RIGHT
LMOVE src dst RIGHT LEFT
LMOVE src dst left left
LRANGE dst 0 -1
LMOVE src src LEFT RIGHT
LRANGE src 0 -1
LMOVE src dst RIGHT RIGHT
EXISTS src
LMOVE src dst LEFT RIGHT
LMOVE src dst UP RIGHT
LMOVE src dst LEFT DOWN
RPOPLPUSH dst dst
LRANGE dst 0 -1
RPOPLPUSH dst other
RPOPLPUSH nokey other
RPUSH one x
RPOPLPUSH one one
LRANGE one 0 -1
LMOVE one one RIGHT LEFT
LMOVE one two LEFT LEFT
EXISTS one
LRANGE two 0 -1
RPUSH m1 a b c
RPUSH m2 x y
LMPOP 2 nokey m1 LEFT
LMPOP 2 m1 m2 RIGHT COUNT 5
LMPOP 2 m1 m2 RIGHT COUNT 1
LMPOP 1 m2 LEFT COUNT 10
LMPOP 2 m1 m2 LEFT
LMPOP 1 nokey LEFT COUNT 2
LMPOP 0 m1 LEFT
LMPOP -1 m1 LEFT
LMPOP x m1 LEFT
LMPOP 2 m1 LEFT
LMPOP 3 a b LEFT
LMPOP 1 m1 MIDDLE
LMPOP 1 m1 LEFT COUNT 0
LMPOP 1 m1 LEFT COUNT -1
LMPOP 1 m1 LEFT COUNT x
LMPOP 1 m1 LEFT COUNT 1 COUNT 2
LMPOP 1 m1 LEFT COUNT
LMPOP 1 m1 LEFT FOO
LMPOP 9223372036854775807 m1 LEFT
LMPOP 1
"#;

/// Every list command against a string, a hash and a missing key's neighbours.
const WRONG_TYPE: &str = r#"
SET s v
HSET h f v
RPUSH l a
LPUSH s a
RPUSH s a
LPUSHX s a
RPUSHX h a
LPOP s
RPOP s 2
LLEN s
LRANGE s 0 -1
LINDEX s 0
LSET s 0 x
LINSERT s BEFORE a b
LREM s 0 a
LTRIM s 0 1
LPOS s a
LMOVE s l LEFT RIGHT
LMOVE l s LEFT RIGHT
LMOVE nokey s LEFT RIGHT
RPOPLPUSH l h
RPOPLPUSH h l
LMPOP 2 nokey s LEFT
LMPOP 2 l s LEFT
BLPOP s 0
BLPOP nokey s 0
BLPOP l s 0
BRPOPLPUSH s l 0
RPUSH l a
BLMOVE l s LEFT RIGHT 0
BLMPOP 0 2 nokey s LEFT
LRANGE l 0 -1
GET s
"#;

/// Blocking commands where they must not block: with data, with bad arguments.
const BLOCKING_IMMEDIATE: &str = r#"
RPUSH k a b c
BLPOP nokey k 0
BRPOP nokey k 1
BLMOVE k d LEFT RIGHT 0
BRPOPLPUSH d k 0
BLMPOP 0 2 nokey k RIGHT COUNT 5
EXISTS k
LRANGE d 0 -1
BLPOP k x
BLPOP k -1
BLPOP k -0.5
BLPOP k inf
BLPOP k -inf
BLPOP k nan
BLPOP k 1e30
BLPOP k ""
BLPOP k " 1"
BLPOP k 1e
BLMOVE k d LEFT RIGHT x
BLMOVE k d UP RIGHT 0
BLMOVE k d LEFT RIGHT -1
BRPOPLPUSH k d x
BLMPOP x 1 k LEFT
BLMPOP 0 0 k LEFT
BLMPOP 0 1 k MIDDLE
BLMPOP -1 1 k LEFT
BLMPOP 0 1 k LEFT COUNT 0
BLMPOP 0 2 k LEFT
BLMPOP x 0 k LEFT
BLPOP k
BLMPOP 0 1
"#;

#[test]
fn pushes_pops_and_lengths() {
    let mut d = Diff::new(&[]);
    d.script(PUSH_POP);
}

#[test]
fn pushes_pops_and_lengths_resp3() {
    let mut d = Diff::new(&[]).resp3();
    d.script(PUSH_POP);
    d.script(BLOCKING_IMMEDIATE);
    d.script("LMPOP 1 nokey LEFT\nLPOS nokey a\nLINDEX nokey 0\nLMOVE nokey a LEFT LEFT");
}

#[test]
fn ranges_and_indexes() {
    let mut d = Diff::new(&[]);
    d.script(INDEXES);
}

#[test]
fn in_place_edits_and_lpos() {
    let mut d = Diff::new(&[]);
    d.script(EDITS);
}

#[test]
fn moves_and_lmpop() {
    let mut d = Diff::new(&[]);
    d.script(MOVES);
}

#[test]
fn wrong_types() {
    let mut d = Diff::new(&[]);
    d.script(WRONG_TYPE);
}

#[test]
fn blocking_commands_with_data_or_bad_arguments() {
    let mut d = Diff::new(&[]);
    d.script(BLOCKING_IMMEDIATE);
}

#[test]
fn blocking_commands_inside_multi_do_not_block() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
MULTI
BLPOP nokey 0
BRPOP nokey 0
BLMOVE nokey d LEFT RIGHT 0
BRPOPLPUSH nokey d 0
BLMPOP 0 1 nokey LEFT
RPUSH k a
BLPOP nokey k 0
EXEC
EXISTS k
"#,
    );
    let mut d = Diff::new(&[]).resp3();
    d.script("MULTI\nBLPOP nokey 0\nBLMOVE nokey d LEFT RIGHT 0\nBLMPOP 0 1 nokey LEFT\nEXEC");
}

/// A deterministic mix of element shapes: small and large integers, short and long
/// strings (some past one listpack entry's 12-bit length), empty strings.
fn element(i: usize) -> String {
    match i % 7 {
        0 => i.to_string(),
        1 => format!("-{}", i * 1_000_003),
        2 => format!("item:{i}"),
        3 => "x".repeat(i % 300),
        4 => String::new(),
        5 => format!("{}", (i as i64) << 40),
        _ => format!("{i:05}"),
    }
}

/// Builds a long list on both servers, edits it in the middle and at the ends, and
/// compares slices, single elements and the digest after every edit.
fn long_list_session(d: &mut Diff, n: usize) {
    let mut push = vec!["RPUSH".to_string(), "big".to_string()];
    push.extend((0..n).map(element));
    d.check(&push);
    let mut lpush = vec!["LPUSH".to_string(), "big".to_string()];
    lpush.extend((0..n / 4).map(|i| element(i * 13)));
    d.check(&lpush);
    let digest = |d: &mut Diff| d.check(&["DEBUG", "DIGEST-VALUE", "big"]);
    digest(d);
    let len = (n + n / 4) as i64;
    for (a, b) in [(0, 50), (len / 2 - 20, len / 2 + 20), (-60, -1), (len - 3, len + 5), (-len, -len + 3)] {
        d.check(&["LRANGE", "big", &a.to_string(), &b.to_string()]);
    }
    for i in [0, 1, len / 3, len / 2, len - 1, -1, -len, -(len / 3)] {
        d.check(&["LINDEX", "big", &i.to_string()]);
    }
    for (i, v) in [(len / 2, "middle"), (1, &"y".repeat(5000)[..]), (-2, "-42"), (len / 3, &"z".repeat(70)[..])] {
        d.check(&["LSET", "big", &i.to_string(), v]);
    }
    digest(d);
    d.check(&["LINSERT", "big", "BEFORE", "middle", "before-middle"]);
    d.check(&["LINSERT", "big", "AFTER", "middle", &"w".repeat(9000)]);
    d.check(&["LINSERT", "big", "AFTER", "-42", "after"]);
    digest(d);
    d.check(&["LPOS", "big", "", "COUNT", "5", "RANK", "-3"]);
    d.check(&["LPOS", "big", "item:30", "COUNT", "0"]);
    d.check(&["LREM", "big", "3", ""]);
    d.check(&["LREM", "big", "-4", ""]);
    d.check(&["LREM", "big", "0", "0"]);
    digest(d);
    d.check(&["LPOP", "big", "100"]);
    d.check(&["RPOP", "big", "77"]);
    d.check(&["LMPOP", "1", "big", "RIGHT", "COUNT", "33"]);
    d.check(&["LTRIM", "big", "10", &(len / 2).to_string()]);
    d.check(&["LLEN", "big"]);
    digest(d);
    d.check(&["LRANGE", "big", "0", "-1"]);
    d.check(&["OBJECT", "ENCODING", "big"]);
    d.check(&["DEBUG", "DIGEST"]);
}

#[test]
fn long_lists_across_many_nodes() {
    let mut d = Diff::new(&[]);
    long_list_session(&mut d, 3000);
}

#[test]
fn every_node_size_setting_gives_the_same_list() {
    for fill in ["-1", "-5", "1", "7", "128"] {
        let mut d = Diff::new(&["--list-max-listpack-size", fill]);
        long_list_session(&mut d, 700);
    }
}

#[test]
fn rename_copy_and_move_of_lists() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
RPUSH a 1 2 3
RENAME a b
LRANGE b 0 -1
COPY b c
LPUSH c 0
LRANGE b 0 -1
LRANGE c 0 -1
MOVE c 1
SELECT 1
LRANGE c 0 -1
DEBUG DIGEST-VALUE c
SELECT 0
DEBUG DIGEST-VALUE b
TYPE b
DEBUG DIGEST
"#,
    );
}

/// A subscriber to every keyspace and keyevent channel, and to a mark channel that
/// ends each step.
fn subscriber(s: &ServerProcess) -> Conn {
    let mut sub = s.conn();
    sub.send(&["PSUBSCRIBE", "__key*__:*"]);
    sub.read_frame();
    sub.send(&["SUBSCRIBE", "mark"]);
    sub.read_frame();
    sub
}

/// Records the messages `sub` got up to the next mark.
fn events(t: &mut Transcript, sub: &mut Conn) {
    for _ in 0..1000 {
        let Ok(frame) = sub.try_read_frame(Duration::from_secs(10)) else {
            return t.note("  <no mark>");
        };
        if let Value::Array(parts) = to_value(&frame) {
            if parts.get(1) == Some(&Value::Bulk(b"mark".to_vec())) {
                return;
            }
        }
        t.note(format!("  {}", esc(&frame)));
    }
}

#[test]
fn keyspace_events_of_list_commands() {
    let steps: &[&[&str]] = &[
        &["RPUSH", "l", "a", "b", "c"],
        &["LPUSH", "l", "z"],
        &["RPUSHX", "l", "d"],
        &["LPUSHX", "nokey", "d"],
        &["LPOP", "l"],
        &["RPOP", "l", "2"],
        &["LSET", "l", "0", "x"],
        &["LINSERT", "l", "BEFORE", "x", "w"],
        &["LINSERT", "l", "BEFORE", "nothere", "w"],
        &["LREM", "l", "0", "nothere"],
        &["LREM", "l", "1", "w"],
        &["LTRIM", "l", "0", "-1"],
        &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
        &["RPUSH", "l", "p", "q"],
        &["RPOPLPUSH", "l", "l"],
        &["LMPOP", "1", "l", "LEFT", "COUNT", "5"],
        &["RPUSH", "m", "1", "2"],
        &["LTRIM", "m", "5", "6"],
        &["RPUSH", "m", "1"],
        &["LREM", "m", "0", "1"],
        &["RPUSH", "m", "1"],
        &["BLPOP", "m", "0"],
        &["RPUSH", "m", "1", "2"],
        &["BLMOVE", "m", "n", "RIGHT", "LEFT", "0"],
        &["BRPOPLPUSH", "m", "n", "0"],
        &["BLMPOP", "0", "1", "n", "RIGHT", "COUNT", "9"],
    ];
    same_on_both(&["--notify-keyspace-events", "KEA"], |s, t| {
        let mut c = s.conn();
        let mut sub = subscriber(s);
        for args in steps {
            t.cmd("c", &mut c, args);
            c.cmd(&["PUBLISH", "mark", "."]);
            events(t, &mut sub);
        }
    });
}

/// Resident memory of a server process, in bytes (from /proc).
fn rss_bytes(s: &ServerProcess) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid()?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Bytes per element of a 1M-element list (RSS growth), on one server.
fn list_bytes_per_element(s: &ServerProcess, n: usize) -> f64 {
    let mut c = s.conn();
    c.timeout = Duration::from_secs(120);
    let before = rss_bytes(s).unwrap_or(0);
    let batch = 10_000;
    let mut sent = 0;
    while sent < n {
        let mut args = vec!["RPUSH".to_string(), "biglist".to_string()];
        args.extend((sent..sent + batch).map(|i| format!("element:{i}")));
        c.cmd(&args);
        sent += batch;
    }
    let len = c.val(&["LLEN", "biglist"]);
    assert_eq!(len, Value::Int(n as i64));
    let after = rss_bytes(s).unwrap_or(0);
    after.saturating_sub(before) as f64 / n as f64
}

/// A million 14-byte elements: Redoubt's nodes are Redis's listpacks, so the cost per
/// element must stay close to Redis's (printed; bounded at 1.25x for allocator noise).
#[test]
fn memory_of_a_million_element_list_is_close_to_redis() {
    let n = 1_000_000;
    let redis = ServerProcess::redis(&[]);
    let redoubt = ServerProcess::redoubt(&[]);
    let (r, o) = (list_bytes_per_element(&redis, n), list_bytes_per_element(&redoubt, n));
    let used = |s: &ServerProcess| {
        let info = String::from_utf8_lossy(&s.conn().cmd(&["INFO", "memory"])).into_owned();
        info_field(&info, "used_memory").unwrap_or_default()
    };
    eprintln!(
        "1M-element list, RSS bytes per element: redis {r:.1}, redoubt {o:.1} (ratio {:.2}); used_memory redis {} redoubt {}",
        o / r,
        used(&redis),
        used(&redoubt)
    );
    assert!(o <= r * 1.25, "redoubt {o:.1} B/element vs redis {r:.1}");
}
