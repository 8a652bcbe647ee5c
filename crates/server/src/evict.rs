//! The server's side of maxmemory: before a command runs while `maxmemory` is set,
//! evict keys until memory is back under the limit. The policies and sampling live in
//! the engine (`redoubt_engine::evict`).

use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::evict;
use redoubt_engine::memory::used_bytes;

use crate::server::Server;

/// Frees memory down to maxmemory; `Err` when the policy cannot free enough (the
/// caller then refuses commands that may grow memory with the OOM error).
pub fn make_room(server: &Server) -> Result<(), redoubt_engine::evict::NeedMemory> {
    let tenacity = server.knobs.eviction_tenacity.load(Relaxed);
    let limit = evict::time_limit_for_tenacity(tenacity);
    evict::perform_evictions_with(&server.engine, used_bytes, limit).map(|_| ())
}
