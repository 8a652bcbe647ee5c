//! Expiry, differential: EXPIRE family with NX/XX/GT/LT, TTL/PTTL (compared with a
//! tolerance), EXPIRETIME on absolute times (exactly), PERSIST, which commands keep or
//! clear a TTL, and lazy expiry (an expired key is never visible).

use crate::support::Diff;

#[test]
fn expire_options() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SET k v
EXPIRE k 100
[approx 1] TTL k
EXPIRE k 100 NX
EXPIRE k 200 XX
[approx 1] TTL k
EXPIRE k 50 GT
EXPIRE k 300 GT
[approx 1] TTL k
EXPIRE k 400 LT
EXPIRE k 10 LT
[approx 1] TTL k
PERSIST k
PERSIST k
EXPIRE k 100 XX
EXPIRE k 100 GT
EXPIRE k 100 LT
EXPIRE k 100 NX
PERSIST k
EXPIRE k 100 NX
EXPIRE k 100 nx
EXPIRE k 100 NX XX
EXPIRE k 100 GT LT
EXPIRE k 100 NX GT
EXPIRE k 100 NX LT
EXPIRE k 200 XX GT
EXPIRE k 50 XX LT
EXPIRE k 100 XX XX
EXPIRE k 100 FOO
EXPIRE k 100 NX FOO
EXPIRE missing 100
EXPIRE missing 100 XX
EXPIRE k abc
EXPIRE k 1.5
EXPIRE k ""
EXPIRE k
EXPIRE
EXPIRE k 9223372036854775807
EXPIRE k 9223372036854775
EXPIRE k -9223372036854775808
PEXPIRE k 9223372036854775807
PEXPIREAT k 9223372036854775807
EXPIREAT k 9223372036854775807
EXPIREAT k 9223372036854775
[approx 1] TTL k
EXPIREAT k 4102444800
EXPIRETIME k
PEXPIRETIME k
TTL missing
PTTL missing
EXPIRETIME missing
PEXPIRETIME missing
SET p v
TTL p
PTTL p
EXPIRETIME p
PEXPIRETIME p
PEXPIREAT p 4102444800999
PEXPIRETIME p
EXPIRETIME p
PEXPIRE p 100000 GT
PEXPIRE p 100000 LT
[approx 2000] PTTL p
EXPIREAT p 4102444801 GT
EXPIRETIME p
EXPIREAT p 1 GT
EXPIREAT p 4102444800 NX
PEXPIREAT p 4102444800000 LT
PEXPIRETIME p
EXPIRETIME
TTL
PTTL a b
PERSIST
"#,
    );
}

#[test]
fn expire_in_the_past_deletes() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SET k v
EXPIRE k 0
EXISTS k
SET k v
EXPIRE k -1
EXISTS k
SET k v
PEXPIRE k -100
EXISTS k
SET k v
EXPIREAT k 1
EXISTS k
SET k v
PEXPIREAT k 0
EXISTS k
SET k v
EXPIRE k -1 NX
EXISTS k
SET k v EX 100
EXPIRE k -1 NX
EXISTS k
SET k v EX 100
EXPIRE k -1 GT
EXISTS k
SET k v EX 100
EXPIRE k -1 LT
EXISTS k
SET k v
EXPIRE k -1 XX
EXISTS k
"#,
    );
}

#[test]
fn which_commands_keep_the_ttl() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SET k 1 EXAT 4102444800
APPEND k 2
EXPIRETIME k
INCR k
EXPIRETIME k
INCRBYFLOAT k 1.5
EXPIRETIME k
SETRANGE k 0 9
EXPIRETIME k
SETBIT k 1 1
EXPIRETIME k
BITFIELD k SET u8 0 65
EXPIRETIME k
GETEX k
EXPIRETIME k
GETSET k new
EXPIRETIME k
SET k 1 EXAT 4102444800
SET k 2
EXPIRETIME k
SET k 1 EXAT 4102444800
SET k 2 KEEPTTL
EXPIRETIME k
SET k 1 EXAT 4102444800
SET k 2 NX
EXPIRETIME k
SET k 2 XX
EXPIRETIME k
SET k 1 EXAT 4102444800
MSET k 3
EXPIRETIME k
SET k 1 EXAT 4102444800
RENAME k r
EXPIRETIME r
COPY r c
EXPIRETIME c
MOVE c 1
SELECT 1
EXPIRETIME c
SELECT 0
SET r 1 EXAT 4102444800
SETEX r 1000 v
[approx 1] TTL r
PSETEX r 1000000 v
[approx 2000] PTTL r
SET d 1 EXAT 4102444800
DEL d
SET d 1
EXPIRETIME d
"#,
    );
}

#[test]
fn lazy_expiry_hides_expired_keys() {
    // Active expiry off on both, so only lazy expiry can remove the keys: the
    // replies are then deterministic (DBSIZE counts expired keys until they are touched).
    let mut d = Diff::new(&[]);
    d.script(
        r#"
DEBUG SET-ACTIVE-EXPIRE 0
SET a v PX 30
SET b v PX 30
SET c v PX 30
SET d v PX 30
SET e v PX 30
SET f v PX 30
SET g 5 PX 30
SET h 1 PX 30
SET keep v
[sleep 80]
DBSIZE
GET a
EXISTS b
TTL c
PTTL c
TYPE d
STRLEN e
GETRANGE f 0 -1
INCR g
GET g
TTL g
APPEND h x
GET h
[unordered] KEYS *
DBSIZE
SET x v PX 30
SET y v PX 30
SET z v PX 30
SET w v PX 30
SET u v PX 30
[sleep 80]
RENAME x x2
COPY y y2
MOVE z 1
SETNX w new
GET w
OBJECT ENCODING u
[type] RANDOMKEY
[scan] SCAN 0
DBSIZE
SET t v PX 30
[sleep 80]
EXPIRE t 100
PERSIST t
SET t2 v PX 30
[sleep 80]
GETEX t2 PERSIST
GETDEL t2
SET s v PX 30
[sleep 80]
SET s new NX
GET s
[approx 1] TTL s
SET n v PX 30
[sleep 80]
SET n new XX
GET n
SET m v PX 30
[sleep 80]
SET m new GET
DEBUG SET-ACTIVE-EXPIRE 1
"#,
    );
}
