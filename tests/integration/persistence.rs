//! Persistence, black-box: RDB files moved between Redoubt and the real Redis 7.0 in
//! both directions (checked by `redis-check-rdb` and by DEBUG DIGEST), point-in-time
//! BGSAVE under writes, save points, SHUTDOWN and signals, -LOADING while a dump
//! loads, bad files refused at start-up, and a failing disk turning into MISCONF.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::persist::{digest, persistence_info, Tmpfs, LIBRARY};
use crate::support::{info_field, run_to_exit, temp_dir, text, wait_for, Flavor, ServerProcess, Spec, TempDir};

/// How long a background save of the test datasets may take in a debug build.
const SAVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes a dataset with every string encoding (int, embstr, raw, LZF-compressible,
/// binary), expiries and several databases; returns nothing, the digest tells.
fn fill(s: &ServerProcess) {
    let mut c = s.conn();
    for db in [0, 3, 15] {
        c.cmd(&["SELECT", &db.to_string()]);
        for i in 0..300u32 {
            let v: Vec<u8> = match i % 6 {
                0 => i.to_string().into_bytes(),
                1 => format!("-{}", i as u64 * 7_919_000_013).into_bytes(),
                2 => vec![b'a' + (i % 26) as u8; (i % 90) as usize],
                3 => (0..(i * 7 % 400)).map(|j| (j * 31 + i) as u8).collect(),
                4 => format!("{i:020}").into_bytes(),
                _ => "compressible text ".repeat((i % 40) as usize + 2).into_bytes(),
            };
            c.cmd(&[b"SET".to_vec(), format!("db{db}:key:{i}").into_bytes(), v]);
        }
        for i in (0..300).step_by(7) {
            c.cmd(&["PEXPIREAT", &format!("db{db}:key:{i}"), &(4_102_444_800_000u64 + i as u64).to_string()]);
        }
        c.cmd(&[b"SET".as_slice(), b"\x00bin\xff", b"\x00\x01\x02\xff"]);
        c.cmd(&["SET", "empty", ""]);
        c.cmd(&["SET", "big", &"0123456789".repeat(5000)]);
        fill_collections(&mut c, db);
    }
}

/// Hashes, sets and sorted sets in both of their encodings (small and packed, large
/// or with long elements), with integer, binary and compressible elements, odd scores.
fn fill_collections(c: &mut crate::support::Conn, db: u32) {
    for (name, n, long) in [("small", 5u32, false), ("many", 700, false), ("long", 3, true)] {
        let elem = |i: u32| -> Vec<u8> {
            if long {
                format!("element-{i}-").repeat(10).into_bytes()
            } else if i.is_multiple_of(3) {
                (i as i64 * 100_003 - 50_000).to_string().into_bytes()
            } else {
                format!("e{i}\x00\u{ff}").into_bytes()
            }
        };
        let mut hset = vec![b"HSET".to_vec(), format!("h:{name}:{db}").into_bytes()];
        let mut sadd = vec![b"SADD".to_vec(), format!("s:{name}:{db}").into_bytes()];
        let mut ints = vec![b"SADD".to_vec(), format!("si:{name}:{db}").into_bytes()];
        let mut zadd = vec![b"ZADD".to_vec(), format!("z:{name}:{db}").into_bytes()];
        let mut rpush = vec![b"RPUSH".to_vec(), format!("l:{name}:{db}").into_bytes()];
        for i in 0..n {
            rpush.push(elem(i));
            hset.push(elem(i));
            hset.push(elem(i * 7 + 1));
            sadd.push(elem(i));
            ints.push((i as i64 * 7919 - 1_000_000_000_000).to_string().into_bytes());
            let score = match i % 6 {
                0 => "0.1".to_string(),
                1 => format!("{}", i as f64 * 1.5),
                2 => "-inf".to_string(),
                3 => format!("{}", i as i64 * 1_000_000_007),
                4 => "1e300".to_string(),
                _ => format!("-{i}"),
            };
            zadd.push(score.into_bytes());
            zadd.push(elem(i));
        }
        for cmd in [hset, sadd, ints, zadd, rpush] {
            let reply = c.cmd(&cmd);
            assert!(reply.starts_with(b":"), "{}", String::from_utf8_lossy(&reply));
        }
    }
}

/// Waits for the running BGSAVE (if any) to finish.
fn wait_bgsave(s: &ServerProcess) {
    wait_for("the background save to end", SAVE_TIMEOUT, || persistence_info(s, "rdb_bgsave_in_progress") == "0");
}

/// A server of `flavor` started on a copy of `dump` (its `--dir` is a fresh directory
/// holding only `dump.rdb`), once it has finished loading it.
fn start_on_dump(flavor: Flavor, dump: &[u8], args: &[&str]) -> (ServerProcess, TempDir) {
    let dir = temp_dir("dump");
    fs::write(dir.join("dump.rdb"), dump).expect("write dump");
    let dir_s = dir.to_string_lossy().to_string();
    let mut all = vec!["--dir", dir_s.as_str()];
    all.extend_from_slice(args);
    let s = Spec::new(flavor).args(&all).start();
    wait_for("the dump to load", SAVE_TIMEOUT, || persistence_info(&s, "loading") == "0");
    (s, dir)
}

/// `redis-check-rdb` on a file: its output, and whether it approved.
fn check_rdb(path: &Path) -> (bool, String) {
    let out = Command::new("redis-check-rdb").arg(path).output().expect("run redis-check-rdb");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && text.contains("RDB looks OK"), text)
}

