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
//!
//! Two modes:
//! - **own** (a master): commands journal themselves as they run (`append`,
//!   `append_block`), and this journal chooses where SELECTs go.
//! - **mirror** (a replica): the stream is the master's, byte for byte, so that the
//!   offsets of a replica and of its own replicas are the master's. Commands journal
//!   nothing; the master link appends the bytes it received ([`Journal::append_raw`])
//!   under [`Journal::apply_guard`], which snapshots also take at their start: a
//!   snapshot's offset and data can then never fall between a command's effect and
//!   its bytes.
//!
//! The backlog keeps the stream's recent past in blocks, by bytes and by time
//! ([`BacklogLimits`]), and never drops bytes a registered [`Cursor`] (a replica
//! being fed) still needs, up to a cap.
//!
//! Sinks (the AOF) get every byte, plus *markers*: `#` annotation lines naming the
//! stream's id and offset at the start of each file and whenever the id changes, so
//! that a restart can tell which replication id and offset its AOF ends at
//! ([`parse_marker`]). Redis's AOF loader and `redis-check-aof` skip `#` lines.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;

use redoubt_resp::number::push_u64;
use redoubt_resp::request::{Args, OwnedArgs};

/// Default backlog size (Redis's `repl-backlog-size` default, 1 MB).
pub const DEFAULT_BACKLOG_BYTES: usize = 1024 * 1024;

/// Bytes per backlog block (Redis's replication buffer uses 16 KB blocks; larger ones
/// mean fewer allocations under a write burst).
const BLOCK_BYTES: usize = 64 * 1024;

/// What a marker line starts with.
pub const MARKER_PREFIX: &[u8] = b"#redoubt-repl:";

/// How much of the stream the backlog keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BacklogLimits {
    /// Always kept, whatever its age (`repl-backlog-size`).
    pub min_bytes: usize,
    /// Bytes younger than this are kept too...
    pub window_ms: i64,
    /// ...as long as the backlog stays under this.
    pub max_bytes: usize,
    /// Bytes a registered cursor has not read yet are kept while the backlog stays
    /// under this (a reader further behind is cut off by its owner).
    pub cursor_cap_bytes: usize,
}

impl BacklogLimits {
    /// A plain ring of `bytes`.
    pub fn bytes(bytes: usize) -> BacklogLimits {
        BacklogLimits { min_bytes: bytes, window_ms: 0, max_bytes: bytes, cursor_cap_bytes: bytes }
    }
}

/// The journal.
pub struct Journal {
    /// Commands journal themselves (recording is wanted and this is not a mirror).
    enabled: AtomicBool,
    mirror: AtomicBool,
    /// Mirror of the offset for lock-free readers (INFO, WAIT).
    offset: AtomicU64,
    inner: Mutex<Inner>,
    /// Held while a mirrored command is applied and appended, and while a snapshot
    /// takes its point in time.
    apply: Mutex<()>,
}

struct Inner {
    /// Total bytes ever appended: the replication offset.
    offset: u64,
    /// The database the stream last selected; `None` forces a SELECT (own mode).
    selected_db: Option<usize>,
    backlog: Backlog,
    wakers: Vec<Waker>,
    /// Consumers fed every byte as it is appended (the AOF), in stream order.
    sinks: Vec<Arc<dyn JournalSink>>,
    /// Recording was asked for by `set_enabled` (replication), sinks aside.
    wanted: bool,
    /// The stream's replication id, for markers.
    id: Option<String>,
}

/// A consumer that must see every byte of the stream, none skipped however far it
/// falls behind (the backlog only keeps the last bytes): the AOF writer.
pub trait JournalSink: Send + Sync {
    /// Called for each appended stretch of whole commands, in stream order, with the
    /// journal's lock held (so keep it short: copy and return); `end` is the stream
    /// offset after `bytes`. Markers and a mirror's leading SELECT arrive the same
    /// way with `end` unchanged: they are not part of the stream.
    fn append(&self, bytes: &[u8], end: u64);
}

