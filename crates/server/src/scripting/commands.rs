//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT *, FCALL, FCALL_RO and FUNCTION *, with
//! Redis 7.0's argument checks, errors and replies.

use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::exec::err;
use redoubt_engine::stats::{self, Stat};
use redoubt_engine::{CmdError, CmdResult};
use redoubt_resp::number::parse_i64;
use redoubt_scripting::flags::{self, ALLOW_OOM, EVAL_COMPAT, NO_WRITES};
use redoubt_scripting::functions::RestorePolicy;
use redoubt_scripting::gate::Entered;
use redoubt_scripting::{Ended, Running, ScriptKind, Turn};

use super::{count_errors, Limits, ScriptHost};
use crate::dispatch::{Call, Flow, ServerCommand};

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "eval", handler: eval },
    ServerCommand { name: "evalsha", handler: evalsha },
    ServerCommand { name: "eval_ro", handler: eval_ro },
    ServerCommand { name: "evalsha_ro", handler: evalsha_ro },
    ServerCommand { name: "script|load", handler: script_load },
    ServerCommand { name: "script|exists", handler: script_exists },
    ServerCommand { name: "script|flush", handler: script_flush },
    ServerCommand { name: "script|kill", handler: script_kill },
    ServerCommand { name: "script|debug", handler: script_debug },
    ServerCommand { name: "script|help", handler: script_help },
    ServerCommand { name: "fcall", handler: fcall },
    ServerCommand { name: "fcall_ro", handler: fcall_ro },
    ServerCommand { name: "function|load", handler: function_load },
    ServerCommand { name: "function|delete", handler: function_delete },
    ServerCommand { name: "function|flush", handler: function_flush },
    ServerCommand { name: "function|list", handler: function_list },
    ServerCommand { name: "function|stats", handler: function_stats },
    ServerCommand { name: "function|kill", handler: function_kill },
    ServerCommand { name: "function|dump", handler: function_dump },
    ServerCommand { name: "function|restore", handler: function_restore },
    ServerCommand { name: "function|help", handler: function_help },
];

const NOSCRIPT: CmdError = CmdError::Static("NOSCRIPT No matching script. Please use EVAL.");
const RO_WITH_WRITES: CmdError = CmdError::Static("ERR Can not execute a script with write flag using *_ro command.");

/* ---- RUNNING ---- */

