//! Transactions against redis-server: MULTI/EXEC/DISCARD replies and errors (EXECABORT,
//! errors inside EXEC, commands refused in MULTI), WATCH broken (or not) by other
//! clients, expiry, FLUSHALL, FLUSHDB and SWAPDB, CLIENT LIST's view of a transaction;
//! and, on Redoubt alone, that EXEC is atomic across shards under concurrent load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{int, items, same_on_both, text, Diff, ServerProcess, Value};

#[test]
fn transaction_replies_and_errors_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
MULTI
SET a 1
INCR a
INCR a
GET a
EXEC
# An empty transaction, and the commands that need one.
MULTI
EXEC
EXEC
DISCARD
# Errors that do not touch the transaction, then ones that doom it.
MULTI
MULTI
WATCH x
SET k v
NOSUCH x y
GET
CONFIG NOSUCH
EXEC
GET k
# Errors at EXEC time belong to their command; the others still run.
SET s hello
MULTI
INCR s
APPEND s " world"
INCRBYFLOAT s 1
SETBIT s abc 1
GET s
EXEC
# SELECT inside a transaction.
MULTI
SELECT 1
SET k db1
SELECT 0
GET k
EXEC
SELECT 1
GET k
SELECT 0
# A refused EXEC discards the transaction and says why.
MULTI
SET k v2
EXEC extra
EXEC
GET k
# Commands a transaction may not hold.
MULTI
SHUTDOWN
EXEC
# DISCARD and RESET drop the queue.
MULTI
SET k v3
DISCARD
GET k
MULTI
SET k v6
RESET
EXEC
GET k
# Arity of the transaction commands themselves (a refused EXEC aborts even outside
# MULTI).
EXEC x
MULTI x
DISCARD x
WATCH
UNWATCH x
# A WATCHed key changed by this very client before MULTI.
WATCH k
SET k v4
MULTI
GET k
EXEC
GET k
# UNWATCH is queued like any command.
MULTI
UNWATCH
PING
EXEC
# UNWATCH forgets that.
WATCH k
SET k v5
UNWATCH
MULTI
GET k
EXEC
# Multi-key and whole-keyspace commands in one transaction.
MULTI
MSET x 1 y 2 z 3
MGET x y z
DEL x y nosuch
DBSIZE
KEYS z
RENAME z w
EXISTS w z
EXEC
MULTI
FLUSHALL
DBSIZE
EXEC
"#,
    );
    d.finish();
}

#[test]
fn transactions_in_resp3_match_redis() {
    let mut d = Diff::new(&[]).resp3();
    d.script(
        r#"
MULTI
SET a 1
GET a
INCRBYFLOAT a 1.5
EXEC
WATCH a
SET a 2
MULTI
GET a
EXEC
MULTI
NOSUCH
EXEC
"#,
    );
    d.finish();
}

/// Runs `WATCH k` (after `setup`), lets another client run `other`, waits `pause`,
/// then records what `MULTI / PING / EXEC` answers.
fn watch_case(name: &str, setup: &[&[&str]], other: &[&[&str]], pause: Duration) {
    same_on_both(&[], |s, t| {
        let (mut me, mut them) = (s.conn(), s.conn());
        t.note(format!("case {name}"));
        for args in setup {
            t.cmd("me", &mut me, args);
        }
        t.cmd("me", &mut me, &["WATCH", "k"]);
        for args in other {
            t.cmd("them", &mut them, args);
        }
        std::thread::sleep(pause);
        t.cmd("me", &mut me, &["MULTI"]);
        t.cmd("me", &mut me, &["PING"]);
        t.cmd("me", &mut me, &["EXEC"]);
    });
}

const NOW: Duration = Duration::ZERO;

