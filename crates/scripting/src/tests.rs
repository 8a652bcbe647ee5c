//! Scripts run against a fake host: conversions, errors and protections, without a
//! server. The differential tests against Redis live in `tests/integration`.

use std::sync::Arc;

use redoubt_resp::{Protocol, ReplyBuf};

use crate::eval::EvalScripts;
use crate::gate::Gate;
use crate::{Config, Host, LogLevel};

/// Answers `PING` with `+PONG`, `GET x` with `$1\r\n1`, `ERR`-texts for `FAIL`, and
/// refuses `NOSCRIPT` as a not-allowed command.
struct Fake;

impl Host for Fake {
    fn call(&mut self, args: &[Vec<u8>], _resp3: bool, out: &mut ReplyBuf) -> Result<(), String> {
        match args[0].to_ascii_lowercase().as_slice() {
            b"ping" => out.simple(b"PONG"),
            b"get" => out.bulk(b"1"),
            b"echo" => out.bulk(&args[1]),
            b"fail" => out.error(b"WRONGTYPE Operation against a key holding the wrong kind of value"),
            b"noscript" => return Err("ERR This Redis command is not allowed from script".into()),
            _ => return Err("ERR Unknown Redis command called from script".into()),
        }
        Ok(())
    }
    fn acl_check(&mut self, _args: &[Vec<u8>]) -> Option<bool> {
        Some(true)
    }
}

fn cfg() -> Config {
    fn log(_: LogLevel, _: &str) {}
    fn slow() {}
    Config { log, on_slow: slow }
}

/// Runs `body` with `keys`/`args` and returns the raw RESP2 reply.
pub fn eval(body: &str, keys: &[&str], args: &[&str]) -> String {
    eval_proto(body, keys, args, Protocol::Resp2)
}

pub fn eval_proto(body: &str, keys: &[&str], args: &[&str], proto: Protocol) -> String {
    let gate = Arc::new(Gate::new());
    let mut ev = EvalScripts::new(&cfg(), &gate).unwrap();
    let mut out = ReplyBuf::new(proto);
    match ev.load(body.as_bytes(), false) {
        Err(e) => out.error(e.as_bytes()),
        Ok(sha) => {
            let k: Vec<&[u8]> = keys.iter().map(|s| s.as_bytes()).collect();
            let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            ev.run(&sha, &k, &a, &mut Fake, &mut out, &gate);
        }
    }
    String::from_utf8_lossy(&out.buf).into_owned()
}

fn sha(body: &str) -> String {
    crate::sha1_hex(body.as_bytes())
}

#[test]
fn conversions_lua_to_redis() {
    assert_eq!(eval("return 1", &[], &[]), ":1\r\n");
    assert_eq!(eval("return 3.99", &[], &[]), ":3\r\n");
    assert_eq!(eval("return -3.99", &[], &[]), ":-3\r\n");
    assert_eq!(eval("return 1e20", &[], &[]), ":-9223372036854775808\r\n");
    assert_eq!(eval("return 'x'", &[], &[]), "$1\r\nx\r\n");
    assert_eq!(eval("return true", &[], &[]), ":1\r\n");
    assert_eq!(eval("return false", &[], &[]), "$-1\r\n");
    assert_eq!(eval("return nil", &[], &[]), "$-1\r\n");
    assert_eq!(eval("return {1,2,nil,4}", &[], &[]), "*2\r\n:1\r\n:2\r\n");
    assert_eq!(eval("return {ok='x\\r\\ny'}", &[], &[]), "+x  y\r\n");
    assert_eq!(eval("return {err='My Error'}", &[], &[]), "-My Error\r\n");
    assert_eq!(eval("return redis.error_reply('My Error')", &[], &[]), "-My Error\r\n");
    assert_eq!(eval("return redis.error_reply('x')", &[], &[]), "-ERR x\r\n");
    assert_eq!(eval("return redis.status_reply('FINE')", &[], &[]), "+FINE\r\n");
    assert_eq!(eval("return {1, {err='x'}, {ok='y'}}", &[], &[]), "*3\r\n:1\r\n-x\r\n+y\r\n");
    assert_eq!(
        eval("return {KEYS[1], ARGV[1], #KEYS, #ARGV}", &["k"], &["a", "b"]),
        "*4\r\n$1\r\nk\r\n$1\r\na\r\n:1\r\n:2\r\n"
    );
    assert_eq!(eval("return {double=1.5}", &[], &[]), "$3\r\n1.5\r\n");
    assert_eq!(eval("redis.setresp(3) return true", &[], &[]), ":1\r\n");
    assert_eq!(eval("redis.setresp(3) return false", &[], &[]), ":0\r\n");
    let r3 = |b: &str| eval_proto(b, &[], &[], Protocol::Resp3);
    assert_eq!(r3("return {map={a=1}}"), "%1\r\n$1\r\na\r\n:1\r\n");
    assert_eq!(r3("return {set={a=true}}"), "~1\r\n$1\r\na\r\n");
    assert_eq!(r3("return {big_number='123'}"), "(123\r\n");
    assert_eq!(r3("return {verbatim_string={format='markdown',string='abc'}}"), "=7\r\nmar:abc\r\n");
    assert_eq!(r3("return {double=0/0}"), ",-nan\r\n");
    assert_eq!(r3("return false"), "_\r\n");
    assert_eq!(r3("redis.setresp(3) return false"), "#f\r\n");
    assert!(eval("local t = {} t[1] = t return t", &[], &[]).contains("-ERR reached lua stack limit"));
}

