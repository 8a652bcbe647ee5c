//! [`Vm`]: one Lua 5.1 state dressed as Redis's (the prelude's API and protections,
//! the cjson/cmsgpack/bit/struct libraries, an instruction-count hook for SCRIPT KILL
//! and the busy threshold), and the call of one script or function in it.
//!
//! A script reaches the server only through [`Host`], the per-run callback the server
//! implements: the scripting layer knows Lua and Redis's conversion rules, the server
//! knows commands, locks and the journal.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use redoubt_resp::value::{decode, Value as Reply};
use redoubt_resp::{Protocol, ReplyBuf};

use crate::convert::{error_table, lua_to_reply, reply_to_lua, to_arg};
use crate::gate::Gate;
use crate::{guard, libs, Config, LogLevel};

/// Instructions between two runs of the hook (Redis's `LUA_MASK_COUNT` period).
const HOOK_INSTRUCTIONS: u32 = 100_000;
/// The most memory one Lua state may allocate. Redis sets no limit; without one, one
/// `string.rep` can take the machine down.
pub const LUA_MEMORY_MAX_BYTES: usize = 1 << 30;

/// The server side of a running script.
pub trait Host {
    /// Runs `args` (the command name first) for the script and writes its reply, in
    /// RESP3 if `resp3`, to `out`. `Err` carries the refusal (unknown command, not
    /// allowed from scripts, write in a read-only script...) as an error text with its
    /// code, e.g. `ERR This Redis command is not allowed from script`.
    fn call(&mut self, args: &[Vec<u8>], resp3: bool, out: &mut ReplyBuf) -> Result<(), String>;
    /// `redis.acl_check_cmd`: whether the user may run `args`; `None` for an unknown
    /// command.
    fn acl_check(&mut self, args: &[Vec<u8>]) -> Option<bool>;
}

/// Which of the two kinds of state: EVAL scripts, or function libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Eval,
    Functions,
}

/// A function registered by `redis.register_function` while a library loads.
pub struct Registered {
    pub name: Vec<u8>,
    pub callback: Function,
    pub flags: u32,
    pub description: Option<Vec<u8>>,
}

/// The state the Rust primitives share with the running code.
#[derive(Default)]
pub struct Shared {
    /// `redis.setresp`: 2 or 3 for the running script.
    resp: AtomicU8,
    /// `redis.set_repl` flags for the running script (bit 0 AOF, bit 1 replicas).
    repl: AtomicU8,
    /// Gate-clock µs after which a library load is aborted (0: not loading).
    pub load_deadline_us: AtomicU64,
    /// Functions registered by the library being loaded; `None` outside a load.
    pub registering: Mutex<Option<Vec<Registered>>>,
}

impl Shared {
    /// True unless the script asked for `redis.set_repl(redis.REPL_NONE)`.
    pub fn propagate(&self) -> bool {
        self.repl.load(Relaxed) != 0
    }
}

/// One Lua state.
pub struct Vm {
    pub lua: Lua,
    run: Function,
    /// EVAL's entry: sets KEYS and ARGV, then runs the script under the handler.
    run_script: Option<Function>,
    loading: Option<Function>,
    slot: Table,
    /// `redis.call`'s entry into Rust, created once; it finds the running script's
    /// host in `host`.
    rt: Function,
    host: Rc<HostSlot>,
    pub shared: Rc<Shared>,
    kind: Kind,
}

/// The host of the script that runs now, if one runs: set by [`Vm::call`] for the
/// length of the call and cleared by [`HostSet`]'s drop, even on a panic.
#[derive(Default)]
struct HostSlot(std::cell::Cell<Option<std::ptr::NonNull<dyn Host + 'static>>>);

/// Clears the host slot when the call ends.
struct HostSet<'s>(&'s HostSlot);

impl Drop for HostSet<'_> {
    fn drop(&mut self) {
        self.0 .0.set(None);
    }
}

/// How a call ended, for the caller's statistics: whether the script raised an
/// error, and the error replies it produced that no command counted already (Redis
/// counts an error once: where it was first replied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Ok { uncounted: Vec<Vec<u8>> },
    Error { uncounted: Vec<Vec<u8>> },
}

