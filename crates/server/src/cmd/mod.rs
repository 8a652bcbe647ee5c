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
//! - [`pubsub`]: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH, PUBSUB
//!
//! MULTI, EXEC, DISCARD, WATCH and UNWATCH are in `crate::multi`, next to the
//! transaction state they drive.

pub mod admin;
pub mod client;
pub mod command;
pub mod config;
pub mod connection;
pub mod debug;
pub mod info;
pub mod latency;
pub mod monitor;
pub mod pubsub;
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
    pubsub::COMMANDS,
    crate::multi::COMMANDS,
    crate::persistence::commands::COMMANDS,
    crate::scripting::commands::COMMANDS,
    crate::replication::commands::COMMANDS,
];

pub use redoubt_engine::cmd::help_reply as help;
