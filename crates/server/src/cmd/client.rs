//! CLIENT: ID, INFO, LIST, SETNAME, GETNAME, KILL (old and filter forms), PAUSE,
//! UNPAUSE, REPLY, NO-EVICT, UNBLOCK, HELP.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redoubt_engine::exec::err;
use redoubt_engine::{CmdError, CmdResult};
use redoubt_resp::number::parse_i64;

use super::connection::valid_client_name;
use crate::client::{ClientShared, ClientType, ReplyMode};
use crate::dispatch::{Call, Flow, ServerCommand};
use crate::pause::PauseMode;

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "client|id", handler: id },
    ServerCommand { name: "client|info", handler: info },
    ServerCommand { name: "client|list", handler: list },
    ServerCommand { name: "client|setname", handler: setname },
    ServerCommand { name: "client|getname", handler: getname },
    ServerCommand { name: "client|kill", handler: kill },
    ServerCommand { name: "client|pause", handler: pause },
    ServerCommand { name: "client|unpause", handler: unpause },
    ServerCommand { name: "client|reply", handler: reply },
    ServerCommand { name: "client|no-evict", handler: no_evict },
    ServerCommand { name: "client|unblock", handler: unblock },
    ServerCommand { name: "client|help", handler: help },
];

fn id(c: &mut Call) -> CmdResult {
    c.out.int(c.client.id as i64);
    Ok(())
}

fn line_of(c: &Call, client: &ClientShared, now: i64) -> String {
    let cmd = c.server.commands.by_id(client.last_cmd.load(Relaxed)).map_or("NULL", |cmd| cmd.name());
    client.describe(now, cmd)
}

fn info(c: &mut Call) -> CmdResult {
    let mut line = line_of(c, c.client, redoubt_engine::clock::now_ms());
    line.push('\n');
    c.out.verbatim(line.as_bytes());
    Ok(())
}

fn list(c: &mut Call) -> CmdResult {
    let all = c.server.clients.all();
    let mut chosen: Vec<&Arc<ClientShared>> = all.iter().collect();
    let mut i = 2;
    while i < c.args.len() {
        let opt = c.args.get(i);
        if opt.eq_ignore_ascii_case(b"type") && i + 1 < c.args.len() {
            let t = ClientType::parse(c.args.get(i + 1)).ok_or_else(|| {
                CmdError::Owned(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(c.args.get(i + 1))))
            })?;
            chosen.retain(|x| x.kind() == t);
            i += 2;
        } else if opt.eq_ignore_ascii_case(b"id") && i + 1 < c.args.len() {
            let mut ids = Vec::new();
            for a in c.args.iter().skip(i + 1) {
                // Ids below 1 are valid numbers that match no client.
                match parse_i64(a) {
                    Some(n) => ids.push(n.max(0) as u64),
                    None => return Err(CmdError::Static("ERR Invalid client ID")),
                }
            }
            chosen.retain(|x| ids.contains(&x.id));
            i = c.args.len();
        } else {
            return Err(err::SYNTAX);
        }
    }
    let now = redoubt_engine::clock::now_ms();
    let mut text = String::new();
    for x in chosen {
        text.push_str(&line_of(c, x, now));
        text.push('\n');
    }
    c.out.verbatim(text.as_bytes());
    Ok(())
}

