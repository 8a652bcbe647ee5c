//! The AOF writer: a journal consumer ([`JournalSink`]) that appends every write to
//! the current incremental file from a thread of its own, fsyncs it per `appendfsync`,
//! and switches to a new file at an exact point of the stream when a rewrite begins.
//!
//! Group commit: appends only copy bytes into a buffer (under the journal's lock,
//! which writers hold anyway); the thread takes everything buffered at once, writes it
//! with one `write` and, with `appendfsync always`, one `fdatasync`, then publishes the
//! synced offset. Clients waiting for their write to be durable ([`AofWriter::poll_synced`])
//! are woken together, so one fsync acknowledges every client that wrote meanwhile and
//! throughput grows with the number of clients instead of being capped by the disk's
//! fsync rate.
//!
//! Bounds: the buffer holds at most [`PENDING_MAX_BYTES`] while the disk keeps up;
//! beyond that an append waits for the thread (the disk is the bottleneck, and memory
//! must not absorb it). While writes fail (disk full), what was accepted is kept and
//! retried every second; the server refuses new writes meanwhile (MISCONF).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use redoubt_engine::journal::JournalSink;

/// Buffered bytes beyond which appends wait for the disk.
pub const PENDING_MAX_BYTES: usize = 64 << 20;
/// How often a failed write is retried, and the `everysec` period.
const SECOND: Duration = Duration::from_secs(1);

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fsync {
    Always = 0,
    EverySec = 1,
    No = 2,
}

