//! What replication refuses before a command runs (Redis's `processCommand` checks):
//! writes on a read-only replica, commands on a replica whose link is down when stale
//! data must not be served, writes on a master short of good replicas.

use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::command::flag;
use redoubt_engine::CmdError;
use redoubt_repl::link::LinkState;

use crate::client::{ClientShared, ClientType};
use crate::dispatch::Command;
use crate::server::Server;

/// The error refusing `cmd` for `client`, if replication refuses it.
pub fn refuse(server: &Server, client: &ClientShared, cmd: &Command) -> Option<CmdError> {
    let r = &server.replication;
    let write = cmd.meta.has(flag::WRITE);
    if client.kind() == ClientType::Master {
        return None;
    }
    if !r.is_replica() {
        let min = r.knobs.min_replicas_to_write.load(Relaxed);
        if write && min > 0 && r.good_replicas.load(Relaxed) < min {
            return Some(CmdError::Static("NOREPLICAS Not enough good replicas to write."));
        }
        return None;
    }
    if write && r.knobs.read_only.load(Relaxed) {
        return Some(CmdError::Static("READONLY You can't write against a read only replica."));
    }
    if r.link_state() != LinkState::Connected && !r.knobs.serve_stale_data.load(Relaxed) && !cmd.meta.has(flag::STALE) {
        return Some(CmdError::Static(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        ));
    }
    None
}
