//! # redoubt-resp — the wire protocol, and nothing else
//!
//! This crate turns bytes from a client into argument vectors and turns replies into
//! bytes, exactly as Redis 7.0 does (RESP2, RESP3, inline commands, pipelining, and the
//! protocol errors with their texts). It must not depend on tokio, on the keyspace or on
//! any command: those live in `redoubt-engine` and `redoubt-server`.
//!
//! Map:
//! - [`request`]: the incremental request parser ([`RequestParser`]); arguments are
//!   ranges into the caller's buffer, so parsing copies nothing.
//! - [`inline`]: splitting an inline command line with Redis's quoting rules.
//! - [`reply`]: [`ReplyBuf`], the reply encoder for RESP2 and RESP3.
//! - [`number`]: integer and double text forms that Redis uses on the wire
//!   (`string2ll`, `%.17g`).
//! - [`repr`]: Redis's quoting of client bytes in text (`sdscatrepr`).
//! - [`value`]: a small reply parser for the client side of a connection (replication
//!   links, tests, benchmarks).

pub mod inline;
pub mod number;
pub mod reply;
pub mod repr;
pub mod request;
pub mod value;

pub use reply::{Protocol, ReplyBuf};
pub use request::{Limits, ParseError, Parsed, RequestParser};
