//! COMMAND and CONFIG, differential: COMMAND INFO and DOCS for every command Redoubt
//! has, GETKEYS, LIST FILTERBY; CONFIG GET of the directives (one by one, by glob, and
//! `*` compared as a set of names and values), CONFIG SET's errors and atomicity.
//! COMMAND COUNT differs by design (Redoubt has fewer commands), so it is checked for
//! consistency with COMMAND itself instead.

use std::collections::BTreeMap;

use crate::support::diff::Compare;
use crate::support::{int, items, split_aggregate, text, to_value, Diff, ServerProcess};

/// Subcommands of Redis 7.0 that Redoubt does not build yet (client-side caching,
/// latency doctor/graph/histogram): left out of both replies when containers are compared.
const NOT_BUILT: &[&str] = &[
    "client|caching",
    "client|getredir",
    "client|tracking",
    "client|trackinginfo",
    "latency|doctor",
    "latency|graph",
    "latency|histogram",
];

/// An aggregate's header rebuilt for a new number of elements (maps count pairs).
fn rebuild(header: &[u8], items: Vec<Vec<u8>>) -> Vec<u8> {
    let kind = header[0];
    let n = if kind == b'%' { items.len() / 2 } else { items.len() };
    let mut out = format!("{}{n}\r\n", kind as char).into_bytes();
    out.extend(items.concat());
    out
}

