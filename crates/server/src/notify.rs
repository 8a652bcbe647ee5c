//! Keyspace notifications (Redis's `notify.c`): the events commands record
//! (`Changes::events`, filtered by `notify-keyspace-events` as they are recorded) are
//! published, in the order they happened, on
//! - `__keyspace@<db>__:<key>` with the event name as message (class `K`), and
//! - `__keyevent@<db>__:<event>` with the key as message (class `E`),
//!
//! keyspace first, as Redis does for each event. They are published after the
//! command's locks are released; a notification for the client that ran the command
//! still precedes the command's reply (see `pubsub::Origin`).

use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::exec::KeyEvent;
use redoubt_engine::notify::{KEYEVENT, KEYSPACE};

use crate::pubsub::{self, Kind, Origin};
use crate::server::Server;

/// Publishes `events`; `origin` is the client whose command caused them, if any.
pub fn publish_events(server: &Server, events: &[KeyEvent], mut origin: Option<&mut Origin>) {
    let flags = server.engine.knobs.notify_flags.load(Relaxed);
    let mut channel = Vec::new();
    for ev in events {
        if flags & KEYSPACE != 0 {
            channel_name(&mut channel, b"__keyspace@", ev.db, &ev.key);
            pubsub::publish(server, Kind::Channel, &channel, ev.event.as_bytes(), origin.as_deref_mut());
        }
        if flags & KEYEVENT != 0 {
            channel_name(&mut channel, b"__keyevent@", ev.db, ev.event.as_bytes());
            pubsub::publish(server, Kind::Channel, &channel, &ev.key, origin.as_deref_mut());
        }
    }
}

/// `<prefix><db>__:<name>` into `out`.
fn channel_name(out: &mut Vec<u8>, prefix: &[u8], db: usize, name: &[u8]) {
    out.clear();
    out.extend_from_slice(prefix);
    redoubt_resp::number::push_u64(out, db as u64);
    out.extend_from_slice(b"__:");
    out.extend_from_slice(name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_redis_s() {
        let mut c = Vec::new();
        channel_name(&mut c, b"__keyspace@", 12, b"a:b");
        assert_eq!(c, b"__keyspace@12__:a:b");
        channel_name(&mut c, b"__keyevent@", 0, b"expired");
        assert_eq!(c, b"__keyevent@0__:expired");
    }
}
