//! Blocking list commands with real concurrent clients, each scenario run against
//! redis-server and Redoubt and the transcripts compared: first-come first-served
//! waiters, the order waiters are served in when a command or a transaction readies
//! several keys, BLMOVE chains, keys that get data by RENAME/MOVE/COPY/SORT/SWAPDB, keys
//! deleted or expiring under a waiter, CLIENT UNBLOCK, timeouts, pipelined requests
//! behind a blocked one, RESP3; then properties checked on Redoubt alone: the timeout's
//! timing, cleanup on disconnect, and that no other client ever steals an element
//! pushed for a waiter.

use std::time::{Duration, Instant};

use crate::support::blocking::{block, blocked_clients, REGISTER_TIMEOUT};
use crate::support::{encode, esc, same_on_both, wait_for, Conn, ServerProcess, Transcript, Value};

/// The reply a blocked client got, recorded.
fn served(t: &mut Transcript, who: &str, c: &mut Conn) {
    t.frames(who, c, 1);
}

#[test]
fn waiters_are_served_first_come_first_served() {
    same_on_both(&[], |s, t| {
        let (mut a, mut b, mut c, mut p) = (s.conn(), s.conn(), s.conn(), s.conn());
        block(t, "a", &mut a, &mut p, &["BLPOP", "q", "0"], 1);
        block(t, "b", &mut b, &mut p, &["BRPOP", "q", "0"], 2);
        block(t, "c", &mut c, &mut p, &["BLPOP", "q", "0"], 3);
        t.cmd("p", &mut p, &["RPUSH", "q", "1", "2"]);
        served(t, "a", &mut a);
        served(t, "b", &mut b);
        t.silence("c", &mut c);
        t.cmd("p", &mut p, &["LLEN", "q"]);
        t.note(format!("blocked {}", blocked_clients(&mut p)));
        t.cmd("p", &mut p, &["LPUSH", "q", "3", "4", "5"]);
        served(t, "c", &mut c);
        t.cmd("p", &mut p, &["LRANGE", "q", "0", "-1"]);
    });
}

#[test]
fn several_keys_readied_by_one_transaction_are_served_in_signal_order() {
    same_on_both(&[], |s, t| {
        let (mut a, mut b, mut c, mut d, mut p) = (s.conn(), s.conn(), s.conn(), s.conn(), s.conn());
        block(t, "a", &mut a, &mut p, &["BLPOP", "k1", "0"], 1);
        block(t, "b", &mut b, &mut p, &["BLPOP", "k2", "0"], 2);
        block(t, "c", &mut c, &mut p, &["BLPOP", "k1", "k2", "0"], 3);
        block(t, "d", &mut d, &mut p, &["BLMPOP", "0", "2", "k3", "k2", "LEFT", "COUNT", "2"], 4);
        t.cmd("p", &mut p, &["MULTI"]);
        t.cmd("p", &mut p, &["RPUSH", "k2", "x"]);
        t.cmd("p", &mut p, &["RPUSH", "k1", "y", "z"]);
        t.cmd("p", &mut p, &["RPUSH", "k2", "w", "v", "u"]);
        t.cmd("p", &mut p, &["EXEC"]);
        for (who, conn) in [("a", &mut a), ("b", &mut b), ("c", &mut c), ("d", &mut d)] {
            served(t, who, conn);
        }
        t.cmd("p", &mut p, &["LRANGE", "k1", "0", "-1"]);
        t.cmd("p", &mut p, &["LRANGE", "k2", "0", "-1"]);
    });
}

#[test]
fn a_push_and_pop_in_one_transaction_leave_the_waiter_waiting() {
    same_on_both(&[], |s, t| {
        let (mut a, mut p) = (s.conn(), s.conn());
        block(t, "a", &mut a, &mut p, &["BLPOP", "k", "0"], 1);
        t.cmd("p", &mut p, &["MULTI"]);
        t.cmd("p", &mut p, &["LPUSH", "k", "v"]);
        t.cmd("p", &mut p, &["LPOP", "k"]);
        t.cmd("p", &mut p, &["EXEC"]);
        t.silence("a", &mut a);
        t.cmd("p", &mut p, &["MULTI"]);
        t.cmd("p", &mut p, &["LPUSH", "k", "v1", "v2"]);
        t.cmd("p", &mut p, &["LPOP", "k"]);
        t.cmd("p", &mut p, &["EXEC"]);
        served(t, "a", &mut a);
        t.cmd("p", &mut p, &["EXISTS", "k"]);
    });
}