impl Ended {
    /// Replies the error `text` and ends with it, an error no command counted.
    pub fn error(out: &mut ReplyBuf, text: Vec<u8>) -> Ended {
        out.error(&text);
        Ended::Error { uncounted: vec![text] }
    }
}

impl Vm {
    /// A fresh state of `kind`.
    pub fn new(kind: Kind, cfg: &Config, gate: &Arc<Gate>) -> mlua::Result<Vm> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // Safety: the debug library is loaded only so that the prelude can take
        // `debug.getinfo` for its error handler; it is removed from the globals.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        lua.set_memory_limit(LUA_MEMORY_MAX_BYTES)?;
        let guards = guard::install(&lua)?;
        let shared = Rc::new(Shared::default());
        let slot = lua.create_table()?;
        let args = lua.create_table()?;
        args.set("kind", if kind == Kind::Eval { "eval" } else { "functions" })?;
        args.set("version", crate::REDIS_VERSION)?;
        args.set("version_num", crate::REDIS_VERSION_NUM)?;
        args.set("base", lua.globals())?;
        args.set("slot", slot.clone())?;
        args.set("libs", libs::create(&lua)?)?;
        args.set("prims", prims(&lua, cfg, &shared)?)?;
        let g = lua.create_table()?;
        g.set("newindex", guards.newindex)?;
        g.set("missing_global", guards.missing_global)?;
        g.set("next", guards.next)?;
        g.set("pairs", guards.pairs)?;
        g.set("ipairs", guards.ipairs)?;
        g.set("rawget", guards.rawget)?;
        g.set("rawset", guards.rawset)?;
        g.set("setmetatable", guards.setmetatable)?;
        g.set("insert", guards.insert)?;
        g.set("remove", guards.remove)?;
        g.set("sort", guards.sort)?;
        g.set("proxies", guards.proxies)?;
        args.set("guards", g)?;
        args.set("raising", lua.create_function(|lua, f: Function| guard::raising(lua, f))?)?;
        let out: Table = lua.load(include_str!("prelude.lua")).set_name("=redoubt").call(args)?;
        lua.set_globals(out.get("P")?)?;
        let host = Rc::new(HostSlot::default());
        let rt = {
            let (host, shared) = (host.clone(), shared.clone());
            // One callback for every call of every script (creating one per script
            // run cost more than the call itself).
            lua.create_function(move |lua, args: MultiValue| match host.0.get() {
                // Safety: set by `Vm::call` from a `&mut dyn Host` that outlives the
                // Lua call this runs in; nothing else uses that host meanwhile.
                Some(mut h) => runtime(lua, unsafe { h.as_mut() }, &shared, args),
                None => Ok((api_error(lua, "redis.call/pcall can only be called inside a script invocation")?, true)),
            })?
        };
        let vm = Vm {
            run: out.get("run")?,
            run_script: out.get("run_script")?,
            loading: out.get("loading")?,
            slot,
            rt,
            host,
            shared,
            kind,
            lua,
        };
        vm.install_hook(cfg, gate);
        Ok(vm)
    }

    /// The hook that runs every [`HOOK_INSTRUCTIONS`]: it aborts a killed script or a
    /// library load past its deadline, and reports a script that became slow.
    fn install_hook(&self, cfg: &Config, gate: &Arc<Gate>) {
        let (gate, shared, cfg, kind) = (gate.clone(), self.shared.clone(), *cfg, self.kind);
        let hook = move |_: &Lua, _: &mlua::debug::Debug| -> mlua::Result<VmState> {
            let deadline = shared.load_deadline_us.load(Relaxed);
            if deadline != 0 && crate::gate::clock_us() > deadline {
                return Err(mlua::Error::RuntimeError("ERR FUNCTION LOAD timeout".into()));
            }
            if deadline == 0 && gate.kill_requested() {
                return Err(mlua::Error::RuntimeError("ERR Script killed by user with SCRIPT KILL...".into()));
            }
            if deadline == 0 && gate.becomes_slow() {
                let name = gate.running().map(|r| String::from_utf8_lossy(&r.name).into_owned()).unwrap_or_default();
                let (cmd, what) = match kind {
                    Kind::Eval => ("SCRIPT KILL", "Script SHA1 is"),
                    Kind::Functions => ("FUNCTION KILL", "Script name is"),
                };
                (cfg.log)(
                    LogLevel::Warning,
                    &format!(
                        "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the {cmd} command. {what}: {name}.",
                        gate.elapsed_ms()
                    ),
                );
                (cfg.on_slow)();
            }
            Ok(VmState::Continue)
        };
        // Setting a hook only fails on a closed state, which this one is not.
        let _ = self.lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS), hook);
    }

    /// Compiles `code` as a chunk named `name` (`@user_script`, `@user_function`);
    /// `Err` is Lua's message. Binary chunks are refused.
    pub fn compile(&self, code: &[u8], name: &str) -> Result<Function, String> {
        self.lua.load(code).set_name(name).set_mode(ChunkMode::Text).into_function().map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })
    }

    /// Memory the state holds, bytes.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Switches the globals between the library-loading API and the full one.
    pub fn set_loading(&self, on: bool) -> mlua::Result<()> {
        match &self.loading {
            Some(f) => f.call(on),
            None => Ok(()),
        }
    }

    /// Runs `f` (an EVAL script, or a function when `is_function`) with `keys` and
    /// `args`, and writes its result or its error as the reply. `name` (the SHA1 or the
    /// function's name) goes into error messages.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &self,
        f: &Function,
        keys: &[&[u8]],
        args: &[&[u8]],
        is_function: bool,
        name: &str,
        host: &mut dyn Host,
        out: &mut ReplyBuf,
        gate: &Gate,
    ) -> Ended {
        self.shared.resp.store(2, Relaxed);
        self.shared.repl.store(3, Relaxed);
        let host: *mut (dyn Host + '_) = host;
        // Safety: only the lifetime is erased; `HostSet` clears the slot before this
        // function returns, so `rt` never sees the host after the borrow ends.
        let host: *mut (dyn Host + 'static) = unsafe { std::mem::transmute(host) };
        self.host.0.set(std::ptr::NonNull::new(host));
        let _clear = HostSet(&self.host);
        let result = (|| -> mlua::Result<Ended> {
            self.slot.raw_set("rt", &self.rt)?;
            let strings =
                |items: &[&[u8]]| items.iter().map(|s| self.lua.create_string(s)).collect::<mlua::Result<Vec<_>>>();
            let keys_t = self.lua.create_sequence_from(strings(keys)?)?;
            let args_t = self.lua.create_sequence_from(strings(args)?)?;
            let ran: mlua::Result<(bool, Value)> = match &self.run_script {
                Some(run_script) if !is_function => run_script.call((f, keys_t, args_t)),
                _ => self.run.call((f.clone(), keys_t, args_t)),
            };
            let resp3 = self.shared.resp.load(Relaxed) == 3;
            let ended = match ran {
                Ok((true, v)) => Ended::Ok { uncounted: lua_to_reply(out, &v, resp3) },
                Ok((false, e)) => {
                    let text = script_error(&e, name, gate);
                    out.error(&text);
                    let counted = matches!(&e, Value::Table(t) if crate::convert::counted(t));
                    Ended::Error { uncounted: if counted { vec![] } else { vec![text] } }
                }
                Err(e) => Ended::error(out, script_error(&Value::Error(Box::new(e)), name, gate)),
            };
            Ok(ended)
        })();
        // Whatever happened, `redis.call` stops working with the call (a closure the
        // script kept must not reach a host later).
        let _ = self.slot.raw_set("rt", Value::Nil);
        result.unwrap_or_else(|e| Ended::error(out, format!("ERR Error running script {name}: {e}").into_bytes()))
    }

    /// Runs a library's code (already compiled) under the loading API; returns the
    /// functions it registered, or the error text.
    pub fn load_library(&self, chunk: &Function, deadline_us: u64) -> Result<Vec<Registered>, String> {
        *self.shared.registering.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
        self.shared.load_deadline_us.store(deadline_us, Relaxed);
        let ran = self.set_loading(true).and_then(|_| self.run.call::<(bool, Value)>((chunk.clone(), Value::Nil)));
        self.shared.load_deadline_us.store(0, Relaxed);
        let _ = self.set_loading(false);
        let registered = self.shared.registering.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
        match ran {
            Ok((true, _)) => Ok(registered),
            Ok((false, e)) => Err(error_field(&e)),
            Err(e) => Err(error_field(&Value::Error(Box::new(e)))),
        }
    }
}

/// The `err` text of an error value (a table from the handler, or anything else).
fn error_field(e: &Value) -> String {
    match e {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy(),
            Ok(Value::Integer(i)) => i.to_string(),
            Ok(Value::Number(n)) => n.to_string(),
            _ => "ERR unknown error".into(),
        },
        Value::Error(e) => error_message(e),
        Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        other => format!("ERR {}", other.type_name()),
    }
}

