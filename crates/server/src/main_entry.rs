//! Start-up and shutdown, in the order redis-server does them: command line, config,
//! daemonize, logging, file-descriptor limit, listeners, pidfile, "Ready to accept
//! connections"; then, on SIGTERM/SIGINT or SHUTDOWN, a clean exit that removes the
//! pidfile and the Unix socket.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::file::parse_command_line;
use crate::config::support::{support, Support};
use crate::config::Config;
use crate::server::Server;
use crate::{daemon, listen, log, notice, warning};

/// File descriptors Redis reserves beyond maxclients (listeners, logs, files).
const RESERVED_FDS: u64 = 32;
/// Where the pid goes when daemonized without a `pidfile` (Redis's default).
const DEFAULT_PIDFILE: &str = "/var/run/redis.pid";

fn usage() {
    eprintln!(
        "Usage: ./redoubt-server [/path/to/redis.conf] [options] [-]\n       ./redoubt-server - (read config from stdin)\n       ./redoubt-server -v or --version\n       ./redoubt-server -h or --help\n\nExamples:\n       ./redoubt-server (run the server with default conf)\n       ./redoubt-server /etc/redis/6379.conf\n       ./redoubt-server --port 7777\n       ./redoubt-server /etc/myredis.conf --loglevel verbose -\n       ./redoubt-server /etc/myredis.conf --loglevel verbose"
    );
}

/// Runs the server; returns the process exit code.
pub fn run(argv: Vec<String>) -> i32 {
    match argv.first().map(String::as_str) {
        Some("-v") | Some("--version") => {
            println!(
                "Redis server v={} sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=redoubt-{}",
                crate::REDIS_VERSION,
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        Some("-h") | Some("--help") => {
            usage();
            // redis-server exits with 1 after its usage text too.
            return 1;
        }
        _ => {}
    }
    let cl = parse_command_line(&argv);
    if cl.sentinel {
        eprintln!("Sentinel mode is not available in this build of Redoubt yet.");
        return 1;
    }
    let config = match Config::load(&cl) {
        Ok(c) => c,
        // A bad line goes to stderr in Redis's fatal format; a file that cannot be read
        // is a log line, as Redis logs it.
        Err(e @ crate::config::file::ConfigError::Line { .. }) => {
            eprintln!("{e}");
            return 1;
        }
        Err(e) => {
            warning!("{e}");
            return 1;
        }
    };
    let daemonize = config.get_bool("daemonize");
    let logfile = config.get("logfile");
    if let Err(e) = log::check_file(&logfile) {
        eprintln!("Can't open the log file: {e}");
        return 1;
    }
    if daemonize {
        if let Err(e) = daemon::daemonize() {
            eprintln!("Can't daemonize: {e}");
            return 1;
        }
    }
    log::set_file(&logfile, daemonize);
    log::set_level(log::Level::parse(&config.get("loglevel")).unwrap_or(log::Level::Notice));
    warning!("oO0OoO0OoO0Oo Redoubt is starting oO0OoO0OoO0Oo");
    warning!(
        "Redoubt version={}, Redis version={}, bits=64, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        crate::REDIS_VERSION,
        std::process::id()
    );
    if cl.config_file.is_none() {
        warning!("Warning: no config file specified, using the default config. In order to specify a config file use redoubt-server /path/to/redis.conf");
    } else {
        warning!("Configuration loaded");
    }
    for (d, value) in config.non_defaults() {
        if let Support::Pending(what) = support(d.name) {
            warning!("'{} {}' is accepted, but {} is not built yet: the setting has no effect.", d.name, value, what);
        }
    }
    // One worker per core, unless `io-threads` is set explicitly: then that many (the
    // closest Redis knob; Redis's I/O threads also spread client work over cores).
    let workers = match config.explicitly_set("io-threads") {
        true => config.get_i64("io-threads").clamp(1, 128) as usize,
        false => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            warning!("Can't start the runtime: {e}");
            return 1;
        }
    };
    let code = runtime.block_on(serve(config, daemonize));
    // Connections and background tasks are simply dropped: the process is ending.
    std::mem::forget(runtime);
    code
}

/// Raises the open-files limit for maxclients, lowering maxclients if it cannot.
fn adjust_open_files(config: &Config) {
    let wanted = config.get_i64("maxclients").max(1) as u64 + RESERVED_FDS;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // Safety: getrlimit/setrlimit only read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur >= wanted {
            return;
        }
        let target = wanted.min(lim.rlim_max);
        let raised = libc::rlimit { rlim_cur: target, rlim_max: lim.rlim_max };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            lim.rlim_cur = target;
        }
    }
    if lim.rlim_cur < wanted {
        let max = lim.rlim_cur.saturating_sub(RESERVED_FDS).max(1);
        warning!(
            "You requested maxclients of {} requiring at least {} max file descriptors. Server can't set maximum open files to {} because of OS error. Current maximum open files is {}. maxclients has been reduced to {} to compensate for low ulimit.",
            wanted - RESERVED_FDS, wanted, wanted, lim.rlim_cur, max
        );
        let _ = config.set_many(&[("maxclients".into(), max.to_string())], |_| Ok(()));
    }
}

