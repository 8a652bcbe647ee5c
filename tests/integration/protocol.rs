//! The wire protocol: every malformed request of issue 2 item 2 gets Redis 7.0's exact
//! error, the connection closes, and the server keeps serving everyone else; pipelining,
//! inline commands, RESP3. Each bad input runs on both servers, so the expected text is
//! checked against the oracle as well as against Redoubt.

use std::time::Duration;

use crate::support::{esc, Diff, ServerProcess};

/// How long a server has to close a connection after a protocol error.
const CLOSE: Duration = Duration::from_secs(5);
/// How long "no reply yet" is watched for when a request is legal but incomplete.
const QUIET: Duration = Duration::from_millis(300);

/// Sends `bad` on a fresh connection and asserts the server answers exactly `expected`,
/// closes that connection, and still serves a client that was connected before and a
/// client that connects after.
fn assert_protocol_error(s: &ServerProcess, password: Option<&str>, bad: &[u8], expected: &[u8]) {
    let mut bystander = s.conn();
    let mut newcomer = s.conn();
    if let Some(pass) = password {
        assert_eq!(bystander.cmd(&["AUTH", pass]), b"+OK\r\n");
        assert_eq!(newcomer.cmd(&["AUTH", pass]), b"+OK\r\n");
    }
    assert_eq!(bystander.cmd(&["SET", "bystander", "1"]), b"+OK\r\n");
    let mut c = s.conn();
    // The server may close before it has read everything; that is not a failure.
    let _ = c.try_send_raw(bad);
    let got = c.read_until_close(CLOSE).unwrap_or_else(|e| {
        panic!(
            "{}: after {} expected {} then a close: {e}",
            s.flavor.name(),
            esc(&bad[..bad.len().min(64)]),
            esc(expected)
        )
    });
    assert_eq!(esc(&got), esc(expected), "{}: reply to {}", s.flavor.name(), esc(&bad[..bad.len().min(64)]));
    assert_eq!(bystander.cmd(&["GET", "bystander"]), b"$1\r\n1\r\n", "{}: the other client", s.flavor.name());
    assert_eq!(newcomer.cmd(&["PING"]), b"+PONG\r\n", "{}: another client", s.flavor.name());
    let mut late = s.conn();
    let pong = late.cmd(&["PING"]);
    assert!(
        pong == b"+PONG\r\n" || pong.starts_with(b"-NOAUTH"),
        "{}: a new client got {}",
        s.flavor.name(),
        esc(&pong)
    );
}

/// Runs `assert_protocol_error` for every case on Redis (the oracle) and Redoubt.
fn check_errors(args: &[&str], cases: &[(&[u8], &[u8])]) {
    let password = args.iter().position(|a| *a == "--requirepass").and_then(|i| args.get(i + 1).copied());
    for s in [ServerProcess::redis(args), ServerProcess::redoubt(args)] {
        for (bad, expected) in cases {
            assert_protocol_error(&s, password, bad, expected);
        }
    }
}

/// Asserts the server sends nothing and keeps the connection open after `partial`
/// (a legal request that is not complete yet), then still serves another client.
fn assert_waits_for_more(s: &ServerProcess, partial: &[u8]) {
    let mut c = s.conn();
    c.send_raw(partial);
    c.expect_silent(QUIET);
    assert_eq!(s.conn().cmd(&["PING"]), b"+PONG\r\n");
}

const BAD_MULTIBULK: &[u8] = b"-ERR Protocol error: invalid multibulk length\r\n";
const BAD_BULK: &[u8] = b"-ERR Protocol error: invalid bulk length\r\n";

#[test]
fn bad_multibulk_length() {
    check_errors(
        &[],
        &[
            (b"*abc\r\n", BAD_MULTIBULK),
            (b"*1x\r\n", BAD_MULTIBULK),
            (b"*\r\n", BAD_MULTIBULK),
            (b"*+1\r\n", BAD_MULTIBULK),
            (b"*2147483648\r\n", BAD_MULTIBULK),
            (b"*3000000000\r\n", BAD_MULTIBULK),
            (b"*99999999999999999999999\r\n", BAD_MULTIBULK),
        ],
    );
}