#[test]
fn watch_is_broken_by_writes_of_other_clients() {
    watch_case("set", &[&["SET", "k", "1"]], &[&["SET", "k", "1"]], NOW);
    watch_case("set missing", &[], &[&["SET", "k", "1"]], NOW);
    watch_case("incr", &[], &[&["INCR", "k"]], NOW);
    watch_case("del", &[&["SET", "k", "1"]], &[&["DEL", "k"]], NOW);
    watch_case("expire", &[&["SET", "k", "1"]], &[&["EXPIRE", "k", "100"]], NOW);
    watch_case("persist", &[&["SET", "k", "1", "EX", "100"]], &[&["PERSIST", "k"]], NOW);
    watch_case("rename to", &[&["SET", "j", "1"]], &[&["RENAME", "j", "k"]], NOW);
    watch_case("rename from", &[&["SET", "k", "1"]], &[&["RENAME", "k", "j"]], NOW);
    watch_case("move", &[&["SET", "k", "1"]], &[&["MOVE", "k", "1"]], NOW);
    watch_case("copy to", &[&["SET", "j", "1"]], &[&["COPY", "j", "k"]], NOW);
    watch_case("append", &[&["SET", "k", "1"]], &[&["APPEND", "k", "2"]], NOW);
    watch_case("in a transaction", &[], &[&["MULTI"], &["SET", "k", "1"], &["EXEC"]], NOW);
}

#[test]
fn watch_survives_what_does_not_change_the_key() {
    watch_case("get", &[&["SET", "k", "1"]], &[&["GET", "k"]], NOW);
    watch_case("del missing", &[], &[&["DEL", "k"]], NOW);
    watch_case("expire missing", &[], &[&["EXPIRE", "k", "10"]], NOW);
    watch_case("persist without ttl", &[&["SET", "k", "1"]], &[&["PERSIST", "k"]], NOW);
    watch_case("setnx refused", &[&["SET", "k", "1"]], &[&["SETNX", "k", "2"]], NOW);
    watch_case("other db", &[&["SET", "k", "1"]], &[&["SELECT", "1"], &["SET", "k", "2"]], NOW);
    watch_case("other key", &[], &[&["SET", "k2", "1"]], NOW);
}

#[test]
fn watch_and_whole_database_commands_match_redis() {
    watch_case("flushall, key missing", &[], &[&["SET", "x", "1"], &["FLUSHALL"]], NOW);
    watch_case("flushall, key exists", &[&["SET", "k", "1"]], &[&["FLUSHALL"]], NOW);
    watch_case("flushdb, key exists", &[&["SET", "k", "1"]], &[&["FLUSHDB"]], NOW);
    watch_case("flushdb of another db", &[&["SET", "k", "1"]], &[&["SELECT", "1"], &["FLUSHDB"]], NOW);
    watch_case("swapdb, missing in both", &[], &[&["SWAPDB", "0", "1"]], NOW);
    watch_case("swapdb, exists in the other", &[], &[&["SELECT", "1"], &["SET", "k", "1"], &["SWAPDB", "0", "1"]], NOW);
    watch_case("swapdb, exists in mine", &[&["SET", "k", "1"]], &[&["SWAPDB", "1", "0"]], NOW);
    watch_case("swapdb of two others", &[&["SET", "k", "1"]], &[&["SWAPDB", "1", "2"]], NOW);
}

#[test]
fn watch_and_expiry_match_redis() {
    // Expires between WATCH and EXEC, touched by nobody (active expiry off).
    watch_case(
        "expires after watch",
        &[&["DEBUG", "SET-ACTIVE-EXPIRE", "0"], &["SET", "k", "1", "PX", "100"]],
        &[],
        Duration::from_millis(250),
    );
    // Expires and is deleted by the active cycle.
    watch_case("actively expired", &[&["SET", "k", "1", "PX", "50"]], &[], Duration::from_millis(600));
    // Already expired (not yet deleted) when watched: its deletion is no change...
    let expired_first: &[&[&str]] =
        &[&["DEBUG", "SET-ACTIVE-EXPIRE", "0"], &["SET", "k", "1", "PX", "1"], &["DEBUG", "SLEEP", "0.05"]];
    watch_case("expired before watch", expired_first, &[], NOW);
    watch_case("expired before watch, deleted by a read", expired_first, &[&["GET", "k"]], NOW);
    // ...but setting it again is.
    watch_case("expired before watch, set again", expired_first, &[&["SET", "k", "2"]], NOW);
    watch_case("expired before watch, flushed", expired_first, &[&["FLUSHALL"]], NOW);
}

