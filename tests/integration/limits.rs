//! The server's guards: maxclients, idle timeout, protected mode, requirepass/AUTH/HELLO
//! AUTH, maxmemory eviction and the OOM error, active expiry. Each behaviour is checked
//! on redis-server as well, so the test's expectations are the oracle's.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::{esc, info_field, int, non_loopback_ipv4, text, wait_for, Conn, Diff, ServerProcess};

fn both(args: &[&str]) -> [ServerProcess; 2] {
    [ServerProcess::redis(args), ServerProcess::redoubt(args)]
}

fn connected_clients(c: &mut Conn) -> i64 {
    info_field(&text(&c.val(&["INFO", "clients"])), "connected_clients").and_then(|v| v.parse().ok()).unwrap_or(-1)
}

#[test]
fn maxclients_rejects_the_extra_client() {
    for s in both(&["--maxclients", "3"]) {
        let name = s.flavor.name();
        let mut first = s.conn();
        // The start-up probe's connection may still be closing; wait until only we remain.
        wait_for("the probe connection to go", Duration::from_secs(5), || connected_clients(&mut first) == 1);
        let mut kept: Vec<Conn> = (0..2).map(|_| s.conn()).collect();
        for c in kept.iter_mut() {
            assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n", "{name}");
        }
        let mut extra = s.conn();
        let got = extra.expect_closed(Duration::from_secs(5));
        assert_eq!(esc(&got), esc(b"-ERR max number of clients reached\r\n"), "{name}");
        // The others are unaffected, and a slot frees up when one leaves.
        assert_eq!(first.cmd(&["PING"]), b"+PONG\r\n", "{name}");
        kept.pop();
        wait_for("a slot to free up", Duration::from_secs(5), || connected_clients(&mut first) == 2);
        let mut again = s.conn();
        assert_eq!(again.cmd(&["PING"]), b"+PONG\r\n", "{name}");
    }
}

#[test]
fn idle_timeout_closes_idle_clients_only() {
    for s in both(&["--timeout", "1"]) {
        let name = s.flavor.name();
        let mut idle = s.conn();
        let mut busy = s.conn();
        assert_eq!(idle.cmd(&["PING"]), b"+PONG\r\n");
        let t = Instant::now();
        // Keep `busy` active while `idle` sits.
        let closed = loop {
            assert_eq!(busy.cmd(&["PING"]), b"+PONG\r\n", "{name}: an active client is never closed");
            match idle.read_until_close(Duration::from_millis(200)) {
                Ok(bytes) => break bytes,
                Err(_) if t.elapsed() < Duration::from_secs(6) => continue,
                Err(e) => panic!("{name}: idle client still open after {:?}: {e}", t.elapsed()),
            }
        };
        assert_eq!(closed, b"", "{name}: closed without a reply");
        assert!(t.elapsed() >= Duration::from_millis(900), "{name}: closed too early ({:?})", t.elapsed());
        assert_eq!(busy.cmd(&["PING"]), b"+PONG\r\n", "{name}");
    }
}

const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

#[test]
fn protected_mode_denies_non_loopback_clients() {
    let Some(ip) = non_loopback_ipv4() else {
        eprintln!("SKIPPED protected_mode_denies_non_loopback_clients: this machine has no non-loopback IPv4 address");
        return;
    };
    for s in both(&["--bind", "0.0.0.0", "--protected-mode", "yes"]) {
        let name = s.flavor.name();
        let external = SocketAddr::from((ip, s.port));
        let mut c = Conn::connect(external);
        c.send(&["PING"]);
        let got = c.expect_closed(Duration::from_secs(5));
        assert_eq!(esc(&got), esc(DENIED.as_bytes()), "{name}: from {ip}");
        // Loopback is fine.
        assert_eq!(s.conn().cmd(&["PING"]), b"+PONG\r\n", "{name}");
        // With a password set, outside clients get in (and must authenticate).
        let mut local = s.conn();
        assert_eq!(local.cmd(&["CONFIG", "SET", "requirepass", "pw"]), b"+OK\r\n");
        let mut c = Conn::connect(external);
        assert_eq!(c.cmd(&["PING"]), b"-NOAUTH Authentication required.\r\n", "{name}");
        assert_eq!(c.cmd(&["AUTH", "pw"]), b"+OK\r\n", "{name}");
        assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n", "{name}");
        // Protected mode off: outside clients get in without a password.
        assert_eq!(local.cmd(&["AUTH", "pw"]), b"+OK\r\n");
        assert_eq!(local.cmd(&["CONFIG", "SET", "requirepass", ""]), b"+OK\r\n");
        assert_eq!(local.cmd(&["CONFIG", "SET", "protected-mode", "no"]), b"+OK\r\n");
        assert_eq!(Conn::connect(external).cmd(&["PING"]), b"+PONG\r\n", "{name}");
    }
    // Bound to loopback only, the external address does not even accept.
    let s = ServerProcess::redoubt(&[]);
    assert!(TcpStream::connect_timeout(&SocketAddr::from((ip, s.port)), Duration::from_secs(1)).is_err());
}