#[test]
fn blmove_feeds_the_waiters_of_its_destination() {
    same_on_both(&[], |s, t| {
        let (mut a, mut b, mut c, mut p) = (s.conn(), s.conn(), s.conn(), s.conn());
        block(t, "a", &mut a, &mut p, &["BLMOVE", "src", "mid", "LEFT", "RIGHT", "0"], 1);
        block(t, "b", &mut b, &mut p, &["BRPOPLPUSH", "mid", "dst", "0"], 2);
        block(t, "c", &mut c, &mut p, &["BLPOP", "dst", "0"], 3);
        t.cmd("p", &mut p, &["RPUSH", "src", "hop"]);
        served(t, "a", &mut a);
        served(t, "b", &mut b);
        served(t, "c", &mut c);
        t.cmd("p", &mut p, &["KEYS", "*"]);
        // The destination's type is checked when the waiter is served.
        t.cmd("p", &mut p, &["SET", "str", "x"]);
        block(t, "a", &mut a, &mut p, &["BLMOVE", "src", "str", "LEFT", "RIGHT", "0"], 1);
        t.cmd("p", &mut p, &["RPUSH", "src", "v"]);
        served(t, "a", &mut a);
        t.cmd("p", &mut p, &["LRANGE", "src", "0", "-1"]);
        // A waiter moving a list onto itself.
        t.cmd("p", &mut p, &["DEL", "src"]);
        block(t, "a", &mut a, &mut p, &["BLMOVE", "src", "src", "RIGHT", "LEFT", "0"], 1);
        t.cmd("p", &mut p, &["RPUSH", "src", "1", "2"]);
        served(t, "a", &mut a);
        t.cmd("p", &mut p, &["LRANGE", "src", "0", "-1"]);
    });
}

#[test]
fn keys_that_get_data_by_rename_move_copy_and_sort_serve_waiters() {
    same_on_both(&[], |s, t| {
        let (mut a, mut p) = (s.conn(), s.conn());
        t.cmd("p", &mut p, &["RPUSH", "other", "r1", "r2"]);
        block(t, "a", &mut a, &mut p, &["BLPOP", "k", "0"], 1);
        t.cmd("p", &mut p, &["RENAME", "other", "k"]);
        served(t, "a", &mut a);
        t.cmd("p", &mut p, &["LRANGE", "k", "0", "-1"]);
        block(t, "a", &mut a, &mut p, &["BRPOP", "c", "0"], 1);
        t.cmd("p", &mut p, &["COPY", "k", "c"]);
        served(t, "a", &mut a);
        t.cmd("p", &mut p, &["SELECT", "2"]);
        t.cmd("p", &mut p, &["RPUSH", "m", "from-db2"]);
        t.cmd("p", &mut p, &["SELECT", "0"]);
        block(t, "a", &mut a, &mut p, &["BLPOP", "m", "0"], 1);
        t.cmd("p", &mut p, &["SELECT", "2"]);
        t.cmd("p", &mut p, &["MOVE", "m", "0"]);
        t.cmd("p", &mut p, &["SELECT", "0"]);
        served(t, "a", &mut a);
        t.cmd("p", &mut p, &["RPUSH", "nums", "3", "1", "2"]);
        block(t, "a", &mut a, &mut p, &["BLPOP", "sorted", "0"], 1);
        t.cmd("p", &mut p, &["SORT", "nums", "STORE", "sorted"]);
        served(t, "a", &mut a);
        t.cmd("p", &mut p, &["LRANGE", "sorted", "0", "-1"]);
        t.cmd("p", &mut p, &["SELECT", "3"]);
        t.cmd("p", &mut p, &["RPUSH", "sw", "swapped-in"]);
        t.cmd("p", &mut p, &["SELECT", "0"]);
        block(t, "a", &mut a, &mut p, &["BLPOP", "sw", "0"], 1);
        t.cmd("p", &mut p, &["SWAPDB", "3", "0"]);
        served(t, "a", &mut a);
    });
}

