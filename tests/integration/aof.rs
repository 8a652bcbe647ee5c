//! The append-only file, black-box: `kill -9` under continuous writes loses nothing
//! acknowledged with `appendfsync always` and at most about a second with
//! `everysec`; AOF directories move between Redoubt and Redis 7.0 in both directions
//! (checked by `redis-check-aof` and DEBUG DIGEST); rewrites under writes; bad and
//! truncated files; a full disk.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::persist::{digest, incr_files, persistence_info, Tmpfs, LIBRARY};
use crate::support::{info_field, run_to_exit, temp_dir, text, wait_for, Conn, Flavor, ServerProcess, Spec};

const WAIT: Duration = Duration::from_secs(60);

/// A server of `flavor` whose `--dir` is `dir` (which outlives it), AOF on.
fn start_in(flavor: Flavor, dir: &Path, args: &[&str]) -> ServerProcess {
    let d = dir.to_string_lossy().to_string();
    let mut all = vec!["--dir", d.as_str(), "--appendonly", "yes"];
    all.extend_from_slice(args);
    Spec::new(flavor).args(&all).start()
}

fn manifest(dir: &Path) -> PathBuf {
    dir.join("appendonlydir").join("appendonly.aof.manifest")
}

/// `redis-check-aof` on an AOF directory's manifest.
fn check_aof(dir: &Path) -> (bool, String) {
    let out = Command::new("redis-check-aof").arg(manifest(dir)).output().expect("run redis-check-aof");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && text.contains("All AOF files and manifest are valid"), text)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

/// The same mixed workload on any server.
fn workload(c: &mut Conn, round: u32) {
    for i in 0..200u32 {
        c.cmd(&["SET", &format!("s:{round}:{i}"), &format!("value {i}").repeat((i % 7) as usize + 1)]);
        if i % 10 == 0 {
            c.cmd(&["HSET", &format!("h:{round}"), &format!("f{i}"), &i.to_string()]);
            c.cmd(&["SADD", &format!("set:{round}"), &i.to_string(), &format!("m{i}")]);
            c.cmd(&["ZADD", &format!("z:{round}"), &format!("{}.5", i), &format!("m{i}")]);
            c.cmd(&["RPUSH", &format!("l:{round}"), &format!("e{i}")]);
            c.cmd(&["INCRBY", "counter", "3"]);
        }
    }
    c.cmd(&["SELECT", "4"]);
    c.cmd(&["SET", &format!("other-db:{round}"), "x"]);
    c.cmd(&["PEXPIREAT", &format!("other-db:{round}"), "4102444800000"]);
    c.cmd(&["SELECT", "0"]);
    c.cmd(&["DEL", &format!("s:{round}:3")]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "counter"]);
    c.cmd(&["SET", "in-multi", &round.to_string()]);
    c.cmd(&["EXEC"]);
}

#[test]
fn aof_moves_between_redoubt_and_redis_both_ways() {
    for preamble in ["yes", "no"] {
        let dir = temp_dir("aof-out");
        let want = {
            let s = start_in(
                Flavor::Redoubt,
                &dir,
                &["--aof-use-rdb-preamble", preamble, "--aof-timestamp-enabled", "yes"],
            );
            let mut c = s.conn();
            workload(&mut c, 1);
            assert_eq!(c.cmd(&["BGREWRITEAOF"]), b"+Background append only file rewriting started\r\n");
            wait_for("the rewrite", WAIT, || persistence_info(&s, "aof_rewrite_in_progress") == "0");
            assert_eq!(persistence_info(&s, "aof_last_bgrewrite_status"), "ok");
            workload(&mut c, 2);
            digest(&s)
        };
        let (ok, report) = check_aof(&dir);
        assert!(ok, "redis-check-aof refused Redoubt's AOF (preamble {preamble}):\n{report}");
        let base_ext = if preamble == "yes" { ".base.rdb" } else { ".base.aof" };
        let names: Vec<String> = fs::read_dir(dir.join("appendonlydir"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n.ends_with(base_ext)), "{names:?}");
        let rdir = temp_dir("aof-redis");
        copy_dir(&dir.join("appendonlydir"), &rdir.join("appendonlydir"));
        let redis = start_in(Flavor::Redis, &rdir, &[]);
        assert_eq!(digest(&redis), want, "Redis loaded a different dataset (preamble {preamble})");
        drop(redis);

        // And back: Redis writes, rewrites, writes again; Redoubt loads the result.
        let rdir = temp_dir("aof-redis2");
        let theirs = {
            let r =
                start_in(Flavor::Redis, &rdir, &["--aof-use-rdb-preamble", preamble, "--aof-timestamp-enabled", "yes"]);
            let mut c = r.conn();
            workload(&mut c, 1);
            c.cmd(&["BGREWRITEAOF"]);
            wait_for("Redis's rewrite", WAIT, || persistence_info(&r, "aof_rewrite_in_progress") == "0");
            workload(&mut c, 2);
            digest(&r)
        };
        let odir = temp_dir("aof-back");
        copy_dir(&rdir.join("appendonlydir"), &odir.join("appendonlydir"));
        let b = start_in(Flavor::Redoubt, &odir, &[]);
        assert_eq!(digest(&b), theirs, "Redoubt loaded a different dataset from Redis's AOF (preamble {preamble})");
        assert!(b.log().contains("DB loaded from append only file"), "{}", b.log());
    }
}