#[test]
fn requirepass_auth_and_hello_auth_match_redis() {
    let mut d = Diff::new(&["--requirepass", "secret"]);
    d.script(
        r#"
PING
GET k
SET k v
CLIENT ID
HELLO
HELLO 3
HELLO 2
AUTH wrong
AUTH default wrong
AUTH nosuchuser secret
AUTH a b c
AUTH
HELLO 3 AUTH default wrong
HELLO 3 AUTH nosuchuser secret
HELLO 2 AUTH default
GET k
AUTH secret
GET k
AUTH wrong
GET k
AUTH default secret
SET k v
GET k
"#,
    );
    // HELLO AUTH authenticates and switches protocol in one go (new connections).
    d.reconnect();
    d.check_as(crate::support::diff::Compare::Type, &["HELLO", "3", "AUTH", "default", "secret"]);
    d.check(&["GET", "nope"]);
    d.reconnect();
    d.check_as(crate::support::diff::Compare::Type, &["HELLO", "2", "AUTH", "default", "secret", "SETNAME", "me"]);
    d.check(&["CLIENT", "GETNAME"]);
    // RESET de-authenticates.
    d.check(&["RESET"]);
    d.check(&["GET", "k"]);
    // Changing the password at runtime.
    d.check(&["AUTH", "secret"]);
    d.check(&["CONFIG", "SET", "requirepass", "other"]);
    d.reconnect();
    d.check(&["GET", "k"]);
    d.check(&["AUTH", "secret"]);
    d.check(&["AUTH", "other"]);
    d.check(&["CONFIG", "SET", "requirepass", ""]);
    d.reconnect();
    d.check(&["GET", "k"]);
    d.check(&["AUTH", "x"]);
}

#[test]
fn auth_without_a_password_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
AUTH x
AUTH default x
AUTH default ""
AUTH nosuchuser x
"#,
    );
}

fn fill(c: &mut Conn, from: usize, n: usize, value: &str) -> (usize, Option<Vec<u8>>) {
    for i in from..from + n {
        let r = c.cmd(&["SET", &format!("key:{i:06}"), value]);
        if r != b"+OK\r\n" {
            return (i - from, Some(r));
        }
    }
    (n, None)
}

#[test]
fn maxmemory_allkeys_lru_evicts() {
    for s in both(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]) {
        let name = s.flavor.name();
        let mut c = s.conn();
        let value = "v".repeat(1000);
        let (written, err) = fill(&mut c, 0, 20_000, &value);
        assert_eq!(err, None, "{name}: allkeys-lru never refuses a write");
        assert_eq!(written, 20_000);
        // Eviction runs before every command: read the key count and the eviction
        // count inside one EXEC, so that none happens between the two.
        c.val(&["MULTI"]);
        c.val(&["DBSIZE"]);
        c.val(&["INFO", "stats"]);
        let both = c.val(&["EXEC"]);
        let dbsize = int(&crate::support::items(&both)[0]);
        assert!(dbsize > 100 && dbsize < 10_000, "{name}: {dbsize} keys of 1 KB under 4 MB");
        let stats = text(&crate::support::items(&both)[1]);
        let evicted: i64 = info_field(&stats, "evicted_keys").and_then(|v| v.parse().ok()).unwrap_or(0);
        assert!((evicted - (20_000 - dbsize)).abs() <= 200, "{name}: evicted_keys {evicted} with {dbsize} keys left");
        let mem = text(&c.val(&["INFO", "memory"]));
        let used: i64 = info_field(&mem, "used_memory").and_then(|v| v.parse().ok()).expect("used_memory");
        assert!(used <= 5 * 1024 * 1024, "{name}: used_memory {used} well over maxmemory");
        // The most recently written keys survive.
        assert_eq!(c.cmd(&["EXISTS", "key:019999"]), b":1\r\n", "{name}");
    }
}

