//! INFO, with Redis 7.0's sections and field names, so that tools that parse INFO
//! (monitoring agents, redis-cli --stat, client libraries) keep working. Fields whose
//! feature is not built yet report the state a Redis without that feature in use
//! reports (no saves yet, no replicas), never invented activity.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::keyspace::SHARDS;
use redoubt_engine::memory::{human_bytes, rss_bytes, used_bytes};
use redoubt_engine::stats::{self, Stat};
use redoubt_engine::CmdResult;

use crate::dispatch::{Call, ServerCommand};
use crate::server::Server;

pub static COMMANDS: &[ServerCommand] = &[ServerCommand { name: "info", handler: info }];

/// `INFO all` and `INFO everything`, in Redis's order.
const ALL: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

fn info(c: &mut Call) -> CmdResult {
    let mut wanted: Vec<String> = Vec::new();
    // The default sections are all of them but the per-command ones, in the same order.
    let default = || ALL.iter().filter(|s| !matches!(**s, "commandstats" | "latencystats")).map(|s| s.to_string());
    if c.args.len() == 1 {
        wanted.extend(default());
    }
    for a in c.args.iter().skip(1) {
        match a.to_ascii_lowercase().as_slice() {
            b"default" => wanted.extend(default()),
            b"all" | b"everything" => wanted.extend(ALL.iter().map(|s| s.to_string())),
            other => wanted.push(String::from_utf8_lossy(other).into_owned()),
        }
    }
    let mut text = String::new();
    let mut seen: Vec<String> = Vec::new();
    for s in wanted {
        if seen.contains(&s) {
            continue;
        }
        let body = section(c.server, &s);
        if let Some(body) = body {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            text.push_str(&body);
        }
        seen.push(s);
    }
    c.out.verbatim(text.as_bytes());
    Ok(())
}

/// One section's text (`# Title\r\nfield:value\r\n...`), or None if unknown.
pub fn section(server: &Server, name: &str) -> Option<String> {
    let mut s = String::new();
    let title = match name {
        "server" => "Server",
        "clients" => "Clients",
        "memory" => "Memory",
        "persistence" => "Persistence",
        "stats" => "Stats",
        "replication" => "Replication",
        "cpu" => "CPU",
        "modules" => "Modules",
        "errorstats" => "Errorstats",
        "cluster" => "Cluster",
        "keyspace" => "Keyspace",
        "commandstats" => "Commandstats",
        "latencystats" => "Latencystats",
        _ => return None,
    };
    let _ = write!(s, "# {title}\r\n");
    let mut f = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(s, "{k}:{v}\r\n");
    };
    match name {
        "server" => server_section(server, &mut f),
        "clients" => {
            f("connected_clients", &server.clients.len());
            f("cluster_connections", &0);
            f("maxclients", &server.knobs.maxclients.load(Relaxed));
            f("client_recent_max_input_buffer", &0);
            f("client_recent_max_output_buffer", &0);
            f("blocked_clients", &server.engine.knobs.blocked.load(Relaxed));
            f("tracking_clients", &0);
            f("clients_in_timeout_table", &server.engine.blocking.timed());
        }
        "memory" => memory_section(server, &mut f),
        "persistence" => crate::persistence::info(server, &mut f),
        "stats" => stats_section(server, &mut f),
        "replication" => crate::replication::info::section(server, &mut f),
        "cpu" => {
            let (user, sys) = rusage(libc::RUSAGE_SELF);
            f("used_cpu_sys", &format!("{sys:.6}"));
            f("used_cpu_user", &format!("{user:.6}"));
            let (cu, cs) = rusage(libc::RUSAGE_CHILDREN);
            f("used_cpu_sys_children", &format!("{cs:.6}"));
            f("used_cpu_user_children", &format!("{cu:.6}"));
        }
        "modules" => {}
        "errorstats" => {
            for (code, n) in stats::error_totals() {
                f(&format!("errorstat_{}", String::from_utf8_lossy(&code)), &format!("count={n}"));
            }
        }
        "cluster" => f("cluster_enabled", &0),
        "keyspace" => keyspace_section(server, &mut f),
        "commandstats" => {
            for cmd in commands_with_stats(server) {
                let t = stats::command_totals(cmd.id);
                let per = if t.calls > 0 { t.usec as f64 / t.calls as f64 } else { 0.0 };
                f(
                    &format!("cmdstat_{}", cmd.name()),
                    &format!(
                        "calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}",
                        t.calls, t.usec, t.rejected, t.failed
                    ),
                );
            }
        }
        "latencystats" => {
            let percentiles: Vec<f64> = server
                .config
                .get("latency-tracking-info-percentiles")
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            for cmd in commands_with_stats(server) {
                let t = stats::command_totals(cmd.id);
                if t.calls == 0 {
                    continue;
                }
                let parts: Vec<String> =
                    percentiles.iter().map(|p| format!("p{p}={:.3}", stats::percentile(&t.hist, *p) as f64)).collect();
                f(&format!("latency_percentiles_usec_{}", cmd.name()), &parts.join(","));
            }
        }
        _ => {}
    }
    Some(s)
}

