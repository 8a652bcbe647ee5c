//! Persistence in the server: when to save, where, and what INFO, SHUTDOWN and the
//! dispatcher need to know about it. The formats and the fork-free snapshot itself are
//! `redoubt-persist`'s; this module decides and reports.
//!
//! - [`rdb`]: SAVE, BGSAVE, save points, the dump file at start-up, DEBUG RELOAD
//! - [`aof`]: the append-only file: loading, the writer, rewrites, the manifest
//! - [`commands`]: SAVE, BGSAVE, BGREWRITEAOF
//!
//! One snapshot runs at a time (as Redis runs one child): a BGSAVE or an AOF rewrite.
//! Its state is a [`Job`] in [`Persistence::job`].

pub mod aof;
pub mod commands;
pub mod rdb;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use redoubt_engine::stats::{self, Stat};
use redoubt_persist::dump::RdbCodec;
use redoubt_persist::rdb::load::KeySink;
use redoubt_persist::rdb::value::Value;
use redoubt_persist::rdb::RdbError;
use redoubt_persist::snapshot::Snapshot;
use redoubt_scripting::functions::RestorePolicy;

use crate::server::Server;
use crate::{notice, warning};

/// Seconds to wait after a failed BGSAVE before a save point or a scheduled BGSAVE
/// tries again (Redis's `CONFIG_BGSAVE_RETRY_DELAY`).
pub const BGSAVE_RETRY_DELAY_S: i64 = 5;

/// What a running snapshot is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Rdb,
    AofRewrite,
}

/// The running snapshot.
pub struct Job {
    pub kind: JobKind,
    pub snapshot: Arc<Snapshot>,
    pub started: Instant,
    /// The dirty count at the snapshot's point in time.
    pub dirty_at_start: u64,
}

/// Persistence state, shared by commands, the cron and INFO.
pub struct Persistence {
    /// True while the dataset is being loaded: commands get -LOADING.
    pub loading: AtomicBool,
    pub loading_started_s: AtomicI64,
    pub loading_total_bytes: AtomicU64,
    pub loading_loaded_bytes: Arc<AtomicU64>,
    pub loading_rdb_used_mem: AtomicU64,
    /// The dirty count at the point in time of the last successful save; the
    /// difference to the current count is `rdb_changes_since_last_save`.
    dirty_at_save: AtomicU64,
    pub job: Mutex<Option<Job>>,
    /// `rdb_last_bgsave_status`: false after a failed save, until one succeeds.
    pub last_bgsave_ok: AtomicBool,
    pub last_bgsave_secs: AtomicI64,
    /// Unix time of the last BGSAVE attempt, for the retry delay after a failure.
    pub last_bgsave_try_s: AtomicI64,
    pub bgsave_scheduled: AtomicBool,
    pub rdb_saves: AtomicU64,
    pub last_load_keys_loaded: AtomicU64,
    pub last_load_keys_expired: AtomicU64,
    /// The replication id, offset and stream database the last loaded RDB recorded
    /// (for replication to resume partially after a restart).
    pub loaded_repl: Mutex<Option<(String, i64, i64)>>,
    /// DUMP/RESTORE's payload codec (a clone lives in the engine).
    pub codec: RdbCodec,
    pub aof: aof::AofState,
    /// True while replies must wait for the AOF's fsync (`appendfsync always`): the
    /// one flag the command path reads.
    pub sync_replies: AtomicBool,
    /// Set once start-up loading is over: from then on `appendonly` changes act.
    started: AtomicBool,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            loading: AtomicBool::new(false),
            loading_started_s: AtomicI64::new(0),
            loading_total_bytes: AtomicU64::new(0),
            loading_loaded_bytes: Arc::new(AtomicU64::new(0)),
            loading_rdb_used_mem: AtomicU64::new(0),
            dirty_at_save: AtomicU64::new(0),
            job: Mutex::new(None),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            last_bgsave_try_s: AtomicI64::new(0),
            bgsave_scheduled: AtomicBool::new(false),
            rdb_saves: AtomicU64::new(0),
            last_load_keys_loaded: AtomicU64::new(0),
            last_load_keys_expired: AtomicU64::new(0),
            loaded_repl: Mutex::new(None),
            codec: RdbCodec::default(),
            aof: aof::AofState::new(),
            sync_replies: AtomicBool::new(false),
            started: AtomicBool::new(false),
        }
    }
}

