//! Pub/Sub against redis-server: (un)subscribe confirmations, message, pmessage and
//! smessage frames in RESP2 and RESP3 (byte for byte), receiver counts, PUBSUB
//! introspection, the subscribed state of RESP2 clients, CLIENT LIST and INFO fields,
//! and the disconnection of subscribers that do not read.

use std::time::Duration;

use crate::support::{
    esc, info_field, int, items, same_on_both, split_aggregate, text, to_value, wait_for, Conn, Diff, ServerProcess,
    Value,
};

#[test]
fn subscribe_confirmations_and_subscribed_state_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
# Unsubscribing from nothing still answers, with a null name.
UNSUBSCRIBE
PUNSUBSCRIBE
SUNSUBSCRIBE
UNSUBSCRIBE nosuch
[replies 3] SUBSCRIBE a b a
[replies 2] PSUBSCRIBE p* p?
SSUBSCRIBE s1
# RESP2 subscribed state: only (P|S)(UN)SUBSCRIBE, PING, QUIT, RESET.
GET x
CLIENT LIST
MULTI
CONFIG GET maxmemory
FOO
SET
PING
PING hello
[replies 2] UNSUBSCRIBE a b
[replies 2] PUNSUBSCRIBE p* nosuch
# Still subscribed (p? and the shard channel), so still restricted.
ECHO x
PUNSUBSCRIBE
PING
SUNSUBSCRIBE s1
# Subscribed to nothing: a normal client again.
PING
ECHO back
[replies 2] SUBSCRIBE x y
RESET
PING
GET x
SSUBSCRIBE s1 s1
SUNSUBSCRIBE
PING
"#,
    );
    d.finish();
}

#[test]
fn resp3_subscribers_get_push_frames_and_may_run_any_command() {
    same_on_both(&[], |s, t| {
        let (mut sub, mut publ) = (s.conn3(), s.conn());
        t.cmd_frames("sub", &mut sub, &["SUBSCRIBE", "ch", "other"], 2);
        t.cmd_frames("sub", &mut sub, &["PSUBSCRIBE", "c*"], 1);
        t.cmd_frames("sub", &mut sub, &["SSUBSCRIBE", "sh"], 1);
        // Commands run as usual, pushes and all.
        t.cmd("sub", &mut sub, &["SET", "k", "v"]);
        t.cmd("sub", &mut sub, &["GET", "k"]);
        t.cmd("sub", &mut sub, &["PING"]);
        t.cmd("pub", &mut publ, &["PUBLISH", "ch", "hello"]);
        t.frames("sub", &mut sub, 2);
        t.cmd("pub", &mut publ, &["SPUBLISH", "sh", "sharded"]);
        t.frames("sub", &mut sub, 1);
        // Its own message comes ahead of its own PUBLISH's reply.
        t.cmd("sub", &mut sub, &["PUBLISH", "other", "to myself"]);
        // Named: without names Redis answers in its hash table's order.
        t.cmd_frames("sub", &mut sub, &["UNSUBSCRIBE", "ch", "other"], 2);
        t.cmd_frames("sub", &mut sub, &["PUNSUBSCRIBE"], 1);
        t.cmd_frames("sub", &mut sub, &["SUNSUBSCRIBE", "sh", "nosuch"], 2);
        t.cmd_frames("sub", &mut sub, &["UNSUBSCRIBE"], 1);
        t.cmd("pub", &mut publ, &["PUBLISH", "ch", "nobody"]);
        t.silence("sub", &mut sub);
    });
}

#[test]
fn messages_patterns_and_shard_channels_match_redis() {
    same_on_both(&[], |s, t| {
        let (mut a, mut b, mut publ) = (s.conn(), s.conn(), s.conn());
        t.cmd_frames("a", &mut a, &["SUBSCRIBE", "news", "bin"], 2);
        t.cmd_frames("a", &mut a, &["PSUBSCRIBE", "n*s", "h?llo", "[xy]z", "a\\*b"], 4);
        t.cmd_frames("b", &mut b, &["PSUBSCRIBE", "*"], 1);
        t.cmd_frames("b", &mut b, &["SSUBSCRIBE", "news"], 1);
        // Channel and matching pattern: delivered (and counted) once for each.
        t.cmd("pub", &mut publ, &["PUBLISH", "news", "one"]);
        t.frames("a", &mut a, 2);
        t.frames("b", &mut b, 1);
        t.cmd("pub", &mut publ, &["PUBLISH", "hello", "two"]);
        t.frames("a", &mut a, 1);
        t.frames("b", &mut b, 1);
        t.cmd("pub", &mut publ, &["PUBLISH", "a*b", "literal star"]);
        t.frames("a", &mut a, 1);
        t.frames("b", &mut b, 1);
        t.cmd("pub", &mut publ, &["PUBLISH", "bin", "\x00\r\n\u{ff}"]);
        t.frames("a", &mut a, 1);
        t.frames("b", &mut b, 1);
        // Shard channels are only reached by SPUBLISH, and patterns never.
        t.cmd("pub", &mut publ, &["SPUBLISH", "news", "sharded"]);
        t.frames("b", &mut b, 1);
        t.cmd("pub", &mut publ, &["SPUBLISH", "nobody", "x"]);
        // An empty channel matches no pattern, not even `*`.
        t.cmd("pub", &mut publ, &["PUBLISH", "", "empty"]);
        t.cmd("pub", &mut publ, &["PUBLISH", "zz", "none"]);
        t.silence("a", &mut a);
        t.silence("b", &mut b);
    });
}

