//! Point-in-time snapshots without fork (DESIGN.md §3), the persistence side: a
//! [`Snapshot`] is the RDB being written, fed by its own walker ([`Snapshot::run`]) and
//! by writers through the engine's serialize-before-mutate hook
//! (`redoubt_engine::snapshot`), which hand it each (database, slot) table exactly once.
//!
//! The point in time is the instant [`start`] holds every shard lock: it records the
//! replication offset, writes the header and installs the hook. Tables are appended in
//! whatever order they arrive; a SELECTDB precedes each run of one database's keys
//! (Redis's loader and `redis-check-rdb` accept SELECTDB anywhere), with RESIZEDB the
//! first time, sized from the counts taken at the start.
//!
//! Memory stays flat: a table is serialized straight into the output's buffer (1 MB)
//! while its shard is locked, so no copy of the data is ever held. A writer that hits
//! an unwritten slot pays for serializing that one slot (≈60 keys per million) before
//! its change; the walker holds each shard lock for one slot at a time.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use redoubt_engine::dict::Dict;
use redoubt_engine::keyspace::shard_of_slot;
use redoubt_engine::slot::SLOTS;
use redoubt_engine::snapshot::SlotSink;
use redoubt_engine::Engine;

use crate::aof::rewrite;
use crate::rdb::save::{write_entry, write_header, write_select, SaveOptions};
use crate::rdb::write::RdbWriter;

/// Size of the buffer between the serializer and the output.
pub const OUTPUT_BUFFER_BYTES: usize = 1 << 20;

/// The destination of a snapshot: a file, a socket, a pipe.
pub type Output = Box<dyn Write + Send>;

/// What a snapshot is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An RDB file (BGSAVE, an AOF base with `aof-use-rdb-preamble yes`).
    Rdb,
    /// Commands (an AOF base with `aof-use-rdb-preamble no`).
    Commands,
}

struct Out {
    w: RdbWriter<io::BufWriter<Output>>,
    /// The database the output last selected.
    current_db: Option<usize>,
    /// Keys and volatile keys per database at the start (for RESIZEDB), taken once.
    sizes: Vec<Option<(usize, usize)>>,
    error: Option<io::Error>,
    finished: bool,
}

/// A snapshot being written.
pub struct Snapshot {
    out: Mutex<Out>,
    opts: SaveOptions,
    format: Format,
    /// Databases that held keys at the start: the only ones the walker visits (a pair
    /// no writer touched still holds what it held at the start, so an empty database
    /// needs no visit).
    dbs_with_keys: Vec<usize>,
    keys_written: AtomicU64,
    keys_total: u64,
    aborted: AtomicBool,
    /// The replication offset at the point in time.
    pub offset: u64,
}

/// What a finished snapshot wrote.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub keys: u64,
    pub bytes: u64,
}

/// Starts a snapshot of `engine` into `out`. Takes every shard lock for the instant
/// it needs to record the offset, the sizes and the header and to install the hook;
/// `at_start` runs in that instant too, with the journal offset (an AOF rewrite opens
/// its new incremental file there). Fails if another snapshot is running.
pub fn start(
    engine: &Engine,
    out: Output,
    mut opts: SaveOptions,
    format: Format,
    redis_version: &str,
    at_start: impl FnOnce(u64),
) -> io::Result<Arc<Snapshot>> {
    let dbs = engine.keyspace.databases();
    // Before the shard locks: a replica's master link appends each command's bytes
    // under this guard, so the offset read below always matches the data.
    let _applying = engine.journal.apply_guard();
    let mut locked = engine.keyspace.lock_all();
    if engine.snapshot.active() {
        return Err(io::Error::other("a snapshot is already in progress"));
    }
    let mut sizes = vec![(0usize, 0usize); dbs];
    for shard in locked.shard_indexes() {
        if let Some(s) = locked.shard(shard) {
            for (db, part) in s.dbs.iter().enumerate() {
                sizes[db].0 += part.keys();
                sizes[db].1 += part.volatile();
            }
        }
    }
    let offset = engine.journal.offset();
    opts.repl_offset = offset;
    opts.repl_stream_db = engine.journal.stream_db().unwrap_or(0);
    let now = redoubt_engine::clock::now_ms();
    let checksum = opts.checksum && format == Format::Rdb;
    let mut w = RdbWriter::new(io::BufWriter::with_capacity(OUTPUT_BUFFER_BYTES, out), opts.compress, checksum);
    match format {
        Format::Rdb => write_header(&mut w, &opts, redis_version, now, redoubt_engine::memory::used_bytes())?,
        Format::Commands => {
            let mut cmds = Vec::new();
            for code in &opts.functions {
                rewrite::write_function(&mut cmds, code)?;
            }
            w.raw(&cmds)?;
        }
    }
    let snap = Arc::new(Snapshot {
        out: Mutex::new(Out {
            w,
            current_db: None,
            sizes: sizes.iter().map(|&s| Some(s)).collect(),
            error: None,
            finished: false,
        }),
        dbs_with_keys: (0..dbs).filter(|&d| sizes[d].0 > 0).collect(),
        keys_written: AtomicU64::new(0),
        keys_total: sizes.iter().map(|s| s.0 as u64).sum(),
        aborted: AtomicBool::new(false),
        opts,
        format,
        offset,
    });
    engine.snapshot.begin(snap.clone());
    at_start(offset);
    drop(locked);
    Ok(snap)
}

