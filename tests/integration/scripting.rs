//! Lua scripting, differential: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT on Redoubt
//! and on Redis 7.0 must give the same bytes — conversions both ways (RESP2 and RESP3
//! scripts, RESP2 and RESP3 clients), error texts with their script and line, pcall
//! error tables, read-only globals, the shebang and its flags, NOSCRIPT, the
//! cjson/cmsgpack/bit/struct libraries — and the same data afterwards (DEBUG DIGEST).
//! Then what cannot be compared reply by reply: a long script makes others wait, then
//! answers them BUSY, and SCRIPT KILL ends it.

use std::time::{Duration, Instant};

use crate::support::{Conn, Diff, ServerProcess};

/// EVAL `script` with `keys` and `args` on both servers, compared.
fn eval(d: &mut Diff, script: &str, keys: &[&str], args: &[&str]) {
    let nkeys = keys.len().to_string();
    let mut cmd = vec!["EVAL", script, &nkeys];
    cmd.extend_from_slice(keys);
    cmd.extend_from_slice(args);
    d.check(&cmd);
}

/// Each script of `scripts`, with no keys or arguments.
fn evals(d: &mut Diff, scripts: &[&str]) {
    for s in scripts {
        eval(d, s, &[], &[]);
    }
}

const CONVERSIONS: &[&str] = &[
    "return 1",
    "return 3.99",
    "return -3.99",
    "return 1e20",
    "return 0/0",
    "return 'x'",
    "return true",
    "return false",
    "return nil",
    "return",
    "return {1,2,3,'ciao',{1,2}}",
    "return {1,2,nil,4}",
    "return {ok='x\\r\\ny'}",
    "return {err='x\\r\\ny'}",
    "return {err='a\\r\\n'}",
    "return {ok=1}",
    "return {1, {err='x'}, {ok='y'}}",
    "return {double=1.5}",
    "return {map={a=1}}",
    "return {set={a=true}}",
    "return {big_number='123'}",
    "return {verbatim_string={format='txt',string='abc'}}",
    "return {map={[1]=2,[2.5]=3,[true]=4}}",
    "return function() end",
    "redis.setresp(3) return true",
    "redis.setresp(3) return false",
    "redis.setresp(3) return {double=3.14}",
    "redis.setresp(3) return {double=0/0}",
    "redis.setresp(3) return {verbatim_string={format='markdown',string='abc'}}",
    "redis.setresp(3) return {big_number='12\\r\\n3'}",
    "return redis.call('ping')",
    "return redis.call('get','nokey')",
    "return type(redis.call('get','nokey'))",
    "redis.setresp(3) return type(redis.call('get','nokey'))",
    "redis.call('del','h') redis.call('hset','h','a','1','b','2') return redis.call('hgetall','h')",
    "redis.setresp(3) return redis.call('hgetall','h')",
    "redis.setresp(3) local m = redis.call('hgetall','h') return {m.map.a, m.map.b}",
    "redis.call('del','s') redis.call('sadd','s','x') redis.setresp(3) return redis.call('smembers','s').set.x",
    "return redis.call('hmget','h','a','zz')",
    "redis.setresp(3) return redis.call('hmget','h','a','zz')",
    "redis.call('del','z') redis.call('zadd','z','1.5','m') redis.setresp(3) return redis.call('zscore','z','m')",
    "redis.setresp(3) return redis.call('zscore','z','m').double",
    "return redis.call('set','n',3.5)",
    "return redis.call('get','n')",
    "redis.call('set','n',0.1) return redis.call('get','n')",
    "redis.call('set','n',1e20) return redis.call('get','n')",
    "redis.call('set','n',123456789012345678) return redis.call('get','n')",
    "return redis.call('incr','n')",
    "redis.call('set','i',10) return redis.call('incr','i')",
    "return {KEYS, ARGV}",
    "return tostring(1/3)",
];

#[test]
fn conversions_match_redis() {
    let mut d = Diff::new(&[]);
    evals(&mut d, CONVERSIONS);
    eval(&mut d, "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", &["k1", "k2"], &["a1", "a2", "a3"]);
    eval(&mut d, "KEYS[1] = 'x'; ARGV[3] = 'y' return {KEYS[1], ARGV[3]}", &["a"], &[]);
    d.finish();
}

