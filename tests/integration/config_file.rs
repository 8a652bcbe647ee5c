//! redis.conf handling, differential: start-up from a file with comments, quotes,
//! `include` and memory units; fatal errors (exit code, stderr with the line number);
//! CONFIG REWRITE (keeps comments and order), all compared with redis-server.

use std::fs;
use std::time::Duration;

use crate::support::diff::Compare;
use crate::support::{esc, run_to_exit, temp_dir, Diff, Flavor, ServerProcess, Spec};

const CONFIG: &str = r#"# Redoubt test configuration
   # an indented comment

maxmemory 10mb
maxmemory-policy "allkeys-lru"
hz 25
timeout 300
tcp-keepalive 60
databases 8
requirepass "pass word"
proto-max-bulk-len 2MB
client-query-buffer-limit 1Gb
slowlog-log-slower-than 12345
slowlog-max-len 64
maxmemory-samples 7
loglevel verbose
protected-mode no
lazyfree-lazy-user-del yes
notify-keyspace-events "Ex"
client-output-buffer-limit normal 1mb 2mb 60
client-output-buffer-limit pubsub 32mb 8mb 60
include $DIR/extra.conf
latency-monitor-threshold '5'
active-expire-effort 3
appendonly no
maxmemory 12mb
"#;

const EXTRA: &str = "# included\nhz 30\nmaxclients 500\nmaxmemory-samples 9\n";

#[test]
fn start_up_from_a_config_file_matches_redis() {
    let mut d = Diff::with(|s| s.config(CONFIG).file("extra.conf", EXTRA));
    d.check(&["AUTH", "pass word"]);
    for name in [
        "maxmemory",
        "maxmemory-policy",
        "hz",
        "timeout",
        "tcp-keepalive",
        "databases",
        "requirepass",
        "proto-max-bulk-len",
        "client-query-buffer-limit",
        "slowlog-log-slower-than",
        "slowlog-max-len",
        "maxmemory-samples",
        "loglevel",
        "protected-mode",
        "lazyfree-lazy-user-del",
        "notify-keyspace-events",
        "client-output-buffer-limit",
        "maxclients",
        "latency-monitor-threshold",
        "active-expire-effort",
        "appendonly",
    ] {
        d.check_as(Compare::Pairs, &["CONFIG", "GET", name]);
    }
    d.check(&["SELECT", "7"]);
    d.check(&["SELECT", "8"]);
}

#[test]
fn memory_units() {
    let units = "maxmemory 1k\nproto-max-bulk-len 1gb\nclient-query-buffer-limit 3M\nrepl-backlog-size 1kb\n";
    let mut d = Diff::with(|s| s.config(units));
    d.script(
        r#"
[pairs] CONFIG GET maxmemory
[pairs] CONFIG GET proto-max-bulk-len
[pairs] CONFIG GET client-query-buffer-limit
[pairs] CONFIG GET repl-backlog-size
"#,
    );
}

/// Runs `binary config-file extra-args` (expected to refuse to start) for both servers
/// in one directory, so paths in the messages are the same, and compares exit code and
/// stderr.
fn compare_fatal(config: &str, extra: &[&str]) -> Option<String> {
    let dir = temp_dir("fatal");
    let file = dir.join("bad.conf");
    fs::write(&file, config.replace("$DIR", &dir.to_string_lossy())).expect("write config");
    let file_s = file.to_string_lossy().to_string();
    let mut args = vec![file_s.as_str()];
    args.extend_from_slice(extra);
    let run = |flavor: Flavor| run_to_exit(flavor.binary(), &args, &dir, Duration::from_secs(10));
    let (redis, ours) = (run(Flavor::Redis), run(Flavor::Redoubt));
    let dir_s = dir.to_string_lossy().to_string();
    let (rout, oout) = (mask_log_prefix(&redis.stdout, &dir_s), mask_log_prefix(&ours.stdout, &dir_s));
    let (rerr, oerr) = (redis.stderr.replace(&dir_s, "$DIR"), ours.stderr.replace(&dir_s, "$DIR"));
    let same = redis.code == ours.code && rerr == oerr && rout == oout && redis.code == Some(1);
    (!same).then(|| {
        format!(
            "config {:?} args {extra:?}:\n    redis:   exit {:?}, stderr {}, stdout {}\n    redoubt: exit {:?}, stderr {}, stdout {}",
            config,
            redis.code,
            esc(rerr.as_bytes()),
            esc(rout.as_bytes()),
            ours.code,
            esc(oerr.as_bytes()),
            esc(oout.as_bytes()),
        )
    })
}