impl Persistence {
    pub fn job(&self) -> std::sync::MutexGuard<'_, Option<Job>> {
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kind of the running snapshot, if any.
    pub fn running(&self) -> Option<JobKind> {
        self.job().as_ref().map(|j| j.kind)
    }

    /// Changes since the last successful save.
    pub fn changes_since_save(&self) -> u64 {
        stats::total(Stat::Dirty).saturating_sub(self.dirty_at_save.load(Relaxed))
    }

    /// Records a successful save whose point in time had dirty count `dirty`.
    pub fn saved(&self, server: &Server, dirty: u64) {
        self.dirty_at_save.store(dirty, Relaxed);
        server.last_save.store(redoubt_engine::clock::now_ms() / 1000, Relaxed);
        self.last_bgsave_ok.store(true, Relaxed);
    }
}

/// Installs the DUMP/RESTORE codec in the engine (once, at start-up).
pub fn install(server: &Server) {
    let codec = &server.persistence.codec;
    codec.set_compress(server.config.get_bool("rdbcompression"));
    let _ = server.engine.codec.set(Box::new(codec.clone()));
}

/// A load target that takes keys through `inner` and FUNCTION libraries into the
/// server's function engine (the persistence crate knows neither).
pub struct ServerSink<'s, 'i> {
    pub server: &'s Server,
    pub inner: &'i mut dyn KeySink,
    pub policy: RestorePolicy,
}

impl KeySink for ServerSink<'_, '_> {
    fn databases(&self) -> usize {
        self.inner.databases()
    }

    fn insert(&mut self, db: usize, key: &[u8], value: Value, expire: Option<i64>, clock: u32) -> Result<(), RdbError> {
        self.inner.insert(db, key, value, expire, clock)
    }

    fn function(&mut self, code: Vec<u8>) -> Result<(), RdbError> {
        self.server
            .scripting
            .restore_functions(vec![code], self.policy)
            .map_err(|e| RdbError::Unsupported(format!("Failed loading library from the RDB: {e}")))
    }
}

/// The `save` directive as (seconds, changes) pairs.
pub fn save_points(server: &Server) -> Vec<(i64, u64)> {
    let words: Vec<i64> = server.config.get("save").split_whitespace().filter_map(|w| w.parse().ok()).collect();
    words.chunks_exact(2).map(|c| (c[0], c[1].max(0) as u64)).collect()
}

/// The MISCONF error, if writes must be refused because the last background save
/// failed and `stop-writes-on-bgsave-error` is on (with save points configured).
pub fn write_error(server: &Server) -> Option<redoubt_engine::CmdError> {
    let p = &server.persistence;
    if !p.last_bgsave_ok.load(Relaxed)
        && server.config.get_bool("stop-writes-on-bgsave-error")
        && !save_points(server).is_empty()
    {
        return Some(redoubt_engine::CmdError::Static(
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.",
        ));
    }
    if p.aof.enabled.load(Relaxed) {
        return aof::write_error(server).map(redoubt_engine::CmdError::Owned);
    }
    None
}

/// Periodic persistence work, from the server cron: save points and scheduled saves.
pub fn cron(server: &Arc<Server>) {
    rdb::cron(server);
    aof::cron(server);
    refresh_sync_replies(server);
}

/// Keeps `sync_replies` in step with the AOF's state and `appendfsync`.
pub fn refresh_sync_replies(server: &Server) {
    let on = aof::sync_waiter(server).is_some();
    server.persistence.sync_replies.store(on, Relaxed);
}

/// Before a command: the journal offset, when its replies may have to wait for the
/// AOF's fsync (one relaxed load otherwise).
#[inline]
pub fn sync_mark(server: &Server) -> Option<u64> {
    server.persistence.sync_replies.load(Relaxed).then(|| server.engine.journal.offset())
}

