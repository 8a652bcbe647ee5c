//! Transcripts: a scenario with several connections (a subscriber and a publisher, two
//! clients racing on a WATCHed key) is run once against redis-server and once against
//! Redoubt, each step's raw reply recorded, and the two transcripts compared line by
//! line. The `Diff` harness covers one connection per server; this covers the rest.

use std::time::Duration;

use super::conn::Conn;
use super::esc;
use super::process::ServerProcess;

/// What one run of a scenario said, step by step.
#[derive(Default)]
pub struct Transcript {
    pub lines: Vec<String>,
}

impl Transcript {
    /// Sends a command on `c`, records and returns its reply (RESP3 pushes that arrive
    /// before it included).
    pub fn cmd(&mut self, who: &str, c: &mut Conn, args: &[&str]) -> Vec<u8> {
        let reply = c.cmd(args);
        self.lines.push(format!("{who} {}: {}", args.join(" "), esc(&reply)));
        reply
    }

    /// Sends a command on `c` and records the next `n` frames (replies or pushes).
    pub fn cmd_frames(&mut self, who: &str, c: &mut Conn, args: &[&str], n: usize) {
        c.send(args);
        self.lines.push(format!("{who} {}:", args.join(" ")));
        self.frames(who, c, n);
    }

    /// Records the next `n` frames arriving on `c`.
    pub fn frames(&mut self, who: &str, c: &mut Conn, n: usize) {
        for _ in 0..n {
            let frame = match c.try_read_frame(c.timeout) {
                Ok(f) => esc(&f),
                Err(e) => format!("<{e}>"),
            };
            self.lines.push(format!("{who}   <- {frame}"));
        }
    }

    /// Records that nothing more arrives on `c` for a moment.
    pub fn silence(&mut self, who: &str, c: &mut Conn) {
        let got = match c.try_read_frame(Duration::from_millis(100)) {
            Ok(f) => esc(&f),
            Err(super::ReadError::Timeout(b)) if b.is_empty() => "nothing".to_string(),
            Err(e) => format!("<{e}>"),
        };
        self.lines.push(format!("{who} then: {got}"));
    }

    /// Records whether `change`, sent by `c2`, breaks `c1`'s WATCH of `key`: WATCH,
    /// the change, then MULTI, PING and EXEC on `c1` (a nil EXEC: the watch broke).
    pub fn watch_across(&mut self, c1: &mut Conn, c2: &mut Conn, key: &str, change: &[&str]) {
        self.cmd("c1", c1, &["WATCH", key]);
        self.cmd("c2", c2, change);
        self.cmd("c1", c1, &["MULTI"]);
        self.cmd("c1", c1, &["PING"]);
        self.cmd("c1", c1, &["EXEC"]);
    }

    /// Records a line of the scenario's own (a computed value, a checkpoint).
    pub fn note(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }
}

/// Runs `scenario` against a redis-server and a Redoubt, both started with `args`,
/// and fails with both transcripts if they differ.
pub fn same_on_both(args: &[&str], scenario: impl Fn(&ServerProcess, &mut Transcript)) {
    let mut runs = Vec::new();
    for server in [ServerProcess::redis(args), ServerProcess::redoubt(args)] {
        let mut t = Transcript::default();
        scenario(&server, &mut t);
        runs.push(t.lines);
    }
    let (redis, redoubt) = (&runs[0], &runs[1]);
    if redis == redoubt {
        return;
    }
    let first = redis.iter().zip(redoubt).position(|(a, b)| a != b).unwrap_or(redis.len().min(redoubt.len()));
    panic!(
        "transcripts differ from line {} on\n--- redis:\n{}\n--- redoubt:\n{}",
        first + 1,
        redis.join("\n"),
        redoubt.join("\n")
    );
}
