//! Turns configuration values into runtime behaviour: after start-up and after every
//! CONFIG SET, [`apply`] copies the directive's value into the atomics the hot path
//! reads (engine knobs, server knobs, log level), so no command takes a lock to read
//! its configuration.

use std::sync::atomic::Ordering::Relaxed;

use redoubt_engine::EvictionPolicy;

use crate::log;
use crate::server::Server;

/// Moves the TCP listeners to the configured port and addresses, if the server is
/// already listening (at start-up, `main_entry` binds them itself).
fn rebind(server: &Server) -> Result<(), String> {
    let Some(me) = server.arc() else { return Ok(()) };
    if !me.listening.load(Relaxed) {
        return Ok(());
    }
    let (bind, port) = (server.config.get("bind"), server.config.get_i64("port") as u16);
    let backlog = server.config.get_i64("tcp-backlog") as i32;
    let Ok(handle) = tokio::runtime::Handle::try_current() else { return Ok(()) };
    // CONFIG SET runs inside a connection's task; rebinding must finish before it
    // replies, so block this worker (tokio lets others take its tasks meanwhile).
    tokio::task::block_in_place(|| handle.block_on(crate::listen::replace_tcp(&me, &bind, port, backlog))).map_err(
        |e| {
            crate::warning!("{e}");
            "Unable to listen on this port".to_string()
        },
    )
}

/// Installs the default user's credentials.
pub fn set_default_user(server: &Server, user: crate::acl::DefaultUser) {
    server.knobs.has_password.store(user.requires_password(), Relaxed);
    *server.knobs.default_user.write().unwrap_or_else(|e| e.into_inner()) = user;
}

/// Applies the current value of directive `name`.
pub fn apply(server: &Server, name: &str) -> Result<(), String> {
    let cfg = &server.config;
    let ek = &server.engine.knobs;
    let sk = &server.knobs;
    let int = || cfg.get_i64(name);
    let boolean = || cfg.get_bool(name);
    match name {
        "maxmemory" => ek.maxmemory.store(int().max(0) as u64, Relaxed),
        "maxmemory-policy" => {
            let p = EvictionPolicy::parse(&cfg.get(name)).ok_or("unknown policy")?;
            ek.set_policy(p);
        }
        "maxmemory-eviction-tenacity" => sk.eviction_tenacity.store(int().clamp(0, 100) as u32, Relaxed),
        "latency-tracking" => redoubt_engine::stats::set_latency_tracking(boolean()),
        "maxmemory-samples" => ek.maxmemory_samples.store(int().clamp(1, 64) as u32, Relaxed),
        "lfu-log-factor" => ek.lfu_log_factor.store(int().max(0) as u32, Relaxed),
        "lfu-decay-time" => ek.lfu_decay_time.store(int().max(0) as u32, Relaxed),
        "proto-max-bulk-len" => ek.proto_max_bulk_len.store(int(), Relaxed),
        "active-expire-effort" => ek.active_expire_effort.store(int().clamp(1, 10) as u32, Relaxed),
        "lazyfree-lazy-expire" => ek.lazyfree_lazy_expire.store(boolean(), Relaxed),
        "lazyfree-lazy-eviction" => ek.lazyfree_lazy_eviction.store(boolean(), Relaxed),
        "lazyfree-lazy-user-del" => ek.lazyfree_lazy_user_del.store(boolean(), Relaxed),
        "lazyfree-lazy-user-flush" => ek.lazyfree_lazy_user_flush.store(boolean(), Relaxed),
        "timeout" => sk.timeout_s.store(int(), Relaxed),
        "tcp-keepalive" => sk.tcp_keepalive_s.store(int(), Relaxed),
        "maxclients" => sk.maxclients.store(int().max(1) as usize, Relaxed),
        "client-query-buffer-limit" => sk.query_buffer_limit.store(int().max(0) as usize, Relaxed),
        "protected-mode" => sk.protected_mode.store(boolean(), Relaxed),
        "requirepass" => set_default_user(server, crate::acl::DefaultUser::from_requirepass(cfg.get(name).as_bytes())),
        "hz" => sk.hz.store(int().clamp(1, 500) as u64, Relaxed),
        "busy-reply-threshold" => server.scripting.gate.set_threshold_ms(int().max(0) as u64),
        "enable-debug-command" => {
            let v = match cfg.get(name).as_str() {
                "yes" => 1,
                "local" => 2,
                _ => 0,
            };
            sk.enable_debug.store(v, Relaxed);
        }
        "client-output-buffer-limit" => {
            let words: Vec<u64> = cfg.get(name).split_whitespace().filter_map(|w| w.parse().ok()).collect();
            for (class, chunk) in words.chunks(3).take(3).enumerate() {
                for (i, v) in chunk.iter().enumerate() {
                    sk.output_limits[class][i].store(*v, Relaxed);
                }
            }
            // The replica class's hard limit caps what the backlog keeps for a replica.
            crate::replication::apply_backlog_limits(server);
        }
        "repl-backlog-size" | "repl-timeout" => crate::replication::apply_backlog_limits(server),
        "replica-read-only" => server.replication.knobs.read_only.store(boolean(), Relaxed),
        "replica-serve-stale-data" => server.replication.knobs.serve_stale_data.store(boolean(), Relaxed),
        "min-replicas-to-write" => server.replication.knobs.min_replicas_to_write.store(int().max(0) as usize, Relaxed),
        "min-replicas-max-lag" => server.replication.knobs.min_replicas_max_lag_s.store(int(), Relaxed),
        "slowlog-log-slower-than" => server.slowlog.set_threshold(int()),
        "slowlog-max-len" => server.slowlog.set_max_len(int().max(0) as usize),
        "latency-monitor-threshold" => server.latency.set_threshold_ms(int().max(0) as u64),
        "port" | "bind" => rebind(server)?,
        "notify-keyspace-events" => {
            let flags = crate::config::special::keyspace_events(&cfg.get(name)).unwrap_or(0);
            ek.notify_flags.store(flags, Relaxed);
        }
        "hash-max-listpack-entries" => ek.hash_max_listpack_entries.store(int().max(0) as usize, Relaxed),
        "hash-max-listpack-value" => ek.hash_max_listpack_value.store(int().max(0) as usize, Relaxed),
        "set-max-intset-entries" => ek.set_max_intset_entries.store(int().max(0) as usize, Relaxed),
        "zset-max-listpack-entries" => ek.zset_max_listpack_entries.store(int().max(0) as usize, Relaxed),
        "zset-max-listpack-value" => ek.zset_max_listpack_value.store(int().max(0) as usize, Relaxed),
        "list-max-listpack-size" => ek.list_max_listpack_size.store(int(), Relaxed),
        "list-compress-depth" => ek.list_compress_depth.store(int().max(0) as usize, Relaxed),
        "hll-sparse-max-bytes" => ek.hll_sparse_max_bytes.store(int().max(0) as usize, Relaxed),
        "rdbcompression" => server.persistence.codec.set_compress(boolean()),
        "appendonly" => crate::persistence::set_appendonly(server, boolean())?,
        "appendfsync" | "aof-timestamp-enabled" => crate::persistence::apply_aof_settings(server),
        "loglevel" => log::set_level(log::Level::parse(&cfg.get(name)).unwrap_or(log::Level::Notice)),
        _ => {}
    }
    Ok(())
}