/// The key count of EVAL/FCALL (argument 2), checked against the arguments given.
/// `bad` is the error for a non-integer (EVAL and FCALL word it differently).
fn numkeys(c: &Call, bad: CmdError) -> Result<usize, CmdError> {
    let n = parse_i64(c.args.get(2)).ok_or(bad)?;
    if n > c.args.len() as i64 - 3 {
        return Err(CmdError::Static("ERR Number of keys can't be greater than number of args"));
    }
    if n < 0 {
        return Err(CmdError::Static("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

/// Takes the script gate for this client, or says how to wait: `Ok(None)` when the
/// command must be retried later (the connection does that without counting it).
/// Inside EXEC, which cannot be retried, it waits here instead.
fn enter<'s>(c: &mut Call<'s, '_>, kind: ScriptKind, name: &[u8]) -> Result<Option<Entered<'s>>, CmdError> {
    let gate = &c.server.scripting.gate;
    // FUNCTION STATS shows a running function's command; an EVAL needs only its name
    // (for the slow-script warning), which spares each EVAL a copy of its arguments.
    let running = || Running {
        name: name.to_vec(),
        command: if kind == ScriptKind::Function { c.args.iter().map(|a| a.to_vec()).collect() } else { Vec::new() },
    };
    loop {
        match gate.enter(c.client.id, kind, running()) {
            Ok(e) => return Ok(Some(e)),
            Err(Turn::Busy(k)) => return Err(CmdError::Static(k.busy_error())),
            Err(Turn::Wait(t)) if crate::multi::denies_blocking(c.state) => {
                std::thread::sleep(t.saturating_duration_since(std::time::Instant::now()));
            }
            Err(Turn::Wait(t)) => {
                c.flow = Flow::RetryAfter(t);
                return Ok(None);
            }
            Err(Turn::Free) => {}
        }
    }
}

/// Redis's checks before a script with flags runs (`scriptPrepareForRun`); a script
/// without a shebang (`EVAL_COMPAT`) is checked command by command instead.
fn prepare(c: &Call, script_flags: u32, ro_command: bool) -> CmdResult {
    if script_flags & EVAL_COMPAT != 0 {
        return Ok(());
    }
    let server = c.server;
    let maxmemory = server.engine.knobs.maxmemory.load(Relaxed);
    if script_flags & (ALLOW_OOM | NO_WRITES) == 0
        && maxmemory > 0
        && redoubt_engine::memory::used_bytes() as u64 > maxmemory
    {
        return Err(err::OOM);
    }
    if script_flags & NO_WRITES == 0 {
        if server.engine.knobs.is_replica.load(Relaxed) && server.config.get_bool("replica-read-only") {
            return Err(CmdError::Static("READONLY You can't write against a read only replica."));
        }
        if let Some(e) = crate::persistence::write_error(server) {
            return Err(e);
        }
        if ro_command {
            return Err(RO_WITH_WRITES);
        }
    }
    Ok(())
}

/// Shows the script command to MONITOR before the commands it runs, as Redis does.
fn feed_monitor(c: &Call) {
    if c.server.clients.monitors.load(Relaxed) > 0 {
        crate::cmd::monitor::feed(c.server, c.client, c.state.db, c.args);
    }
}

/// What a finished script leaves to account for.
fn account(ended: Ended) {
    let (Ended::Error { uncounted } | Ended::Ok { uncounted }) = ended;
    count_errors(&uncounted);
}

fn eval(c: &mut Call) -> CmdResult {
    eval_generic(c, false, false)
}

fn evalsha(c: &mut Call) -> CmdResult {
    eval_generic(c, true, false)
}

fn eval_ro(c: &mut Call) -> CmdResult {
    eval_generic(c, false, true)
}

fn evalsha_ro(c: &mut Call) -> CmdResult {
    eval_generic(c, true, true)
}

fn eval_generic(c: &mut Call, by_sha: bool, ro: bool) -> CmdResult {
    let nkeys = numkeys(c, err::NOT_INTEGER)?;
    let body = c.args.get(1);
    let name = if by_sha { body.to_ascii_lowercase() } else { redoubt_scripting::sha1_hex(body).into_bytes() };
    let Some(_entered) = enter(c, ScriptKind::Eval, &name)? else { return Ok(()) };
    let server = c.server;
    let scripting = &server.scripting;
    let mut scripts = scripting.eval();
    let sha = if by_sha {
        scripts.get(body).map(|(sha, _)| sha.to_string()).ok_or(NOSCRIPT)?
    } else {
        scripts.load_as(body, String::from_utf8_lossy(&name).into_owned(), false).map_err(CmdError::Owned)?
    };
    let script_flags = scripts.get(sha.as_bytes()).map_or(EVAL_COMPAT, |(_, s)| s.flags);
    prepare(c, script_flags, ro)?;
    feed_monitor(c);
    let limits = Limits { read_only: ro || script_flags & NO_WRITES != 0, allow_oom: script_flags & ALLOW_OOM != 0 };
    let keys: Vec<&[u8]> = (3..3 + nkeys).map(|i| c.args.get(i)).collect();
    let argv: Vec<&[u8]> = (3 + nkeys..c.args.len()).map(|i| c.args.get(i)).collect();
    let mut host = ScriptHost::new(server, c.client, c.state.db, &keys, limits, scripts.shared());
    let ended = scripts.run(&sha, &keys, &argv, &mut host, c.out, &scripting.gate);
    host.finish();
    if scripting.gate.kill_requested() {
        crate::warning!("Lua script killed by user with SCRIPT KILL.");
    }
    scripting.note_eval(&scripts);
    account(ended);
    Ok(())
}

fn fcall(c: &mut Call) -> CmdResult {
    fcall_generic(c, false)
}

fn fcall_ro(c: &mut Call) -> CmdResult {
    fcall_generic(c, true)
}

fn fcall_generic(c: &mut Call, ro: bool) -> CmdResult {
    let name = c.args.get(1);
    let Some(_entered) = enter(c, ScriptKind::Function, name)? else { return Ok(()) };
    let server = c.server;
    let scripting = &server.scripting;
    let functions = scripting.functions();
    let Some((_, f)) = functions.find(name) else {
        return Err(CmdError::Static("ERR Function not found"));
    };
    let fn_flags = f.flags;
    let nkeys = numkeys(c, CmdError::Static("ERR Bad number of keys provided"))?;
    prepare(c, fn_flags, ro)?;
    feed_monitor(c);
    let limits = Limits { read_only: ro || fn_flags & NO_WRITES != 0, allow_oom: fn_flags & ALLOW_OOM != 0 };
    let keys: Vec<&[u8]> = (3..3 + nkeys).map(|i| c.args.get(i)).collect();
    let argv: Vec<&[u8]> = (3 + nkeys..c.args.len()).map(|i| c.args.get(i)).collect();
    let mut host = ScriptHost::new(server, c.client, c.state.db, &keys, limits, functions.shared());
    let ended = functions.call(name, &keys, &argv, &mut host, c.out, &scripting.gate);
    host.finish();
    if scripting.gate.kill_requested() {
        crate::warning!("Lua script killed by user with SCRIPT KILL.");
    }
    scripting.note_functions(&functions);
    account(ended);
    Ok(())
}

/* ---- SCRIPT ---- */

fn script_load(c: &mut Call) -> CmdResult {
    let scripting = &c.server.scripting;
    let mut scripts = scripting.eval();
    let sha = scripts.load(c.args.get(2), true).map_err(CmdError::Owned)?;
    scripting.note_eval(&scripts);
    c.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(c: &mut Call) -> CmdResult {
    let scripts = c.server.scripting.eval();
    c.out.array(c.args.len() - 2);
    for sha in c.args.iter().skip(2) {
        c.out.int(scripts.get(sha).is_some() as i64);
    }
    Ok(())
}

/// SYNC or ASYNC; without one, `lazyfree-lazy-user-flush` decides.
fn flush_mode(c: &Call, what: &'static str) -> Result<bool, CmdError> {
    match c.args.len() {
        2 => Ok(c.server.engine.knobs.lazyfree_lazy_user_flush.load(Relaxed)),
        3 if c.args.get(2).eq_ignore_ascii_case(b"async") => Ok(true),
        3 if c.args.get(2).eq_ignore_ascii_case(b"sync") => Ok(false),
        _ => Err(CmdError::Static(what)),
    }
}

fn script_flush(c: &mut Call) -> CmdResult {
    let background = flush_mode(c, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")?;
    let scripting = &c.server.scripting;
    scripting.flush_scripts(background).map_err(|e| CmdError::Owned(format!("ERR {e}")))?;
    scripting.note_eval(&scripting.eval());
    c.out.ok();
    Ok(())
}

fn script_kill(c: &mut Call) -> CmdResult {
    c.server.scripting.gate.kill(ScriptKind::Eval).map_err(CmdError::Static)?;
    c.out.ok();
    Ok(())
}

/// The Lua debugger (LDB) is not implemented: SCRIPT DEBUG NO is accepted, YES and
/// SYNC are refused rather than silently ignored.
fn script_debug(c: &mut Call) -> CmdResult {
    let mode = c.args.get(2);
    if mode.eq_ignore_ascii_case(b"no") {
        c.out.ok();
        return Ok(());
    }
    if mode.eq_ignore_ascii_case(b"yes") || mode.eq_ignore_ascii_case(b"sync") {
        return Err(CmdError::Static("ERR The Lua debugger (SCRIPT DEBUG) is not supported by Redoubt"));
    }
    Err(CmdError::Static("ERR Use SCRIPT DEBUG YES/SYNC/NO"))
}

fn script_help(c: &mut Call) -> CmdResult {
    crate::cmd::help(
        c.out,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}

/* ---- FUNCTION ---- */

/// A FUNCTION command that changed the libraries: it counts as a change and reaches
/// the journal as it was sent (Redis replicates these verbatim).
fn propagate(c: &mut Call) {
    stats::add(Stat::Dirty, 1);
    crate::multi::propagate(c.server, c.state, c.args);
}

fn function_load(c: &mut Call) -> CmdResult {
    let mut replace = false;
    let mut pos = 2;
    while pos < c.args.len() - 1 {
        let a = c.args.get(pos);
        pos += 1;
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
            continue;
        }
        return Err(CmdError::Owned(format!("ERR Unknown option given: {}", String::from_utf8_lossy(a))));
    }
    if pos >= c.args.len() {
        return Err(CmdError::Static("ERR Function code is missing"));
    }
    let scripting = &c.server.scripting;
    let mut functions = scripting.functions();
    let name = functions.load(c.args.get(pos), replace).map_err(CmdError::Owned)?;
    scripting.note_functions(&functions);
    drop(functions);
    propagate(c);
    c.out.bulk(&name);
    Ok(())
}

fn function_delete(c: &mut Call) -> CmdResult {
    let scripting = &c.server.scripting;
    let mut functions = scripting.functions();
    functions.delete(c.args.get(2)).map_err(CmdError::Owned)?;
    scripting.note_functions(&functions);
    drop(functions);
    propagate(c);
    c.out.ok();
    Ok(())
}

fn function_flush(c: &mut Call) -> CmdResult {
    // The libraries go at once either way; their Lua state is small.
    flush_mode(c, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")?;
    let scripting = &c.server.scripting;
    scripting.flush_functions().map_err(|e| CmdError::Owned(format!("ERR {e}")))?;
    propagate(c);
    c.out.ok();
    Ok(())
}

fn function_list(c: &mut Call) -> CmdResult {
    let (mut with_code, mut pattern): (bool, Option<&[u8]>) = (false, None);
    let mut i = 2;
    while i < c.args.len() {
        let a = c.args.get(i);
        if !with_code && a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            if i >= c.args.len() - 1 {
                return Err(CmdError::Static("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(c.args.get(i));
        } else {
            return Err(CmdError::Owned(format!("ERR Unknown argument {}", String::from_utf8_lossy(a))));
        }
        i += 1;
    }
    let functions = c.server.scripting.functions();
    let libs: Vec<_> = functions
        .libraries()
        .filter(|l| pattern.is_none_or(|p| redoubt_engine::glob::glob_match(p, &l.name, true)))
        .collect();
    let out = &mut *c.out;
    out.array(libs.len());
    for lib in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(&lib.name);
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in lib.functions.values() {
            out.map(3);
            out.bulk(b"name");
            out.bulk(&f.name);
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = flags::names(f.flags).collect();
            out.set(names.len());
            for n in names {
                out.simple(n.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn function_stats(c: &mut Call) -> CmdResult {
    let scripting = &c.server.scripting;
    let gate = &scripting.gate;
    if gate.running_kind() == Some(ScriptKind::Eval) {
        return Err(CmdError::Static(ScriptKind::Eval.busy_error()));
    }
    let out = &mut *c.out;
    out.map(2);
    out.bulk(b"running_script");
    match gate.running() {
        Some(r) if gate.running_kind() == Some(ScriptKind::Function) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(&r.name);
            out.bulk(b"command");
            out.array(r.command.len());
            for a in &r.command {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(gate.elapsed_ms() as i64);
        }
        _ => out.null(),
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(scripting.stats.libraries.load(Relaxed) as i64);
    out.bulk(b"functions_count");
    out.int(scripting.stats.functions.load(Relaxed) as i64);
    Ok(())
}

fn function_kill(c: &mut Call) -> CmdResult {
    c.server.scripting.gate.kill(ScriptKind::Function).map_err(CmdError::Static)?;
    c.out.ok();
    Ok(())
}

fn function_dump(c: &mut Call) -> CmdResult {
    let compress = c.server.config.get_bool("rdbcompression");
    let functions = c.server.scripting.functions();
    let codes: Vec<&[u8]> = functions.libraries().map(|l| l.code.as_slice()).collect();
    c.out.bulk(&super::dump::payload(&codes, compress));
    Ok(())
}

fn function_restore(c: &mut Call) -> CmdResult {
    let policy = match c.args.len() {
        3 => RestorePolicy::Append,
        4 => match c.args.get(3).to_ascii_lowercase().as_slice() {
            b"flush" => RestorePolicy::Flush,
            b"append" => RestorePolicy::Append,
            b"replace" => RestorePolicy::Replace,
            _ => {
                return Err(CmdError::Static(
                    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                ))
            }
        },
        _ => return Err(err::SYNTAX),
    };
    let codes = super::dump::libraries(c.args.get(2)).map_err(CmdError::Static)?;
    let scripting = &c.server.scripting;
    scripting.restore_functions(codes, policy).map_err(CmdError::Owned)?;
    propagate(c);
    c.out.ok();
    Ok(())
}

fn function_help(c: &mut Call) -> CmdResult {
    crate::cmd::help(
        c.out,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}
