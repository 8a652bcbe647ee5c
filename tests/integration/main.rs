//! Black-box tests: real `redoubt-server` processes on free loopback ports, talked to
//! over raw sockets and with the `redis` crate, and compared byte for byte with the real
//! `redis-server` 7.0 (the oracle) wherever both should answer the same.
//!
//! Map:
//! - [`support`]: server processes, the raw RESP client, the differential harness
//! - [`protocol`]: malformed requests and their exact errors, pipelining, inline, RESP3

mod protocol;
mod support;
