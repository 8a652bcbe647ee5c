//! RDB snapshots in the server: SAVE, BGSAVE, save points, SHUTDOWN's final save,
//! DEBUG RELOAD and the dump file at start-up.
//!
//! Every save goes through `redoubt_persist::snapshot` (point in time, no fork, the
//! server keeps serving) into `temp-<pid>.rdb` beside the target, which is fsynced and
//! renamed over the target only when complete: a failed or interrupted save never
//! damages the previous file.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redoubt_engine::exec::Db;
use redoubt_engine::stats::{self, Stat};
use redoubt_engine::CmdError;
use redoubt_persist::rdb::load::{load, DbSink, EngineSink, KeySink, LoadError, LoadInfo, LoadOptions};
use redoubt_persist::rdb::save::SaveOptions;
use redoubt_persist::rdb::RdbError;
use redoubt_persist::snapshot::{self, Format, Snapshot, Written};

use super::{save_points, Job, JobKind, Logged, ServerSink, BGSAVE_RETRY_DELAY_S};
use crate::server::Server;
use crate::{notice, warning};
use redoubt_scripting::functions::RestorePolicy;

/// How often a SAVE that waits for a running AOF rewrite checks again.
const WAIT_POLL: Duration = Duration::from_millis(10);

/// The dump file: `dbfilename` in the working directory (`dir`).
pub fn dump_path(server: &Server) -> PathBuf {
    absolute(&server.config.get("dbfilename"))
}

/// `name` resolved against the working directory now, so that a later CONFIG SET dir
/// (which changes the working directory) cannot split a save across two directories.
pub fn absolute(name: &str) -> PathBuf {
    std::env::current_dir().map(|d| d.join(name)).unwrap_or_else(|_| PathBuf::from(name))
}

/// The options of a save, from the configuration as it is now.
pub fn save_options(server: &Server, aof_base: bool) -> SaveOptions {
    let knobs = &server.engine.knobs;
    SaveOptions {
        compress: server.config.get_bool("rdbcompression"),
        checksum: server.config.get_bool("rdbchecksum"),
        aof_base,
        repl_id: server.replication.id(),
        repl_offset: 0,
        repl_stream_db: 0,
        policy: knobs.policy(),
        lfu_decay_time: knobs.lfu_decay_time.load(Relaxed),
        functions: server.scripting.library_codes(),
    }
}

/// A file being written under a temporary name.
pub struct FileTarget {
    temp: PathBuf,
    target: PathBuf,
    file: File,
}

impl FileTarget {
    /// Creates the temporary file `temp_name` in the target's directory.
    pub fn create(target: PathBuf, temp_name: &str) -> io::Result<(FileTarget, File)> {
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let temp = dir.join(temp_name);
        let file = File::create(&temp)?;
        let writer = file.try_clone()?;
        Ok((FileTarget { temp, target, file }, writer))
    }

    /// Makes the file durable and moves it over the target: fsync the data, rename,
    /// fsync the directory (so the rename itself survives a crash).
    pub fn commit(self) -> io::Result<()> {
        let result = self.file.sync_all().and_then(|_| fs::rename(&self.temp, &self.target));
        if let Err(e) = result {
            let _ = fs::remove_file(&self.temp);
            return Err(e);
        }
        if let Some(dir) = self.target.parent() {
            if let Ok(d) = File::open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Removes the temporary file (a failed or abandoned save).
    pub fn discard(self) {
        let _ = fs::remove_file(&self.temp);
    }

    pub fn temp(&self) -> &Path {
        &self.temp
    }
}

/// Starts a snapshot of the dataset into a temporary file for `target`.
fn begin(server: &Server, target: PathBuf) -> io::Result<(Arc<Snapshot>, FileTarget, u64)> {
    let (ft, file) = FileTarget::create(target, &format!("temp-{}.rdb", std::process::id())).map_err(|e| {
        let dir = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        warning!(
            "Failed opening the temp RDB file temp-{}.rdb (in server root dir {dir}) for saving: {e}",
            std::process::id()
        );
        e
    })?;
    let mut dirty = 0;
    match start_snapshot(server, file, Format::Rdb, false, |_| dirty = stats::total(Stat::Dirty)) {
        Ok(s) => Ok((s, ft, dirty)),
        Err(e) => {
            ft.discard();
            Err(e)
        }
    }
}

/// Starts a snapshot of the dataset into `file`, in `format`, with the save options as
/// configured now (`aof_base`: the base file of an AOF); `at_start` runs at the
/// snapshot's instant, while every shard is locked.
pub fn start_snapshot(
    server: &Server,
    file: File,
    format: Format,
    aof_base: bool,
    at_start: impl FnOnce(u64),
) -> io::Result<Arc<Snapshot>> {
    snapshot::start(
        &server.engine,
        Box::new(file),
        save_options(server, aof_base),
        format,
        crate::REDIS_VERSION,
        at_start,
    )
}

/// Runs a started snapshot to the end and commits its file.
pub fn complete(server: &Server, snap: &Snapshot, ft: FileTarget) -> io::Result<Written> {
    match snap.run(&server.engine) {
        Ok(w) => ft.commit().map(|_| w),
        Err(e) => {
            ft.discard();
            Err(e)
        }
    }
}

/// Runs a snapshot's work; a panic in it (a bug) ends the snapshot instead of leaving
/// the serialize-before-mutate hook installed with nobody finishing the file.
pub fn guarded<T>(server: &Server, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            server.engine.snapshot.end();
            Err(io::Error::other("the snapshot failed with an internal error"))
        }
    }
}

