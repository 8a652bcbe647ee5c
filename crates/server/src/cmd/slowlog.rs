//! The SLOWLOG: commands that ran longer than `slowlog-log-slower-than` microseconds,
//! newest first, at most `slowlog-max-len` of them, each with its arguments trimmed
//! as Redis trims them (32 arguments, 128 bytes each).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use redoubt_engine::{CmdError, CmdResult};
use redoubt_resp::request::Args;

use crate::client::ClientShared;
use crate::dispatch::{Call, ServerCommand};
use crate::server::Server;

/// Arguments kept per entry (Redis's `SLOWLOG_ENTRY_MAX_ARGC`).
pub const ENTRY_ARGS_MAX: usize = 32;
/// Bytes kept per argument (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
pub const ENTRY_ARG_BYTES_MAX: usize = 128;

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "slowlog|get", handler: get },
    ServerCommand { name: "slowlog|len", handler: len },
    ServerCommand { name: "slowlog|reset", handler: reset_cmd },
    ServerCommand { name: "slowlog|help", handler: help },
];

struct Entry {
    id: u64,
    time_s: i64,
    duration_us: i64,
    args: Vec<Vec<u8>>,
    peer: String,
    name: Vec<u8>,
}

pub struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
    threshold_us: AtomicI64,
    max_len: AtomicUsize,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            threshold_us: AtomicI64::new(10_000),
            max_len: AtomicUsize::new(128),
        }
    }
}

impl SlowLog {
    pub fn set_threshold(&self, us: i64) {
        self.threshold_us.store(us, Relaxed);
    }

    pub fn set_max_len(&self, n: usize) {
        self.max_len.store(n, Relaxed);
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.truncate(n);
    }

    pub fn reset(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Logs the command if it was slow enough.
    pub fn record(&self, _server: &Server, client: &ClientShared, args: Args, us: i64) {
        let threshold = self.threshold_us.load(Relaxed);
        if threshold < 0 || us < threshold {
            return;
        }
        let mut kept: Vec<Vec<u8>> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i == ENTRY_ARGS_MAX - 1 && args.len() > ENTRY_ARGS_MAX {
                kept.push(format!("... ({} more arguments)", args.len() - ENTRY_ARGS_MAX + 1).into_bytes());
                break;
            }
            if a.len() > ENTRY_ARG_BYTES_MAX {
                let mut v = a[..ENTRY_ARG_BYTES_MAX].to_vec();
                v.extend_from_slice(format!("... ({} more bytes)", a.len() - ENTRY_ARG_BYTES_MAX).as_bytes());
                kept.push(v);
            } else {
                kept.push(a.to_vec());
            }
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Relaxed),
            time_s: redoubt_engine::clock::now_ms() / 1000,
            duration_us: us,
            args: kept,
            peer: client.addr.clone(),
            name: client.name().unwrap_or_default(),
        };
        let max = self.max_len.load(Relaxed);
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.push_front(entry);
        e.truncate(max);
    }
}

fn get(c: &mut Call) -> CmdResult {
    if c.args.len() > 3 {
        return Err(redoubt_engine::cmd::subcommand_syntax_error(c.args));
    }
    let count = match c.args.len() {
        2 => 10,
        _ => match redoubt_resp::number::parse_i64(c.args.get(2)) {
            Some(n) if n >= -1 => n,
            _ => return Err(CmdError::Static("ERR count should be greater than or equal to -1")),
        },
    };
    let e = c.server.slowlog.entries.lock().unwrap_or_else(|e| e.into_inner());
    let n = if count < 0 { e.len() } else { (count as usize).min(e.len()) };
    c.out.array(n);
    for entry in e.iter().take(n) {
        c.out.array(6);
        c.out.int(entry.id as i64);
        c.out.int(entry.time_s);
        c.out.int(entry.duration_us);
        c.out.array(entry.args.len());
        for a in &entry.args {
            c.out.bulk(a);
        }
        c.out.bulk(entry.peer.as_bytes());
        c.out.bulk(&entry.name);
    }
    Ok(())
}

fn len(c: &mut Call) -> CmdResult {
    let n = c.server.slowlog.entries.lock().unwrap_or_else(|e| e.into_inner()).len();
    c.out.int(n as i64);
    Ok(())
}

fn reset_cmd(c: &mut Call) -> CmdResult {
    c.server.slowlog.reset();
    c.out.ok();
    Ok(())
}

fn help(c: &mut Call) -> CmdResult {
    super::help(
        c.out,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}