/// The text of a raw bulk or simple string reply.
fn raw_text(raw: &[u8]) -> String {
    match redoubt_resp::value::decode(raw) {
        Ok((crate::support::Value::Bulk(b) | crate::support::Value::Simple(b), _)) => {
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => String::new(),
    }
}

fn not_built(raw_name: &[u8]) -> bool {
    matches!(raw_name.first(), Some(b'$' | b'+')) && NOT_BUILT.contains(&raw_text(raw_name).as_str())
}

/// COMMAND INFO reply with each command's subcommand list sorted (Redis lists them in
/// the order of a randomly seeded dict) and the not-yet-built ones removed.
fn canon_info(raw: &[u8]) -> Vec<u8> {
    let Some((header, entries)) = split_aggregate(raw) else { return raw.to_vec() };
    let entries = entries
        .into_iter()
        .map(|e| match split_aggregate(&e) {
            Some((h, mut fields)) if fields.len() == 10 => {
                if let Some((sh, subs)) = split_aggregate(&fields[9]) {
                    let mut subs: Vec<Vec<u8>> = subs
                        .into_iter()
                        .filter(|s| !split_aggregate(s).is_some_and(|(_, f)| f.first().is_some_and(|n| not_built(n))))
                        .collect();
                    subs.sort();
                    fields[9] = rebuild(&sh, subs);
                }
                rebuild(&h, fields)
            }
            _ => e,
        })
        .collect();
    rebuild(&header, entries)
}

/// COMMAND DOCS reply with the command pairs and each `subcommands` map sorted, and the
/// not-yet-built subcommands removed.
/// Documentation prose Redoubt leaves out of COMMAND DOCS on purpose (it is Redis's
/// text, not its interface; see the README's compatibility table).
const DOC_PROSE: [&str; 3] = ["summary", "complexity", "history"];

/// A doc map without its prose fields, subcommand docs included.
fn drop_prose(doc: Vec<u8>) -> Vec<u8> {
    let Some((header, fields)) = split_aggregate(&doc) else { return doc };
    let mut kept = Vec::new();
    for pair in fields.chunks(2) {
        let key = raw_text(&pair[0]);
        if DOC_PROSE.contains(&key.as_str()) {
            continue;
        }
        let value = match (key.as_str(), pair.get(1)) {
            ("subcommands", Some(v)) => match split_aggregate(v) {
                Some((sh, subs)) => {
                    let subs = subs.chunks(2).flat_map(|p| [p[0].clone(), drop_prose(p[1].clone())]).collect();
                    rebuild(&sh, subs)
                }
                None => v.clone(),
            },
            (_, Some(v)) => v.clone(),
            (_, None) => continue,
        };
        kept.push(pair[0].clone());
        kept.push(value);
    }
    rebuild(&header, kept)
}

fn canon_docs(raw: &[u8]) -> Vec<u8> {
    let sorted_pairs = |items: Vec<Vec<u8>>| {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = items
            .chunks(2)
            .filter(|p| p.len() == 2 && !not_built(&p[0]))
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        pairs.sort();
        pairs.into_iter().flat_map(|(k, v)| [k, v]).collect::<Vec<_>>()
    };
    let Some((header, top)) = split_aggregate(raw) else { return raw.to_vec() };
    let top: Vec<Vec<u8>> = sorted_pairs(top)
        .into_iter()
        .map(drop_prose)
        .map(|doc| match split_aggregate(&doc) {
            Some((dh, mut fields)) => {
                for i in (0..fields.len().saturating_sub(1)).step_by(2) {
                    if raw_text(&fields[i]) == "subcommands" {
                        if let Some((sh, subs)) = split_aggregate(&fields[i + 1]) {
                            fields[i + 1] = rebuild(&sh, sorted_pairs(subs));
                        }
                    }
                }
                rebuild(&dh, fields)
            }
            None => doc,
        })
        .collect();
    rebuild(&header, top)
}

/// A flat list of names, sorted, without the not-yet-built ones.
fn canon_names(raw: &[u8]) -> Vec<u8> {
    let Some((header, mut names)) = split_aggregate(raw) else { return raw.to_vec() };
    names.retain(|n| !not_built(n));
    names.sort();
    rebuild(&header, names)
}

fn redoubt_command_names(d: &mut Diff) -> Vec<String> {
    let (a, _) = d.both(&["COMMAND", "LIST"]);
    let mut names: Vec<String> = items(&to_value(&a)).iter().map(text).collect();
    names.sort();
    names
}

#[test]
fn command_info_matches_for_every_command() {
    let mut d = Diff::new(&[]);
    let names = redoubt_command_names(&mut d);
    assert!(names.len() > 50, "COMMAND LIST has {} names", names.len());
    for name in &names {
        d.check_as(Compare::Canon(canon_info), &["COMMAND", "INFO", name]);
    }
    // Several at once, unknown ones, and case.
    for args in [
        &["COMMAND", "INFO", "get", "set", "nosuchcommand", "GETRANGE"][..],
        &["COMMAND", "INFO", "client|list"],
        &["COMMAND", "INFO", "CLIENT|KILL", "config|get"],
        &["COMMAND", "INFO", "nosuch|thing"],
        &["COMMAND", "INFO", "get|x"],
    ] {
        d.check_as(Compare::Canon(canon_info), args);
    }
}

#[test]
fn command_info_matches_in_resp3() {
    let mut d = Diff::new(&[]).resp3();
    for name in ["get", "set", "client", "config", "bitfield", "object", "lcs", "command", "debug", "scan"] {
        d.check_as(Compare::Canon(canon_info), &["COMMAND", "INFO", name]);
    }
    for name in ["get", "client", "bitcount"] {
        d.check_as(Compare::Canon(canon_docs), &["COMMAND", "DOCS", name]);
    }
}

#[test]
fn command_docs_match_for_every_command() {
    let mut d = Diff::new(&[]);
    let names = redoubt_command_names(&mut d);
    for name in &names {
        d.check_as(Compare::Canon(canon_docs), &["COMMAND", "DOCS", name]);
    }
    d.check(&["COMMAND", "DOCS", "nosuchcommand"]);
    d.check_as(Compare::Canon(canon_docs), &["COMMAND", "DOCS", "get", "set"]);
}

#[test]
fn command_getkeys() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
COMMAND GETKEYS GET a
COMMAND GETKEYS SET a b EX 10
COMMAND GETKEYS MSET a 1 b 2 c 3
COMMAND GETKEYS MGET a b c
COMMAND GETKEYS DEL a b c
COMMAND GETKEYS EXISTS a
COMMAND GETKEYS RENAME a b
COMMAND GETKEYS COPY a b DB 2
COMMAND GETKEYS LCS a b IDX
COMMAND GETKEYS BITOP AND dest a b
COMMAND GETKEYS BITFIELD k GET u8 0
COMMAND GETKEYS BITFIELD_RO k GET u8 0
COMMAND GETKEYS OBJECT ENCODING k
COMMAND GETKEYS TOUCH a b
COMMAND GETKEYS EXPIRE k 10 NX
COMMAND GETKEYS get a
COMMAND GETKEYS PING
COMMAND GETKEYS TIME
COMMAND GETKEYS KEYS *
COMMAND GETKEYS SCAN 0
COMMAND GETKEYS GET
COMMAND GETKEYS GET a b
COMMAND GETKEYS MSET a
COMMAND GETKEYS NOSUCHCOMMAND a
COMMAND GETKEYS
COMMAND GETKEYSANDFLAGS SET a b
COMMAND GETKEYSANDFLAGS MSET a 1 b 2
COMMAND GETKEYSANDFLAGS COPY a b
COMMAND GETKEYSANDFLAGS GETDEL a
COMMAND GETKEYSANDFLAGS PING
"#,
    );
}

