//! REPLICAOF/SLAVEOF, ROLE, WAIT, and the commands a replica sends its master:
//! REPLCONF, PSYNC, SYNC.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use redoubt_engine::{CmdError, CmdResult};
use redoubt_repl::link::LinkState;
use redoubt_repl::protocol::{parse_replconf, Replconf, ReplconfParse};

use super::master::SyncRequest;
use super::wait::Pending;
use crate::client::ClientType;
use crate::dispatch::{Call, Flow, ServerCommand};
use crate::notice;

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "replicaof", handler: replicaof },
    ServerCommand { name: "slaveof", handler: replicaof },
    ServerCommand { name: "role", handler: role },
    ServerCommand { name: "wait", handler: wait },
    ServerCommand { name: "replconf", handler: replconf },
    ServerCommand { name: "psync", handler: psync },
    ServerCommand { name: "sync", handler: sync },
    ServerCommand { name: "failover", handler: failover },
];

/// How often a WAIT looks at the replicas' acknowledgements.
const WAIT_POLL: Duration = Duration::from_millis(5);

/// REPLICAOF host port | NO ONE.
fn replicaof(c: &mut Call) -> CmdResult {
    let (host, port) = (c.args.get(1), c.args.get(2));
    let who = c.client.describe(redoubt_engine::clock::now_ms(), c.cmd.name());
    let r = &c.server.replication;
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        if r.is_replica() {
            super::unset_master(c.server);
            notice!("MASTER MODE enabled (user request from '{who}')");
        }
        c.out.ok();
        return Ok(());
    }
    if c.client.kind() == ClientType::Replica {
        return Err(CmdError::Static("ERR Command is not valid when client is a replica."));
    }
    let port = redoubt_resp::number::parse_i64(port)
        .filter(|p| (0..=65535).contains(p))
        .ok_or(CmdError::Static("ERR Invalid master port"))? as u16;
    let host = String::from_utf8_lossy(host).into_owned();
    if r.master().is_some_and(|(h, p)| h.eq_ignore_ascii_case(&host) && p == port) {
        notice!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
        c.out.simple(b"OK Already connected to specified master");
        return Ok(());
    }
    super::set_master(c.server, host.clone(), port);
    notice!("REPLICAOF {host}:{port} enabled (user request from '{who}')");
    c.out.ok();
    Ok(())
}

/// ROLE.
fn role(c: &mut Call) -> CmdResult {
    super::info::role(c.server, c.out);
    Ok(())
}

/// WAIT numreplicas timeout: the number of replicas that acknowledged this client's
/// writes, once enough did or the timeout passed (0: no timeout).
fn wait(c: &mut Call) -> CmdResult {
    let r = &c.server.replication;
    if r.is_replica() {
        return Err(CmdError::Static("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let (needed, timeout_ms) =
        redoubt_repl::wait::parse_wait(c.args.get(1), c.args.get(2)).map_err(CmdError::Static)?;
    let pending = match c.state.wait.take() {
        Some(p) => p,
        None => {
            let offset = c.server.engine.journal.offset();
            let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
            Pending { offset, needed, deadline }
        }
    };
    let acked = r.acked(pending.offset);
    let in_tx = crate::multi::in_multi(c.state) || c.server.scripting.gate.is_running();
    if acked >= pending.needed || in_tx || pending.deadline.is_some_and(|d| Instant::now() >= d) {
        c.out.int(acked);
        return Ok(());
    }
    super::request_acks(c.server);
    let next = Instant::now() + WAIT_POLL;
    c.flow = Flow::RetryAfter(pending.deadline.map_or(next, |d| d.min(next)));
    c.state.wait = Some(pending);
    Ok(())
}

/// REPLCONF option value ...: a replica describing itself before PSYNC, or its ACKs.
fn replconf(c: &mut Call) -> CmdResult {
    let args: Vec<&[u8]> = c.args.iter().skip(1).collect();
    match parse_replconf(&args) {
        ReplconfParse::Error(e) => Err(CmdError::Owned(e)),
        // An ACK from a connection that is no replica (yet) gets no reply, as in Redis.
        ReplconfParse::Silent => Ok(()),
        ReplconfParse::Options(opts) => {
            let hello = &mut c.state.replconf;
            let mut reply = true;
            for o in opts {
                match o {
                    Replconf::ListeningPort(p) => hello.listening_port = p,
                    Replconf::IpAddress(ip) => hello.ip = Some(ip),
                    Replconf::CapaEof => hello.capa_eof = true,
                    Replconf::CapaPsync2 => hello.capa_psync2 = true,
                    Replconf::CapaOther | Replconf::RdbOnly(_) => {}
                    Replconf::Ack(_) | Replconf::GetAck => reply = false,
                }
            }
            if reply {
                c.out.ok();
            }
            Ok(())
        }
    }
}

/// Refuses a sync while we cannot serve one.
fn sync_allowed(c: &Call) -> CmdResult {
    if c.client.kind() == ClientType::Replica {
        return Err(CmdError::Static("ERR Replica already connected"));
    }
    let r = &c.server.replication;
    if r.is_replica() && r.link_state() != LinkState::Connected {
        return Err(CmdError::Static("NOMASTERLINK Can't SYNC while not connected with my master"));
    }
    Ok(())
}

/// PSYNC replid offset [FAILOVER]: the connection becomes a replica's link
/// (`master.rs`). With FAILOVER, our master asks us to take its place first.
fn psync(c: &mut Call) -> CmdResult {
    if c.args.len() > 3 && c.args.get(3).eq_ignore_ascii_case(b"failover") && c.client.kind() != ClientType::Replica {
        let r = &c.server.replication;
        if !r.is_replica() || !c.args.get(1).eq_ignore_ascii_case(r.id().as_bytes()) {
            return Err(CmdError::Static("ERR PSYNC FAILOVER replid must match my replid."));
        }
        super::unset_master(c.server);
        let who = c.client.describe(redoubt_engine::clock::now_ms(), c.cmd.name());
        notice!("MASTER MODE enabled (failover request from '{who}')");
    }
    sync_allowed(c)?;
    let id = String::from_utf8_lossy(c.args.get(1)).into_owned();
    let offset = redoubt_resp::number::parse_i64(c.args.get(2));
    hand_over(c, SyncRequest { psync: Some((id, offset)) });
    Ok(())
}

/// SYNC: the old full synchronization, without +FULLRESYNC.
fn sync(c: &mut Call) -> CmdResult {
    sync_allowed(c)?;
    hand_over(c, SyncRequest { psync: None });
    Ok(())
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | ABORT.
fn failover(c: &mut Call) -> CmdResult {
    let args: Vec<&[u8]> = c.args.iter().skip(1).collect();
    let parsed = redoubt_repl::failover::parse(&args).map_err(CmdError::Static)?;
    super::failover::start(c.server, parsed).map_err(CmdError::Static)?;
    c.out.ok();
    Ok(())
}

fn hand_over(c: &mut Call, request: SyncRequest) {
    c.state.handoff = Some(request);
    c.state.close_after_reply = true;
    c.client.kind.store(ClientType::Replica as u8, Relaxed);
    c.flow = Flow::Close;
}
