//! # redoubt-repl — replication without sockets
//!
//! The decisions and the wire format of Redis's master/replica protocol, as plain
//! functions and state: the server (`redoubt-server`'s `replication` module) owns
//! the sockets, tasks and timers and asks this crate what to send and what to do.
//! This crate knows the journal's types (offsets, backlog limits) but no sockets, no
//! clients and no configuration files.
//!
//! Map:
//! - [`ids`]: replication ids, PSYNC2's secondary id, the master's PSYNC decision
//! - [`protocol`]: handshake commands and replies, +FULLRESYNC/+CONTINUE, the
//!   snapshot preamble and EOF mark, REPLCONF options, ACK/GETACK frames
//! - [`backlog`]: how much of the stream the backlog keeps (bytes, time, cap)
//! - [`link`]: the link states INFO and ROLE report, the reconnect backoff
//! - [`wait`]: WAIT's arguments
//! - [`failover`]: FAILOVER's arguments, checks and states

pub mod backlog;
pub mod failover;
pub mod ids;
pub mod link;
pub mod protocol;
pub mod wait;