#[test]
fn rdb_written_by_redoubt_loads_in_redis_and_back() {
    let a = ServerProcess::redoubt(&[]);
    fill(&a);
    let want = digest(&a);
    assert_eq!(a.conn().cmd(&["SAVE"]), b"+OK\r\n");
    let path = a.dir.join("dump.rdb");
    let (ok, report) = check_rdb(&path);
    assert!(ok, "redis-check-rdb refused Redoubt's dump:\n{report}");
    let dump = fs::read(&path).expect("read dump");

    let (redis, d1) = start_on_dump(Flavor::Redis, &dump, &[]);
    assert_eq!(digest(&redis), want, "Redis loaded a different dataset");
    // And Redis's own file of the same data loads in Redoubt.
    assert_eq!(redis.conn().cmd(&["SAVE"]), b"+OK\r\n");
    let redis_dump = fs::read(d1.join("dump.rdb")).expect("read Redis's dump");
    let (b, _d2) = start_on_dump(Flavor::Redoubt, &redis_dump, &[]);
    assert_eq!(digest(&b), want, "Redoubt loaded a different dataset from Redis's file");
    assert!(b.log().contains("Loading RDB produced by version 7.0.15"), "{}", b.log());
    assert!(b.log().contains("DB loaded from disk"), "{}", b.log());
    assert_eq!(persistence_info(&b, "rdb_last_load_keys_loaded"), "954");
}

#[test]
fn rdb_options_compression_checksum_and_clock_fields() {
    // Without compression and without a checksum, as with an LRU and an LFU policy
    // (IDLE and FREQ opcodes), the file still passes redis-check-rdb and loads in Redis.
    for args in [
        &["--rdbcompression", "no", "--rdbchecksum", "no"][..],
        &["--maxmemory-policy", "allkeys-lru"][..],
        &["--maxmemory-policy", "allkeys-lfu"][..],
    ] {
        let a = ServerProcess::redoubt(args);
        fill(&a);
        let want = digest(&a);
        assert_eq!(a.conn().cmd(&["SAVE"]), b"+OK\r\n");
        let (ok, report) = check_rdb(&a.dir.join("dump.rdb"));
        assert!(ok, "redis-check-rdb refused the dump written with {args:?}:\n{report}");
        let dump = fs::read(a.dir.join("dump.rdb")).expect("read dump");
        let (redis, _d) = start_on_dump(Flavor::Redis, &dump, args);
        assert_eq!(digest(&redis), want, "with {args:?}");
    }
}

