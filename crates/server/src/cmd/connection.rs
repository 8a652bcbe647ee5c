//! Connection commands: PING, ECHO, QUIT, RESET, AUTH, HELLO, SELECT.

use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::exec::err;
use redoubt_engine::{CmdError, CmdResult};
use redoubt_resp::number::parse_i64;
use redoubt_resp::Protocol;

use crate::client::{ClientState, ReplyMode};
use crate::dispatch::{Call, Flow, ServerCommand};

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "ping", handler: ping },
    ServerCommand { name: "echo", handler: echo },
    ServerCommand { name: "quit", handler: quit },
    ServerCommand { name: "reset", handler: reset },
    ServerCommand { name: "auth", handler: auth },
    ServerCommand { name: "hello", handler: hello },
    ServerCommand { name: "select", handler: select },
];

const WRONGPASS: CmdError = CmdError::Static("WRONGPASS invalid username-password pair or user is disabled.");

fn ping(c: &mut Call) -> CmdResult {
    if c.args.len() > 2 {
        return Err(redoubt_engine::cmd::registry::arity_error("ping"));
    }
    if crate::pubsub::subscribed_ping(c.state) {
        // A subscribed RESP2 client gets a message-shaped reply: ["pong", message].
        c.out.array(2);
        c.out.bulk(b"pong");
        c.out.bulk(if c.args.len() == 2 { c.args.get(1) } else { b"" });
        return Ok(());
    }
    match c.args.len() {
        1 => c.out.simple(b"PONG"),
        _ => c.out.bulk(c.args.get(1)),
    }
    Ok(())
}

fn echo(c: &mut Call) -> CmdResult {
    c.out.bulk(c.args.get(1));
    Ok(())
}

fn quit(c: &mut Call) -> CmdResult {
    c.out.ok();
    c.flow = Flow::Close;
    Ok(())
}

fn reset(c: &mut Call) -> CmdResult {
    let authenticated = !c.server.knobs.has_password.load(Relaxed);
    crate::multi::end(c.server, c.state, c.client);
    crate::pubsub::reset(c.server, c.state, c.client);
    *c.state = ClientState::new(authenticated);
    c.out.proto = Protocol::Resp2;
    *c.client.name.lock().unwrap_or_else(|e| e.into_inner()) = None;
    c.client.db.store(0, Relaxed);
    c.client.resp.store(2, Relaxed);
    c.client.no_evict.store(false, Relaxed);
    if c.client.monitor.swap(false, Relaxed) {
        c.server.clients.monitors.fetch_sub(1, Relaxed);
    }
    c.out.simple(b"RESET");
    Ok(())
}

/// Checks `user`/`pass` against the default user (the only user until ACLs land).
pub fn check_password(c: &Call, user: &[u8], pass: &[u8]) -> CmdResult {
    if user != b"default" {
        return Err(WRONGPASS);
    }
    // The default user without a password ("nopass") accepts any password.
    match c.server.knobs.default_user.read().unwrap_or_else(|e| e.into_inner()).check(pass) {
        true => Ok(()),
        false => Err(WRONGPASS),
    }
}

fn auth(c: &mut Call) -> CmdResult {
    let (user, pass): (&[u8], &[u8]) = match c.args.len() {
        2 => {
            if !c.server.knobs.has_password.load(Relaxed) {
                return Err(CmdError::Static("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            (b"default", c.args.get(1))
        }
        3 => (c.args.get(1), c.args.get(2)),
        _ => return Err(err::SYNTAX),
    };
    check_password(c, user, pass)?;
    c.state.authenticated = true;
    c.out.ok();
    Ok(())
}

/// Client names may not contain spaces, newlines or other special characters.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn hello(c: &mut Call) -> CmdResult {
    let mut proto = None;
    let mut i = 1;
    if c.args.len() >= 2 {
        let v = parse_i64(c.args.get(1))
            .ok_or(CmdError::Static("ERR Protocol version is not an integer or out of range"))?;
        proto = match v {
            2 => Some(Protocol::Resp2),
            3 => Some(Protocol::Resp3),
            _ => return Err(CmdError::Static("NOPROTO unsupported protocol version")),
        };
        i = 2;
    }
    let mut auth: Option<(&[u8], &[u8])> = None;
    let mut name: Option<&[u8]> = None;
    while i < c.args.len() {
        let opt = c.args.get(i);
        let more = c.args.len() - i - 1;
        if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
            auth = Some((c.args.get(i + 1), c.args.get(i + 2)));
            i += 3;
        } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
            name = Some(c.args.get(i + 1));
            i += 2;
        } else {
            return Err(CmdError::Owned(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if let Some((u, p)) = auth {
        check_password(c, u, p)?;
        c.state.authenticated = true;
    }
    if !c.state.authenticated {
        return Err(CmdError::Static("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(n) = name {
        if !valid_client_name(n) {
            return Err(CmdError::Static("ERR Client names cannot contain spaces, newlines or special characters."));
        }
        *c.client.name.lock().unwrap_or_else(|e| e.into_inner()) = if n.is_empty() { None } else { Some(n.to_vec()) };
    }
    if let Some(p) = proto {
        c.state.proto = p;
        c.out.proto = p;
        c.client.resp.store(if p == Protocol::Resp3 { 3 } else { 2 }, Relaxed);
    }
    let out = &mut *c.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if c.state.proto == Protocol::Resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(c.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

fn select(c: &mut Call) -> CmdResult {
    let n = redoubt_engine::cmd::int32_arg(c.args.get(1))? as i64;
    if n < 0 || n >= c.server.engine.keyspace.databases() as i64 {
        return Err(err::DB_RANGE);
    }
    c.state.db = n as usize;
    c.client.db.store(n as u32, Relaxed);
    c.out.ok();
    Ok(())
}

/// Applies CLIENT REPLY's mode.
pub fn set_reply_mode(state: &mut ClientState, mode: ReplyMode) {
    state.reply = mode;
}
