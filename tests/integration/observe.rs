//! Watching the server: MONITOR's stream, SLOWLOG entries, LATENCY events. Each runs
//! the same steps on redis-server and Redoubt and compares the outputs with the
//! timestamps, durations, ids and client ports masked.

use crate::support::{esc, int, items, text, Conn, ServerProcess, Value};

fn both(args: &[&str]) -> [ServerProcess; 2] {
    [ServerProcess::redis(args), ServerProcess::redoubt(args)]
}

/// A MONITOR line with its timestamp and client port masked:
/// `+1700000000.123456 [0 127.0.0.1:5555] "SET" "k"` -> `[0 127.0.0.1:*] "SET" "k"`.
fn mask_monitor_line(raw: &[u8]) -> String {
    let line = String::from_utf8_lossy(raw).to_string();
    let Some(rest) = line.strip_prefix('+') else { return format!("<not a simple string: {}>", esc(raw)) };
    let (ts, rest) = rest.split_once(' ').unwrap_or(("", rest));
    let ok_ts = ts.split_once('.').is_some_and(|(s, us)| {
        s.len() >= 10 && us.len() == 6 && s.chars().chain(us.chars()).all(|c| c.is_ascii_digit())
    });
    let rest = match (rest.find(':'), rest.find(']')) {
        (Some(colon), Some(close)) if colon < close => format!("{}:*{}", &rest[..colon], &rest[close..]),
        _ => rest.to_string(),
    };
    format!("{}{}", if ok_ts { "" } else { "<bad timestamp> " }, rest.trim_end())
}

#[test]
fn monitor_stream_matches_redis() {
    let mut streams = Vec::new();
    for s in both(&[]) {
        let mut m = s.conn();
        assert_eq!(m.cmd(&["MONITOR"]), b"+OK\r\n", "{}", s.flavor.name());
        let mut c = s.conn();
        let script: Vec<Vec<&[u8]>> = vec![
            vec![b"SET", b"k", b"v"],
            vec![b"get", b"k"],
            vec![b"SELECT", b"2"],
            vec![b"SET", b"a b", b"\x00\xff\"\\\r\n"],
            vec![b"INCR", b"n"],
            vec![b"NOSUCHCOMMAND", b"x"],
            vec![b"GET"],
            vec![b"CONFIG", b"GET", b"hz"],
            vec![b"AUTH", b"secret"],
            vec![b"PING"],
        ];
        for args in &script {
            c.cmd(args);
        }
        c.send_raw(b"ECHO inline\r\n");
        c.read();
        // A bounded number of lines: each command that Redis shows, then a sentinel.
        c.cmd(&["ECHO", "end-of-test"]);
        let mut lines = Vec::new();
        for _ in 0..20 {
            let line = mask_monitor_line(&m.read());
            let end = line.contains("end-of-test");
            lines.push(line);
            if end {
                break;
            }
        }
        streams.push(lines);
    }
    assert_eq!(streams[1], streams[0], "MONITOR stream (left: redoubt, right: redis)");
}

#[test]
fn monitor_sees_other_clients_and_other_monitors_keep_working() {
    let s = ServerProcess::redoubt(&[]);
    let mut m1 = s.conn();
    let mut m2 = s.conn();
    m1.cmd(&["MONITOR"]);
    m2.cmd(&["MONITOR"]);
    let mut c = s.conn();
    let port = c.local_addr().port();
    c.cmd(&["SET", "x", "1"]);
    for m in [&mut m1, &mut m2] {
        let line = String::from_utf8_lossy(&m.read()).to_string();
        assert!(line.ends_with(&format!("[0 127.0.0.1:{port}] \"SET\" \"x\" \"1\"\r\n")), "{line:?}");
    }
    m1.close();
    c.cmd(&["GET", "x"]);
    let line = String::from_utf8_lossy(&m2.read()).to_string();
    assert!(line.contains("\"GET\" \"x\""), "{line:?}");
}

/// A SLOWLOG GET entry with id, timestamp, duration and client port masked.
fn mask_slowlog(v: &Value) -> Vec<String> {
    items(v)
        .iter()
        .map(|e| {
            let f = items(e);
            let args: Vec<String> = items(&f[3]).iter().map(|a| esc(text(a).as_bytes())).collect();
            let duration_ok = matches!(f[2], Value::Int(n) if n >= 0);
            let addr = text(&f[4]);
            let addr = addr.rsplit_once(':').map(|(ip, _)| format!("{ip}:*")).unwrap_or(addr);
            format!("{} args={} addr={} name={}", f.len(), args.join(" "), addr, text(&f[5]))
                + if duration_ok { "" } else { " <bad duration>" }
        })
        .collect()
}

