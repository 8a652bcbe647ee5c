//! SAVE, BGSAVE and BGREWRITEAOF (LASTSAVE lives with the other admin commands).

use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::exec::err;
use redoubt_engine::{CmdError, CmdResult};

use super::{rdb, JobKind};
use crate::dispatch::{Call, ServerCommand};

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "save", handler: save },
    ServerCommand { name: "bgsave", handler: bgsave },
    ServerCommand { name: "bgrewriteaof", handler: bgrewriteaof },
];

/// SAVE: the snapshot is written before the reply. Other clients keep being served
/// meanwhile (the snapshot is point-in-time without stopping them), unlike Redis,
/// which blocks everyone during SAVE.
fn save(c: &mut Call) -> CmdResult {
    tokio::task::block_in_place(|| rdb::save(c.server))?;
    c.out.ok();
    Ok(())
}

/// BGSAVE [SCHEDULE].
fn bgsave(c: &mut Call) -> CmdResult {
    let schedule = match c.args.len() {
        1 => false,
        2 if c.args.get(1).eq_ignore_ascii_case(b"schedule") => true,
        _ => return Err(err::SYNTAX),
    };
    let p = &c.server.persistence;
    match p.running() {
        Some(JobKind::Rdb) => return Err(CmdError::Static("ERR Background save already in progress")),
        Some(JobKind::AofRewrite) if schedule => {
            p.bgsave_scheduled.store(true, Relaxed);
            c.out.simple(b"Background saving scheduled");
            return Ok(());
        }
        Some(JobKind::AofRewrite) => {
            return Err(CmdError::Static(
                "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            ))
        }
        None => {}
    }
    match rdb::bgsave(c.server) {
        Ok(()) => {
            c.out.simple(b"Background saving started");
            Ok(())
        }
        Err(_) => Err(CmdError::Static("ERR")),
    }
}

/// BGREWRITEAOF: a new base for the AOF, written in the background.
fn bgrewriteaof(c: &mut Call) -> CmdResult {
    let p = &c.server.persistence;
    match p.running() {
        Some(JobKind::AofRewrite) => {
            Err(CmdError::Static("ERR Background append only file rewriting already in progress"))
        }
        Some(JobKind::Rdb) => {
            p.aof.scheduled.store(true, Relaxed);
            c.out.simple(b"Background append only file rewriting scheduled");
            Ok(())
        }
        None => match super::aof::start_rewrite(c.server, false) {
            Ok(()) => {
                c.out.simple(b"Background append only file rewriting started");
                Ok(())
            }
            Err(e) => {
                crate::warning!("Can't rewrite the append only file in background: {e}");
                Err(CmdError::Static(
                    "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
                ))
            }
        },
    }
}
