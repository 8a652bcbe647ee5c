//! # redoubt-server — the process
//!
//! Everything that makes the engine a Redis-compatible server: the command line and
//! configuration, listening sockets, connections, the command table and dispatch, the
//! server's own commands (INFO, CLIENT, CONFIG, DEBUG, ...), logging and daemonizing.
//!
//! Map:
//! - [`main_entry`]: start-up and shutdown, in order
//! - [`config`]: directives, redis.conf, CONFIG GET/SET/REWRITE
//! - [`apply`]: configuration values turned into runtime knobs
//! - [`acl`]: the ACL default user (requirepass, `user default` lines)
//! - [`server`]: the shared state of the process
//! - [`listen`]: sockets, accept, maxclients, protected mode
//! - [`conn`]: one connection: read, parse, dispatch, write
//! - [`blocked`]: connections waiting in BLPOP and friends (timeouts, CLIENT UNBLOCK)
//! - [`client`]: what other tasks see of a connection; the client registry
//! - [`dispatch`]: the command table and the path of every command
//! - [`cmd`]: the server's own commands
//! - [`pause`]: CLIENT PAUSE
//! - [`multi`]: MULTI/EXEC/DISCARD/WATCH/UNWATCH, EXEC's one-lock-set batch
//! - [`watch`]: WATCHed keys, invalidated as the engine changes them
//! - [`pubsub`]: subscriptions and message delivery, with the subscriber output limits
//! - [`notify`]: keyspace notifications published from the events commands record
//! - [`persistence`]: SAVE/BGSAVE, save points, loading at start-up, AOF
//! - [`replication`]: master and replica links, PSYNC, REPLICAOF, ROLE, WAIT
//! - [`scripting`]: EVAL, FCALL, SCRIPT, FUNCTION: how a Lua script runs against the keyspace
//! - [`evict`]: maxmemory before commands
//! - [`cron`]: periodic work
//! - [`log`]: Redis-format logging
//! - [`daemon`]: daemonize, pidfile, systemd notification

pub mod acl;
pub mod apply;
pub mod blocked;
pub mod client;
pub mod cmd;
pub mod config;
pub mod conn;
pub mod cron;
pub mod daemon;
pub mod dispatch;
pub mod evict;
pub mod listen;
pub mod log;
pub mod main_entry;
pub mod multi;
pub mod notify;
pub mod pause;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod watch;

/// The Redis version Redoubt is compatible with, as reported to clients.
pub const REDIS_VERSION: &str = "7.0.15";
