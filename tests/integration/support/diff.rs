//! The differential harness: one Redoubt and one redis-server started with the same
//! arguments, the same commands sent to both, the raw replies compared byte for byte.
//!
//! Every mismatch is recorded (command, Redis's reply, Redoubt's reply, escaped) and the
//! test fails at the end with all of them, so one run shows every difference.
//!
//! Scripts are the compact way to write a suite: one command per line, split like
//! redis-cli does (quotes, `\xHH`). A line may start with a mode in brackets:
//! - `[unordered] KEYS *` — the same elements in any order (KEYS, SMEMBERS-like replies)
//! - `[pairs] CONFIG GET *` — the same field/value pairs in any order
//! - `[approx N] TTL k` — integers within N of each other (negative ones exactly)
//! - `[type] OBJECT IDLETIME k` — only the reply's type byte must match
//! - `[scan] SCAN 0 MATCH k*` — iterate to cursor 0 on each, compare the sorted key sets
//! - `[raw] "*1\r\n$4\r\nPING\r\n"` — send these bytes, compare one reply
//! - `[close] "*abc\r\n"` — send these bytes, compare everything up to the close
//! - `[canon] INFO keyspace` — exact after the function given to `script_with`
//! - `[replies N] DEBUG PROTOCOL push` — a command that sends N replies, compared together
//! - `[sleep MS]` — pause (for expiry), bounded by the script author
//! - `# ...` — a comment

use std::time::Duration;

use super::conn::{Conn, ReadError};
use super::process::{Flavor, ServerProcess, Spec};
use super::{esc, split_aggregate, split_args};

/// How two replies are compared.
#[derive(Clone, Copy, Debug)]
pub enum Compare {
    Exact,
    Unordered,
    Pairs,
    Approx(i64),
    Type,
    /// Exact after both replies went through the same canonicalizing function (for
    /// replies whose order Redis leaves to a randomly seeded hash table).
    Canon(fn(&[u8]) -> Vec<u8>),
}

/// How long a `[close]` step waits for the server to close the connection.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long each server has for one reply (a healthy one takes microseconds).
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// A printed reply is cut to this many bytes.
const SHOW_BYTES: usize = 1500;

/// A Redoubt and a redis-server, one client connection to each.
pub struct Diff {
    pub redoubt: ServerProcess,
    pub redis: ServerProcess,
    a: Conn,
    b: Conn,
    resp3: bool,
    checks: usize,
    mismatches: Vec<String>,
}

impl Diff {
    /// Starts both servers with the harness defaults plus `args`.
    pub fn new(args: &[&str]) -> Diff {
        Diff::with(|s| s.args(args))
    }

    /// Starts both servers from specs built by `f` (extra args, a config file).
    pub fn with(f: impl Fn(Spec) -> Spec) -> Diff {
        let redoubt = f(Spec::new(Flavor::Redoubt)).start();
        let redis = f(Spec::new(Flavor::Redis)).start();
        let (mut a, mut b) = (redoubt.conn(), redis.conn());
        a.timeout = REPLY_TIMEOUT;
        b.timeout = REPLY_TIMEOUT;
        Diff { redoubt, redis, a, b, resp3: false, checks: 0, mismatches: Vec::new() }
    }

    /// Switches both connections to RESP3 (HELLO 3) and keeps them there on reconnect.
    pub fn resp3(mut self) -> Diff {
        self.resp3 = true;
        self.hello3();
        self
    }

    fn hello3(&mut self) {
        for (name, c) in [("redoubt", &mut self.a), ("redis", &mut self.b)] {
            let r = c.cmd(&["HELLO", "3"]);
            assert!(r.starts_with(b"%7\r\n"), "{name}: HELLO 3 answered {}", esc(&r));
        }
    }