type Field<'a> = dyn FnMut(&str, &dyn std::fmt::Display) + 'a;

fn server_section(server: &Server, f: &mut Field) {
    let uname = uname();
    f("redis_version", &crate::REDIS_VERSION);
    f("redoubt_version", &env!("CARGO_PKG_VERSION"));
    f("redis_git_sha1", &"00000000");
    f("redis_git_dirty", &0);
    f("redis_build_id", &"0");
    f("redis_mode", &"standalone");
    f("os", &uname);
    f("arch_bits", &64);
    f("monotonic_clock", &"POSIX clock_gettime");
    f("multiplexing_api", &"epoll");
    f("atomicvar_api", &"c11-builtin");
    f("gcc_version", &"0.0.0");
    f("process_id", &std::process::id());
    f("process_supervised", &server.config.get("supervised"));
    f("run_id", &server.run_id);
    f("tcp_port", &server.tcp_port.load(Relaxed));
    f("server_time_usec", &redoubt_engine::clock::now_us());
    f("uptime_in_seconds", &server.uptime_s());
    f("uptime_in_days", &(server.uptime_s() / 86400));
    f("hz", &server.knobs.hz.load(Relaxed));
    f("configured_hz", &server.knobs.hz.load(Relaxed));
    f("lru_clock", &redoubt_engine::clock::lru_clock(redoubt_engine::clock::now_ms()));
    f("executable", &server.executable);
    f("config_file", &server.config.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default());
    f("io_threads_active", &0);
}

fn memory_section(server: &Server, f: &mut Field) {
    let used = used_bytes();
    let rss = rss_bytes();
    let peak = server.peak_memory.fetch_max(used, Relaxed).max(used);
    let maxmemory = server.engine.knobs.maxmemory.load(Relaxed);
    let total_mem = total_system_memory();
    f("used_memory", &used);
    f("used_memory_human", &human_bytes(used as u64));
    f("used_memory_rss", &rss);
    f("used_memory_rss_human", &human_bytes(rss as u64));
    f("used_memory_peak", &peak);
    f("used_memory_peak_human", &human_bytes(peak as u64));
    f("used_memory_peak_perc", &format!("{:.2}%", if peak > 0 { used as f64 * 100.0 / peak as f64 } else { 0.0 }));
    // Overhead as Redoubt can count it: what the server held at start-up, client
    // buffers and the replication backlog; the rest is the dataset.
    let startup = server.startup_memory;
    let clients_mem: usize = server.clients.all().iter().map(|c| c.qbuf.load(Relaxed) + c.obuf.load(Relaxed)).sum();
    let backlog = server.engine.journal.backlog_range().1;
    let overhead = startup + clients_mem + backlog;
    let dataset = used.saturating_sub(overhead);
    f("used_memory_overhead", &overhead);
    f("used_memory_startup", &startup);
    f("used_memory_dataset", &dataset);
    f(
        "used_memory_dataset_perc",
        &format!("{:.2}%", if used > 0 { dataset as f64 * 100.0 / used as f64 } else { 0.0 }),
    );
    // Lua: the EVAL state and its scripts, the functions state and its libraries.
    let st = &server.scripting.stats;
    let (vm_eval, vm_functions) = (st.eval_vm_bytes.load(Relaxed), st.functions_vm_bytes.load(Relaxed));
    let (scripts_eval, functions_mem) = (st.scripts_bytes.load(Relaxed), st.functions_bytes.load(Relaxed));
    f("used_memory_lua", &vm_eval);
    f("used_memory_vm_eval", &vm_eval);
    f("used_memory_lua_human", &human_bytes(vm_eval as u64));
    f("used_memory_scripts_eval", &scripts_eval);
    f("number_of_cached_scripts", &st.scripts.load(Relaxed));
    f("number_of_functions", &st.functions.load(Relaxed));
    f("number_of_libraries", &st.libraries.load(Relaxed));
    f("used_memory_vm_functions", &vm_functions);
    f("used_memory_vm_total", &(vm_eval + vm_functions));
    f("used_memory_vm_total_human", &human_bytes((vm_eval + vm_functions) as u64));
    f("used_memory_functions", &functions_mem);
    f("used_memory_scripts", &(scripts_eval + functions_mem));
    f("used_memory_scripts_human", &human_bytes((scripts_eval + functions_mem) as u64));
    f("total_system_memory", &total_mem);
    f("total_system_memory_human", &human_bytes(total_mem));
    f("maxmemory", &maxmemory);
    f("maxmemory_human", &human_bytes(maxmemory));
    f("maxmemory_policy", &server.engine.knobs.policy().name());
    let a = allocator_stats();
    let ratio = |x: usize, y: usize| if y > 0 { x as f64 / y as f64 } else { 0.0 };
    f("allocator_allocated", &a.allocated);
    f("allocator_active", &a.active);
    f("allocator_resident", &a.resident);
    f("allocator_frag_ratio", &format!("{:.2}", ratio(a.active, a.allocated)));
    f("allocator_frag_bytes", &(a.active as i64 - a.allocated as i64));
    f("allocator_rss_ratio", &format!("{:.2}", ratio(a.resident, a.active)));
    f("allocator_rss_bytes", &(a.resident as i64 - a.active as i64));
    f("rss_overhead_ratio", &format!("{:.2}", ratio(rss, a.resident)));
    f("rss_overhead_bytes", &(rss as i64 - a.resident as i64));
    f("mem_fragmentation_ratio", &format!("{:.2}", if used > 0 { rss as f64 / used as f64 } else { 0.0 }));
    f("mem_fragmentation_bytes", &(rss as i64 - used as i64));
    f("mem_replication_backlog", &server.engine.journal.backlog_range().1);
    f("mem_not_counted_for_evict", &0);
    f("mem_total_replication_buffers", &0);
    f("mem_clients_slaves", &0);
    f("mem_clients_normal", &clients_mem);
    f("mem_cluster_links", &0);
    f("mem_aof_buffer", &0);
    f("mem_allocator", &"jemalloc-5.3.0");
    f("active_defrag_running", &0);
    f("lazyfree_pending_objects", &0);
    f("lazyfreed_objects", &0);
}