/// Sorts the elements of an array reply, so replies whose order is a hash table's are
/// comparable.
fn sorted(reply: &[u8]) -> String {
    match split_aggregate(reply) {
        Some((header, mut elems)) => {
            elems.sort();
            format!("{} {}", esc(&header), elems.iter().map(|e| esc(e)).collect::<Vec<_>>().join(" "))
        }
        None => esc(reply),
    }
}

#[test]
fn pubsub_introspection_info_and_client_list_match_redis() {
    same_on_both(&[], |s, t| {
        let (mut a, mut b, mut q) = (s.conn(), s.conn3(), s.conn());
        t.cmd_frames("a", &mut a, &["SUBSCRIBE", "c1", "c2", "news.1"], 3);
        t.cmd_frames("a", &mut a, &["PSUBSCRIBE", "news.*", "x*"], 2);
        t.cmd_frames("b", &mut b, &["SUBSCRIBE", "c1"], 1);
        t.cmd_frames("b", &mut b, &["PSUBSCRIBE", "news.*"], 1);
        t.cmd_frames("b", &mut b, &["SSUBSCRIBE", "s1", "s2"], 2);
        for args in [
            &["PUBSUB", "CHANNELS"][..],
            &["PUBSUB", "CHANNELS", "c*"],
            &["PUBSUB", "CHANNELS", "nomatch*"],
            &["PUBSUB", "SHARDCHANNELS"],
            &["PUBSUB", "SHARDCHANNELS", "s1"],
        ] {
            let reply = q.cmd(args);
            t.note(format!("{}: {}", args.join(" "), sorted(&reply)));
        }
        t.cmd("q", &mut q, &["PUBSUB", "NUMSUB", "c1", "c2", "nosuch", "c1"]);
        t.cmd("q", &mut q, &["PUBSUB", "NUMSUB"]);
        t.cmd("q", &mut q, &["PUBSUB", "SHARDNUMSUB", "s1", "s3"]);
        t.cmd("q", &mut q, &["PUBSUB", "NUMPAT"]);
        t.cmd("q", &mut q, &["PUBSUB", "CHANNELS", "a", "b"]);
        t.cmd("q", &mut q, &["PUBSUB", "NUMPAT", "x"]);
        t.cmd("q", &mut q, &["PUBSUB", "FOO"]);
        t.cmd("q", &mut q, &["PUBSUB"]);
        let info = text(&q.val(&["INFO", "stats"]));
        for f in ["pubsub_channels", "pubsub_patterns", "pubsubshard_channels"] {
            t.note(format!("{f}: {:?}", info_field(&info, f)));
        }
        let list = text(&q.val(&["CLIENT", "LIST"]));
        for line in list.lines() {
            let keep: Vec<&str> = line
                .split(' ')
                .filter(|f| ["flags=", "sub=", "psub=", "ssub=", "resp="].iter().any(|p| f.starts_with(p)))
                .collect();
            t.note(keep.join(" "));
        }
        t.cmd("q", &mut q, &["CLIENT", "KILL", "TYPE", "pubsub"]);
        wait_for("subscribers to be gone", Duration::from_secs(5), || {
            items(&q.val(&["PUBSUB", "NUMSUB", "c1"]))[1] == Value::Int(0)
        });
        t.cmd("q", &mut q, &["PUBSUB", "NUMPAT"]);
        t.cmd("q", &mut q, &["PUBSUB", "SHARDNUMSUB", "s1"]);
    });
}

