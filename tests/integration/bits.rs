//! Bit commands, differential: SETBIT/GETBIT, BITCOUNT and BITPOS with BYTE and BIT
//! ranges, BITOP, BITFIELD and BITFIELD_RO with every type width and overflow mode.

use crate::support::Diff;

#[test]
fn setbit_getbit() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SETBIT b 7 1
GET b
SETBIT b 7 1
SETBIT b 7 0
GET b
SETBIT b 100 1
STRLEN b
GET b
GETBIT b 100
GETBIT b 99
GETBIT b 1000000
GETBIT b 4294967295
GETBIT missing 0
SETBIT b -1 1
SETBIT b 4294967296 1
SETBIT b abc 1
SETBIT b 0 2
SETBIT b 0 -1
SETBIT b 0 a
SETBIT b 0 ""
GETBIT b -1
GETBIT b 4294967296
GETBIT b x
SETBIT n 0 1
SET n 12
SETBIT n 5 1
GET n
OBJECT ENCODING n
GETBIT n 2
SETBIT "\x00" 0 1
GET "\x00"
SETBIT b 0
GETBIT b
SETBIT empty 0 0
GET empty
STRLEN empty
"#,
    );
}

#[test]
fn bitcount_and_bitpos() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SET s foobar
BITCOUNT s
BITCOUNT s 0 0
BITCOUNT s 1 1
BITCOUNT s 1 -2
BITCOUNT s -100 100
BITCOUNT s 5 1
BITCOUNT s 0 -1 BYTE
BITCOUNT s 5 30 BIT
BITCOUNT s 0 -1 BIT
BITCOUNT s -8 -1 BIT
BITCOUNT s 47 47 BIT
BITCOUNT s 48 100 BIT
BITCOUNT s 0 -1 bit
BITCOUNT s 0 -1 FOO
BITCOUNT s 0
BITCOUNT s 0 1 2
BITCOUNT s a b
BITCOUNT s 0 9223372036854775807
BITCOUNT s -9223372036854775808 -1
BITCOUNT missing
BITCOUNT missing 0 -1
BITCOUNT missing 0 -1 BIT
BITCOUNT
SET z ""
BITCOUNT z
SET ff "\xff\xf0\x00"
BITPOS ff 0
BITPOS ff 1
BITPOS ff 0 1
BITPOS ff 1 2
BITPOS ff 0 2
BITPOS ff 0 0 0
BITPOS ff 0 0 -1
BITPOS ff 1 2 -1
BITPOS ff 0 8 15 BIT
BITPOS ff 1 8 15 BIT
BITPOS ff 0 7 11 BIT
BITPOS ff 1 12 -1 BIT
BITPOS ff 0 0 -1 BYTE
BITPOS ff 1 -1 -1
BITPOS ff 1 100
BITPOS ff 0 100
BITPOS ff 0 -100
BITPOS ff 2
BITPOS ff -1
BITPOS ff a
BITPOS ff 1 a
BITPOS ff 1 0 a
BITPOS ff 1 0 -1 FOO
BITPOS ff 1 0 -1 BIT extra
BITPOS missing 0
BITPOS missing 1
BITPOS missing 0 5
BITPOS missing 1 0 -1 BIT
SET all "\xff\xff"
BITPOS all 0
BITPOS all 0 0
BITPOS all 0 0 -1
BITPOS all 0 0 15 BIT
SET none "\x00\x00"
BITPOS none 1
BITPOS none 0
BITPOS none 1 0 -1
BITPOS
BITPOS ff
"#,
    );
}

#[test]
fn bitop() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SET a "\xff\x0f\x00"
SET b "\xf0\xff"
SET c "\x01"
BITOP AND dest a b
GET dest
BITOP OR dest a b c
GET dest
BITOP XOR dest a b c
GET dest
BITOP NOT dest a
GET dest
BITOP not dest b
GET dest
BITOP NOT dest a b
BITOP FOO dest a
BITOP AND dest
BITOP AND
BITOP AND dest missing
EXISTS dest
SET dest x
BITOP OR dest missing missing2
EXISTS dest
BITOP AND dest a missing
GET dest
BITOP OR dest a missing
GET dest
BITOP XOR dest a a
GET dest
BITOP AND a a b
GET a
SET e ""
BITOP NOT dest e
EXISTS dest
SET n 255
BITOP NOT dest n
GET dest
"#,
    );
    // Long operands take the word-at-a-time paths.
    let x: Vec<u8> = (0..1000u32).map(|i| (i * 37 % 251) as u8).collect();
    let y: Vec<u8> = (0..777u32).map(|i| (i * 91 % 253) as u8).collect();
    d.check(&[b"SET".as_slice(), b"x", &x]);
    d.check(&[b"SET".as_slice(), b"y", &y]);
    for op in ["AND", "OR", "XOR"] {
        d.check(&["BITOP", op, "r", "x", "y"]);
        d.check(&["GET", "r"]);
        d.check(&["BITCOUNT", "r"]);
    }
    d.check(&["BITOP", "NOT", "r", "x"]);
    d.check(&["GET", "r"]);
    d.check(&["BITCOUNT", "x", "3", "-7"]);
    d.check(&["BITCOUNT", "x", "13", "6000", "BIT"]);
    d.check(&["BITPOS", "x", "0", "100"]);
    d.check(&["BITPOS", "r", "1", "500", "-1"]);
}

