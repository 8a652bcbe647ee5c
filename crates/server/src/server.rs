//! [`Server`]: everything the process shares between connections — the engine, the
//! configuration, the command table, the clients, and the server-wide knobs and
//! monitors that commands read.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use redoubt_engine::Engine;
use tokio::sync::Notify;

use crate::client::Clients;
use crate::cmd::latency::LatencyMonitor;
use crate::cmd::slowlog::SlowLog;
use crate::config::Config;
use crate::dispatch::CommandTable;
use crate::pause::Pause;

/// Values the hot path reads, kept as atomics and updated by `apply` on CONFIG SET.
#[derive(Default)]
pub struct ServerKnobs {
    pub timeout_s: AtomicI64,
    pub tcp_keepalive_s: AtomicI64,
    pub maxclients: AtomicUsize,
    pub query_buffer_limit: AtomicUsize,
    pub protected_mode: AtomicBool,
    /// The ACL default user (set by `requirepass` and `user default` lines).
    pub default_user: RwLock<crate::acl::DefaultUser>,
    pub has_password: AtomicBool,
    pub hz: AtomicU64,
    /// `enable-debug-command`: 0 no, 1 yes, 2 local.
    pub enable_debug: AtomicU16,
    /// `client-output-buffer-limit` per class: hard, soft, soft seconds.
    pub output_limits: [[AtomicU64; 3]; 3],
    /// `maxmemory-eviction-tenacity` (0..=100).
    pub eviction_tenacity: std::sync::atomic::AtomicU32,
}

/// A shutdown request: flags, and the wake-up for the main task.
#[derive(Default)]
pub struct Shutdown {
    pub requested: AtomicBool,
    pub nosave: AtomicBool,
    pub save: AtomicBool,
    pub notify: Notify,
}

/// The process's shared state.
pub struct Server {
    pub engine: Engine,
    pub config: Config,
    pub commands: CommandTable,
    pub clients: Clients,
    pub knobs: ServerKnobs,
    pub slowlog: SlowLog,
    pub latency: LatencyMonitor,
    pub pause: Pause,
    /// Pub/Sub subscriptions (`pubsub.rs`).
    pub pubsub: crate::pubsub::PubSub,
    /// Lua scripts and functions, and the gate a running script holds (`scripting/`).
    pub scripting: redoubt_scripting::Scripting,
    /// WATCHed keys (`watch.rs`).
    pub watches: crate::watch::Watches,
    pub shutdown: Shutdown,
    /// Snapshots, the AOF, loading (`persistence/`).
    pub persistence: crate::persistence::Persistence,
    /// Master and replica links, replication ids, WAIT (`replication/`).
    pub replication: crate::replication::Replication,
    pub started: Instant,
    pub start_unix_ms: i64,
    /// A random 40-hex-digit id of this run (INFO's `run_id`).
    pub run_id: String,
    /// The TCP port actually listened on (INFO's `tcp_port`).
    pub tcp_port: AtomicU16,
    pub executable: String,
    pub peak_memory: AtomicUsize,
    /// Unix time (s) of the last successful save, for LASTSAVE.
    pub last_save: AtomicI64,
    pub daemonized: bool,
    /// When memory went over maxmemory without eviction catching up (0: it is not).
    pub eviction_exceeded_since_ms: AtomicI64,
    pub eviction_exceeded_total_ms: AtomicU64,
    /// `used_memory` when the server finished starting (INFO's `used_memory_startup`).
    pub startup_memory: usize,
    /// The accept tasks of the TCP listeners (replaced when CONFIG SET changes port
    /// or bind).
    pub tcp_tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Set once start-up has bound the listeners; from then on port/bind changes rebind.
    pub listening: AtomicBool,
    /// A handle on ourselves, for code that holds only `&Server` but must spawn tasks.
    me: std::sync::OnceLock<std::sync::Weak<Server>>,
}

impl Server {
    pub fn new(config: Config, daemonized: bool) -> Arc<Server> {
        let databases = config.get_i64("databases").max(1) as usize;
        let commands = CommandTable::build(crate::cmd::SERVER_COMMANDS, &config.file_only.renames);
        let now = redoubt_engine::clock::now_ms();
        let server = Arc::new(Server {
            engine: Engine::new(databases),
            config,
            commands,
            clients: Clients::default(),
            knobs: ServerKnobs::default(),
            slowlog: SlowLog::default(),
            latency: LatencyMonitor::default(),
            pause: Pause::default(),
            pubsub: Default::default(),
            scripting: crate::scripting::new_scripting(),
            watches: Default::default(),
            shutdown: Shutdown::default(),
            persistence: Default::default(),
            replication: Default::default(),
            started: Instant::now(),
            start_unix_ms: now,
            run_id: random_hex(40),
            tcp_port: AtomicU16::new(0),
            executable: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            peak_memory: AtomicUsize::new(0),
            last_save: AtomicI64::new(now / 1000),
            daemonized,
            startup_memory: redoubt_engine::memory::used_bytes(),
            eviction_exceeded_since_ms: AtomicI64::new(0),
            eviction_exceeded_total_ms: AtomicU64::new(0),
            tcp_tasks: std::sync::Mutex::new(Vec::new()),
            listening: AtomicBool::new(false),
            me: std::sync::OnceLock::new(),
        });
        let _ = server.me.set(Arc::downgrade(&server));
        crate::watch::install(&server);
        crate::persistence::install(&server);
        crate::replication::install(&server);
        for d in crate::config::directives() {
            // Every directive's value reaches its runtime form once at start-up.
            if let Err(e) = crate::apply::apply(&server, d.name) {
                crate::warning!("Could not apply '{}': {e}", d.name);
            }
        }
        // `user default` lines come after the directives, as Redis loads ACL users last.
        if let Some(user) = server.config.file_only.default_user.clone() {
            crate::apply::set_default_user(&server, user);
        }
        server
    }

    /// The `Arc` this server lives in.
    pub fn arc(&self) -> Option<Arc<Server>> {
        self.me.get().and_then(std::sync::Weak::upgrade)
    }

    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Asks the main task to shut down.
    pub fn request_shutdown(&self, save: bool, nosave: bool) {
        self.shutdown.save.store(save, Relaxed);
        self.shutdown.nosave.store(nosave, Relaxed);
        self.shutdown.requested.store(true, Relaxed);
        self.shutdown.notify.notify_one();
    }
}

/// Random lower-case hex, from the OS's random source (for run ids).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if ok.is_err() {
        // No /dev/urandom: fall back to the clock and the process id, still unique per run.
        let seed = redoubt_engine::clock::now_us() as u64 ^ ((std::process::id() as u64) << 32);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 * 7) ^ (i as u64 * 0x9e37_79b9)) as u8;
        }
    }
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(n);
    s
}
