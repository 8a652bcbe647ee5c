//! The process: `-v`/`--version`/`-h`, daemonize with pidfile and logfile, SIGTERM and
//! SIGINT (clean exit, pidfile removed), SHUTDOWN and its errors. Process behaviour is
//! checked on redis-server too.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::{
    is_listening_port, poll_until, run_to_exit, temp_dir, wait_for, Conn, Diff, Flavor, ServerProcess,
};

#[test]
fn version_flag() {
    let dir = temp_dir("version");
    for flag in ["-v", "--version"] {
        let ours = run_to_exit(Flavor::Redoubt.binary(), &[flag], &dir, Duration::from_secs(10));
        let redis = run_to_exit(Flavor::Redis.binary(), &[flag], &dir, Duration::from_secs(10));
        assert_eq!(ours.code, redis.code, "{flag}: exit code");
        assert!(ours.stdout.starts_with("Redis server v=7.0.15 sha="), "{flag}: {:?}", ours.stdout);
        assert!(ours.stdout.ends_with('\n') && ours.stdout.lines().count() == 1, "{flag}: {:?}", ours.stdout);
        // Tools split this line on spaces and '='.
        let fields: Vec<&str> = ours.stdout.split_whitespace().collect();
        let redis_fields: Vec<&str> = redis.stdout.split_whitespace().collect();
        let keys = |f: &[&str]| f.iter().map(|w| w.split('=').next().unwrap_or("").to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&fields), keys(&redis_fields), "{flag}: field names");
    }
}

#[test]
fn help_flag_exits_like_redis() {
    let dir = temp_dir("help");
    for flag in ["-h", "--help"] {
        let ours = run_to_exit(Flavor::Redoubt.binary(), &[flag], &dir, Duration::from_secs(10));
        let redis = run_to_exit(Flavor::Redis.binary(), &[flag], &dir, Duration::from_secs(10));
        assert!(ours.stderr.starts_with("Usage: "), "{flag}: usage on stderr: {:?}", ours.stderr);
        assert_eq!(ours.code, redis.code, "{flag}: exit code (redis prints usage and exits {:?})", redis.code);
    }
}

/// Whether a process exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').map(|(_, rest)| rest.trim_start()).is_some_and(|r| !r.starts_with('Z')),
        Err(_) => false,
    }
}

/// Kills a daemon (not our child) by pid if the test ends before it stopped it.
struct DaemonGuard(Option<i32>);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.filter(|p| alive(*p)) {
            // SAFETY: kill(2) on the pid the daemon wrote for us.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok())
}

#[test]
fn daemonize_writes_pidfile_and_log_and_stops_on_sigterm() {
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let name = flavor.name();
        let dir = temp_dir("daemon");
        let port = crate::support::process::next_port();
        let (pidfile, logfile) = (dir.join("d.pid"), dir.join("d.log"));
        let (port_s, dir_s) = (port.to_string(), dir.to_string_lossy().to_string());
        let (pid_s, log_s) = (pidfile.to_string_lossy().to_string(), logfile.to_string_lossy().to_string());
        let args = [
            "--daemonize",
            "yes",
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--pidfile",
            &pid_s,
            "--logfile",
            &log_s,
            "--dir",
            &dir_s,
            "--save",
            "",
        ];
        let mut guard = DaemonGuard(None);
        // The launching process returns at once; the daemon lives on.
        let launcher = run_to_exit(flavor.binary(), &args, &dir, Duration::from_secs(10));
        assert_eq!(launcher.code, Some(0), "{name}: launcher exit; stderr {:?}", launcher.stderr);
        let pid = poll_until(Duration::from_secs(10), || read_pid(&pidfile))
            .unwrap_or_else(|| panic!("{name}: no pid in {}", pidfile.display()));
        guard.0 = Some(pid);
        assert!(alive(pid), "{name}: daemon {pid} is running");
        wait_for(&format!("{name} to listen on {port}"), Duration::from_secs(10), || is_listening_port(port));
        let mut c = Conn::connect(([127, 0, 0, 1], port).into());
        assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n", "{name}");
        let info = crate::support::text(&c.val(&["INFO", "server"]));
        assert_eq!(crate::support::info_field(&info, "process_id"), Some(pid.to_string()), "{name}");
        wait_for(&format!("{name}: Ready in the log"), Duration::from_secs(5), || {
            fs::read_to_string(&logfile).is_ok_and(|l| l.contains("Ready to accept connections"))
        });
        // The log line format: "pid:M dd Mon yyyy hh:mm:ss.mmm * message".
        let log = fs::read_to_string(&logfile).unwrap_or_default();
        let ready = log.lines().find(|l| l.contains("Ready to accept connections")).unwrap_or_default().to_string();
        assert!(ready.starts_with(&format!("{pid}:M ")), "{name}: {ready:?}");
        assert!(ready.contains(" * Ready to accept connections"), "{name}: {ready:?}");
        // SIGTERM: it exits and removes its pidfile.
        // SAFETY: kill(2) on the daemon's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        wait_for(&format!("{name} daemon to exit"), Duration::from_secs(10), || !alive(pid));
        wait_for(&format!("{name} to remove its pidfile"), Duration::from_secs(5), || !pidfile.exists());
        guard.0 = None;
    }
}