    /// Fresh connections to both servers (the old ones are dropped). A server that no
    /// longer accepts connections (it crashed) ends the test with every mismatch so far.
    pub fn reconnect(&mut self) {
        let mut dead = Vec::new();
        for (server, conn) in [(&mut self.redoubt, &mut self.a), (&mut self.redis, &mut self.b)] {
            match Conn::try_connect(server.addr(), Duration::from_secs(5)) {
                Ok(c) => *conn = c,
                Err(e) => {
                    let exit = server.try_exit().map(|s| format!(" (process exited: {s})")).unwrap_or_default();
                    dead.push(format!("{} no longer accepts connections: {e}{exit}", server.flavor.name()));
                }
            }
            conn.timeout = REPLY_TIMEOUT;
        }
        if !dead.is_empty() {
            self.mismatches.extend(dead);
            self.report();
        }
        if self.resp3 {
            self.hello3();
        }
    }

    /// Both client connections: (Redoubt's, Redis's).
    pub fn conns(&mut self) -> (&mut Conn, &mut Conn) {
        (&mut self.a, &mut self.b)
    }

    /// Sends the command to both; returns (Redoubt's reply, Redis's reply) uncompared.
    pub fn both<A: AsRef<[u8]>>(&mut self, args: &[A]) -> (Vec<u8>, Vec<u8>) {
        (self.a.cmd(args), self.b.cmd(args))
    }

    /// Sends the command to both and records a mismatch unless the replies are equal.
    pub fn check<A: AsRef<[u8]>>(&mut self, args: &[A]) -> bool {
        self.check_as(Compare::Exact, args)
    }

    /// Like `check`, under a given comparison.
    pub fn check_as<A: AsRef<[u8]>>(&mut self, how: Compare, args: &[A]) -> bool {
        let bytes = super::encode(args);
        self.exchange(how, &show_args(args), &bytes, false)
    }

    /// Sends raw bytes to both and compares one reply.
    pub fn raw(&mut self, bytes: &[u8]) -> bool {
        self.exchange(Compare::Exact, &format!("raw {}", esc(bytes)), bytes, false)
    }

    /// Sends raw bytes to both and compares everything each sends until it closes the
    /// connection (a protocol error). Afterwards both connections are fresh.
    pub fn raw_until_close(&mut self, bytes: &[u8]) -> bool {
        self.exchange(Compare::Exact, &format!("raw-until-close {}", esc(bytes)), bytes, true)
    }

    /// Sends the command to both and compares the next `n` replies, concatenated.
    pub fn check_replies<A: AsRef<[u8]>>(&mut self, n: usize, args: &[A]) -> bool {
        let bytes = super::encode(args);
        self.exchange_n(Compare::Exact, &show_args(args), &bytes, false, n)
    }

    fn exchange(&mut self, how: Compare, what: &str, bytes: &[u8], until_close: bool) -> bool {
        self.exchange_n(how, what, bytes, until_close, 1)
    }