/// SAVE: a snapshot written by the calling thread. Waits for a running AOF rewrite
/// to finish first (one snapshot at a time); refused during a BGSAVE, as in Redis.
pub fn save(server: &Server) -> Result<(), CmdError> {
    let p = &server.persistence;
    // The save holds the one snapshot slot while it runs, so that a save point or a
    // BGSAVE meanwhile waits instead of failing.
    let (snap, ft, dirty) = loop {
        let mut job = p.job();
        match job.as_ref().map(|j| j.kind) {
            Some(JobKind::Rdb) => return Err(CmdError::Static("ERR Background save already in progress")),
            Some(JobKind::AofRewrite) => {
                drop(job);
                std::thread::sleep(WAIT_POLL);
            }
            None => match begin(server, dump_path(server)) {
                Ok((snap, ft, dirty)) => {
                    *job = Some(Job {
                        kind: JobKind::Rdb,
                        snapshot: snap.clone(),
                        started: Instant::now(),
                        dirty_at_start: dirty,
                    });
                    break (snap, ft, dirty);
                }
                Err(e) => {
                    warning!("Write error saving DB on disk: {e}");
                    return Err(CmdError::Static("ERR"));
                }
            },
        }
    };
    let result = guarded(server, || complete(server, &snap, ft)).map(|_| dirty);
    *p.job() = None;
    match result {
        Ok(dirty) => {
            notice!("DB saved on disk");
            server.persistence.saved(server, dirty);
            server.persistence.rdb_saves.fetch_add(1, Relaxed);
            Ok(())
        }
        // As Redis's `rdbSave`: a failed SAVE is reported to its caller but does not
        // change `rdb_last_bgsave_status` (only background saves do).
        Err(e) => {
            warning!("Write error saving DB on disk: {e}");
            Err(CmdError::Static("ERR"))
        }
    }
}

/// BGSAVE: starts a snapshot and writes it on a thread of its own. Errors when one
/// is already running (the caller words the reply).
pub fn bgsave(server: &Arc<Server>) -> io::Result<()> {
    bgsave_with(server, None).map(|_| ())
}

/// Called when a background save has ended, with whether its file is complete.
pub type SaveDone = Box<dyn FnOnce(bool) + Send>;

/// BGSAVE that also tells `done` when the file is complete (a full sync from disk
/// sends it to replicas then). Returns the snapshot's replication offset.
pub fn bgsave_with(server: &Arc<Server>, done: Option<SaveDone>) -> io::Result<u64> {
    let p = &server.persistence;
    let mut job = p.job();
    if job.is_some() {
        return Err(io::Error::other("a snapshot is already in progress"));
    }
    p.last_bgsave_try_s.store(redoubt_engine::clock::now_ms() / 1000, Relaxed);
    let (snap, ft, dirty) = match begin(server, dump_path(server)) {
        Ok(x) => x,
        Err(e) => {
            p.last_bgsave_ok.store(false, Relaxed);
            warning!("Can't save in background: {e}");
            return Err(e);
        }
    };
    *job = Some(Job { kind: JobKind::Rdb, snapshot: snap.clone(), started: Instant::now(), dirty_at_start: dirty });
    drop(job);
    p.bgsave_scheduled.store(false, Relaxed);
    super::aof::snapshot_running(server, true);
    notice!("Background saving started by pid {}", std::process::id());
    let s = server.clone();
    let offset = snap.offset;
    let spawned = std::thread::Builder::new().name("bgsave".into()).spawn(move || {
        let result = guarded(&s, || complete(&s, &snap, ft));
        let ok = result.is_ok();
        finish_bgsave(&s, result);
        if let Some(done) = done {
            done(ok);
        }
    });
    if let Err(e) = spawned {
        // No thread: the snapshot was started, so end it here rather than leave the
        // hook installed.
        server.engine.snapshot.end();
        *p.job() = None;
        p.last_bgsave_ok.store(false, Relaxed);
        return Err(e);
    }
    Ok(offset)
}