#[test]
fn watched_keys_are_forgotten_after_exec_discard_and_reset() {
    same_on_both(&[], |s, t| {
        let (mut me, mut them) = (s.conn(), s.conn());
        for end in [&["EXEC"][..], &["DISCARD"], &["RESET"], &["EXEC", "x"]] {
            t.cmd("me", &mut me, &["WATCH", "k"]);
            t.cmd("me", &mut me, &["MULTI"]);
            t.cmd("me", &mut me, end);
            t.cmd("them", &mut them, &["SET", "k", "1"]);
            t.cmd("me", &mut me, &["MULTI"]);
            t.cmd("me", &mut me, &["PING"]);
            t.cmd("me", &mut me, &["EXEC"]);
        }
        // So does an EXEC refused outside MULTI.
        t.cmd("me", &mut me, &["WATCH", "k"]);
        t.cmd("me", &mut me, &["EXEC", "x"]);
        t.cmd("them", &mut them, &["SET", "k", "3"]);
        t.cmd("me", &mut me, &["MULTI"]);
        t.cmd("me", &mut me, &["EXEC"]);
        // A failed EXEC unwatches too.
        t.cmd("me", &mut me, &["WATCH", "k", "j"]);
        t.cmd("them", &mut them, &["SET", "j", "1"]);
        t.cmd("me", &mut me, &["MULTI"]);
        t.cmd("me", &mut me, &["EXEC"]);
        t.cmd("them", &mut them, &["SET", "k", "2"]);
        t.cmd("me", &mut me, &["MULTI"]);
        t.cmd("me", &mut me, &["EXEC"]);
    });
}

#[test]
fn client_list_shows_the_transaction() {
    same_on_both(&[], |s, t| {
        let (mut me, mut other) = (s.conn(), s.conn());
        let my_id = int(&me.val(&["CLIENT", "ID"]));
        let mut show = |t: &mut crate::support::Transcript, what: &str| {
            let list = text(&other.val(&["CLIENT", "LIST", "ID", &my_id.to_string()]));
            let keep: Vec<&str> = list
                .split_whitespace()
                .filter(|f| ["flags=", "multi=", "cmd="].iter().any(|p| f.starts_with(p)))
                .collect();
            t.note(format!("{what}: {}", keep.join(" ")));
        };
        show(t, "idle");
        t.cmd("me", &mut me, &["MULTI"]);
        show(t, "after MULTI");
        t.cmd("me", &mut me, &["SET", "a", "1"]);
        t.cmd("me", &mut me, &["GET", "a"]);
        show(t, "two queued");
        me.cmd(&["CLIENT", "LIST", "ID", &my_id.to_string()]);
        // Seen from inside EXEC: still in MULTI, three queued, running EXEC.
        let reply = me.val(&["EXEC"]);
        let inside = text(&items(&reply)[2]);
        let keep: Vec<&str> = inside
            .split_whitespace()
            .filter(|f| ["flags=", "multi=", "cmd="].iter().any(|p| f.starts_with(p)))
            .collect();
        t.note(format!("inside EXEC: {}", keep.join(" ")));
        show(t, "after EXEC");
        t.cmd("me", &mut me, &["MULTI"]);
        t.cmd("me", &mut me, &["NOSUCH"]);
        show(t, "after a refused command");
        t.cmd("me", &mut me, &["DISCARD"]);
        show(t, "after DISCARD");
    });
}

