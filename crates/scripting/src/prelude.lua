-- The Redis environment of one Lua state, set up once when the state is created (chunk
-- name "=redoubt"). It builds the redis.* API, makes the globals and every library
-- table read-only (see guard.rs), and returns the runner and the error handler that
-- Rust uses. Frames of this chunk are skipped when an error is located, so an error
-- raised by a wrapper below points at the script's line, as in Redis.
--
-- A: kind ('eval' or 'functions'), guards (guard.rs), prims (Rust primitives), slot
-- (where Rust puts the per-run callback), libs (bit, cjson, cmsgpack, struct).
local A = ...
local G, prims, slot = A.guards, A.prims, A.slot
local type, tostring, select, error, xpcall = type, tostring, select, error, xpcall
local raw_setmetatable, raw_rawset, raw_getmetatable = setmetatable, rawset, getmetatable
local getinfo = debug.getinfo
local proxies = G.proxies

-- Read-only tables ---------------------------------------------------------------
-- What getmetatable() returns for a protected library table: a table can't be used
-- (it would be writable), nil would expose the real metatable.
local function readonly(t, shown)
  local p = {}
  proxies[p] = t
  raw_setmetatable(p, {__index = t, __newindex = G.newindex, __metatable = shown or false})
  return p
end

-- Errors -------------------------------------------------------------------------
-- Turns whatever was raised into Redis's error table {err=..., source=..., line=...}.
-- The position is that of the first frame, from the one that raised, that is neither
-- a C function nor this chunk (Redis skips one C frame; our wrappers add Lua frames).
local function handler(e)
  local lvl = 2
  local i = getinfo(lvl, 'Sl')
  while i and (i.what == 'C' or i.source == '=redoubt') do
    lvl = lvl + 1
    i = getinfo(lvl, 'Sl')
  end
  if type(e) == 'userdata' then
    e = prims.errinfo(e)
  elseif type(e) ~= 'table' or proxies[e] then
    e = {err = 'ERR ' .. tostring(e)}
  end
  if i then
    raw_rawset(e, 'source', i.source)
    raw_rawset(e, 'line', i.currentline)
  end
  return e
end

-- Runs f (with keys and args for a function, with nothing for an EVAL script) under
-- the handler; returns true and f's first result, or false and the error table.
local function run(f, keys, args)
  if keys == nil then
    return xpcall(f, handler)
  end
  return xpcall(function() return f(keys, args) end, handler)
end

-- The redis.* API --------------------------------------------------------------------
-- Functions that may raise are C trampolines (A.raising) over Lua functions returning
-- (value, failed): raised from C, an error keeps the script's frame (and its line) on
-- the stack even after a tail call such as `return redis.call(...)`.
local raising = A.raising
local NO_RUN = {err = 'ERR redis.call/pcall can only be called inside a script invocation'}

local function runtime(op)
  return function(...)
    local rt = slot.rt
    if not rt then return NO_RUN, true end
    return rt(op, ...)
  end
end

local function failing(r) return r, r ~= nil end

local function api_common(api)
  api.call = raising(runtime(1))
  local pcall_rt = runtime(2)
  api.pcall = function(...) return (pcall_rt(...)) end
  api.acl_check_cmd = raising(runtime(3))
  api.error_reply = function(...)
    local e = ...
    if select('#', ...) ~= 1 or type(e) ~= 'string' then
      return {err = 'ERR wrong number or type of arguments'}
    end
    return {err = prims.error_text(e)}
  end
  api.status_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then
      return {err = 'ERR wrong number or type of arguments'}
    end
    return {ok = s}
  end
  api.sha1hex = raising(function(...)
    if select('#', ...) ~= 1 then return {err = 'ERR wrong number of arguments'}, true end
    local s = ...
    if type(s) == 'number' then s = tostring(s) elseif type(s) ~= 'string' then s = '' end
    return prims.sha1hex(s), false
  end)
  api.setresp = raising(function(...) return failing(prims.setresp(select('#', ...), ...)) end)
  api.set_repl = raising(function(...) return failing(prims.set_repl(select('#', ...), ...)) end)
  api.REPL_NONE, api.REPL_AOF, api.REPL_SLAVE, api.REPL_REPLICA, api.REPL_ALL = 0, 1, 2, 2, 3
  return api