#[test]
fn conversions_redis_to_lua() {
    assert_eq!(eval("return redis.call('ping')", &[], &[]), "+PONG\r\n");
    assert_eq!(eval("return type(redis.call('ping'))", &[], &[]), "$5\r\ntable\r\n");
    assert_eq!(eval("return redis.call('echo', 3.5)", &[], &[]), "$3\r\n3.5\r\n");
    assert_eq!(eval("return redis.call('echo', 0.1)", &[], &[]), "$19\r\n0.10000000000000001\r\n");
    assert_eq!(eval("return redis.call('echo', 1e20)", &[], &[]), "$5\r\n1e+20\r\n");
    assert_eq!(
        eval("return redis.pcall('fail')['err']", &[], &[]),
        "$65\r\nWRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(eval("return redis.pcall('fail')['ignore_error_stats_update']", &[], &[]), ":1\r\n");
}

#[test]
fn errors_carry_script_and_line() {
    let b = "return x";
    assert_eq!(
        eval(b, &[], &[]),
        format!("-ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: {}, on @user_script:1.\r\n", sha(b))
    );
    let b = "x = 1";
    assert_eq!(
        eval(b, &[], &[]),
        format!("-ERR user_script:1: Attempt to modify a readonly table script: {}, on @user_script:1.\r\n", sha(b))
    );
    let b = "rawset(_G, 'x', 1)";
    assert_eq!(
        eval(b, &[], &[]),
        format!("-ERR Attempt to modify a readonly table script: {}, on @user_script:1.\r\n", sha(b))
    );
    let b = "\nreturn redis.call('fail')";
    assert_eq!(
        eval(b, &[], &[]),
        format!(
            "-WRONGTYPE Operation against a key holding the wrong kind of value script: {}, on @user_script:2.\r\n",
            sha(b)
        )
    );
    let b = "return redis.call('nosuch')";
    assert_eq!(
        eval(b, &[], &[]),
        format!("-ERR Unknown Redis command called from script script: {}, on @user_script:1.\r\n", sha(b))
    );
    let b = "error('boom')";
    assert_eq!(eval(b, &[], &[]), format!("-ERR user_script:1: boom script: {}, on @user_script:1.\r\n", sha(b)));
    let b = "error({err='-boom'})";
    assert_eq!(eval(b, &[], &[]), format!("--boom script: {}, on @user_script:1.\r\n", sha(b)));
    let b = "error()";
    assert_eq!(eval(b, &[], &[]), format!("-ERR nil script: {}, on @user_script:1.\r\n", sha(b)));
    let b = "redis.setresp(4)";
    assert_eq!(
        eval(b, &[], &[]),
        format!("-ERR RESP version must be 2 or 3. script: {}, on @user_script:1.\r\n", sha(b))
    );
    let b = "return redis.call('set', {})";
    assert_eq!(
        eval(b, &[], &[]),
        format!(
            "-ERR Lua redis lib command arguments must be strings or integers script: {}, on @user_script:1.\r\n",
            sha(b)
        )
    );
    assert_eq!(
        eval("return redis.pcall()", &[], &[]),
        "-ERR Please specify at least one argument for this redis lib call\r\n"
    );
    assert_eq!(
        eval("retur 1", &[], &[]),
        "-ERR Error compiling script (new function): user_script:1: '=' expected near '1'\r\n"
    );
    let b = "local t = setmetatable({}, {__index=function() error('deep') end}) return t.x";
    assert_eq!(eval(b, &[], &[]), format!("-ERR user_script:1: deep script: {}, on @user_script:1.\r\n", sha(b)));
    let b = "return string.rep()";
    assert_eq!(eval(b, &[], &[]), format!("-ERR user_script:1: bad argument #1 to 'rep' (string expected, got no value) script: {}, on @user_script:1.\r\n", sha(b)));
}

#[test]
fn globals_and_libraries() {
    let names = "local t={} for k,v in pairs(_G) do t[#t+1]=k end table.sort(t) return table.concat(t, ',')";
    let got = eval(names, &[], &[]);
    assert!(got.contains("ARGV,KEYS,_G,_VERSION,__redis__err__handler,assert,bit,cjson,cmsgpack,collectgarbage,coroutine,error,gcinfo,getmetatable,ipairs,load,loadstring,math,next,pairs,pcall,rawequal,rawget,rawset,redis,select,setmetatable,string,struct,table,tonumber,tostring,type,unpack,xpcall"), "{got}");
    assert_eq!(
        eval("return {pcall(function() x = 1 end)}", &[], &[]),
        "*2\r\n$-1\r\n$49\r\nuser_script:1: Attempt to modify a readonly table\r\n"
    );
    assert_eq!(
        eval("return {pcall(rawset, string, 'x', 1)}", &[], &[]),
        "*2\r\n$-1\r\n$34\r\nAttempt to modify a readonly table\r\n"
    );
    assert_eq!(eval("KEYS[1] = 'x' return KEYS[1]", &["a"], &[]), "$1\r\nx\r\n");
    assert_eq!(eval("return rawget(_G, 'x')", &[], &[]), "$-1\r\n");
    assert_eq!(eval("return getmetatable('').__index == string", &[], &[]), ":1\r\n");
    assert!(eval("getmetatable('').__index = nil", &[], &[]).contains("Attempt to modify a readonly table"));
    assert!(eval("table.insert(_G, 1)", &[], &[]).contains("Attempt to modify a readonly table"));
    assert_eq!(eval("local t = {} table.insert(t, 5) return t", &[], &[]), "*1\r\n:5\r\n");
    assert_eq!(eval("return ('abc'):upper()", &[], &[]), "$3\r\nABC\r\n");
    assert_eq!(eval("local n = 0 for _ in ipairs({1,2,3}) do n = n + 1 end return n", &[], &[]), ":3\r\n");
    assert_eq!(eval("return redis.sha1hex('abc')", &[], &[]), "$40\r\na9993e364706816aba3e25717850c26c9cd0d89d\r\n");
    assert_eq!(
        eval("return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}", &[], &[]),
        "*2\r\n$6\r\n7.0.15\r\n:458767\r\n"
    );
    assert_eq!(eval("return {loadstring('\\027Lua')}", &[], &[]), "*0\r\n");
    assert_eq!(eval("local f = loadstring(string.dump(function() return 1 end)) return f == nil", &[], &[]), ":1\r\n");
    assert_eq!(eval("return loadstring('return 1')()", &[], &[]), ":1\r\n");
    assert_eq!(eval("return {load(function() return nil end)}", &[], &[]), "*1\r\n$-1\r\n");
}