#[test]
fn conversions_match_redis_for_resp3_clients() {
    let mut d = Diff::new(&[]).resp3();
    evals(&mut d, CONVERSIONS);
    d.finish();
}

#[test]
fn errors_and_their_texts_match_redis() {
    let mut d = Diff::new(&[]);
    d.check(&["SET", "str", "abc"]);
    evals(
        &mut d,
        &[
            "return x",
            "x = 1",
            "function f() end",
            "_G.x = 1",
            "rawset(_G,'x',1)",
            "setmetatable(_G, nil)",
            "redis.call = nil",
            "string.foo = 1",
            "return rawget(_G, 'x')",
            "return {pcall(function() x = 1 end)}",
            "return {pcall(rawset, string, 'x', 1)}",
            "getmetatable('').__index = nil",
            "return getmetatable('').__index == string",
            "return type(getfenv)",
            "return type(os)",
            "retur 1",
            "return redis.call('nosuch')",
            "return redis.call('set','a')",
            "return redis.call('incr','str')",
            "return redis.pcall('incr','str')",
            "return redis.pcall('incr','str')['err']",
            "return redis.pcall('nosuch')['err']",
            "return redis.error_reply('My Error')",
            "return redis.error_reply('-My Error')",
            "return redis.error_reply('x')",
            "return redis.error_reply('a\\r\\nb\\r\\n')",
            "return redis.error_reply()",
            "return redis.status_reply('FINE')",
            "return redis.status_reply(1)",
            "error('boom')",
            "error({err='boom'})",
            "error({err='-boom'})",
            "error({err='a\\r\\nb'})",
            "error()",
            "error(12)",
            "\nerror('line two')",
            "\n\nreturn redis.call('nosuch')",
            "local t = setmetatable({}, {__index=function() error('deep') end}) return t.x",
            "return table.concat({{}})",
            "return string.rep()",
            "local function f() return f() + 1 end return f()",
            "return redis.call('set','n',{})",
            "return redis.call('set','n',nil)",
            "return redis.call()",
            "return redis.pcall()",
            "return redis.pcall('set','n',{})",
            "return redis.call(1)",
            "return redis.pcall('debug','sleep',0)",
            "return redis.call('eval','return 1',0)",
            "return redis.call('multi')",
            "return redis.pcall('multi','x')",
            "return redis.call('subscribe','x')",
            "return redis.call('blpop','x',0)",
            "return redis.call('client','id')",
            "return redis.call('config','get','maxmemory')",
            "return redis.call('select',1)",
            "redis.call('select',1) return redis.call('set','indb1','v')",
            "return redis.call('select',100)",
            "redis.setresp(4)",
            "redis.setresp()",
            "redis.setresp('3')",
            "redis.set_repl(99)",
            "redis.set_repl()",
            "return {redis.set_repl(redis.REPL_ALL), redis.replicate_commands()}",
            "return redis.log()",
            "return redis.log(99, 'x')",
            "return redis.log('a', 'x')",
            "return {redis.log(redis.LOG_WARNING, 'from a script', 3)}",
            "return {redis.breakpoint(), redis.debug('x')}",
            "return redis.acl_check_cmd('get','x')",
            "return redis.acl_check_cmd('nosuch')",
            "return redis.acl_check_cmd()",
            "return redis.sha1hex('abc')",
            "return redis.sha1hex(12)",
            "return redis.sha1hex({})",
            "return redis.sha1hex()",
            "return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM, redis.LOG_DEBUG, redis.LOG_WARNING, redis.REPL_ALL, redis.REPL_NONE}",
            "return redis.foo",
            "local t={} for k,v in pairs(_G) do t[#t+1]=k end table.sort(t) return t",
            "local t={} for k,v in pairs(redis) do t[#t+1]=k end table.sort(t) return t",
        ],
    );
    d.check(&["GET", "indb1"]);
    d.check(&["SELECT", "1"]);
    d.check(&["GET", "indb1"]);
    d.finish();
}

