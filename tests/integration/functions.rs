//! Functions, differential: FUNCTION LOAD/DELETE/FLUSH/LIST/STATS/DUMP/RESTORE/HELP,
//! FCALL and FCALL_RO on Redoubt and Redis 7.0, replies and errors byte for byte; a
//! dump made by either server restores on the other; FUNCTION KILL and FUNCTION STATS
//! while a function runs.

use std::time::Duration;

use crate::support::diff::Compare;
use crate::support::{Diff, ServerProcess, Value};

const LIB: &str = "#!lua name=lib\nredis.register_function('f1', function(keys, args) return {keys, args} end)\n\
redis.register_function{function_name='ro', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}\n\
redis.register_function('w', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
redis.register_function('err', function() return redis.call('nosuch') end)\n\
redis.register_function('g', function() return x end)";

fn load(d: &mut Diff, code: &str) {
    d.check(&["FUNCTION", "LOAD", code]);
}

#[test]
fn load_and_call_match_redis() {
    let mut d = Diff::new(&[]);
    d.check(&["FUNCTION", "FLUSH"]);
    load(&mut d, LIB);
    load(&mut d, LIB);
    d.check(&["FUNCTION", "LOAD", "REPLACE", LIB]);
    d.check(&["FUNCTION", "LOAD", "FOO", LIB]);
    d.check(&["FUNCTION", "LOAD", "REPLACE"]);
    d.script(
        r#"
FCALL f1 2 a b c d
FCALL F1 0
FCALL nosuch 0
FCALL nosuch -1
FCALL f1 -1
FCALL f1 5
FCALL f1 abc
FCALL w 1 k v
FCALL ro 1 k
FCALL_RO ro 1 k
FCALL_RO w 1 k v
FCALL err 0
FCALL g 0
FUNCTION DELETE nosuch
FUNCTION DELETE lib
FCALL f1 0
FUNCTION FLUSH foo
FUNCTION FLUSH ASYNC
FUNCTION FLUSH SYNC
FUNCTION HELP
"#,
    );
    d.finish();
}

#[test]
fn load_errors_match_redis() {
    let mut d = Diff::new(&[]);
    for code in [
        "return 1",
        "#!lua",
        "#!lua name=",
        "#!lua\nreturn 1",
        "#!lua name=a-b\nredis.register_function('f', function() end)",
        "#!lua name=lib2 foo=bar\n",
        "#!lua name=lib name=x\n",
        "#!foo name=x\n",
        "#!lua name=z\nreturn 1",
        "#!lua name=z\nredis.register_function('f2', function() end) redis.register_function('f2', function() end)",
        "#!lua name=z\nredis.register_function('f-2', function() end)",
        "#!lua name=z\nredis.register_function('f2', 'notafunc')",
        "#!lua name=z\nredis.register_function('f2')",
        "#!lua name=z\nredis.register_function{function_name='f2', callback=function() end, flags={'bad'}}",
        "#!lua name=z\nredis.register_function{function_name='f2', callback=function() end, description='d', foo=1}",
        "#!lua name=z\nredis.register_function{function_name='a'}",
        "#!lua name=z\nredis.register_function{callback=function() end}",
        "#!lua name=z\nredis.register_function{function_name='a', callback=1}",
        "#!lua name=z\nredis.register_function{function_name='a', callback=function() end, flags='no-writes'}",
        "#!lua name=z\nredis.register_function(1, function() end)",
        "#!lua name=z\nredis.register_function()",
        "#!lua name=z\nredis.register_function('a', function() end, 3)",
        "#!lua name=z\nredis.register_function({}, function() end)",
        "#!lua name=z\nredis.call('ping')",
        "#!lua name=z\nx = 1",
        "#!lua name=z\nreturn y",
        "#!lua name=z\nerror('oops')",
        "#!lua name=z\nretur",
        "#!lua name=z\nlocal x = pairs",
        "#!lua name=z\nlocal x = redis.setresp",
        "#!lua name=z\nredis.log(redis.LOG_WARNING, 'loading', redis.REDIS_VERSION)\nredis.register_function('zz', function() return 1 end)",
        "#!LUA NAME=y\nredis.register_function{function_name='yy', callback=function() return 2 end, flags={'no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}, description='hello'}",
        "#!lua name=y2\nredis.register_function('YY', function() end)",
    ] {
        load(&mut d, code);
    }
    d.check_as(Compare::Unordered, &["FUNCTION", "LIST"]);
    d.check(&["FUNCTION", "LIST", "LIBRARYNAME", "Z*", "WITHCODE"]);
    d.check(&["FUNCTION", "LIST", "LIBRARYNAME", "y"]);
    d.check(&["FUNCTION", "LIST", "LIBRARYNAME"]);
    d.check(&["FUNCTION", "LIST", "WITHCODE", "WITHCODE"]);
    d.check(&["FUNCTION", "LIST", "LIBRARYNAME", "a", "LIBRARYNAME", "b"]);
    d.check(&["FUNCTION", "LIST", "foo"]);
    d.check(&["FUNCTION", "STATS"]);
    d.check(&["FCALL", "zz", "0"]);
    d.check(&["FCALL", "yy", "0"]);
    d.check(&["FCALL_RO", "yy", "0"]);
    d.finish();
}

