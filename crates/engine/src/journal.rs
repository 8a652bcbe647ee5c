//! The journal: one ordered stream of every write, in the replication protocol's own
//! form (RESP commands, with SELECT whenever the database changes).
//!
//! The replication stream (with its global offset), the replication backlog and the
//! AOF are all views of this one stream. Writers append while they still hold the
//! shard locks of the keys they changed, so two writes to the same key appear in the
//! order they happened; writes to different shards commute, so their relative order
//! does not matter.
//!
//! When nothing consumes the stream (no replica, no AOF, no backlog) appending costs
//! one relaxed atomic load and nothing is recorded, as in Redis, whose
//! `master_repl_offset` stays at 0 until a backlog exists. Consumers are woken through
//! `std::task::Waker`s so that this crate needs no async runtime.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::Waker;

use redoubt_resp::number::push_u64;
use redoubt_resp::request::{Args, OwnedArgs};

/// Default backlog size (Redis's `repl-backlog-size` default, 1 MB).
pub const DEFAULT_BACKLOG_BYTES: usize = 1024 * 1024;

/// The journal.
pub struct Journal {
    enabled: AtomicBool,
    /// Mirror of the offset for lock-free readers (INFO, WAIT).
    offset: AtomicU64,
    inner: Mutex<Inner>,
}

struct Inner {
    /// Total bytes ever appended: the replication offset.
    offset: u64,
    /// The database the stream last selected; `None` forces a SELECT.
    selected_db: Option<usize>,
    backlog: Backlog,
    wakers: Vec<Waker>,
    /// Consumers fed every byte as it is appended (the AOF), in stream order.
    sinks: Vec<std::sync::Arc<dyn JournalSink>>,
    /// Recording was asked for by `set_enabled` (replication), sinks aside.
    wanted: bool,
}

/// A consumer that must see every byte of the stream, none skipped however far it
/// falls behind (the backlog only keeps the last bytes): the AOF writer.
pub trait JournalSink: Send + Sync {
    /// Called for each appended stretch of whole commands, in stream order, with the
    /// journal's lock held (so keep it short: copy and return); `end` is the stream
    /// offset after `bytes`.
    fn append(&self, bytes: &[u8], end: u64);
}

/// The last `capacity` bytes of the stream.
struct Backlog {
    buf: VecDeque<u8>,
    capacity: usize,
}

/// Why a read from the backlog failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The requested offset is older than the backlog's first byte.
    Gone,
    /// The requested offset lies in the future.
    Ahead,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new(DEFAULT_BACKLOG_BYTES)
    }
}

