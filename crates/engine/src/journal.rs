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
use redoubt_resp::request::Args;

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

    /// Starts or stops recording (a replica attached, the AOF switched on or off).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
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
        if inner.selected_db != Some(db) {
            let mut dbtext = Vec::new();
            push_u64(&mut dbtext, db as u64);
            encode_command(&mut bytes, [&b"SELECT"[..], &dbtext].into_iter());
            inner.selected_db = Some(db);
        }
        encode_command(&mut bytes, args.iter());
        inner.push(&bytes);
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
    use redoubt_resp::request::OwnedArgs;

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
}
