//! COMMAND and its subcommands: what the server implements, described with Redis 7.0's
//! own metadata (COMMAND INFO, DOCS), and where a command's keys are (GETKEYS).

use std::sync::Arc;

use redoubt_engine::command::node::Node;
use redoubt_engine::exec::err;
use redoubt_engine::glob::glob_match;
use redoubt_engine::{CmdError, CmdResult};
use redoubt_resp::ReplyBuf;

use crate::dispatch::{Call, Command, ServerCommand};

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "command", handler: all },
    ServerCommand { name: "command|count", handler: count },
    ServerCommand { name: "command|info", handler: info },
    ServerCommand { name: "command|docs", handler: docs },
    ServerCommand { name: "command|list", handler: list },
    ServerCommand { name: "command|getkeys", handler: getkeys },
    ServerCommand { name: "command|getkeysandflags", handler: getkeysandflags },
    ServerCommand { name: "command|help", handler: help },
];

/// Top-level commands in name order, for stable output.
fn sorted(c: &Call) -> Vec<Arc<Command>> {
    let mut v: Vec<Arc<Command>> = c.server.commands.all().cloned().collect();
    v.sort_by_key(|x| x.name());
    v
}

/// Writes a command's COMMAND INFO entry, with its implemented subcommands.
fn write_info(out: &mut ReplyBuf, cmd: &Command) {
    let items = cmd.meta.info.items();
    out.array(items.len().max(10));
    for (i, n) in items.iter().enumerate() {
        if i == 9 {
            // Redis sends an empty set when there are none, an array otherwise.
            if cmd.subcommands.is_empty() {
                out.set(0);
                continue;
            }
            let mut subs: Vec<&Arc<Command>> = cmd.subcommands.values().collect();
            subs.sort_by_key(|s| s.name());
            out.array(subs.len());
            for s in subs {
                write_info(out, s);
            }
        } else {
            n.write(out);
        }
    }
}

fn all(c: &mut Call) -> CmdResult {
    let cmds = sorted(c);
    c.out.array(cmds.len());
    for cmd in &cmds {
        write_info(c.out, cmd);
    }
    Ok(())
}

fn count(c: &mut Call) -> CmdResult {
    c.out.int(c.server.commands.len() as i64);
    Ok(())
}

/// A command or subcommand by name (`get`, `client|list`), as COMMAND INFO and DOCS
/// accept them.
fn by_full_name(c: &Call, name: &[u8]) -> Option<Arc<Command>> {
    match name.iter().position(|&b| b == b'|') {
        None => c.server.commands.get(name).cloned(),
        Some(bar) => {
            let parent = c.server.commands.get(&name[..bar])?;
            parent.subcommands.get(&name[bar + 1..].to_ascii_lowercase()).cloned()
        }
    }
}

fn info(c: &mut Call) -> CmdResult {
    if c.args.len() == 2 {
        return all(c);
    }
    c.out.array(c.args.len() - 2);
    for name in c.args.iter().skip(2) {
        match by_full_name(c, name) {
            Some(cmd) => write_info(c.out, &cmd),
            None => c.out.null(),
        }
    }
    Ok(())
}

fn write_docs(out: &mut ReplyBuf, cmd: &Command) {
    let pairs: &[(Node, Node)] = match cmd.meta.docs {
        Some(Node::M(p)) => p,
        _ => &[],
    };
    let has_subs = !cmd.subcommands.is_empty();
    out.map(pairs.len() + has_subs as usize);
    for (k, v) in pairs {
        k.write(out);
        v.write(out);
    }
    if has_subs {
        out.bulk(b"subcommands");
        let mut subs: Vec<&Arc<Command>> = cmd.subcommands.values().collect();
        subs.sort_by_key(|s| s.name());
        out.map(subs.len());
        for s in subs {
            out.bulk(s.name().as_bytes());
            write_docs(out, s);
        }
    }
}

fn docs(c: &mut Call) -> CmdResult {
    let chosen: Vec<Arc<Command>> =
        if c.args.len() == 2 { sorted(c) } else { c.args.iter().skip(2).filter_map(|n| by_full_name(c, n)).collect() };
    c.out.map(chosen.len());
    for cmd in &chosen {
        c.out.bulk(cmd.name().as_bytes());
        write_docs(c.out, cmd);
    }
    Ok(())
}

