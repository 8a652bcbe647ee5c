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
    let result = evict::perform_evictions_with(&server.engine, used_bytes, limit);
    let over = !matches!(result, Ok(evict::EvictOutcome::UnderLimit) | Ok(evict::EvictOutcome::Evicted { .. }));
    track_exceeded(server, over);
    result.map(|_| ())
}

/// Keeps INFO's `total_eviction_exceeded_time`: how long memory stayed over the limit.
fn track_exceeded(server: &Server, over: bool) {
    let since = &server.eviction_exceeded_since_ms;
    let now = redoubt_engine::clock::now_ms();
    match (over, since.load(Relaxed)) {
        (true, 0) => since.store(now, Relaxed),
        (false, t) if t != 0 => {
            server.eviction_exceeded_total_ms.fetch_add((now - t).max(0) as u64, Relaxed);
            since.store(0, Relaxed);
        }
        _ => {}
    }
}

/// `(total, current)` milliseconds spent over maxmemory.
pub fn exceeded_time_ms(server: &Server) -> (u64, u64) {
    let t = server.eviction_exceeded_since_ms.load(Relaxed);
    let current = if t == 0 { 0 } else { (redoubt_engine::clock::now_ms() - t).max(0) as u64 };
    (server.eviction_exceeded_total_ms.load(Relaxed) + current, current)
}
