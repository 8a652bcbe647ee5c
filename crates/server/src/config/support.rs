//! What each directive does in Redoubt. Every Redis 7.0 directive is accepted so that an
//! existing redis.conf loads unchanged, but a directive is never silently pretended:
//! - implemented: it has Redis's effect;
//! - pending: its feature arrives with a later issue; a non-default value is logged
//!   at start-up so nobody believes it took effect;
//! - not applicable: a tuning knob of Redis's single-threaded, forking design that has
//!   no counterpart here (the README's compatibility table lists the reasons);
//! - refused: a feature Redoubt lacks, where ignoring the setting would be dangerous
//!   (TLS, cluster mode, modules): the value is rejected with an error.

/// How Redoubt treats a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Implemented,
    /// The feature comes with this issue.
    Pending(&'static str),
    /// Why the knob has no meaning in Redoubt.
    NotApplicable(&'static str),
}

const REPLICATION: &str = "replication (issue #5)";
const DATA_TYPES: &str = "data types, scripting and pub/sub (issue #3)";

/// The support level of a directive (canonical name).
pub fn support(name: &str) -> Support {
    use Support::*;
    match name {
        "save" | "dbfilename" | "rdbcompression" | "rdbchecksum" | "stop-writes-on-bgsave-error" => Implemented,
        "shutdown-on-sigint" | "shutdown-on-sigterm" => Implemented,
        "appendonly"
        | "appendfilename"
        | "appenddirname"
        | "appendfsync"
        | "no-appendfsync-on-rewrite"
        | "auto-aof-rewrite-percentage"
        | "auto-aof-rewrite-min-size"
        | "aof-load-truncated"
        | "aof-use-rdb-preamble"
        | "aof-timestamp-enabled"
        | "aof-disable-auto-gc" => Implemented,
        "aof-rewrite-incremental-fsync" | "rdb-save-incremental-fsync" => {
            NotApplicable("snapshots are written by a thread of their own and fsynced once, never blocking commands")
        }
        "sanitize-dump-payload" => NotApplicable("DUMP payloads are always validated in depth before use"),
        "replicaof"
        | "masterauth"
        | "masteruser"
        | "replica-read-only"
        | "replica-serve-stale-data"
        | "repl-backlog-size"
        | "repl-backlog-ttl"
        | "repl-timeout"
        | "repl-ping-replica-period"
        | "min-replicas-to-write"
        | "min-replicas-max-lag"
        | "replica-priority"
        | "replica-announce-ip"
        | "replica-announce-port"
        | "replica-announced" => Implemented,
        // The defaults are what Redoubt does; other values are not honoured yet.
        "shutdown-timeout" => Implemented,
        "replica-ignore-maxmemory" | "rdb-del-sync-files" => Pending(REPLICATION),
        "repl-diskless-sync" | "repl-diskless-sync-delay" | "repl-diskless-sync-max-replicas" => NotApplicable(
            "a full sync always sends a fork-free snapshot written to disk (no fork to save, and one file serves every replica)",
        ),
        "repl-diskless-load" | "replica-lazy-flush" => NotApplicable(
            "a replica always receives the whole snapshot and checks it before its data is replaced, so a failed transfer leaves the old data served",
        ),
        "repl-disable-tcp-nodelay" => NotApplicable("replication links always use TCP_NODELAY"),
        "replica-ignore-disk-write-errors" | "propagation-error-behavior" => {
            NotApplicable("commands from the master are applied whatever the outcome, as with Redis's defaults")
        }
        n if n.starts_with("repl-") || n.starts_with("replica-") || n.starts_with("min-replicas-") => {
            Pending(REPLICATION)
        }
        "hash-max-listpack-entries" | "hash-max-listpack-value" | "set-max-intset-entries" => Implemented,
        "zset-max-listpack-entries"
        | "zset-max-listpack-value"
        | "zset-max-ziplist-entries"
        | "zset-max-ziplist-value" => Implemented,
        // Lists are quicklists of listpack nodes sized by this, as in Redis.
        "list-max-listpack-size" | "list-max-ziplist-size" => Implemented,
        "list-compress-depth" => NotApplicable("list nodes are never LZF-compressed; the value is kept and ignored"),
        n if n.starts_with("hash-max-")
            || n.starts_with("list-")
            || n.starts_with("zset-max-")
            || n.starts_with("set-max-")
            || n.starts_with("stream-node-") =>
        {
            Pending(DATA_TYPES)
        }
        "acl-pubsub-default" => Pending(DATA_TYPES),
        // Background freeing matters for large collections, which arrive with the data
        // types; strings are freed at once either way.
        "lazyfree-lazy-server-del" | "lazyfree-lazy-user-del" => Pending(DATA_TYPES),
        "always-show-logo" => NotApplicable("Redoubt prints no ASCII-art logo"),
        "activerehashing" => NotApplicable("each hash slot has its own small table, resized at once"),
        "activedefrag"
        | "jemalloc-bg-thread"
        | "io-threads-do-reads"
        | "dynamic-hz"
        | "disable-thp"
        | "set-proc-title"
        | "proc-title-template"
        | "crash-log-enabled"
        | "crash-memcheck-enabled"
        | "server_cpulist"
        | "bio_cpulist"
        | "aof_rewrite_cpulist"
        | "bgsave_cpulist"
        | "enable-protected-configs"
        | "enable-module-command"
        | "oom-score-adj"
        | "oom-score-adj-values"
        | "socket-mark-id"
        | "ignore-warnings"
        | "tracking-table-max-keys"
        | "maxmemory-clients"
        | "bind-source-addr" => NotApplicable("a tuning knob of Redis's process model with no Redoubt counterpart"),
        n if n.starts_with("active-defrag-") => NotApplicable("no active defragmentation"),
        n if n.starts_with("cluster-") || n.starts_with("tls-") || n.starts_with("acl") => {
            NotApplicable("the feature is not built yet; enabling it is refused")
        }
        n if n.starts_with("syslog-") => NotApplicable("logs go to the logfile or stdout"),
        _ => Implemented,
    }
}

/// The error for a value that would turn on a feature Redoubt does not have.
pub fn refuse(name: &str, value: &str) -> Option<&'static str> {
    match (name, value) {
        ("cluster-enabled", "yes") => Some("Redoubt does not support cluster mode yet"),
        ("tls-port", v) if v != "0" => Some("Redoubt does not support TLS yet"),
        ("tls-replication" | "tls-cluster", "yes") => Some("Redoubt does not support TLS yet"),
        ("syslog-enabled", "yes") => Some("Redoubt does not log to syslog; use logfile"),
        ("aclfile", v) if !v.is_empty() => Some("Redoubt does not support ACL files yet"),
        _ => None,
    }
}