/// The reply text of a script that failed: the error, then where, as Redis words it.
fn script_error(e: &Value, name: &str, gate: &Gate) -> Vec<u8> {
    let mut text = match e {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.as_bytes().to_vec(),
            Ok(Value::Integer(i)) => i.to_string().into_bytes(),
            Ok(Value::Number(n)) => n.to_string().into_bytes(),
            // Redis crashes on an error table without `err`; we say what happened.
            _ => b"ERR the script raised an error table without an 'err' field".to_vec(),
        },
        _ if gate.kill_requested() => b"ERR Script killed by user with SCRIPT KILL...".to_vec(),
        other => error_field(other).into_bytes(),
    };
    if let Value::Table(t) = e {
        let source = t.raw_get::<Value>("source").ok().and_then(|v| lua_string(&v));
        let line = t.raw_get::<Value>("line").ok().and_then(|v| lua_string(&v));
        if let (Some(source), Some(line)) = (source, line) {
            text.extend_from_slice(format!(" script: {name}, on {source}:{line}.").as_bytes());
        }
    }
    text
}

/// A string or number as Lua's `tostring` would give it (numbers as `%.14g`).
fn lua_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => {
            let mut out = Vec::new();
            redoubt_resp::number::push_g(&mut out, *n, 14);
            Some(String::from_utf8_lossy(&out).into_owned())
        }
        _ => None,
    }
}

