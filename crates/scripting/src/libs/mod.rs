//! The libraries Redis adds to Lua, written in Rust: `bit`, `struct`, `cjson` and
//! `cmsgpack`. Each module builds a plain table of functions; the prelude makes it
//! read-only.
//!
//! A library function returns `failed, ...`: `false` and its results, or `true` and an
//! error message. A C trampoline ([`crate::guard::lib_raising`]) raises the message
//! with the caller's position (`user_script:1: ...`), as `luaL_error` does in the C
//! libraries, so scripts see the same string errors (`pcall` gives them a string).

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

use mlua::{Lua, MultiValue, Table, Value};

/// What a library function returns (see the module doc).
pub type LibResult = mlua::Result<MultiValue>;

/// A library function's body: the name it was called by (for error messages), then
/// its arguments.
pub type Op = fn(&Lua, &str, MultiValue) -> LibResult;

/// The failure `msg`.
pub fn fail(lua: &Lua, msg: impl AsRef<[u8]>) -> LibResult {
    Ok(MultiValue::from_vec(vec![Value::Boolean(true), Value::String(lua.create_string(msg)?)]))
}

/// Successful results.
pub fn done(values: Vec<Value>) -> LibResult {
    let mut v = Vec::with_capacity(values.len() + 1);
    v.push(Value::Boolean(false));
    v.extend(values);
    Ok(MultiValue::from_vec(v))
}

/// Lua's type name of argument `i` (0-based) for an error message: `no value` when absent.
pub fn type_of(args: &MultiValue, i: usize) -> &'static str {
    match args.get(i) {
        None => "no value",
        Some(v) => v.type_name(),
    }
}

/// `luaL_checknumber`: a number, or a string that reads as one.
pub fn arg_number(args: &MultiValue, i: usize, fname: &str) -> Result<f64, String> {
    let v = args.get(i);
    let n = match v {
        Some(Value::Integer(n)) => Some(*n as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(s)) => parse_lua_number(&s.as_bytes()),
        _ => None,
    };
    n.ok_or_else(|| format!("bad argument #{} to '{fname}' (number expected, got {})", i + 1, type_of(args, i)))
}

/// `luaL_checklstring`: a string, or a number as Lua prints it.
pub fn arg_string(args: &MultiValue, i: usize, fname: &str) -> Result<Vec<u8>, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(n.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(lua_number_text(*n).into_bytes()),
        _ => Err(format!("bad argument #{} to '{fname}' (string expected, got {})", i + 1, type_of(args, i))),
    }
}

/// A string as `lua_str2number` reads it (decimal, or `0x` hex; spaces around).
pub fn parse_lua_number(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse().ok()
}

/// A number as Lua's `tostring` prints it (`%.14g`).
pub fn lua_number_text(n: f64) -> String {
    let mut out = Vec::new();
    redoubt_resp::number::push_g(&mut out, n, 14);
    String::from_utf8_lossy(&out).into_owned()
}

/// Wraps `op` as a Lua function that raises its failures (see the module doc).
pub fn function(lua: &Lua, op: Op) -> mlua::Result<mlua::Function> {
    let f = lua.create_function(move |lua, mut args: MultiValue| {
        let name = match args.pop_front() {
            Some(Value::String(s)) => s.to_string_lossy(),
            _ => "?".to_string(),
        };
        op(lua, &name, args)
    })?;
    crate::guard::lib_raising(lua, f)
}

/// The library tables, by global name.
pub fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("bit", bit::create(lua)?)?;
    t.set("struct", structlib::create(lua)?)?;
    t.set("cjson", cjson::create(lua)?)?;
    t.set("cmsgpack", cmsgpack::create(lua)?)?;
    Ok(t)
}
