//! Server processes for tests: Redoubt's binary or the real `redis-server`, each on its
//! own free loopback port and in its own temp dir, killed by PID when dropped (also when
//! the test panics, in which case its log, stdout and stderr are printed first).

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::conn::Conn;
use super::wait::poll_until;

/// How long a server may take to answer its first PING. A debug build on a loaded
/// 2-core machine starts in well under a second; this is the ceiling, not the norm.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server has to exit after SIGTERM before it gets SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Start attempts when the chosen port turns out to be taken (a race with another run).
const START_ATTEMPTS: usize = 5;

/// Test ports come from this range: below the kernel's ephemeral range (32768+), so
/// client sockets never take them, and far from 6379 and the 7000s used by hand.
const PORT_LOW: u32 = 20_000;
const PORT_SPAN: u32 = 12_000;

/// Which server a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Redoubt,
    Redis,
}

impl Flavor {
    pub fn binary(self) -> &'static str {
        match self {
            Flavor::Redoubt => env!("CARGO_BIN_EXE_redoubt-server"),
            Flavor::Redis => "redis-server",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flavor::Redoubt => "redoubt",
            Flavor::Redis => "redis",
        }
    }
}

/// The next port to try. Starts at a per-run random offset (pid and clock) and counts
/// up, so parallel tests in one binary never pick the same port and two test runs at
/// once almost never do; when they do, `start` sees the failure and moves on.
pub fn next_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let seed = || {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        (std::process::id().wrapping_mul(7919) ^ nanos) % PORT_SPAN
    };
    let _ = NEXT.compare_exchange(u32::MAX, seed(), Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..PORT_SPAN {
        let port = (PORT_LOW + NEXT.fetch_add(1, Ordering::SeqCst) % PORT_SPAN) as u16;
        // Free on every interface, because some tests bind 0.0.0.0.
        if TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {PORT_LOW}..{}", PORT_LOW + PORT_SPAN)
}

/// A fresh directory under the system temp dir, removed when dropped (also when the
/// test panics).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(label: &str) -> TempDir {
    TempDir(make_dir(label))
}