impl Fsync {
    pub fn parse(s: &str) -> Fsync {
        match s {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// A switch to a new file once `at` buffered bytes have gone to the old one.
struct Rotation {
    at: usize,
    file: File,
}

#[derive(Default)]
struct Feed {
    pending: Vec<u8>,
    /// Journal offset at the end of `pending`.
    end: u64,
    rotations: VecDeque<Rotation>,
    stop: bool,
    /// Unix second of the last `#TS:` annotation.
    last_ts: i64,
}

/// The writer's shared state.
pub struct AofWriter {
    feed: Mutex<Feed>,
    /// Wakes the thread (new bytes, a rotation, stop) and appenders waiting for room.
    cond: Condvar,
    room: Condvar,
    policy: AtomicU8,
    /// No fsync while a rewrite or save runs (`no-appendfsync-on-rewrite`).
    skip_fsync: AtomicBool,
    /// `aof-timestamp-enabled`.
    timestamps: AtomicBool,
    /// Journal offset of the last byte handed to `write`.
    written: AtomicU64,
    /// Journal offset of the last byte known durable.
    synced: AtomicU64,
    waiters: Mutex<Vec<(u64, Waker)>>,
    /// False after a failed write, until one succeeds (`aof_last_write_status`).
    pub write_ok: AtomicBool,
    /// The errno of the last failed write.
    pub last_errno: AtomicI64,
    /// Bytes in the current incremental file.
    pub incr_bytes: AtomicU64,
    /// fsyncs postponed because the previous one was still running.
    pub delayed_fsyncs: AtomicU64,
    log: Box<dyn Fn(Level, String) + Send + Sync>,
}

/// Log levels the writer reports with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Notice,
    Warning,
    /// Unrecoverable: the server must exit (a failed write with `appendfsync always`).
    Fatal,
}

impl AofWriter {
    /// Starts the writer on `file` (an incremental file, opened for appending) with
    /// the stream at `offset`. `log` receives what Redis would log.
    pub fn start(
        file: File,
        offset: u64,
        policy: Fsync,
        timestamps: bool,
        log: Box<dyn Fn(Level, String) + Send + Sync>,
    ) -> io::Result<(Arc<AofWriter>, std::thread::JoinHandle<()>)> {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let w = Arc::new(AofWriter {
            feed: Mutex::new(Feed { end: offset, ..Default::default() }),
            cond: Condvar::new(),
            room: Condvar::new(),
            policy: AtomicU8::new(policy as u8),
            skip_fsync: AtomicBool::new(false),
            timestamps: AtomicBool::new(timestamps),
            written: AtomicU64::new(offset),
            synced: AtomicU64::new(offset),
            waiters: Mutex::new(Vec::new()),
            write_ok: AtomicBool::new(true),
            last_errno: AtomicI64::new(0),
            incr_bytes: AtomicU64::new(size),
            delayed_fsyncs: AtomicU64::new(0),
            log,
        });
        let me = w.clone();
        let thread = std::thread::Builder::new().name("aof-writer".into()).spawn(move || me.run(file))?;
        Ok((w, thread))
    }

    fn feed(&self) -> MutexGuard<'_, Feed> {
        self.feed.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn policy(&self) -> Fsync {
        match self.policy.load(Relaxed) {
            0 => Fsync::Always,
            1 => Fsync::EverySec,
            _ => Fsync::No,
        }
    }

    pub fn set_policy(&self, p: Fsync) {
        self.policy.store(p as u8, Relaxed);
        self.cond.notify_all();
    }

    pub fn set_skip_fsync(&self, on: bool) {
        self.skip_fsync.store(on, Relaxed);
    }

    pub fn set_timestamps(&self, on: bool) {
        self.timestamps.store(on, Relaxed);
    }

    /// Bytes buffered and not yet written (INFO's `aof_buffer_length`).
    pub fn pending_bytes(&self) -> usize {
        self.feed().pending.len()
    }

    /// The journal offset known durable.
    pub fn synced(&self) -> u64 {
        self.synced.load(SeqCst)
    }

    /// True when the stream up to `offset` is durable (per the policy); otherwise
    /// `waker` is woken once it is. For replies held until their write is fsynced.
    pub fn poll_synced(&self, offset: u64, waker: &Waker) -> bool {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock the thread takes to wake waiters, so a wake-up that
        // happens between the check and the registration cannot be lost.
        if self.synced.load(SeqCst) >= offset {
            return true;
        }
        waiters.push((offset, waker.clone()));
        false
    }

    fn publish_synced(&self, offset: u64) {
        self.synced.fetch_max(offset, SeqCst);
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let synced = self.synced.load(SeqCst);
        waiters.retain(|(o, w)| {
            if *o <= synced {
                w.wake_by_ref();
                false
            } else {
                true
            }
        });
    }

    /// Switches to `file` at this exact point of the stream. The caller holds the
    /// journal's lock (`Journal::cut`), so no append can fall on the wrong side.
    pub fn rotate(&self, file: File) {
        let mut feed = self.feed();
        let at = feed.pending.len();
        feed.rotations.push_back(Rotation { at, file });
        // The new file starts with its own timestamp annotation.
        feed.last_ts = 0;
        drop(feed);
        self.cond.notify_all();
    }

    /// Writes what is buffered, fsyncs, and ends the thread (appendonly no, SHUTDOWN).
    /// Waiting clients are released: nothing more will be made durable.
    pub fn stop(&self) {
        self.feed().stop = true;
        self.cond.notify_all();
    }

    /// The thread: take the buffer, write it, fsync per policy, repeat.
    fn run(self: Arc<Self>, mut file: File) {
        let mut last_fsync = Instant::now();
        let mut unsynced = false;
        // Bytes taken from the feed but not yet written (after a failed write).
        let mut retry: Vec<u8> = Vec::new();
        let mut retry_end = 0u64;
        loop {
            let (buf, rotations, end, stop) = {
                let mut feed = self.feed();
                loop {
                    let has_work = !feed.pending.is_empty() || !feed.rotations.is_empty() || feed.stop;
                    if has_work && retry.is_empty() {
                        break;
                    }
                    let wait = if !retry.is_empty() || (unsynced && self.policy() == Fsync::EverySec) {
                        SECOND.saturating_sub(last_fsync.elapsed()).max(Duration::from_millis(1))
                    } else {
                        SECOND
                    };
                    let (f, timeout) = self.cond.wait_timeout(feed, wait).unwrap_or_else(|e| e.into_inner());
                    feed = f;
                    if timeout.timed_out() {
                        break;
                    }
                }
                let taken = std::mem::take(&mut feed.pending);
                let rotations = std::mem::take(&mut feed.rotations);
                self.room.notify_all();
                (taken, rotations, feed.end, feed.stop)
            };
            if !retry.is_empty() {
                if self.write_all(&mut file, &retry).is_err() {
                    // Keep everything, in order, for the next try.
                    retry.extend_from_slice(&buf);
                    retry_end = end.max(retry_end);
                    if !rotations.is_empty() {
                        (self.log)(Level::Fatal, "Can't switch AOF files while writes are failing".into());
                    }
                    continue;
                }
                (self.log)(Level::Notice, "AOF write error looks solved, Redis can write again.".into());
                self.write_ok.store(true, Relaxed);
                self.written.store(retry_end, SeqCst);
                retry.clear();
                unsynced = true;
            }
            let mut pos = 0;
            let mut failed = false;
            for r in rotations {
                if self.write_all(&mut file, &buf[pos..r.at]).is_err() {
                    (self.log)(Level::Fatal, "Can't write the AOF before switching files".into());
                }
                let _ = file.sync_data();
                file = r.file;
                self.incr_bytes.store(file.metadata().map(|m| m.len()).unwrap_or(0), Relaxed);
                pos = r.at;
            }
            if pos < buf.len() && self.write_all(&mut file, &buf[pos..]).is_err() {
                if self.policy() == Fsync::Always {
                    (self.log)(
                        Level::Fatal,
                        "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...".into(),
                    );
                }
                retry = buf[pos..].to_vec();
                retry_end = end;
                failed = true;
            }
            if !failed {
                self.written.store(end, SeqCst);
                unsynced |= pos < buf.len() || end > self.synced();
            }
            let policy = self.policy();
            let due = match policy {
                Fsync::Always => true,
                Fsync::EverySec => last_fsync.elapsed() >= SECOND,
                Fsync::No => false,
            };
            if (due || stop) && unsynced && !failed {
                if self.skip_fsync.load(Relaxed) && !stop {
                    // no-appendfsync-on-rewrite: written, not fsynced, treated as done.
                } else if let Err(e) = file.sync_data() {
                    (self.log)(Level::Warning, format!("Error syncing the AOF file: {e}"));
                    if policy == Fsync::Always {
                        (self.log)(
                            Level::Fatal,
                            "Can't persist AOF for fsync error when the AOF fsync policy is 'always'. Exiting..."
                                .into(),
                        );
                    }
                    continue;
                }
                last_fsync = Instant::now();
                unsynced = false;
                self.publish_synced(self.written.load(SeqCst));
            } else if policy != Fsync::Always && !failed {
                // Replies never wait under everysec/no; keep the waiters' view current.
                self.publish_synced(self.written.load(SeqCst));
            }
            if stop && retry.is_empty() {
                self.publish_synced(u64::MAX);
                return;
            }
            if stop {
                (self.log)(Level::Warning, "Stopping the AOF with unwritten data after write errors".into());
                self.publish_synced(u64::MAX);
                return;
            }
        }
    }

    /// One `write` loop; on failure, the partial write is cut off again so the file
    /// ends on a command boundary (Redis truncates it the same way), and the error is
    /// recorded and logged.
    fn write_all(&self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let before = self.incr_bytes.load(Relaxed);
        match file.write_all(bytes) {
            Ok(()) => {
                self.incr_bytes.fetch_add(bytes.len() as u64, Relaxed);
                Ok(())
            }
            Err(e) => {
                let _ = file.set_len(before);
                let _ = std::io::Seek::seek(file, std::io::SeekFrom::Start(before));
                if self.write_ok.swap(false, Relaxed) {
                    (self.log)(Level::Warning, format!("Error writing to the AOF file: {e}"));
                }
                self.last_errno.store(e.raw_os_error().unwrap_or(0) as i64, Relaxed);
                Err(e)
            }
        }
    }
}

impl JournalSink for AofWriter {
    fn append(&self, bytes: &[u8], end: u64) {
        let mut feed = self.feed();
        // Backpressure: the disk is not keeping up; wait for it rather than grow.
        while feed.pending.len() > PENDING_MAX_BYTES && self.write_ok.load(Relaxed) && !feed.stop {
            let (f, _) = self.room.wait_timeout(feed, SECOND).unwrap_or_else(|e| e.into_inner());
            feed = f;
        }
        if self.timestamps.load(Relaxed) {
            let now = redoubt_engine::clock::now_ms() / 1000;
            if now != feed.last_ts {
                feed.last_ts = now;
                feed.pending.extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
            }
        }
        feed.pending.extend_from_slice(bytes);
        feed.end = end;
        drop(feed);
        self.cond.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("redoubt-aofw-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    fn open(p: &std::path::Path) -> File {
        std::fs::OpenOptions::new().create(true).append(true).open(p).unwrap()
    }

    #[test]
    fn appends_fsyncs_rotates_and_wakes_waiters() {
        let (a, b) = (temp("a"), temp("b"));
        let (w, thread) = AofWriter::start(open(&a), 100, Fsync::Always, false, Box::new(|_, _| {})).unwrap();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        w.append(b"one", 103);
        // Either already durable, or the waker fires once it is.
        if !w.poll_synced(103, &waker) {
            let start = Instant::now();
            while count.0.load(SeqCst) == 0 {
                assert!(start.elapsed() < Duration::from_secs(5), "never woken");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(w.synced() >= 103);
        w.append(b"two", 106);
        w.rotate(open(&b));
        w.append(b"three", 111);
        w.stop();
        thread.join().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"onetwo");
        assert_eq!(std::fs::read(&b).unwrap(), b"three");
        assert_eq!(w.synced(), u64::MAX, "stopping releases every waiter");
        let _ = std::fs::remove_file(&a);
        let _ = std::fs::remove_file(&b);
    }

    #[test]
    fn timestamps_start_each_second_and_each_file() {
        let a = temp("ts");
        let (w, thread) = AofWriter::start(open(&a), 0, Fsync::No, true, Box::new(|_, _| {})).unwrap();
        w.append(b"x", 1);
        w.append(b"y", 2);
        w.stop();
        thread.join().unwrap();
        let text = String::from_utf8(std::fs::read(&a).unwrap()).unwrap();
        assert!(text.starts_with("#TS:"), "{text:?}");
        let data: String = text
            .split("\r\n")
            .map(|part| {
                part.trim_start_matches(|c: char| c == '#' || c == 'T' || c == 'S' || c == ':' || c.is_ascii_digit())
            })
            .collect();
        assert_eq!(data, "xy", "{text:?}");
        let _ = std::fs::remove_file(&a);
    }
}