#[test]
fn command_list_filters() {
    let mut d = Diff::new(&[]);
    for filter in [
        &["PATTERN", "get*"][..],
        &["PATTERN", "*bit*"],
        &["PATTERN", "client*"],
        &["PATTERN", "config|*"],
        &["PATTERN", "nomatch*"],
        &["ACLCAT", "string"],
        &["ACLCAT", "bitmap"],
        &["ACLCAT", "nosuchcat"],
        &["MODULE", "nosuchmodule"],
    ] {
        let mut args = vec!["COMMAND", "LIST", "FILTERBY"];
        args.extend_from_slice(filter);
        d.check_as(Compare::Canon(canon_names), &args);
    }
    d.script(
        r#"
COMMAND LIST FILTERBY
COMMAND LIST FILTERBY FOO bar
COMMAND LIST FOO
"#,
    );
}

#[test]
fn command_count_is_consistent() {
    let s = ServerProcess::redoubt(&[]);
    let mut c = s.conn();
    let count = int(&c.val(&["COMMAND", "COUNT"]));
    let all = c.val(&["COMMAND"]);
    let list: Vec<String> = items(&c.val(&["COMMAND", "LIST"])).iter().map(text).collect();
    // As in Redis: COUNT and COMMAND are top-level commands; LIST adds subcommands.
    assert_eq!(count as usize, items(&all).len(), "COMMAND COUNT vs COMMAND");
    let top: Vec<&String> = list.iter().filter(|n| !n.contains('|')).collect();
    assert_eq!(count as usize, top.len(), "COMMAND COUNT vs top-level names in COMMAND LIST");
    for sub in list.iter().filter(|n| n.contains('|')) {
        let parent = sub.split('|').next().unwrap_or_default().to_string();
        assert!(list.contains(&parent), "COMMAND LIST has {sub} but not {parent}");
    }
    // Every command COMMAND describes is in LIST.
    for entry in items(&all) {
        let name = text(&items(entry)[0]);
        assert!(list.contains(&name), "COMMAND has {name}, COMMAND LIST does not");
    }
}

/// Directives whose values depend on the process (paths, ports, pids) or on the build.
const SERVER_SPECIFIC: &[&str] =
    &["port", "dir", "logfile", "pidfile", "bind", "unixsocket", "daemonize", "supervised"];

#[test]
fn config_get_directives_match_redis() {
    let mut d = Diff::new(&[]);
    for name in [
        "maxmemory",
        "maxmemory-policy",
        "maxmemory-samples",
        "maxmemory-eviction-tenacity",
        "hz",
        "dynamic-hz",
        "timeout",
        "tcp-keepalive",
        "tcp-backlog",
        "databases",
        "proto-max-bulk-len",
        "client-query-buffer-limit",
        "client-output-buffer-limit",
        "protected-mode",
        "requirepass",
        "maxclients",
        "loglevel",
        "enable-debug-command",
        "enable-protected-configs",
        "save",
        "appendonly",
        "appendfsync",
        "appendfilename",
        "dbfilename",
        "slowlog-log-slower-than",
        "slowlog-max-len",
        "latency-monitor-threshold",
        "lazyfree-lazy-eviction",
        "lazyfree-lazy-expire",
        "lazyfree-lazy-user-del",
        "lazyfree-lazy-user-flush",
        "active-expire-effort",
        "unixsocketperm",
        "replica-read-only",
        "repl-backlog-size",
        "min-replicas-to-write",
        "lfu-log-factor",
        "lfu-decay-time",
        "syslog-enabled",
        "io-threads",
        "notify-keyspace-events",
        "activerehashing",
        "set-proc-title",
        "oom-score-adj",
        "oom-score-adj-values",
        "latency-tracking",
        "latency-tracking-info-percentiles",
        "list-max-listpack-size",
        "hash-max-listpack-entries",
        "stop-writes-on-bgsave-error",
        "rdbcompression",
        "cluster-enabled",
        "masterauth",
        "replicaof",
        "nosuchdirective",
    ] {
        d.check_as(Compare::Pairs, &["CONFIG", "GET", name]);
    }
    d.script(
        r#"
[pairs] CONFIG GET maxmemory hz timeout
[pairs] CONFIG GET MAXMEMORY
[pairs] CONFIG GET maxmemory maxmemory
[pairs] CONFIG GET maxmemory*
[pairs] CONFIG GET *memory*
[pairs] CONFIG GET lazyfree*
[pairs] CONFIG GET slowlog-*
[pairs] CONFIG GET ?z
[pairs] CONFIG GET h[a-z]
[pairs] CONFIG GET nomatch*
[pairs] CONFIG GET slave-read-only
[pairs] CONFIG GET hash-max-ziplist-entries
[pairs] CONFIG GET maxmemory-policy hash-max-ziplist-entries
"#,
    );
}