impl Snapshot {
    /// Keys written so far (INFO's `current_save_keys_processed`).
    pub fn keys_written(&self) -> u64 {
        self.keys_written.load(Relaxed)
    }

    /// Keys at the point in time (`current_save_keys_total`).
    pub fn keys_total(&self) -> u64 {
        self.keys_total
    }

    /// Asks the walker to stop; the output is left unfinished.
    pub fn abort(&self) {
        self.aborted.store(true, Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Out> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Walks every slot of every database that had keys, writing those no writer has
    /// written yet, then finishes the file (EOF, checksum, flush). Ends the engine's
    /// snapshot either way. Runs on a thread of its own (or the caller's, for SAVE).
    pub fn run(&self, engine: &Engine) -> io::Result<Written> {
        let result = self.walk(engine);
        engine.snapshot.end();
        let mut out = self.lock();
        out.finished = true;
        result?;
        if let Some(e) = out.error.take() {
            return Err(e);
        }
        if self.format == Format::Rdb {
            out.w.finish()?;
        }
        out.w.get_mut().flush()?;
        Ok(Written { keys: self.keys_written(), bytes: out.w.written() })
    }

    fn walk(&self, engine: &Engine) -> io::Result<()> {
        for &db in &self.dbs_with_keys {
            for slot in 0..SLOTS as u16 {
                if self.aborted.load(Relaxed) {
                    return Err(io::Error::other("snapshot aborted"));
                }
                let shard = shard_of_slot(slot);
                let mut locked = engine.keyspace.lock_shard(shard);
                let part = locked.shard(shard).and_then(|s| s.dbs.get(db));
                engine.snapshot.write_pair(db, slot, part.and_then(|p| p.dict(slot)));
            }
            if let Some(e) = self.lock().error.take() {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The output's writer, for the owner of the snapshot to finish with (fsync).
    pub fn with_output<R>(&self, f: impl FnOnce(&mut Output) -> R) -> R {
        f(self.lock().w.get_mut().get_mut())
    }
}

impl SlotSink for Snapshot {
    fn save(&self, db: usize, _slot: u16, dict: &Dict) {
        let mut out = self.lock();
        if out.error.is_some() || out.finished || self.aborted.load(Relaxed) {
            return;
        }
        let now = redoubt_engine::clock::now_ms();
        let Out { w, current_db, sizes, error, .. } = &mut *out;
        let format = self.format;
        let mut run = || -> io::Result<u64> {
            let mut cmds = Vec::new();
            if *current_db != Some(db) {
                match format {
                    Format::Rdb => write_select(w, db, sizes.get_mut(db).and_then(Option::take))?,
                    Format::Commands => rewrite::write_select(&mut cmds, db)?,
                }
                *current_db = Some(db);
            }
            let mut n = 0;
            for e in dict.iter() {
                match format {
                    Format::Rdb => write_entry(w, e, &self.opts, now)?,
                    Format::Commands => rewrite::write_entry(&mut cmds, e)?,
                }
                n += 1;
            }
            if !cmds.is_empty() {
                w.raw(&cmds)?;
            }
            Ok(n)
        };
        match run() {
            Ok(n) => {
                self.keys_written.fetch_add(n, Relaxed);
            }
            Err(e) => *error = Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::load::{load, EngineSink, LoadOptions};
    use redoubt_engine::exec::{Db, Expiry};
    use redoubt_engine::value::NewValue;
    use redoubt_engine::EvictionPolicy;

    /// A `Write` into a shared vector, so a test can read what a snapshot wrote.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn opts() -> SaveOptions {
        SaveOptions {
            compress: true,
            checksum: true,
            aof_base: false,
            repl_id: "0".repeat(40),
            repl_offset: 0,
            repl_stream_db: 0,
            policy: EvictionPolicy::NoEviction,
            lfu_decay_time: 1,
            functions: Vec::new(),
        }
    }

    fn load_opts() -> LoadOptions {
        LoadOptions { drop_expired: true, verify_checksum: true, policy: EvictionPolicy::NoEviction, progress: None }
    }

    fn set(engine: &Engine, db: usize, key: &str, value: &str, expire: Option<i64>) {
        let mut d = Db::new(engine, engine.keyspace.lock_keys([key.as_bytes()]), db, 0);
        let exp = expire.map_or(Expiry::Clear, Expiry::At);
        d.set(key.as_bytes(), NewValue::string(value.as_bytes()), exp).unwrap();
    }

    fn get(engine: &Engine, db: usize, key: &str) -> Option<Vec<u8>> {
        let mut d = Db::new(engine, engine.keyspace.lock_keys([key.as_bytes()]), db, 0);
        d.peek_in(db, key.as_bytes()).unwrap().map(|e| e.value().as_str().unwrap().to_vec())
    }

    fn reload(bytes: &[u8]) -> Engine {
        let engine = Engine::new(16);
        load(&mut EngineSink(&engine), bytes, bytes.len() as u64, &load_opts(), &mut |_| {}).unwrap();
        engine
    }

    #[test]
    fn round_trip_and_point_in_time() {
        let engine = Engine::new(16);
        for i in 0..2000 {
            set(&engine, 0, &format!("k{i}"), &format!("v{i}"), None);
        }
        set(&engine, 3, "big", &"x".repeat(1000), Some(i64::MAX / 2));
        set(&engine, 3, "n", "12345678901", None);
        let sink = Shared::default();
        let snap = start(&engine, Box::new(sink.clone()), opts(), Format::Rdb, "7.0.15", |_| {}).unwrap();
        // Writes after the start: none of them may show in the file.
        for i in 0..2000 {
            set(&engine, 0, &format!("k{i}"), "changed", None);
        }
        set(&engine, 0, "new", "x", None);
        set(&engine, 5, "other-db", "x", None);
        let written = snap.run(&engine).unwrap();
        assert_eq!(written.keys, 2002);
        assert!(!engine.snapshot.active());
        let bytes = sink.0.lock().unwrap().clone();
        let copy = reload(&bytes);
        for i in 0..2000 {
            assert_eq!(get(&copy, 0, &format!("k{i}")), Some(format!("v{i}").into_bytes()));
        }
        assert_eq!(get(&copy, 0, "new"), None);
        assert_eq!(get(&copy, 5, "other-db"), None);
        assert_eq!(get(&copy, 3, "big"), Some(vec![b'x'; 1000]));
        assert_eq!(get(&copy, 3, "n"), Some(b"12345678901".to_vec()));
    }

    #[test]
    fn corruption_anywhere_is_an_error_never_a_panic() {
        let engine = Engine::new(16);
        for i in 0..50 {
            set(&engine, i % 3, &format!("key:{i}"), &"v".repeat(i * 3), Some(i64::MAX / 2));
        }
        let sink = Shared::default();
        let snap = start(&engine, Box::new(sink.clone()), opts(), Format::Rdb, "7.0.15", |_| {}).unwrap();
        snap.run(&engine).unwrap();
        let good = sink.0.lock().unwrap().clone();
        reload(&good);
        let o = load_opts();
        for cut in 0..good.len() {
            let e = Engine::new(16);
            assert!(
                load(&mut EngineSink(&e), &good[..cut], cut as u64, &o, &mut |_| {}).is_err(),
                "truncated at {cut} loaded"
            );
        }
        for i in 9..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            let e = Engine::new(16);
            assert!(
                load(&mut EngineSink(&e), &bad[..], bad.len() as u64, &o, &mut |_| {}).is_err(),
                "flip at {i} loaded"
            );
        }
    }
}