/// Records the end of a background save (Redis's `backgroundSaveDoneHandler`).
fn finish_bgsave(server: &Server, result: io::Result<Written>) {
    let p = &server.persistence;
    let job = p.job().take();
    super::aof::snapshot_running(server, false);
    let (started, dirty) = job.map_or((Instant::now(), 0), |j| (j.started, j.dirty_at_start));
    p.last_bgsave_secs.store(started.elapsed().as_secs() as i64, Relaxed);
    match result {
        Ok(_) => {
            notice!("DB saved on disk");
            notice!("Background saving terminated with success");
            p.saved(server, dirty);
            p.rdb_saves.fetch_add(1, Relaxed);
        }
        Err(e) => {
            warning!("Write error saving DB on disk: {e}");
            warning!("Background saving error");
            p.last_bgsave_ok.store(false, Relaxed);
        }
    }
}

/// Stops a running background save and waits for its thread to finish (SHUTDOWN,
/// FLUSHALL in Redis kill the child; the temporary file is removed).
pub fn abort_bgsave(server: &Server) {
    let snap = match server.persistence.job().as_ref() {
        Some(j) if j.kind == JobKind::Rdb => j.snapshot.clone(),
        _ => return,
    };
    warning!("There is a child saving an .rdb. Killing it!");
    snap.abort();
    while server.persistence.running() == Some(JobKind::Rdb) {
        std::thread::sleep(WAIT_POLL);
    }
}

/// Save points and scheduled BGSAVEs (from `serverCron`).
pub fn cron(server: &Arc<Server>) {
    let p = &server.persistence;
    if p.running().is_some() || p.loading.load(Relaxed) {
        return;
    }
    let now_s = redoubt_engine::clock::now_ms() / 1000;
    let may_retry = now_s - p.last_bgsave_try_s.load(Relaxed) > BGSAVE_RETRY_DELAY_S || p.last_bgsave_ok.load(Relaxed);
    if !may_retry {
        return;
    }
    if p.bgsave_scheduled.load(Relaxed) {
        let _ = bgsave(server);
        return;
    }
    let changes = p.changes_since_save();
    let since_save = now_s - server.last_save.load(Relaxed);
    if let Some((secs, n)) = save_points(server).into_iter().find(|&(secs, n)| changes >= n && since_save > secs) {
        notice!("{n} changes in {secs} seconds. Saving...");
        let _ = bgsave(server);
    }
}

/// Options for loading a dump into this server.
pub fn load_options(server: &Server) -> LoadOptions {
    LoadOptions {
        drop_expired: true,
        verify_checksum: server.config.get_bool("rdbchecksum"),
        policy: server.engine.knobs.policy(),
        progress: Some(server.persistence.loading_loaded_bytes.clone()),
    }
}

