//! The append-only file in the server: loading it at start-up, keeping the writer
//! attached to the journal, rewrites (BGREWRITEAOF, automatic, and the one that
//! turns the AOF on at runtime), the manifest, and what INFO reports.
//!
//! A rewrite needs no fork: a snapshot (`redoubt_persist::snapshot`) writes the new
//! base while the server serves, and at the snapshot's point in time the writer
//! switches to a new incremental file, so the new base plus the files from that
//! point on hold exactly the dataset. The manifest always names files whose union is
//! the dataset: the new incremental file is listed (empty) before anything is
//! written into it, and the new base replaces the old files only once it is durable.
//!
//! ```text
//! at start:   base N   incr M (current)                       manifest: N, M
//! rewrite:    base N   incr M   incr M+1 (current from the cut)   manifest: N, M, M+1
//! done:       base N+1          incr M+1                      manifest: N+1, M+1
//! ```

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use redoubt_engine::cmd::registry;
use redoubt_engine::journal::JournalSink;
use redoubt_engine::journal::{parse_marker, Marker};
use redoubt_engine::stats::{self, Stat};
use redoubt_persist::aof::manifest::{base_name, incr_name, manifest_name, AofFile, Kind, Manifest};
use redoubt_persist::aof::reader::{read_commands, Ending, ReadError};
use redoubt_persist::aof::writer::{AofWriter, Fsync, Level};
use redoubt_persist::rdb::load::EngineSink;
use redoubt_persist::snapshot::{Format, Snapshot, Written};
use redoubt_resp::request::OwnedArgs;
use redoubt_resp::{Protocol, ReplyBuf};

use super::rdb::{absolute, complete, start_snapshot, FileTarget};
use super::{Job, JobKind, Logged};
use crate::client::{ClientShared, ClientState};
use crate::dispatch::{Call, Flow, Handler};
use crate::server::Server;
use crate::{notice, warning};
use redoubt_scripting::functions::RestorePolicy;

/// How long stopping the writer waits for its last write and fsync.
const DETACH_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The AOF's state.
#[derive(Default)]
pub struct AofState {
    /// `aof_enabled`: on, or being turned on by its first rewrite.
    pub enabled: AtomicBool,
    /// True once the AOF is on and written (false while the first rewrite runs).
    pub active: AtomicBool,
    writer: Mutex<Option<Arc<AofWriter>>>,
    manifest: Mutex<Option<Manifest>>,
    /// Bytes of the base and of the incremental files before the current one.
    settled_bytes: AtomicU64,
    /// `aof_current_size` after the last rewrite (the base of the growth percentage).
    rewrite_base_size: AtomicU64,
    pub rewrites: AtomicU64,
    pub last_rewrite_ok: AtomicBool,
    pub last_rewrite_secs: AtomicI64,
    pub consecutive_failures: AtomicU64,
    pub scheduled: AtomicBool,
}

impl AofState {
    pub fn new() -> AofState {
        AofState { last_rewrite_ok: AtomicBool::new(true), last_rewrite_secs: AtomicI64::new(-1), ..Default::default() }
    }

    fn writer(&self) -> Option<Arc<AofWriter>> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn manifest(&self) -> MutexGuard<'_, Option<Manifest>> {
        self.manifest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `aof_current_size`.
    pub fn current_size(&self) -> u64 {
        self.settled_bytes.load(Relaxed) + self.writer().map_or(0, |w| w.incr_bytes.load(Relaxed))
    }
}

/// The AOF directory (`appenddirname` in `dir`).
fn aof_dir(server: &Server) -> PathBuf {
    absolute(&server.config.get("appenddirname"))
}

fn prefix(server: &Server) -> String {
    server.config.get("appendfilename")
}