#[test]
fn sigterm_and_sigint_exit_cleanly_and_remove_the_pidfile() {
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        for sig in [libc::SIGTERM, libc::SIGINT] {
            let mut s = ServerProcess::start(flavor, &["--pidfile", "server.pid"]);
            let name = flavor.name();
            let pidfile = s.dir.join("server.pid");
            wait_for(&format!("{name}: pidfile"), Duration::from_secs(5), || read_pid(&pidfile).is_some());
            assert_eq!(read_pid(&pidfile), s.pid().map(|p| p as i32), "{name}: pidfile content");
            let mut c = s.conn();
            c.cmd(&["SET", "k", "v"]);
            s.signal(sig);
            let status = s
                .wait_exit(Duration::from_secs(10))
                .unwrap_or_else(|| panic!("{name}: still running after signal {sig}"));
            assert_eq!(status.code(), Some(0), "{name}: exit status after signal {sig}");
            assert!(!pidfile.exists(), "{name}: pidfile removed after signal {sig}");
            assert_eq!(
                c.read_until_close(Duration::from_secs(5)).ok(),
                Some(Vec::new()),
                "{name}: clients are disconnected"
            );
            assert!(s.log().contains("is now ready to exit, bye bye..."), "{name}: log:\n{}", s.log());
        }
    }
}

#[test]
fn shutdown_command_stops_the_server() {
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        for args in [&["SHUTDOWN"][..], &["SHUTDOWN", "NOSAVE"], &["shutdown", "nosave", "now", "force"]] {
            let mut s = ServerProcess::start(flavor, &["--pidfile", "server.pid"]);
            let name = flavor.name();
            let mut bystander = s.conn();
            bystander.cmd(&["PING"]);
            let mut c = s.conn();
            c.send(args);
            let got = c.read_until_close(Duration::from_secs(10));
            assert_eq!(got.ok(), Some(Vec::new()), "{name}: {args:?} closes the connection without a reply");
            let status =
                s.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| panic!("{name}: still running after {args:?}"));
            assert_eq!(status.code(), Some(0), "{name}: exit status after {args:?}");
            assert!(!s.dir.join("server.pid").exists(), "{name}: pidfile removed");
            assert_eq!(bystander.read_until_close(Duration::from_secs(5)).ok(), Some(Vec::new()), "{name}");
        }
    }
}

#[test]
fn shutdown_errors_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
SHUTDOWN ABORT
SHUTDOWN FOO
SHUTDOWN NOSAVE SAVE
SHUTDOWN SAVE NOSAVE
SHUTDOWN ABORT NOW
SHUTDOWN NOW ABORT
SHUTDOWN FORCE ABORT
PING
"#,
    );
}

/// Redis installs its signal handlers before it listens, so a SIGTERM that arrives as
/// soon as the port accepts connections still gets a clean exit (code 0), never the
/// default action (death by signal).
#[test]
fn sigterm_right_after_start_is_handled() {
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        for round in 0..30 {
            let mut s = crate::support::Spec::new(flavor).spawn();
            let port = s.port;
            let up = poll_until(Duration::from_secs(10), || is_listening_port(port).then_some(()));
            assert!(up.is_some(), "{}: never listened; {}", flavor.name(), s.diagnostics());
            s.signal(libc::SIGTERM);
            let status = s.wait_exit(Duration::from_secs(10)).expect("exited");
            assert_eq!(status.code(), Some(0), "{}: round {round}: {status:?} (killed by the signal?)", flavor.name());
        }
    }
}