/// Loads the RDB at `path` through `sink`, logging as Redis does. Errors are logged
/// here; the caller decides what a failure means.
pub fn load_file(server: &Server, sink: &mut dyn KeySink, path: &Path) -> Result<LoadInfo, Logged> {
    let file = File::open(path).map_err(|e| {
        warning!("Fatal error loading the DB: {e}. Exiting.");
        Logged
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let p = &server.persistence;
    p.loading_total_bytes.store(size, Relaxed);
    p.loading_loaded_bytes.store(0, Relaxed);
    let reader = io::BufReader::with_capacity(1 << 20, file);
    let result = load(sink, reader, size, &load_options(server), &mut |line| notice!("{line}"));
    match result {
        Ok(info) => {
            notice!("Done loading RDB, keys loaded: {}, keys expired: {}.", info.keys_loaded, info.keys_expired);
            if let (Some(id), Some(offset)) = (&info.repl_id, info.repl_offset) {
                let db = info.repl_stream_db.unwrap_or(0);
                *p.loaded_repl.lock().unwrap_or_else(|e| e.into_inner()) = Some((id.clone(), offset, db));
            }
            p.last_load_keys_loaded.store(info.keys_loaded, Relaxed);
            p.last_load_keys_expired.store(info.keys_expired, Relaxed);
            if let Some(m) = info.used_mem {
                p.loading_rdb_used_mem.store(m.max(0) as u64, Relaxed);
            }
            Ok(info)
        }
        Err(e) => {
            log_load_error(&e);
            Err(Logged)
        }
    }
}

/// The log lines Redis writes for each kind of bad file.
pub fn log_load_error(e: &LoadError) {
    match &e.error {
        RdbError::Truncated => {
            warning!("Short read or OOM loading DB. Unrecoverable error, aborting now.");
            warning!("{e}");
        }
        RdbError::Checksum { .. } => {
            warning!("{}", e.error);
            warning!("Internal error in RDB reading offset {} -> RDB CRC error", e.offset);
        }
        RdbError::Corrupt(_) => warning!("{e}"),
        RdbError::NotRdb | RdbError::Version(_) => {
            warning!("{}", e.error);
            warning!("Fatal error loading the DB: Invalid argument. Exiting.");
        }
        RdbError::Unsupported(_) | RdbError::Io(_) => {
            warning!("{}", e.error);
            warning!("Fatal error loading the DB, check server logs. Exiting.");
        }
    }
}

/// Loads the dump file at start-up, if there is one, while clients get -LOADING.
/// False means the file exists but cannot be loaded: the server must not start.
pub async fn load_at_startup(server: &Arc<Server>) -> bool {
    let path = dump_path(server);
    match fs::metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
        Err(e) => {
            warning!("Fatal error loading the DB: {e}. Exiting.");
            return false;
        }
        Ok(_) => {}
    }
    let p = &server.persistence;
    p.loading_started_s.store(redoubt_engine::clock::now_ms() / 1000, Relaxed);
    let start = Instant::now();
    let s = server.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut keys = EngineSink(&s.engine);
        load_file(&s, &mut ServerSink { server: &s, inner: &mut keys, policy: RestorePolicy::Append }, &path)
    })
    .await
    .unwrap_or(Err(Logged));
    if result.is_ok() {
        notice!("DB loaded from disk: {:.3} seconds", start.elapsed().as_secs_f64());
    }
    result.is_ok()
}

/// Empties every database and the function libraries, then loads the RDB at `path`,
/// all while every shard is locked (no client sees a partial dataset). A file that
/// fails half-way leaves the databases empty, never half loaded.
pub fn replace_with_file(server: &Server, path: &Path) -> Result<LoadInfo, Logged> {
    let engine = &server.engine;
    let mut db = Db::new(engine, engine.keyspace.lock_all(), 0, redoubt_engine::clock::now_ms());
    let empty = |db: &mut Db<'_>| {
        for d in 0..engine.keyspace.databases() {
            db.before_write_db(d);
            for shard in 0..redoubt_engine::keyspace::SHARDS {
                if let Some(part) = db.shard_part(d, shard) {
                    drop(part.take());
                }
            }
        }
    };
    empty(&mut db);
    // As Redis's emptyData: the libraries go with the keys, and come back from the file.
    let _ = server.scripting.flush_functions();
    let mut keys = DbSink { db: &mut db, merge: false };
    let loaded = load_file(server, &mut ServerSink { server, inner: &mut keys, policy: RestorePolicy::Append }, path);
    if loaded.is_err() {
        empty(&mut db);
    }
    loaded
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty, load back, all while every
/// shard is locked for the load (so no client sees a partial dataset).
pub fn debug_reload(server: &Server, save_first: bool, flush: bool, merge: bool) -> Result<(), CmdError> {
    if save_first {
        save(server)?;
    }
    let loaded = if flush {
        replace_with_file(server, &dump_path(server)).map(|_| ())
    } else {
        let engine = &server.engine;
        let mut db = Db::new(engine, engine.keyspace.lock_all(), 0, redoubt_engine::clock::now_ms());
        let policy = if merge { RestorePolicy::Replace } else { RestorePolicy::Append };
        let mut keys = DbSink { db: &mut db, merge };
        load_file(server, &mut ServerSink { server, inner: &mut keys, policy }, &dump_path(server)).map(|_| ())
    };
    if loaded.is_err() {
        return Err(CmdError::Static("ERR Error trying to load the RDB dump, check server logs."));
    }
    warning!("DB reloaded by DEBUG RELOAD");
    Ok(())
}
