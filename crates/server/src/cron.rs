//! The server's periodic work (Redis's `serverCron`), `hz` times per second: active
//! expiry, idle-client timeouts, the peak-memory mark and the instantaneous metrics
//! (ops/sec, kbps) that INFO reports.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use redoubt_engine::expire::{active_expire_cycle, ExpireCursor};
use redoubt_engine::memory::used_bytes;
use redoubt_engine::stats::{self, Stat};

use crate::client::ClientType;
use crate::server::Server;

/// Samples averaged by the instantaneous metrics (Redis's `STATS_METRIC_SAMPLES`).
const SAMPLES: usize = 16;
/// How often the instantaneous metrics take a sample.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Share of each cron tick the active expiry cycle may use (Redis's 25%).
const EXPIRE_SHARE_PERCENT: u64 = 25;

#[derive(Default)]
struct Sampler {
    last: Option<(Instant, u64, u64, u64)>,
    ops: [f64; SAMPLES],
    input: [f64; SAMPLES],
    output: [f64; SAMPLES],
    idx: usize,
}

fn sampler() -> &'static Mutex<Sampler> {
    static S: OnceLock<Mutex<Sampler>> = OnceLock::new();
    S.get_or_init(|| Mutex::new(Sampler::default()))
}

/// The instantaneous metrics INFO shows.
pub struct Instantaneous {
    pub ops_per_sec: u64,
    pub input_kbps: f64,
    pub output_kbps: f64,
}

pub fn instantaneous(_server: &Server) -> Instantaneous {
    let s = sampler().lock().unwrap_or_else(|e| e.into_inner());
    let avg = |a: &[f64; SAMPLES]| a.iter().sum::<f64>() / SAMPLES as f64;
    Instantaneous { ops_per_sec: avg(&s.ops).round() as u64, input_kbps: avg(&s.input), output_kbps: avg(&s.output) }
}

fn sample_metrics() {
    let now = Instant::now();
    let (ops, input, output) =
        (stats::total_calls(), stats::total(Stat::NetInputBytes), stats::total(Stat::NetOutputBytes));
    let mut s = sampler().lock().unwrap_or_else(|e| e.into_inner());
    if let Some((t, o, i, w)) = s.last {
        let secs = now.duration_since(t).as_secs_f64().max(1e-6);
        let idx = s.idx;
        s.ops[idx] = ops.saturating_sub(o) as f64 / secs;
        s.input[idx] = input.saturating_sub(i) as f64 / secs / 1024.0;
        s.output[idx] = output.saturating_sub(w) as f64 / secs / 1024.0;
        s.idx = (idx + 1) % SAMPLES;
    }
    s.last = Some((now, ops, input, output));
}

/// Closes normal clients idle for longer than `timeout` seconds.
fn close_idle_clients(server: &Server) {
    let timeout = server.knobs.timeout_s.load(Relaxed);
    if timeout <= 0 {
        return;
    }
    let now = redoubt_engine::clock::now_ms();
    for c in server.clients.all() {
        let idle_s = (now - c.last_interaction_ms.load(Relaxed)) / 1000;
        if c.kind() == ClientType::Normal && !c.monitor.load(Relaxed) && !c.block.is_blocked() && idle_s > timeout {
            crate::verbose!("Closing idle client id={}", c.id);
            c.kill();
        }
    }
}

/// Runs forever; spawned once at start-up.
pub async fn run(server: Arc<Server>) {
    let mut cursor = ExpireCursor::new();
    let mut last_sample = Instant::now();
    let mut last_second = Instant::now();
    let mut seconds = 0u64;
    loop {
        let hz = server.knobs.hz.load(Relaxed).clamp(1, 500);
        let tick = Duration::from_micros(1_000_000 / hz);
        tokio::time::sleep(tick).await;
        if server.engine.knobs.active_expire.load(Relaxed) && !server.pause.holds_writes() {
            let budget = tick * EXPIRE_SHARE_PERCENT as u32 / 100;
            let engine = server.clone();
            // The cycle holds shard locks for bounded stretches; run it off the async
            // workers so a long cycle never delays a connection's task.
            cursor = tokio::task::spawn_blocking(move || {
                let mut cursor = cursor;
                active_expire_cycle(&engine.engine, &mut cursor, budget);
                cursor
            })
            .await
            .unwrap_or_else(|_| ExpireCursor::new());
        }
        server.peak_memory.fetch_max(used_bytes(), Relaxed);
        crate::persistence::cron(&server);
        if last_sample.elapsed() >= SAMPLE_EVERY {
            sample_metrics();
            last_sample = Instant::now();
        }
        if last_second.elapsed() >= Duration::from_secs(1) {
            close_idle_clients(&server);
            seconds += 1;
            crate::replication::cron(&server, seconds);
            last_second = Instant::now();
        }
    }
}
