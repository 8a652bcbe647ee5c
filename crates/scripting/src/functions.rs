//! [`Functions`]: the function libraries (FUNCTION LOAD/DELETE/FLUSH/LIST/STATS,
//! FCALL) in their own Lua state, as in Redis 7.0.
//!
//! A library is the code of one FUNCTION LOAD: a `#!lua name=<lib>` line, then Lua
//! that calls `redis.register_function` for each function. Loading runs that code
//! with only the loading API in sight and a time limit ([`LOAD_TIMEOUT`]); a library
//! that fails to load leaves everything as it was (a REPLACE keeps the old library).
//! Function names are unique across libraries and looked up without regard to case.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table, Value};
use redoubt_resp::ReplyBuf;

use crate::flags;
use crate::gate::{clock_us, Gate};
use crate::vm::{Ended, Host, Kind, Registered, Shared, Vm};
use crate::Config;

/// How long a library's code may run while it loads (Redis's `LOAD_TIMEOUT_MS`).
pub const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// One registered function.
pub struct Func {
    pub name: Vec<u8>,
    pub description: Option<Vec<u8>>,
    pub flags: u32,
    callback: Function,
}

/// One library.
pub struct Library {
    pub name: Vec<u8>,
    pub code: Vec<u8>,
    /// By name, for a stable FUNCTION LIST order.
    pub functions: BTreeMap<Vec<u8>, Func>,
}

/// What happens to existing libraries on FUNCTION RESTORE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

/// The functions state and its libraries.
pub struct Functions {
    vm: Vm,
    libraries: BTreeMap<Vec<u8>, Library>,
    /// Lower-case function name -> its library.
    index: HashMap<Vec<u8>, Vec<u8>>,
}

/// A library's first line, parsed.
struct Metadata {
    engine: String,
    name: Vec<u8>,
}

/// Reads `#!<engine> name=<lib>` (Redis's `functionExtractLibMetaData`).
fn metadata(code: &[u8]) -> Result<Metadata, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let line = &code[..end];
    let mut parts = line.split(|c| c.is_ascii_whitespace()).filter(|p| !p.is_empty());
    let Some(engine) = parts.next() else { return Err("ERR Invalid library metadata".into()) };
    let engine = String::from_utf8_lossy(&engine[2..]).into_owned();
    let mut name = None;
    for part in parts {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("ERR Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!("ERR Invalid metadata value given: {}", String::from_utf8_lossy(part)));
    }
    let name = name.ok_or("ERR Library name was not given")?;
    Ok(Metadata { engine, name })
}

/// Library and function names: letters, digits and `_`, at least one.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

const BAD_NAME: &str =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

impl Functions {
    pub fn new(cfg: &Config, gate: &Arc<Gate>) -> mlua::Result<Functions> {
        Ok(Functions { vm: Vm::new(Kind::Functions, cfg, gate)?, libraries: BTreeMap::new(), index: HashMap::new() })
    }

    /// FUNCTION LOAD [REPLACE]: loads `code`; returns the library name.
    pub fn load(&mut self, code: &[u8], replace: bool) -> Result<Vec<u8>, String> {
        let md = metadata(code)?;
        if !md.engine.eq_ignore_ascii_case("lua") {
            return Err(format!("ERR Engine '{}' not found", md.engine));
        }
        if !valid_name(&md.name) {
            return Err(format!("ERR {BAD_NAME}"));
        }
        if self.libraries.contains_key(&md.name) && !replace {
            return Err(format!("ERR Library '{}' already exists", String::from_utf8_lossy(&md.name)));
        }
        let lib = self.compile(&md.name, code)?;
        for f in lib.functions.keys() {
            if let Some(owner) = self.index.get(&f.to_ascii_lowercase()) {
                if owner != &md.name {
                    return Err(format!("ERR Function {} already exists", String::from_utf8_lossy(f)));
                }
            }
        }
        self.unlink(&md.name);
        self.link(lib);
        Ok(md.name)
    }

