//! INFO's replication section and ROLE, with Redis 7.0's fields and shapes.

use std::sync::atomic::Ordering::Relaxed;

use redoubt_repl::link::LinkState;
use redoubt_resp::ReplyBuf;

use crate::server::Server;

/// The replication section's fields, in Redis's order.
pub fn section(server: &Server, f: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    let r = &server.replication;
    let journal = &server.engine.journal;
    let now_ms = redoubt_engine::clock::now_ms();
    match r.master() {
        None => f("role", &"master"),
        Some((host, port)) => {
            let state = r.link_state();
            f("role", &"slave");
            f("master_host", &host);
            f("master_port", &port);
            f("master_link_status", &state.link_status());
            let last_io =
                if r.master_client().is_some() { (now_ms - r.link.last_io_ms.load(Relaxed)).max(0) / 1000 } else { -1 };
            f("master_last_io_seconds_ago", &last_io);
            let syncing = state == LinkState::Transfer;
            f("master_sync_in_progress", &(syncing as u8));
            f("slave_read_repl_offset", &r.link.read_offset.load(Relaxed));
            f("slave_repl_offset", &journal.offset());
            if syncing {
                let total = r.link.transfer_size.load(Relaxed);
                let read = r.link.transfer_read.load(Relaxed);
                f("master_sync_total_bytes", &total);
                f("master_sync_read_bytes", &read);
                f("master_sync_left_bytes", &(total - read as i64));
                let perc = if total > 0 { read as f64 * 100.0 / total as f64 } else { 0.0 };
                f("master_sync_perc", &format!("{perc:.2}"));
                f("master_sync_last_io_seconds_ago", &last_io);
            }
            if state != LinkState::Connected {
                let since = r.link.down_since_s.load(Relaxed);
                let ago = if since > 0 { now_ms / 1000 - since } else { -1 };
                f("master_link_down_since_seconds", &ago);
            }
            f("slave_priority", &server.config.get_i64("replica-priority"));
            f("slave_read_only", &(r.knobs.read_only.load(Relaxed) as u8));
            f("replica_announced", &(server.config.get_bool("replica-announced") as u8));
        }
    }
    let replicas = r.replicas();
    f("connected_slaves", &replicas.len());
    if r.knobs.min_replicas_to_write.load(Relaxed) > 0 && !r.is_replica() {
        f("min_slaves_good_slaves", &r.good_replicas.load(Relaxed));
    }
    for (i, link) in replicas.iter().enumerate() {
        f(
            &format!("slave{i}"),
            &format_args!(
                "ip={},port={},state={},offset={},lag={}",
                link.ip,
                link.listening_port,
                link.state().name(),
                link.ack_offset.load(Relaxed),
                link.lag_s(now_ms)
            ),
        );
    }
    f("master_failover_state", &r.failover.state().name());
    let ids = r.ids();
    f("master_replid", &ids.id);
    f("master_replid2", &ids.id2);
    f("master_repl_offset", &journal.offset());
    f("second_repl_offset", &ids.second_offset);
    let active = r.backlog_active.load(Relaxed);
    let (first, histlen) = journal.backlog_range();
    f("repl_backlog_active", &(active as u8));
    f("repl_backlog_size", &server.config.get_i64("repl-backlog-size"));
    f("repl_backlog_first_byte_offset", &if active { first } else { 0 });
    f("repl_backlog_histlen", &histlen);
}

/// ROLE's reply: `master`, the offset and each replica's address and offset; or
/// `slave`, the master's address, the link state and the offset received.
pub fn role(server: &Server, out: &mut ReplyBuf) {
    let r = &server.replication;
    let journal = &server.engine.journal;
    match r.master() {
        None => {
            let replicas = r.replicas();
            out.array(3);
            out.bulk(b"master");
            out.int(journal.offset() as i64);
            let online: Vec<_> = replicas.iter().filter(|l| l.is_online()).collect();
            out.array(online.len());
            for l in online {
                out.array(3);
                out.bulk(l.ip.as_bytes());
                out.bulk(l.listening_port.to_string().as_bytes());
                out.bulk(l.ack_offset.load(Relaxed).to_string().as_bytes());
            }
        }
        Some((host, port)) => {
            let state = r.link_state();
            out.array(5);
            out.bulk(b"slave");
            out.bulk(host.as_bytes());
            out.int(port as i64);
            out.bulk(state.role_name().as_bytes());
            out.int(if state == LinkState::Connected { journal.offset() as i64 } else { -1 });
        }
    }
}
