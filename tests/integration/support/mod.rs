#![allow(dead_code, unused_imports)]
//! Test support: server processes, a raw RESP client, the differential harness, and
//! small helpers for bytes and replies.
//!
//! - [`process`]: `ServerProcess` — Redoubt or redis-server on a free port, killed on drop
//! - [`conn`]: `Conn` — raw RESP over TCP, one reply at a time, always with a deadline
//! - [`diff`]: `Diff` — the same commands against both servers, replies compared byte for byte
//! - [`wait`]: bounded polling
//! - [`help`]: HELP replies compared by shape
//! - [`transcript`]: multi-connection scenarios run on both servers, transcripts compared
//! - [`blocking`]: blocked clients as INFO counts them; a step that waits for one to block
//! - [`scan`]: whole SCAN-family iterations, and their guarantee under concurrent writes
//! - [`persist`]: INFO persistence, DEBUG DIGEST, a FUNCTION library, a full disk (tmpfs)
//! - [`rand`]: deterministic generators for the randomized tests

pub mod blocking;
pub mod conn;
pub mod diff;
pub mod help;
pub mod persist;
pub mod process;
pub mod rand;
pub mod scan;
pub mod transcript;
pub mod wait;

pub use conn::{encode, to_value, Conn, ReadError};
pub use diff::Diff;
pub use process::{is_listening_port, run_to_exit, temp_dir, Flavor, ServerProcess, Spec, TempDir};
pub use redoubt_resp::value::Value;
pub use transcript::{same_on_both, Transcript};
pub use wait::{poll_until, wait_for};

use redoubt_resp::value::decode;

/// Bytes as Redis's `sdscatrepr` prints them: quoted, with C escapes and `\xHH`.
pub use redoubt_resp::repr::repr as esc;

/// Splits a line into arguments exactly as redis-cli and Redis's inline protocol do
/// (`sdssplitargs`): whitespace separates, `"..."` takes `\n \r \t \b \a \\ \" \xHH`,
/// `'...'` takes `\'`, and a closing quote must be followed by a space or the end.
pub fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let unbalanced = || Err(format!("unbalanced quotes in {}", esc(line)));
    let mut args = Vec::new();
    let mut p = 0;
    let at = |i: usize| line.get(i).copied();
    loop {
        while at(p).is_some_and(|c| c.is_ascii_whitespace()) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(args);
        }
        let (mut in_dq, mut in_sq, mut cur) = (false, false, Vec::new());
        loop {
            let c = at(p);
            if in_dq {
                let Some(c) = c else { return unbalanced() };
                let hex = |i: usize| at(i).and_then(|h| (h as char).to_digit(16));
                if c == b'\\' && at(p + 1) == Some(b'x') && hex(p + 2).is_some() && hex(p + 3).is_some() {
                    cur.push((hex(p + 2).unwrap_or(0) * 16 + hex(p + 3).unwrap_or(0)) as u8);
                    p += 3;
                } else if c == b'\\' && at(p + 1).is_some() {
                    p += 1;
                    cur.push(match at(p).unwrap_or(0) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return unbalanced();
                    }
                    p += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                let Some(c) = c else { return unbalanced() };
                if c == b'\\' && at(p + 1) == Some(b'\'') {
                    cur.push(b'\'');
                    p += 1;
                } else if c == b'\'' {
                    if at(p + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return unbalanced();
                    }
                    p += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t' | 0) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(c) => cur.push(c),
                }
            }
            p += 1;
        }
        args.push(cur);
    }
}

/// An aggregate reply split into its header and the raw bytes of each element
/// (for a map, keys and values alternate). `None` for a non-aggregate.
pub fn split_aggregate(raw: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    if !matches!(raw.first(), Some(b'*' | b'~' | b'%' | b'>')) {
        return None;
    }
    let eol = raw.windows(2).position(|w| w == b"\r\n")?;
    let header = raw[..eol + 2].to_vec();
    let n: i64 = std::str::from_utf8(&raw[1..eol]).ok()?.parse().ok()?;
    let count = if raw[0] == b'%' { 2 * n.max(0) } else { n.max(0) } as usize;
    let mut pos = eol + 2;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let (_, used) = decode(&raw[pos..]).ok()?;
        items.push(raw[pos..pos + used].to_vec());
        pos += used;
    }
    Some((header, items))
}

/// The integer of an `Int` reply; panics on anything else.
pub fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("expected an integer reply, got {other:?}"),
    }
}

/// The text of a bulk, simple, verbatim or error reply (lossy UTF-8).
pub fn text(v: &Value) -> String {
    match v {
        Value::Bulk(b) | Value::Simple(b) | Value::Error(b) | Value::Double(b) | Value::BigNumber(b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        // A verbatim string starts with its 3-letter format and a colon.
        Value::Verbatim(b) => String::from_utf8_lossy(b.get(4..).unwrap_or_default()).into_owned(),
        other => panic!("expected a string reply, got {other:?}"),
    }
}

/// The elements of an array, set or push reply.
pub fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) | Value::Push(a) => a,
        other => panic!("expected an array reply, got {other:?}"),
    }
}

/// `field:value` lines of an INFO reply, in order.
pub fn info_fields(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// One field of an INFO reply.
pub fn info_field(info: &str, name: &str) -> Option<String> {
    info_fields(info).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The first non-loopback IPv4 address of this machine, from `hostname -I` or `ip`.
pub fn non_loopback_ipv4() -> Option<std::net::Ipv4Addr> {
    let outputs = [("hostname", vec!["-I"]), ("ip", vec!["-4", "-o", "addr", "show"])];
    for (cmd, args) in outputs {
        let Ok(out) = std::process::Command::new(cmd).args(&args).output() else { continue };
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        for word in text.split(|c: char| c.is_whitespace() || c == '/') {
            if let Ok(ip) = word.parse::<std::net::Ipv4Addr>() {
                if !ip.is_loopback() && !ip.is_unspecified() && !ip.is_broadcast() && ip.octets()[3] != 255 {
                    return Some(ip);
                }
            }
        }
    }
    None
}

#[test]
fn split_args_matches_sdssplitargs() {
    let ok = |s: &str| split_args(s.as_bytes()).unwrap();
    assert_eq!(ok(r#"SET k "a\x41\n""#), vec![b"SET".to_vec(), b"k".to_vec(), b"aA\n".to_vec()]);
    assert_eq!(ok(r"ECHO 'it\'s'"), vec![b"ECHO".to_vec(), b"it's".to_vec()]);
    assert_eq!(ok(r#"ECHO "\xzz\q""#), vec![b"ECHO".to_vec(), b"xzzq".to_vec()]);
    assert_eq!(ok(r#"  A   ""  "#), vec![b"A".to_vec(), b"".to_vec()]);
    assert!(split_args(br#"SET "a b"#).is_err());
    assert!(split_args(br#"SET "a"b"#).is_err());
    assert!(split_args(b"SET 'a'b").is_err());
}