#[test]
fn debug_object_serializedlength_matches_redis() {
    let redoubt = ServerProcess::redoubt(&[]);
    let redis = ServerProcess::redis(&[]);
    let values: Vec<Vec<u8>> = vec![
        b"1".to_vec(),
        b"-200".to_vec(),
        b"70000".to_vec(),
        b"12345678901".to_vec(),
        b"hello".to_vec(),
        vec![b'a'; 100],
        "compressible text ".repeat(30).into_bytes(),
        (0..300u32).map(|i| (i * 7919 % 251) as u8).collect(),
    ];
    for v in values {
        let field = |s: &ServerProcess| {
            let mut c = s.conn();
            c.cmd(&[b"SET".to_vec(), b"k".to_vec(), v.clone()]);
            let line = text(&c.val(&["DEBUG", "OBJECT", "k"]));
            line.split(' ').find(|w| w.starts_with("serializedlength:")).map(str::to_string)
        };
        assert_eq!(field(&redoubt), field(&redis), "value of {} bytes", v.len());
    }
    // Collections: the compact encodings are rebuilt byte for byte as Redis has them.
    fill_collections(&mut redoubt.conn(), 0);
    fill_collections(&mut redis.conn(), 0);
    for kind in ["h", "s", "si", "z", "l"] {
        for name in ["small", "many", "long"] {
            let key = format!("{kind}:{name}:0");
            let field = |s: &ServerProcess| {
                let line = text(&s.conn().val(&["DEBUG", "OBJECT", &key]));
                let enc = line.split(' ').find(|w| w.starts_with("encoding:")).map(str::to_string);
                let len = line.split(' ').find(|w| w.starts_with("serializedlength:")).map(str::to_string);
                (enc, len)
            };
            assert_eq!(field(&redoubt), field(&redis), "{key}");
        }
    }
}

#[test]
fn bgsave_is_a_point_in_time_while_writes_continue() {
    let s = ServerProcess::redoubt(&[]);
    let mut c = s.conn();
    c.cmd(&["DEBUG", "POPULATE", "200000", "key", "20"]);
    let before = digest(&s);
    assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    // Keys change, appear and disappear right after the snapshot began (pipelined, so
    // most of it lands while the snapshot is being written); none of it may show.
    let mut w = s.conn();
    for i in 0..20_000u32 {
        w.send(&["SET", &format!("key:{}", i * 10), "changed"]);
        w.send(&["DEL", &format!("key:{}", i * 10 + 1)]);
        w.send(&["SET", &format!("new:{i}"), "x"]);
    }
    for _ in 0..60_000u32 {
        w.read();
    }
    wait_bgsave(&s);
    assert_eq!(persistence_info(&s, "rdb_last_bgsave_status"), "ok");
    assert_ne!(digest(&s), before);
    let dump = fs::read(s.dir.join("dump.rdb")).expect("read dump");
    let (copy, _d) = start_on_dump(Flavor::Redoubt, &dump, &[]);
    assert_eq!(digest(&copy), before, "the snapshot holds writes made after BGSAVE began");
    assert_eq!(copy.conn().cmd(&["DBSIZE"]), b":200000\r\n");
}

#[test]
fn save_bgsave_lastsave_and_info_fields() {
    let s = ServerProcess::redoubt(&[]);
    let mut c = s.conn();
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["SET", "b", "2"]);
    assert_eq!(persistence_info(&s, "rdb_changes_since_last_save"), "2");
    assert_eq!(persistence_info(&s, "rdb_saves"), "0");
    assert_eq!(c.cmd(&["BGSAVE", "NOW"]), b"-ERR syntax error\r\n");
    assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
    assert_eq!(persistence_info(&s, "rdb_changes_since_last_save"), "0");
    assert_eq!(persistence_info(&s, "rdb_saves"), "1");
    assert_eq!(persistence_info(&s, "rdb_last_bgsave_status"), "ok");
    let lastsave = crate::support::int(&c.val(&["LASTSAVE"]));
    assert!((lastsave - redoubt_engine::clock::now_ms() / 1000).abs() <= 2);
    assert_eq!(persistence_info(&s, "rdb_last_save_time"), lastsave.to_string());
    c.cmd(&["DEBUG", "POPULATE", "100000"]);
    assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    // A second one while the first runs (it may already be done on a fast machine).
    let again = c.cmd(&["BGSAVE"]);
    assert!(
        again == b"-ERR Background save already in progress\r\n" || again == b"+Background saving started\r\n",
        "{}",
        String::from_utf8_lossy(&again)
    );
    wait_bgsave(&s);
    assert!(s.log().contains("Background saving terminated with success"), "{}", s.log());
    assert_eq!(persistence_info(&s, "rdb_last_bgsave_status"), "ok");
    assert_eq!(persistence_info(&s, "rdb_current_bgsave_time_sec"), "-1");
}