#[test]
fn eval_arguments_scripts_and_shebangs_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
EVAL "return 1" -1
EVAL "return 1" 3 a
EVAL "return 1" abc
EVAL "return 1" 99999999999999999999
EVAL
EVAL "return 1"
EVALSHA abc 0
EVALSHA 0000000000000000000000000000000000000000 0
EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
SCRIPT LOAD "return 1"
EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
EVALSHA E0E1F9FABFC9D4800C877A703B823AC0578FF8DB 0
SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db abc
SCRIPT LOAD "retur"
SCRIPT LOAD
SCRIPT
SCRIPT foo
SCRIPT KILL
SCRIPT FLUSH foo
SCRIPT FLUSH ASYNC
SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db
SCRIPT LOAD "return 1"
SCRIPT FLUSH SYNC
SCRIPT FLUSH
EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
EVAL_RO "return redis.call('get','a')" 0
EVAL_RO "return redis.call('set','a','b')" 0
EVAL_RO "return redis.call('publish','c','m')" 0
SCRIPT LOAD "return redis.call('set','a','b')"
EVALSHA_RO 3f4f8e01f8d42a2f6d5ec5b07ba6a5a0e0de6f07 0
EVALSHA_RO e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
"#,
    );
    evals(
        &mut d,
        &[
            "#!lua\nreturn 1",
            "#!lua flags=no-writes\nreturn redis.call('set','a','b')",
            "#!lua flags=no-writes\nreturn redis.call('get','a')",
            "#!lua flags=foo\nreturn 1",
            "#!lua name=x\nreturn 1",
            "#!luax\nreturn 1",
            "#!python\nreturn 1",
            "#!lua flags=no-writes,allow-oom,allow-stale,no-cluster,allow-cross-slot-keys\nreturn 1",
            "#!lua flags=\nreturn 1",
            "#!lua flags=no-writes,,allow-oom\nreturn 1",
            "#!lua",
            "#!lua\nreturn redis.call('get', 'undeclared')",
            "#!lua  flags=no-writes  \nreturn 2",
            "#!lua flags=no-writes foo=bar\nreturn 2",
            "#! lua\nreturn 1",
            "#!lua\n\nreturn x",
        ],
    );
    d.check(&["EVAL_RO", "#!lua\nreturn 1", "0"]);
    d.check(&["EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get','a')", "0"]);
    d.check(&["SCRIPT", "HELP"]);
    d.finish();
}

#[test]
fn libraries_match_redis() {
    let mut d = Diff::new(&[]);
    evals(
        &mut d,
        &[
            "return {bit.band(0xff, 0x0f), bit.bor(1,2,4), bit.bxor(5,3), bit.bnot(0), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.tobit(4294967296+5), bit.bswap(0x12345678)}",
            "return {bit.tohex(255), bit.tohex(-1, 4), bit.tohex(255, -2), bit.tohex(0x12345678, 10)}",
            "return bit.band()",
            "return bit.band('x')",
            "return bit.band('12', 4)",
            "return {pcall(bit.band, {})}",
            "return cjson.encode({1,2,3,{a=1}})",
            "return cjson.encode({a='x/y\"\\n', b=true, c=false, d=cjson.null})",
            "return cjson.encode(123456789012345)",
            "return cjson.encode(0.1)",
            "return cjson.encode({})",
            "return cjson.encode({[1]=1, [5]=2})",
            "return cjson.encode({[1]=1, [50]=2})",
            "return cjson.encode(function() end)",
            "return cjson.encode({[true]=1})",
            "return cjson.encode(1/0)",
            "return cjson.encode('\\1\\127\\200')",
            "return cjson.decode('[1,2,\"x\",{\"a\":null}]')[4].a == cjson.null",
            "return cjson.decode('{\"a\":[1,2,{\"b\":3.5}]}').a[3].b",
            "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')",
            "return cjson.decode('[1,2')",
            "return cjson.decode('x')",
            "return cjson.decode('{\"a\" 1}')",
            "return cjson.decode('[1] x')",
            "return cjson.decode('{1:2}')",
            "return {pcall(cjson.decode, '[')}",
            "return cjson.decode('  123  ')",
            "return cjson.decode('\"abc')",
            "return cjson.decode('\"\\\\x\"')",
            "return cjson.decode('[true,false,null]')[1]",
            "return cjson.encode(cjson.decode('{\"k\":[1,\"two\",{\"three\":3}]}'))",
            "return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65536, -33, -129, -32769, 1.5, 0.1, 'abc', {1,2,3}, {a=1}, true, false, nil)",
            "return {cmsgpack.unpack(cmsgpack.pack(1, 'x', {1,2,{3}}, -5, 2.5))}",
            "return cmsgpack.pack()",
            "return cmsgpack.unpack('\\205')",
            "return cmsgpack.unpack('\\193')",
            "return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3))}",
            "return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2)}",
            "return cmsgpack.pack(string.rep('x', 40), string.rep('y', 300))",
            "return struct.pack('>I2<i4', 258, -2)",
            "return {struct.unpack('>I2<i4', struct.pack('>I2<i4', 258, -2))}",
            "return {struct.size('i'), struct.size('!4bi'), struct.size('ddc5')}",
            "return struct.pack('s', 'hello')",
            "return {struct.unpack('s', 'hi\\0rest')}",
            "return struct.pack('c3', 'hello')",
            "return struct.pack('c10', 'hi')",
            "return struct.pack('z', 1)",
            "return struct.size('s')",
            "return {struct.unpack('b', 'x', 5)}",
            "return {struct.unpack('i', 'ab')}",
            "return {struct.unpack('Bc0', '\\3abcd')}",
            "return struct.pack('d', 1.5)",
            "return {struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))}",
            "return struct.pack('i40', 1)",
            "cjson.foo = 1",
        ],
    );
    d.finish();
}

