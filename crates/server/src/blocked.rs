//! Connections blocked by BLPOP and friends: the server's half of
//! `redoubt_engine::blocking`.
//!
//! A blocking command that finds nothing registers its client in the engine (under its
//! keys' locks) and writes no reply; `dispatch` turns that into [`Flow::Blocked`] and
//! the connection (`conn.rs`) stops running its pipeline and waits. The reply arrives
//! one of three ways, always through [`ClientShared`]'s [`BlockSink`] implementation,
//! which puts it in the client's mailbox and wakes the connection:
//! - served: a command that gave a key data ran the waiter's pop (engine);
//! - timed out: the connection's own timer fired ([`time_out`]);
//! - CLIENT UNBLOCK ([`unblock`]).
//!
//! The engine hands each registration's reply over exactly once, so whichever comes
//! first wins and the others find nothing to release. The connection then sends the
//! reply and resumes with the requests that arrived meanwhile (read, not run, while it
//! waited; bounded by `client-query-buffer-limit`). A connection that closes while
//! blocked removes its registration ([`forget`]).
//!
//! [`Flow::Blocked`]: crate::dispatch::Flow::Blocked

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use redoubt_engine::blocking::{BlockSink, Blocker, Release};

use crate::client::ClientShared;
use crate::server::Server;

const IDLE: u8 = 0;
const WAITING: u8 = 1;
const REPLIED: u8 = 2;

/// Where a connection is in a blocking command: one byte in [`ClientShared`].
#[derive(Default)]
pub struct BlockState(AtomicU8);

impl BlockState {
    /// True from the moment the command blocked until its reply arrived (CLIENT
    /// LIST's `b` flag; idle timeouts skip such clients, as Redis's do).
    pub fn is_blocked(&self) -> bool {
        self.0.load(Ordering::Acquire) == WAITING
    }

    /// True once the reply is in the mailbox.
    pub fn has_reply(&self) -> bool {
        self.0.load(Ordering::Acquire) == REPLIED
    }

    pub(crate) fn set_waiting(&self) {
        self.0.store(WAITING, Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        self.0.store(IDLE, Ordering::Release);
    }
}

impl BlockSink for ClientShared {
    /// The reply goes into the mailbox before the state says "replied" (both under
    /// the mailbox's lock), so a connection that sees the state also gets the reply
    /// with its next `take_mail`, ahead of any later reply.
    fn deliver(&self, reply: Vec<u8>) {
        self.push_then(&reply, || self.block.0.store(REPLIED, Ordering::Release));
    }
}

/// The handle a blocking command gets to park `client`.
pub fn blocker(client: &std::sync::Arc<ClientShared>) -> Blocker {
    Blocker { client_id: client.id, sink: client.clone() }
}

/// When a blocked command with deadline `deadline_ms` (unix ms) times out; None for
/// no timeout (or one too far away to represent).
pub fn deadline(deadline_ms: Option<i64>) -> Option<Instant> {
    let ms = deadline_ms?;
    let wait = ms.saturating_sub(redoubt_engine::clock::now_ms()).max(0) as u64;
    Instant::now().checked_add(Duration::from_millis(wait))
}

/// The connection's timer fired: release the client with the timeout reply, unless
/// it was served (or unblocked) in the meantime, in which case that reply is coming.
pub fn time_out(server: &Server, client: &ClientShared) {
    server.engine.blocking.release(&server.engine.knobs, client.id, Release::Timeout);
}

/// CLIENT UNBLOCK: true if client `id` was blocked (it gets the timeout reply or the
/// UNBLOCKED error).
pub fn unblock(server: &Server, id: u64, error: bool) -> bool {
    let why = if error { Release::Error } else { Release::Timeout };
    server.engine.blocking.release(&server.engine.knobs, id, why)
}

/// The connection closed while blocked: its registration goes.
pub fn forget(server: &Server, client: &ClientShared) {
    server.engine.blocking.forget(&server.engine.knobs, client.id);
    client.block.clear();
}
