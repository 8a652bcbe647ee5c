//! Logging in Redis's format, which operators' tools parse:
//! `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`, role `M` (master), `S`
//! (replica), `C` (before the server is set up) or `X` (sentinel); level `.` debug,
//! `-` verbose, `*` notice, `#` warning. The log file is opened for every line, as
//! Redis does, so that logrotate can move it away; with no log file lines go to stdout
//! (or nowhere when daemonized).

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::RwLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "debug" => Some(Level::Debug),
            "verbose" => Some(Level::Verbose),
            "notice" => Some(Level::Notice),
            "warning" => Some(Level::Warning),
            _ => None,
        }
    }
    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static ROLE: AtomicU8 = AtomicU8::new(b'C');

enum Sink {
    Stdout,
    Null,
    File(String),
}

static SINK: RwLock<Sink> = RwLock::new(Sink::Stdout);

pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Relaxed);
}

/// `M`, `S`, `C` or `X`.
pub fn set_role(c: u8) {
    ROLE.store(c, Relaxed);
}

/// Where lines go: a file path, stdout (empty path), or nowhere (empty path when
/// daemonized, as Redis sends them to /dev/null then).
pub fn set_file(path: &str, daemonized: bool) {
    let sink = match (path.is_empty(), daemonized) {
        (false, _) => Sink::File(path.to_string()),
        (true, false) => Sink::Stdout,
        (true, true) => Sink::Null,
    };
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
}

pub fn enabled(l: Level) -> bool {
    l as u8 >= LEVEL.load(Relaxed)
}

/// Checks that the log file can be opened (at start-up, to fail early like Redis).
pub fn check_file(path: &str) -> std::io::Result<()> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::OpenOptions::new().create(true).append(true).open(path).map(|_| ())
}

/// Writes one line if `l` passes the configured level.
pub fn log(l: Level, msg: &str) {
    if !enabled(l) {
        return;
    }
    let line = format!("{}:{} {} {} {}\n", std::process::id(), ROLE.load(Relaxed) as char, timestamp(), l.mark(), msg);
    let sink = SINK.read().unwrap_or_else(|e| e.into_inner());
    match &*sink {
        Sink::Stdout => {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
        Sink::Null => {}
        Sink::File(path) => {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

/// `22 Nov 2026 00:21:39.217`, local time.
fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // Safety: localtime_r writes only into `tm`.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

#[macro_export]
macro_rules! notice { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Notice, &format!($($t)*)) } }
#[macro_export]
macro_rules! warning { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warning, &format!($($t)*)) } }
#[macro_export]
macro_rules! verbose { ($($t:tt)*) => { if $crate::log::enabled($crate::log::Level::Verbose) { $crate::log::log($crate::log::Level::Verbose, &format!($($t)*)) } } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { if $crate::log::enabled($crate::log::Level::Debug) { $crate::log::log($crate::log::Level::Debug, &format!($($t)*)) } } }