/// A reader's position in the stream; while it lives, the backlog keeps the bytes
/// from there on (up to `BacklogLimits::cursor_cap_bytes`).
pub struct Cursor(Arc<AtomicU64>);

impl Cursor {
    /// Records that everything before `offset` has been read.
    pub fn advance(&self, offset: u64) {
        self.0.fetch_max(offset, Ordering::Relaxed);
    }

    pub fn position(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Block {
    data: Vec<u8>,
    /// When the block's last byte was appended.
    last_ms: i64,
}

/// The recent past of the stream: whole blocks, the first one read from `head`.
struct Backlog {
    blocks: VecDeque<Block>,
    /// Bytes of the first block already dropped.
    head: usize,
    /// Bytes kept (from `head` to the end).
    len: usize,
    limits: BacklogLimits,
    cursors: Vec<Weak<AtomicU64>>,
}

/// Why a read from the backlog failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The requested offset is older than the backlog's first byte.
    Gone,
    /// The requested offset lies in the future.
    Ahead,
}

/// A marker read back from a file: the stream's id and offset at that point, and the
/// database the stream had selected (None: the next command selects one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub id: String,
    pub offset: u64,
    pub db: Option<usize>,
}

thread_local! {
    /// True while this thread holds `Journal::apply`: a snapshot started by the
    /// command being applied (FLUSHALL's save) must not wait for itself.
    static APPLYING: Cell<bool> = const { Cell::new(false) };
}

/// [`Journal::apply_guard`]'s guard.
pub struct ApplyGuard<'a> {
    _g: Option<MutexGuard<'a, ()>>,
}