fn manifest_path(server: &Server) -> PathBuf {
    aof_dir(server).join(manifest_name(&prefix(server)))
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

// ---- LOADING -----------------------------------------------------------------------

/// What loading found.
pub enum Loaded {
    /// There is no AOF (a fresh server, or one that never had the AOF on).
    NotExist,
    Ok,
}

/// Loads the AOF named by the manifest (Redis's `loadAppendOnlyFiles`). Err: a file
/// is missing, corrupt, or truncated where truncation is not allowed; the reason is
/// logged and the server must exit.
pub fn load(server: &Server) -> Result<Loaded, Logged> {
    let dir = aof_dir(server);
    let m = match Manifest::read(&manifest_path(server)) {
        Ok(Some(m)) => m,
        Ok(None) => return load_old_style(server),
        Err(e) => {
            warning!("{e}");
            return Err(Logged);
        }
    };
    let start = Instant::now();
    let files: Vec<AofFile> = m.load_order().cloned().collect();
    let mut total = 0u64;
    let end = RefCell::new(StreamEnd::default());
    for (i, f) in files.iter().enumerate() {
        let path = dir.join(&f.name);
        let last = i + 1 == files.len();
        let t = Instant::now();
        match load_file(server, &path, &f.name, last, &end) {
            Ok(FileLoad::Empty) => continue,
            Ok(FileLoad::Loaded) => {}
            Err(Logged) => return Err(Logged),
        }
        total += file_size(&path);
        let what = if f.kind == Kind::Base { "base" } else { "incr" };
        notice!("DB loaded from {what} file {}: {:.3} seconds", f.name, t.elapsed().as_secs_f64());
    }
    let aof = &server.persistence.aof;
    let base = m.base.as_ref().map_or(0, |b| file_size(&dir.join(&b.name)));
    aof.settled_bytes.store(total, Relaxed);
    aof.rewrite_base_size.store(total.max(base), Relaxed);
    *aof.manifest() = Some(m);
    notice!("DB loaded from append only file: {:.3} seconds", start.elapsed().as_secs_f64());
    if let Some((id, offset, db)) = end.into_inner().position() {
        // Where the replication stream stood at the AOF's end (a replica killed
        // with -9 continues from there).
        *server.persistence.loaded_repl.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, offset, db));
    }
    Ok(Loaded::Ok)
}

/// The replication stream's position at the end of the loaded AOF, from the markers
/// the journal writes (`redoubt_engine::journal::parse_marker`) and the bytes of the
/// commands after the last one.
#[derive(Default)]
struct StreamEnd {
    marker: Option<Marker>,
    /// Stream bytes executed since the marker.
    bytes: u64,
    /// The database selected since the marker, if a SELECT came.
    db: Option<usize>,
}

impl StreamEnd {
    fn annotation(&mut self, line: Option<&[u8]>, executed: u64) {
        self.bytes += executed;
        if let Some(m) = line.and_then(parse_marker) {
            self.marker = Some(m);
            self.bytes = 0;
            self.db = None;
        }
    }

    /// (id, offset, db) at the end, if a marker was seen.
    fn position(self) -> Option<(String, i64, i64)> {
        let m = self.marker?;
        let db = self.db.or(m.db).unwrap_or(0);
        Some((m.id, (m.offset + self.bytes) as i64, db as i64))
    }
}

/// A single `appendonly.aof` in `dir` (Redis before 7.0): loaded as the base of a new
/// multi-part AOF, which `open_at_startup` then creates around the loaded data.
fn load_old_style(server: &Server) -> Result<Loaded, Logged> {
    let old = absolute(&prefix(server));
    if !old.is_file() {
        return Ok(Loaded::NotExist);
    }
    let start = Instant::now();
    match load_file(server, &old, &prefix(server), true, &RefCell::new(StreamEnd::default()))? {
        FileLoad::Empty => return Ok(Loaded::NotExist),
        FileLoad::Loaded => {}
    }
    notice!(
        "DB loaded from the old-style append only file {}: {:.3} seconds; it will be replaced by an AOF in {}",
        old.display(),
        start.elapsed().as_secs_f64(),
        server.config.get("appenddirname")
    );
    Ok(Loaded::Ok)
}

enum FileLoad {
    Empty,
    Loaded,
}