impl Journal {
    pub fn new(backlog_bytes: usize) -> Self {
        Journal {
            enabled: AtomicBool::new(false),
            offset: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                offset: 0,
                selected_db: None,
                backlog: Backlog { buf: VecDeque::new(), capacity: backlog_bytes },
                wakers: Vec::new(),
                sinks: Vec::new(),
                wanted: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when writes must be recorded.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Starts or stops recording for the replication stream and backlog (attached
    /// sinks keep it on regardless).
    pub fn set_enabled(&self, on: bool) {
        let mut inner = self.lock();
        inner.wanted = on;
        self.enabled.store(on || !inner.sinks.is_empty(), Ordering::Relaxed);
    }

    /// Attaches a sink: from now on it gets every appended byte. Forces a SELECT before
    /// the next command, so the sink's stream is self-contained. Returns the offset at
    /// which its stream starts. The caller holds every shard lock when the start must
    /// be an exact point (no write can be half journaled then).
    pub fn attach(&self, sink: std::sync::Arc<dyn JournalSink>) -> u64 {
        let mut inner = self.lock();
        inner.sinks.push(sink);
        inner.selected_db = None;
        self.enabled.store(true, Ordering::Relaxed);
        inner.offset
    }

    /// Detaches a sink (compared by address).
    pub fn detach(&self, sink: &std::sync::Arc<dyn JournalSink>) {
        let mut inner = self.lock();
        inner.sinks.retain(|s| !std::sync::Arc::ptr_eq(s, sink));
        self.enabled.store(inner.wanted || !inner.sinks.is_empty(), Ordering::Relaxed);
    }

    /// The replication offset: bytes appended since the stream began.
    pub fn offset(&self) -> u64 {
        self.offset.load(Ordering::Acquire)
    }

    /// Appends one command executed in database `db`. No-op while disabled.
    pub fn append(&self, db: usize, args: Args<'_>) {
        if !self.enabled() {
            return;
        }
        let mut bytes = Vec::with_capacity(64);
        let mut inner = self.lock();
        inner.encode(&mut bytes, db, args.iter());
        self.publish(&mut inner, &bytes);
    }

    /// Appends the writes of one transaction or script as one unbroken stretch of the
    /// stream, as Redis 7.0 propagates them: wrapped in MULTI/EXEC when there are
    /// several (a single command is atomic by itself), MULTI selecting the first
    /// command's database and EXEC staying in the last one's.
    pub fn append_block(&self, entries: &[(usize, OwnedArgs)]) {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else { return };
        if !self.enabled() {
            return;
        }
        let wrap = entries.len() > 1;
        let mut bytes = Vec::with_capacity(64 * (entries.len() + 2));
        let mut inner = self.lock();
        if wrap {
            inner.encode(&mut bytes, first.0, [&b"MULTI"[..]].into_iter());
        }
        for (db, args) in entries {
            inner.encode(&mut bytes, *db, args.args().iter());
        }
        if wrap {
            inner.encode(&mut bytes, last.0, [&b"EXEC"[..]].into_iter());
        }
        self.publish(&mut inner, &bytes);
    }

    /// Adds encoded commands to the stream and wakes its readers.
    fn publish(&self, inner: &mut Inner, bytes: &[u8]) {
        inner.push(bytes);
        for s in &inner.sinks {
            s.append(bytes, inner.offset);
        }
        self.offset.store(inner.offset, Ordering::Release);
        for w in inner.wakers.drain(..) {
            w.wake();
        }
    }

    /// Forgets the selected database, so the next append starts with a SELECT (done
    /// when a new consumer starts reading mid-stream).
    pub fn reset_selected_db(&self) {
        self.lock().selected_db = None;
    }

    /// Runs `f` with the current offset while no append can happen, and forces a
    /// SELECT before the next command: the exact point where a consumer's stream is
    /// cut in two (an AOF rewrite's new incremental file starts there).
    pub fn cut<R>(&self, f: impl FnOnce(u64) -> R) -> R {
        let mut inner = self.lock();
        inner.selected_db = None;
        f(inner.offset)
    }

    /// Bytes from `offset` up to the current end, at most `max` of them.
    pub fn read_from(&self, offset: u64, max: usize) -> Result<Vec<u8>, ReadError> {
        let inner = self.lock();
        let start = inner.offset - inner.backlog.buf.len() as u64;
        if offset < start {
            return Err(ReadError::Gone);
        }
        if offset > inner.offset {
            return Err(ReadError::Ahead);
        }
        let from = (offset - start) as usize;
        let n = (inner.backlog.buf.len() - from).min(max);
        Ok(inner.backlog.buf.range(from..from + n).copied().collect())
    }

    /// Registers `waker` to be woken at the next append.
    pub fn wait(&self, waker: &Waker) {
        let mut inner = self.lock();
        if !inner.wakers.iter().any(|w| w.will_wake(waker)) {
            inner.wakers.push(waker.clone());
        }
    }

    /// Changes the backlog's capacity, dropping its oldest bytes if it shrinks.
    pub fn resize_backlog(&self, capacity: usize) {
        let mut inner = self.lock();
        inner.backlog.capacity = capacity;
        inner.backlog.trim();
    }

    /// First and last offsets the backlog can serve, and its length.
    pub fn backlog_range(&self) -> (u64, usize) {
        let inner = self.lock();
        (inner.offset - inner.backlog.buf.len() as u64 + 1, inner.backlog.buf.len())
    }
}

impl Inner {
    /// Encodes one command executed in database `db` into `out`, preceded by a SELECT
    /// when the stream is in another database.
    fn encode<'a>(&mut self, out: &mut Vec<u8>, db: usize, args: impl ExactSizeIterator<Item = &'a [u8]>) {
        if self.selected_db != Some(db) {
            let mut dbtext = Vec::new();
            push_u64(&mut dbtext, db as u64);
            encode_command(out, [&b"SELECT"[..], &dbtext].into_iter());
            self.selected_db = Some(db);
        }
        encode_command(out, args);
    }

    fn push(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        self.backlog.buf.extend(bytes);
        self.backlog.trim();
    }
}

impl Backlog {
    fn trim(&mut self) {
        if self.buf.len() > self.capacity {
            let excess = self.buf.len() - self.capacity;
            self.buf.drain(..excess);
        }
    }
}

/// Encodes a command as a RESP multibulk.
pub fn encode_command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.push(b'*');
    push_u64(out, args.len() as u64);
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        push_u64(out, a.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(parts: &[&str]) -> OwnedArgs {
        OwnedArgs::from_slices(parts.iter().map(|p| p.as_bytes()))
    }

    #[test]
    fn records_only_when_enabled_and_selects_db() {
        let j = Journal::new(64);
        j.append(0, cmd(&["SET", "a", "1"]).args());
        assert_eq!(j.offset(), 0);
        j.set_enabled(true);
        j.append(0, cmd(&["SET", "a", "1"]).args());
        let all = j.read_from(0, usize::MAX).unwrap();
        assert_eq!(all, b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n");
        assert_eq!(j.offset(), all.len() as u64);
        j.append(0, cmd(&["DEL", "a"]).args());
        // The backlog keeps only its last 64 bytes: the start is gone now.
        assert_eq!(j.read_from(0, 10), Err(ReadError::Gone));
        let tail = j.read_from(j.offset() - 5, 100).unwrap();
        assert_eq!(tail, b"\r\na\r\n");
        assert_eq!(j.read_from(j.offset() + 1, 1), Err(ReadError::Ahead));
    }

    #[test]
    fn blocks_are_wrapped_only_when_several() {
        let j = Journal::new(1 << 16);
        j.set_enabled(true);
        j.append_block(&[(0, cmd(&["SET", "a", "1"]))]);
        j.append_block(&[]);
        j.append_block(&[(1, cmd(&["INCR", "a"])), (2, cmd(&["DEL", "b"]))]);
        let all = String::from_utf8(j.read_from(0, usize::MAX).unwrap()).unwrap();
        let want = [
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n",
            "*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n",
            "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n",
        ]
        .concat();
        assert_eq!(all, want);
    }
}
