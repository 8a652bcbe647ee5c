//! Clients blocked on keys, as a scenario sees them: INFO's count, and a step that
//! sends a blocking command and waits until the server has registered it.

use std::time::Duration;

use super::conn::Conn;
use super::info_field;
use super::transcript::Transcript;
use super::wait::wait_for;

/// How long a scenario waits for a server to register a blocked client.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// INFO's `blocked_clients`.
pub fn blocked_clients(c: &mut Conn) -> i64 {
    let info = String::from_utf8_lossy(&c.cmd(&["INFO", "clients"])).into_owned();
    info_field(&info, "blocked_clients").and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// Sends a blocking command on `c` and waits until the server counts `n` blocked
/// clients, so the next step runs against a registered waiter on both servers.
pub fn block(t: &mut Transcript, who: &str, c: &mut Conn, admin: &mut Conn, args: &[&str], n: i64) {
    c.send(args);
    t.note(format!("{who} {} (blocks)", args.join(" ")));
    wait_for("the client to block", REGISTER_TIMEOUT, || blocked_clients(admin) == n);
}
