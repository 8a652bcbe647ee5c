//! The server's side of maxmemory: before a command runs while `maxmemory` is set,
//! evict keys until memory is back under the limit. The policies and sampling live in
//! the engine (`redoubt_engine::evict`).

use crate::server::Server;

/// Frees memory down to maxmemory; `Err` when the policy cannot free enough (the
/// caller then refuses commands that may grow memory with the OOM error).
pub fn make_room(server: &Server) -> Result<(), redoubt_engine::evict::NeedMemory> {
    redoubt_engine::evict::perform_evictions(&server.engine).map(|_| ())
}