/// Loads one AOF file: an RDB preamble if it starts with "REDIS", then commands.
fn load_file(
    server: &Server,
    path: &Path,
    name: &str,
    last: bool,
    end: &RefCell<StreamEnd>,
) -> Result<FileLoad, Logged> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            warning!("Fatal error: can't open the append log file {name} for reading: {e}");
            return Err(Logged);
        }
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Ok(FileLoad::Empty);
    }
    let p = &server.persistence;
    p.loading_total_bytes.store(size, Relaxed);
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut start = 0u64;
    if reader.fill_buf().map(|b| b.starts_with(b"REDIS")).unwrap_or(false) {
        notice!("Reading RDB base file on AOF loading...");
        let mut keys = EngineSink(&server.engine);
        let mut sink = super::ServerSink { server, inner: &mut keys, policy: RestorePolicy::Append };
        let mut opts = super::rdb::load_options(server);
        // The base of an AOF keeps expired keys: the DELs that follow remove them.
        opts.drop_expired = false;
        let result =
            redoubt_persist::rdb::load::load(&mut sink, &mut reader, size, &opts, &mut |line| notice!("{line}"));
        match result {
            Ok(info) => {
                if info.aof_base {
                    notice!("RDB is base AOF");
                }
                notice!("Done loading RDB, keys loaded: {}, keys expired: {}.", info.keys_loaded, info.keys_expired);
                start = info.bytes;
            }
            Err(e) => {
                super::rdb::log_load_error(&e);
                warning!("Error reading the RDB base file {name}, AOF loading aborted");
                return Err(Logged);
            }
        }
    }
    let mut db = 0usize;
    let mut out = ReplyBuf::new(Protocol::Resp2);
    let now = redoubt_engine::clock::now_ms();
    let mut exec = |args: &[Vec<u8>]| {
        let r = replay(server, &mut db, &mut out, now, args);
        if args[0].eq_ignore_ascii_case(b"select") {
            end.borrow_mut().db = Some(db);
        }
        r
    };
    let mut notes = |line: Option<&[u8]>, executed: u64| end.borrow_mut().annotation(line, executed);
    match read_commands(&mut reader, start, size - start, &mut exec, &mut notes) {
        Ok(Ending::Clean) => Ok(FileLoad::Loaded),
        Ok(Ending::Truncated { valid_len, in_multi }) => truncated(server, path, name, last, valid_len, in_multi),
        Err(ReadError::Format { .. }) => {
            warning!(
                "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
            );
            Err(Logged)
        }
        Err(ReadError::Command(msg)) => {
            warning!("{msg} reading the append only file {name}");
            Err(Logged)
        }
        Err(ReadError::Io(e)) => {
            warning!("Unrecoverable error reading the append only file {name}: {e}");
            Err(Logged)
        }
    }
}

/// A file cut short: truncated and accepted if it is the last one and
/// `aof-load-truncated` allows it (Redis's `uxeof` path), otherwise fatal.
fn truncated(
    server: &Server,
    path: &Path,
    name: &str,
    last: bool,
    valid_len: u64,
    in_multi: bool,
) -> Result<FileLoad, Logged> {
    if in_multi {
        warning!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
    }
    if server.config.get_bool("aof-load-truncated") {
        warning!("!!! Warning: short read while loading the AOF file {name}!!!");
        warning!("!!! Truncating the AOF {name} at offset {valid_len} !!!");
        if !last {
            warning!("Fatal error: the truncated file is not the last file");
            return Err(Logged);
        }
        match OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(valid_len).and_then(|_| f.sync_all())) {
            Ok(()) => {
                warning!("AOF {name} loaded anyway because aof-load-truncated is enabled");
                return Ok(FileLoad::Loaded);
            }
            Err(e) => warning!("Error truncating the AOF file {name}: {e}"),
        }
    }
    warning!(
        "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
    );
    Err(Logged)
}

