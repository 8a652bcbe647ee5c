//! Errors, differential: the arity error for every command Redoubt has (generated from
//! its own COMMAND table), unknown commands and subcommands (Redis 7.0's exact texts,
//! including how long and odd arguments are quoted), and the HELP replies.

use crate::support::diff::Compare;
use crate::support::help::canon_help;
use crate::support::{int, items, text, Diff, Value};

/// Commands that would end or change the connection (or the server) when called with
/// too few arguments; their arity is covered elsewhere.
const NOT_PROBED: &[&str] = &["shutdown", "monitor", "quit", "reset", "sync", "psync", "debug", "failover"];

/// The names (lower case) and arities Redoubt's COMMAND reports, top-level only.
fn command_table(d: &mut Diff) -> Vec<(String, i64)> {
    let (a, _) = d.both(&["COMMAND"]);
    let reply = crate::support::to_value(&a);
    let mut out: Vec<(String, i64)> = items(&reply).iter().map(|c| (text(&items(c)[0]), int(&items(c)[1]))).collect();
    out.sort();
    out
}

#[test]
fn wrong_arity_for_every_command() {
    let mut d = Diff::new(&[]);
    let table = command_table(&mut d);
    assert!(table.len() > 50, "COMMAND listed only {} commands", table.len());
    for (name, arity) in table {
        if NOT_PROBED.contains(&name.as_str()) {
            continue;
        }
        // Too few: fixed arity N -> N-1 words; at least N (arity -N) -> N-1 words.
        let need = arity.unsigned_abs() as usize;
        if need >= 2 {
            let mut args = vec![name.clone()];
            args.extend((1..need - 1).map(|i| format!("x{i}")));
            d.check(&args);
        }
        // Too many, for fixed arity.
        if arity > 0 {
            let mut args = vec![name.to_uppercase()];
            args.extend((1..=need).map(|i| format!("x{i}")));
            d.check(&args);
        }
    }
    d.script(
        r#"
SHUTDOWN NOSAVE extra extra extra
DEBUG
"#,
    );
}

#[test]
fn wrong_arity_for_subcommands() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
CLIENT
CLIENT ID extra
CLIENT SETNAME
CLIENT SETNAME a b
CLIENT GETNAME x
CLIENT KILL
CLIENT PAUSE
CLIENT REPLY
CLIENT NO-EVICT
CLIENT UNBLOCK
CLIENT INFO x
CONFIG
CONFIG GET
CONFIG SET
CONFIG SET maxmemory
CONFIG RESETSTAT x
CONFIG REWRITE x
COMMAND COUNT x
COMMAND GETKEYS
OBJECT ENCODING
OBJECT FREQ a b
SLOWLOG
SLOWLOG GET 1 2
SLOWLOG LEN x
SLOWLOG RESET x
LATENCY
LATENCY HISTORY
LATENCY LATEST x
"#,
    );
}

#[test]
fn unknown_commands() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
FOO
FOO a b
foo "a b" c
NOSUCHCOMMAND ""
"FOO\r\nBAR" x
"" 
"\x00"
"\xff\xfe" "\x00"
"GET " k
" GET" k
GETT k
GET|x k
CLIENT|LIST
client|list
"#,
    );
    // Redis quotes at most 128 characters of the arguments in the error.
    let long = "a".repeat(300);
    d.check(&["NOPE", &long]);
    d.check(&["NOPE", "short", &long, "after"]);
    let many: Vec<String> = std::iter::once("NOPE".to_string()).chain((0..100).map(|i| format!("arg{i}"))).collect();
    d.check(&many);
    d.check(&["NOPE", "with\nnewline", "and\rreturn"]);
    d.check(&[&"N".repeat(200), "x"]);
}

#[test]
fn unknown_subcommands_and_help() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
CLIENT FOO
CLIENT FOO bar
client foo
CONFIG FOO
COMMAND FOO
OBJECT FOO k
SLOWLOG FOO
LATENCY FOO
DEBUG NOSUCHSUBCOMMAND
"#,
    );
    // HELP texts are prose, and Redoubt words its own: compare their shape (header,
    // one syntax line per subcommand, the HELP trailer), not their descriptions.
    for cmd in ["CLIENT", "CONFIG", "COMMAND", "OBJECT", "SLOWLOG", "LATENCY"] {
        d.check_as(Compare::Canon(canon_help), &[cmd, "HELP"]);
    }
    d.check_as(Compare::Canon(canon_help), &["CLIENT", "help"]);
}

#[test]
fn unknown_subcommand_is_not_confused_by_known_prefixes() {
    // A subcommand name is matched whole, case-insensitively.
    let mut d = Diff::new(&[]);
    d.script(
        r#"
CLIENT IDX
CLIENT I
[type] client Id
CONFIG GETX maxmemory
config get MAXMEMORY
"#,
    );
    let (a, b) = d.both(&["CLIENT", "ID"]);
    assert!(matches!(crate::support::to_value(&a), Value::Int(_)), "CLIENT ID: {}", crate::support::esc(&a));
    assert!(matches!(crate::support::to_value(&b), Value::Int(_)));
}

#[test]
fn debug_subcommands_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
DEBUG SLEEP 0
DEBUG SLEEP 0.01
DEBUG SLEEP abc
DEBUG SET-ACTIVE-EXPIRE 1
DEBUG SET-ACTIVE-EXPIRE 0
DEBUG SET-ACTIVE-EXPIRE 2
DEBUG SET-ACTIVE-EXPIRE abc
DEBUG SET-ACTIVE-EXPIRE
DEBUG SET-ACTIVE-EXPIRE 1
DEBUG PROTOCOL
DEBUG DIGEST-VALUE
DEBUG NOSUCH
debug digest
"#,
    );
    // Without enable-debug-command, DEBUG is refused with Redis's text.
    let mut d = Diff::new(&["--enable-debug-command", "no"]);
    d.check(&["DEBUG", "DIGEST"]);
    d.check(&["DEBUG", "SLEEP", "0"]);
    let mut d = Diff::new(&["--enable-debug-command", "local"]);
    d.check(&["DEBUG", "DIGEST"]);
}
