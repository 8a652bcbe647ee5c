//! The command table and the path every command takes (Redis's `processCommand` and
//! `call`): look up the command and subcommand, check arity and authentication, make
//! room under maxmemory, run it (a data command locks its shards and runs in the
//! engine; a server command gets the connection), then account for it — stats, error
//! stats, SLOWLOG, the latency monitor and MONITOR feeds.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redoubt_engine::cmd::registry;
use redoubt_engine::cmd::DataCommand;
use redoubt_engine::command::{all_names, flag, lookup_meta, CommandMeta};
use redoubt_engine::stats::{self, Stat};
use redoubt_engine::{CmdError, CmdResult};
use redoubt_resp::request::Args;
use redoubt_resp::ReplyBuf;

use crate::client::{ClientShared, ClientState, ReplyMode};
use crate::server::Server;

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Write what is pending, then close (QUIT, protocol errors, CLIENT KILL of self).
    Close,
    /// Wait before running this command, then run it again (CLIENT PAUSE).
    RetryAfter(Instant),
    /// The server is shutting down.
    Shutdown,
    /// A blocking command parked the client (`blocked.rs`); its reply comes later,
    /// and the connection runs nothing until then. The deadline in unix ms, if any.
    Blocked(Option<i64>),
}

/// What a server command sees: the server, its connection and its arguments.
pub struct Call<'a, 'o> {
    pub server: &'a Arc<Server>,
    pub state: &'a mut ClientState,
    pub client: &'a Arc<ClientShared>,
    pub args: Args<'a>,
    pub out: &'o mut ReplyBuf,
    pub cmd: &'a Command,
    pub flow: Flow,
}

pub type ServerHandler = fn(&mut Call<'_, '_>) -> CmdResult;

/// A server command's registration.
pub struct ServerCommand {
    pub name: &'static str,
    pub handler: ServerHandler,
}

/// How a command runs.
pub enum Handler {
    Data(&'static DataCommand),
    Server(ServerHandler),
    /// A container whose subcommands do the work (CONFIG, CLIENT, OBJECT).
    Container,
}

/// One command or subcommand.
pub struct Command {
    /// Index for per-command statistics.
    pub id: usize,
    pub meta: CommandMeta,
    pub handler: Handler,
    pub subcommands: FastMap<Vec<u8>, Arc<Command>>,
}

impl Command {
    pub fn name(&self) -> &'static str {
        self.meta.name
    }
}

/// Name lookups happen once per command: a fast hash, not SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Every command Redoubt implements.
pub struct CommandTable {
    by_name: FastMap<Vec<u8>, Arc<Command>>,
    /// Commands by id, for stats and CLIENT LIST.
    by_id: Vec<Arc<Command>>,
}

