//! CLIENT: names, INFO/LIST fields, KILL with every filter, REPLY OFF/SKIP/ON, PAUSE
//! WRITE/ALL, errors. Behaviour tests run on redis-server too, so each assertion is
//! checked against the oracle before it is held against Redoubt.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::{esc, int, text, Conn, Diff, ServerProcess};

/// How long "no reply yet" is watched for.
const QUIET: Duration = Duration::from_millis(300);

fn both(args: &[&str]) -> [ServerProcess; 2] {
    [ServerProcess::redis(args), ServerProcess::redoubt(args)]
}

/// `k=v` fields of one CLIENT LIST / CLIENT INFO line, in order.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn client_lines(c: &mut Conn, args: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut all = vec!["CLIENT", "LIST"];
    all.extend_from_slice(args);
    let v = c.val(&all);
    text(&v).lines().filter(|l| !l.is_empty()).map(|l| fields(l).into_iter().collect()).collect()
}

#[test]
fn client_subcommand_replies_and_errors_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
CLIENT GETNAME
CLIENT SETNAME myname
CLIENT GETNAME
CLIENT SETNAME "my name"
CLIENT SETNAME "a\nb"
CLIENT SETNAME "\x7f"
CLIENT SETNAME "caf\xc3\xa9"
CLIENT SETNAME !~
CLIENT GETNAME
CLIENT SETNAME ""
CLIENT GETNAME
CLIENT REPLY FOO
CLIENT NO-EVICT on
CLIENT NO-EVICT OFF
CLIENT NO-EVICT maybe
CLIENT UNBLOCK 999999
CLIENT UNBLOCK 999999 TIMEOUT
CLIENT UNBLOCK 999999 ERROR
CLIENT UNBLOCK abc
CLIENT UNBLOCK 1 FOO
CLIENT PAUSE abc
CLIENT PAUSE -1
CLIENT PAUSE 10 FOO
CLIENT PAUSE 0
CLIENT UNPAUSE
CLIENT KILL 1.2.3.4:5
CLIENT KILL nonsense
CLIENT KILL ID abc
CLIENT KILL ID 0
CLIENT KILL ID -1
CLIENT KILL ID 999999
CLIENT KILL TYPE foo
CLIENT KILL TYPE normal SKIPME maybe
CLIENT KILL FOO bar
CLIENT KILL ADDR 1.2.3.4:5
CLIENT KILL LADDR 1.2.3.4:5
CLIENT KILL USER nosuchuser
CLIENT KILL ID 999999 TYPE master
CLIENT KILL TYPE pubsub
CLIENT KILL TYPE replica
CLIENT KILL TYPE slave
CLIENT KILL TYPE master
CLIENT KILL ID
CLIENT LIST TYPE foo
CLIENT LIST ID abc
CLIENT LIST ID 0
CLIENT LIST FOO
CLIENT LIST ID 999999
CLIENT LIST TYPE pubsub
CLIENT LIST TYPE master
CLIENT LIST TYPE replica
CLIENT LIST TYPE normal extra
[type] CLIENT INFO
[type] CLIENT ID
"#,
    );
}

#[test]
fn client_info_fields_match_redis() {
    let mut per_server = Vec::new();
    for s in both(&[]) {
        let mut c = s.conn();
        c.cmd(&["CLIENT", "SETNAME", "probe"]);
        c.cmd(&["SELECT", "3"]);
        let info = text(&c.val(&["CLIENT", "INFO"]));
        assert!(info.ends_with('\n'), "{}: CLIENT INFO ends with a newline: {info:?}", s.flavor.name());
        let f = fields(info.trim_end());
        let local = c.local_addr();
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        assert_eq!(get("addr"), local.to_string(), "{}: addr", s.flavor.name());
        assert_eq!(get("laddr"), s.addr().to_string(), "{}: laddr", s.flavor.name());
        assert_eq!(get("id"), int(&c.val(&["CLIENT", "ID"])).to_string(), "{}: id", s.flavor.name());
        per_server.push(f);
    }
    let names = |f: &Vec<(String, String)>| f.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(names(&per_server[1]), names(&per_server[0]), "CLIENT INFO field names and order (left: redoubt)");
    // Fields whose values are determined by what the client did.
    let get = |f: &Vec<(String, String)>, key: &str| f.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    for key in ["name", "flags", "db", "sub", "psub", "ssub", "multi", "events", "cmd", "user", "redir", "resp"] {
        assert_eq!(
            get(&per_server[1], key),
            get(&per_server[0], key),
            "CLIENT INFO {key}= (left: redoubt, right: redis)"
        );
    }
    // Seconds since the connection and its last command: a new connection's, so 0, or
    // 1 when a second boundary fell in between (on either server).
    for key in ["age", "idle"] {
        for f in &per_server {
            let v = get(f, key).and_then(|v| v.parse::<u64>().ok());
            assert!(matches!(v, Some(0 | 1)), "CLIENT INFO {key}= of a new connection: {v:?}");
        }
    }
}