#[test]
fn a_key_deleted_expired_or_of_another_type_keeps_the_waiter_waiting() {
    same_on_both(&[], |s, t| {
        let (mut a, mut p) = (s.conn(), s.conn());
        block(t, "a", &mut a, &mut p, &["BLPOP", "k", "0"], 1);
        t.cmd("p", &mut p, &["SET", "k", "string"]);
        t.silence("a", &mut a);
        t.cmd("p", &mut p, &["DEL", "k"]);
        t.cmd("p", &mut p, &["SADD", "k", "member"]);
        t.silence("a", &mut a);
        t.cmd("p", &mut p, &["DEL", "k"]);
        t.silence("a", &mut a);
        t.cmd("p", &mut p, &["MULTI"]);
        t.cmd("p", &mut p, &["RPUSH", "k", "soon-gone"]);
        t.cmd("p", &mut p, &["PEXPIRE", "k", "1"]);
        t.cmd("p", &mut p, &["DEL", "k"]);
        t.cmd("p", &mut p, &["EXEC"]);
        t.silence("a", &mut a);
        t.note(format!("blocked {}", blocked_clients(&mut p)));
        // SET, then DEL, then LPUSH: the push creates the list and serves the waiter.
        t.cmd("p", &mut p, &["SET", "k", "string"]);
        t.cmd("p", &mut p, &["DEL", "k"]);
        t.cmd("p", &mut p, &["LPUSH", "k", "at-last"]);
        served(t, "a", &mut a);
        t.note(format!("blocked {}", blocked_clients(&mut p)));
    });
}

/// CLIENT UNBLOCK of client `id` with `rest`, recorded without the id (ids differ
/// between the servers).
fn unblock(t: &mut Transcript, p: &mut Conn, id: &str, rest: &[&str]) {
    let mut args = vec!["CLIENT", "UNBLOCK", id];
    args.extend_from_slice(rest);
    let reply = p.cmd(&args);
    t.note(format!("p CLIENT UNBLOCK <a> {}: {}", rest.join(" "), esc(&reply)));
}