    /// Compiles and runs a library's code; the library it registers.
    fn compile(&self, name: &[u8], code: &[u8]) -> Result<Library, String> {
        let chunk = self
            .vm
            .compile(&flags::code_without_shebang(code), "@user_function")
            .map_err(|e| format!("ERR Error compiling function: {e}"))?;
        let deadline = clock_us() + LOAD_TIMEOUT.as_micros() as u64;
        let registered =
            self.vm.load_library(&chunk, deadline).map_err(|e| format!("ERR Error registering functions: {e}"))?;
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        let functions = registered
            .into_iter()
            .map(|r| {
                let f = Func { name: r.name, description: r.description, flags: r.flags, callback: r.callback };
                (f.name.clone(), f)
            })
            .collect();
        Ok(Library { name: name.to_vec(), code: code.to_vec(), functions })
    }

    fn link(&mut self, lib: Library) {
        for f in lib.functions.keys() {
            self.index.insert(f.to_ascii_lowercase(), lib.name.clone());
        }
        self.libraries.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &[u8]) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in lib.functions.keys() {
            self.index.remove(&f.to_ascii_lowercase());
        }
        Some(lib)
    }

    /// FUNCTION DELETE.
    pub fn delete(&mut self, name: &[u8]) -> Result<(), String> {
        self.unlink(name).map(|_| ()).ok_or_else(|| "ERR Library not found".into())
    }

    /// FUNCTION FLUSH: drops every library and the state they lived in.
    pub fn flush(&mut self, cfg: &Config, gate: &Arc<Gate>) -> mlua::Result<()> {
        *self = Functions::new(cfg, gate)?;
        Ok(())
    }

    /// The function `name` (any case) and its library's name.
    pub fn find(&self, name: &[u8]) -> Option<(&Library, &Func)> {
        let lib = self.libraries.get(self.index.get(&name.to_ascii_lowercase())?)?;
        let f = lib.functions.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?.1;
        Some((lib, f))
    }

    /// Runs function `name` and writes its reply.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &self,
        name: &[u8],
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut ReplyBuf,
        gate: &Gate,
    ) -> Ended {
        match self.find(name) {
            Some((_, f)) => {
                let shown = String::from_utf8_lossy(&f.name).into_owned();
                self.vm.call(&f.callback, keys, args, true, &shown, host, out, gate)
            }
            None => Ended::error(out, b"ERR Function not found".to_vec()),
        }
    }

    /// What the running function shares with the server (`redis.set_repl`).
    pub fn shared(&self) -> Rc<Shared> {
        self.vm.shared.clone()
    }

    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    pub fn library_count(&self) -> usize {
        self.libraries.len()
    }

    pub fn function_count(&self) -> usize {
        self.index.len()
    }

    /// FUNCTION RESTORE: loads every library of `codes` under `policy`, all or nothing.
    pub fn restore(
        &mut self,
        codes: Vec<Vec<u8>>,
        policy: RestorePolicy,
        cfg: &Config,
        gate: &Arc<Gate>,
    ) -> Result<(), String> {
        // Build the new set aside, then swap it in: a failure leaves the old one.
        let mut fresh = Functions::new(cfg, gate).map_err(|e| format!("ERR {e}"))?;
        for code in &codes {
            fresh.load(code, false)?;
        }
        if policy == RestorePolicy::Flush {
            *self = fresh;
            return Ok(());
        }
        let mut merged = Functions::new(cfg, gate).map_err(|e| format!("ERR {e}"))?;
        for lib in self.libraries.values() {
            if fresh.libraries.contains_key(&lib.name) {
                if policy == RestorePolicy::Append {
                    return Err(format!("ERR Library {} already exists", String::from_utf8_lossy(&lib.name)));
                }
                continue;
            }
            merged.load(&lib.code, false)?;
        }
        for lib in fresh.libraries.values() {
            merged.load(&lib.code, false)?;
        }
        *self = merged;
        Ok(())
    }

    /// Memory of the Lua state (INFO's `used_memory_vm_functions`).
    pub fn vm_bytes(&self) -> usize {
        self.vm.used_memory()
    }

    /// Bytes of the library bookkeeping (INFO's `used_memory_functions`).
    pub fn overhead_bytes(&self) -> usize {
        self.libraries
            .values()
            .map(|l| {
                l.name.len()
                    + l.code.len()
                    + std::mem::size_of::<Library>()
                    + l.functions.values().map(|f| f.name.len() + std::mem::size_of::<Func>()).sum::<usize>()
            })
            .sum()
    }
}