#[test]
fn maxmemory_noeviction_refuses_writes_with_oom() {
    let oom = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    for s in both(&["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]) {
        let name = s.flavor.name();
        let mut c = s.conn();
        let (written, err) = fill(&mut c, 0, 20_000, &"v".repeat(1000));
        assert_eq!(err.as_deref().map(esc), Some(esc(oom)), "{name} after {written} writes");
        assert!(written > 100, "{name}: only {written} writes fit");
        // Reads, deletes and non-growing commands still work; growing ones get OOM.
        assert_eq!(c.cmd(&["GET", "key:000000"]).len(), 1000 + 9, "{name}");
        assert_eq!(esc(&c.cmd(&["APPEND", "key:000000", "x"])), esc(oom), "{name}");
        assert_eq!(esc(&c.cmd(&["INCR", "counter"])), esc(oom), "{name}");
        assert_eq!(c.cmd(&["DBSIZE"]), format!(":{written}\r\n").into_bytes(), "{name}");
        assert_eq!(c.cmd(&["DEL", "key:000000"]), b":1\r\n", "{name}");
        assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n", "{name}");
        // Raising the limit lets writes through again.
        assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), b"+OK\r\n");
        assert_eq!(c.cmd(&["SET", "after", "v"]), b"+OK\r\n", "{name}");
    }
}

#[test]
fn maxmemory_volatile_policies_only_evict_keys_with_ttl() {
    for s in both(&["--maxmemory", "4mb", "--maxmemory-policy", "volatile-ttl"]) {
        let name = s.flavor.name();
        let mut c = s.conn();
        let value = "v".repeat(1000);
        // Half the keys with a TTL, half without.
        for i in 0..1500 {
            c.cmd(&["SET", &format!("keep:{i}"), &value]);
            c.cmd(&["SET", &format!("ttl:{i}"), &value, "EX", &(10_000 + i).to_string()]);
        }
        let (_, err) = fill(&mut c, 0, 20_000, &value);
        assert!(err.is_some_and(|e| e.starts_with(b"-OOM")), "{name}: OOM once only persistent keys remain");
        for i in (0..1500).step_by(150) {
            assert_eq!(c.cmd(&["EXISTS", &format!("keep:{i}")]), b":1\r\n", "{name}: keep:{i} has no TTL");
        }
        // OOM comes only once no key with a TTL is left to evict.
        let keyspace = text(&c.val(&["INFO", "keyspace"]));
        assert!(keyspace.contains(",expires=0,"), "{name}: {keyspace}");
    }
}

#[test]
fn active_expiry_reclaims_keys_only_when_enabled() {
    for s in both(&["--hz", "100"]) {
        let name = s.flavor.name();
        let mut c = s.conn();
        assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), b"+OK\r\n", "{name}");
        for i in 0..200 {
            c.cmd(&["SET", &format!("e:{i}"), "v", "PX", "50"]);
        }
        c.cmd(&["SET", "stays", "v"]);
        std::thread::sleep(Duration::from_millis(300));
        // Untouched, the expired keys are still counted.
        assert_eq!(c.cmd(&["DBSIZE"]), b":201\r\n", "{name}: nothing reclaimed with active expiry off");
        assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), b"+OK\r\n", "{name}");
        wait_for(&format!("{name}: active expiry to reclaim 200 keys"), Duration::from_secs(10), || {
            c.cmd(&["DBSIZE"]) == b":1\r\n"
        });
        let stats = text(&c.val(&["INFO", "stats"]));
        assert_eq!(info_field(&stats, "expired_keys").as_deref(), Some("200"), "{name}");
    }
}