/// The message of an mlua error raised inside Lua (a hook abort, a callback failure).
pub fn error_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        mlua::Error::RuntimeError(m) if m.starts_with("ERR ") => m.clone(),
        mlua::Error::RuntimeError(m) => format!("ERR {m}"),
        mlua::Error::MemoryError(_) => "ERR not enough memory".into(),
        other => format!("ERR {other}"),
    }
}

/// A plain error table (no stats flag), for errors of the API itself.
fn api_error(lua: &Lua, text: &str) -> mlua::Result<Value> {
    Ok(Value::Table(error_table(lua, text.as_bytes(), false)?))
}

/// The per-run callback behind `redis.call` (op 1), `redis.pcall` (2) and
/// `redis.acl_check_cmd` (3). Returns the value and whether the Lua side must raise it.
fn runtime(lua: &Lua, host: &mut dyn Host, shared: &Shared, mut args: MultiValue) -> mlua::Result<(Value, bool)> {
    let op = match args.pop_front() {
        Some(Value::Integer(i)) => i,
        _ => 0,
    };
    let raise = op != 2;
    if args.is_empty() {
        return Ok((api_error(lua, "Please specify at least one argument for this redis lib call")?, true));
    }
    let Some(argv) = args.iter().map(to_arg).collect::<Option<Vec<Vec<u8>>>>() else {
        return Ok((api_error(lua, "Lua redis lib command arguments must be strings or integers")?, raise));
    };
    if op == 3 {
        return match host.acl_check(&argv) {
            Some(allowed) => Ok((Value::Boolean(allowed), false)),
            None => Ok((api_error(lua, "Invalid command passed to redis.acl_check_cmd()")?, true)),
        };
    }
    let resp3 = shared.resp.load(Relaxed) == 3;
    let mut out = ReplyBuf::new(if resp3 { Protocol::Resp3 } else { Protocol::Resp2 });
    if let Err(refused) = host.call(&argv, resp3, &mut out) {
        let mut text = Vec::with_capacity(refused.len() + 1);
        text.push(b'-');
        text.extend_from_slice(refused.as_bytes());
        return Ok((Value::Table(error_table(lua, &text, true)?), raise));
    }
    match decode(&out.buf) {
        Ok((reply, _)) => {
            let failed = matches!(reply, Reply::Error(_));
            Ok((reply_to_lua(lua, &reply, resp3)?, raise && failed))
        }
        Err(_) => Ok((api_error(lua, "The command's reply could not be converted for the script")?, raise)),
    }
}