async fn serve(config: Config, daemonize: bool) -> i32 {
    // Signal handlers first: a SIGTERM that arrives once the port accepts connections
    // must mean a clean shutdown, never the default action.
    let signals = Signals { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok() };
    adjust_open_files(&config);
    let port = config.get_i64("port") as u16;
    let bind = config.get("bind");
    let backlog = config.get_i64("tcp-backlog") as i32;
    let unixsocket = config.get("unixsocket");
    let unixperm = u32::from_str_radix(&config.get("unixsocketperm"), 8).unwrap_or(0);
    let mut pidfile = config.get("pidfile");
    let supervised = config.get("supervised");
    let server = Server::new(config, daemonize);
    // When there is a dataset to load, clients get -LOADING from the first connection
    // until it is in.
    crate::persistence::announce_loading(&server);
    if let Err(e) = listen::replace_tcp(&server, &bind, port, backlog).await {
        warning!("{e}");
        return 1;
    }
    let tcp_listening = port != 0;
    server.listening.store(true, Relaxed);
    let mut unix = None;
    if !unixsocket.is_empty() {
        match listen::bind_unix(&unixsocket, unixperm) {
            Ok(l) => unix = Some(l),
            Err(e) => {
                warning!("{e}");
                return 1;
            }
        }
    }
    if !tcp_listening && unix.is_none() {
        warning!("Configured to not listen anywhere, exiting.");
        return 1;
    }
    if daemonize && pidfile.is_empty() {
        pidfile = DEFAULT_PIDFILE.to_string();
    }
    if !pidfile.is_empty() {
        if let Err(e) = daemon::write_pidfile(&pidfile) {
            warning!("Failed to write PID file: {e}");
        }
    }
    log::set_role(b'M');
    notice!("Running mode=standalone, port={port}.");
    crate::replication::configure(&server);
    warning!("Server initialized");
    if let Some(l) = unix {
        match UnixListener::from_std(l) {
            Ok(l) => {
                notice!("The server is now ready to accept connections at {unixsocket}");
                tokio::spawn(listen::accept_unix(server.clone(), l, unixsocket.clone()));
            }
            Err(e) => warning!("Failed to register the Unix socket: {e}"),
        }
    }
    // The listeners already accept: clients get -LOADING until the data is in.
    if !crate::persistence::load_at_startup(&server).await {
        for path in [&pidfile, &unixsocket] {
            if !path.is_empty() {
                let _ = std::fs::remove_file(path);
            }
        }
        return 1;
    }
    crate::replication::start(&server);
    tokio::spawn(crate::cron::run(server.clone()));
    notice!("Ready to accept connections");
    if supervised == "systemd" || (supervised == "auto" && std::env::var("NOTIFY_SOCKET").is_ok()) {
        daemon::sd_notify("READY=1\n");
    }
    wait_for_shutdown(&server, signals).await;
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    if !unixsocket.is_empty() {
        let _ = std::fs::remove_file(&unixsocket);
    }
    warning!("Redoubt is now ready to exit, bye bye...");
    0
}

/// SIGTERM and SIGINT handlers, installed at start-up.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

/// Waits for one of `s`'s signals (forever when the handler could not be installed).
async fn next_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Returns once the process may exit: after SHUTDOWN (which prepared the exit
/// itself), or after a signal whose final save succeeded (a failed one keeps the
/// server running, as in Redis).
async fn wait_for_shutdown(server: &Arc<Server>, signals: Signals) {
    let Signals { mut term, mut int } = signals;
    loop {
        let directive = tokio::select! {
            _ = next_signal(&mut term) => {
                warning!("Received SIGTERM scheduling shutdown...");
                "shutdown-on-sigterm"
            }
            _ = next_signal(&mut int) => {
                warning!("Received SIGINT scheduling shutdown...");
                "shutdown-on-sigint"
            }
            _ = server.shutdown.notify.notified() => return,
        };
        let flags = crate::persistence::ShutdownFlags::from_config(&server.config.get(directive));
        let s = server.clone();
        let ready = tokio::task::spawn_blocking(move || {
            crate::replication::wait_for_replicas(&s, false);
            crate::persistence::prepare_shutdown(&s, flags)
        })
        .await;
        if matches!(ready, Ok(Ok(()))) {
            return;
        }
        let name = if directive == "shutdown-on-sigterm" { "SIGTERM" } else { "SIGINT" };
        warning!("{name} received but errors trying to shut down the server, check the logs for more information");
    }
}