impl Drop for ApplyGuard<'_> {
    fn drop(&mut self) {
        if self._g.is_some() {
            APPLYING.with(|a| a.set(false));
        }
    }
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
            mirror: AtomicBool::new(false),
            offset: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                offset: 0,
                selected_db: None,
                backlog: Backlog {
                    blocks: VecDeque::new(),
                    head: 0,
                    len: 0,
                    limits: BacklogLimits::bytes(backlog_bytes),
                    cursors: Vec::new(),
                },
                wakers: Vec::new(),
                sinks: Vec::new(),
                wanted: false,
                id: None,
            }),
            apply: Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when commands must journal their writes.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn refresh_enabled(&self, inner: &Inner) {
        let on = (inner.wanted || !inner.sinks.is_empty()) && !self.mirror.load(Ordering::Relaxed);
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Starts or stops recording for the replication stream and backlog (attached
    /// sinks keep it on regardless).
    pub fn set_enabled(&self, on: bool) {
        let mut inner = self.lock();
        inner.wanted = on;
        self.refresh_enabled(&inner);
    }

    /// Switches between own mode and mirror mode (see the module doc). Entering own
    /// mode forces a SELECT before the next command.
    pub fn set_mirror(&self, on: bool) {
        let mut inner = self.lock();
        self.mirror.store(on, Ordering::Relaxed);
        if !on {
            inner.selected_db = None;
        }
        self.refresh_enabled(&inner);
    }

    pub fn is_mirror(&self) -> bool {
        self.mirror.load(Ordering::Relaxed)
    }

    /// Excludes snapshots from starting until dropped: the master link holds it while
    /// it applies a command and appends its bytes. Snapshots take it too, before their
    /// shard locks; on the applying thread itself it is a no-op (a command that saves,
    /// like FLUSHALL with save points, runs while its link holds the guard).
    pub fn apply_guard(&self) -> ApplyGuard<'_> {
        if APPLYING.with(|a| a.get()) {
            return ApplyGuard { _g: None };
        }
        let g = self.apply.lock().unwrap_or_else(|e| e.into_inner());
        APPLYING.with(|a| a.set(true));
        ApplyGuard { _g: Some(g) }
    }

    /// Attaches a sink: from now on it gets every appended byte. Forces a SELECT before
    /// the next command, so the sink's stream is self-contained (in mirror mode, where
    /// the stream cannot be changed, the sink gets the SELECT on its own). Returns the
    /// offset at which its stream starts. The caller holds every shard lock when the
    /// start must be an exact point (no write can be half journaled then).
    pub fn attach(&self, sink: Arc<dyn JournalSink>) -> u64 {
        let mut inner = self.lock();
        inner.sinks.push(sink.clone());
        self.start_sink_stream(&mut inner, std::slice::from_ref(&sink));
        self.refresh_enabled(&inner);
        inner.offset
    }

    /// Detaches a sink (compared by address).
    pub fn detach(&self, sink: &Arc<dyn JournalSink>) {
        let mut inner = self.lock();
        inner.sinks.retain(|s| !Arc::ptr_eq(s, sink));
        self.refresh_enabled(&inner);
    }

    /// What a sink needs at the start of a file: in mirror mode the SELECT the stream
    /// is in (not part of the stream), then the marker; in own mode the next command
    /// selects its database in the stream itself.
    fn start_sink_stream(&self, inner: &mut Inner, sinks: &[Arc<dyn JournalSink>]) {
        let mut prefix = Vec::new();
        if self.is_mirror() {
            if let Some(db) = inner.selected_db {
                encode_select(&mut prefix, db);
            }
        } else {
            inner.selected_db = None;
        }
        inner.push_marker(&mut prefix);
        for s in sinks {
            if !prefix.is_empty() {
                s.append(&prefix, inner.offset);
            }
        }
    }

    /// Sets the stream's replication id (kept for markers) and tells the sinks.
    pub fn set_id(&self, id: &str) {
        let mut inner = self.lock();
        if inner.id.as_deref() == Some(id) {
            return;
        }
        inner.id = Some(id.to_string());
        let mut marker = Vec::new();
        inner.push_marker(&mut marker);
        for s in &inner.sinks {
            s.append(&marker, inner.offset);
        }
    }

    /// The replication offset: bytes appended since the stream began.
    pub fn offset(&self) -> u64 {
        self.offset.load(Ordering::Acquire)
    }

    /// The database the stream has selected, if it is known (the `repl-stream-db` of a
    /// snapshot taken now).
    pub fn stream_db(&self) -> Option<usize> {
        self.lock().selected_db
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

    /// Appends bytes that are already whole commands: in mirror mode what the master
    /// sent (`db`: the database the stream is in after them), in own mode commands
    /// that select no database (PING, REPLCONF GETACK; `db` None). Recorded even
    /// while commands do not journal themselves (mirror mode), as long as anything
    /// consumes the stream.
    pub fn append_raw(&self, bytes: &[u8], db: Option<usize>) {
        let mut inner = self.lock();
        let recording = inner.wanted || !inner.sinks.is_empty();
        if !recording || bytes.is_empty() {
            return;
        }
        if db.is_some() {
            inner.selected_db = db;
        }
        self.publish(&mut inner, bytes);
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

    /// Runs `f` with the current offset while no append can happen, and starts the
    /// sinks' streams anew (a SELECT before the next command, a marker): the exact
    /// point where a consumer's stream is cut in two (an AOF rewrite's new incremental
    /// file starts there).
    pub fn cut<R>(&self, f: impl FnOnce(u64) -> R) -> R {
        let mut inner = self.lock();
        let r = f(inner.offset);
        let sinks = inner.sinks.clone();
        self.start_sink_stream(&mut inner, &sinks);
        r
    }

    /// Restarts the stream at `offset` with an empty backlog (a replica that loaded
    /// its master's snapshot, or a server that restored its offset at start-up).
    /// `db`: the database the stream is in there, if known.
    pub fn reset(&self, offset: u64, db: Option<usize>) {
        let mut inner = self.lock();
        inner.offset = offset;
        inner.selected_db = db;
        inner.backlog.clear();
        self.offset.store(offset, Ordering::Release);
        for w in inner.wakers.drain(..) {
            w.wake();
        }
    }

    /// Bytes from `offset` up to the current end, at most `max` of them.
    pub fn read_from(&self, offset: u64, max: usize) -> Result<Vec<u8>, ReadError> {
        let inner = self.lock();
        let start = inner.offset - inner.backlog.len as u64;
        if offset < start {
            return Err(ReadError::Gone);
        }
        if offset > inner.offset {
            return Err(ReadError::Ahead);
        }
        let skip = (offset - start) as usize;
        let n = (inner.backlog.len - skip).min(max);
        let mut out = Vec::with_capacity(n);
        inner.backlog.copy_range(skip, n, &mut out);
        Ok(out)
    }

    /// Registers `waker` to be woken at the next append.
    pub fn wait(&self, waker: &Waker) {
        let mut inner = self.lock();
        if !inner.wakers.iter().any(|w| w.will_wake(waker)) {
            inner.wakers.push(waker.clone());
        }
    }

    /// Wakes every registered waker now (a reader must look at something other than
    /// the stream: it was told to stop).
    pub fn wake_all(&self) {
        let mut inner = self.lock();
        for w in inner.wakers.drain(..) {
            w.wake();
        }
    }

    /// Changes what the backlog keeps, dropping what it no longer needs (called again
    /// as time passes: what the time window keeps ages).
    pub fn set_backlog_limits(&self, limits: BacklogLimits) {
        let mut inner = self.lock();
        inner.backlog.limits = limits;
        let end = inner.offset;
        inner.backlog.trim(end, crate::clock::now_ms());
    }

    /// Empties the backlog (its memory is released; the offset stays).
    pub fn clear_backlog(&self) {
        self.lock().backlog.clear();
    }

    /// A cursor at `offset`: the backlog keeps the bytes from there on until the
    /// cursor advances or is dropped.
    pub fn cursor(&self, offset: u64) -> Cursor {
        let pos = Arc::new(AtomicU64::new(offset));
        self.lock().backlog.cursors.push(Arc::downgrade(&pos));
        Cursor(pos)
    }

    /// First offset the backlog can serve (1-based, as Redis counts:
    /// `repl_backlog_first_byte_offset`), and its length.
    pub fn backlog_range(&self) -> (u64, usize) {
        let inner = self.lock();
        (inner.offset - inner.backlog.len as u64 + 1, inner.backlog.len)
    }
}

impl Inner {
    /// Encodes one command executed in database `db` into `out`, preceded by a SELECT
    /// when the stream is in another database.
    fn encode<'a>(&mut self, out: &mut Vec<u8>, db: usize, args: impl ExactSizeIterator<Item = &'a [u8]>) {
        if self.selected_db != Some(db) {
            encode_select(out, db);
            self.selected_db = Some(db);
        }
        encode_command(out, args);
    }

    fn push(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        let now = crate::clock::now_ms();
        if self.backlog.extend(bytes, now) {
            let end = self.offset;
            self.backlog.trim(end, now);
        }
    }

    /// Appends this point's marker to `out`, if the stream has an id.
    fn push_marker(&self, out: &mut Vec<u8>) {
        let Some(id) = &self.id else { return };
        out.extend_from_slice(MARKER_PREFIX);
        out.extend_from_slice(id.as_bytes());
        out.push(b' ');
        push_u64(out, self.offset);
        out.push(b' ');
        match self.selected_db {
            Some(db) => push_u64(out, db as u64),
            None => out.push(b'-'),
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl Backlog {
    fn clear(&mut self) {
        self.blocks.clear();
        self.head = 0;
        self.len = 0;
    }

    /// Appends `bytes`; true when a new block was started (the moment to trim: the
    /// limits are looked at once per block, not once per command).
    fn extend(&mut self, mut bytes: &[u8], now: i64) -> bool {
        let mut started = false;
        self.len += bytes.len();
        while !bytes.is_empty() {
            let room = self.blocks.back().map_or(0, |b| BLOCK_BYTES.saturating_sub(b.data.len()));
            if room == 0 {
                self.blocks.push_back(Block { data: Vec::with_capacity(BLOCK_BYTES), last_ms: now });
                started = true;
                continue;
            }
            let take = room.min(bytes.len());
            if let Some(b) = self.blocks.back_mut() {
                b.data.extend_from_slice(&bytes[..take]);
                b.last_ms = now;
            }
            bytes = &bytes[take..];
        }
        started
    }

    /// Copies `n` bytes starting `skip` bytes into the kept part.
    fn copy_range(&self, skip: usize, mut n: usize, out: &mut Vec<u8>) {
        let mut pos = skip + self.head;
        for b in &self.blocks {
            if n == 0 {
                break;
            }
            if pos >= b.data.len() {
                pos -= b.data.len();
                continue;
            }
            let take = (b.data.len() - pos).min(n);
            out.extend_from_slice(&b.data[pos..pos + take]);
            n -= take;
            pos = 0;
        }
    }

    /// The oldest offset still needed: everything before it is dropped.
    fn keep_from(&mut self, end: u64, now: i64) -> u64 {
        let l = self.limits;
        let floor = end.saturating_sub(l.min_bytes as u64);
        // Young bytes: from the first block whose last byte is within the window.
        let mut young_from = end;
        let mut block_start = end - self.len as u64 - self.head as u64;
        for b in &self.blocks {
            if now - b.last_ms <= l.window_ms {
                young_from = block_start.max(end - self.len as u64);
                break;
            }
            block_start += b.data.len() as u64;
        }
        let by_time = young_from.max(end.saturating_sub(l.max_bytes as u64));
        self.cursors.retain(|c| c.strong_count() > 0);
        let slowest = self.cursors.iter().filter_map(Weak::upgrade).map(|c| c.load(Ordering::Relaxed)).min();
        let by_cursor = slowest.unwrap_or(end).max(end.saturating_sub(l.cursor_cap_bytes as u64));
        floor.min(by_time).min(by_cursor)
    }

    /// Drops what the limits no longer keep.
    fn trim(&mut self, end: u64, now: i64) {
        let start = end - self.len as u64;
        let keep = self.keep_from(end, now);
        if keep <= start {
            return;
        }
        let mut drop = (keep - start) as usize;
        self.len -= drop;
        while drop > 0 {
            let Some(front) = self.blocks.front() else { break };
            let left = front.data.len() - self.head;
            if drop >= left && self.blocks.len() > 1 {
                drop -= left;
                self.head = 0;
                self.blocks.pop_front();
            } else {
                self.head += drop;
                drop = 0;
            }
        }
        if self.len == 0 {
            self.clear();
        }
    }
}

/// Encodes `SELECT db`.
fn encode_select(out: &mut Vec<u8>, db: usize) {
    let mut dbtext = Vec::new();
    push_u64(&mut dbtext, db as u64);
    encode_command(out, [&b"SELECT"[..], &dbtext].into_iter());
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

/// Reads a marker line (without its CRLF); None if `line` is not one.
pub fn parse_marker(line: &[u8]) -> Option<Marker> {
    let rest = std::str::from_utf8(line.strip_prefix(MARKER_PREFIX)?).ok()?;
    let mut words = rest.split(' ');
    let id = words.next().filter(|w| !w.is_empty())?.to_string();
    let offset = words.next()?.parse().ok()?;
    let db = match words.next()? {
        "-" => None,
        w => Some(w.parse().ok()?),
    };
    words.next().is_none().then_some(Marker { id, offset, db })
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
        let tail = j.read_from(j.offset() - 5, 100).unwrap();
        assert_eq!(tail, b"\r\n1\r\n");
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

    /// Appends `n` bytes of filler through the raw path.
    fn fill(j: &Journal, n: usize) {
        j.append_raw(&vec![b'x'; n], None);
    }

    #[test]
    fn backlog_keeps_its_floor_across_blocks_and_reads_span_them() {
        let j = Journal::new(100_000);
        j.set_enabled(true);
        for i in 0..50u8 {
            j.append_raw(&[i; 10_000], None);
        }
        let (first, len) = j.backlog_range();
        assert!((100_000..100_000 + BLOCK_BYTES).contains(&len), "{len}");
        assert_eq!(first, j.offset() - len as u64 + 1);
        assert_eq!(j.read_from(0, 10), Err(ReadError::Gone));
        let got = j.read_from(j.offset() - 25_000, usize::MAX).unwrap();
        assert_eq!(got.len(), 25_000);
        assert_eq!(&got[..5_000], &[47u8; 5_000][..]);
        assert_eq!(&got[5_000..15_000], &[48u8; 10_000][..]);
    }

    #[test]
    fn young_bytes_and_cursors_are_kept_up_to_their_caps() {
        let j = Journal::new(1000);
        j.set_enabled(true);
        j.set_backlog_limits(BacklogLimits {
            min_bytes: 1000,
            window_ms: 60_000,
            max_bytes: 300_000,
            cursor_cap_bytes: 1000,
        });
        for _ in 0..20 {
            fill(&j, 10_000);
        }
        // Everything is young and under the time cap: all of it is kept.
        assert_eq!(j.backlog_range().1, 200_000);
        for _ in 0..20 {
            fill(&j, 10_000);
        }
        let len = j.backlog_range().1;
        assert!((300_000..300_000 + BLOCK_BYTES).contains(&len), "{len}");
        // Old bytes: only the floor, unless a cursor needs them.
        let c = j.cursor(j.offset() - 50_000);
        let bytes_only = BacklogLimits { min_bytes: 1000, window_ms: 0, max_bytes: 1000, cursor_cap_bytes: 100_000 };
        j.set_backlog_limits(bytes_only);
        assert_eq!(j.backlog_range().1, 50_000);
        // Setting the limits again trims (the server does it once a second).
        c.advance(j.offset() - 10_000);
        j.set_backlog_limits(bytes_only);
        assert_eq!(j.backlog_range().1, 10_000);
        drop(c);
        j.set_backlog_limits(bytes_only);
        assert_eq!(j.backlog_range().1, 1000);
    }

    struct Collect(Mutex<Vec<u8>>);
    impl JournalSink for Collect {
        fn append(&self, bytes: &[u8], _end: u64) {
            self.0.lock().unwrap().extend_from_slice(bytes);
        }
    }

    #[test]
    fn mirror_mode_appends_raw_bytes_and_sinks_get_markers() {
        let j = Journal::new(1 << 16);
        j.set_id("abc");
        j.set_mirror(true);
        j.set_enabled(true);
        assert!(!j.enabled(), "commands journal nothing in mirror mode");
        j.append(0, cmd(&["SET", "a", "1"]).args());
        assert_eq!(j.offset(), 0);
        let sel = b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n";
        j.append_raw(sel, Some(3));
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        j.attach(sink.clone());
        j.append_raw(b"*1\r\n$4\r\nPING\r\n", Some(3));
        let got = sink.0.lock().unwrap().clone();
        let marker = format!("#redoubt-repl:abc {} 3\r\n", sel.len());
        assert_eq!(got, [&sel[..], marker.as_bytes(), b"*1\r\n$4\r\nPING\r\n"].concat());
        let m = parse_marker(marker.trim_end().as_bytes()).unwrap();
        assert_eq!(m, Marker { id: "abc".into(), offset: sel.len() as u64, db: Some(3) });
        assert_eq!(parse_marker(b"#redoubt-repl:abc 5 -"), Some(Marker { id: "abc".into(), offset: 5, db: None }));
        assert_eq!(parse_marker(b"#TS:123"), None);
        assert_eq!(parse_marker(b"#redoubt-repl:abc x -"), None);
    }

    #[test]
    fn reset_restarts_the_stream_with_an_empty_backlog() {
        let j = Journal::new(1000);
        j.set_enabled(true);
        fill(&j, 10);
        j.reset(5000, Some(2));
        assert_eq!(j.offset(), 5000);
        assert_eq!(j.backlog_range(), (5001, 0));
        assert_eq!(j.read_from(5000, 10).unwrap(), Vec::<u8>::new());
        assert_eq!(j.read_from(4999, 10), Err(ReadError::Gone));
        assert_eq!(j.stream_db(), Some(2));
    }
}
