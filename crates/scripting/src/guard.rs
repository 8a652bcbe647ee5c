//! Read-only tables and protected globals, as Redis 7.0 has them, on a stock Lua 5.1.
//!
//! Redis patches its Lua so that a table can be flagged read-only: the globals, every
//! library table and the string metatable refuse writes with "Attempt to modify a
//! readonly table", and reading a global that does not exist fails with "Script
//! attempted to access nonexistent global variable". Our Lua is unpatched, so a
//! read-only table is a *proxy*: an empty table whose metatable reads through to the
//! real one (`__index`) and refuses every write (`__newindex`), existing keys included
//! since the proxy itself never holds a key.
//!
//! A proxy is invisible to the raw functions (`next`, `pairs`, `ipairs`, `rawget`) and
//! must not be writable through them (`rawset`, `setmetatable`, `table.insert`,
//! `table.remove`, `table.sort`), so those are replaced by the C functions below, which
//! look through a proxy to its table, or refuse to write. They are raw Lua C functions
//! (not mlua callbacks) for one reason: their errors must be the strings Lua's own
//! functions raise, positioned at the caller's line by `luaL_error`, exactly as a
//! script sees them in Redis. They keep no Rust value with a destructor alive across a
//! call that may raise (Lua errors unwind by `longjmp`).
//!
//! The map from proxy to table lives in the registry under [`PROXIES`] (weak keys).

use std::ffi::{c_int, CStr};

use mlua::ffi;
use mlua::{Function, Lua, Table};

/// Registry field holding the proxy -> table map.
pub const PROXIES: &CStr = c"redoubt.proxies";
/// Registry fields holding the original functions the replacements delegate to.
const ORIG_INSERT: &CStr = c"redoubt.table.insert";
const ORIG_REMOVE: &CStr = c"redoubt.table.remove";
const ORIG_SORT: &CStr = c"redoubt.table.sort";
const IPAIRS_AUX: &CStr = c"redoubt.ipairs.aux";
const NEXT: &CStr = c"redoubt.next";

const READONLY: &CStr = c"Attempt to modify a readonly table";

/// Pushes the table a proxy at `idx` stands for (or nil); `idx` must be absolute.
unsafe fn push_real(l: *mut ffi::lua_State, idx: c_int) {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, PROXIES.as_ptr());
    ffi::lua_pushvalue(l, idx);
    ffi::lua_rawget(l, -2);
    ffi::lua_replace(l, -2);
}

/// True when the value at `idx` (absolute) is a read-only proxy.
unsafe fn is_proxy(l: *mut ffi::lua_State, idx: c_int) -> bool {
    push_real(l, idx);
    let yes = ffi::lua_type(l, -1) == ffi::LUA_TTABLE;
    ffi::lua_pop(l, 1);
    yes
}

/// Replaces a proxy at `idx` (absolute) by its table.
unsafe fn see_through(l: *mut ffi::lua_State, idx: c_int) {
    push_real(l, idx);
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        ffi::lua_replace(l, idx);
    } else {
        ffi::lua_pop(l, 1);
    }
}

/// Raises the read-only error without a position, as Redis does when the write comes
/// from a C function (`rawset`, `table.insert`...).
unsafe fn refuse_write(l: *mut ffi::lua_State) -> c_int {
    ffi::lua_pushstring(l, READONLY.as_ptr());
    ffi::lua_error(l)
}

/// `__newindex` of a proxy: the error carries the position of the assignment.
unsafe extern "C-unwind" fn proxy_newindex(l: *mut ffi::lua_State) -> c_int {
    ffi::luaL_error(l, READONLY.as_ptr())
}

/// `__index` of the globals' own table: reading a global that does not exist fails.
unsafe extern "C-unwind" fn missing_global(l: *mut ffi::lua_State) -> c_int {
    // `lua_tolstring` converts numbers in place, which is harmless on our own argument.
    let name = ffi::lua_tolstring(l, 2, std::ptr::null_mut());
    let name = if name.is_null() { c"?".as_ptr() } else { name };
    ffi::luaL_error(l, c"Script attempted to access nonexistent global variable '%s'".as_ptr(), name)
}

