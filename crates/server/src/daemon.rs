//! Process plumbing: daemonizing (fork, setsid, stdio to /dev/null), the pidfile, and
//! telling systemd we are ready (`supervised systemd`, the sd_notify protocol).

use std::io::Write;

/// Forks into the background. Must run before any thread exists (before the runtime
/// starts): forking a multi-threaded process is unsafe.
pub fn daemonize() -> std::io::Result<()> {
    // Safety: single-threaded at this point; the parent exits at once without running
    // destructors, the child continues with a new session and /dev/null as stdio.
    unsafe {
        match libc::fork() {
            -1 => return Err(std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

/// Writes our pid to `path`.
pub fn write_pidfile(path: &str) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    writeln!(f, "{}", std::process::id())
}

/// Sends `READY=1` (or any state) to systemd when `NOTIFY_SOCKET` is set.
pub fn sd_notify(state: &str) -> bool {
    let Ok(path) = std::env::var("NOTIFY_SOCKET") else { return false };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else { return false };
    let target = if let Some(abstract_name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        match std::os::unix::net::SocketAddr::from_abstract_name(abstract_name) {
            Ok(a) => return sock.send_to_addr(state.as_bytes(), &a).is_ok(),
            Err(_) => return false,
        }
    } else {
        path
    };
    sock.send_to(state.as_bytes(), target).is_ok()
}