/// A fresh directory under the system temp dir; the caller removes it.
fn make_dir(label: &str) -> PathBuf {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "redoubt-it-{label}-{}-{}-{nanos}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    ));
    fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// What to start: the flavor, extra command-line arguments (they come after ours, so
/// they override them), and optionally a config file written into the temp dir.
#[derive(Clone, Debug)]
pub struct Spec {
    pub flavor: Flavor,
    pub args: Vec<String>,
    pub config: Option<String>,
    /// Other files written into the temp dir before start-up (name, text; `$DIR` is
    /// replaced as in the config).
    pub files: Vec<(String, String)>,
    /// Wait for this long at most for the first PING answer.
    pub start_timeout: Duration,
}

impl Spec {
    pub fn new(flavor: Flavor) -> Spec {
        Spec { flavor, args: Vec::new(), config: None, files: Vec::new(), start_timeout: START_TIMEOUT }
    }

    pub fn args(mut self, args: &[&str]) -> Spec {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }

    /// The config file's text; `$DIR` in it is replaced by the server's temp dir.
    pub fn config(mut self, text: &str) -> Spec {
        self.config = Some(text.to_string());
        self
    }

    /// Another file for the temp dir (an `include`d config, say).
    pub fn file(mut self, name: &str, text: &str) -> Spec {
        self.files.push((name.to_string(), text.to_string()));
        self
    }

    pub fn start(self) -> ServerProcess {
        ServerProcess::start_spec(self)
    }

    /// Starts the server on `port` instead of a fresh one: a restart where clients or
    /// replicas still point at the port a stopped server had. No retry on another port,
    /// so a clash panics.
    pub fn start_on(self, port: u16) -> ServerProcess {
        let mut server = ServerProcess::spawn(&self, port, make_dir(self.flavor.name()));
        if let Err(why) = server.wait_ready(self.start_timeout) {
            panic!(
                "{} did not start on port {port} with {:?}: {why}\n{}",
                self.flavor.name(),
                self.args,
                server.diagnostics()
            );
        }
        server
    }

    /// Spawns the server without waiting for it to answer (for start-up races). The
    /// port was free a moment ago; a clash shows up as an early exit.
    pub fn spawn(self) -> ServerProcess {
        ServerProcess::spawn(&self, next_port(), make_dir(self.flavor.name()))
    }
}

/// A running server. Dropping it stops it (SIGTERM, then SIGKILL) and removes its dir.
pub struct ServerProcess {
    pub flavor: Flavor,
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    exit: Option<ExitStatus>,
}

impl ServerProcess {
    /// Starts Redoubt with `args` after the harness's defaults.
    pub fn redoubt(args: &[&str]) -> ServerProcess {
        Spec::new(Flavor::Redoubt).args(args).start()
    }

    /// Starts the real redis-server with `args` after the harness's defaults.
    pub fn redis(args: &[&str]) -> ServerProcess {
        Spec::new(Flavor::Redis).args(args).start()
    }

    pub fn start(flavor: Flavor, args: &[&str]) -> ServerProcess {
        Spec::new(flavor).args(args).start()
    }

    fn start_spec(spec: Spec) -> ServerProcess {
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = next_port();
            let dir = make_dir(spec.flavor.name());
            let mut server = ServerProcess::spawn(&spec, port, dir);
            match server.wait_ready(spec.start_timeout) {
                Ok(()) => return server,
                Err(why) => {
                    last_log = format!("{why}\n{}", server.diagnostics());
                    let taken = last_log.contains("Address already in use");
                    drop(server);
                    if !taken {
                        break;
                    }
                }
            }
        }
        panic!("{} did not start with {:?}:\n{last_log}", spec.flavor.name(), spec.args)
    }

    fn spawn(spec: &Spec, port: u16, dir: PathBuf) -> ServerProcess {
        let mut cmd = Command::new(spec.flavor.binary());
        for (name, text) in &spec.files {
            fs::write(dir.join(name), text.replace("$DIR", &dir.to_string_lossy())).expect("write file");
        }
        if let Some(text) = &spec.config {
            let path = dir.join("redis.conf");
            fs::write(&path, text.replace("$DIR", &dir.to_string_lossy())).expect("write config");
            cmd.arg(&path);
        }
        let log = dir.join("server.log");
        let port_s = port.to_string();
        let dir_s = dir.to_string_lossy().to_string();
        let log_s = log.to_string_lossy().to_string();
        let defaults: [&str; 12] = [
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir_s,
            "--save",
            "",
            "--logfile",
            &log_s,
            "--enable-debug-command",
            "yes",
        ];
        cmd.args(defaults).args(&spec.args);
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("stdout.txt")).expect("stdout file"))
            .stderr(fs::File::create(dir.join("stderr.txt")).expect("stderr file"));
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", spec.flavor.binary()));
        ServerProcess { flavor: spec.flavor, port, dir, child: Some(child), exit: None }
    }

    /// Polls until the server answers PING (any reply: +PONG, -NOAUTH, -DENIED all
    /// prove it is serving; -LOADING does not, its data is not in yet), or it exits,
    /// or the deadline passes.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Err(format!("exited during start-up with {status}"));
            }
            if let Ok(mut conn) = Conn::try_connect(self.addr(), Duration::from_millis(200)) {
                conn.send(&["PING"]);
                if let Ok(reply) = conn.try_read(Duration::from_secs(2)) {
                    // -LOADING: up, but not serving its data yet.
                    if reply.starts_with(b"+") || (reply.starts_with(b"-") && !reply.starts_with(b"-LOADING")) {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("no PING answer within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// A new raw client connection.
    pub fn conn(&self) -> Conn {
        Conn::connect(self.addr())
    }

    /// A new raw client that has already said HELLO 3.
    pub fn conn3(&self) -> Conn {
        let mut c = self.conn();
        let hello = c.cmd(&["HELLO", "3"]);
        assert!(hello.starts_with(b"%"), "HELLO 3 answered {}", super::esc(&hello));
        c
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The server's log file so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Log, stdout and stderr, for a failure message.
    pub fn diagnostics(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!(
            "---- {} on port {} (dir {}) ----\n[log]\n{}\n[stdout]\n{}\n[stderr]\n{}",
            self.flavor.name(),
            self.port,
            self.dir.display(),
            self.log(),
            read("stdout.txt"),
            read("stderr.txt")
        )
    }

    /// The exit status, if the process has exited (reaps it).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.exit = Some(status);
                }
            }
        }
        self.exit
    }

    /// Waits (bounded) for the process to exit by itself; returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        poll_until(timeout, || self.try_exit())
    }

    /// Sends a signal to the process (if it is still ours and running).
    pub fn signal(&mut self, sig: i32) {
        if self.try_exit().is_none() {
            if let Some(pid) = self.pid() {
                // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
                unsafe { libc::kill(pid as i32, sig) };
            }
        }
    }

    /// SIGTERM, a bounded wait, then SIGKILL. Returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        if let Some(status) = self.wait_exit(STOP_TIMEOUT) {
            return Some(status);
        }
        self.signal(libc::SIGKILL);
        self.wait_exit(STOP_TIMEOUT)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// What a process that was expected to exit by itself left behind.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `binary args` to completion (bounded by `timeout`; killed after it) in `dir`.
/// For start-up errors and `-v`, where the process must exit on its own.
pub fn run_to_exit(binary: &str, args: &[&str], dir: &Path, timeout: Duration) -> Finished {
    let out_path = dir.join("run-stdout.txt");
    let err_path = dir.join("run-stderr.txt");
    let mut child = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {binary}: {e}"));
    let status = poll_until(timeout, || child.try_wait().ok().flatten());
    let code = match status {
        Some(s) => s.code(),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{binary} {args:?} did not exit within {timeout:?}");
        }
    };
    Finished {
        code,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
pub fn is_listening_port(port: u16) -> bool {
    is_listening(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// True when something accepts TCP connections at `addr`.
pub fn is_listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}
