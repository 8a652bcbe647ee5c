//! SORT and SORT_RO, differential: lists, sets and sorted sets; numeric and ALPHA
//! order (binary elements included); BY and GET with string keys and hash fields;
//! LIMIT edge cases; STORE; the order of equal elements, which depends on Redis's
//! sort algorithms; and the key procedure behind COMMAND GETKEYS.

use crate::support::rand::xorshift;
use crate::support::Diff;

#[test]
fn options_and_errors() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
RPUSH l 3 1 2
SORT
SORT_RO
SORT l
SORT missing
SORT missing ALPHA DESC LIMIT 0 1
SORT l FOO
SORT l LIMIT
SORT l LIMIT 1
SORT l LIMIT a 1
SORT l LIMIT 1 b
SORT l LIMIT 1.5 1
SORT l BY
SORT l GET
SORT l STORE
SORT_RO l STORE d
SORT_RO l STORE
SORT_RO l ALPHA DESC
sort l asc desc
sort l desc asc
sort l alpha alpha
SET s x
SORT s
SORT_RO s
SORT s BY nosort
SORT s FOO
SORT s STORE d
EXISTS d
HSET h f v
SORT h
SORT l STORE s
TYPE s
LRANGE s 0 -1
"#,
    );
}

#[test]
fn lists_numeric_and_alpha() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
RPUSH n 10 -2 3.5 +4 0x10 " 7" "" 1e3 -inf inf 10 2 02 2.0
SORT n
SORT n DESC
SORT n ALPHA
SORT n ALPHA DESC
SORT n LIMIT 0 3
SORT n LIMIT 2 3 DESC
SORT n LIMIT 10 100
SORT n LIMIT 14 1
SORT n LIMIT -1 2
SORT n LIMIT 1 -1
SORT n LIMIT 1 0
SORT n LIMIT 100 -5
SORT n LIMIT 9223372036854775807 9223372036854775807
SORT n LIMIT -9223372036854775808 -9223372036854775808
SORT n LIMIT 3 9223372036854775807
SORT_RO n DESC LIMIT 1 4
RPUSH bad 1 2 x
SORT bad
SORT bad ALPHA
SORT bad DESC LIMIT 0 1
SORT_RO bad
"#,
    );
}

#[test]
fn numbers_as_strtod_reads_them() {
    let mut d = Diff::new(&[]);
    for v in [
        "1e-310",
        " 12",
        "0x10",
        "",
        "12abc",
        "inf",
        "nan",
        "1e400",
        "-1e-400",
        "4.9e-324",
        "2.2250738585072014e-308",
        "2.2250738585072011e-308",
        "+5",
        "  -3.5",
        "1_000",
        "0x1p-1074",
        "infinity",
        "-INF",
        " ",
        "12 ",
        "\t5",
        "0x",
        "1e",
        "1e+",
        ".5",
        "5.",
        ".",
        "-",
        "NaN",
        "nan(1)",
        "12\x00abc",
        "\x005",
        "0X1P3",
        "1e-320",
        "-0",
    ] {
        // Redis's SORT reads C's errno without clearing it first, so after one range
        // error every later SORT fails too until some system call overwrites errno; a
        // new connection does (accept ends on EAGAIN). Redoubt has no such memory.
        d.reconnect();
        d.check(&["DEL", "s"]);
        d.check(&[&b"RPUSH"[..], &b"s"[..], v.as_bytes(), &b"1"[..], &b"-1"[..]]);
        d.check(&["SORT", "s"]);
        d.check(&["SORT", "s", "DESC"]);
    }
}

#[test]
fn alpha_with_binary_elements() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
RPUSH a b a "\xff" A "a\x00z" "a\x00b" "a\x00" "" "\x00" "\xc3\xa9" "e" "\x80" "Z" "a" "ab" "a b"
SORT a ALPHA
SORT a ALPHA DESC
SORT a ALPHA LIMIT 2 5
SORT a ALPHA STORE d
LRANGE d 0 -1
SORT a ALPHA DESC STORE d
LRANGE d 0 -1
SORT a BY nosort
SORT a BY nosort DESC
SORT a BY nosort LIMIT 1 2
SORT a BY nosort DESC LIMIT 1 2
"#,
    );
}