#[test]
fn transactions_under_memory_pressure_match_redis() {
    same_on_both(&["--maxmemory-policy", "noeviction"], |s, t| {
        let (mut me, mut admin) = (s.conn(), s.conn());
        t.cmd("me", &mut me, &["SET", "k", "1"]);
        t.cmd("me", &mut me, &["MULTI"]);
        t.cmd("me", &mut me, &["SET", "a", "1"]);
        t.cmd("admin", &mut admin, &["CONFIG", "SET", "maxmemory", "1"]);
        // Over the limit, EXEC holding a write is refused and discards the queue.
        t.cmd("me", &mut me, &["EXEC"]);
        t.cmd("me", &mut me, &["MULTI"]);
        // While queuing, every command is refused (queuing would grow memory)...
        t.cmd("me", &mut me, &["GET", "k"]);
        // ...but DISCARD is not.
        t.cmd("me", &mut me, &["DISCARD"]);
        t.cmd("me", &mut me, &["MULTI"]);
        t.cmd("me", &mut me, &["PING"]);
        t.cmd("me", &mut me, &["EXEC"]);
        t.cmd("admin", &mut admin, &["CONFIG", "SET", "maxmemory", "0"]);
        t.cmd("me", &mut me, &["GET", "a"]);
    });
}

#[test]
fn client_pause_write_holds_an_exec_that_writes() {
    same_on_both(&[], |s, t| {
        let (mut me, mut admin) = (s.conn(), s.conn());
        t.cmd("me", &mut me, &["MULTI"]);
        t.cmd("me", &mut me, &["GET", "k"]);
        t.cmd("admin", &mut admin, &["CLIENT", "PAUSE", "400", "WRITE"]);
        // Reads only: not held.
        let start = std::time::Instant::now();
        t.cmd("me", &mut me, &["EXEC"]);
        t.note(format!("read-only EXEC held: {}", start.elapsed() >= Duration::from_millis(300)));
        t.cmd("admin", &mut admin, &["CLIENT", "UNPAUSE"]);
        t.cmd("me", &mut me, &["MULTI"]);
        t.cmd("me", &mut me, &["SET", "k", "1"]);
        t.cmd("admin", &mut admin, &["CLIENT", "PAUSE", "400", "WRITE"]);
        let start = std::time::Instant::now();
        t.cmd("me", &mut me, &["EXEC"]);
        t.note(format!("writing EXEC held: {}", start.elapsed() >= Duration::from_millis(300)));
    });
}

