//! The server's own commands — those that need the connection or the process rather
//! than only the keyspace. Each module exports a `COMMANDS` table.
//!
//! - [`connection`]: PING, ECHO, QUIT, RESET, AUTH, HELLO, SELECT
//! - [`client`]: CLIENT and its subcommands
//! - [`config`]: CONFIG GET/SET/RESETSTAT/REWRITE
//! - [`info`]: INFO and its sections
//! - [`command`]: COMMAND, COUNT, INFO, DOCS, LIST, GETKEYS
//! - [`debug`]: DEBUG and its subcommands (SLEEP, OBJECT, DIGEST, ...)
//! - [`slowlog`]: the SLOWLOG, with its state
//! - [`latency`]: the latency monitor, with its state
//! - [`monitor`]: MONITOR and its feed
//! - [`admin`]: TIME, LASTSAVE, SHUTDOWN

pub mod admin;
pub mod client;
pub mod command;
pub mod config;
pub mod connection;
pub mod debug;
pub mod info;
pub mod latency;
pub mod monitor;
pub mod slowlog;

use crate::dispatch::ServerCommand;

/// Every server command table.
pub static SERVER_COMMANDS: &[&[ServerCommand]] = &[
    connection::COMMANDS,
    client::COMMANDS,
    config::COMMANDS,
    info::COMMANDS,
    command::COMMANDS,
    debug::COMMANDS,
    slowlog::COMMANDS,
    latency::COMMANDS,
    monitor::COMMANDS,
    admin::COMMANDS,
];

/// Writes a HELP reply the way Redis's `addReplyHelp` does: a header, the given lines,
/// then the HELP entry itself.
pub fn help(out: &mut redoubt_resp::ReplyBuf, command: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes());
    for l in lines {
        out.simple(l.as_bytes());
    }
    out.simple(b"HELP");
    out.simple(b"    Print this help.");
}