#[test]
fn by_and_get_with_strings_and_hashes() {
    let mut d = Diff::new(&[]);
    d.script(
        r##"
RPUSH l 1 2 3 4 5
MSET w_1 50 w_2 30 w_3 x w_4 10 w_5 30
MSET o_1 one o_2 two o_3 three o_5 five
HSET h_1 f 5 g gee
HSET h_2 f 1 g "g\x00two"
HSET h_3 f 3
HSET h_4 g four
SET h_5 notahash
SORT l BY w_*
SORT l BY w_* ALPHA
SORT l BY w_* DESC
SORT l BY h_*->f
SORT l BY h_*->f DESC
SORT l BY h_*->g ALPHA
SORT l BY h_*->g ALPHA DESC
SORT l BY missing_* 
SORT l BY missing_* ALPHA
SORT l GET o_*
SORT l GET # GET o_* GET h_*->g GET h_*->f
SORT l BY w_4 GET #
SORT l BY nosort GET o_* GET #
SORT l BY nosort DESC GET o_*
SORT l BY nosort LIMIT 1 2 GET o_*
SORT l BY nosort DESC LIMIT 1 2 GET o_* GET #
SORT l GET nostar
SORT l GET o_*->
SORT l GET h_*->
SET "o_1->" arrow
SORT l GET o_*->
SORT l GET h_*->missing
SORT l GET o_*_*
SET o_1_* star
SORT l GET o_*_*
SORT l BY h_*->f GET h_*->g
SORT l BY o_* ALPHA GET #
SORT l BY o_* ALPHA LIMIT 0 2
SORT l BY nosort BY w_*
SORT l BY w_* BY nosort
SORT l BY "w_\x00*"
SORT l GET "o_\x00*"
SORT l GET "#\x00x"
SORT l GET '##'
SORT l BY w_* GET # GET w_*
SORT l BY h_5->f
SORT l BY "h_*->f\x00x"
HSET "h_1->g" f 9
SORT l BY "h_*->g->f"
"##,
    );
}

#[test]
fn store() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
RPUSH l 3 1 2
MSET o_1 one o_2 two
SORT l STORE dst
LRANGE dst 0 -1
TYPE dst
OBJECT ENCODING dst
SORT l DESC LIMIT 0 2 STORE dst
LRANGE dst 0 -1
SORT l GET o_* GET # STORE dst
LRANGE dst 0 -1
SORT l LIMIT 0 0 STORE dst
EXISTS dst
SORT l LIMIT 0 0 STORE dst
SET str v EX 100
SORT l STORE str
TTL str
LRANGE str 0 -1
HSET hsh f v
SORT l STORE hsh
TYPE hsh
SORT missing STORE hsh
EXISTS hsh
SORT l STORE l
LRANGE l 0 -1
SORT l STORE a STORE b
EXISTS a
LRANGE b 0 -1
SORT l STORE d1 ALPHA DESC BY nosort
LRANGE d1 0 -1
RPUSH bad x 1
SORT bad STORE d2
EXISTS d2
SORT l BY nosort GET nothing_* STORE d3
LRANGE d3 0 -1
"#,
    );
}

#[test]
fn sets() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SADD is 5 -3 100 7 0 12
OBJECT ENCODING is
SORT is
SORT is DESC
SORT is ALPHA
SORT is LIMIT 1 2
SORT is BY nosort
SORT is BY nosort DESC
SORT is BY nosort LIMIT 1 3
SORT is BY nosort STORE d
LRANGE d 0 -1
SORT is BY nosort DESC LIMIT 0 3 STORE d
LRANGE d 0 -1
SADD hs banana apple cherry 10 9 "\x00" "\xff"
OBJECT ENCODING hs
SORT hs ALPHA
SORT hs ALPHA DESC LIMIT 1 3
SORT hs
[unordered] SORT hs BY nosort
SORT hs BY nosort STORE d
LRANGE d 0 -1
SORT hs BY nosort DESC STORE d
LRANGE d 0 -1
MSET w_banana 3 w_apple 1 w_cherry 2 w_10 0 w_9 5
SORT hs BY w_* GET #
SORT_RO is BY nosort GET # GET w_*
"#,
    );
}