/// A script's writes leave both datasets the same, whatever the script did in between.
#[test]
fn script_writes_give_the_same_dataset() {
    let mut d = Diff::new(&[]);
    let script = "for i = 1, tonumber(ARGV[1]) do \
        redis.call('set', KEYS[1] .. i, i * 3) \
        redis.call('rpush', KEYS[2], i) \
        redis.call('hset', KEYS[3], 'f' .. i, tostring(i / 7)) \
        redis.call('sadd', KEYS[4], i % 5) \
        redis.call('zadd', KEYS[5], i / 3, 'm' .. i) \
      end \
      redis.call('incrby', KEYS[1] .. 1, 100) \
      redis.call('del', KEYS[1] .. 2) \
      redis.call('pexpireat', KEYS[1] .. 3, 4102444800000) \
      return redis.call('dbsize')";
    eval(&mut d, script, &["k:", "list", "hash", "set", "zset"], &["200"]);
    eval(&mut d, "redis.call('select', 3) return redis.call('set', 'in3', cjson.encode({a=1}))", &[], &[]);
    d.check(&["DEBUG", "DIGEST"]);
    d.check(&["DBSIZE"]);
    d.check(&["SELECT", "3"]);
    d.check(&["GET", "in3"]);
    d.finish();
}

/// While a script runs, other clients wait; past busy-reply-threshold they get BUSY
/// (and only SCRIPT KILL, FUNCTION STATS/KILL... run); SCRIPT KILL stops a script that
/// did not write, and one that wrote is unkillable.
#[test]
fn long_scripts_make_others_wait_then_busy_then_kill() {
    let server = ServerProcess::redoubt(&["--busy-reply-threshold", "300"]);
    let mut runner = server.conn();
    let mut other = server.conn();
    // A script shorter than the threshold: the other client just waits for it.
    runner.send(&[
        "EVAL",
        "local t = redis.call('time') local s = t[1] * 1e6 + t[2] \
        while true do local n = redis.call('time') if n[1] * 1e6 + n[2] - s > 150000 then break end end \
        return redis.call('set', 'k', 'v')",
        "0",
    ]);
    std::thread::sleep(Duration::from_millis(30));
    let start = Instant::now();
    assert_eq!(other.cmd(&["GET", "k"]), b"$1\r\nv\r\n", "waits for the script, then sees its write");
    assert!(start.elapsed() >= Duration::from_millis(80), "the GET did not wait: {:?}", start.elapsed());
    assert_eq!(runner.read(), b"+OK\r\n");
    // A long read-only script: BUSY for others after the threshold, then killed.
    runner.send(&["EVAL", "local i = 0 while true do i = i + 1 end", "0"]);
    std::thread::sleep(Duration::from_millis(30));
    let busy = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
    assert_eq!(other.cmd(&["PING"]), busy);
    assert_eq!(other.cmd(&["FUNCTION", "STATS"]), busy);
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]), busy);
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), b"+OK\r\n");
    let killed = runner.read();
    assert!(
        killed.starts_with(b"-ERR Script killed by user with SCRIPT KILL... script: "),
        "{}",
        String::from_utf8_lossy(&killed)
    );
    assert_eq!(other.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), b"-NOTBUSY No scripts in execution right now.\r\n");
    // A script that wrote cannot be killed; it ends by itself here.
    runner.send(&[
        "EVAL",
        "redis.call('set','w','1') local t = redis.call('time') local s = t[1] \
        while true do if redis.call('time')[1] - s >= 2 then break end end return 1",
        "0",
    ]);
    std::thread::sleep(Duration::from_millis(400));
    let unkillable = other.cmd(&["SCRIPT", "KILL"]);
    assert!(unkillable.starts_with(b"-UNKILLABLE Sorry the script already executed write commands"));
    assert_eq!(runner.read(), b":1\r\n");
    assert_eq!(other.cmd(&["GET", "w"]), b"$1\r\n1\r\n");
}