/// Writers that record each acknowledged SET (thread, index, when) until stopped.
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(usize, u64, Instant)>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    fn start(s: &ServerProcess, n: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..n)
            .map(|t| {
                let (stop, acked, addr) = (stop.clone(), acked.clone(), s.addr());
                std::thread::spawn(move || {
                    let Ok(mut c) = Conn::try_connect(addr, Duration::from_secs(2)) else { return };
                    c.timeout = Duration::from_secs(5);
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let cmd = crate::support::encode(&["SET", &format!("w{t}:{i}"), &i.to_string()]);
                        if c.try_send_raw(&cmd).is_err() {
                            return;
                        }
                        match c.try_read(Duration::from_secs(5)) {
                            Ok(r) if r == b"+OK\r\n" => acked.lock().unwrap().push((t, i, Instant::now())),
                            _ => return,
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        Writers { stop, acked, threads }
    }

    fn finish(self) -> Vec<(usize, u64, Instant)> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        Arc::try_unwrap(self.acked).map(|m| m.into_inner().unwrap()).unwrap_or_default()
    }
}

/// The acknowledged writes that are missing after a restart on `dir`.
fn missing_after_restart(dir: &Path, acked: &[(usize, u64, Instant)]) -> Vec<(usize, u64, Instant)> {
    let s = start_in(Flavor::Redoubt, dir, &[]);
    let mut c = s.conn();
    let mut missing = Vec::new();
    for chunk in acked.chunks(500) {
        for (t, i, _) in chunk {
            c.send(&["EXISTS", &format!("w{t}:{i}")]);
        }
        for a in chunk {
            if c.read() != b":1\r\n" {
                missing.push(*a);
            }
        }
    }
    missing
}

/// What a `kill -9` under writes left behind.
struct Killed {
    /// When the server was killed.
    at: Instant,
    /// The writes it had acknowledged.
    acked: Vec<(usize, u64, Instant)>,
    /// The acknowledged writes a restart on the same directory does not have.
    missing: Vec<(usize, u64, Instant)>,
}

/// Starts Redoubt on a fresh AOF directory with `appendfsync <policy>`, lets 8 writers
/// run for `run_for`, kills the server with SIGKILL and restarts it on the directory.
fn kill_9_under_writes(label: &str, policy: &str, run_for: Duration) -> Killed {
    let dir = temp_dir(label);
    let mut s = start_in(Flavor::Redoubt, &dir, &["--appendfsync", policy]);
    let writers = Writers::start(&s, 8);
    std::thread::sleep(run_for);
    let at = Instant::now();
    s.signal(libc::SIGKILL);
    s.wait_exit(Duration::from_secs(10)).expect("killed");
    let acked = writers.finish();
    drop(s);
    assert!(acked.len() > 100, "too few writes to mean anything: {}", acked.len());
    let missing = missing_after_restart(&dir, &acked);
    Killed { at, acked, missing }
}

#[test]
fn kill_9_loses_no_acknowledged_write_with_appendfsync_always() {
    let k = kill_9_under_writes("always", "always", Duration::from_millis(1500));
    assert!(k.missing.is_empty(), "{} of {} acknowledged writes lost", k.missing.len(), k.acked.len());
}

#[test]
fn kill_9_loses_at_most_about_a_second_with_everysec() {
    let k = kill_9_under_writes("everysec", "everysec", Duration::from_millis(2500));
    // A process kill loses no written data (the page cache survives it), so in
    // practice nothing is missing; the promise is one second plus scheduling slack.
    let oldest_missing = k.missing.iter().map(|(_, _, at)| k.at.saturating_duration_since(*at)).max();
    assert!(
        oldest_missing.is_none_or(|d| d <= Duration::from_millis(2000)),
        "a write acknowledged {oldest_missing:?} before the kill was lost ({} missing)",
        k.missing.len()
    );
}

#[test]
fn rewrite_under_writes_keeps_every_write() {
    let dir = temp_dir("rewrite");
    let s = start_in(Flavor::Redoubt, &dir, &[]);
    s.conn().cmd(&["DEBUG", "POPULATE", "100000", "key", "16"]);
    let writers = Writers::start(&s, 4);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(s.conn().cmd(&["BGREWRITEAOF"]), b"+Background append only file rewriting started\r\n");
    assert_eq!(s.conn().cmd(&["BGREWRITEAOF"]), b"-ERR Background append only file rewriting already in progress\r\n");
    assert_eq!(s.conn().cmd(&["BGSAVE", "SCHEDULE"]), b"+Background saving scheduled\r\n");
    wait_for("the rewrite", WAIT, || persistence_info(&s, "aof_rewrite_in_progress") == "0");
    std::thread::sleep(Duration::from_millis(200));
    let acked = writers.finish();
    let want = digest(&s);
    assert_eq!(persistence_info(&s, "aof_rewrites"), "1");
    assert!(s.log().contains("Background AOF rewrite finished successfully"), "{}", s.log());
    wait_for("the scheduled BGSAVE", WAIT, || persistence_info(&s, "rdb_saves") == "1");
    drop(s);
    let (ok, report) = check_aof(&dir);
    assert!(ok, "{report}");
    let again = start_in(Flavor::Redoubt, &dir, &[]);
    assert_eq!(digest(&again), want);
    drop(again);
    assert!(missing_after_restart(&dir, &acked).is_empty());
}

#[test]
fn appendonly_turned_on_at_runtime_and_off() {
    let dir = temp_dir("runtime");
    let d = dir.to_string_lossy().to_string();
    let s = ServerProcess::redoubt(&["--dir", &d]);
    let mut c = s.conn();
    workload(&mut c, 1);
    assert_eq!(persistence_info(&s, "aof_enabled"), "0");
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendonly", "yes"]), b"+OK\r\n");
    wait_for("the first rewrite", WAIT, || {
        persistence_info(&s, "aof_rewrite_in_progress") == "0" && persistence_info(&s, "aof_rewrites") == "1"
    });
    assert_eq!(persistence_info(&s, "aof_enabled"), "1");
    workload(&mut c, 2);
    let want = digest(&s);
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendonly", "no"]), b"+OK\r\n");
    c.cmd(&["SET", "not-in-aof", "1"]);
    drop(s);
    let (ok, report) = check_aof(&dir);
    assert!(ok, "{report}");
    let again = start_in(Flavor::Redoubt, &dir, &[]);
    assert_eq!(digest(&again), want);
}

#[test]
fn automatic_rewrite_on_growth() {
    let dir = temp_dir("auto");
    let s = start_in(
        Flavor::Redoubt,
        &dir,
        &["--auto-aof-rewrite-min-size", "64kb", "--auto-aof-rewrite-percentage", "100"],
    );
    let mut c = s.conn();
    for i in 0..2000 {
        c.cmd(&["SET", &format!("k{}", i % 50), &"x".repeat(100)]);
    }
    // Rewrites may run while the loop still writes, and the last one may still be due
    // when the first is counted: wait for the file to end up small, not for one sample.
    let size = || persistence_info(&s, "aof_current_size").parse::<u64>().unwrap();
    wait_for("an automatic rewrite that shrinks the AOF", WAIT, || {
        persistence_info(&s, "aof_rewrites") != "0" && size() < 64 * 1024
    });
    assert!(s.log().contains("Starting automatic rewriting of AOF on"), "{}", s.log());
}

#[test]
fn truncated_and_corrupt_aofs() {
    let dir = temp_dir("trunc");
    {
        let s = start_in(Flavor::Redoubt, &dir, &[]);
        let mut c = s.conn();
        for i in 0..100 {
            c.cmd(&["SET", &format!("k{i}"), &format!("v{i}")]);
        }
    }
    let incr = incr_files(&dir).pop().expect("an incr file");
    let good = fs::read(&incr).expect("read incr");
    // Cut inside the last command: loaded up to the command before, file truncated.
    fs::write(&incr, &good[..good.len() - 5]).expect("cut");
    let s = start_in(Flavor::Redoubt, &dir, &[]);
    assert!(s.log().contains("!!! Truncating the AOF appendonly.aof.1.incr.aof at offset"), "{}", s.log());
    assert!(s.log().contains("loaded anyway because aof-load-truncated is enabled"), "{}", s.log());
    assert_eq!(s.conn().cmd(&["GET", "k98"]), b"$3\r\nv98\r\n");
    assert_eq!(s.conn().cmd(&["EXISTS", "k99"]), b":0\r\n");
    drop(s);
    let (ok, report) = check_aof(&dir);
    assert!(ok, "the truncated file must be valid again:\n{report}");

    let refuse = |dir: &Path, extra: &[&str], line: &str| {
        let log = dir.join("refused.log");
        let mut args = vec![
            "--port".to_string(),
            "0".into(),
            "--unixsocket".into(),
            dir.join("s.sock").to_string_lossy().into_owned(),
            "--dir".into(),
            dir.to_string_lossy().into_owned(),
            "--logfile".into(),
            log.to_string_lossy().into_owned(),
            "--appendonly".into(),
            "yes".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_to_exit(Flavor::Redoubt.binary(), &argv, dir, Duration::from_secs(30));
        let text = fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(out.code, Some(1), "must refuse to start; log:\n{text}");
        assert!(text.contains(line), "expected {line:?} in:\n{text}");
        let _ = fs::remove_file(&log);
    };
    let cut = fs::read(&incr).expect("incr");
    fs::write(&incr, &cut[..cut.len() - 3]).expect("cut");
    refuse(&dir, &["--aof-load-truncated", "no"], "Unexpected end of file reading the append only file");
    let mut bad = cut.clone();
    let at = cut.len() / 2;
    let star = (0..at).rev().find(|&i| bad[i] == b'*').expect("a command start");
    bad[star] = b'x';
    fs::write(&incr, &bad).expect("corrupt");
    refuse(&dir, &[], "Bad file format reading the append only file");
    let mut unknown = cut.clone();
    unknown.extend_from_slice(b"*1\r\n$7\r\nFOOBARX\r\n");
    fs::write(&incr, &unknown).expect("unknown");
    refuse(&dir, &[], "Unknown command 'FOOBARX' reading the append only file");
    fs::write(&incr, &cut).expect("restore");
    fs::write(manifest(&dir), b"file appendonly.aof.1.base.rdb seq 1 type x\n").expect("manifest");
    refuse(&dir, &[], "Invalid AOF manifest file format");
}

#[test]
fn full_disk_turns_writes_into_misconf_until_space_returns() {
    let dir = temp_dir("aof-full");
    let Some(_mount) = Tmpfs::mount(&dir, "1m") else {
        eprintln!("skipping: cannot mount a tmpfs here");
        return;
    };
    let filler = dir.join("filler");
    fs::write(&filler, vec![0u8; 700 * 1024]).expect("filler");
    let s = start_in(Flavor::Redoubt, &dir, &[]);
    let mut c = s.conn();
    c.cmd(&["SET", "small", "1"]);
    // Bigger than what is left on the device: the write fails.
    c.cmd(&["SET", "big", &"x".repeat(400 * 1024)]);
    wait_for("the write error", WAIT, || persistence_info(&s, "aof_last_write_status") == "err");
    let refused = c.cmd(&["SET", "k", "v"]);
    assert_eq!(refused, b"-MISCONF Errors writing to the AOF file: No space left on device\r\n");
    assert_eq!(c.cmd(&["GET", "small"]), b"$1\r\n1\r\n");
    fs::remove_file(&filler).expect("free space");
    wait_for("the retry to succeed", WAIT, || persistence_info(&s, "aof_last_write_status") == "ok");
    assert!(s.log().contains("AOF write error looks solved, Redis can write again."), "{}", s.log());
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    let want = digest(&s);
    drop(s);
    let again = start_in(Flavor::Redoubt, &dir, &[]);
    assert_eq!(digest(&again), want, "the AOF after the error does not hold the dataset");
    drop(again);
}

#[test]
fn info_reports_the_aof() {
    let dir = temp_dir("info");
    let s = start_in(Flavor::Redoubt, &dir, &[]);
    let v = text(&s.conn().val(&["INFO", "persistence"]));
    for field in [
        "aof_enabled:1",
        "aof_rewrite_in_progress:0",
        "aof_last_write_status:ok",
        "aof_pending_rewrite:0",
        "aof_buffer_length:0",
        "aof_delayed_fsync:0",
    ] {
        assert!(v.contains(field), "{field} missing from:\n{v}");
    }
    assert!(info_field(&v, "aof_current_size").is_some());
    assert!(s.log().contains("Creating AOF base file appendonly.aof.1.base.rdb on server start"), "{}", s.log());
    assert!(s.log().contains("Creating AOF incr file appendonly.aof.1.incr.aof on server start"), "{}", s.log());
}

#[test]
fn turning_the_aof_on_again_never_mixes_in_an_old_aof() {
    let dir = temp_dir("again");
    {
        let s = start_in(Flavor::Redoubt, &dir, &[]);
        s.conn().cmd(&["SET", "old", "1"]);
        s.conn().cmd(&["RPUSH", "old-list", "a", "b"]);
    }
    let d = dir.to_string_lossy().to_string();
    {
        // The AOF off this time: the old files stay in the directory, unused.
        let s = ServerProcess::redoubt(&["--dir", &d]);
        let mut c = s.conn();
        c.cmd(&["SET", "new", "2"]);
        assert_eq!(c.cmd(&["CONFIG", "SET", "appendonly", "yes"]), b"+OK\r\n");
        wait_for("the first rewrite", WAIT, || persistence_info(&s, "aof_rewrites") == "1");
        c.cmd(&["SET", "after", "3"]);
    }
    let (ok, report) = check_aof(&dir);
    assert!(ok, "{report}");
    let s = start_in(Flavor::Redoubt, &dir, &[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["EXISTS", "old", "old-list"]), b":0\r\n");
    assert_eq!(c.cmd(&["GET", "new"]), b"$1\r\n2\r\n");
    assert_eq!(c.cmd(&["GET", "after"]), b"$1\r\n3\r\n");
}

#[test]
fn functions_survive_in_the_aof() {
    for preamble in ["yes", "no"] {
        let dir = temp_dir("aof-fn");
        {
            let s = start_in(Flavor::Redoubt, &dir, &["--aof-use-rdb-preamble", preamble]);
            let mut c = s.conn();
            c.cmd(&["FUNCTION", "LOAD", LIBRARY]);
            // In the base after a rewrite, and as a command in the incremental file.
            c.cmd(&["BGREWRITEAOF"]);
            wait_for("the rewrite", WAIT, || persistence_info(&s, "aof_rewrite_in_progress") == "0");
            c.cmd(&["FUNCTION", "LOAD", "REPLACE", LIBRARY]);
        }
        let (ok, report) = check_aof(&dir);
        assert!(ok, "{report}");
        let s = start_in(Flavor::Redoubt, &dir, &[]);
        assert_eq!(s.conn().cmd(&["FCALL", "myfunc", "0", "ok"]), b"$2\r\nok\r\n", "preamble {preamble}");
        drop(s);
        let rdir = temp_dir("aof-fn-redis");
        copy_dir(&dir.join("appendonlydir"), &rdir.join("appendonlydir"));
        let r = start_in(Flavor::Redis, &rdir, &[]);
        assert_eq!(r.conn().cmd(&["FCALL", "myfunc", "0", "ok"]), b"$2\r\nok\r\n", "Redis, preamble {preamble}");
    }
}