fn stats_section(server: &Server, f: &mut Field) {
    let ops = crate::cron::instantaneous(server);
    f("total_connections_received", &stats::total(Stat::ConnectionsReceived));
    f("total_commands_processed", &stats::total_calls());
    f("instantaneous_ops_per_sec", &ops.ops_per_sec);
    f("total_net_input_bytes", &stats::total(Stat::NetInputBytes));
    f("total_net_output_bytes", &stats::total(Stat::NetOutputBytes));
    f("total_net_repl_input_bytes", &stats::total(Stat::NetReplInputBytes));
    f("total_net_repl_output_bytes", &stats::total(Stat::NetReplOutputBytes));
    f("instantaneous_input_kbps", &format!("{:.2}", ops.input_kbps));
    f("instantaneous_output_kbps", &format!("{:.2}", ops.output_kbps));
    f("instantaneous_input_repl_kbps", &"0.00");
    f("instantaneous_output_repl_kbps", &"0.00");
    f("rejected_connections", &stats::total(Stat::RejectedConnections));
    let r = &server.replication;
    f("sync_full", &r.sync_full.load(Relaxed));
    f("sync_partial_ok", &r.sync_partial_ok.load(Relaxed));
    f("sync_partial_err", &r.sync_partial_err.load(Relaxed));
    f("expired_keys", &stats::total(Stat::ExpiredKeys));
    f("expired_stale_perc", &"0.00");
    f("expired_time_cap_reached_count", &stats::total(Stat::ExpiredTimeCapReached));
    f("expire_cycle_cpu_milliseconds", &(stats::total(Stat::ActiveExpireCpuUs) / 1000));
    f("evicted_keys", &stats::total(Stat::EvictedKeys));
    f("evicted_clients", &stats::total(Stat::EvictedClients));
    let (total_ms, current_ms) = crate::evict::exceeded_time_ms(server);
    f("total_eviction_exceeded_time", &total_ms);
    f("current_eviction_exceeded_time", &current_ms);
    f("keyspace_hits", &stats::total(Stat::KeyspaceHits));
    f("keyspace_misses", &stats::total(Stat::KeyspaceMisses));
    f("pubsub_channels", &server.pubsub.count(crate::pubsub::Kind::Channel));
    f("pubsub_patterns", &server.pubsub.count(crate::pubsub::Kind::Pattern));
    f("pubsubshard_channels", &server.pubsub.count(crate::pubsub::Kind::Shard));
    f("latest_fork_usec", &0);
    f("total_forks", &0);
    f("migrate_cached_sockets", &0);
    f("slave_expires_tracked_keys", &0);
    f("active_defrag_hits", &0);
    f("active_defrag_misses", &0);
    f("active_defrag_key_hits", &0);
    f("active_defrag_key_misses", &0);
    f("total_active_defrag_time", &0);
    f("current_active_defrag_time", &0);
    f("tracking_total_keys", &0);
    f("tracking_total_items", &0);
    f("tracking_total_prefixes", &0);
    f("unexpected_error_replies", &stats::total(Stat::UnexpectedErrorReplies));
    f("total_error_replies", &stats::total(Stat::TotalErrorReplies));
    f("dump_payload_sanitizations", &0);
    f("total_reads_processed", &stats::total(Stat::ReadsProcessed));
    f("total_writes_processed", &stats::total(Stat::WritesProcessed));
    f("io_threaded_reads_processed", &0);
    f("io_threaded_writes_processed", &0);
    f("client_query_buffer_limit_disconnections", &stats::total(Stat::ClientQueryBufferLimitDisconnections));
    f("client_output_buffer_limit_disconnections", &stats::total(Stat::ClientOutputBufferLimitDisconnections));
}