    fn exchange_n(&mut self, how: Compare, what: &str, bytes: &[u8], until_close: bool, n: usize) -> bool {
        self.checks += 1;
        let mut got = Vec::new();
        for c in [&mut self.a, &mut self.b] {
            // A write may fail when the server already closed on an earlier byte; the
            // read below then reports the close, which is what we compare.
            let _ = c.try_send_raw(bytes);
            let reply = if until_close {
                c.read_until_close(CLOSE_TIMEOUT).map(|mut b| {
                    b.extend_from_slice(b"<closed>");
                    b
                })
            } else {
                let mut all = Vec::new();
                let mut result = Ok(());
                for _ in 0..n {
                    match c.try_read(c.timeout) {
                        Ok(r) => all.extend(r),
                        // Keep the replies that did arrive in what gets printed.
                        Err(ReadError::Closed(b)) => {
                            result = Err(ReadError::Closed([std::mem::take(&mut all), b].concat()));
                            break;
                        }
                        Err(ReadError::Timeout(b)) => {
                            result = Err(ReadError::Timeout([std::mem::take(&mut all), b].concat()));
                            break;
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result.map(|_| all)
            };
            got.push(reply);
        }
        let broken = until_close || got.iter().any(|r| r.is_err());
        let shown: Vec<Vec<u8>> = got
            .into_iter()
            .map(|r| match r {
                Ok(b) => b,
                Err(ReadError::Closed(b)) => [b, b"<closed>".to_vec()].concat(),
                Err(ReadError::Timeout(b)) => [b, b"<no reply: timeout>".to_vec()].concat(),
                Err(e @ ReadError::Invalid(..)) => format!("<{e}>").into_bytes(),
            })
            .collect();
        let shown: Vec<Vec<u8>> = match how {
            Compare::Canon(f) if !broken => shown.iter().map(|b| f(b)).collect(),
            _ => shown,
        };
        let timed_out = |b: &Vec<u8>| b.ends_with(b"<no reply: timeout>");
        // Neither answering is a mistake in the test (and costs a timeout each time).
        let same = equal(how, &shown[0], &shown[1]) && !(timed_out(&shown[0]) && timed_out(&shown[1]));
        if !same {
            self.mismatches.push(format!(
                "#{} {what}{}\n    redis:   {}\n    redoubt: {}{}",
                self.checks,
                match how {
                    Compare::Exact => String::new(),
                    Compare::Canon(_) => "  (compared canonicalized)".to_string(),
                    other => format!("  (compared {other:?})"),
                },
                show(&shown[1]),
                show(&shown[0]),
                first_difference(&shown[1], &shown[0]),
            ));
        }
        if broken {
            self.reconnect();
        }
        same
    }

    /// Iterates `SCAN 0 <rest>` to the end on each server and compares the sorted,
    /// de-duplicated key sets (cursors are an implementation detail).
    pub fn scan_all<A: AsRef<[u8]>>(&mut self, rest: &[A]) -> bool {
        self.checks += 1;
        let keys_a = scan_keys(&mut self.a, rest);
        let keys_b = scan_keys(&mut self.b, rest);
        let same = keys_a == keys_b;
        if !same {
            let fmt = |k: &Vec<Vec<u8>>| k.iter().map(|k| esc(k)).collect::<Vec<_>>().join(" ");
            self.mismatches.push(format!(
                "#{} SCAN 0 {} (whole iteration, sorted)\n    redis:   {}\n    redoubt: {}",
                self.checks,
                show_args(rest),
                fmt(&keys_b),
                fmt(&keys_a)
            ));
        }
        same
    }

    /// Runs a script (see the module docs).
    pub fn script(&mut self, text: &str) {
        self.script_with(text, |b| b.to_vec());
    }

    /// Runs a script whose `[canon]` lines are compared after `canon`.
    pub fn script_with(&mut self, text: &str, canon: fn(&[u8]) -> Vec<u8>) {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (mode, rest) = match line.strip_prefix('[').and_then(|l| l.split_once(']')) {
                Some((mode, rest)) => (mode.trim(), rest.trim()),
                None => ("", line),
            };
            let args = split_args(rest.as_bytes()).unwrap_or_else(|e| panic!("script line {}: {e}", n + 1));
            let single = || {
                assert_eq!(args.len(), 1, "script line {}: [{mode}] takes one quoted argument", n + 1);
                args[0].clone()
            };
            let (word, num) = match mode.split_once(' ') {
                Some((w, v)) => (w, v.trim().parse::<i64>().ok()),
                None => (mode, None),
            };
            match word {
                "" => self.check(&args),
                "unordered" => self.check_as(Compare::Unordered, &args),
                "pairs" => self.check_as(Compare::Pairs, &args),
                "type" => self.check_as(Compare::Type, &args),
                "canon" => self.check_as(Compare::Canon(canon), &args),
                "approx" => self.check_as(Compare::Approx(num.unwrap_or(1)), &args),
                "scan" => {
                    assert!(args.len() >= 2, "script line {}: [scan] SCAN 0 ...", n + 1);
                    self.scan_all(&args[2..])
                }
                "replies" => self.check_replies(num.unwrap_or(1) as usize, &args),
                "raw" => self.raw(&single()),
                "close" => self.raw_until_close(&single()),
                "sleep" => {
                    let ms = num.or_else(|| rest.parse().ok()).unwrap_or(0);
                    assert!((0..=3000).contains(&ms), "script line {}: sleeps are short", n + 1);
                    std::thread::sleep(Duration::from_millis(ms as u64));
                    true
                }
                other => panic!("script line {}: unknown mode [{other}]", n + 1),
            };
        }
    }

    /// The mismatches so far.
    pub fn mismatches(&self) -> &[String] {
        &self.mismatches
    }

    /// Fails the test if any reply differed. (Dropping a `Diff` does the same.)
    pub fn finish(mut self) {
        self.report();
    }

    fn report(&mut self) {
        if self.mismatches.is_empty() {
            return;
        }
        let all = std::mem::take(&mut self.mismatches);
        panic!(
            "{} of {} replies differ from redis-server 7.0 (redis = expected, redoubt = got):\n{}",
            all.len(),
            self.checks,
            all.join("\n")
        );
    }
}

impl Drop for Diff {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.report();
        }
    }
}