/// Runs one command read from an AOF against the engine (Redis's fake client).
fn replay(server: &Server, db: &mut usize, out: &mut ReplyBuf, now: i64, args: &[Vec<u8>]) -> Result<(), String> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    if name == "select" {
        let n = args.get(1).and_then(|a| std::str::from_utf8(a).ok()).and_then(|s| s.parse::<usize>().ok());
        return match n {
            Some(n) if n < server.engine.keyspace.databases() => {
                *db = n;
                Ok(())
            }
            _ => Err("Bad SELECT".into()),
        };
    }
    let owned = OwnedArgs::from_slices(args.iter().map(Vec::as_slice));
    let a = owned.args();
    let unknown = || format!("Unknown command '{}'", String::from_utf8_lossy(&args[0]));
    let top = server.commands.get(&args[0]).ok_or_else(unknown)?;
    let cmd = crate::dispatch::resolve_subcommand(top, a).map_err(|_| unknown())?;
    if !cmd.meta.arity_ok(a.len()) {
        return Err(format!("Wrong number of arguments for '{name}'"));
    }
    out.buf.clear();
    let d = match &cmd.handler {
        Handler::Data(d) => d,
        // Server commands an AOF can hold (FUNCTION LOAD/DELETE/FLUSH/RESTORE) run
        // as Redis's fake client runs them: no connection, replies dropped.
        Handler::Server(h) => {
            let Some(me) = server.arc() else { return Err(unknown()) };
            let client = Arc::new(ClientShared::new(0, "aof".into(), String::new(), -1, false, now));
            let mut state = ClientState::new(true);
            state.db = *db;
            let mut c =
                Call { server: &me, state: &mut state, client: &client, args: a, out, cmd, flow: Flow::Continue };
            let _ = h(&mut c);
            return Ok(());
        }
        Handler::Container => return Err(unknown()),
    };
    // A command's own errors (WRONGTYPE...) are ignored, as Redis ignores the fake
    // client's replies: the AOF records what the master did.
    // What is replayed is already on disk: it does not count as changes to save.
    let _ = registry::execute(&server.engine, &cmd.meta, d, *db, a, out, now);
    Ok(())
}

// ---- WRITING -----------------------------------------------------------------------