#[test]
fn client_unblock_and_timeouts() {
    same_on_both(&[], |s, t| {
        let (mut a, mut p) = (s.conn(), s.conn());
        let id = String::from_utf8_lossy(&a.cmd(&["CLIENT", "ID"])).trim_start_matches(':').trim().to_string();
        unblock(t, &mut p, &id, &[]);
        block(t, "a", &mut a, &mut p, &["BLPOP", "k", "0"], 1);
        let list = String::from_utf8_lossy(&p.cmd(&["CLIENT", "LIST", "ID", &id])).into_owned();
        t.note(format!("flags: {}", list.split_whitespace().find(|f| f.starts_with("flags=")).unwrap_or("?")));
        unblock(t, &mut p, &id, &["TIMEOUT"]);
        served(t, "a", &mut a);
        unblock(t, &mut p, &id, &[]);
        block(t, "a", &mut a, &mut p, &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0"], 1);
        unblock(t, &mut p, &id, &["ERROR"]);
        served(t, "a", &mut a);
        block(t, "a", &mut a, &mut p, &["BLMPOP", "0", "1", "k", "LEFT"], 1);
        unblock(t, &mut p, &id, &[]);
        served(t, "a", &mut a);
        unblock(t, &mut p, &id, &["FOO"]);
        t.cmd("p", &mut p, &["CLIENT", "UNBLOCK", "x", "ERROR"]);
        unblock(t, &mut p, &id, &["ERROR", "x"]);
        // Timeouts: every command's null.
        for args in [
            &["BLPOP", "k", "0.05"][..],
            &["BRPOP", "k", "k2", "0.05"],
            &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.05"],
            &["BRPOPLPUSH", "k", "d", "0.05"],
            &["BLMPOP", "0.05", "1", "k", "LEFT"],
        ] {
            t.cmd("a", &mut a, args);
        }
        a.cmd(&["HELLO", "3"]);
        t.cmd("a", &mut a, &["BLPOP", "k", "0.05"]);
        t.cmd("a", &mut a, &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.05"]);
        block(t, "a", &mut a, &mut p, &["BLMPOP", "0", "1", "k", "RIGHT"], 1);
        unblock(t, &mut p, &id, &[]);
        served(t, "a", &mut a);
        block(t, "a", &mut a, &mut p, &["BLPOP", "k", "0"], 1);
        t.cmd("p", &mut p, &["RPUSH", "k", "resp3"]);
        served(t, "a", &mut a);
    });
}

#[test]
fn requests_pipelined_behind_a_blocked_command_run_after_it() {
    same_on_both(&[], |s, t| {
        let (mut a, mut p) = (s.conn(), s.conn());
        let mut batch = encode(&["SET", "before", "1"]);
        batch.extend(encode(&["BLPOP", "k", "0"]));
        batch.extend(encode(&["GET", "before"]));
        batch.extend(encode(&["LLEN", "k"]));
        a.send_raw(&batch);
        t.note("a SET, BLPOP, GET, LLEN in one write");
        t.frames("a", &mut a, 1);
        wait_for("the client to block", REGISTER_TIMEOUT, || blocked_clients(&mut p) == 1);
        t.silence("a", &mut a);
        t.cmd("p", &mut p, &["RPUSH", "k", "v", "w"]);
        t.frames("a", &mut a, 3);
        // Requests sent while blocked wait too.
        block(t, "a", &mut a, &mut p, &["BLPOP", "k2", "0"], 1);
        a.send(&["PING"]);
        t.silence("a", &mut a);
        t.cmd("p", &mut p, &["RPUSH", "k2", "x"]);
        t.frames("a", &mut a, 2);
    });
}

#[test]
fn blocking_commands_in_transactions_and_scripts_answer_at_once() {
    same_on_both(&[], |s, t| {
        let mut a = s.conn();
        t.cmd("a", &mut a, &["MULTI"]);
        t.cmd("a", &mut a, &["BLPOP", "k", "0"]);
        t.cmd("a", &mut a, &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0"]);
        t.cmd("a", &mut a, &["BLMPOP", "0", "1", "k", "LEFT"]);
        t.cmd("a", &mut a, &["EXEC"]);
        t.cmd("a", &mut a, &["EVAL", "return redis.call('BLPOP', KEYS[1], 0)", "1", "k"]);
        t.cmd(
            "a",
            &mut a,
            &["EVAL", "return redis.call('BLMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT', 0)", "2", "k", "d"],
        );
        t.cmd("a", &mut a, &["RPUSH", "k", "v"]);
        t.cmd("a", &mut a, &["EVAL", "return redis.call('BRPOP', KEYS[1], 0)", "1", "k"]);
    });
}

/// Starts a Redoubt for the single-server checks below.
fn redoubt() -> ServerProcess {
    ServerProcess::redoubt(&[])
}

#[test]
fn a_timeout_returns_null_after_roughly_the_timeout() {
    let s = redoubt();
    let mut a = s.conn();
    for (timeout, ms) in [("0.3", 300u128), ("1", 1000)] {
        let start = Instant::now();
        let reply = a.cmd(&["BLPOP", "k", timeout]);
        let took = start.elapsed().as_millis();
        assert_eq!(reply, b"*-1\r\n");
        assert!(took >= ms && took < ms + 400, "BLPOP {timeout} took {took} ms");
    }
    let mut p = s.conn();
    assert_eq!(blocked_clients(&mut p), 0);
}

#[test]
fn a_disconnected_or_killed_waiter_is_forgotten() {
    let s = redoubt();
    let mut p = s.conn();
    let mut a = s.conn();
    a.send(&["BLPOP", "k", "0"]);
    wait_for("the client to block", REGISTER_TIMEOUT, || blocked_clients(&mut p) == 1);
    drop(a);
    wait_for("the waiter to go", REGISTER_TIMEOUT, || blocked_clients(&mut p) == 0);
    assert_eq!(p.cmd(&["RPUSH", "k", "v"]), b":1\r\n", "nobody took the element");
    let mut b = s.conn();
    let id = String::from_utf8_lossy(&b.cmd(&["CLIENT", "ID"])).trim_start_matches(':').trim().to_string();
    b.send(&["BLPOP", "k2", "0"]);
    wait_for("the client to block", REGISTER_TIMEOUT, || blocked_clients(&mut p) == 1);
    assert_eq!(p.cmd(&["CLIENT", "KILL", "ID", &id]), b":1\r\n");
    wait_for("the waiter to go", REGISTER_TIMEOUT, || blocked_clients(&mut p) == 0);
    assert_eq!(p.cmd(&["LPUSH", "k2", "v"]), b":1\r\n");
}

/// A thief hammers LPOP while a producer pushes one element at a time for a blocked
/// consumer: every element must reach the consumer, none the thief (Redis serves the
/// waiter before any other command runs).
#[test]
fn no_client_steals_an_element_pushed_for_a_waiter() {
    let s = redoubt();
    let addr = s.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thief = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = Conn::connect(addr);
            let mut stolen = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if c.val(&["LPOP", "q"]) != Value::Null {
                    stolen += 1;
                }
            }
            stolen
        })
    };
    let mut consumer = s.conn();
    let mut producer = s.conn();
    let mut admin = s.conn();
    for i in 0..200 {
        consumer.send(&["BLPOP", "q", "0"]);
        wait_for("the consumer to block", REGISTER_TIMEOUT, || blocked_clients(&mut admin) == 1);
        let v = format!("v{i}");
        producer.cmd(&["RPUSH", "q", &v]);
        let got = consumer.read_value();
        assert_eq!(got, Value::Array(vec![Value::Bulk(b"q".to_vec()), Value::Bulk(v.into_bytes())]));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(thief.join().ok(), Some(0), "the thief got elements pushed for the waiter");
}