unsafe extern "C-unwind" fn ro_next(l: *mut ffi::lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_settop(l, 2);
    see_through(l, 1);
    if ffi::lua_next(l, 1) != 0 {
        2
    } else {
        ffi::lua_pushnil(l);
        1
    }
}

unsafe extern "C-unwind" fn ro_pairs(l: *mut ffi::lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, NEXT.as_ptr());
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    3
}

unsafe extern "C-unwind" fn ipairs_aux(l: *mut ffi::lua_State) -> c_int {
    let i = ffi::luaL_checkinteger(l, 2) + 1;
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_pushinteger(l, i);
    ffi::lua_rawgeti(l, 1, i);
    if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
        0
    } else {
        2
    }
}

unsafe extern "C-unwind" fn ro_ipairs(l: *mut ffi::lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_settop(l, 1);
    see_through(l, 1);
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, IPAIRS_AUX.as_ptr());
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushinteger(l, 0);
    3
}

unsafe extern "C-unwind" fn ro_rawget(l: *mut ffi::lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(l, 2);
    ffi::lua_settop(l, 2);
    see_through(l, 1);
    ffi::lua_rawget(l, 1);
    1
}

unsafe extern "C-unwind" fn ro_rawset(l: *mut ffi::lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(l, 2);
    ffi::luaL_checkany(l, 3);
    if is_proxy(l, 1) {
        return refuse_write(l);
    }
    ffi::lua_settop(l, 3);
    ffi::lua_rawset(l, 1);
    1
}

unsafe extern "C-unwind" fn ro_setmetatable(l: *mut ffi::lua_State) -> c_int {
    let t = ffi::lua_type(l, 2);
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    if t != ffi::LUA_TNIL && t != ffi::LUA_TTABLE {
        ffi::luaL_argerror(l, 2, c"nil or table expected".as_ptr());
    }
    if is_proxy(l, 1) {
        return refuse_write(l);
    }
    if ffi::luaL_getmetafield(l, 1, c"__metatable".as_ptr()) != 0 {
        return ffi::luaL_error(l, c"cannot change a protected metatable".as_ptr());
    }
    ffi::lua_settop(l, 2);
    ffi::lua_setmetatable(l, 1);
    1
}

/// Calls the original table function stored at registry field `orig` with our
/// arguments, unless the first one is a proxy.
unsafe fn table_write(l: *mut ffi::lua_State, orig: &CStr) -> c_int {
    if ffi::lua_type(l, 1) == ffi::LUA_TTABLE && is_proxy(l, 1) {
        return refuse_write(l);
    }
    let n = ffi::lua_gettop(l);
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, orig.as_ptr());
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, ffi::LUA_MULTRET);
    ffi::lua_gettop(l)
}

unsafe extern "C-unwind" fn ro_insert(l: *mut ffi::lua_State) -> c_int {
    table_write(l, ORIG_INSERT)
}

unsafe extern "C-unwind" fn ro_remove(l: *mut ffi::lua_State) -> c_int {
    table_write(l, ORIG_REMOVE)
}

unsafe extern "C-unwind" fn ro_sort(l: *mut ffi::lua_State) -> c_int {
    table_write(l, ORIG_SORT)
}

/// A C function that calls its upvalue (a Lua function returning `value, failed`) and
/// raises `value` when `failed`, else returns it. The redis.* API is built of these so
/// that an error raised by it comes from a C frame, as in Redis: the script's frame
/// stays on the stack even when the call is a tail call (`return redis.call(...)`),
/// so the error names the script's line.
unsafe extern "C-unwind" fn trampoline(l: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, 2);
    if ffi::lua_toboolean(l, -1) != 0 {
        ffi::lua_pop(l, 1);
        ffi::lua_error(l);
    }
    ffi::lua_pop(l, 1);
    1
}