/// Log lines with their `pid:role date time` prefix cut (the level mark stays), and the
/// temp dir masked.
fn mask_log_prefix(out: &str, dir: &str) -> String {
    out.lines()
        .map(|l| match l.split_once(" # ").or_else(|| l.split_once(" * ")) {
            Some((prefix, rest)) if prefix.contains(':') => format!("<log> {rest}"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(dir, "$DIR")
}

#[test]
fn fatal_config_errors_match_redis() {
    let cases: &[(&str, &[&str])] = &[
        ("foo bar\n", &[]),
        ("# comment\n\nnosuchdirective 1\n", &[]),
        ("maxmemory\n", &[]),
        ("hz 1 2\n", &[]),
        ("maxmemory abc\n", &[]),
        ("maxmemory 10xb\n", &[]),
        ("protected-mode maybe\n", &[]),
        ("maxmemory-policy foo\n", &[]),
        ("databases 0\n", &[]),
        ("timeout -1\n", &[]),
        ("maxclients 0\n", &[]),
        ("requirepass \"abc\n", &[]),
        ("requirepass 'abc\n", &[]),
        ("hz 10\n\n# fine so far\nloglevel shouting\n", &[]),
        ("include $DIR/nonexistent.conf\n", &[]),
        ("port 99999\n", &[]),
        ("port abc\n", &[]),
        ("client-output-buffer-limit foo 1 2 3\n", &[]),
        ("client-output-buffer-limit normal 1 2\n", &[]),
        ("save 900\n", &[]),
        ("hz 10\n", &["--maxmemory", "abc"]),
        ("hz 10\n", &["--nosuchoption", "x"]),
        ("hz 10\n", &["--hz"]),
    ];
    let problems: Vec<String> = cases.iter().filter_map(|(config, extra)| compare_fatal(config, extra)).collect();
    assert!(
        problems.is_empty(),
        "{} of {} fatal config errors differ:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

#[test]
fn fatal_error_inside_an_included_file_matches_redis() {
    let dir = temp_dir("fatal-include");
    let inc = dir.join("inc.conf");
    fs::write(&inc, "hz 10\nbogus directive\n").expect("write");
    let config = format!("# main\nhz 5\ninclude {}\n", inc.display());
    let got = compare_fatal(&config, &[]);
    assert!(got.is_none(), "{}", got.unwrap_or_default());
}

/// The rewritten file with the per-process values (temp dir, port) replaced, and the
/// lines after "# Generated by CONFIG REWRITE" sorted: Redis appends them in the order
/// of a randomly seeded dict.
fn rewritten(s: &ServerProcess) -> String {
    let text = fs::read_to_string(s.dir.join("redis.conf")).expect("config file");
    let text = text.replace(&s.dir.to_string_lossy().to_string(), "$DIR").replace(&s.port.to_string(), "$PORT");
    let marker = "# Generated by CONFIG REWRITE\n";
    match text.split_once(marker) {
        Some((kept, generated)) => {
            let mut lines: Vec<&str> = generated.lines().collect();
            lines.sort();
            format!("{kept}{marker}[sorted]\n{}", lines.join("\n"))
        }
        None => text,
    }
}

const REWRITE_ME: &str = r#"# Top comment: keep me
hz 25

# Memory section comment
maxmemory 10mb
maxmemory-policy allkeys-lru
# a trailing comment after maxmemory-policy
timeout 300
slowlog-max-len 64
"#;

#[test]
fn config_rewrite_keeps_comments_and_order_like_redis() {
    let specs = |flavor| Spec::new(flavor).config(REWRITE_ME);
    let servers = [specs(Flavor::Redis).start(), specs(Flavor::Redoubt).start()];
    let mut files = Vec::new();
    for s in &servers {
        let mut c = s.conn();
        for (k, v) in [
            ("hz", "33"),
            ("maxmemory", "5mb"),
            ("slowlog-max-len", "128"),
            ("timeout", "0"),
            ("maxmemory-samples", "9"),
        ] {
            assert_eq!(c.cmd(&["CONFIG", "SET", k, v]), b"+OK\r\n", "{}: CONFIG SET {k} {v}", s.flavor.name());
        }
        assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n", "{}", s.flavor.name());
        let first = rewritten(s);
        // A second rewrite of the rewritten file (Redis adds a blank line each time).
        assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n");
        files.push((first, rewritten(s)));
    }
    assert_eq!(files[1].0, files[0].0, "CONFIG REWRITE output (left: redoubt, right: redis)");
    assert_eq!(files[1].1, files[0].1, "second CONFIG REWRITE output (left: redoubt, right: redis)");
    // The rewritten file starts the server with the new values.
    let text = fs::read_to_string(servers[1].dir.join("redis.conf")).expect("file");
    assert!(text.starts_with("# Top comment: keep me\n"), "{text}");
}

#[test]
fn config_rewrite_without_a_config_file_fails_like_redis() {
    let mut d = Diff::new(&[]);
    d.check(&["CONFIG", "REWRITE"]);
}
