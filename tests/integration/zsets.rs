//! Sorted-set commands, differential: every reply compared byte for byte with
//! redis-server, in both encodings (the same script runs with the default thresholds,
//! where small sets are listpacks, and with `zset-max-listpack-entries 0`, where every
//! set is a skiplist), in RESP2 and RESP3; conversions and OBJECT ENCODING of results;
//! large sets with ties, inf scores and lex ranges under random queries; random command
//! streams across thresholds and conversions, digests included; ZSCAN's
//! guarantee; ZRANDMEMBER by the shape of its random replies; DEBUG DIGEST; blocking
//! pops (BZPOPMIN, BZPOPMAX, BZMPOP) with real concurrent clients, transcripts compared
//! with Redis's; and the memory of a 1,000,000-member set against Redis's.

use crate::support::blocking::{block, blocked_clients};
use crate::support::rand::Lcg;
use crate::support::scan::{scan_elements, Scan};
use crate::support::{items, same_on_both, text, Diff, ServerProcess, Value};

/// Every sorted-set command with its options, errors and edge cases. Replies here do
/// not depend on the encoding's iteration order, so the script runs in both encodings.
const COMMANDS: &str = r#"
SET str x
# ZADD, its options and their errors
ZADD z 1 a
ZADD z 2 b 3 c
ZADD z 1 a
ZADD z CH 10 a 2 b 0 d
ZADD z NX 100 a 5 e
ZADD z XX 100 a 6 f
ZADD z XX CH 100 a
ZADD z GT 50 a
ZADD z GT CH 150 a
ZADD z LT CH 1 a
ZADD z LT 1000 a
ZADD z GT LT 1 a
ZADD z NX GT 1 a
ZADD z NX LT 1 a
ZADD z NX XX 1 a
ZADD z XX NX 1 a
ZADD z INCR 1 a 2 b
ZADD z INCR 5 a
ZADD z INCR NX 5 a
ZADD z INCR XX 5 newone
ZADD z INCR GT -5 a
ZADD z INCR LT -5 a
ZADD z ch nx incr 1 brand
ZADD z ch gt 1 brand 7 brand2
ZADD z 1 twice 2 twice
ZADD z CH 3 twice 3 twice 4 twice
ZSCORE z twice
ZADD z GT INCR 5 fresh
ZADD z LT INCR -5 fresh
ZADD z NX INCR 5 fresh
ZADD z XX CH INCR 0 fresh
ZADD z 1
ZADD z 1 a 2
ZADD z nx
ZADD z abc a
ZADD z nan a
ZADD z 1e400 a
ZADD z -1e400 a
ZADD z 1e-400 a
ZADD z " 1" a
ZADD z "1 " a
ZADD z "" a
ZADD z 1 a nan b
ZADD z 0x10 hex
ZADD z 1e-320 tiny
ZADD z +5 plus
ZADD z .5 half 5. five
ZADD z inf pinf -inf ninf +inf pinf2 -Infinity ninf2
ZADD z -0 negzero
ZSCORE z negzero
ZADD z 1.5 x 0.1 y 1e300 huge 123456789012345678 bigint 1e17 e17
ZSCORE z y
ZSCORE z huge
ZSCORE z bigint
ZSCORE z tiny
ZADD z 1 ""
ZADD z 2 "bin\x00\xff"
ZRANGE z 0 -1 WITHSCORES
ZADD nokey XX 1 a
EXISTS nokey
ZADD nokey XX INCR 1 a
ZADD str 1 a
ZINCRBY z 1 a
ZINCRBY z -inf pinf
ZINCRBY z inf pinf
ZINCRBY z 1.5
ZINCRBY z abc a
ZINCRBY z nx a
ZINCRBY newkey 5 m
ZINCRBY newkey -5.5 m
ZINCRBY str 1 a
# Reads of members
ZSCORE z a
ZSCORE z missing
ZSCORE nokey a
ZSCORE str a
ZMSCORE z a missing b
ZMSCORE nokey a b
ZMSCORE str a
ZMSCORE z
ZRANK z a
ZRANK z ninf
ZRANK z pinf2
ZRANK z missing
ZRANK nokey a
ZRANK str a
ZREVRANK z a
ZREVRANK z ninf
ZREVRANK z missing
ZCARD z
ZCARD nokey
ZCARD str
# Ranks, scores, ties, infinities
ZADD r 1 one 2 two 3 three 4 four 5 five 5 five5 5 afive -inf minf inf pinf
ZRANGE r 0 -1
ZRANGE r 0 -1 WITHSCORES
ZRANGE r 2 3
ZRANGE r -3 -1
ZRANGE r -100 100
ZRANGE r 5 2
ZRANGE r 100 200
ZRANGE r -1 -100
ZRANGE r 0 0 REV
ZRANGE r 0 -1 REV WITHSCORES
ZRANGE r a b
ZRANGE r 0 1.5
ZRANGE r 0 1 LIMIT 0 1
ZRANGE r 0 1 LIMIT 0 -1
ZRANGE r [a [b BYLEX WITHSCORES
ZRANGE r (1 5 BYSCORE
ZRANGE r 1 (5 BYSCORE WITHSCORES
ZRANGE r -inf +inf BYSCORE LIMIT 2 3
ZRANGE r -inf +inf BYSCORE LIMIT -1 3
ZRANGE r -inf +inf BYSCORE LIMIT 2 -1
ZRANGE r -inf +inf BYSCORE LIMIT 2 0
ZRANGE r -inf +inf BYSCORE LIMIT 100 1
ZRANGE r -inf +inf BYSCORE LIMIT 8 1
ZRANGE r 5 1 BYSCORE REV
ZRANGE r 5 (1 BYSCORE REV LIMIT 1 2 WITHSCORES
ZRANGE r +inf -inf BYSCORE REV LIMIT 0 100 WITHSCORES
ZRANGE r (5 (5 BYSCORE
ZRANGE r 5 5 BYSCORE
ZRANGE r 5 (5 BYSCORE
ZRANGE r inf inf BYSCORE WITHSCORES
ZRANGE r -inf -inf BYSCORE
ZRANGE r (-inf (inf BYSCORE
ZRANGE r 6 7 BYSCORE
ZRANGE r "" "" BYSCORE
ZRANGE r " 1" "(  3" BYSCORE
ZRANGE r 1e400 1e500 BYSCORE
ZRANGE r abc 5 BYSCORE
ZRANGE r 1 nan BYSCORE
ZRANGE r ((1 5 BYSCORE
ZRANGE r 1 5x BYSCORE
ZRANGE r 0 1 BYSCORE BYLEX
ZRANGE r 0 1 BYSCORE BYSCORE
ZRANGE r 0 1 REV REV
ZRANGE r 0 1 LIMIT 1
ZRANGE r 0 1 LIMIT a 1
ZRANGE r 0 1 BYSCORE LIMIT 0 a
ZRANGE r 0 1 WITHSCORES WITHSCORES
ZRANGE r 0 1 FOO
ZRANGE nokey 0 -1
ZRANGE nokey a b
ZRANGE str 0 -1
ZRANGEBYSCORE r -inf +inf
ZRANGEBYSCORE r 2 4 WITHSCORES LIMIT 1 1
ZRANGEBYSCORE r 2 4 REV
ZRANGEBYSCORE r 2 4 BYLEX
ZRANGEBYSCORE nokey 2 4
ZREVRANGEBYSCORE r 4 2
ZREVRANGEBYSCORE r +inf -inf WITHSCORES LIMIT 0 3
ZREVRANGEBYSCORE r 2 4
ZREVRANGEBYSCORE r (5 (1 LIMIT 1 1
ZREVRANGE r 0 2 WITHSCORES
ZREVRANGE r -2 -1
ZREVRANGE r 0 2 BYSCORE
ZREVRANGE r 0 2 REV
ZREVRANGE r 0 2 LIMIT 0 1
ZCOUNT r -inf +inf
ZCOUNT r (1 5
ZCOUNT r 5 5
ZCOUNT r 5 1
ZCOUNT r (5 5
ZCOUNT r a b
ZCOUNT nokey 1 2
ZCOUNT str 1 2
# Lexicographic ranges (equal scores)
ZADD lex 0 a 0 b 0 c 0 d 0 e 0 f 0 g 0 aa 0 "" 0 "b\x00" 0 "\xff" 0 B
ZRANGEBYLEX lex - +
ZRANGEBYLEX lex [b [e
ZRANGEBYLEX lex (b (e
ZRANGEBYLEX lex [aa + LIMIT 1 2
ZRANGEBYLEX lex - [c LIMIT 0 1
ZRANGEBYLEX lex - + LIMIT -1 1
ZRANGEBYLEX lex - + LIMIT 3 -1
ZRANGEBYLEX lex + -
ZRANGEBYLEX lex - -
ZRANGEBYLEX lex + +
ZRANGEBYLEX lex [a (a
ZRANGEBYLEX lex [a [a
ZRANGEBYLEX lex ( [a
ZRANGEBYLEX lex [ (b
ZRANGEBYLEX lex "[b\x00" +
ZRANGEBYLEX lex a +
ZRANGEBYLEX lex -a +
ZRANGEBYLEX lex - +b
ZRANGEBYLEX lex "" +
ZRANGEBYLEX lex - + WITHSCORES
ZRANGEBYLEX nokey - +
ZREVRANGEBYLEX lex + -
ZREVRANGEBYLEX lex [e (b LIMIT 1 2
ZREVRANGEBYLEX lex - +
ZRANGE lex [e [b BYLEX REV
ZRANGE lex [b [e BYLEX LIMIT 1 10
ZRANGE lex [b [e BYLEX WITHSCORES
ZLEXCOUNT lex - +
ZLEXCOUNT lex [b (e
ZLEXCOUNT lex + -
ZLEXCOUNT lex x y
ZLEXCOUNT nokey - +
ZLEXCOUNT str - +
ZREMRANGEBYLEX lex [f +
ZREMRANGEBYLEX lex a b
ZREMRANGEBYLEX lex + -
ZREMRANGEBYLEX nokey - +
ZRANGE lex 0 -1
# Removals
ZREMRANGEBYRANK r 0 0
ZREMRANGEBYRANK r -1 -1
ZREMRANGEBYRANK r 5 2
ZREMRANGEBYRANK r 100 200
ZREMRANGEBYRANK r a b
ZREMRANGEBYRANK nokey 0 -1
ZREMRANGEBYRANK str 0 -1
ZRANGE r 0 -1 WITHSCORES
ZREMRANGEBYSCORE r (1 2
ZREMRANGEBYSCORE r -inf (-100
ZREMRANGEBYSCORE r a b
ZREMRANGEBYSCORE r 5 1
ZREMRANGEBYSCORE nokey 1 2
ZRANGE r 0 -1 WITHSCORES
ZREM r one nosuch two
ZREM r nosuch
ZREM nokey a
ZREM str a
ZREM r three four five five5 afive
EXISTS r
ZREMRANGEBYSCORE lex -inf +inf
EXISTS lex
# Union, intersection, difference (sets as inputs score 1)
ZADD s1 1 a 2 b 3 c
ZADD s2 10 b 20 c 30 d
SADD set1 a b x
SADD iset 1 2 3
ZADD nums 5 1 6 2
ZUNION 2 s1 s2
ZUNION 2 s1 s2 WITHSCORES
ZUNION 3 s1 s2 set1 WITHSCORES
ZUNION 2 iset nums WITHSCORES
ZUNION 2 s1 s2 WEIGHTS 2 0.5 WITHSCORES
ZUNION 2 s1 s2 WEIGHTS -1 inf WITHSCORES
ZUNION 2 s1 s2 WEIGHTS 1 WITHSCORES
ZUNION 2 s1 s2 WEIGHTS 1 a
ZUNION 2 s1 s2 WEIGHTS 1 nan
ZUNION 2 s1 s2 AGGREGATE MIN WITHSCORES
ZUNION 2 s1 s2 AGGREGATE max WITHSCORES
ZUNION 2 s1 s2 AGGREGATE SUM WEIGHTS 1 2 WITHSCORES
ZUNION 2 s1 s2 AGGREGATE FOO
ZUNION 2 s1 s2 AGGREGATE
ZUNION 2 s1 s2 WITHSCORES WITHSCORES
ZUNION 2 s1 s2 FOO
ZUNION 0 s1
ZUNION -1 s1
ZUNION a s1
ZUNION 3 s1 s2
ZUNION 2 s1 str
ZUNION 2 str nokey
ZUNION 2 s1 nokey WITHSCORES
ZUNION 1 nokey
ZINTER 2 s1 s2 WITHSCORES
ZINTER 2 s1 s2 AGGREGATE MAX WITHSCORES
ZINTER 2 s1 s2 WEIGHTS 1 -1 AGGREGATE MIN WITHSCORES
ZINTER 2 s1 set1 WITHSCORES
ZINTER 2 s1 nokey
ZINTER 2 s1 s1 WITHSCORES
ZINTER 3 s1 s2 set1
ZINTER 2 s1 str
ZDIFF 2 s1 s2 WITHSCORES
ZDIFF 2 s1 set1
ZDIFF 1 s1 WITHSCORES
ZDIFF 2 s1 s1
ZDIFF 2 nokey s1
ZDIFF 2 s1 nokey WITHSCORES
ZDIFF 2 s1 s2 WEIGHTS 1 1
ZDIFF 2 s1 s2 AGGREGATE MIN
ZDIFF 2 set1 s1 WITHSCORES
ZINTERCARD 2 s1 s2
ZINTERCARD 2 s1 s2 LIMIT 0
ZINTERCARD 2 s1 s2 LIMIT 1
ZINTERCARD 2 s1 s2 LIMIT -1
ZINTERCARD 2 s1 s2 LIMIT x
ZINTERCARD 2 s1 s2 WITHSCORES
ZINTERCARD 2 s1 s2 WEIGHTS 1 1
ZINTERCARD 0 s1
ZINTERCARD 3 s1 s2
ZINTERCARD 2 s1 str
ZINTERCARD 2 s1 set1
ZUNIONSTORE dst 2 s1 s2
ZRANGE dst 0 -1 WITHSCORES
OBJECT ENCODING dst
ZUNIONSTORE dst 2 s1 s2 WITHSCORES
ZUNIONSTORE dst 2 s1 s2 WEIGHTS 1 2 AGGREGATE MAX
ZRANGE dst 0 -1 WITHSCORES
ZINTERSTORE dst 2 s1 s2
ZRANGE dst 0 -1 WITHSCORES
ZINTERSTORE dst 2 s1 nokey
EXISTS dst
ZINTERSTORE dst 2 s1 nokey
ZDIFFSTORE dst 2 s1 s2
ZRANGE dst 0 -1 WITHSCORES
ZDIFFSTORE dst 2 s1 s1
EXISTS dst
ZUNIONSTORE str2 1 s1
SET str2 x
EXPIRE str2 100
ZUNIONSTORE str2 1 s1
TYPE str2
TTL str2
ZUNIONSTORE dst 0 s1
ZUNIONSTORE dst 1 str
ZUNIONSTORE s1 2 s1 s2
ZRANGE s1 0 -1 WITHSCORES
# Infinities in aggregates: inf + -inf is 0, 0 * inf is 0
ZADD infa inf x -inf y 1 z
ZADD infb -inf x inf y -inf z
ZUNION 2 infa infb WITHSCORES
ZINTER 2 infa infb WITHSCORES
ZUNION 2 infa infb WEIGHTS 0 1 WITHSCORES
ZINTER 2 infa infb WEIGHTS 1 0 WITHSCORES
ZINTER 2 infa infb WEIGHTS 1 0 AGGREGATE MIN WITHSCORES
ZINTER 2 infa infb WEIGHTS 0 1 AGGREGATE MAX WITHSCORES
ZINTER 2 infa infb AGGREGATE MAX WITHSCORES
ZUNIONSTORE infd 2 infa infb
ZRANGE infd 0 -1 WITHSCORES
# Store of ranges
ZADD src 1 a 2 b 3 c 4 d
ZRANGESTORE dst src 0 -1
ZRANGE dst 0 -1 WITHSCORES
ZRANGESTORE dst src 1 2 REV
ZRANGE dst 0 -1 WITHSCORES
ZRANGESTORE dst src (1 +inf BYSCORE LIMIT 1 1
ZRANGE dst 0 -1 WITHSCORES
ZRANGESTORE dst src [b [c BYLEX
ZRANGESTORE dst src 0 -1 WITHSCORES
ZRANGESTORE dst src 5 10
EXISTS dst
ZRANGESTORE dst src 5 10
ZRANGESTORE dst nokey 0 -1
ZRANGESTORE dst str 0 -1
ZRANGESTORE dst src a b
ZRANGESTORE dst src 0 1 LIMIT 0 1
# Pops
ZADD p 1 a 2 b 3 c 4 d 5 e 6 f
ZPOPMIN p
ZPOPMAX p
ZPOPMIN p 2
ZPOPMAX p 0
ZPOPMIN p -1
ZPOPMIN p x
ZPOPMIN p 1 2
ZPOPMIN nokey
ZPOPMIN nokey 3
ZPOPMIN nokey 0
ZPOPMIN str
ZPOPMIN str 0
ZPOPMAX p 10
EXISTS p
ZADD p 1 a 2 b 3 c 4 d 5 e 6 f
ZMPOP 1 p MIN
ZMPOP 1 p MAX COUNT 2
ZMPOP 2 nokey p MIN COUNT 100
EXISTS p
ZMPOP 2 nokey p MIN
ZMPOP 1 str MIN
ZMPOP 2 nokey str MAX
ZMPOP 0 p MIN
ZMPOP -1 p MIN
ZMPOP x p MIN
ZMPOP 1 p
ZMPOP 2 p MIN
ZMPOP 1 p LEFT
ZMPOP 1 p MIN COUNT
ZMPOP 1 p MIN COUNT 0
ZMPOP 1 p MIN COUNT -1
ZMPOP 1 p MIN COUNT 1 COUNT 1
ZMPOP 1 p MIN FOO 1
ZMPOP 9223372036854775807 p MIN
# Random members: only what is deterministic (the whole set, errors, empties)
ZRANDMEMBER nokey
ZRANDMEMBER nokey 5
ZRANDMEMBER nokey -5 WITHSCORES
ZRANDMEMBER s2 0
ZRANDMEMBER s2 100
ZRANDMEMBER s2 3 WITHSCORES
ZRANDMEMBER s2 1 2
ZRANDMEMBER s2 a
ZRANDMEMBER s2 5 foo
ZRANDMEMBER s2 5 WITHSCORES foo
ZRANDMEMBER str
ZRANDMEMBER str 1
ZRANDMEMBER s2 9223372036854775807 WITHSCORES
ZRANDMEMBER s2 -9223372036854775807 WITHSCORES
ZRANDMEMBER s2 4611686018427387904 WITHSCORES
# Encodings of what was built above, and digests
OBJECT ENCODING z
OBJECT ENCODING s2
OBJECT ENCODING dst
DEBUG DIGEST-VALUE z s1 s2 infd dst newkey nokey
DEBUG DIGEST
"#;

/// ZSCAN on listpacks: the whole set in one call, in listpack order, scores as stored.
const ZSCAN_LISTPACK: &str = r#"
ZADD z 1 a 2 b 1.5 c 1e17 big -0 negz inf i 123 n 0.1 p1 3.3 p2 1e-5 p3 1e300 p4
ZSCAN z 0
ZSCAN z 0 COUNT 1
ZSCAN z 0 MATCH ?
ZSCAN z 0 MATCH x*
ZSCAN z 0 COUNT 0
ZSCAN z 0 COUNT -1
ZSCAN z 0 TYPE string
ZSCAN z 0 MATCH
ZSCAN z abc
ZSCAN z -1
ZSCAN z 18446744073709551615
ZSCAN z 18446744073709551616
ZSCAN nokey 0
ZSCAN nokey 0 BADOPT
ZSCAN nokey abc
SET str x
ZSCAN str 0
"#;

#[test]
fn zset_commands_match_redis() {
    Diff::new(&[]).script(COMMANDS);
}

#[test]
fn zset_commands_match_redis_in_resp3() {
    Diff::new(&[]).resp3().script(COMMANDS);
}

#[test]
fn zset_commands_match_redis_as_skiplists() {
    Diff::new(&["--zset-max-listpack-entries", "0"]).script(COMMANDS);
}

#[test]
fn zset_commands_match_redis_as_skiplists_in_resp3() {
    Diff::new(&["--zset-max-listpack-entries", "0"]).resp3().script(COMMANDS);
}

#[test]
fn zscan_of_listpacks_matches_redis() {
    Diff::new(&[]).script(ZSCAN_LISTPACK);
    Diff::new(&[]).resp3().script(ZSCAN_LISTPACK);
}

/// Conversions between the encodings at Redis's thresholds, and the encodings of
/// store commands' results (built small when they fit, as Redis converts them back).
#[test]
fn encodings_follow_redis_conversions() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
CONFIG SET zset-max-listpack-entries 3
CONFIG SET zset-max-listpack-value 5
ZADD a 1 x 2 y 3 z
OBJECT ENCODING a
ZADD a 4 w
OBJECT ENCODING a
ZREM a w x
OBJECT ENCODING a
ZADD b 1 abcde
OBJECT ENCODING b
ZADD b 1 abcdef
OBJECT ENCODING b
ZADD c 1 abcdef
OBJECT ENCODING c
ZADD d 1 x 2 abcdef
OBJECT ENCODING d
ZADD e 1 x 2 y 3 z 4 w
OBJECT ENCODING e
ZADD f XX 1 x
ZADD f 1 x
ZADD f XX 1 abcdef
OBJECT ENCODING f
ZINCRBY f 1 x
OBJECT ENCODING f
ZUNIONSTORE u 1 a
OBJECT ENCODING u
ZUNIONSTORE u 2 a e
OBJECT ENCODING u
ZINTERSTORE u 2 a e
OBJECT ENCODING u
ZDIFFSTORE u 2 e a
OBJECT ENCODING u
ZUNIONSTORE u 1 b
OBJECT ENCODING u
ZRANGESTORE u e 0 2
OBJECT ENCODING u
ZRANGESTORE u e 0 3
OBJECT ENCODING u
ZRANGESTORE u e -inf +inf BYSCORE LIMIT 0 3
OBJECT ENCODING u
ZRANGESTORE u d 0 0
OBJECT ENCODING u
ZRANGESTORE u d 0 -1
OBJECT ENCODING u
ZPOPMIN e 3
OBJECT ENCODING e
SADD s1 1 2 3
ZUNIONSTORE u 1 s1
OBJECT ENCODING u
SADD s2 1 2 3 4
ZUNIONSTORE u 1 s2
OBJECT ENCODING u
CONFIG SET zset-max-listpack-entries 0
ZADD g 1 x
OBJECT ENCODING g
ZUNIONSTORE u 1 a
OBJECT ENCODING u
CONFIG SET zset-max-listpack-entries 128
CONFIG SET zset-max-listpack-value 64
ZADD n -0 x
ZSCORE n x
ZUNIONSTORE m 1 n WEIGHTS -1
ZSCORE m x
ZUNION 1 n WEIGHTS -1 WITHSCORES
CONFIG SET zset-max-ziplist-entries 1
CONFIG GET zset-max-listpack-entries
ZADD h 1 x 2 y
OBJECT ENCODING h
DEBUG DIGEST
"#,
    );
}

/// Loads the same big sets into both servers: `big` (2,000 members, scores with many
/// ties and some infinities), `flat` (1,000 members of score 0, for lex ranges).
fn load_big(d: &mut Diff) {
    let mut rng = Lcg(7);
    for chunk in 0..20 {
        let mut args = vec!["ZADD".to_string(), "big".to_string()];
        for i in 0..100 {
            let n = chunk * 100 + i;
            let score = match rng.below(50) {
                0 => "inf".to_string(),
                1 => "-inf".to_string(),
                2 => format!("{}.5", rng.below(100)),
                _ => rng.below(300).to_string(),
            };
            args.push(score);
            args.push(format!("m{:05}", (n * 7919) % 2000));
        }
        d.check(&args);
    }
    for chunk in 0..10 {
        let mut args = vec!["ZADD".to_string(), "flat".to_string()];
        for i in 0..100 {
            args.push("0".to_string());
            args.push(format!("k{:04}", (chunk * 100 + i) * 37 % 1000));
        }
        d.check(&args);
    }
}

/// Random rank, score and lex queries against large skiplist-encoded sets, plus the
/// writes that restructure them (removals of ranges, pops, updates).
#[test]
fn big_sets_match_redis_under_random_queries() {
    let mut d = Diff::new(&[]);
    load_big(&mut d);
    d.script(
        r#"
OBJECT ENCODING big
OBJECT ENCODING flat
ZCARD big
ZRANGE big 0 -1 WITHSCORES
ZRANGE flat 0 -1
DEBUG DIGEST-VALUE big flat
"#,
    );
    let mut rng = Lcg(99);
    let score = |rng: &mut Lcg| match rng.below(12) {
        0 => "-inf".to_string(),
        1 => "+inf".to_string(),
        2 => format!("({}", rng.below(310)),
        3 => format!("{}.5", rng.below(300)),
        _ => rng.below(310).to_string(),
    };
    let lex = |rng: &mut Lcg| match rng.below(10) {
        0 => "-".to_string(),
        1 => "+".to_string(),
        2 => format!("(k{:04}", rng.below(1000)),
        3 => format!("[k{:03}", rng.below(100)),
        _ => format!("[k{:04}", rng.below(1000)),
    };
    for _ in 0..300 {
        let (a, b) = (rng.below(2400) as i64 - 1200, rng.below(2400) as i64 - 1200);
        let (s1, s2) = (score(&mut rng), score(&mut rng));
        let (l1, l2) = (lex(&mut rng), lex(&mut rng));
        let (off, cnt) = (rng.below(50).to_string(), (rng.below(60) as i64 - 5).to_string());
        let m = format!("m{:05}", rng.below(2100));
        let k = format!("k{:04}", rng.below(1100));
        d.check(&["ZRANGE", "big", &a.to_string(), &b.to_string(), "WITHSCORES"]);
        d.check(&["ZRANGE", "big", &a.to_string(), &b.to_string(), "REV"]);
        d.check(&["ZRANGE", "big", &s1, &s2, "BYSCORE", "LIMIT", &off, &cnt, "WITHSCORES"]);
        d.check(&["ZRANGE", "big", &s1, &s2, "BYSCORE", "REV", "LIMIT", &off, &cnt]);
        d.check(&["ZCOUNT", "big", &s1, &s2]);
        d.check(&["ZRANK", "big", &m]);
        d.check(&["ZREVRANK", "big", &m]);
        d.check(&["ZSCORE", "big", &m]);
        d.check(&["ZRANGE", "flat", &l1, &l2, "BYLEX", "LIMIT", &off, &cnt]);
        d.check(&["ZRANGE", "flat", &l1, &l2, "BYLEX", "REV"]);
        d.check(&["ZLEXCOUNT", "flat", &l1, &l2]);
        d.check(&["ZRANK", "flat", &k]);
    }
    for round in 0..30 {
        let (s1, s2) = (score(&mut rng), score(&mut rng));
        let (l1, l2) = (lex(&mut rng), lex(&mut rng));
        let r = rng.below(2000) as i64 - 1000;
        let m = format!("m{:05}", rng.below(2100));
        let inc = format!("{}", rng.below(40) as i64 - 20);
        d.check(&["ZREMRANGEBYSCORE", "big", &s1, &s2]);
        d.check(&["ZREMRANGEBYRANK", "big", &r.to_string(), &(r + 5).to_string()]);
        d.check(&["ZREMRANGEBYLEX", "flat", &l1, &l2]);
        d.check(&["ZINCRBY", "big", &inc, &m]);
        d.check(&["ZADD", "big", "GT", "CH", score(&mut rng).trim_start_matches('('), &m]);
        d.check(&["ZPOPMIN", "big", &(round % 4).to_string()]);
        d.check(&["ZPOPMAX", "flat", "2"]);
        d.check(&["ZCARD", "big"]);
    }
    d.script(
        r#"
ZRANGE big 0 -1 WITHSCORES
ZRANGE flat 0 -1
ZUNIONSTORE u 2 big flat WEIGHTS 2 3
ZRANGE u 0 -1 WITHSCORES
ZINTERSTORE i 2 big u AGGREGATE MIN
ZRANGE i 0 -1 WITHSCORES
ZDIFF 2 big i WITHSCORES
ZRANGESTORE r big 10 200
OBJECT ENCODING r
ZRANGESTORE r big 10 100
OBJECT ENCODING r
ZRANDMEMBER flat 100000
DEBUG DIGEST
"#,
    );
}

/// ZSCAN of a skiplist: the same members and scores as Redis over a whole iteration,
/// every member present throughout is returned even while the set grows and shrinks.
#[test]
fn zscan_of_big_sets_matches_redis() {
    let mut d = Diff::new(&[]);
    load_big(&mut d);
    d.script("ZADD big 1e17 e17 -0 negz 1.5 half\n");
    let (a, b) = d.conns();
    for extra in [&[][..], &["COUNT", "7"][..], &["MATCH", "m0001*"][..], &["COUNT", "1000"][..]] {
        let mine = scan_elements(a, "ZSCAN", "big", extra, Scan::Pairs);
        let theirs = scan_elements(b, "ZSCAN", "big", extra, Scan::Pairs);
        assert_eq!(mine, theirs, "ZSCAN big 0 {extra:?}");
    }
    // Writes between the calls of one iteration: the members there from start to end
    // must all be reported.
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    let mut step = 0;
    loop {
        let reply = a.val(&["ZSCAN", "big", &cursor, "COUNT", "20"]);
        let parts = items(&reply);
        cursor = text(&parts[0]);
        for pair in items(&parts[1]).chunks(2) {
            seen.insert(text(&pair[0]));
        }
        step += 1;
        // A score no original member has, so the removals below only take these.
        let batch: Vec<String> = (0..50).flat_map(|j| ["1000.25".to_string(), format!("tmp{step}:{j}")]).collect();
        let mut args = vec!["ZADD".to_string(), "big".to_string()];
        args.extend(batch);
        a.val(&args);
        if step > 20 {
            a.val(&["ZREMRANGEBYSCORE", "big", "1000.25", "1000.25"]);
        }
        if cursor == "0" || step > 10_000 {
            break;
        }
    }
    for i in 0..2000 {
        let m = format!("m{i:05}");
        assert!(seen.contains(&m), "{m} was in the set for the whole scan but not returned");
    }
}

/// ZRANDMEMBER's random replies, by their shape: counts, distinctness, membership,
/// scores that belong to their members, in both encodings and protocols.
#[test]
fn zrandmember_semantics() {
    for (args, key) in [(&[][..], "small"), (&["--zset-max-listpack-entries", "0"][..], "small")] {
        for resp3 in [false, true] {
            let s = ServerProcess::redoubt(args);
            let mut c = s.conn();
            if resp3 {
                c.val(&["HELLO", "3"]);
            }
            let mut all = std::collections::HashMap::new();
            let mut zadd = vec!["ZADD".to_string(), key.to_string()];
            for i in 0..30 {
                zadd.push(format!("{}", i * 2));
                zadd.push(format!("m{i}"));
                all.insert(format!("m{i}"), format!("{}", i * 2));
            }
            c.val(&zadd);
            let single = text(&c.val(&["ZRANDMEMBER", key]));
            assert!(all.contains_key(&single));
            for (count, withscores) in [(5i64, false), (5, true), (25, true), (-50, false), (-50, true), (29, false)] {
                let mut cmd = vec!["ZRANDMEMBER".to_string(), key.to_string(), count.to_string()];
                if withscores {
                    cmd.push("WITHSCORES".to_string());
                }
                let reply = c.val(&cmd);
                let flat: Vec<Value> = if withscores && resp3 {
                    items(&reply).iter().flat_map(|p| items(p).to_vec()).collect()
                } else {
                    items(&reply).to_vec()
                };
                let step = if withscores { 2 } else { 1 };
                assert_eq!(flat.len() / step, count.unsigned_abs() as usize, "{cmd:?}");
                let members: Vec<String> = flat.iter().step_by(step).map(text).collect();
                for (i, m) in members.iter().enumerate() {
                    assert!(all.contains_key(m), "{m} is not a member");
                    if withscores {
                        let got = text(&flat[i * 2 + 1]);
                        assert_eq!(got.parse::<f64>().ok(), all[m].parse::<f64>().ok(), "score of {m}");
                    }
                }
                if count > 0 {
                    let distinct: std::collections::HashSet<&String> = members.iter().collect();
                    assert_eq!(distinct.len(), members.len(), "distinct members for {cmd:?}");
                }
            }
        }
    }
}

/// DEBUG DIGEST equal to Redis's over a dataset of sorted sets of both encodings,
/// including -0, infinities, binary members and scores that print with 17 digits.
#[test]
fn digest_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
ZADD a 1 x 0.1 y -0 z inf i -inf ni 3.14159265358979 pi "\x00\xff" bin
ZADD b 1 x
CONFIG SET zset-max-listpack-entries 0
ZADD c 1 x 0.1 y -0 z inf i -inf ni 3.14159265358979 pi "\x00\xff" bin
CONFIG SET zset-max-listpack-entries 128
EXPIRE b 1000
DEBUG DIGEST-VALUE a b c
DEBUG DIGEST
SELECT 3
ZADD other 5 five
DEBUG DIGEST
"#,
    );
}

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// Loads one sorted set of `n` members (`member:<i>` scored `i`, the leaderboard
/// shape), pipelined, and returns the growth of the server's RSS.
fn rss_growth_for_zset(s: &ServerProcess, n: usize) -> u64 {
    let pid = s.pid().expect("server pid");
    let mut c = s.conn();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = rss_bytes(pid);
    const PER_CMD: usize = 100;
    const CMDS_PER_BATCH: usize = 100;
    let mut i = 0;
    while i < n {
        let mut bytes = Vec::new();
        let mut sent = 0;
        while sent < CMDS_PER_BATCH && i < n {
            let mut args = vec!["ZADD".to_string(), "leaderboard".to_string()];
            for j in i..(i + PER_CMD).min(n) {
                args.push(j.to_string());
                args.push(format!("member:{j}"));
            }
            i = (i + PER_CMD).min(n);
            bytes.extend(crate::support::conn::encode(&args));
            sent += 1;
        }
        c.send_raw(&bytes);
        for _ in 0..sent {
            let r = c.read();
            assert!(r.starts_with(b":"), "{}", String::from_utf8_lossy(&r));
        }
    }
    assert_eq!(c.cmd(&["ZCARD", "leaderboard"]), format!(":{n}\r\n").into_bytes());
    std::thread::sleep(std::time::Duration::from_millis(500));
    rss_bytes(pid).saturating_sub(before)
}

/// The issue's target: a 1,000,000-member sorted set takes no more memory in Redoubt
/// than in Redis (RSS growth of each process while loading it).
#[test]
fn million_member_zset_takes_less_memory_than_redis() {
    const N: usize = 1_000_000;
    let redoubt = rss_growth_for_zset(&ServerProcess::redoubt(&[]), N);
    let redis = rss_growth_for_zset(&ServerProcess::redis(&[]), N);
    let ratio = redoubt as f64 / redis as f64;
    eprintln!(
        "1,000,000-member sorted set: redoubt {} B/member, redis {} B/member, ratio {ratio:.3}",
        redoubt / N as u64,
        redis / N as u64
    );
    assert!(ratio <= 1.0, "Redoubt uses {ratio:.3}x Redis's memory for a big sorted set");
}

/// Blocking pops with data, without a client able to block (MULTI), and their errors.
#[test]
fn blocking_pops_with_data_or_bad_arguments() {
    let script = r#"
ZADD z 1 a 2 b 3 c
SET str x
BZPOPMIN z 0
BZPOPMAX z 0
BZPOPMIN nokey z 0.5
BZPOPMIN str 0
BZPOPMIN nokey str 0
BZPOPMIN z -1
BZPOPMIN z x
BZPOPMIN z 1e400
BZPOPMIN z
ZADD z 1 a 2 b 3 c
BZMPOP 0 1 z MIN
BZMPOP 0 2 nokey z MAX COUNT 2
ZADD z 1 a 2 b
BZMPOP 0 1 z MIN COUNT 10
BZMPOP x 1 z MIN
BZMPOP 0 0 z MIN
BZMPOP 0 1 z LEFT
BZMPOP 0 1 z MIN COUNT 0
BZMPOP 0 1 str MIN
MULTI
BZPOPMIN nokey 0
BZMPOP 0 1 nokey MAX
EXEC
"#;
    Diff::new(&[]).script(script);
    Diff::new(&[]).resp3().script(script);
}

#[test]
fn blocked_zset_pops_are_served_like_redis() {
    same_on_both(&[], |s, t| {
        let (mut a, mut b, mut c, mut d, mut p) = (s.conn(), s.conn(), s.conn(), s.conn(), s.conn());
        block(t, "a", &mut a, &mut p, &["BZPOPMIN", "z1", "z2", "0"], 1);
        block(t, "b", &mut b, &mut p, &["BZPOPMAX", "z2", "0"], 2);
        block(t, "c", &mut c, &mut p, &["BZMPOP", "0", "2", "z2", "z1", "MAX", "COUNT", "2"], 3);
        block(t, "d", &mut d, &mut p, &["BLPOP", "z1", "0"], 4);
        // A list on a key zset waiters wait on does not serve them.
        t.cmd("p", &mut p, &["RPUSH", "z1", "x"]);
        t.frames("d", &mut d, 1);
        t.silence("a", &mut a);
        t.cmd("p", &mut p, &["ZADD", "z2", "1", "m1", "2", "m2", "3", "m3", "4", "m4"]);
        t.frames("a", &mut a, 1);
        t.frames("b", &mut b, 1);
        t.frames("c", &mut c, 1);
        t.cmd("p", &mut p, &["ZRANGE", "z2", "0", "-1", "WITHSCORES"]);
        t.note(format!("blocked {}", blocked_clients(&mut p)));
        // Keys created by store commands, GEOADD, ZINCRBY and RENAME wake waiters too.
        block(t, "a", &mut a, &mut p, &["BZPOPMIN", "s1", "0"], 1);
        block(t, "b", &mut b, &mut p, &["BZPOPMAX", "s2", "0"], 2);
        block(t, "c", &mut c, &mut p, &["BZMPOP", "0", "1", "s3", "MIN"], 3);
        block(t, "d", &mut d, &mut p, &["BZPOPMIN", "s4", "0"], 4);
        t.cmd("p", &mut p, &["ZADD", "src", "1", "a", "2", "b"]);
        t.cmd("p", &mut p, &["ZUNIONSTORE", "s1", "1", "src"]);
        t.frames("a", &mut a, 1);
        t.cmd("p", &mut p, &["GEOADD", "s2", "13.361389", "38.115556", "Palermo"]);
        t.frames("b", &mut b, 1);
        t.cmd("p", &mut p, &["ZINCRBY", "s3", "5", "x"]);
        t.frames("c", &mut c, 1);
        t.cmd("p", &mut p, &["ZADD", "tmp", "7", "y"]);
        t.cmd("p", &mut p, &["RENAME", "tmp", "s4"]);
        t.frames("d", &mut d, 1);
        // ZADD inside a transaction serves the waiter once EXEC runs; a pop in the
        // same transaction that empties the key leaves it waiting.
        block(t, "a", &mut a, &mut p, &["BZPOPMIN", "m", "0"], 1);
        t.cmd("p", &mut p, &["MULTI"]);
        t.cmd("p", &mut p, &["ZADD", "m", "1", "x"]);
        t.cmd("p", &mut p, &["ZPOPMIN", "m"]);
        t.cmd("p", &mut p, &["EXEC"]);
        t.silence("a", &mut a);
        t.cmd("p", &mut p, &["ZADD", "m", "2", "y", "1", "x"]);
        t.frames("a", &mut a, 1);
        t.cmd("p", &mut p, &["ZRANGE", "m", "0", "-1"]);
        // Timeouts answer the null array.
        t.cmd_frames("a", &mut a, &["BZPOPMIN", "never", "0.01"], 1);
        t.cmd_frames("a", &mut a, &["BZMPOP", "0.01", "1", "never", "MIN"], 1);
    });
}

#[test]
fn blocked_zset_pops_in_resp3() {
    same_on_both(&[], |s, t| {
        let (mut a, mut b, mut p) = (s.conn(), s.conn(), s.conn());
        for c in [&mut a, &mut b] {
            c.val(&["HELLO", "3"]);
        }
        block(t, "a", &mut a, &mut p, &["BZPOPMAX", "z", "0"], 1);
        block(t, "b", &mut b, &mut p, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"], 2);
        t.cmd("p", &mut p, &["ZADD", "z", "1.5", "a", "2", "b", "inf", "c"]);
        t.frames("a", &mut a, 1);
        t.frames("b", &mut b, 1);
        t.cmd_frames("a", &mut a, &["BZPOPMIN", "never", "0.01"], 1);
    });
}

/// Random command streams over a few keys (sorted sets and a plain set), under
/// thresholds that make some sets listpacks and others skiplists and convert them on
/// the way: every reply and the final DEBUG DIGEST compared with Redis's. Lex ranges go
/// to a set whose scores are all 0, where Redis defines them (on mixed scores a
/// skiplist's answer depends on its random levels).
#[test]
fn random_command_streams_match_redis() {
    for (seed, entries, value) in [(1u64, "0", "64"), (2, "4", "3"), (3, "16", "8"), (4, "128", "64")] {
        let mut d = Diff::new(&["--zset-max-listpack-entries", entries, "--zset-max-listpack-value", value]);
        let mut rng = Lcg(seed);
        let members: Vec<String> =
            (0..30).map(|i| format!("m{i}")).chain(["", "xxxxxxxxxx", "1", "-1", "10"].map(String::from)).collect();
        let pick = |rng: &mut Lcg, v: &[String]| v[rng.below(v.len() as u64) as usize].clone();
        let score = |rng: &mut Lcg| match rng.below(10) {
            0 => ["inf", "-inf", "+inf", "0", "-0"][rng.below(5) as usize].to_string(),
            1..=4 => (rng.below(11) as i64 - 5).to_string(),
            _ => format!("{}.{}", rng.below(11) as i64 - 5, rng.below(1000)),
        };
        let bound = |rng: &mut Lcg| {
            let s = score(rng);
            if rng.below(3) == 0 {
                format!("({s}")
            } else {
                s
            }
        };
        let lex = |rng: &mut Lcg| match rng.below(7) {
            0 => "-".to_string(),
            1 => "+".to_string(),
            _ => format!("{}{}", if rng.below(2) == 0 { "[" } else { "(" }, pick(rng, &members)),
        };
        let rank = |rng: &mut Lcg| (rng.below(25) as i64 - 12).to_string();
        let keys = ["a", "b", "c", "s"].map(String::from);
        for _ in 0..1500 {
            let (k, k2, k3) = (pick(&mut rng, &keys), pick(&mut rng, &keys), pick(&mut rng, &keys));
            let mut cmd: Vec<String> = match rng.below(20) {
                0 => {
                    let mut c = vec!["ZADD".to_string(), k];
                    for flag in ["NX", "XX", "CH", "GT", "LT", "INCR"] {
                        if rng.below(6) == 0 {
                            c.push(flag.to_string());
                        }
                    }
                    for _ in 0..=rng.below(3) {
                        c.push(score(&mut rng));
                        c.push(pick(&mut rng, &members));
                    }
                    c
                }
                1 => vec!["ZINCRBY".into(), k, score(&mut rng), pick(&mut rng, &members)],
                2 => vec!["ZREM".into(), k, pick(&mut rng, &members), pick(&mut rng, &members)],
                3 => vec!["ZRANGE".into(), k, rank(&mut rng), rank(&mut rng), "WITHSCORES".into()],
                4 => vec!["ZRANGE".into(), k, bound(&mut rng), bound(&mut rng), "BYSCORE".into(), "REV".into()],
                5 => vec![
                    "ZRANGE".into(),
                    k,
                    bound(&mut rng),
                    bound(&mut rng),
                    "BYSCORE".into(),
                    "LIMIT".into(),
                    rank(&mut rng),
                    rank(&mut rng),
                ],
                6 => vec!["ZRANGE".into(), "l".into(), lex(&mut rng), lex(&mut rng), "BYLEX".into()],
                7 => vec![
                    "ZREVRANGEBYLEX".into(),
                    "l".into(),
                    lex(&mut rng),
                    lex(&mut rng),
                    "LIMIT".into(),
                    "1".into(),
                    "3".into(),
                ],
                8 => vec!["ZLEXCOUNT".into(), "l".into(), lex(&mut rng), lex(&mut rng)],
                9 => vec![
                    "ZADD".into(),
                    "l".into(),
                    "0".into(),
                    pick(&mut rng, &members),
                    "0".into(),
                    pick(&mut rng, &members),
                ],
                10 => vec!["ZREMRANGEBYLEX".into(), "l".into(), lex(&mut rng), lex(&mut rng)],
                11 => vec!["ZCOUNT".into(), k, bound(&mut rng), bound(&mut rng)],
                12 => vec!["ZREMRANGEBYSCORE".into(), k, bound(&mut rng), bound(&mut rng)],
                13 => vec!["ZREMRANGEBYRANK".into(), k, rank(&mut rng), rank(&mut rng)],
                14 => vec![["ZPOPMIN", "ZPOPMAX"][rng.below(2) as usize].into(), k, rng.below(4).to_string()],
                15 => vec!["ZMPOP".into(), "2".into(), k, k2, "MAX".into(), "COUNT".into(), "2".into()],
                16 => vec![
                    ["ZUNION", "ZINTER", "ZDIFF"][rng.below(3) as usize].into(),
                    "2".into(),
                    k,
                    k2,
                    "WITHSCORES".into(),
                ],
                17 => vec![
                    ["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"][rng.below(3) as usize].into(),
                    k3,
                    "2".into(),
                    k,
                    k2,
                ],
                18 => vec!["ZRANGESTORE".into(), k3, k, rank(&mut rng), rank(&mut rng)],
                _ => vec!["SADD".into(), "s".into(), pick(&mut rng, &members)],
            };
            if rng.below(8) == 0 {
                cmd = vec!["OBJECT".into(), "ENCODING".into(), pick(&mut rng, &keys)];
            }
            d.check(&cmd);
        }
        d.script("ZRANGE a 0 -1 WITHSCORES\nZRANGE l 0 -1\nDEBUG DIGEST\n");
    }
}