fn keyspace_section(server: &Server, f: &mut Field) {
    let ks = &server.engine.keyspace;
    for db in 0..ks.databases() {
        let (keys, volatile) = ks.count(db);
        if keys == 0 {
            continue;
        }
        f(&format!("db{db}"), &format!("keys={keys},expires={volatile},avg_ttl={}", avg_ttl(server, db, volatile)));
    }
}

/// Entries looked at per shard when estimating `avg_ttl`.
const AVG_TTL_SAMPLES_PER_SHARD: usize = 16;

/// The average remaining TTL (ms) of a sample of volatile keys, as an estimate like
/// Redis's; bounded work (a few entries per shard).
fn avg_ttl(server: &Server, db: usize, volatile: usize) -> i64 {
    if volatile == 0 {
        return 0;
    }
    let now = redoubt_engine::clock::now_ms();
    let (mut sum, mut n) = (0i64, 0i64);
    for shard in 0..SHARDS {
        let mut locked = server.engine.keyspace.lock_shard(shard);
        let Some(part) = locked.shard(shard).map(|s| &s.dbs[db]) else { continue };
        if part.volatile() == 0 {
            continue;
        }
        let ttls = part
            .dicts(shard)
            .filter(|(_, d)| d.volatile() > 0)
            .flat_map(|(_, d)| d.iter())
            .filter_map(|e| e.expire_ms())
            .take(AVG_TTL_SAMPLES_PER_SHARD);
        for t in ttls {
            sum += (t - now).max(0);
            n += 1;
        }
    }
    if n == 0 {
        0
    } else {
        sum / n
    }
}

/// Commands that have been called or rejected, in the table's id order.
fn commands_with_stats(server: &Server) -> Vec<std::sync::Arc<crate::dispatch::Command>> {
    let mut out = Vec::new();
    let mut id = 0;
    while let Some(cmd) = server.commands.by_id(id) {
        let t = stats::command_totals(id);
        if t.calls > 0 || t.rejected > 0 {
            out.push(cmd.clone());
        }
        id += 1;
    }
    out
}

/// jemalloc's own counters (allocated, active, resident bytes).
struct AllocatorStats {
    allocated: usize,
    active: usize,
    resident: usize,
}

fn allocator_stats() -> AllocatorStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The statistics are a snapshot refreshed by advancing the epoch.
    let _ = epoch::advance();
    AllocatorStats {
        allocated: stats::allocated::read().unwrap_or(0),
        active: stats::active::read().unwrap_or(0),
        resident: stats::resident::read().unwrap_or(0),
    }
}

fn rusage(who: libc::c_int) -> (f64, f64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // Safety: getrusage fills the struct we own.
    unsafe { libc::getrusage(who, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

fn uname() -> String {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // Safety: uname fills the struct we own with NUL-terminated fields.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".into();
    }
    let field = |b: &[libc::c_char]| {
        let bytes: Vec<u8> = b.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine))
}

fn total_system_memory() -> u64 {
    // Safety: sysconf has no side effects.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (pages.max(0) as u64) * (size.max(0) as u64)
}