fn equal(how: Compare, a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match how {
        Compare::Exact | Compare::Canon(_) => false,
        Compare::Type => a.first() == b.first(),
        Compare::Approx(tol) => match (as_int(a), as_int(b)) {
            (Some(x), Some(y)) if x >= 0 && y >= 0 => (x - y).abs() <= tol,
            _ => false,
        },
        Compare::Unordered | Compare::Pairs => {
            let (Some((ha, mut ia)), Some((hb, mut ib))) = (split_aggregate(a), split_aggregate(b)) else {
                return false;
            };
            if matches!(how, Compare::Pairs) {
                let pairs = |v: Vec<Vec<u8>>| {
                    let mut p: Vec<Vec<u8>> = v.chunks(2).map(|c| c.concat()).collect();
                    p.sort();
                    p
                };
                return ha == hb && pairs(ia) == pairs(ib);
            }
            ia.sort();
            ib.sort();
            ha == hb && ia == ib
        }
    }
}

fn as_int(raw: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(raw.strip_prefix(b":")?.strip_suffix(b"\r\n")?).ok()?;
    s.parse().ok()
}

fn scan_keys<A: AsRef<[u8]>>(c: &mut Conn, rest: &[A]) -> Vec<Vec<u8>> {
    use redoubt_resp::value::Value;
    let mut cursor = b"0".to_vec();
    let mut keys = Vec::new();
    // A bound on the iteration: SCAN must finish; 100k calls would mean it does not.
    for _ in 0..100_000 {
        let mut args = vec![b"SCAN".to_vec(), cursor.clone()];
        args.extend(rest.iter().map(|a| a.as_ref().to_vec()));
        match c.val(&args) {
            Value::Array(parts) if parts.len() == 2 => {
                let Value::Bulk(next) = &parts[0] else { return vec![b"<bad cursor>".to_vec()] };
                if let Value::Array(found) | Value::Set(found) = &parts[1] {
                    keys.extend(found.iter().map(|k| match k {
                        Value::Bulk(k) => k.clone(),
                        other => format!("<{other:?}>").into_bytes(),
                    }));
                }
                cursor = next.clone();
                if cursor == b"0" {
                    keys.sort();
                    keys.dedup();
                    return keys;
                }
            }
            other => return vec![format!("<{other:?}>").into_bytes()],
        }
    }
    vec![b"<SCAN never returned cursor 0>".to_vec()]
}

/// For long replies, where they first differ, with some context.
fn first_difference(expected: &[u8], got: &[u8]) -> String {
    if expected.len().max(got.len()) <= 200 {
        return String::new();
    }
    let at = expected.iter().zip(got).position(|(a, b)| a != b).unwrap_or(expected.len().min(got.len()));
    let from = at.saturating_sub(60);
    let window = |b: &[u8]| esc(&b[from.min(b.len())..(at + 80).min(b.len())]);
    format!(
        "\n    first difference at byte {at}:\n      redis:   ...{}\n      redoubt: ...{}",
        window(expected),
        window(got)
    )
}

fn show(bytes: &[u8]) -> String {
    if bytes.len() <= SHOW_BYTES {
        esc(bytes)
    } else {
        format!("{}... ({} bytes)", esc(&bytes[..SHOW_BYTES]), bytes.len())
    }
}

fn show_args<A: AsRef<[u8]>>(args: &[A]) -> String {
    args.iter()
        .map(|a| {
            let a = a.as_ref();
            let plain = !a.is_empty() && a.iter().all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'\'');
            if plain && a.len() <= 80 {
                String::from_utf8_lossy(a).into_owned()
            } else if a.len() > 80 {
                format!("{}...({} bytes)", esc(&a[..80]), a.len())
            } else {
                esc(a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