#[test]
fn sorted_sets() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
ZADD z 3 c 1 a 2 b 5 10 4 9
OBJECT ENCODING z
SORT z
OBJECT ENCODING z
ZADD z2 1 x 2 y 3 z
SORT_RO z2 BY nosort
OBJECT ENCODING z2
SORT z ALPHA
SORT z ALPHA DESC
SORT z BY nosort
SORT z BY nosort DESC
SORT z BY nosort LIMIT 1 3
SORT z BY nosort DESC LIMIT 1 3
SORT z BY nosort LIMIT 4 10
SORT z BY nosort DESC LIMIT 4 10
SORT z BY nosort LIMIT 10 10
SORT z BY nosort LIMIT 0 0
SORT z BY nosort STORE d
LRANGE d 0 -1
ZADD n 1 3 2 1 3 2
SORT n
SORT n DESC LIMIT 0 2
MSET w_a 9 w_b 8 w_c 7
SORT z BY w_* GET # GET w_*
SORT z BY w_* LIMIT 0 2
"#,
    );
}

/// Equal sort keys: Redis's merge sort keeps them in input order; with BY and a LIMIT
/// its partial quicksort leaves them in an order of its own.
#[test]
fn ties_follow_redis_algorithms() {
    let mut d = Diff::new(&[]);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || xorshift(&mut x);
    let mut push: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"big".to_vec()];
    for i in 0..600 {
        push.push(format!("e{i}").into_bytes());
        let w = next() % 7;
        // Weights with many ties; some missing (they sort first, as equals).
        if w != 0 {
            d.check(&["SET", &format!("w_e{i}"), &format!("{w}")]);
            d.check(&["HSET", &format!("h_e{i}"), "f", &format!("v{}", w % 3)]);
        }
    }
    d.check(&push);
    for (start, count) in [(0i64, -1i64), (0, 10), (5, 20), (100, 50), (590, 20), (-3, 7), (300, 0), (0, 599), (1, 599)]
    {
        let (s, c) = (start.to_string(), count.to_string());
        for extra in [&[][..], &["DESC"][..]] {
            for by in ["w_*", "h_*->f", "missing_*"] {
                let mut args = vec!["SORT", "big", "BY", by, "ALPHA", "LIMIT", &s, &c];
                args.extend_from_slice(extra);
                d.check(&args);
                args[4] = "ASC";
                d.check(&args);
            }
        }
    }
    d.check(&["SORT", "big", "BY", "h_*->f", "ALPHA", "LIMIT", "10", "30", "STORE", "dst"]);
    d.check(&["LRANGE", "dst", "0", "-1"]);
    // A small case where the BSD insertion-sort shortcut (which Redis 7.0.15 lacks)
    // would swap e1 and e2.
    let weights = [12, 11, 11, 10, 9, 8, 8, 8, 7, 7, 7, 6, 6, 5, 2, 2, 2, 2, 1, 1, 0];
    let mut push: Vec<String> = vec!["RPUSH".into(), "small".into()];
    for (i, w) in weights.iter().enumerate() {
        push.push(format!("s{i}"));
        d.check(&["SET", &format!("w_s{i}"), &w.to_string()]);
    }
    d.check(&push);
    d.check(&["SORT", "small", "LIMIT", "0", "15", "DESC", "BY", "w_*", "ALPHA"]);
}

#[test]
fn big_numeric_lists() {
    let mut d = Diff::new(&[]);
    let mut state = 7u64;
    let mut push: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"nums".to_vec()];
    for _ in 0..2000 {
        let x = xorshift(&mut state);
        let v = match x % 4 {
            0 => format!("{}", (x >> 8) % 1000),
            1 => format!("-{}.{}", (x >> 8) % 100, x % 7),
            2 => format!("{}e{}", (x >> 8) % 10, (x >> 4) % 5),
            _ => format!("{:.3}", ((x >> 11) as f64) / 1e12),
        };
        push.push(v.into_bytes());
    }
    d.check(&push);
    d.check(&["SORT", "nums"]);
    d.check(&["SORT", "nums", "DESC", "LIMIT", "100", "200"]);
    d.check(&["SORT", "nums", "ALPHA"]);
    d.check(&["SORT", "nums", "ALPHA", "DESC", "STORE", "d"]);
    d.check(&["LRANGE", "d", "0", "-1"]);
}