/// The incremental AOF of `s` (written at once with `appendfsync always`), with
/// millisecond timestamps masked.
fn aof_text(s: &ServerProcess) -> String {
    let bytes = crate::support::persist::incr_aof_commands(&s.dir);
    let text = String::from_utf8_lossy(&bytes).replace("\r\n", " ");
    text.split(' ')
        .map(|w| if w.len() == 13 && w.bytes().all(|b| b.is_ascii_digit()) { "<ms>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn exec_reaches_the_aof_as_redis_writes_it() {
    same_on_both(&["--appendonly", "yes", "--appendfsync", "always"], |s, t| {
        let mut c = s.conn();
        let steps: &[&[&str]] = &[
            // A single write is not wrapped; reads leave nothing.
            &["MULTI"],
            &["SET", "a", "1"],
            &["EXEC"],
            &["MULTI"],
            &["GET", "a"],
            &["EXEC"],
            // Several writes are, with the database switches inside.
            &["MULTI"],
            &["SET", "b", "2"],
            &["GET", "a"],
            &["INCR", "c"],
            &["SELECT", "1"],
            &["SET", "k", "1"],
            &["SELECT", "0"],
            &["SET", "k", "2", "EX", "100"],
            &["INCRBYFLOAT", "a", "notanumber"],
            &["EXEC"],
            // An expired key's deletion is part of what a command propagates: inside
            // a transaction's block, and with a command of its own, wrapped with it.
            &["DEBUG", "SET-ACTIVE-EXPIRE", "0"],
            &["SET", "q", "1", "PX", "1"],
            &["SET", "w", "1", "PX", "1"],
            &["SET", "x", "1", "PX", "1"],
            &["SET", "y", "1", "PX", "1"],
            &["DEBUG", "SLEEP", "0.01"],
            &["MULTI"],
            &["SET", "r", "1"],
            &["GET", "q"],
            &["SET", "s", "1"],
            &["EXEC"],
            &["MULTI"],
            &["GET", "w"],
            &["EXEC"],
            &["SET", "x", "2"],
            &["MGET", "y", "nosuch"],
            // A discarded or failed transaction leaves nothing.
            &["MULTI"],
            &["SET", "never", "1"],
            &["DISCARD"],
            &["WATCH", "a"],
            &["SET", "a", "2"],
            &["MULTI"],
            &["SET", "never", "2"],
            &["EXEC"],
        ];
        for args in steps {
            c.cmd(args);
        }
        t.note(aof_text(s));
    });
}

/// Keys spread over many shards move value between them in transactions while readers
/// check, in transactions too, that the total never changes: EXEC must lock every
/// shard it touches at once.
#[test]
fn exec_is_atomic_across_shards() {
    const KEYS: usize = 16;
    const TOTAL: i64 = 1000 * KEYS as i64;
    let server = ServerProcess::redoubt(&[]);
    let keys: Vec<String> = (0..KEYS).map(|i| format!("account:{i}")).collect();
    let mut setup = server.conn();
    for k in &keys {
        setup.cmd(&["SET", k, "1000"]);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut movers = Vec::new();
    for m in 0..3 {
        let (addr, keys, stop) = (server.addr(), keys.clone(), stop.clone());
        movers.push(std::thread::spawn(move || {
            let mut c = crate::support::Conn::connect(addr);
            let mut i = m;
            while !stop.load(Ordering::Relaxed) {
                let (from, to) = (&keys[i % KEYS], &keys[(i * 7 + 3) % KEYS]);
                c.cmd(&["MULTI"]);
                c.cmd(&["DECRBY", from, "3"]);
                c.cmd(&["INCRBY", to, "3"]);
                let reply = c.val(&["EXEC"]);
                assert_eq!(items(&reply).len(), 2);
                i += 1;
            }
        }));
    }
    let mut reader = server.conn();
    for _ in 0..300 {
        reader.cmd(&["MULTI"]);
        let mut args = vec!["MGET"];
        args.extend(keys.iter().map(String::as_str));
        reader.cmd(&args);
        let reply = reader.val(&["EXEC"]);
        let values = items(&items(&reply)[0]).to_vec();
        let sum: i64 = values.iter().map(|v| text(v).parse::<i64>().expect("a number")).sum();
        assert_eq!(sum, TOTAL, "a transaction was seen half done: {values:?}");
    }
    stop.store(true, Ordering::Relaxed);
    for m in movers {
        m.join().expect("mover thread");
    }
    let mut args = vec!["MGET"];
    args.extend(keys.iter().map(String::as_str));
    let sum: i64 = items(&setup.val(&args)).iter().map(|v| text(v).parse::<i64>().unwrap_or(0)).sum();
    assert_eq!(sum, TOTAL);
    assert!(matches!(setup.val(&["PING"]), Value::Simple(_)));
}

/// Redis lets a MULTI queue grow without limit; Redoubt holds it to
/// `client-query-buffer-limit` and refuses the transaction past it.
#[test]
fn the_multi_queue_is_bounded() {
    let server = ServerProcess::redoubt(&["--client-query-buffer-limit", "1mb"]);
    let mut c = server.conn();
    let value = "v".repeat(100 * 1024);
    assert_eq!(c.cmd(&["MULTI"]), b"+OK\r\n");
    let mut refused = 0;
    for i in 0..20 {
        let reply = c.cmd(&["SET", &format!("k{i}"), &value]);
        if reply.starts_with(b"-ERR Transaction discarded") {
            refused += 1;
        } else {
            assert_eq!(reply, b"+QUEUED\r\n");
        }
    }
    assert!(refused > 0, "a 2 MB queue was accepted under a 1 MB limit");
    assert!(text(&c.val(&["EXEC"])).starts_with("EXECABORT"));
    assert_eq!(int(&c.val(&["EXISTS", "k0"])), 0);
    // The connection is fine, and so is a transaction under the limit.
    assert_eq!(c.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["SET", "k0", &value]), b"+QUEUED\r\n");
    assert_eq!(items(&c.val(&["EXEC"])).len(), 1);
}