fn setname(c: &mut Call) -> CmdResult {
    let name = c.args.get(2);
    if !valid_client_name(name) {
        return Err(CmdError::Static("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    *c.client.name.lock().unwrap_or_else(|e| e.into_inner()) = if name.is_empty() { None } else { Some(name.to_vec()) };
    c.out.ok();
    Ok(())
}

fn getname(c: &mut Call) -> CmdResult {
    match c.client.name() {
        Some(n) => c.out.bulk(&n),
        None => c.out.null(),
    }
    Ok(())
}

/// CLIENT KILL's filters.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    kind: Option<ClientType>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    skipme: bool,
}

fn kill(c: &mut Call) -> CmdResult {
    let old_form = c.args.len() == 3;
    let filter = if old_form {
        KillFilter { addr: Some(c.args.get(2).to_vec()), skipme: false, ..Default::default() }
    } else {
        parse_kill_filter(c)?
    };
    let mut killed = 0;
    let mut me = false;
    for x in c.server.clients.all() {
        let matches = filter.id.is_none_or(|id| x.id == id)
            && filter.kind.is_none_or(|k| x.kind() == k)
            && filter.addr.as_ref().is_none_or(|a| x.addr.as_bytes() == a.as_slice())
            && filter.laddr.as_ref().is_none_or(|a| x.laddr.as_bytes() == a.as_slice());
        if !matches || (filter.skipme && x.id == c.client.id) {
            continue;
        }
        if x.id == c.client.id {
            // Killing ourselves: the reply is sent first, then the connection closes.
            me = true;
        } else {
            x.kill();
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            return Err(CmdError::Static("ERR No such client"));
        }
        c.out.ok();
    } else {
        c.out.int(killed);
    }
    if me {
        c.flow = Flow::Close;
    }
    Ok(())
}

fn parse_kill_filter(c: &Call) -> Result<KillFilter, CmdError> {
    let mut f = KillFilter { skipme: true, ..Default::default() };
    let mut i = 2;
    while i < c.args.len() {
        if i + 1 >= c.args.len() {
            return Err(err::SYNTAX);
        }
        let (opt, v) = (c.args.get(i).to_ascii_lowercase(), c.args.get(i + 1));
        match opt.as_slice() {
            b"id" => match parse_i64(v) {
                Some(n) if n > 0 => f.id = Some(n as u64),
                _ => return Err(CmdError::Static("ERR client-id should be greater than 0")),
            },
            b"type" => {
                f.kind = Some(ClientType::parse(v).ok_or_else(|| {
                    CmdError::Owned(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(v)))
                })?)
            }
            b"addr" => f.addr = Some(v.to_vec()),
            b"laddr" => f.laddr = Some(v.to_vec()),
            b"user" if v != b"default" => {
                return Err(CmdError::Owned(format!("ERR No such user '{}'", String::from_utf8_lossy(v))))
            }
            b"user" => {}
            b"skipme" => {
                f.skipme = match v.to_ascii_lowercase().as_slice() {
                    b"yes" => true,
                    b"no" => false,
                    _ => return Err(err::SYNTAX),
                }
            }
            _ => return Err(err::SYNTAX),
        }
        i += 2;
    }
    Ok(f)
}

fn pause(c: &mut Call) -> CmdResult {
    let ms = parse_i64(c.args.get(2)).ok_or(CmdError::Static("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::Static("ERR timeout is negative"));
    }
    let mode = match c.args.len() {
        3 => PauseMode::All,
        4 if c.args.get(3).eq_ignore_ascii_case(b"write") => PauseMode::Write,
        4 if c.args.get(3).eq_ignore_ascii_case(b"all") => PauseMode::All,
        4 => return Err(CmdError::Static("ERR CLIENT PAUSE mode must be WRITE or ALL")),
        _ => return Err(err::SYNTAX),
    };
    let until = Instant::now()
        .checked_add(Duration::from_millis(ms as u64))
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86400 * 365));
    c.server.pause.start(mode, until);
    c.out.ok();
    Ok(())
}

fn unpause(c: &mut Call) -> CmdResult {
    c.server.pause.stop();
    c.out.ok();
    Ok(())
}

fn reply(c: &mut Call) -> CmdResult {
    let mode = match c.args.get(2).to_ascii_lowercase().as_slice() {
        b"on" => ReplyMode::On,
        b"off" => ReplyMode::Off,
        b"skip" => ReplyMode::SkipNext,
        _ => return Err(err::SYNTAX),
    };
    // ON replies +OK; OFF and SKIP reply nothing (their own reply is the first skipped).
    c.state.reply = mode;
    if mode == ReplyMode::On {
        c.out.ok();
    } else if mode == ReplyMode::SkipNext {
        // SKIP applies to the next command, not to CLIENT REPLY SKIP itself.
        c.state.reply = ReplyMode::SkipNext;
    }
    Ok(())
}

fn no_evict(c: &mut Call) -> CmdResult {
    let on = match c.args.get(2).to_ascii_lowercase().as_slice() {
        b"on" => true,
        b"off" => false,
        _ => return Err(err::SYNTAX),
    };
    c.client.no_evict.store(on, Relaxed);
    c.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK <id> [TIMEOUT|ERROR]: releases a client blocked on keys (BLPOP and
/// friends) with the timeout reply or the UNBLOCKED error; 1 if it was blocked. The
/// reason is checked before the id, as Redis does.
fn unblock(c: &mut Call) -> CmdResult {
    if c.args.len() > 4 {
        return Err(redoubt_engine::cmd::subcommand_syntax_error(c.args));
    }
    let mut error = false;
    if c.args.len() == 4 {
        let r = c.args.get(3);
        if r.eq_ignore_ascii_case(b"error") {
            error = true;
        } else if !r.eq_ignore_ascii_case(b"timeout") {
            return Err(CmdError::Static("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
        }
    }
    let id = parse_i64(c.args.get(2)).ok_or(err::NOT_INTEGER)?;
    let done = u64::try_from(id).is_ok_and(|id| crate::blocked::unblock(c.server, id, error));
    c.out.int(done as i64);
    Ok(())
}

fn help(c: &mut Call) -> CmdResult {
    super::help(
        c.out,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, TYPE (NORMAL|MASTER|REPLICA|PUBSUB), USER, ADDR, LADDR, SKIPME (YES|NO).",
            "LIST [options ...]",
            "    Return information about client connections. Options: TYPE (NORMAL|MASTER|REPLICA|PUBSUB), ID <id> [...].",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "NO-EVICT (ON|OFF)",
            "    Protect the current client connection from eviction.",
        ],
    );
    Ok(())
}