#[test]
fn resp3_nulls() {
    let mut d = Diff::new(&[]).resp3();
    d.script(
        r#"
RPUSH l 1 2
SET o_1 one
SORT l GET o_* GET #
SORT l BY nosort GET missing_*
SORT missing
SORT_RO l LIMIT 0 1
"#,
    );
}

#[test]
fn key_procedure() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
COMMAND GETKEYS SORT l
COMMAND GETKEYS SORT l STORE d
COMMAND GETKEYS SORT l STORE d BY x GET y STORE e
COMMAND GETKEYS SORT l LIMIT 0 1 STORE d
COMMAND GETKEYS SORT l BY store STORE d
COMMAND GETKEYS SORT l STORE
COMMAND GETKEYS SORT_RO l BY x GET y
COMMAND GETKEYSANDFLAGS SORT l STORE d
COMMAND GETKEYSANDFLAGS SORT l
COMMAND GETKEYSANDFLAGS SORT_RO l GET x
"#,
    );
}

/// What SORT ... STORE announces (`sortstore`, or `del` for an empty result) and that
/// WATCH sees it; a SORT without STORE changes nothing, even of a sorted set it
/// converts.
#[test]
fn notifications_and_watch() {
    crate::support::same_on_both(&[], |s, t| {
        let (mut c1, mut c2, mut sub) = (s.conn(), s.conn(), s.conn());
        c1.cmd(&["RPUSH", "l", "2", "1"]);
        c1.cmd(&["ZADD", "z", "1", "a"]);
        c1.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        t.cmd_frames("sub", &mut sub, &["PSUBSCRIBE", "__key*__:*"], 1);
        for (args, events) in [
            (&["SORT", "l", "STORE", "d"][..], 2),
            (&["SORT", "l", "LIMIT", "0", "0", "STORE", "d"], 2),
            (&["SORT", "l", "LIMIT", "0", "0", "STORE", "d"], 0),
            (&["SORT", "z"], 0),
        ] {
            t.cmd("c2", &mut c2, args);
            t.frames("sub", &mut sub, events);
        }
        t.silence("sub", &mut sub);
        for (key, change) in [
            ("d", &["SORT", "l", "STORE", "d"][..]),
            ("d", &["SORT", "l", "LIMIT", "0", "0", "STORE", "d"]),
            ("d", &["SORT", "l", "LIMIT", "0", "0", "STORE", "d"]),
            ("l", &["SORT", "l"]),
            ("z", &["SORT_RO", "z"]),
        ] {
            t.watch_across(&mut c1, &mut c2, key, change);
        }
    });
}

/// SORT inside MULTI/EXEC and scripts: with patterns it reads keys anywhere, so the
/// transaction must hold every shard. (Not compared: a set sorted `BY nosort` in a
/// script without STORE, which Redis sorts ALPHA and Redoubt does not yet; see
/// `cmd/sort.rs`.)
#[test]
fn in_transactions_and_scripts() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
RPUSH l 3 1 2
MSET w_1 3 w_2 2 w_3 1 o_1 one o_2 two o_3 three
MULTI
SORT l BY w_* GET o_*
SORT l STORE dst
SORT l BY nosort GET # GET o_* STORE dst2
LRANGE dst2 0 -1
EXEC
EVAL "return redis.call('SORT', KEYS[1], 'BY', 'w_*', 'GET', 'o_*')" 1 l
EVAL "return redis.call('SORT', KEYS[1], 'DESC', 'STORE', KEYS[2])" 2 l dst3
LRANGE dst3 0 -1
SADD is 3 1 2 10
EVAL "return redis.call('SORT', KEYS[1], 'BY', 'nosort', 'STORE', KEYS[2])" 2 is dst4
LRANGE dst4 0 -1
"#,
    );
}