#[test]
fn runtime_environment_matches_redis() {
    let mut d = Diff::new(&[]).resp3();
    load(
        &mut d,
        "#!lua name=probe\n\
redis.register_function('p', function()\n\
  local g = {} for k in pairs(_G) do g[#g+1] = k end table.sort(g)\n\
  local r = {} for k in pairs(redis) do r[#r+1] = k end table.sort(r)\n\
  return {table.concat(g, ','), table.concat(r, ',')}\n\
end)\n\
redis.register_function('q', function(keys, args) x = 1 end)\n\
redis.register_function('q2', function(keys, args) return y end)\n\
redis.register_function('q3', function(keys, args) return redis.call('nosuch') end)\n\
redis.register_function('q4', function(keys, args) error('boom') end)\n\
redis.register_function('q5', function(keys, args) redis.setresp(3) return redis.call('hgetall', keys[1]) end)\n\
redis.register_function('q6', function(keys, args) return redis.foo end)",
    );
    d.check(&["HSET", "h", "a", "1"]);
    for f in ["p", "q", "q2", "q3", "q4", "q6"] {
        d.check(&["FCALL", f, "0"]);
    }
    d.check(&["FCALL", "q5", "1", "h"]);
    // (FUNCTION LIST of a library of several functions is left out: Redis lists them
    // in its hash table's order.)
    d.finish();
}

/// A dump made by either server restores on the other, with each policy.
#[test]
fn dump_and_restore_across_servers() {
    let mut d = Diff::new(&[]);
    load(&mut d, LIB);
    load(&mut d, "#!lua name=second\nredis.register_function('s1', function() return 's1' end)");
    d.check(&["FUNCTION", "RESTORE", "abc"]);
    d.check(&["FUNCTION", "RESTORE", "abc", "foo"]);
    d.check(&["FUNCTION", "RESTORE"]);
    // Libraries are dumped in the order each server keeps them: compare one at a time.
    d.check(&["FUNCTION", "DELETE", "second"]);
    d.check(&["FUNCTION", "DUMP"]);
    let (ours, theirs) = d.both(&["FUNCTION", "DUMP"]);
    let payload = |raw: &[u8]| match crate::support::to_value(raw) {
        Value::Bulk(b) => b,
        other => panic!("FUNCTION DUMP answered {other:?}"),
    };
    let (ours, theirs) = (payload(&ours), payload(&theirs));
    d.check(&["FUNCTION", "FLUSH"]);
    for (a, b) in [(&ours, &theirs), (&theirs, &ours)] {
        // Each server restores the other's dump.
        let (ra, rb) = d.conns();
        let r1 = ra.cmd(&[b"FUNCTION".as_slice(), b"RESTORE", b]);
        let r2 = rb.cmd(&[b"FUNCTION".as_slice(), b"RESTORE", a]);
        assert_eq!(r1, b"+OK\r\n", "Redoubt restoring a dump");
        assert_eq!(r2, b"+OK\r\n", "Redis restoring Redoubt's dump");
        d.check(&["FCALL", "f1", "1", "k", "a"]);
        d.check(&[b"FUNCTION".as_slice(), b"RESTORE", a, b"APPEND"]);
        d.check(&[b"FUNCTION".as_slice(), b"RESTORE", a, b"REPLACE"]);
        d.check(&[b"FUNCTION".as_slice(), b"RESTORE", a, b"FLUSH"]);
        d.check(&["FUNCTION", "FLUSH"]);
    }
    let mut corrupt = theirs.clone();
    let at = corrupt.len() / 2;
    corrupt[at] ^= 0x55;
    d.check(&[b"FUNCTION".as_slice(), b"RESTORE", &corrupt]);
    d.finish();
}

/// FUNCTION STATS and FUNCTION KILL while a function runs; SCRIPT KILL refuses it.
#[test]
fn kill_a_running_function() {
    let server = ServerProcess::redoubt(&["--busy-reply-threshold", "200"]);
    let mut runner = server.conn();
    let mut other = server.conn();
    let code = "#!lua name=lib\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(other.cmd(&["FUNCTION", "LOAD", code]), b"$3\r\nlib\r\n");
    runner.send(&["FCALL", "spin", "0"]);
    std::thread::sleep(Duration::from_millis(300));
    let busy = b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
    assert_eq!(other.cmd(&["PING"]), busy);
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), busy);
    let stats = String::from_utf8_lossy(&other.cmd(&["FUNCTION", "STATS"])).into_owned();
    assert!(stats.starts_with("*4\r\n$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n*3\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n0\r\n$11\r\nduration_ms\r\n:"), "{stats}");
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]), b"+OK\r\n");
    assert_eq!(runner.read(), b"-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.\r\n");
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]), b"-NOTBUSY No scripts in execution right now.\r\n");
}