#[test]
fn bitfield() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
BITFIELD bf SET i8 0 100 GET i8 0
BITFIELD bf SET u8 8 255 GET u8 8 GET i8 8
BITFIELD bf INCRBY i8 0 100
BITFIELD bf INCRBY i8 0 100
BITFIELD bf OVERFLOW SAT INCRBY i8 0 100
BITFIELD bf OVERFLOW SAT INCRBY i8 0 -1000
BITFIELD bf OVERFLOW FAIL INCRBY i8 0 -100
BITFIELD bf OVERFLOW FAIL INCRBY i8 0 -10
BITFIELD bf OVERFLOW WRAP INCRBY u8 8 10
BITFIELD bf OVERFLOW SAT INCRBY u8 8 300
BITFIELD bf OVERFLOW SAT INCRBY u8 8 -300
BITFIELD bf OVERFLOW FAIL INCRBY u8 8 -1
BITFIELD bf OVERFLOW FAIL SET u8 8 300
BITFIELD bf OVERFLOW SAT SET u8 8 300
BITFIELD bf OVERFLOW SAT SET i8 8 -300
BITFIELD bf OVERFLOW WRAP SET i8 8 200
GET bf
BITFIELD bf GET u4 0 GET u4 4 GET i4 0 GET u1 3 GET i1 3
BITFIELD bf SET i64 0 -1 GET i64 0 GET u63 0 GET u63 1
BITFIELD bf SET i64 0 9223372036854775807 INCRBY i64 0 1
BITFIELD bf OVERFLOW SAT SET i64 0 9223372036854775807 INCRBY i64 0 1
BITFIELD bf OVERFLOW FAIL INCRBY i64 0 1
BITFIELD bf SET u63 0 9223372036854775807 INCRBY u63 0 1
BITFIELD bf OVERFLOW SAT INCRBY u63 0 -1 INCRBY u63 0 -9223372036854775807
BITFIELD bf GET u64 0
BITFIELD bf GET i65 0
BITFIELD bf GET u0 0
BITFIELD bf GET i0 0
BITFIELD bf GET x8 0
BITFIELD bf GET 8 0
BITFIELD bf GET i8 -1
BITFIELD bf GET i8 abc
BITFIELD bf GET i8 #1
BITFIELD bf SET i8 #1 -5 GET i8 #1 GET i8 8
BITFIELD bf SET u16 #2 65535 GET u16 32
BITFIELD bf GET i8 #-1
BITFIELD bf GET i8 #
BITFIELD bf SET i8 0 abc
BITFIELD bf INCRBY i8 0 1.5
BITFIELD bf OVERFLOW FOO
BITFIELD bf OVERFLOW
BITFIELD bf GET i8
BITFIELD bf SET i8 0
BITFIELD bf FOO i8 0
BITFIELD bf
BITFIELD bf GET u8 4294967295
BITFIELD bf GET u8 4294967296
BITFIELD missing GET u8 0 GET i16 100
EXISTS missing
BITFIELD new INCRBY u2 100 1 OVERFLOW SAT incrby u2 102 1
BITFIELD new INCRBY u2 100 1 OVERFLOW SAT incrby u2 102 1
BITFIELD new INCRBY u2 100 1 OVERFLOW SAT incrby u2 102 1
BITFIELD new INCRBY u2 100 1 OVERFLOW SAT incrby u2 102 1
GET new
BITFIELD new overflow wrap set i3 5 3 get i3 5 incrby i3 5 1
BITFIELD_RO bf GET i8 0 GET u16 #1
BITFIELD_RO bf SET i8 0 1
BITFIELD_RO bf INCRBY i8 0 1
BITFIELD_RO bf OVERFLOW SAT GET i8 0
BITFIELD_RO bf
BITFIELD_RO missing GET i8 0
BITFIELD_RO
BITFIELD
SET str 1234
BITFIELD str GET u8 0 SET u8 0 65
GET str
OBJECT ENCODING str
"#,
    );
}