/// Wraps `f` (returning `value, failed`) in a [`trampoline`].
pub fn raising(lua: &Lua, f: Function) -> mlua::Result<Function> {
    // Safety: pushes one C closure over the one argument exec_raw pushed.
    unsafe { lua.exec_raw::<Function>(f, |l| ffi::lua_pushcclosure(l, trampoline, 1)) }
}

/// The trampoline of the libraries: its upvalue (called with the name it was called
/// by, then the arguments) returns `failed, ...`; a failure is
/// raised with the caller's position in front of a string message (as `luaL_error`
/// does), else the results are returned.
unsafe extern "C-unwind" fn lib_trampoline(l: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    // The name the caller used for us, for "bad argument #1 to 'name'" ('?' when
    // unknown, e.g. through pcall), as luaL_argerror finds it.
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    let name = if ffi::lua_getstack(l, 0, &mut ar) != 0
        && ffi::lua_getinfo(l, c"n".as_ptr(), &mut ar) != 0
        && !ar.name.is_null()
    {
        ar.name
    } else {
        c"?".as_ptr()
    };
    ffi::lua_pushstring(l, name);
    ffi::lua_insert(l, 1);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n + 1, ffi::LUA_MULTRET);
    if ffi::lua_toboolean(l, 1) != 0 {
        ffi::lua_settop(l, 2);
        if ffi::lua_type(l, 2) == ffi::LUA_TSTRING {
            ffi::luaL_where(l, 1);
            ffi::lua_insert(l, 2);
            ffi::lua_concat(l, 2);
        }
        ffi::lua_error(l);
    }
    ffi::lua_gettop(l) - 1
}

/// Wraps a library function `f` (returning `failed, ...`) in [`lib_trampoline`].
pub fn lib_raising(lua: &Lua, f: Function) -> mlua::Result<Function> {
    // Safety: pushes one C closure over the one argument exec_raw pushed.
    unsafe { lua.exec_raw::<Function>(f, |l| ffi::lua_pushcclosure(l, lib_trampoline, 1)) }
}

/// The guard functions, for the prelude to install.
pub struct Guards {
    pub newindex: Function,
    pub missing_global: Function,
    pub next: Function,
    pub pairs: Function,
    pub ipairs: Function,
    pub rawget: Function,
    pub rawset: Function,
    pub setmetatable: Function,
    pub insert: Function,
    pub remove: Function,
    pub sort: Function,
    /// The proxy -> table map (weak keys), also in the registry.
    pub proxies: Table,
}

/// Creates the guard functions and records the originals they delegate to. Must run
/// before the prelude replaces the globals.
pub fn install(lua: &Lua) -> mlua::Result<Guards> {
    let table: Table = lua.globals().get("table")?;
    let proxies = lua.create_table()?;
    let weak = lua.create_table()?;
    weak.set("__mode", "k")?;
    proxies.set_metatable(Some(weak))?;
    let reg = |name: &CStr, v: mlua::Value| lua.set_named_registry_value(name.to_str().unwrap_or_default(), v);
    reg(PROXIES, mlua::Value::Table(proxies.clone()))?;
    reg(ORIG_INSERT, table.get("insert")?)?;
    reg(ORIG_REMOVE, table.get("remove")?)?;
    reg(ORIG_SORT, table.get("sort")?)?;
    // Safety: each function below is a well-formed lua_CFunction that only uses the
    // Lua C API on its own stack.
    let c = |f: ffi::lua_CFunction| unsafe { lua.create_c_function(f) };
    let next = c(ro_next)?;
    reg(NEXT, mlua::Value::Function(next.clone()))?;
    reg(IPAIRS_AUX, mlua::Value::Function(c(ipairs_aux)?))?;
    Ok(Guards {
        newindex: c(proxy_newindex)?,
        missing_global: c(missing_global)?,
        next,
        pairs: c(ro_pairs)?,
        ipairs: c(ro_ipairs)?,
        rawget: c(ro_rawget)?,
        rawset: c(ro_rawset)?,
        setmetatable: c(ro_setmetatable)?,
        insert: c(ro_insert)?,
        remove: c(ro_remove)?,
        sort: c(ro_sort)?,
        proxies,
    })
}