#[test]
fn slowlog_matches_redis() {
    let mut logs = Vec::new();
    for s in both(&["--slowlog-log-slower-than", "0", "--slowlog-max-len", "6"]) {
        let name = s.flavor.name();
        let mut c = s.conn();
        assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), b"+OK\r\n", "{name}");
        c.cmd(&["CLIENT", "SETNAME", "slowpoke"]);
        c.cmd(&["SET", "a", "1"]);
        let long = "x".repeat(200);
        c.cmd(&["SET", "b", &long]);
        let mut many = vec!["MSET".to_string()];
        for i in 0..20 {
            many.push(format!("k{i}"));
            many.push(i.to_string());
        }
        c.cmd(&many);
        assert_eq!(
            int(&c.val(&["SLOWLOG", "LEN"])),
            5,
            "{name}: RESET, SETNAME and 3 writes (LEN is logged after it runs)"
        );
        let all = c.val(&["SLOWLOG", "GET", "-1"]);
        logs.push(mask_slowlog(&all));
        let two = c.val(&["SLOWLOG", "GET", "2"]);
        assert_eq!(items(&two).len(), 2, "{name}");
        assert_eq!(items(&c.val(&["SLOWLOG", "GET", "0"])).len(), 0, "{name}");
        // The log is capped at slowlog-max-len.
        for i in 0..10 {
            c.cmd(&["GET", &i.to_string()]);
        }
        assert_eq!(int(&c.val(&["SLOWLOG", "LEN"])), 6, "{name}");
        // Ids keep increasing, newest first.
        let ids: Vec<i64> = items(&c.val(&["SLOWLOG", "GET"])).iter().map(|e| int(&items(e)[0])).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "{name}: ids {ids:?}");
        assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), b"+OK\r\n");
        assert_eq!(int(&c.val(&["SLOWLOG", "LEN"])), 1, "{name}: the RESET itself is logged");
    }
    assert_eq!(logs[1], logs[0], "SLOWLOG GET -1 (left: redoubt, right: redis)");
}

#[test]
fn slowlog_threshold_is_respected() {
    for s in both(&["--slowlog-log-slower-than", "50000"]) {
        let mut c = s.conn();
        c.cmd(&["SLOWLOG", "RESET"]);
        c.cmd(&["SET", "fast", "1"]);
        c.cmd(&["DEBUG", "SLEEP", "0.1"]);
        let log = c.val(&["SLOWLOG", "GET"]);
        let entries = items(&log);
        assert_eq!(entries.len(), 1, "{}: {log:?}", s.flavor.name());
        let e = items(&entries[0]);
        assert!(int(&e[2]) >= 100_000, "{}: duration {:?}", s.flavor.name(), e[2]);
        assert_eq!(items(&e[3]).iter().map(text).collect::<Vec<_>>(), ["DEBUG", "SLEEP", "0.1"]);
        // Negative disables the log.
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
        c.cmd(&["DEBUG", "SLEEP", "0.06"]);
        assert_eq!(int(&c.val(&["SLOWLOG", "LEN"])), 1, "{}", s.flavor.name());
    }
}

fn latest(c: &mut Conn) -> Vec<(String, i64, i64)> {
    items(&c.val(&["LATENCY", "LATEST"]))
        .iter()
        .map(|e| {
            let f = items(e);
            (text(&f[0]), int(&f[2]), int(&f[3]))
        })
        .collect()
}

#[test]
fn latency_monitor_records_slow_commands() {
    for s in both(&["--latency-monitor-threshold", "20"]) {
        let name = s.flavor.name();
        let mut c = s.conn();
        assert_eq!(c.cmd(&["LATENCY", "LATEST"]), b"*0\r\n", "{name}");
        assert_eq!(c.cmd(&["LATENCY", "HISTORY", "command"]), b"*0\r\n", "{name}");
        c.cmd(&["DEBUG", "SLEEP", "0.06"]);
        let l = latest(&mut c);
        assert_eq!(l.len(), 1, "{name}: {l:?}");
        assert_eq!(l[0].0, "command", "{name}");
        assert!(l[0].1 >= 60 && l[0].2 >= 60, "{name}: {l:?}");
        let hist = c.val(&["LATENCY", "HISTORY", "command"]);
        assert_eq!(items(&hist).len(), 1, "{name}");
        assert!(int(&items(&items(&hist)[0])[1]) >= 60, "{name}");
        assert_eq!(c.cmd(&["LATENCY", "HISTORY", "nosuchevent"]), b"*0\r\n", "{name}");
        // A fast command is not an event.
        c.cmd(&["SET", "k", "v"]);
        assert_eq!(latest(&mut c).len(), 1, "{name}");
        assert_eq!(c.cmd(&["LATENCY", "RESET", "nosuchevent"]), b":0\r\n", "{name}");
        assert_eq!(c.cmd(&["LATENCY", "RESET", "command"]), b":1\r\n", "{name}");
        assert_eq!(c.cmd(&["LATENCY", "LATEST"]), b"*0\r\n", "{name}");
        c.cmd(&["DEBUG", "SLEEP", "0.03"]);
        assert_eq!(c.cmd(&["LATENCY", "RESET"]), b":1\r\n", "{name}");
        assert_eq!(c.cmd(&["LATENCY", "RESET"]), b":0\r\n", "{name}");
    }
    // Threshold 0 (the default) records nothing.
    let s = ServerProcess::redoubt(&[]);
    let mut c = s.conn();
    c.cmd(&["DEBUG", "SLEEP", "0.05"]);
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), b"*0\r\n");
}