#[test]
fn multibulk_count_up_to_i32_max_is_accepted() {
    for s in [ServerProcess::redis(&[]), ServerProcess::redoubt(&[])] {
        assert_waits_for_more(&s, b"*2147483647\r\n");
        assert_waits_for_more(&s, b"*1048577\r\n");
    }
}

#[test]
fn bad_bulk_length() {
    check_errors(
        &[],
        &[
            (b"*1\r\n$abc\r\n", BAD_BULK),
            (b"*2\r\n$-1\r\n", BAD_BULK),
            (b"*1\r\n$-5\r\n", BAD_BULK),
            (b"*1\r\n$\r\n", BAD_BULK),
            (b"*1\r\n$2147483648\r\n", BAD_BULK),
            (b"*1\r\n$99999999999999999999\r\n", BAD_BULK),
            // Redis's default proto-max-bulk-len is 512mb.
            (b"*1\r\n$536870913\r\n", BAD_BULK),
            (b"PING\r\n*1\r\n$x\r\n", b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"),
        ],
    );
}

#[test]
fn bulk_longer_than_proto_max_bulk_len() {
    let args = ["--proto-max-bulk-len", "1mb"];
    check_errors(&args, &[(b"*2\r\n$3\r\nGET\r\n$1048577\r\n", BAD_BULK)]);
    for s in [ServerProcess::redis(&args), ServerProcess::redoubt(&args)] {
        // Exactly the limit is fine.
        let value = vec![b'v'; 1 << 20];
        let mut c = s.conn();
        assert_eq!(c.cmd(&[b"SET".as_slice(), b"big", &value]), b"+OK\r\n", "{}", s.flavor.name());
        assert_eq!(c.cmd(&["STRLEN", "big"]), b":1048576\r\n");
        assert_waits_for_more(&s, b"*2\r\n$3\r\nGET\r\n$1048576\r\n");
    }
}

#[test]
fn expected_dollar() {
    check_errors(
        &[],
        &[
            (b"*1\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
            (b"*2\r\n$4\r\nECHO\r\n+hi\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
            (b"*1\r\nPING\r\n", b"-ERR Protocol error: expected '$', got 'P'\r\n"),
        ],
    );
}

#[test]
fn unbalanced_quotes() {
    let err: &[u8] = b"-ERR Protocol error: unbalanced quotes in request\r\n";
    check_errors(
        &[],
        &[
            (b"SET \"a b\r\n", err),
            (b"SET k 'it''s'\r\n", err),
            (b"SET \"a\"b c\r\n", err),
            (b"ECHO 'abc\r\n", err),
            (b"PING\r\nECHO \"x\r\n", b"+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n"),
        ],
    );
}

#[test]
fn requests_over_64kb_without_a_newline() {
    let mut inline = vec![b'a'; 70_000];
    let mut mbulk = b"*".to_vec();
    mbulk.extend(vec![b'1'; 70_000]);
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(vec![b'1'; 70_000]);
    check_errors(
        &[],
        &[
            (&inline, b"-ERR Protocol error: too big inline request\r\n"),
            (&mbulk, b"-ERR Protocol error: too big mbulk count string\r\n"),
            (&bulk, b"-ERR Protocol error: too big bulk count string\r\n"),
        ],
    );
    // Just under 64 KB is still waited for, and then served.
    inline.truncate(60_000);
    for s in [ServerProcess::redis(&[]), ServerProcess::redoubt(&[])] {
        let mut c = s.conn();
        c.send_raw(b"ECHO ");
        c.send_raw(&inline);
        c.expect_silent(QUIET);
        c.send_raw(b"\r\n");
        let reply = c.read();
        assert!(reply.starts_with(b"$60000\r\naaa"), "{}: {}", s.flavor.name(), esc(&reply[..20.min(reply.len())]));
    }
}

#[test]
fn query_buffer_over_client_query_buffer_limit_closes_without_reply() {
    let args = ["--client-query-buffer-limit", "1mb"];
    let mut bad = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n".to_vec();
    bad.extend(vec![b'x'; 1_500_000]);
    for s in [ServerProcess::redis(&args), ServerProcess::redoubt(&args)] {
        assert_protocol_error(&s, None, &bad, b"");
        assert!(
            s.log().contains("Closing client that reached max query buffer length"),
            "{}: the log says why the client was closed",
            s.flavor.name()
        );
        // Under the limit, the same shape of request is served.
        let mut ok = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$900000\r\n".to_vec();
        ok.extend(vec![b'x'; 900_000]);
        ok.extend(b"\r\n");
        assert_eq!(s.conn().raw(&ok), b"+OK\r\n", "{}", s.flavor.name());
    }
}

#[test]
fn unauthenticated_limits_with_requirepass() {
    let args = ["--requirepass", "secret"];
    check_errors(
        &args,
        &[
            (b"*11\r\n", b"-ERR Protocol error: unauthenticated multibulk length\r\n"),
            (b"*1\r\n$16385\r\n", b"-ERR Protocol error: unauthenticated bulk length\r\n"),
            (
                b"*1\r\n$4\r\nPING\r\n*1\r\n$16385\r\n",
                b"-NOAUTH Authentication required.\r\n-ERR Protocol error: unauthenticated bulk length\r\n",
            ),
        ],
    );
    // The same sizes are fine once authenticated, and without a password at all.
    for s in [ServerProcess::redis(&args), ServerProcess::redoubt(&args)] {
        let mut c = s.conn();
        assert_eq!(c.cmd(&["AUTH", "secret"]), b"+OK\r\n");
        let value = vec![b'v'; 20_000];
        assert_eq!(c.cmd(&[b"SET".as_slice(), b"k", &value]), b"+OK\r\n", "{}", s.flavor.name());
        let mut args11 = vec!["MSET"];
        args11.extend(["a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]);
        assert_eq!(c.cmd(&args11), b"+OK\r\n", "{}", s.flavor.name());
        c.send_raw(b"*11\r\n");
        c.expect_silent(QUIET);
    }
}

#[test]
fn a_client_that_vanishes_mid_request_harms_nobody() {
    for s in [ServerProcess::redis(&[]), ServerProcess::redoubt(&[])] {
        for partial in [&b"*3\r\n$3\r\nSET\r\n$1\r\nk"[..], b"*2\r\n$3\r\nGET", b"SET k v", b"*1\r\n$100\r\nabc"] {
            let mut c = s.conn();
            c.send_raw(partial);
            c.close();
        }
        let mut c = s.conn();
        assert_eq!(c.cmd(&["GET", "k"]), b"$-1\r\n", "{}", s.flavor.name());
    }
}

#[test]
fn legal_oddities_match_redis() {
    let mut d = Diff::new(&[]);
    // Empty multibulks and empty lines are skipped; `\n` alone ends an inline line.
    d.raw(b"*0\r\n*1\r\n$4\r\nPING\r\n");
    d.raw(b"*-1\r\n*1\r\n$4\r\nPING\r\n");
    d.raw(b"*-10\r\nPING\r\n");
    d.raw(b"\r\n\r\n\n\nPING\r\n");
    d.raw(b"PING\n");
    d.raw(b"   PING   \r\n");
    d.raw(b"ping\r\n");
    d.raw(b"PiNg hello\r\n");
    d.raw(b"*1\r\n$0\r\n\r\n");
    d.raw(b"\"\"\r\n");
    d.raw(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
    d.raw(b"*2\r\n$4\r\necho\r\n$3\r\na\r\n\r\n");
    // A request split across many writes.
    for chunk in [&b"*2\r"[..], b"\n$4\r\nEC", b"HO\r\n$5", b"\r\nhel", b"lo\r", b"\n"] {
        let (a, b) = d.conns();
        a.send_raw(chunk);
        b.send_raw(chunk);
    }
    let (a, b) = d.conns();
    let (ra, rb) = (a.read(), b.read());
    assert_eq!(esc(&ra), esc(&rb));
}

#[test]
fn inline_commands_with_quotes_and_escapes() {
    let mut d = Diff::new(&[]);
    for line in [
        &b"SET k \"a\\x41\\n\" \r\n"[..],
        b"GET k\r\n",
        b"SET k 'it\\'s'\r\n",
        b"GET k\r\n",
        b"ECHO \"\\xzz\\q\"\r\n",
        b"ECHO \"\\x00\\xff\\t\\r\\b\\a\\\\\\\"\"\r\n",
        b"ECHO \"\"\r\n",
        b"ECHO ''\r\n",
        b"ECHO 'a\"b'\r\n",
        b"ECHO \"a'b\"\r\n",
        b"SET \"key with space\" \"value with space\"\r\n",
        b"KEYS \"key*\"\r\n",
        b"ECHO a\tb\r\n",
        b"ECHO\r\n",
        b"NOSUCHCOMMAND 'x y' z\r\n",
    ] {
        d.raw(line);
    }
}

#[test]
fn pipelined_replies_before_an_error_are_delivered_then_the_connection_closes() {
    let mut d = Diff::new(&[]);
    d.raw_until_close(b"PING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nSET k v\r\n*1\r\n$x\r\nPING\r\n");
    d.raw_until_close(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nw\r\n*1\r\n:5\r\n*1\r\n$4\r\nPING\r\n");
    d.raw_until_close(b"GET k\r\nSET \"unbalanced\r\nGET k\r\n");
    // The writes before the error took effect.
    d.check(&["GET", "k"]);
}

#[test]
fn long_pipeline_matches_redis() {
    let mut d = Diff::new(&[]);
    let mut batch = Vec::new();
    let mut n = 0;
    for i in 0..1500 {
        let k = format!("key:{}", i % 97);
        batch.extend(crate::support::encode(&["INCR", &k]));
        batch.extend(crate::support::encode(&["APPEND", &format!("s:{}", i % 13), &i.to_string()]));
        batch.extend(format!("GET s:{}\r\n", i % 13).into_bytes());
        n += 3;
    }
    let (a, b) = d.conns();
    a.send_raw(&batch);
    b.send_raw(&batch);
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for _ in 0..n {
        ra.extend(a.read());
        rb.extend(b.read());
    }
    assert!(ra == rb, "pipelined replies differ (redoubt {} bytes, redis {} bytes)", ra.len(), rb.len());
}

const RESP3_SCRIPT: &str = r#"
SET s hello
GET s
GET missing
INCR n
MGET s missing n
CONFIG GET maxmemory-policy
[pairs] CONFIG GET hz proto-max-bulk-len
DEBUG PROTOCOL string
DEBUG PROTOCOL integer
DEBUG PROTOCOL double
DEBUG PROTOCOL bignum
DEBUG PROTOCOL null
DEBUG PROTOCOL array
DEBUG PROTOCOL set
DEBUG PROTOCOL map
DEBUG PROTOCOL attrib
DEBUG PROTOCOL push
DEBUG PROTOCOL verbatim
DEBUG PROTOCOL true
DEBUG PROTOCOL false
DEBUG PROTOCOL nosuchtype
INCRBYFLOAT f 1.5
SET k v GET
SET k v NX GET
GETEX missing
EXISTS s missing
TTL s
OBJECT ENCODING s
OBJECT ENCODING missing
COMMAND INFO get
COMMAND GETKEYS SET a b
LCS s s IDX
LCS s s IDX WITHMATCHLEN
CLIENT GETNAME
ECHO ""
NOSUCHCMD
HELLO 4
HELLO 0
HELLO abc
[type] HELLO 3 AUTH default wrong
[type] HELLO 3 AUTH
HELLO 3 SETNAME
HELLO 3 FOO
[type] HELLO 3 SETNAME myname
CLIENT GETNAME
[type] HELLO 2
GET missing
DEBUG PROTOCOL map
DEBUG PROTOCOL set
DEBUG PROTOCOL double
DEBUG PROTOCOL bignum
DEBUG PROTOCOL null
DEBUG PROTOCOL true
DEBUG PROTOCOL verbatim
DEBUG PROTOCOL attrib
DEBUG PROTOCOL push
CONFIG GET maxmemory-policy
LCS s s IDX
"#;

#[test]
fn resp3_types_match_redis() {
    let mut d = Diff::new(&[]).resp3();
    d.script(RESP3_SCRIPT);
}

#[test]
fn resp2_debug_protocol_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
DEBUG PROTOCOL string
DEBUG PROTOCOL integer
DEBUG PROTOCOL double
DEBUG PROTOCOL bignum
DEBUG PROTOCOL null
DEBUG PROTOCOL array
DEBUG PROTOCOL set
DEBUG PROTOCOL map
DEBUG PROTOCOL attrib
DEBUG PROTOCOL push
DEBUG PROTOCOL verbatim
DEBUG PROTOCOL true
DEBUG PROTOCOL false
[type] HELLO
[type] HELLO 2
[type] HELLO 3 AUTH default nopass
HELLO 1
"#,
    );
}

#[test]
fn hello_reply_fields() {
    let s = ServerProcess::redoubt(&[]);
    let mut c = s.conn();
    let id = crate::support::int(&c.val(&["CLIENT", "ID"]));
    let hello = c.cmd(&["HELLO", "3", "SETNAME", "tester"]);
    let expected = format!(
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(esc(&hello), esc(expected.as_bytes()));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), b"$6\r\ntester\r\n");
    // RESP3 null for a missing key, RESP2 null after HELLO 2.
    assert_eq!(c.cmd(&["GET", "nope"]), b"_\r\n");
    let hello2 = c.cmd(&["HELLO", "2"]);
    assert!(hello2.starts_with(b"*14\r\n$6\r\nserver\r\n"), "{}", esc(&hello2));
    assert_eq!(c.cmd(&["GET", "nope"]), b"$-1\r\n");
}

#[test]
fn connection_commands_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
PING
PING hello
PING ""
PING a b
ECHO "\x00\xff"
ECHO a b
[type] TIME
TIME extra
[type] LASTSAVE
SELECT 3
CLIENT SETNAME before-reset
SET k v
RESET
CLIENT GETNAME
GET k
RESET extra
"#,
    );
    // RESET also leaves RESP3 and CLIENT REPLY OFF.
    d.check_as(crate::support::diff::Compare::Type, &["HELLO", "3"]);
    d.check(&["GET", "nope"]);
    d.check(&["RESET"]);
    d.check(&["GET", "nope"]);
    d.raw_until_close(b"QUIT\r\n");
    d.raw_until_close(b"QUIT extra args\r\n");
    d.raw_until_close(b"PING\r\nQUIT\r\nPING\r\n");
}

#[test]
fn time_is_the_wall_clock() {
    let s = ServerProcess::redoubt(&[]);
    let reply = s.conn().val(&["TIME"]);
    let parts = crate::support::items(&reply);
    assert_eq!(parts.len(), 2);
    let secs: u64 = crate::support::text(&parts[0]).parse().expect("seconds");
    let micros: u64 = crate::support::text(&parts[1]).parse().expect("microseconds");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    assert!(secs.abs_diff(now) <= 2, "TIME says {secs}, the clock {now}");
    assert!(micros < 1_000_000);
}