fn list(c: &mut Call) -> CmdResult {
    enum Filter<'a> {
        None,
        AclCat(&'a [u8]),
        Pattern(&'a [u8]),
        Module,
    }
    let filter = match c.args.len() {
        2 => Filter::None,
        5 if c.args.get(2).eq_ignore_ascii_case(b"filterby") => {
            let (kind, v) = (c.args.get(3), c.args.get(4));
            if kind.eq_ignore_ascii_case(b"aclcat") {
                Filter::AclCat(v)
            } else if kind.eq_ignore_ascii_case(b"pattern") {
                Filter::Pattern(v)
            } else if kind.eq_ignore_ascii_case(b"module") {
                Filter::Module
            } else {
                return Err(err::SYNTAX);
            }
        }
        _ => return Err(err::SYNTAX),
    };
    let mut names = Vec::new();
    for cmd in sorted(c) {
        let mut subs: Vec<&Arc<Command>> = cmd.subcommands.values().collect();
        subs.sort_by_key(|s| s.name());
        for x in std::iter::once(&cmd).chain(subs) {
            let keep = match &filter {
                Filter::None => true,
                Filter::AclCat(cat) => x.meta.acl.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(cat)),
                Filter::Pattern(p) => glob_match(p, x.name().as_bytes(), true),
                Filter::Module => false,
            };
            if keep {
                names.push(x.name());
            }
        }
    }
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// The command being asked about and its key positions.
fn keys_of(c: &Call) -> Result<(Arc<Command>, Vec<usize>), CmdError> {
    let args = c.args.tail(2);
    let mut cmd =
        c.server.commands.get(args.get(0)).cloned().ok_or(CmdError::Static("ERR Invalid command specified"))?;
    if !cmd.subcommands.is_empty() && args.len() >= 2 {
        if let Some(sub) = cmd.subcommands.get(&args.get(1).to_ascii_lowercase()) {
            cmd = sub.clone();
        }
    }
    if !cmd.meta.arity_ok(args.len()) {
        return Err(CmdError::Static("ERR Invalid number of arguments specified for command"));
    }
    if cmd.meta.key_specs.is_empty() {
        return Err(CmdError::Static("ERR The command has no key arguments"));
    }
    let positions = cmd.meta.key_positions(|i| args.get(i), args.len());
    Ok((cmd, positions))
}

fn getkeys(c: &mut Call) -> CmdResult {
    let (_, positions) = keys_of(c)?;
    let args = c.args.tail(2);
    c.out.array(positions.len());
    for p in positions {
        c.out.bulk(args.get(p));
    }
    Ok(())
}

/// The real flags of a key spec marked `variable_flags`: they depend on the arguments,
/// as Redis's key procedures for SET and BITFIELD compute them.
fn variable_flags(cmd: &Command, args: redoubt_resp::request::Args) -> Option<Vec<&'static str>> {
    let has = |word: &[u8]| args.iter().skip(1).any(|a| a.eq_ignore_ascii_case(word));
    match cmd.name() {
        "set" if has(b"get") => Some(vec!["RW", "access", "update"]),
        "set" => Some(vec!["OW", "update"]),
        "bitfield" if has(b"set") || has(b"incrby") => Some(vec!["RW", "access", "update"]),
        "bitfield" => Some(vec!["RO", "access"]),
        _ => None,
    }
}

fn getkeysandflags(c: &mut Call) -> CmdResult {
    let (cmd, _) = keys_of(c)?;
    let args = c.args.tail(2);
    let mut found: Vec<(usize, Vec<&'static str>)> = Vec::new();
    // Commands whose specs are incomplete (SORT) have a key procedure with its flags.
    let by_procedure = redoubt_engine::command::keys::procedure(cmd.name(), &|i| args.get(i), args.len());
    for (p, flags) in by_procedure.iter().flatten() {
        found.push((*p, flags.to_vec()));
    }
    for spec in cmd.meta.key_specs.iter().filter(|_| by_procedure.is_none()) {
        let flags = match spec.has_flag("variable_flags") {
            true => variable_flags(&cmd, args).unwrap_or_else(|| spec.flags.clone()),
            false => spec.flags.clone(),
        };
        for p in redoubt_engine::command::keys::positions(std::slice::from_ref(spec), |i| args.get(i), args.len()) {
            found.push((p, flags.clone()));
        }
    }
    c.out.array(found.len());
    for (p, flags) in found {
        c.out.array(2);
        c.out.bulk(args.get(p));
        c.out.set(flags.len());
        for f in &flags {
            c.out.simple(f.as_bytes());
        }
    }
    Ok(())
}

fn help(c: &mut Call) -> CmdResult {
    super::help(
        c.out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redoubt commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST",
            "    Return a list of all commands in this server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple commands. With no names, all commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple commands. With no names, all commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full command.",
        ],
    );
    Ok(())
}