#[test]
fn save_points_trigger_a_background_save() {
    let s = ServerProcess::redoubt(&["--save", "1 3"]);
    let mut c = s.conn();
    for k in ["a", "b", "c"] {
        c.cmd(&["SET", k, "v"]);
    }
    wait_for("the save point to save", Duration::from_secs(10), || persistence_info(&s, "rdb_saves") == "1");
    assert!(s.log().contains("3 changes in 1 seconds. Saving..."), "{}", s.log());
    assert!(s.dir.join("dump.rdb").exists());
}

#[test]
fn shutdown_saves_when_save_points_exist_and_not_with_nosave() {
    // Default SHUTDOWN with save points: the final snapshot is written.
    let mut s = ServerProcess::redoubt(&["--save", "3600 1"]);
    s.conn().cmd(&["SET", "k", "v1"]);
    let mut c = s.conn();
    c.send(&["SHUTDOWN"]);
    c.expect_closed(Duration::from_secs(10));
    s.wait_exit(Duration::from_secs(10)).expect("exit after SHUTDOWN");
    assert!(s.log().contains("Saving the final RDB snapshot before exiting."), "{}", s.log());
    let dump = fs::read(s.dir.join("dump.rdb")).expect("SHUTDOWN wrote no dump");
    let (copy, _d) = start_on_dump(Flavor::Redoubt, &dump, &[]);
    assert_eq!(copy.conn().cmd(&["GET", "k"]), b"$2\r\nv1\r\n");

    // NOSAVE: nothing written.
    let mut s = ServerProcess::redoubt(&["--save", "3600 1"]);
    s.conn().cmd(&["SET", "k", "v1"]);
    s.conn().send(&["SHUTDOWN", "NOSAVE"]);
    s.wait_exit(Duration::from_secs(10)).expect("exit after SHUTDOWN NOSAVE");
    assert!(!s.dir.join("dump.rdb").exists());

    // SAVE without save points: written; SIGTERM with save points: written.
    let mut s = ServerProcess::redoubt(&[]);
    s.conn().cmd(&["SET", "k", "v2"]);
    s.conn().send(&["SHUTDOWN", "SAVE"]);
    s.wait_exit(Duration::from_secs(10)).expect("exit after SHUTDOWN SAVE");
    assert!(s.dir.join("dump.rdb").exists());
    let mut s = ServerProcess::redoubt(&["--save", "3600 1"]);
    s.conn().cmd(&["SET", "k", "v3"]);
    s.signal(libc::SIGTERM);
    s.wait_exit(Duration::from_secs(10)).expect("exit after SIGTERM");
    assert!(s.dir.join("dump.rdb").exists(), "{}", s.log());
}

#[test]
fn shutdown_refuses_to_exit_when_the_final_save_fails() {
    let gone = temp_dir("gone");
    let mut s = ServerProcess::redoubt(&["--save", "3600 1"]);
    let mut c = s.conn();
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["CONFIG", "SET", "dir", &gone.to_string_lossy()]), b"+OK\r\n");
    fs::remove_dir_all(gone.path()).expect("remove dir");
    assert_eq!(c.cmd(&["SHUTDOWN"]), b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert!(s.log().contains("Error trying to save the DB, can't exit."), "{}", s.log());
    s.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.try_exit().is_none(), "SIGTERM with a failing save must not exit");
    assert!(s.log().contains("SIGTERM received but errors trying to shut down the server"), "{}", s.log());
    c.send(&["SHUTDOWN", "NOSAVE"]);
    s.wait_exit(Duration::from_secs(10)).expect("exit after SHUTDOWN NOSAVE");
}