/// Two producers and four consumers on two queues, with BLMOVE between them: every
/// element is delivered exactly once.
#[test]
fn concurrent_producers_and_consumers_lose_and_duplicate_nothing() {
    let s = redoubt();
    let addr = s.addr();
    let per_producer = 500;
    let consumers: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                c.timeout = Duration::from_secs(30);
                let mut got = Vec::new();
                loop {
                    let reply = if i % 2 == 0 {
                        c.val(&["BLPOP", "out", "2"])
                    } else {
                        c.val(&["BLMOVE", "in", "out", "LEFT", "RIGHT", "2"])
                    };
                    match reply {
                        Value::Null => return got,
                        Value::Array(parts) if parts.len() == 2 => got.push(parts[1].clone()),
                        Value::Bulk(_) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                for i in 0..per_producer {
                    let key = if i % 3 == 0 { "out" } else { "in" };
                    c.cmd(&["RPUSH", key, &format!("{p}:{i}")]);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    let mut all: Vec<Value> = consumers.into_iter().flat_map(|c| c.join().expect("consumer")).collect();
    let mut c = Conn::connect(addr);
    // What nobody consumed is still there.
    while let Value::Bulk(v) = c.val(&["LPOP", "out"]) {
        all.push(Value::Bulk(v));
    }
    while let Value::Bulk(v) = c.val(&["LPOP", "in"]) {
        all.push(Value::Bulk(v));
    }
    let mut seen: Vec<Vec<u8>> =
        all.into_iter().map(|v| if let Value::Bulk(b) = v { b } else { panic!("{v:?}") }).collect();
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!(before, seen.len(), "an element was delivered twice");
    assert_eq!(seen.len(), 2 * per_producer, "an element was lost");
}