/// A script's effects reach the journal as Redis 7.0 replicates them: its write
/// commands (not the EVAL), several of them wrapped in MULTI/EXEC, a single one alone.
/// Seen through the AOF, which is a view of the journal: the same bytes as Redis's.
#[test]
fn script_effects_are_journaled_as_redis_propagates_them() {
    let mut d = Diff::new(&["--appendonly", "yes", "--appendfsync", "always"]);
    let script = "redis.call('set', KEYS[1], ARGV[1]) redis.call('incr', KEYS[2]) \
        redis.call('get', KEYS[1]) redis.call('rpush', KEYS[3], 'a', 'b') return 1";
    d.check(&["EVAL", script, "3", "s", "n", "l", "value"]);
    d.check(&["EVAL", "return redis.call('set', 'one', 'write')", "0"]);
    d.check(&["EVAL", "return redis.call('get', 'one')", "0"]);
    d.check(&[
        "EVAL",
        "redis.call('select', 2) redis.call('set', 'x', 1) redis.call('select', 0) return redis.call('set', 'y', 2)",
        "0",
    ]);
    d.check(&["EVAL", "redis.set_repl(redis.REPL_NONE) redis.call('set', 'unreplicated', 1) redis.set_repl(redis.REPL_ALL) return redis.call('set', 'replicated', 1)", "0"]);
    let aof = crate::support::persist::incr_aof_commands;
    let (ours, theirs) = (aof(&d.redoubt.dir), aof(&d.redis.dir));
    assert!(!theirs.is_empty(), "Redis wrote no AOF");
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs),
        "the journal of the scripts differs from Redis's"
    );
    d.finish();
}

/// What a client sees in INFO about scripts.
#[test]
fn info_counts_scripts() {
    let server = ServerProcess::redoubt(&[]);
    let mut c: Conn = server.conn();
    let field = |c: &mut Conn, name: &str| {
        let info = String::from_utf8_lossy(&c.cmd(&["INFO", "memory"])).into_owned();
        crate::support::info_field(&info, name).unwrap_or_default()
    };
    assert_eq!(field(&mut c, "number_of_cached_scripts"), "0");
    c.cmd(&["EVAL", "return 1", "0"]);
    c.cmd(&["SCRIPT", "LOAD", "return 2"]);
    assert_eq!(field(&mut c, "number_of_cached_scripts"), "2");
    assert!(field(&mut c, "used_memory_lua").parse::<u64>().unwrap_or(0) > 10_000);
    assert!(field(&mut c, "used_memory_scripts_eval").parse::<u64>().unwrap_or(0) > 0);
    c.cmd(&["SCRIPT", "FLUSH"]);
    assert_eq!(field(&mut c, "number_of_cached_scripts"), "0");
}
