//! The replication id and offset back at start-up, from the data that was loaded —
//! an RDB's `repl-id`, `repl-offset` and `repl-stream-db` aux fields, or the journal's
//! markers in an AOF plus the commands after the last one (`persistence::aof`) — so
//! that a restart, even after `kill -9` with the AOF on, costs a partial resync
//! instead of a full one:
//! - a replica continues from its master's id and the offset its data is at (Redis
//!   does the same);
//! - a master takes a new id and keeps the loaded one as its secondary, valid up to
//!   the loaded offset: a replica that has exactly that data continues from there,
//!   and one that had received more (writes after the save) gets a full sync instead
//!   of a stream that would not match its data.

use std::sync::Arc;

use redoubt_repl::ids::{is_id, ReplIds};

use crate::notice;
use crate::server::Server;

/// Applies what the loaded RDB recorded; called once loading is over and before the
/// link to a configured master starts (`as_replica`: one is configured). True when a
/// replica may continue from the restored point.
pub fn from_loaded_data(server: &Arc<Server>, as_replica: bool) -> bool {
    let loaded = server.persistence.loaded_repl.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some((id, offset, db)) = loaded else { return false };
    if !is_id(&id) || offset < 0 {
        return false;
    }
    let r = &server.replication;
    let journal = &server.engine.journal;
    let db = usize::try_from(db).ok();
    journal.reset(offset as u64, db);
    if as_replica {
        *super::lock(&r.ids) = ReplIds::new(id.clone());
        journal.set_id(&id);
        notice!("Using the replication id and offset of the loaded data ({id}:{offset}) for a partial resynchronization with the master");
        true
    } else {
        *super::lock(&r.ids) = ReplIds::new(id);
        let ids = super::set_new_id(server, true);
        super::ensure_backlog(server);
        notice!(
            "Restored the replication offset {offset} from the loaded data; replicas at that offset of {} can continue partially",
            ids.id2
        );
        false
    }
}