#[test]
fn failing_bgsave_turns_writes_into_misconf_and_keeps_the_old_file() {
    let s = ServerProcess::redoubt(&["--save", "3600 1"]);
    let mut c = s.conn();
    c.cmd(&["SET", "k", "old"]);
    assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
    let old = fs::read(s.dir.join("dump.rdb")).expect("dump");
    // A full disk: the directory becomes a 64 KB tmpfs holding a copy of the dump.
    let full = temp_dir("full");
    let Some(_mount) = Tmpfs::mount(full.path(), "64k") else {
        eprintln!("skipping: cannot mount a tmpfs here");
        return;
    };
    fs::write(full.join("dump.rdb"), &old).expect("copy dump");
    assert_eq!(c.cmd(&["CONFIG", "SET", "dir", &full.to_string_lossy()]), b"+OK\r\n");
    c.cmd(&["SET", "big", &"x".repeat(200_000)]);
    c.cmd(&["CONFIG", "SET", "rdbcompression", "no"]);
    assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave(&s);
    assert_eq!(persistence_info(&s, "rdb_last_bgsave_status"), "err");
    let misconf = c.cmd(&["SET", "k", "new"]);
    assert!(
        misconf.starts_with(b"-MISCONF Redis is configured to save RDB snapshots"),
        "{}",
        String::from_utf8_lossy(&misconf)
    );
    assert!(c.cmd(&["PING"]).starts_with(b"-MISCONF"));
    assert_eq!(c.cmd(&["GET", "k"]), b"$3\r\nold\r\n");
    assert_eq!(fs::read(full.join("dump.rdb")).expect("old dump"), old, "the previous file was damaged");
    assert_eq!(fs::read_dir(full.path()).expect("list").count(), 1, "a temp file was left behind");
    assert_eq!(c.cmd(&["SAVE"]), b"-ERR\r\n");
    // stop-writes-on-bgsave-error no lets writes through again.
    c.cmd(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]);
    assert_eq!(c.cmd(&["SET", "k", "new"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["DEL", "big"]), b":1\r\n");
    c.cmd(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"]);
    assert!(c.cmd(&["SET", "k", "new"]).starts_with(b"-MISCONF"));
    // Room again: the next save succeeds and writes are accepted.
    assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave(&s);
    assert_eq!(persistence_info(&s, "rdb_last_bgsave_status"), "ok", "{}", s.log());
    assert_eq!(c.cmd(&["SET", "k", "newer"]), b"+OK\r\n");
    c.cmd(&["CONFIG", "SET", "dir", &s.dir.to_string_lossy()]);
}

#[test]
fn loading_answers_loading_until_the_dump_is_in() {
    let a = ServerProcess::redoubt(&[]);
    a.conn().cmd(&["DEBUG", "POPULATE", "1000000", "key", "10"]);
    assert_eq!(a.conn().cmd(&["SAVE"]), b"+OK\r\n");
    let dump = fs::read(a.dir.join("dump.rdb")).expect("dump");
    drop(a);
    let dir = temp_dir("loading");
    fs::write(dir.join("dump.rdb"), &dump).expect("write dump");
    let b = Spec::new(Flavor::Redoubt).args(&["--dir", &dir.to_string_lossy()]).spawn();
    let mut saw_loading = false;
    let mut saw_info = false;
    let deadline = Instant::now() + SAVE_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "never finished loading");
        let Ok(mut c) = crate::support::Conn::try_connect(b.addr(), Duration::from_millis(100)) else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        let reply = c.cmd(&["GET", "key:1"]);
        if reply == b"-LOADING Redis is loading the dataset in memory\r\n" {
            saw_loading = true;
            let info = text(&c.val(&["INFO", "persistence"]));
            if info_field(&info, "loading").as_deref() == Some("1") {
                saw_info = info_field(&info, "loading_total_bytes") == Some(dump.len().to_string());
            }
            continue;
        }
        assert_eq!(reply, b"$10\r\nvalue:1\x00\x00\x00\r\n");
        break;
    }
    assert!(saw_loading, "no -LOADING seen while a 1M-key dump loaded");
    assert!(saw_info, "INFO persistence never showed loading:1 with the total size");
    assert_eq!(b.conn().cmd(&["DBSIZE"]), b":1000000\r\n");
}

