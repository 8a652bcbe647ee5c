//! Listening sockets (`bind`, `port`, `tcp-backlog`, `unixsocket`, `unixsocketperm`)
//! and the accept loop, which enforces `maxclients` and protected mode before a
//! connection gets a task.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use redoubt_engine::stats::{self, Stat};
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixListener};

use crate::client::ClientShared;
use crate::conn::{serve, Stream};
use crate::server::Server;

/// Redis 7.0's protected-mode refusal, word for word (clients show it to operators).
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

const MAXCLIENTS_ERROR: &[u8] = b"-ERR max number of clients reached\r\n";

/// Binds every `bind` address on `port`. An address written with a leading `-` may
/// fail (it is skipped, as in Redis); any other failure is returned.
pub fn bind_tcp(bind: &str, port: u16, backlog: i32) -> Result<Vec<std::net::TcpListener>, String> {
    let mut out = Vec::new();
    for word in bind.split_whitespace() {
        let (optional, addr) = match word.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, word),
        };
        let ip: IpAddr = match addr {
            "*" => IpAddr::from([0u8, 0, 0, 0]),
            "::*" => IpAddr::from([0u16; 8]),
            a => match a.parse() {
                Ok(ip) => ip,
                Err(_) => return Err(format!("Invalid bind address '{a}'")),
            },
        };
        match listen_on(SocketAddr::new(ip, port), backlog) {
            Ok(l) => out.push(l),
            Err(e) if optional => crate::verbose!("Skipping optional bind address {addr}:{port}: {e}"),
            Err(e) => return Err(format!("Failed listening on port {port} (tcp), aborting: {addr}: {e}")),
        }
    }
    Ok(out)
}

fn listen_on(addr: SocketAddr, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // Let `*` and `::*` coexist on the same port.
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Binds the Unix socket, replacing a stale file, with `perm` (octal) if non-zero.
pub fn bind_unix(path: &str, perm: u32) -> Result<std::os::unix::net::UnixListener, String> {
    let _ = std::fs::remove_file(path);
    let l = std::os::unix::net::UnixListener::bind(path).map_err(|e| format!("Failed opening Unix socket: {e}"))?;
    if perm != 0 {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm));
    }
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(l)
}

/// Binds `bind`:`port` and starts accepting there, replacing the current TCP
/// listeners (which are closed first, so the same port can be bound again). On
/// failure no TCP listener is left running; the caller restores the old settings and
/// calls this again.
pub async fn replace_tcp(server: &Arc<Server>, bind: &str, port: u16, backlog: i32) -> Result<(), String> {
    let old: Vec<_> = std::mem::take(&mut *server.tcp_tasks.lock().unwrap_or_else(|e| e.into_inner()));
    for t in &old {
        t.abort();
    }
    for t in old {
        let _ = t.await;
    }
    let listeners = if port == 0 { Vec::new() } else { bind_tcp(bind, port, backlog)? };
    let mut tasks = Vec::new();
    for l in listeners {
        let l = TcpListener::from_std(l).map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(accept_tcp(server.clone(), l)));
    }
    *server.tcp_tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
    server.tcp_port.store(port, Relaxed);
    Ok(())
}

/// Waits for the next connection of a listener, logging and backing off on errors
/// (out of file descriptors and the like) instead of spinning.
async fn next_conn<S, A, F>(accept: impl Fn() -> F) -> (S, A)
where
    F: std::future::Future<Output = std::io::Result<(S, A)>>,
{
    loop {
        match accept().await {
            Ok(x) => {
                stats::incr(Stat::ConnectionsReceived);
                return x;
            }
            Err(e) => {
                crate::warning!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Accepts TCP connections forever.
pub async fn accept_tcp(server: Arc<Server>, listener: TcpListener) {
    let laddr = listener.local_addr().map(|a| fmt_addr(&a)).unwrap_or_default();
    loop {
        let (sock, peer) = next_conn(|| listener.accept()).await;
        let _ = sock.set_nodelay(true);
        let keepalive = server.knobs.tcp_keepalive_s.load(Relaxed);
        if keepalive > 0 {
            let ka = TcpKeepalive::new()
                .with_time(Duration::from_secs(keepalive as u64))
                .with_interval(Duration::from_secs((keepalive as u64 / 3).max(1)))
                .with_retries(3);
            let _ = SockRef::from(&sock).set_tcp_keepalive(&ka);
        }
        let local = peer.ip().is_loopback();
        let fd = sock.as_raw_fd();
        let laddr = sock.local_addr().map(|a| fmt_addr(&a)).unwrap_or_else(|_| laddr.clone());
        admit(&server, Stream::Tcp(sock), fmt_addr(&peer), laddr, fd, local, false).await;
    }
}

/// Accepts Unix-socket connections forever.
pub async fn accept_unix(server: Arc<Server>, listener: UnixListener, path: String) {
    loop {
        let (sock, _) = next_conn(|| listener.accept()).await;
        let fd = sock.as_raw_fd();
        admit(&server, Stream::Unix(sock), format!("{path}:0"), path.clone(), fd, true, true).await;
    }
}

/// Applies maxclients and protected mode, then starts serving the connection.
async fn admit(server: &Arc<Server>, stream: Stream, addr: String, laddr: String, fd: i32, local: bool, unix: bool) {
    let maxclients = server.knobs.maxclients.load(Relaxed);
    if server.clients.len() >= maxclients {
        stats::incr(Stat::RejectedConnections);
        refuse(stream, MAXCLIENTS_ERROR).await;
        return;
    }
    if server.knobs.protected_mode.load(Relaxed) && !server.knobs.has_password.load(Relaxed) && !local {
        stats::incr(Stat::RejectedConnections);
        refuse(stream, DENIED.as_bytes()).await;
        return;
    }
    let now = redoubt_engine::clock::now_ms();
    let client = Arc::new(ClientShared::new(server.clients.next_id(), addr, laddr, fd, unix, now));
    server.clients.add(client.clone());
    tokio::spawn(serve(server.clone(), stream, client));
}

/// Writes a refusal and closes, without waiting long for a slow peer.
async fn refuse(stream: Stream, msg: &[u8]) {
    let write = async {
        match stream {
            Stream::Tcp(mut s) => {
                let _ = s.write_all(msg).await;
            }
            Stream::Unix(mut s) => {
                let _ = s.write_all(msg).await;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(100), write).await;
}

fn fmt_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("{}:{}", v.ip(), v.port()),
    }
}
