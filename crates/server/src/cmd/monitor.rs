//! MONITOR: every command a client runs is shown to monitoring clients, as Redis
//! formats it (`+<time> [<db> <addr>] "arg" ...`), with passwords redacted. A monitor
//! that does not read its feed is disconnected once its backlog passes a bound, so it
//! cannot make the server's memory grow without limit.

use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::CmdResult;
use redoubt_resp::request::Args;

use crate::client::ClientShared;
use crate::dispatch::{Call, ServerCommand};
use crate::server::Server;

/// A monitor's unsent feed may not exceed this (or the normal class's hard output
/// limit, if larger).
pub const FEED_BACKLOG_BYTES_MAX: usize = 64 * 1024 * 1024;

pub static COMMANDS: &[ServerCommand] = &[ServerCommand { name: "monitor", handler: monitor }];

fn monitor(c: &mut Call) -> CmdResult {
    if !c.client.monitor.swap(true, Relaxed) {
        c.server.clients.monitors.fetch_add(1, Relaxed);
    }
    c.out.ok();
    Ok(())
}

/// Sends the command `args`, run by `client` in database `db`, to every monitor.
pub fn feed(server: &Server, client: &ClientShared, db: usize, args: Args) {
    let addr = if client.unix { format!("unix:{}", client.laddr) } else { client.addr.clone() };
    feed_as(server, client.id, db, &addr, args);
}

/// [`feed`] for a command whose origin is shown as `origin` (`lua` for the commands
/// a script runs); the monitor `client_id`, if any, is not fed its own command.
pub fn feed_as(server: &Server, client_id: u64, db: usize, origin: &str, args: Args) {
    let now = redoubt_engine::clock::now_us();
    let mut line = format!("+{}.{:06} [{} {}]", now / 1_000_000, now % 1_000_000, db, origin);
    let name = args.get(0).to_ascii_lowercase();
    for (i, a) in args.iter().enumerate() {
        line.push(' ');
        let secret = (name == b"auth" && i > 0)
            || (name == b"hello"
                && i >= 2
                && args.iter().nth(i.saturating_sub(1)).is_some_and(|p| p.eq_ignore_ascii_case(b"auth")))
            || (name == b"hello" && i >= 3 && args.iter().nth(i - 2).is_some_and(|p| p.eq_ignore_ascii_case(b"auth")));
        if secret {
            line.push_str("\"(redacted)\"");
        } else {
            redoubt_resp::repr::push_repr(&mut line, a);
        }
    }
    line.push_str("\r\n");
    let limit = FEED_BACKLOG_BYTES_MAX.max(server.knobs.output_limits[0][0].load(Relaxed) as usize);
    for m in server.clients.all() {
        if m.monitor.load(Relaxed) && m.id != client_id && !m.push(line.as_bytes(), limit) {
            crate::warning!("Closing MONITOR client id={}: its unread feed passed {} bytes", m.id, limit);
            m.kill();
        }
    }
}