/// Starts Redoubt on `dump` and expects it to refuse to start, logging `line`.
fn refused(dump: &[u8], line: &str) {
    let dir = temp_dir("bad");
    fs::write(dir.join("dump.rdb"), dump).expect("write dump");
    let log = dir.join("log.txt");
    let out = run_to_exit(
        Flavor::Redoubt.binary(),
        &[
            "--port",
            "0",
            "--unixsocket",
            &dir.join("s.sock").to_string_lossy(),
            "--dir",
            &dir.to_string_lossy(),
            "--logfile",
            &log.to_string_lossy(),
        ],
        &dir,
        Duration::from_secs(30),
    );
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(out.code, Some(1), "a bad dump must stop the server; log:\n{text}");
    assert!(text.contains(line), "expected {line:?} in the log:\n{text}");
    assert!(!text.contains("Ready to accept connections"), "{text}");
}

#[test]
fn bad_dumps_are_refused_at_start_up() {
    let a = ServerProcess::redoubt(&[]);
    fill(&a);
    assert_eq!(a.conn().cmd(&["SAVE"]), b"+OK\r\n");
    let good = fs::read(a.dir.join("dump.rdb")).expect("dump");
    refused(&good[..good.len() / 2], "Short read or OOM loading DB. Unrecoverable error, aborting now.");
    let mut flipped = good.clone();
    let at = good.len() - 100;
    flipped[at] ^= 0x01;
    refused(&flipped, "Wrong RDB checksum expected");
    let mut version = good.clone();
    version[5..9].copy_from_slice(b"0013");
    refused(&version, "Can't handle RDB format version 13");
    let mut magic = good.clone();
    magic[0] = b'X';
    refused(&magic, "Wrong signature trying to load DB from file");
    // A module type, as Redis with a module would write it.
    let mut module = b"REDIS0010".to_vec();
    module.extend_from_slice(&[0x07, 0x01, b'k', 0x81, 0, 0, 0, 0, 0, 0, 0, 1]);
    refused(&module, "no matching module");
}

#[test]
fn debug_reload_round_trips_the_dataset() {
    let s = ServerProcess::redoubt(&[]);
    fill(&s);
    let want = digest(&s);
    assert_eq!(s.conn().cmd(&["DEBUG", "RELOAD"]), b"+OK\r\n");
    assert_eq!(digest(&s), want);
    assert!(s.log().contains("DB reloaded by DEBUG RELOAD"));
    assert_eq!(
        s.conn().cmd(&["DEBUG", "RELOAD", "BOGUS"]),
        b"-ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.\r\n"
    );
    // NOSAVE loads the file as it is: a key set since is gone.
    s.conn().cmd(&["SET", "later", "1"]);
    assert_eq!(s.conn().cmd(&["DEBUG", "RELOAD", "NOSAVE"]), b"+OK\r\n");
    assert_eq!(digest(&s), want);
}