impl CommandTable {
    /// Builds the table from the engine's data commands and the server's own, joined
    /// with Redis 7.0's metadata; `renames` applies redis.conf's rename-command.
    pub fn build(server_cmds: &[&'static [ServerCommand]], renames: &[(String, String)]) -> CommandTable {
        let mut handlers: HashMap<&'static str, Handler> = HashMap::new();
        for d in redoubt_engine::cmd::all() {
            handlers.insert(d.name, Handler::Data(d));
        }
        for list in server_cmds {
            for s in list.iter() {
                handlers.insert(s.name, Handler::Server(s.handler));
            }
        }
        // Containers: parents of implemented subcommands that have no handler of their own.
        let parents: Vec<&'static str> = handlers.keys().filter_map(|n| n.split_once('|').map(|(p, _)| p)).collect();
        for p in parents {
            if let Some(name) = all_names().find(|n| *n == p) {
                handlers.entry(name).or_insert(Handler::Container);
            }
        }
        let mut names: Vec<&'static str> = handlers.keys().copied().collect();
        names.sort_unstable();
        let mut by_id = Vec::new();
        let mut subs: HashMap<&'static str, Vec<Arc<Command>>> = HashMap::new();
        let mut tops: Vec<Command> = Vec::new();
        for name in names {
            let Some(meta) = lookup_meta(name) else { continue };
            let Some(handler) = handlers.remove(name) else { continue };
            let cmd = Command { id: 0, meta, handler, subcommands: FastMap::default() };
            match name.split_once('|') {
                Some((parent, _)) => {
                    let mut cmd = cmd;
                    cmd.id = by_id.len();
                    let cmd = Arc::new(cmd);
                    by_id.push(cmd.clone());
                    subs.entry(parent).or_default().push(cmd);
                }
                None => tops.push(cmd),
            }
        }
        let mut by_name = FastMap::default();
        for mut cmd in tops {
            cmd.id = by_id.len();
            for s in subs.remove(cmd.meta.name).unwrap_or_default() {
                let sub = s.meta.name.split_once('|').map_or(s.meta.name, |(_, b)| b);
                cmd.subcommands.insert(sub.as_bytes().to_vec(), s);
            }
            let cmd = Arc::new(cmd);
            by_id.push(cmd.clone());
            by_name.insert(cmd.meta.name.as_bytes().to_vec(), cmd);
        }
        for (old, new) in renames {
            if let Some(cmd) = by_name.remove(old.to_ascii_lowercase().as_bytes()) {
                if !new.is_empty() {
                    by_name.insert(new.to_ascii_lowercase().into_bytes(), cmd);
                }
            }
        }
        CommandTable { by_name, by_id }
    }

    /// The command named `name` (any case).
    pub fn get(&self, name: &[u8]) -> Option<&Arc<Command>> {
        if name.len() <= 32 {
            let mut buf = [0u8; 32];
            let lower = &mut buf[..name.len()];
            lower.copy_from_slice(name);
            lower.make_ascii_lowercase();
            self.by_name.get(&lower[..])
        } else {
            self.by_name.get(&name.to_ascii_lowercase())
        }
    }

    pub fn by_id(&self, id: usize) -> Option<&Arc<Command>> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Command>> {
        self.by_name.values()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// An argument as C's `%.*s` prints it: cut at `max` bytes and at the first NUL.
fn c_string(a: &[u8], max: usize) -> &[u8] {
    let a = &a[..a.len().min(max)];
    a.iter().position(|&b| b == 0).map_or(a, |nul| &a[..nul])
}

/// Redis's unknown-command error: the name and the first arguments, quoted, bytes as
/// the client sent them.
pub fn unknown_command_error(args: Args) -> CmdError {
    let mut tail: Vec<u8> = Vec::new();
    for a in args.iter().skip(1) {
        if tail.len() >= 128 {
            break;
        }
        let room = 128 - tail.len();
        tail.push(b'\'');
        tail.extend_from_slice(c_string(a, room));
        tail.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(c_string(args.get(0), 128));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&tail);
    CmdError::Bytes(text)
}

/// Writes an error reply and counts it (total, per code, per command).
pub fn reply_error(out: &mut ReplyBuf, err: &CmdError) {
    let text = err.as_bytes();
    out.error(text);
    stats::incr(Stat::TotalErrorReplies);
    let code = text.split(|&b| b == b' ').next().unwrap_or(b"ERR");
    stats::record_error(code);
}

/// Runs one command for a connection; `now_ms` is the batch's clock reading.
pub fn dispatch(
    server: &Arc<Server>,
    state: &mut ClientState,
    client: &Arc<ClientShared>,
    args: Args,
    out: &mut ReplyBuf,
    now_ms: i64,
) -> Flow {
    let skip = match state.reply {
        ReplyMode::On => false,
        ReplyMode::Off | ReplyMode::Skipping => true,
        ReplyMode::SkipNext => {
            state.reply = ReplyMode::Skipping;
            true
        }
    };
    let mark = out.len();
    let flow = dispatch_inner(server, state, client, args, out, now_ms);
    if skip && state.reply != ReplyMode::On {
        // CLIENT REPLY OFF/SKIP: the reply is computed (and counted) but not sent.
        out.buf.truncate(mark);
        if state.reply == ReplyMode::Skipping {
            state.reply = ReplyMode::On;
        }
    }
    flow
}

fn dispatch_inner(
    server: &Arc<Server>,
    state: &mut ClientState,
    client: &Arc<ClientShared>,
    args: Args,
    out: &mut ReplyBuf,
    now_ms: i64,
) -> Flow {
    // While another client's script runs, nothing may touch the keyspace: wait (no
    // lock taken, nothing counted) until it ends or has run past the busy threshold.
    let busy = match server.scripting.gate.turn(client.id) {
        redoubt_scripting::Turn::Free => None,
        redoubt_scripting::Turn::Wait(until) => return Flow::RetryAfter(until),
        redoubt_scripting::Turn::Busy(kind) => Some(kind),
    };
    // The last command is set at lookup, like Redis's `c->lastcmd` (none for an unknown
    // one): queued and refused commands count, and a CLIENT LIST run inside EXEC shows
    // `cmd=exec`. A refused command also flags an open transaction (`multi::reject`).
    let Some(top) = server.commands.get(args.get(0)) else {
        client.last_cmd.store(usize::MAX, Relaxed);
        reply_error(out, &crate::multi::reject(server, state, client, "", unknown_command_error(args)));
        return Flow::Continue;
    };
    let cmd = match resolve_subcommand(top, args) {
        Ok(c) => c,
        Err(e) => {
            // Like an unknown command, an unknown subcommand belongs to no command's stats.
            client.last_cmd.store(usize::MAX, Relaxed);
            reply_error(out, &crate::multi::reject(server, state, client, "", e));
            return Flow::Continue;
        }
    };
    client.last_cmd.store(cmd.id, Relaxed);
    if let Err(e) = admit(server, state, client, cmd, args) {
        stats::record_rejected(cmd.id);
        reply_error(out, &crate::multi::reject(server, state, client, cmd.name(), e));
        return Flow::Continue;
    }
    if let Some(kind) = busy.filter(|_| !cmd.meta.has(flag::ALLOW_BUSY)) {
        stats::record_rejected(cmd.id);
        let e = CmdError::Static(kind.busy_error());
        reply_error(out, &crate::multi::reject(server, state, client, cmd.name(), e));
        return Flow::Continue;
    }
    if let Some(until) = server.pause.blocks(cmd, client, crate::multi::exec_flags(state, cmd)) {
        return Flow::RetryAfter(until);
    }
    if crate::multi::queues(state, cmd) {
        crate::multi::queue(server, state, client, cmd, args, out);
        return Flow::Continue;
    }
    call(server, state, client, cmd, args, out, now_ms, None)
}

/// Finds the subcommand of a container command.
pub(crate) fn resolve_subcommand<'c>(top: &'c Arc<Command>, args: Args) -> Result<&'c Arc<Command>, CmdError> {
    if top.subcommands.is_empty() {
        return Ok(top);
    }
    if args.len() < 2 {
        if matches!(top.handler, Handler::Container) {
            return Err(registry::arity_error(top.name()));
        }
        return Ok(top);
    }
    match top.subcommands.get(&args.get(1).to_ascii_lowercase()) {
        Some(sub) => Ok(sub),
        None => {
            let sub = String::from_utf8_lossy(&args.get(1)[..args.get(1).len().min(128)]).into_owned();
            Err(CmdError::Owned(format!(
                "ERR unknown subcommand '{sub}'. Try {} HELP.",
                String::from_utf8_lossy(args.get(0)).to_ascii_uppercase()
            )))
        }
    }
}

/// Whether a protected command (DEBUG) may run for this client: `enable-debug-command`
/// is `yes`, or `local` and the client is on loopback or the Unix socket.
fn protected_allowed(server: &Server, client: &ClientShared, cmd: &Command) -> bool {
    if cmd.name() != "debug" {
        return false;
    }
    match server.knobs.enable_debug.load(Relaxed) {
        1 => true,
        2 => client.unix || client.addr.starts_with("127.") || client.addr.starts_with("::1"),
        _ => false,
    }
}

/// The checks between lookup and execution, in Redis's order.
fn admit(server: &Server, state: &ClientState, client: &ClientShared, cmd: &Command, args: Args) -> CmdResult {
    if !cmd.meta.arity_ok(args.len()) {
        return Err(registry::arity_error(cmd.name()));
    }
    if !state.authenticated && !cmd.meta.has(flag::NO_AUTH) {
        return Err(CmdError::Static("NOAUTH Authentication required."));
    }
    // DEBUG is protected (Redis keeps the flag out of COMMAND INFO, so match the name).
    if cmd.name() == "debug" && !protected_allowed(server, client, cmd) {
        return Err(CmdError::Owned(format!(
            "ERR {} command not allowed. If the {} option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
            cmd.name().to_ascii_uppercase(),
            if cmd.name() == "debug" { "enable-debug-command" } else { "enable-module-command" }
        )));
    }
    if cmd.meta.has(flag::NO_MULTI) && crate::multi::in_multi(state) {
        return Err(CmdError::Static("ERR Command not allowed inside a transaction"));
    }
    // No eviction while a script runs (it holds every shard; Redis does not evict
    // during a busy script either).
    if server.engine.knobs.maxmemory.load(Relaxed) > 0 && !server.scripting.gate.is_running() {
        let short = crate::evict::make_room(server).is_err();
        if short && (cmd.meta.has(flag::DENYOOM) || crate::multi::denied_on_oom(state, cmd)) {
            return Err(redoubt_engine::exec::err::OOM);
        }
    }
    if cmd.meta.has(flag::WRITE) || cmd.name() == "ping" {
        // Writes (and PING, as Redis does) are refused while persistence is failing.
        if let Some(e) = crate::persistence::write_error(server) {
            return Err(e);
        }
    }
    if let Some(e) = crate::replication::gate::refuse(server, client, cmd) {
        return Err(e);
    }
    if let Some(e) = crate::pubsub::context_error(state, cmd.name()) {
        return Err(e);
    }
    if server.persistence.loading.load(Relaxed) && !cmd.meta.has(flag::LOADING) {
        return Err(CmdError::Static("LOADING Redis is loading the dataset in memory"));
    }
    Ok(())
}

/// Runs an admitted command and accounts for it. `batch`: the locked keyspace of the
/// EXEC running this command (`multi.rs`), for a data command to run in.
#[allow(clippy::too_many_arguments)]
pub fn call(
    server: &Arc<Server>,
    state: &mut ClientState,
    client: &Arc<ClientShared>,
    cmd: &Arc<Command>,
    args: Args,
    out: &mut ReplyBuf,
    now_ms: i64,
    batch: Option<&mut redoubt_engine::Db<'_>>,
) -> Flow {
    let start = Instant::now();
    let sync_mark = crate::persistence::sync_mark(server);
    let (result, flow) = match &cmd.handler {
        Handler::Data(d) => {
            let reply_at = out.len();
            let (result, changes) = match batch {
                Some(db) => crate::multi::execute_queued(db, &cmd.meta, d, state.db, args, out),
                None if cmd.meta.has(flag::BLOCKING) => {
                    // Marked blocked before the command can register: a push on
                    // another thread may serve it before `execute_for` returns.
                    client.block.set_waiting();
                    let blocker = Some(crate::blocked::blocker(client));
                    registry::execute_for(&server.engine, &cmd.meta, d, state.db, args, out, now_ms, blocker)
                }
                None => registry::execute(&server.engine, &cmd.meta, d, state.db, args, out, now_ms),
            };
            let flow = match changes.blocked {
                Some(on) => Flow::Blocked(on.deadline_ms),
                None => {
                    if cmd.meta.has(flag::BLOCKING) {
                        client.block.clear();
                    }
                    Flow::Continue
                }
            };
            let mut origin = crate::pubsub::Origin { client_id: client.id, out: &mut *out, at: reply_at };
            server.apply_changes_to(changes, Some(&mut origin));
            if d.name == "flushall" && result.is_ok() {
                crate::persistence::after_flushall(server);
            }
            (result, flow)
        }
        Handler::Server(h) => {
            let mut c = Call { server, state, client, args, out, cmd, flow: Flow::Continue };
            let r = h(&mut c);
            if let (Ok(()), Flow::RetryAfter(_)) = (&r, c.flow) {
                // The command did not run (a script found the gate taken): it is
                // retried later and accounted for then.
                return c.flow;
            }
            (r, c.flow)
        }
        Handler::Container => (Err(registry::arity_error(cmd.name())), Flow::Continue),
    };
    let elapsed = start.elapsed();
    let failed = result.is_err();
    if let Err(e) = &result {
        reply_error(out, e);
    }
    stats::record_call(cmd.id, elapsed.as_micros() as u64, failed);
    server.after_call(client, state, cmd, args, elapsed);
    crate::persistence::note_sync(server, state, sync_mark);
    flow
}

/// Redis's `call` bookkeeping that needs the server: SLOWLOG, latency, MONITOR.
impl Server {
    /// Acts on what a data command changed, after its locks are released.
    pub fn apply_changes(&self, changes: redoubt_engine::exec::Changes) {
        self.apply_changes_to(changes, None);
    }

    /// [`Server::apply_changes`] for a client's command: its own notifications go
    /// into its reply stream, ahead of the command's reply (`origin`).
    pub fn apply_changes_to(
        &self,
        changes: redoubt_engine::exec::Changes,
        origin: Option<&mut crate::pubsub::Origin<'_>>,
    ) {
        if changes.dirty > 0 {
            stats::add(Stat::Dirty, changes.dirty);
        }
        if !changes.events.is_empty() {
            crate::notify::publish_events(self, &changes.events, origin);
        }
    }

    fn after_call(&self, client: &ClientShared, state: &ClientState, cmd: &Command, args: Args, elapsed: Duration) {
        let us = elapsed.as_micros() as i64;
        if !cmd.meta.has(flag::SKIP_SLOWLOG) {
            self.slowlog.record(self, client, args, us);
        }
        self.latency.record_command(cmd.meta.has(flag::FAST), us);
        if self.clients.monitors.load(Relaxed) > 0 && !cmd.meta.has(flag::SKIP_MONITOR) && !cmd.meta.has(flag::ADMIN) {
            crate::cmd::monitor::feed(self, client, state.db, args);
        }
    }
}
