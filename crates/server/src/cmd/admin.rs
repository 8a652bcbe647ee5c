//! TIME, LASTSAVE, SHUTDOWN.

use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::exec::err;
use redoubt_engine::{CmdError, CmdResult};

use crate::dispatch::{Call, Flow, ServerCommand};

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "time", handler: time },
    ServerCommand { name: "lastsave", handler: lastsave },
    ServerCommand { name: "shutdown", handler: shutdown },
];

fn time(c: &mut Call) -> CmdResult {
    let us = redoubt_engine::clock::now_us();
    c.out.array(2);
    c.out.bulk((us / 1_000_000).to_string().as_bytes());
    c.out.bulk((us % 1_000_000).to_string().as_bytes());
    Ok(())
}

fn lastsave(c: &mut Call) -> CmdResult {
    c.out.int(c.server.last_save.load(Relaxed));
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the final snapshot is written when
/// save points exist (or SAVE is given) unless NOSAVE; if it fails the server keeps
/// running and the command fails, unless FORCE.
fn shutdown(c: &mut Call) -> CmdResult {
    let (mut save, mut nosave, mut abort, mut force, mut now) = (false, false, false, false, false);
    for a in c.args.iter().skip(1) {
        match a.to_ascii_lowercase().as_slice() {
            b"save" => save = true,
            b"nosave" => nosave = true,
            b"force" => force = true,
            b"now" => now = true,
            b"abort" => abort = true,
            _ => return Err(err::SYNTAX),
        }
    }
    if (save && nosave) || (abort && (save || nosave || c.args.len() > 2)) {
        return Err(err::SYNTAX);
    }
    if abort {
        return Err(CmdError::Static("ERR No shutdown in progress."));
    }
    crate::warning!("User requested shutdown...");
    let flags = crate::persistence::ShutdownFlags { save, nosave, force };
    let ready = tokio::task::block_in_place(|| {
        crate::replication::wait_for_replicas(c.server, now);
        crate::persistence::prepare_shutdown(c.server, flags)
    });
    if ready.is_err() {
        return Err(CmdError::Static("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    c.server.request_shutdown(save, nosave);
    c.flow = Flow::Shutdown;
    Ok(())
}