end

local function api_log(api)
  api.log = raising(function(...) return failing(prims.log(select('#', ...), ...)) end)
  api.LOG_DEBUG, api.LOG_VERBOSE, api.LOG_NOTICE, api.LOG_WARNING = 0, 1, 2, 3
  api.REDIS_VERSION, api.REDIS_VERSION_NUM = A.version, A.version_num
  return api
end

-- Globals ----------------------------------------------------------------------------
-- R: the real globals. P: the read-only proxy scripts see as their globals (and _G).
local R = {}
for k, v in G.next, A.base do R[k] = v end
for _, name in ipairs({'dofile', 'loadfile', 'print', 'getfenv', 'setfenv', 'newproxy', 'module', 'require',
                       'debug', 'package', 'os', 'io'}) do
  R[name] = nil
end
R.next, R.pairs, R.ipairs, R.rawget, R.rawset, R.setmetatable =
  G.next, G.pairs, G.ipairs, G.rawget, G.rawset, G.setmetatable
-- Precompiled (binary) chunks are refused, as in Redis: crafted bytecode can break
-- the VM's memory safety.
local raw_loadstring, concat = R.loadstring, R.table.concat
local function text_only(s, name)
  if s:byte(1) == 27 then return nil, 'binary chunks are not allowed' end
  return raw_loadstring(s, name)
end
R.loadstring = function(s, name)
  if type(s) ~= 'string' and type(s) ~= 'number' then
    error("bad argument #1 to 'loadstring' (string expected, got " .. (s == nil and 'no value' or type(s)) .. ')', 2)
  end
  return text_only(tostring(s), name)
end
R.load = function(reader, name)
  if type(reader) ~= 'function' then
    error("bad argument #1 to 'load' (function expected, got " .. (reader == nil and 'no value' or type(reader)) .. ')', 2)
  end
  local parts = {}
  while true do
    local piece = reader()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    parts[#parts + 1] = piece
  end
  return text_only(concat(parts), name or '=(load)')
end
local tbl = R.table
tbl.insert, tbl.remove, tbl.sort = G.insert, G.remove, G.sort
for _, name in ipairs({'string', 'table', 'math', 'coroutine'}) do R[name] = readonly(R[name]) end
for name, lib in G.next, A.libs do R[name] = readonly(lib) end
-- String methods read the real table; the string metatable itself is protected.
local strmeta = raw_getmetatable('')
strmeta.__metatable = readonly({__index = R.string})

local P = {}
local Pmeta = {__newindex = G.newindex}
raw_setmetatable(R, {__index = G.missing_global})
Pmeta.__metatable = readonly({__index = G.missing_global})
proxies[P] = R
R._G = P

local out = {P = P, run = run, handler = handler, readonly = readonly}

if A.kind == 'eval' then
  local api = api_log(api_common({}))
  api.replicate_commands = function() return true end
  api.breakpoint = function() return false end
  api.debug = function() end
  R.redis = readonly(api)
  R.__redis__err__handler = handler
  Pmeta.__index = R
  -- KEYS and ARGV are new plain tables for every script, as in Redis; set and run in
  -- one call from Rust (each call across the boundary costs more than the Lua).
  out.run_script = function(f, keys, argv)
    R.KEYS, R.ARGV = keys, argv
    return xpcall(f, handler)
  end
else
  -- A function library's code runs with only the loading API in sight; functions run
  -- with the full globals. Redis switches one metatable between the two; so do we.
  R.redis = readonly(api_log(api_common({})))
  local L = {}
  local load_api = api_log({})
  load_api.register_function = raising(function(...) return failing(prims.register(select('#', ...), ...)) end)
  raw_setmetatable(load_api, {__index = G.missing_global})
  L.redis = readonly(load_api)
  raw_setmetatable(L, {__index = G.missing_global})
  Pmeta.__index = R
  out.loading = function(on) Pmeta.__index = on and L or R end
end
raw_setmetatable(P, Pmeta)
return out