/// Logs for the writer thread; a fatal error ends the process, as Redis exits.
fn writer_log() -> Box<dyn Fn(Level, String) + Send + Sync> {
    Box::new(|level, msg| match level {
        Level::Notice => notice!("{msg}"),
        Level::Warning => warning!("{msg}"),
        Level::Fatal => {
            warning!("{msg}");
            std::process::exit(1);
        }
    })
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// A new incremental file, empty whatever an older file of that name held.
fn create_empty(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new().create(true).write(true).truncate(true).open(path)?;
    drop(f);
    open_append(path)
}

/// Starts a writer on `file` and attaches it to the journal. The caller holds every
/// shard lock when the starting point must be exact.
fn attach(server: &Server, file: File) -> io::Result<Arc<AofWriter>> {
    let policy = Fsync::parse(&server.config.get("appendfsync"));
    let offset = server.engine.journal.offset();
    let (w, _thread) =
        AofWriter::start(file, offset, policy, server.config.get_bool("aof-timestamp-enabled"), writer_log())?;
    let sink: Arc<dyn JournalSink> = w.clone();
    server.engine.journal.attach(sink);
    *server.persistence.aof.writer.lock().unwrap_or_else(|e| e.into_inner()) = Some(w.clone());
    Ok(w)
}

/// Detaches and stops the writer, its buffer written and fsynced.
fn detach(server: &Server) {
    let w = server.persistence.aof.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(w) = w {
        let sink: Arc<dyn JournalSink> = w.clone();
        server.engine.journal.detach(&sink);
        w.stop();
        // The thread ends after one more write and fsync; a disk that hangs longer
        // than this is reported rather than waited for forever.
        let deadline = Instant::now() + DETACH_WAIT;
        while w.synced() != u64::MAX {
            if Instant::now() > deadline {
                warning!("The AOF writer did not finish its last write in time; continuing without it");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// After start-up loading, with `appendonly yes`: opens the last incremental file
/// for appending, or creates the AOF (an RDB base of what was loaded, an empty
/// incremental file, the manifest) when there is none, then attaches the writer.
pub fn open_at_startup(server: &Server) -> Result<(), String> {
    let dir = aof_dir(server);
    fs::create_dir_all(&dir).map_err(|e| format!("Can't open or create append-only dir {}: {e}", dir.display()))?;
    let prefix = prefix(server);
    let mut m = server.persistence.aof.manifest().clone().unwrap_or_default();
    if m.base.is_none() && m.incrs.is_empty() {
        let seq = m.next_base_seq();
        let name = base_name(&prefix, seq, true);
        notice!("Creating AOF base file {name} on server start");
        write_base_sync(server, &dir.join(&name), true)
            .map_err(|e| format!("Can't create the AOF base file {name}: {e}"))?;
        server.persistence.aof.settled_bytes.store(file_size(&dir.join(&name)), Relaxed);
        m.base = Some(AofFile { name, seq, kind: Kind::Base });
        // The old single file, now loaded into the base, is not needed any more.
        let old = absolute(&prefix);
        if old.is_file() {
            let _ = fs::remove_file(&old);
        }
    }
    let file = match m.incrs.last() {
        Some(last) => {
            notice!("Opening AOF incr file {} on server start", last.name);
            let path = dir.join(&last.name);
            // Its size is counted by the writer from now on, not as settled.
            let aof = &server.persistence.aof;
            aof.settled_bytes.store(aof.settled_bytes.load(Relaxed).saturating_sub(file_size(&path)), Relaxed);
            open_append(&path)
        }
        None => {
            let seq = m.next_incr_seq();
            let name = incr_name(&prefix, seq);
            notice!("Creating AOF incr file {name} on server start");
            m.incrs.push(AofFile { name: name.clone(), seq, kind: Kind::Incr });
            open_append(&dir.join(&name))
        }
    }
    .map_err(|e| format!("Can't open the append-only file: {e}"))?;
    m.persist(&manifest_path(server)).map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    let aof = &server.persistence.aof;
    if aof.rewrite_base_size.load(Relaxed) == 0 {
        aof.rewrite_base_size.store(aof.settled_bytes.load(Relaxed), Relaxed);
    }
    *aof.manifest() = Some(m);
    let locked = server.engine.keyspace.lock_all();
    attach(server, file).map_err(|e| e.to_string())?;
    drop(locked);
    aof.enabled.store(true, Relaxed);
    aof.active.store(true, Relaxed);
    Ok(())
}

/// Writes a base file of the current dataset synchronously (a new AOF at start-up).
fn write_base_sync(server: &Server, path: &Path, rdb: bool) -> io::Result<Written> {
    let (ft, file) = FileTarget::create(path.to_path_buf(), &format!("temp-rewriteaof-{}.aof", std::process::id()))?;
    let format = if rdb { Format::Rdb } else { Format::Commands };
    let snap = match start_snapshot(server, file, format, true, |_| {}) {
        Ok(s) => s,
        Err(e) => {
            ft.discard();
            return Err(e);
        }
    };
    complete(server, &snap, ft)
}

// ---- REWRITE -----------------------------------------------------------------------

/// How a rewrite ends.
struct RewriteEnd {
    target: FileTarget,
    base: AofFile,
    /// The incremental files from the cut on (kept); older ones become history.
    first_kept_incr_seq: Option<u64>,
    /// The rewrite turns the AOF on (CONFIG SET appendonly yes).
    enabling: bool,
}

/// Starts a background rewrite (BGREWRITEAOF, automatic, or turning the AOF on).
/// Err when one cannot start now (the caller words the reply).
pub fn start_rewrite(server: &Arc<Server>, enabling: bool) -> io::Result<()> {
    let p = &server.persistence;
    let mut job = p.job();
    if job.is_some() {
        return Err(io::Error::other("a snapshot is already in progress"));
    }
    let dir = aof_dir(server);
    fs::create_dir_all(&dir)?;
    let prefix = prefix(server);
    let aof = &p.aof;
    // An AOF turned on again continues the numbering of the files already there (left
    // by an earlier run), so no new file can land on an old one's name.
    let mut m = match aof.manifest().clone() {
        Some(m) => m,
        None => Manifest::read(&manifest_path(server)).ok().flatten().unwrap_or_default(),
    };
    let preamble = server.config.get_bool("aof-use-rdb-preamble");
    let base_seq = m.next_base_seq();
    let base = AofFile { name: base_name(&prefix, base_seq, preamble), seq: base_seq, kind: Kind::Base };
    let writer = aof.writer();
    // The new incremental file: listed in the manifest (empty) before the cut sends
    // anything to it, so a crash at any point leaves a manifest that loads.
    let (new_incr, new_incr_file) = if writer.is_some() || enabling {
        let seq = m.next_incr_seq();
        let name = incr_name(&prefix, seq);
        let file = create_empty(&dir.join(&name))?;
        notice!("Creating AOF incr file {name} on background rewrite");
        (Some(AofFile { name, seq, kind: Kind::Incr }), Some(file))
    } else {
        (None, None)
    };
    if let (Some(i), false) = (&new_incr, enabling) {
        let mut listed = m.clone();
        listed.incrs.push(i.clone());
        listed.persist(&manifest_path(server))?;
        m = listed;
        *aof.manifest() = Some(m.clone());
    }
    let temp_name = format!("temp-rewriteaof-bg-{}.aof", std::process::id());
    let (target, file) = FileTarget::create(dir.join(&base.name), &temp_name)?;
    let format = if preamble { Format::Rdb } else { Format::Commands };
    let mut dirty = 0;
    let mut cut_error = None;
    let snap = start_snapshot(server, file, format, true, |_| {
        dirty = stats::total(Stat::Dirty);
        let Some(f) = new_incr_file else { return };
        match &writer {
            // Every shard is locked: the writer switches files exactly here.
            Some(w) => server.engine.journal.cut(|_| w.rotate(f)),
            None => {
                if let Err(e) = attach(server, f) {
                    cut_error = Some(e);
                }
            }
        }
    });
    let snap = match (snap, cut_error) {
        (Ok(s), None) => s,
        (Ok(s), Some(e)) => {
            s.abort();
            let _ = s.run(&server.engine);
            target.discard();
            return Err(e);
        }
        (Err(e), _) => {
            target.discard();
            return Err(e);
        }
    };
    if enabling {
        aof.enabled.store(true, Relaxed);
    }
    snapshot_running(server, true);
    *job =
        Some(Job { kind: JobKind::AofRewrite, snapshot: snap.clone(), started: Instant::now(), dirty_at_start: dirty });
    drop(job);
    aof.scheduled.store(false, Relaxed);
    notice!("Background append only file rewriting started by pid {}", std::process::id());
    let end = RewriteEnd { target, base, first_kept_incr_seq: new_incr.as_ref().map(|i| i.seq), enabling };
    if enabling {
        if let Some(i) = new_incr {
            // Listed once the base exists (see `finish_rewrite`); until then a crash
            // finds no AOF, as nothing was acknowledged through it yet.
            m.incrs.push(i);
            *aof.manifest() = Some(m);
        }
    }
    let s = server.clone();
    std::thread::Builder::new().name("aof-rewrite".into()).spawn(move || {
        let result = super::rdb::guarded(&s, || snap.run(&s.engine));
        finish_rewrite(&s, &snap, result, end);
    })?;
    Ok(())
}

/// Completes a rewrite (Redis's `backgroundRewriteDoneHandler`): the new base is made
/// durable and renamed, the manifest switched to it, the old files deleted.
fn finish_rewrite(server: &Server, snap: &Snapshot, result: io::Result<Written>, end: RewriteEnd) {
    let p = &server.persistence;
    let aof = &p.aof;
    let started = p.job().as_ref().map_or_else(Instant::now, |j| j.started);
    let outcome = result.and_then(|_| {
        let temp = end.target.temp().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        notice!("Successfully created the temporary AOF base file {temp}");
        end.target.commit()
    });
    snapshot_running(server, false);
    let result = outcome.and_then(|_| {
        notice!("Background AOF rewrite terminated with success");
        let dir = aof_dir(server);
        let mut m = aof.manifest().clone().unwrap_or_default();
        let mut history: Vec<AofFile> = m.base.take().into_iter().collect();
        let keep = end.first_kept_incr_seq.unwrap_or(u64::MAX);
        let (kept, old): (Vec<AofFile>, Vec<AofFile>) = m.incrs.drain(..).partition(|i| i.seq >= keep);
        history.extend(old);
        m.incrs = kept;
        m.base = Some(end.base.clone());
        let gc = !server.config.get_bool("aof-disable-auto-gc");
        if !gc {
            m.history.extend(history.iter().map(|h| AofFile { kind: Kind::History, ..h.clone() }));
        }
        m.persist(&dir.join(manifest_name(&prefix(server))))?;
        notice!("Successfully renamed the temporary AOF base file into {}", end.base.name);
        if gc {
            for h in history.iter().chain(m.history.iter()) {
                notice!("Removing the history file {} in the background", h.name);
                let _ = fs::remove_file(dir.join(&h.name));
            }
            m.history.clear();
        }
        let base_bytes = file_size(&dir.join(&end.base.name));
        let incr_bytes: u64 = m.incrs.iter().rev().skip(1).map(|i| file_size(&dir.join(&i.name))).sum();
        aof.settled_bytes.store(base_bytes + incr_bytes, Relaxed);
        *aof.manifest() = Some(m);
        Ok(())
    });
    aof.last_rewrite_secs.store(started.elapsed().as_secs() as i64, Relaxed);
    match result {
        Ok(()) => {
            aof.rewrites.fetch_add(1, Relaxed);
            aof.last_rewrite_ok.store(true, Relaxed);
            aof.consecutive_failures.store(0, Relaxed);
            aof.rewrite_base_size.store(aof.current_size(), Relaxed);
            if end.enabling {
                aof.active.store(true, Relaxed);
            }
            notice!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            warning!("Background AOF rewrite failed: {e}");
            aof.last_rewrite_ok.store(false, Relaxed);
            aof.consecutive_failures.fetch_add(1, Relaxed);
            if end.enabling {
                // The AOF could not be created: it stays off.
                detach(server);
                aof.enabled.store(false, Relaxed);
                let _ = server.config.set_many(&[("appendonly".into(), "no".into())], |_| Ok(()));
            }
        }
    }
    let _ = snap;
    *p.job() = None;
}

/// Stops a running rewrite and waits for its thread (SHUTDOWN, appendonly no).
pub fn abort_rewrite(server: &Server) {
    let snap = match server.persistence.job().as_ref() {
        Some(j) if j.kind == JobKind::AofRewrite => j.snapshot.clone(),
        _ => return,
    };
    warning!("There is a child rewriting the AOF. Killing it!");
    snap.abort();
    while server.persistence.running() == Some(JobKind::AofRewrite) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

// ---- ON AND OFF --------------------------------------------------------------------

/// CONFIG SET appendonly: on starts a rewrite that creates the AOF; off stops it.
pub fn set_enabled(server: &Arc<Server>, on: bool) -> Result<(), String> {
    let aof = &server.persistence.aof;
    if on == aof.enabled.load(Relaxed) {
        return Ok(());
    }
    if on {
        match server.persistence.running() {
            Some(JobKind::AofRewrite) => return Ok(()),
            Some(JobKind::Rdb) => {
                // Redis schedules the rewrite after the running save.
                aof.enabled.store(true, Relaxed);
                aof.scheduled.store(true, Relaxed);
                return Ok(());
            }
            None => {}
        }
        return start_rewrite(server, true).map_err(|e| {
            warning!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation: {e}");
            "Unable to turn on AOF. Check server logs.".to_string()
        });
    }
    abort_rewrite(server);
    detach(server);
    aof.enabled.store(false, Relaxed);
    aof.active.store(false, Relaxed);
    aof.scheduled.store(false, Relaxed);
    Ok(())
}

/// `no-appendfsync-on-rewrite`: while a snapshot (rewrite or BGSAVE) runs, the AOF
/// is written but not fsynced, as Redis does while it has a child.
pub fn snapshot_running(server: &Server, on: bool) {
    if let Some(w) = server.persistence.aof.writer() {
        w.set_skip_fsync(on && server.config.get_bool("no-appendfsync-on-rewrite"));
    }
}

/// Applies `appendfsync`, `aof-timestamp-enabled` to a running writer.
pub fn apply_settings(server: &Server) {
    if let Some(w) = server.persistence.aof.writer() {
        w.set_policy(Fsync::parse(&server.config.get("appendfsync")));
        w.set_timestamps(server.config.get_bool("aof-timestamp-enabled"));
    }
}

/// The periodic work: a scheduled rewrite, the automatic rewrite on growth.
pub fn cron(server: &Arc<Server>) {
    let p = &server.persistence;
    if p.running().is_some() || p.loading.load(Relaxed) {
        return;
    }
    let aof = &p.aof;
    if aof.scheduled.load(Relaxed) {
        let enabling = aof.enabled.load(Relaxed) && aof.writer().is_none();
        let _ = start_rewrite(server, enabling);
        return;
    }
    if !aof.active.load(Relaxed) {
        return;
    }
    let perc = server.config.get_i64("auto-aof-rewrite-percentage");
    let min = server.config.get_i64("auto-aof-rewrite-min-size").max(0) as u64;
    let size = aof.current_size();
    let base = aof.rewrite_base_size.load(Relaxed).max(1);
    if perc > 0 && size > min {
        let growth = (size.saturating_sub(base) * 100 / base) as i64;
        if growth >= perc {
            notice!("Starting automatic rewriting of AOF on {growth}% growth");
            let _ = start_rewrite(server, false);
        }
    }
}

/// Before exiting: the buffer written and fsynced (Redis's "Calling fsync() on the
/// AOF file."), a running rewrite stopped.
pub fn prepare_shutdown(server: &Server) {
    abort_rewrite(server);
    if server.persistence.aof.writer().is_some() {
        notice!("Calling fsync() on the AOF file.");
        detach(server);
    }
}

/// For replies held until their write is durable (`appendfsync always`): the writer,
/// when replies must wait for it.
pub fn sync_waiter(server: &Server) -> Option<Arc<AofWriter>> {
    server.persistence.aof.writer().filter(|w| w.policy() == Fsync::Always)
}

/// The MISCONF error for a failing AOF (Redis's `DISK_ERROR_TYPE_AOF`).
pub fn write_error(server: &Server) -> Option<String> {
    let w = server.persistence.aof.writer()?;
    if w.write_ok.load(Relaxed) {
        return None;
    }
    let errno = w.last_errno.load(Relaxed) as i32;
    let text = io::Error::from_raw_os_error(errno).to_string();
    // Rust adds " (os error N)"; Redis prints strerror alone.
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    Some(format!("MISCONF Errors writing to the AOF file: {text}"))
}

/// INFO's AOF fields.
pub fn info(server: &Server, f: &mut dyn FnMut(&str, &dyn std::fmt::Display), rewriting: Option<Instant>) {
    let aof = &server.persistence.aof;
    let enabled = aof.enabled.load(Relaxed);
    let w = aof.writer();
    f("aof_enabled", &(enabled as u8));
    f("aof_rewrite_in_progress", &(rewriting.is_some() as u8));
    f("aof_rewrite_scheduled", &(aof.scheduled.load(Relaxed) as u8));
    f("aof_last_rewrite_time_sec", &aof.last_rewrite_secs.load(Relaxed));
    f("aof_current_rewrite_time_sec", &rewriting.map_or(-1, |t| t.elapsed().as_secs() as i64));
    f("aof_last_bgrewrite_status", &if aof.last_rewrite_ok.load(Relaxed) { "ok" } else { "err" });
    f("aof_rewrites", &aof.rewrites.load(Relaxed));
    f("aof_rewrites_consecutive_failures", &aof.consecutive_failures.load(Relaxed));
    let write_ok = w.as_ref().is_none_or(|w| w.write_ok.load(Relaxed));
    f("aof_last_write_status", &if write_ok { "ok" } else { "err" });
    f("aof_last_cow_size", &0);
    f("module_fork_in_progress", &0);
    f("module_fork_last_cow_size", &0);
    if enabled {
        f("aof_current_size", &aof.current_size());
        f("aof_base_size", &aof.rewrite_base_size.load(Relaxed));
        f("aof_pending_rewrite", &(aof.scheduled.load(Relaxed) as u8));
        f("aof_buffer_length", &w.as_ref().map_or(0, |w| w.pending_bytes()));
        f("aof_pending_bio_fsync", &0);
        f("aof_delayed_fsync", &w.as_ref().map_or(0, |w| w.delayed_fsyncs.load(Relaxed)));
    }
}