#[test]
fn config_get_everything_matches_redis() {
    let mut d = Diff::new(&[]);
    let (a, b) = d.both(&["CONFIG", "GET", "*"]);
    let pairs = |raw: &[u8]| -> BTreeMap<String, String> {
        let v = to_value(raw);
        items(&v).chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect()
    };
    let (ours, theirs) = (pairs(&a), pairs(&b));
    let missing: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    let extra: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    let differ: Vec<String> = theirs
        .iter()
        .filter(|(k, _)| !SERVER_SPECIFIC.contains(&k.as_str()))
        .filter_map(|(k, v)| ours.get(k).filter(|o| *o != v).map(|o| format!("{k}: redis {v:?}, redoubt {o:?}")))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "CONFIG GET * differs from redis-server:\n  missing in redoubt: {missing:?}\n  only in redoubt: {extra:?}\n  default values differ:\n    {}",
        differ.join("\n    ")
    );
}

#[test]
fn config_get_in_resp3_is_a_map() {
    let mut d = Diff::new(&[]).resp3();
    d.script(
        r#"
CONFIG GET maxmemory
[pairs] CONFIG GET maxmemory hz
[pairs] CONFIG GET lazyfree*
CONFIG GET nomatch
"#,
    );
}

#[test]
fn config_set_values_and_errors() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
CONFIG SET maxmemory 1gb
CONFIG GET maxmemory
CONFIG SET maxmemory 100MB
CONFIG GET maxmemory
CONFIG SET maxmemory 1k
CONFIG GET maxmemory
CONFIG SET maxmemory 1kb
CONFIG GET maxmemory
CONFIG SET maxmemory 0
CONFIG SET maxmemory abc
CONFIG SET maxmemory -1
CONFIG SET maxmemory 1xb
CONFIG SET maxmemory ""
CONFIG SET maxmemory-policy allkeys-lru
CONFIG GET maxmemory-policy
CONFIG SET maxmemory-policy ALLKEYS-LFU
CONFIG GET maxmemory-policy
CONFIG SET maxmemory-policy foo
CONFIG SET maxmemory-policy noeviction
CONFIG SET hz 20
CONFIG GET hz
CONFIG SET hz abc
CONFIG SET hz 0
CONFIG GET hz
CONFIG SET hz 1000
CONFIG GET hz
CONFIG SET hz 10
CONFIG SET hz -1
CONFIG SET timeout -1
CONFIG SET timeout 99999999999
CONFIG SET timeout 0
CONFIG SET protected-mode maybe
CONFIG SET protected-mode YES
CONFIG GET protected-mode
CONFIG SET protected-mode no
CONFIG SET daemonize yes
CONFIG SET databases 20
CONFIG SET port
CONFIG SET nosuchdirective 1
CONFIG SET hz 20 maxmemory abc
CONFIG GET hz
CONFIG SET hz 20 hz 30
CONFIG GET hz
CONFIG SET hz 20 HZ 30
CONFIG SET hz 15 maxmemory 2mb
[pairs] CONFIG GET hz maxmemory
CONFIG SET hz
CONFIG SET hz 10 maxmemory
CONFIG SET slowlog-log-slower-than -1
CONFIG SET slowlog-log-slower-than -2
CONFIG GET slowlog-log-slower-than
CONFIG SET slowlog-max-len 0
CONFIG SET client-output-buffer-limit "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60"
CONFIG GET client-output-buffer-limit
CONFIG SET client-output-buffer-limit "normal 0 0"
CONFIG SET client-output-buffer-limit "foo 0 0 0"
CONFIG SET client-query-buffer-limit 1mb
CONFIG GET client-query-buffer-limit
CONFIG SET client-query-buffer-limit 1k
CONFIG SET proto-max-bulk-len 1k
CONFIG SET proto-max-bulk-len 1mb
CONFIG GET proto-max-bulk-len
CONFIG SET maxmemory-samples 0
CONFIG SET maxmemory-samples 64
CONFIG SET maxmemory-samples 65
CONFIG SET loglevel debug
CONFIG SET loglevel verbose
CONFIG SET loglevel foo
CONFIG GET loglevel
CONFIG SET requirepass ""
CONFIG SET save ""
CONFIG GET save
CONFIG SET save "900 1 300 10"
CONFIG GET save
CONFIG SET save "900"
CONFIG SET save "abc 1"
CONFIG SET save ""
CONFIG SET maxclients 50
CONFIG GET maxclients
CONFIG SET maxclients 0
CONFIG SET enable-debug-command no
CONFIG SET slave-read-only no
CONFIG GET replica-read-only
CONFIG SET notify-keyspace-events KEA
CONFIG GET notify-keyspace-events
CONFIG SET notify-keyspace-events X
CONFIG RESETSTAT
CONFIG RESETSTAT extra
"#,
    );
}
