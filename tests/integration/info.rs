//! INFO: the sections and field names tools parse (compared with redis-server), the
//! server/clients/stats values that follow from what a test did, the keyspace line,
//! commandstats and errorstats counts (compared with redis-server after the timing
//! fields are masked), CONFIG RESETSTAT.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::diff::Compare;
use crate::support::{info_field, info_fields, text, Diff, ServerProcess};

fn info(s: &ServerProcess, section: &[&str]) -> String {
    let mut args = vec!["INFO"];
    args.extend_from_slice(section);
    text(&s.conn().val(&args))
}

fn headers(info: &str) -> Vec<String> {
    info.lines().filter_map(|l| l.strip_prefix("# ")).map(str::to_string).collect()
}

/// Field names per section.
fn names_by_section(info: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in info.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            out.push((h.to_string(), BTreeSet::new()));
        } else if let Some((k, _)) = line.split_once(':') {
            if let Some(last) = out.last_mut() {
                last.1.insert(k.to_string());
            }
        }
    }
    out
}

#[test]
fn sections_match_redis() {
    let (ours, theirs) = (ServerProcess::redoubt(&[]), ServerProcess::redis(&[]));
    let mut problems = Vec::new();
    for args in
        [&[][..], &["default"], &["all"], &["everything"], &["server", "clients"], &["SERVER"], &["nosuchsection"]]
    {
        let (a, b) = (headers(&info(&ours, args)), headers(&info(&theirs, args)));
        if a != b {
            problems.push(format!("INFO {args:?} sections:\n    redis:   {b:?}\n    redoubt: {a:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Fields whose presence depends on the build or the machine, not on the server.
/// Fields only Redoubt has (README: compatibility table).
const REDOUBT_ONLY: &[&str] =
    &["redoubt_version", "client_query_buffer_limit_disconnections", "client_output_buffer_limit_disconnections"];

/// Redis fields Redoubt leaves out because nothing in Redoubt corresponds to them:
/// there is no main thread (every worker runs commands) and no resizable per-client
/// reply buffer.
const NO_COUNTERPART: &[&str] =
    &["used_cpu_sys_main_thread", "used_cpu_user_main_thread", "reply_buffer_expands", "reply_buffer_shrinks"];

const OPTIONAL: &[&str] = &["executable", "config_file"];

#[test]
fn field_names_match_redis() {
    let (ours, theirs) = (ServerProcess::redoubt(&[]), ServerProcess::redis(&[]));
    // Make the conditional sections exist on both: a key, a command, an error.
    for s in [&ours, &theirs] {
        let mut c = s.conn();
        c.cmd(&["SET", "k", "v"]);
        c.cmd(&["NOSUCHCOMMAND"]);
    }
    let a = names_by_section(&info(&ours, &["everything"]));
    let b = names_by_section(&info(&theirs, &["everything"]));
    let mut problems = Vec::new();
    for (section, theirs) in &b {
        let Some((_, ours)) = a.iter().find(|(s, _)| s == section) else {
            problems.push(format!("section {section}: missing"));
            continue;
        };
        let missing: Vec<_> = theirs
            .difference(ours)
            .filter(|k| !OPTIONAL.contains(&k.as_str()) && !NO_COUNTERPART.contains(&k.as_str()))
            .collect();
        let extra: Vec<_> = ours.difference(theirs).filter(|k| !REDOUBT_ONLY.contains(&k.as_str())).collect();
        if !missing.is_empty() || !extra.is_empty() {
            problems.push(format!(
                "section {section}:\n    missing in redoubt: {missing:?}\n    only in redoubt: {extra:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "INFO field names differ from redis-server:\n{}", problems.join("\n"));
}

#[test]
fn server_and_clients_values() {
    let s = ServerProcess::redoubt(&[]);
    let mut c = s.conn();
    let _others: Vec<_> = (0..3).map(|_| s.conn()).collect();
    let server = text(&c.val(&["INFO", "server"]));
    let field = |k: &str| info_field(&server, k).unwrap_or_else(|| panic!("INFO server has no {k}"));
    assert_eq!(field("redis_version"), "7.0.15");
    assert_eq!(field("redis_mode"), "standalone");
    assert_eq!(field("tcp_port"), s.port.to_string());
    assert_eq!(field("process_id"), s.pid().expect("pid").to_string());
    assert_eq!(field("arch_bits"), "64");
    let run_id = field("run_id");
    assert!(run_id.len() == 40 && run_id.chars().all(|c| c.is_ascii_hexdigit()), "run_id {run_id}");
    assert!(field("uptime_in_seconds").parse::<u64>().is_ok());
    assert!(field("hz").parse::<u64>().is_ok());
    // The INFO reply uses CRLF line ends, like Redis.
    assert!(server.contains("\r\n") && !server.replace("\r\n", "").contains('\n'), "INFO lines end with CRLF");
    let clients = text(&c.val(&["INFO", "clients"]));
    assert_eq!(info_field(&clients, "connected_clients").as_deref(), Some("4"), "{clients}");
    assert_eq!(info_field(&clients, "maxclients").as_deref(), Some("10000"), "{clients}");
    assert_eq!(info_field(&clients, "blocked_clients").as_deref(), Some("0"), "{clients}");
    drop(_others);
    crate::support::wait_for("connected_clients to drop to 1", Duration::from_secs(5), || {
        info_field(&text(&c.val(&["INFO", "clients"])), "connected_clients").as_deref() == Some("1")
    });
}

#[test]
fn stats_counters_follow_the_commands() {
    for s in [ServerProcess::redis(&[]), ServerProcess::redoubt(&[])] {
        let name = s.flavor.name();
        let mut c = s.conn();
        let stat = |c: &mut crate::support::Conn, k: &str| -> i64 {
            let v = text(&c.val(&["INFO", "stats"]));
            info_field(&v, k).unwrap_or_else(|| panic!("{name}: no {k}")).parse().expect("number")
        };
        let conns = stat(&mut c, "total_connections_received");
        let _ = s.conn().cmd(&["PING"]);
        assert_eq!(stat(&mut c, "total_connections_received"), conns + 1, "{name}");
        let cmds = stat(&mut c, "total_commands_processed");
        c.cmd(&["SET", "a", "1"]);
        c.cmd(&["GET", "a"]);
        // The INFO that reads the counter has not been counted yet; the previous one has.
        assert_eq!(stat(&mut c, "total_commands_processed"), cmds + 3, "{name}");
        let (hits, misses) = (stat(&mut c, "keyspace_hits"), stat(&mut c, "keyspace_misses"));
        c.cmd(&["GET", "a"]);
        c.cmd(&["GET", "a"]);
        c.cmd(&["GET", "nope"]);
        c.cmd(&["EXISTS", "nope"]);
        assert_eq!(stat(&mut c, "keyspace_hits"), hits + 2, "{name}: keyspace_hits");
        assert_eq!(stat(&mut c, "keyspace_misses"), misses + 2, "{name}: keyspace_misses");
        let expired = stat(&mut c, "expired_keys");
        c.cmd(&["SET", "e", "v", "PX", "1"]);
        std::thread::sleep(Duration::from_millis(10));
        c.cmd(&["GET", "e"]);
        assert_eq!(stat(&mut c, "expired_keys"), expired + 1, "{name}: expired_keys");
        let errors = stat(&mut c, "total_error_replies");
        c.cmd(&["NOSUCHCOMMAND"]);
        c.cmd(&["INCR", "a", "b"]);
        assert_eq!(stat(&mut c, "total_error_replies"), errors + 2, "{name}: total_error_replies");
        c.cmd(&["CONFIG", "RESETSTAT"]);
        assert_eq!(stat(&mut c, "keyspace_hits"), 0, "{name}: after RESETSTAT");
        assert_eq!(stat(&mut c, "total_error_replies"), 0, "{name}: after RESETSTAT");
    }
}

#[test]
fn keyspace_line_after_writes() {
    let s = ServerProcess::redoubt(&[]);
    let mut c = s.conn();
    assert_eq!(text(&c.val(&["INFO", "keyspace"])), "# Keyspace\r\n");
    c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]);
    c.cmd(&["EXPIRE", "a", "100"]);
    c.cmd(&["SELECT", "4"]);
    c.cmd(&["SET", "x", "1"]);
    let ks = text(&c.val(&["INFO", "keyspace"]));
    let fields = info_fields(&ks);
    assert_eq!(fields.len(), 2, "{ks}");
    assert_eq!(fields[0].0, "db0");
    assert!(fields[0].1.starts_with("keys=3,expires=1,avg_ttl="), "{ks}");
    let avg: u64 = fields[0].1.rsplit('=').next().unwrap_or("x").parse().expect("avg_ttl is a number");
    assert!(avg <= 100_000, "avg_ttl {avg} ms for a 100 s TTL");
    assert_eq!(fields[1], ("db4".to_string(), "keys=1,expires=0,avg_ttl=0".to_string()));
}

/// Masks the timing values of `INFO commandstats` / `errorstats` / `latencystats` and
/// sorts the lines (Redis lists commands in hash-table order).
fn mask_stats(raw: &[u8]) -> Vec<u8> {
    let body = String::from_utf8_lossy(raw);
    let mut lines: Vec<String> = body
        .split("\r\n")
        .map(|l| {
            l.split(',')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.contains("usec") || k.starts_with("p50") || k.starts_with("p99") => {
                        format!("{k}=*")
                    }
                    _ => kv.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    // The bulk length changes with the masked numbers' widths.
    lines.retain(|l| !l.starts_with('$'));
    lines.sort();
    lines.join("\n").into_bytes()
}

#[test]
fn commandstats_errorstats_latencystats_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
CONFIG RESETSTAT
SET a 1
SET b 2
SET c x
GET a
GET a b
INCR c
NOSUCHCOMMAND
CLIENT NOSUCH
INCRBY a abc
SELECT 99
"#,
    );
    for section in ["commandstats", "errorstats", "latencystats"] {
        d.check_as(Compare::Canon(mask_stats), &["INFO", section]);
    }
    d.check(&["CONFIG", "RESETSTAT"]);
    d.check_as(Compare::Canon(mask_stats), &["INFO", "commandstats"]);
    d.check_as(Compare::Canon(mask_stats), &["INFO", "errorstats"]);
}