/// A payload with a valid footer around `body` (version 10, Redis's CRC).
fn payload(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = redoubt_persist::crc64::crc64(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn dump_payloads_match_redis_byte_for_byte() {
    let mut d = crate::support::Diff::new(&[]);
    d.script(
        r#"
SET int 12345
SET neg -7
SET big-int 123456789012
SET short hello
SET long "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
SET bin "\x00\x01\xff"
HSET hash f1 v1 f2 2 f3 -300000
SADD ints 1 2 3 -70000 4000000000
ZADD zset 1 a 2.5 b -inf c 0.1 d 1e100 e
DUMP int
DUMP neg
DUMP big-int
DUMP short
DUMP long
DUMP bin
DUMP hash
DUMP ints
DUMP zset
DUMP missing
"#,
    );
    // A large sorted set (skiplist): written from the highest score down in both.
    let mut zadd: Vec<String> = vec!["ZADD".into(), "bigz".into()];
    for i in 0..300 {
        zadd.push(format!("{}", (i * 7919) % 1000));
        zadd.push(format!("member-{i}"));
    }
    d.check(&zadd);
    d.check(&["DUMP", "bigz"]);
    // Lists: one listpack node. (Where a long list's nodes are cut is the list type's
    // business; `restore_round_trips_between_redis_and_redoubt` moves long lists.)
    d.check(&["LPUSH", "small-list", "a", "1", "-5000"]);
    d.check(&["DUMP", "small-list"]);
    d.finish();
}

#[test]
fn restore_round_trips_between_redis_and_redoubt() {
    let redoubt = ServerProcess::redoubt(&[]);
    let redis = ServerProcess::redis(&[]);
    fill(&redis);
    fill(&redoubt);
    let keys: Vec<Vec<u8>> = match redis.conn().val(&["KEYS", "*"]) {
        crate::support::Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                crate::support::Value::Bulk(b) => b,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    };
    assert!(keys.len() > 50);
    // Every key of db 0 moves through DUMP/RESTORE both ways; the digests must agree.
    for (source, target) in [(&redis, &redoubt), (&redoubt, &redis)] {
        let (mut from, mut to) = (source.conn(), target.conn());
        for k in &keys {
            let p = match from.val(&[b"DUMP".as_slice(), k]) {
                crate::support::Value::Bulk(p) => p,
                other => panic!("DUMP {}: {other:?}", String::from_utf8_lossy(k)),
            };
            let reply = to.cmd(&[b"RESTORE".as_slice(), k, b"0", &p, b"REPLACE"]);
            assert_eq!(reply, b"+OK\r\n", "RESTORE {}", String::from_utf8_lossy(k));
        }
    }
    assert_eq!(digest(&redis), digest(&redoubt));
}

#[test]
fn restore_options_and_errors_match_redis() {
    let mut d = crate::support::Diff::new(&["--maxmemory-policy", "allkeys-lru"]);
    let good = {
        let (a, _) = d.both(&["DUMP", "nothing"]);
        assert_eq!(a, b"$-1\r\n");
        d.check(&["SET", "src", "value"]);
        let (a, b) = d.both(&["DUMP", "src"]);
        assert_eq!(a, b);
        // The bulk's payload.
        let start = a.iter().position(|&c| c == b'\n').unwrap() + 1;
        a[start..a.len() - 2].to_vec()
    };
    let mut flipped = good.clone();
    flipped[2] ^= 0x40;
    let mut newer = good[..good.len() - 10].to_vec();
    newer = payload(&newer, 11);
    let garbage = payload(&[0x00, 0x80, 0xff, 0xff], 10);
    let bad_type = payload(&[0x08, 0x01, b'x'], 10);
    let empty_list = payload(&[0x0e, 0x00], 10);
    let cases: Vec<Vec<Vec<u8>>> = vec![
        vec![b"RESTORE".to_vec(), b"k".to_vec(), b"0".to_vec(), good.clone()],
        vec![b"RESTORE".to_vec(), b"k".to_vec(), b"0".to_vec(), good.clone()],
        vec![b"RESTORE".to_vec(), b"k".to_vec(), b"0".to_vec(), good.clone(), b"REPLACE".to_vec()],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"-1".to_vec(), good.clone()],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"x".to_vec(), good.clone()],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), flipped],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), newer],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), b"short".to_vec()],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), garbage],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), bad_type],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), empty_list],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), good.clone(), b"BOGUS".to_vec()],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), good.clone(), b"IDLETIME".to_vec(), b"-1".to_vec()],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), good.clone(), b"FREQ".to_vec(), b"256".to_vec()],
        vec![
            b"RESTORE".to_vec(),
            b"k2".to_vec(),
            b"0".to_vec(),
            good.clone(),
            b"IDLETIME".to_vec(),
            b"1".to_vec(),
            b"FREQ".to_vec(),
            b"1".to_vec(),
        ],
        vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), good.clone(), b"IDLETIME".to_vec()],
        vec![
            b"RESTORE".to_vec(),
            b"idle".to_vec(),
            b"0".to_vec(),
            good.clone(),
            b"IDLETIME".to_vec(),
            b"1000".to_vec(),
        ],
        vec![b"OBJECT".to_vec(), b"IDLETIME".to_vec(), b"idle".to_vec()],
        vec![b"RESTORE".to_vec(), b"ttl".to_vec(), b"100000".to_vec(), good.clone()],
        vec![b"PTTL".to_vec(), b"ttl".to_vec()],
        vec![b"RESTORE".to_vec(), b"abs".to_vec(), b"4102444800000".to_vec(), good.clone(), b"ABSTTL".to_vec()],
        vec![b"PEXPIRETIME".to_vec(), b"abs".to_vec()],
        // An absolute time in the past: OK, and nothing is created; with REPLACE the
        // old key is gone.
        vec![b"RESTORE".to_vec(), b"past".to_vec(), b"1000".to_vec(), good.clone(), b"ABSTTL".to_vec()],
        vec![b"EXISTS".to_vec(), b"past".to_vec()],
        vec![
            b"RESTORE".to_vec(),
            b"k".to_vec(),
            b"1000".to_vec(),
            good.clone(),
            b"ABSTTL".to_vec(),
            b"REPLACE".to_vec(),
        ],
        vec![b"EXISTS".to_vec(), b"k".to_vec()],
        vec![b"GET".to_vec(), b"k2".to_vec()],
    ];
    for c in &cases {
        match c[0].as_slice() {
            b"PTTL" => d.check_as(crate::support::diff::Compare::Approx(1000), c),
            b"OBJECT" => d.check_as(crate::support::diff::Compare::Approx(2), c),
            _ => d.check(c),
        };
    }
    d.finish();
}