#[test]
fn client_list_shows_every_connection() {
    for s in both(&[]) {
        let mut me = s.conn();
        let mut others: Vec<Conn> = (0..3).map(|_| s.conn()).collect();
        let mut ids = Vec::new();
        for (i, o) in others.iter_mut().enumerate() {
            assert_eq!(o.cmd(&["CLIENT", "SETNAME", &format!("other{i}")]), b"+OK\r\n");
            ids.push(int(&o.val(&["CLIENT", "ID"])));
        }
        let my_id = int(&me.val(&["CLIENT", "ID"]));
        let lines = client_lines(&mut me, &[]);
        assert_eq!(lines.len(), 4, "{}: {lines:?}", s.flavor.name());
        for (i, o) in others.iter().enumerate() {
            let line = lines.iter().find(|l| l["id"] == ids[i].to_string()).expect("listed");
            assert_eq!(line["name"], format!("other{i}"));
            assert_eq!(line["addr"], o.local_addr().to_string());
            assert_eq!(line["laddr"], s.addr().to_string());
            assert_eq!(line["cmd"], "client|id", "{}", s.flavor.name());
        }
        let mine = lines.iter().find(|l| l["id"] == my_id.to_string()).expect("self listed");
        assert_eq!(mine["cmd"], "client|list", "{}", s.flavor.name());
        // Ids are handed out in increasing order.
        assert!(my_id < ids[0] && ids.windows(2).all(|w| w[0] < w[1]), "{}: ids {my_id} then {ids:?}", s.flavor.name());
        let some = client_lines(&mut me, &["ID", &ids[0].to_string(), &ids[2].to_string(), "999999"]);
        let got: Vec<&str> = some.iter().map(|l| l["name"].as_str()).collect();
        assert_eq!(got.len(), 2);
        assert!(got.contains(&"other0") && got.contains(&"other2"), "{}: {got:?}", s.flavor.name());
        assert_eq!(client_lines(&mut me, &["TYPE", "normal"]).len(), 4);
        assert_eq!(client_lines(&mut me, &["TYPE", "pubsub"]).len(), 0);
    }
}

#[test]
fn client_kill_filters() {
    for s in both(&[]) {
        let name = s.flavor.name();
        let mut me = s.conn();
        // Old form: by address.
        let mut v = s.conn();
        v.cmd(&["PING"]);
        assert_eq!(me.cmd(&["CLIENT", "KILL", &v.local_addr().to_string()]), b"+OK\r\n", "{name}");
        assert_eq!(v.expect_closed(Duration::from_secs(5)), b"", "{name}: killed client");
        // ID.
        let mut v = s.conn();
        let id = int(&v.val(&["CLIENT", "ID"]));
        assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]), b":1\r\n", "{name}");
        v.expect_closed(Duration::from_secs(5));
        // ADDR.
        let mut v = s.conn();
        v.cmd(&["PING"]);
        assert_eq!(me.cmd(&["CLIENT", "KILL", "ADDR", &v.local_addr().to_string()]), b":1\r\n", "{name}");
        v.expect_closed(Duration::from_secs(5));
        // LADDR, USER and TYPE kill everyone else; SKIPME yes (the default) spares the caller.
        let laddr = s.addr().to_string();
        for filter in [["LADDR", laddr.as_str()], ["USER", "default"], ["TYPE", "normal"]] {
            let mut victims: Vec<Conn> = (0..2).map(|_| s.conn()).collect();
            for v in victims.iter_mut() {
                v.cmd(&["PING"]);
            }
            let args = ["CLIENT", "KILL", filter[0], filter[1]];
            assert_eq!(me.cmd(&args), b":2\r\n", "{name}: CLIENT KILL {filter:?}");
            for v in victims.iter_mut() {
                v.expect_closed(Duration::from_secs(5));
            }
            assert_eq!(me.cmd(&["PING"]), b"+PONG\r\n", "{name}: the caller survives {filter:?}");
        }
        // Filters combine with AND.
        let mut v = s.conn();
        let id = int(&v.val(&["CLIENT", "ID"])).to_string();
        assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", &id, "TYPE", "pubsub"]), b":0\r\n", "{name}");
        assert_eq!(v.cmd(&["PING"]), b"+PONG\r\n");
        // SKIPME no: the caller may kill itself, after its reply.
        let my_id = int(&me.val(&["CLIENT", "ID"])).to_string();
        me.send(&["CLIENT", "KILL", "ID", &my_id, "SKIPME", "no"]);
        let got = me.expect_closed(Duration::from_secs(5));
        assert_eq!(esc(&got), esc(b":1\r\n"), "{name}: self-kill");
        assert_eq!(v.cmd(&["PING"]), b"+PONG\r\n");
    }
}