/// After a command: if it journaled anything (the offset moved since `mark`), the
/// client's replies wait until the journal is fsynced that far.
pub fn note_sync(server: &Server, state: &mut crate::client::ClientState, mark: Option<u64>) {
    if let Some(before) = mark {
        let now = server.engine.journal.offset();
        if now > before {
            state.aof_sync = Some(state.aof_sync.map_or(now, |o| o.max(now)));
        }
    }
}

/// Waits until the AOF has fsynced the journal up to `offset` (returns at once when
/// the AOF is off or its policy no longer asks for it).
pub async fn wait_synced(server: &Server, offset: u64) {
    let Some(w) = aof::sync_waiter(server) else { return };
    std::future::poll_fn(|cx| {
        if w.poll_synced(offset, cx.waker()) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// INFO's persistence section.
pub fn info(server: &Server, f: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    let p = &server.persistence;
    let job = p.job();
    let rdb_job = job.as_ref().filter(|j| j.kind == JobKind::Rdb);
    let aof_job = job.as_ref().filter(|j| j.kind == JobKind::AofRewrite);
    let loading = p.loading.load(Relaxed);
    f("loading", &(loading as u8));
    f("async_loading", &0);
    // No fork, so no copy-on-write: these stay zero by construction.
    f("current_cow_peak", &0);
    f("current_cow_size", &0);
    f("current_cow_size_age", &0);
    f("current_fork_perc", &"0.00");
    f("current_save_keys_processed", &job.as_ref().map_or(0, |j| j.snapshot.keys_written()));
    f("current_save_keys_total", &job.as_ref().map_or(0, |j| j.snapshot.keys_total()));
    f("rdb_changes_since_last_save", &p.changes_since_save());
    f("rdb_bgsave_in_progress", &(rdb_job.is_some() as u8));
    f("rdb_last_save_time", &server.last_save.load(Relaxed));
    f("rdb_last_bgsave_status", &if p.last_bgsave_ok.load(Relaxed) { "ok" } else { "err" });
    f("rdb_last_bgsave_time_sec", &p.last_bgsave_secs.load(Relaxed));
    f("rdb_current_bgsave_time_sec", &rdb_job.map_or(-1, |j| j.started.elapsed().as_secs() as i64));
    f("rdb_saves", &p.rdb_saves.load(Relaxed));
    f("rdb_last_cow_size", &0);
    f("rdb_last_load_keys_expired", &p.last_load_keys_expired.load(Relaxed));
    f("rdb_last_load_keys_loaded", &p.last_load_keys_loaded.load(Relaxed));
    let rewriting = aof_job.map(|j| j.started);
    drop(job);
    aof::info(server, f, rewriting);
    if loading {
        let now_s = redoubt_engine::clock::now_ms() / 1000;
        let started = p.loading_started_s.load(Relaxed);
        let total = p.loading_total_bytes.load(Relaxed);
        let loaded = p.loading_loaded_bytes.load(Relaxed).min(total);
        let perc = if total > 0 { loaded as f64 * 100.0 / total as f64 } else { 0.0 };
        let elapsed = (now_s - started).max(0);
        let eta =
            if loaded > 0 { ((total - loaded) as f64 / (loaded as f64 / elapsed.max(1) as f64)) as i64 } else { 1 };
        f("loading_start_time", &started);
        f("loading_total_bytes", &total);
        f("loading_rdb_used_mem", &p.loading_rdb_used_mem.load(Relaxed));
        f("loading_loaded_bytes", &loaded);
        f("loading_loaded_perc", &format!("{perc:.2}"));
        f("loading_eta_seconds", &eta);
    }
}

/// FLUSHALL, as Redis's `flushAllDataAndResetRDB`: a running background save is
/// stopped and, when save points exist, the now empty dataset is saved at once, so a
/// restart cannot bring the flushed keys back from an older dump.
pub fn after_flushall(server: &Server) {
    if save_points(server).is_empty() {
        return;
    }
    tokio::task::block_in_place(|| {
        rdb::abort_bgsave(server);
        let _ = rdb::save(server);
    });
}

/// A failure whose reason is already in the log: the caller only decides what it
/// means (exit at start-up, an error reply, keep running).
#[derive(Debug)]
pub struct Logged;

/// How a shutdown treats the final save (SHUTDOWN's flags, or `shutdown-on-sigterm`
/// / `shutdown-on-sigint` for signals).
#[derive(Clone, Copy, Debug, Default)]
pub struct ShutdownFlags {
    pub save: bool,
    pub nosave: bool,
    /// Exit even if the final save fails.
    pub force: bool,
}

impl ShutdownFlags {
    /// Parses a `shutdown-on-sig*` value ("default", or words among save, nosave,
    /// now, force).
    pub fn from_config(value: &str) -> ShutdownFlags {
        let mut f = ShutdownFlags::default();
        for w in value.split_whitespace() {
            match w {
                "save" => f.save = true,
                "nosave" => f.nosave = true,
                "force" => f.force = true,
                _ => {}
            }
        }
        f
    }
}

/// What must happen before the process may exit (Redis's `prepareForShutdown`): a
/// running background save is stopped, and the final snapshot is written when save
/// points exist (or SAVE was asked) unless NOSAVE. Err means the server must keep
/// running (the save failed and FORCE was not given); the reason is in the log.
pub fn prepare_shutdown(server: &Server, flags: ShutdownFlags) -> Result<(), Logged> {
    rdb::abort_bgsave(server);
    aof::prepare_shutdown(server);
    if flags.save || (!flags.nosave && !save_points(server).is_empty()) {
        notice!("Saving the final RDB snapshot before exiting.");
        if rdb::save(server).is_err() {
            if flags.force {
                warning!("Error trying to save the DB. Exit anyway.");
            } else {
                warning!("Error trying to save the DB, can't exit.");
                return Err(Logged);
            }
        }
    }
    Ok(())
}

/// Sets the loading state before the listeners open if start-up will load a file, so
/// that no client can see the dataset before it is whole. With the AOF on, start-up
/// always counts as loading: no write may be accepted before the AOF is open.
pub fn announce_loading(server: &Server) {
    let will_load = server.config.get_bool("appendonly") || rdb::dump_path(server).exists();
    server.persistence.loading.store(will_load, Relaxed);
}

/// Loads the dataset at start-up (the AOF when `appendonly` is on, as Redis prefers
/// it, else the dump file). False means a file exists but cannot be loaded: the server
/// must exit rather than serve a partial or empty dataset.
pub async fn load_at_startup(server: &Arc<Server>) -> bool {
    let ok = if server.config.get_bool("appendonly") {
        let s = server.clone();
        tokio::task::spawn_blocking(move || load_aof_at_startup(&s)).await.unwrap_or(false)
    } else {
        rdb::load_at_startup(server).await
    };
    server.persistence.loading.store(false, Relaxed);
    server.persistence.started.store(true, Relaxed);
    refresh_sync_replies(server);
    ok
}

/// CONFIG SET appendonly (at start-up the value is acted on by the loader instead).
pub fn set_appendonly(server: &Server, on: bool) -> Result<(), String> {
    if !server.persistence.started.load(Relaxed) {
        return Ok(());
    }
    let Some(me) = server.arc() else { return Ok(()) };
    let r = aof::set_enabled(&me, on);
    refresh_sync_replies(server);
    r
}

/// CONFIG SET appendfsync / aof-timestamp-enabled.
pub fn apply_aof_settings(server: &Server) {
    aof::apply_settings(server);
    refresh_sync_replies(server);
}

/// With `appendonly yes` the AOF alone is the dataset (the dump file is not read, as
/// in Redis); it is then opened for appending, or created.
fn load_aof_at_startup(server: &Server) -> bool {
    if aof::load(server).is_err() {
        return false;
    }
    match aof::open_at_startup(server) {
        Ok(()) => true,
        Err(e) => {
            warning!("{e}");
            false
        }
    }
}