/// `redis.register_function`, while a library loads: validates the arguments as Redis
/// does and records the function. Returns an error table to raise, or nil.
pub fn register(lua: &Lua, shared: &Shared, mut args: MultiValue) -> mlua::Result<Value> {
    let fail = |msg: &str| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set("err", format!("ERR {msg}"))?;
        Ok(Value::Table(t))
    };
    let n = match args.pop_front() {
        Some(Value::Integer(n)) => n,
        _ => 0,
    };
    let mut guard = shared.registering.lock().unwrap_or_else(|e| e.into_inner());
    let Some(registered) = guard.as_mut() else {
        return fail("redis.register_function can only be called on FUNCTION LOAD command");
    };
    let (name, callback, flags, description) = match n {
        1 => {
            let Some(Value::Table(t)) = args.pop_front() else {
                return fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
            };
            match named_args(&t) {
                Ok(v) => v,
                Err(msg) => return fail(&msg),
            }
        }
        2 => {
            let name = match args.pop_front() {
                Some(v) => match string_of(&v) {
                    Some(s) => s,
                    None => return fail("first argument to redis.register_function must be a string"),
                },
                None => return fail("first argument to redis.register_function must be a string"),
            };
            let Some(Value::Function(f)) = args.pop_front() else {
                return fail("second argument to redis.register_function must be a function");
            };
            (name, f, 0, None)
        }
        _ => return fail("wrong number of arguments to redis.register_function"),
    };
    if !valid_name(&name) {
        return fail(BAD_NAME);
    }
    if registered.iter().any(|r| r.name == name) {
        return fail("Function already exists in the library");
    }
    registered.push(Registered { name, callback, flags, description });
    Ok(Value::Nil)
}

/// A string or a number (as `lua_tolstring` converts it).
fn string_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => {
            let mut out = Vec::new();
            redoubt_resp::number::push_g(&mut out, *n, 14);
            Some(out)
        }
        _ => None,
    }
}

type Named = (Vec<u8>, Function, u32, Option<Vec<u8>>);

/// `redis.register_function{function_name=..., callback=..., flags=..., description=...}`.
fn named_args(t: &Table) -> Result<Named, String> {
    let (mut name, mut callback, mut flags, mut description) = (None, None, 0, None);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        let Some(key) = string_of(&k) else {
            return Err("named argument key given to redis.register_function is not a string".into());
        };
        match key.as_slice() {
            b"function_name" => {
                name = Some(
                    string_of(&v).ok_or("function_name argument given to redis.register_function must be a string")?,
                )
            }
            b"description" => {
                description = Some(
                    string_of(&v).ok_or("description argument given to redis.register_function must be a string")?,
                )
            }
            b"callback" => match v {
                Value::Function(f) => callback = Some(f),
                _ => return Err("callback argument given to redis.register_function must be a function".into()),
            },
            b"flags" => {
                let Value::Table(list) = v else {
                    return Err(
                        "flags argument to redis.register_function must be a table representing function flags".into(),
                    );
                };
                for item in list.sequence_values::<Value>() {
                    let item = item.map_err(|e| e.to_string())?;
                    let bit = match &item {
                        Value::String(s) => flags::parse(&s.as_bytes()),
                        _ => None,
                    };
                    flags |= bit.ok_or("unknown flag given")?;
                }
            }
            _ => return Err("unknown argument given to redis.register_function".into()),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok((name, callback, flags, description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_metadata() {
        assert_eq!(metadata(b"return 1").err().as_deref(), Some("ERR Missing library metadata"));
        assert_eq!(metadata(b"#!lua").err().as_deref(), Some("ERR Invalid library metadata"));
        assert_eq!(metadata(b"#!lua\n").err().as_deref(), Some("ERR Library name was not given"));
        assert_eq!(
            metadata(b"#!lua name=a foo=bar\n").err().as_deref(),
            Some("ERR Invalid metadata value given: foo=bar")
        );
        let md = metadata(b"#!LUA NAME=lib\ncode").unwrap();
        assert_eq!((md.engine.as_str(), md.name.as_slice()), ("LUA", &b"lib"[..]));
        assert!(valid_name(b"a_1") && !valid_name(b"a-b") && !valid_name(b""));
    }
}