#[test]
fn pubsub_inside_transactions_matches_redis() {
    same_on_both(&[], |s, t| {
        let (mut a, mut publ) = (s.conn(), s.conn());
        t.cmd("a", &mut a, &["MULTI"]);
        t.cmd("a", &mut a, &["SUBSCRIBE", "m", "n"]);
        t.cmd("a", &mut a, &["SSUBSCRIBE", "o"]);
        t.cmd("a", &mut a, &["PING"]);
        // EXEC announces three replies and sends four (SUBSCRIBE answers per
        // channel): Redis's own bytes, kept as they are. Read as frames, that is the
        // array of the first three, then the fourth.
        t.cmd_frames("a", &mut a, &["EXEC"], 2);
        t.cmd("a", &mut a, &["PING"]);
        t.cmd("pub", &mut publ, &["MULTI"]);
        t.cmd("pub", &mut publ, &["PUBLISH", "m", "in a transaction"]);
        t.cmd("pub", &mut publ, &["SPUBLISH", "o", "sharded"]);
        t.cmd("pub", &mut publ, &["EXEC"]);
        t.frames("a", &mut a, 1);
        t.silence("a", &mut a);
        let mut r3 = s.conn3();
        t.cmd_frames("r3", &mut r3, &["SUBSCRIBE", "self"], 1);
        t.cmd("r3", &mut r3, &["MULTI"]);
        t.cmd("r3", &mut r3, &["PUBLISH", "self", "x"]);
        t.cmd("r3", &mut r3, &["PUBLISH", "self", "y"]);
        // Pushes to itself interleave with the EXEC array's elements, as in Redis.
        t.cmd("r3", &mut r3, &["EXEC"]);
    });
}

/// A subscriber that stops reading while `publish` floods it: records whether it was
/// disconnected, on both servers.
fn flood_until_gone(limits: &'static str, message_bytes: usize, publish_for: Duration) {
    same_on_both(&[], |s, t| {
        let mut admin = s.conn();
        t.cmd("admin", &mut admin, &["CONFIG", "SET", "client-output-buffer-limit", limits]);
        let mut sub = s.conn();
        t.cmd("sub", &mut sub, &["SUBSCRIBE", "flood"]);
        let payload = "x".repeat(message_bytes);
        let start = std::time::Instant::now();
        let mut gone = false;
        // Bounded: the servers must drop the subscriber well within this.
        while start.elapsed() < publish_for + Duration::from_secs(20) {
            let receivers = int(&admin.val(&["PUBLISH", "flood", &payload]));
            if receivers == 1 {
                continue;
            }
            let numsub = admin.val(&["PUBSUB", "NUMSUB", "flood"]);
            if items(&numsub)[1] == Value::Int(0) {
                gone = true;
                break;
            }
        }
        t.note(format!("subscriber disconnected: {gone}"));
        t.note(format!("published for at least the soft seconds: {}", start.elapsed() >= publish_for));
        // The killed subscriber's socket is closed.
        let closed = sub.read_until_close(Duration::from_secs(30)).is_ok();
        t.note(format!("subscriber socket closed: {closed}"));
        t.cmd("admin", &mut admin, &["PING"]);
    });
}

#[test]
fn a_subscriber_over_the_hard_limit_is_disconnected() {
    flood_until_gone("pubsub 1048576 0 0", 64 * 1024, Duration::ZERO);
}

#[test]
fn a_subscriber_over_the_soft_limit_for_its_seconds_is_disconnected() {
    flood_until_gone("pubsub 0 262144 1", 16 * 1024, Duration::from_secs(1));
}

#[test]
fn a_fast_subscriber_is_never_disconnected() {
    let server = ServerProcess::redoubt(&["--client-output-buffer-limit", "pubsub 65536 0 0"]);
    let (mut sub, mut publ) = (server.conn(), server.conn());
    sub.cmd(&["SUBSCRIBE", "c"]);
    // Each message is read before the next is sent: the backlog stays tiny.
    for i in 0..2000 {
        let msg = format!("message {i}");
        assert_eq!(int(&publ.val(&["PUBLISH", "c", &msg])), 1);
        let frame = sub.read_frame();
        assert!(frame.ends_with(format!("{msg}\r\n").as_bytes()), "{}", esc(&frame));
    }
}

#[test]
fn unsubscribe_all_answers_every_subscription() {
    // Redis answers in its hash table's order; the set of answers and their falling
    // counts must be the same.
    same_on_both(&[], |s, t| {
        let mut c: Conn = s.conn();
        t.cmd_frames("c", &mut c, &["SUBSCRIBE", "a", "b", "c"], 3);
        c.send(&["UNSUBSCRIBE"]);
        let mut names = Vec::new();
        let mut counts = Vec::new();
        for _ in 0..3 {
            let v = to_value(&c.read_frame());
            names.push(text(&items(&v)[1]));
            counts.push(int(&items(&v)[2]));
        }
        names.sort();
        t.note(format!("{names:?} {counts:?}"));
        t.cmd("c", &mut c, &["PING"]);
    });
}