#[test]
fn flushall_with_save_points_saves_the_empty_dataset() {
    let s = ServerProcess::redoubt(&["--save", "3600 1000"]);
    let mut c = s.conn();
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["FLUSHALL"]), b"+OK\r\n");
    let dump = fs::read(s.dir.join("dump.rdb")).expect("dump");
    let (copy, _d) = start_on_dump(Flavor::Redoubt, &dump, &[]);
    assert_eq!(copy.conn().cmd(&["DBSIZE"]), b":0\r\n", "FLUSHALL left the old dump in place");
}

#[test]
fn functions_travel_in_rdb_files_both_ways() {
    let a = ServerProcess::redoubt(&[]);
    let mut c = a.conn();
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", LIBRARY]), b"$5\r\nmylib\r\n");
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
    let (ok, report) = check_rdb(&a.dir.join("dump.rdb"));
    assert!(ok, "{report}");
    let dump = fs::read(a.dir.join("dump.rdb")).expect("dump");
    let (redis, d) = start_on_dump(Flavor::Redis, &dump, &[]);
    assert_eq!(redis.conn().cmd(&["FCALL", "myfunc", "0", "hello"]), b"$5\r\nhello\r\n");
    assert_eq!(redis.conn().cmd(&["SAVE"]), b"+OK\r\n");
    let back = fs::read(d.join("dump.rdb")).expect("Redis's dump");
    let (b, _d) = start_on_dump(Flavor::Redoubt, &back, &[]);
    assert_eq!(b.conn().cmd(&["FCALL", "myfunc", "0", "again"]), b"$5\r\nagain\r\n");
    assert_eq!(b.conn().cmd(&["DEBUG", "RELOAD"]), b"+OK\r\n");
    assert_eq!(b.conn().cmd(&["FCALL", "myfunc", "0", "x"]), b"$1\r\nx\r\n");
}