/// A Lua value as a number the way `lua_tonumber` sees it (numeric strings count).
fn lua_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => {
            let t = s.to_string_lossy();
            let t = t.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok().map(|i| i as f64),
                None => t.parse().ok(),
            }
        }
        _ => None,
    }
}

/// The Rust primitives of the prelude that need no per-run state from the server.
fn prims(lua: &Lua, cfg: &Config, shared: &Rc<Shared>) -> mlua::Result<Table> {
    let p = lua.create_table()?;
    p.set(
        "errinfo",
        lua.create_function(|lua, e: Value| {
            let text = match &e {
                Value::Error(e) => error_message(e),
                other => format!("ERR {}", other.type_name()),
            };
            let t = lua.create_table()?;
            t.raw_set("err", text)?;
            Ok(t)
        })?,
    )?;
    p.set(
        "error_text",
        lua.create_function(|lua, e: mlua::LuaString| {
            // redis.error_reply: a text without its leading '-' gets one, then the
            // code/message rules of every error table apply.
            let e = e.as_bytes();
            let text = if e.starts_with(b"-") { e.to_vec() } else { [&b"-"[..], &e].concat() };
            lua.create_string(crate::convert::error_text(&text))
        })?,
    )?;
    p.set("sha1hex", lua.create_function(|_, s: mlua::LuaString| Ok(crate::sha1_hex(&s.as_bytes())))?)?;
    let sh = shared.clone();
    p.set(
        "setresp",
        lua.create_function(move |lua, (n, v): (i64, Value)| {
            if n != 1 {
                return api_error(lua, "redis.setresp() requires one argument.");
            }
            match lua_number(&v).map(|d| d as i64) {
                Some(r @ (2 | 3)) => {
                    sh.resp.store(r as u8, Relaxed);
                    Ok(Value::Nil)
                }
                _ => api_error(lua, "RESP version must be 2 or 3."),
            }
        })?,
    )?;
    let sh = shared.clone();
    p.set(
        "set_repl",
        lua.create_function(move |lua, (n, v): (i64, Value)| {
            if n != 1 {
                return api_error(lua, "redis.set_repl() requires two arguments.");
            }
            match lua_number(&v).map(|d| d as i64) {
                Some(f @ 0..=3) => {
                    sh.repl.store(f as u8, Relaxed);
                    Ok(Value::Nil)
                }
                _ => api_error(lua, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."),
            }
        })?,
    )?;
    let log = cfg.log;
    p.set(
        "log",
        lua.create_function(move |lua, mut args: MultiValue| {
            let n = match args.pop_front() {
                Some(Value::Integer(n)) => n,
                _ => 0,
            };
            if n < 2 {
                return api_error(lua, "redis.log() requires two arguments or more.");
            }
            let Some(level) = args.pop_front().as_ref().and_then(lua_number) else {
                return api_error(lua, "First argument must be a number (log level).");
            };
            let Some(level) = LogLevel::from_i64(level as i64) else {
                return api_error(lua, "Invalid debug level.");
            };
            // Redis joins what converts to a string with spaces, skipping the rest.
            let mut msg = Vec::new();
            for (i, v) in args.iter().take((n - 1) as usize).enumerate() {
                let piece = match v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(_) | Value::Number(_) => lua_string(v).unwrap_or_default().into_bytes(),
                    _ => continue,
                };
                if i != 0 {
                    msg.push(b' ');
                }
                msg.extend_from_slice(&piece);
            }
            log(level, &String::from_utf8_lossy(&msg));
            Ok(Value::Nil)
        })?,
    )?;
    let sh = shared.clone();
    p.set("register", lua.create_function(move |lua, args: MultiValue| crate::functions::register(lua, &sh, args))?)?;
    Ok(p)
}