#[test]
fn client_reply_off_skip_on() {
    for s in both(&[]) {
        let name = s.flavor.name();
        let mut c = s.conn();
        // OFF: no reply to OFF itself or to anything until ON.
        c.send(&["CLIENT", "REPLY", "OFF"]);
        c.send(&["SET", "a", "1"]);
        c.send(&["GET", "a"]);
        c.send(&["NOSUCHCOMMAND"]);
        c.expect_silent(QUIET);
        assert_eq!(c.cmd(&["CLIENT", "REPLY", "ON"]), b"+OK\r\n", "{name}");
        assert_eq!(c.cmd(&["GET", "a"]), b"$1\r\n1\r\n", "{name}: the write under OFF happened");
        // SKIP: no reply to SKIP, nor to the next command; then replies again.
        c.send(&["CLIENT", "REPLY", "SKIP"]);
        c.send(&["INCR", "n"]);
        c.send(&["INCR", "n"]);
        assert_eq!(c.read(), b":2\r\n", "{name}");
        c.expect_silent(Duration::from_millis(100));
        // Pipelined in one write, as clients do it.
        c.send_raw(b"CLIENT REPLY OFF\r\nINCR n\r\nCLIENT REPLY ON\r\nINCR n\r\n");
        assert_eq!(c.read(), b"+OK\r\n", "{name}");
        assert_eq!(c.read(), b":4\r\n", "{name}");
        c.expect_silent(Duration::from_millis(100));
    }
}

#[test]
fn client_pause_write_delays_writes_but_not_reads() {
    for s in both(&[]) {
        let name = s.flavor.name();
        let mut admin = s.conn();
        let mut writer = s.conn();
        let mut reader = s.conn();
        assert_eq!(writer.cmd(&["SET", "k", "old"]), b"+OK\r\n");
        assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "20000", "WRITE"]), b"+OK\r\n", "{name}");
        writer.send(&["SET", "k", "new"]);
        writer.expect_silent(QUIET);
        let t = Instant::now();
        assert_eq!(reader.cmd(&["GET", "k"]), b"$3\r\nold\r\n", "{name}: reads go on");
        assert_eq!(reader.cmd(&["PING"]), b"+PONG\r\n", "{name}");
        assert_eq!(reader.cmd(&["EXISTS", "k"]), b":1\r\n", "{name}");
        assert!(t.elapsed() < Duration::from_secs(2), "{name}: reads were delayed {:?}", t.elapsed());
        // Another write also waits.
        reader.send(&["INCR", "n"]);
        reader.expect_silent(Duration::from_millis(100));
        assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), b"+OK\r\n", "{name}");
        writer.timeout = Duration::from_secs(5);
        assert_eq!(writer.read(), b"+OK\r\n", "{name}: the write goes through after UNPAUSE");
        assert_eq!(reader.read(), b":1\r\n", "{name}");
        assert_eq!(reader.cmd(&["GET", "k"]), b"$3\r\nnew\r\n", "{name}");
    }
}

#[test]
fn client_pause_all_delays_reads_and_expires_by_itself() {
    for s in both(&[]) {
        let name = s.flavor.name();
        let mut admin = s.conn();
        let mut reader = s.conn();
        // ALL pauses every normal client, the one that paused included, so it must
        // end by itself.
        assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "600"]), b"+OK\r\n", "{name}");
        let t = Instant::now();
        reader.send(&["GET", "k"]);
        reader.expect_silent(QUIET);
        reader.timeout = Duration::from_secs(5);
        assert_eq!(reader.read(), b"$-1\r\n", "{name}");
        assert!(t.elapsed() >= Duration::from_millis(450), "{name}: the read was not delayed ({:?})", t.elapsed());
        assert_eq!(admin.cmd(&["PING"]), b"+PONG\r\n", "{name}");
        // A pause with a short timeout ends on its own.
        assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "400", "WRITE"]), b"+OK\r\n", "{name}");
        let t = Instant::now();
        reader.timeout = Duration::from_secs(5);
        assert_eq!(reader.cmd(&["SET", "k", "v"]), b"+OK\r\n", "{name}");
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(250), "{name}: the write was not delayed ({waited:?})");
        assert!(waited < Duration::from_secs(3), "{name}: the pause did not end ({waited:?})");
    }
}
