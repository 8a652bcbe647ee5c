//! A master's snapshot on the replica: received into a temporary file (sized, or
//! streamed with an EOF mark), checked whole, and only then loaded in place of our
//! data — so a truncated or corrupt transfer leaves the old dataset served, never a
//! half-loaded one (what Redis's `repl-diskless-load swapdb` aims at, here always).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::persistence::Logged;
use crate::server::Server;
use crate::{notice, warning};
use redoubt_persist::rdb::load::KeySink;
use redoubt_persist::rdb::value::Value;
use redoubt_persist::rdb::RdbError;
use redoubt_repl::ids::ID_LEN;
use redoubt_repl::protocol::{EofTail, Preamble};

/// A snapshot being received.
pub struct Transfer {
    file: File,
    path: PathBuf,
    /// Bytes still to come (sized), or the EOF mark's watcher.
    left: Option<u64>,
    eof: Option<EofTail>,
    written: u64,
    done: bool,
    server: Arc<Server>,
}

impl Transfer {
    pub fn create(server: &Arc<Server>, preamble: &Preamble) -> io::Result<Transfer> {
        let dir = crate::persistence::rdb::dump_path(server).parent().map(Path::to_path_buf).unwrap_or_default();
        let name = format!("temp-{}.{}.rdb", redoubt_engine::clock::now_ms() / 1000, std::process::id());
        let path = dir.join(name);
        let file = File::options().read(true).write(true).create(true).truncate(true).open(&path)?;
        let (left, eof) = match preamble {
            Preamble::Sized(n) => (Some(*n), None),
            Preamble::Eof(mark) => (None, Some(EofTail::new(*mark))),
        };
        let link = &server.replication.link;
        link.transfer_size.store(left.map_or(-1, |n| n as i64), Relaxed);
        link.transfer_read.store(0, Relaxed);
        Ok(Transfer { file, path, left, eof, written: 0, done: left == Some(0), server: server.clone() })
    }

    /// Writes what of `bytes` belongs to the snapshot; returns how many it took (the
    /// rest is the stream that follows).
    pub fn feed(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let take = match self.left {
            Some(left) => (left.min(bytes.len() as u64)) as usize,
            None => bytes.len(),
        };
        self.file.write_all(&bytes[..take])?;
        self.written += take as u64;
        self.server.replication.link.transfer_read.store(self.written, Relaxed);
        match (&mut self.left, &mut self.eof) {
            (Some(left), _) => {
                *left -= take as u64;
                self.done = *left == 0;
            }
            // A streamed snapshot ends with its mark; the master sends nothing after
            // it until we have loaded (it waits for our first ACK), so the mark is
            // the last thing read.
            (None, Some(eof)) => self.done = eof.feed(&bytes[..take]),
            (None, None) => {}
        }
        Ok(take)
    }

    pub fn complete(&self) -> bool {
        self.done
    }

    /// Flushes the file (dropping an EOF mark) and returns its path.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        if self.eof.is_some() {
            let len = self.written.saturating_sub(ID_LEN as u64);
            self.file.set_len(len)?;
        }
        self.file.flush()?;
        self.file.sync_all()?;
        Ok(self.path.clone())
    }
}

/// Checks that the RDB at `path` is whole: its CRC64 trailer when it has one (the
/// writer's checksum of every byte before), otherwise a full read that inserts nothing.
fn verify(server: &Server, path: &Path) -> Result<(), String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len < 9 + 1 + 8 {
        return Err(format!("the snapshot is only {len} bytes long"));
    }
    let mut trailer = [0u8; 8];
    file.seek(SeekFrom::Start(len - 8)).map_err(|e| e.to_string())?;
    file.read_exact(&mut trailer).map_err(|e| e.to_string())?;
    let expected = u64::from_le_bytes(trailer);
    if expected != 0 {
        file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        let mut crc = 0u64;
        let mut left = len - 8;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let n = (left as usize).min(buf.len());
            file.read_exact(&mut buf[..n]).map_err(|e| e.to_string())?;
            crc = redoubt_persist::crc64::crc64(crc, &buf[..n]);
            left -= n as u64;
        }
        if crc != expected {
            return Err("Wrong RDB checksum: the snapshot from the master is corrupt".into());
        }
        return Ok(());
    }
    let mut discard = Discard(server.engine.keyspace.databases());
    let reader = io::BufReader::with_capacity(1 << 20, File::open(path).map_err(|e| e.to_string())?);
    let mut opts = crate::persistence::rdb::load_options(server);
    opts.progress = None;
    redoubt_persist::rdb::load::load(&mut discard, reader, len, &opts, &mut |_| {})
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A sink that keeps nothing (a read that only checks the file).
struct Discard(usize);

impl KeySink for Discard {
    fn databases(&self) -> usize {
        self.0
    }

    fn insert(&mut self, _: usize, _: &[u8], _: Value, _: Option<i64>, _: u32) -> Result<(), RdbError> {
        Ok(())
    }

    fn function(&mut self, _: Vec<u8>) -> Result<(), RdbError> {
        Ok(())
    }
}

/// Replaces our dataset with the snapshot at `path`, the master's stream at `offset`
/// under `id`; returns the database the stream is in there. On failure the old data
/// stays (the file is checked before anything is flushed).
pub fn replace_dataset(server: &Arc<Server>, path: &Path, id: &str, offset: u64) -> Result<usize, Logged> {
    if let Err(e) = verify(server, path) {
        warning!("{e}");
        let _ = fs::remove_file(path);
        return Err(Logged);
    }
    // The AOF restarts from the new data (Redis's stopAppendOnly / restartAOFAfterSYNC).
    let aof_on = server.persistence.aof.enabled.load(Relaxed);
    if aof_on {
        let _ = crate::persistence::aof::set_enabled(server, false);
    }
    let journal = &server.engine.journal;
    let db = {
        let _applying = journal.apply_guard();
        let loaded = crate::persistence::rdb::replace_with_file(server, path);
        let Ok(info) = loaded else {
            let _ = fs::remove_file(path);
            return Err(Logged);
        };
        notice!("MASTER <-> REPLICA sync: Loading DB in memory");
        let db = info.repl_stream_db.filter(|d| *d >= 0).map_or(0, |d| d as usize);
        journal.reset(offset, Some(db));
        db
    };
    super::adopt_master_id(server, id);
    // Our own replicas followed the stream we just left: they must sync again.
    super::disconnect_replicas(server);
    let target = crate::persistence::rdb::dump_path(server);
    if let Err(e) = fs::rename(path, &target) {
        warning!("Failed trying to rename the temp DB into {}: {e}", target.display());
    }
    if aof_on {
        if let Err(e) = crate::persistence::aof::set_enabled(server, true) {
            warning!("Failed enabling the AOF after successful master synchronization! {e}");
        }
    }
    Ok(db)
}
