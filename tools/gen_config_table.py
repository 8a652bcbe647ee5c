#!/usr/bin/env python3
"""Regenerates crates/server/src/config/generated.rs: every Redis 7.0 config directive
with its type, bounds, enum values, default and mutability, probed from the reference
server itself (so CONFIG GET/SET and redis.conf parsing validate exactly as Redis does).

How: for each directive from CONFIG GET *, send CONFIG SET with an invalid value and read
the error Redis gives (yes/no, integer with bounds, memory value, one of a list, or
immutable); immutable directives are probed by starting redis-server with the bad value
on its command line and reading the fatal config error. Directives whose syntax is not
one of the plain types are marked Special and handled by hand in config/special.rs.

Usage: tools/gen_config_table.py   (needs redis-server 7.0 on PATH; uses ports 7300-7301)
"""
import os, re, socket, subprocess, sys, time

ALIASES = {  # alias -> canonical, as Redis 7.0 declares them
    "slaveof": "replicaof", "slave-serve-stale-data": "replica-serve-stale-data",
    "slave-read-only": "replica-read-only", "slave-ignore-maxmemory": "replica-ignore-maxmemory",
    "slave-lazy-flush": "replica-lazy-flush", "slave-priority": "replica-priority",
    "slave-announce-ip": "replica-announce-ip", "slave-announce-port": "replica-announce-port",
    "repl-ping-slave-period": "repl-ping-replica-period", "min-slaves-to-write": "min-replicas-to-write",
    "min-slaves-max-lag": "min-replicas-max-lag", "cluster-slave-validity-factor": "cluster-replica-validity-factor",
    "cluster-slave-no-failover": "cluster-replica-no-failover", "hash-max-ziplist-entries": "hash-max-listpack-entries",
    "hash-max-ziplist-value": "hash-max-listpack-value", "list-max-ziplist-size": "list-max-listpack-size",
    "zset-max-ziplist-entries": "zset-max-listpack-entries", "zset-max-ziplist-value": "zset-max-listpack-value",
    "lua-time-limit": "busy-reply-threshold",
}
# Directives with their own syntax (several words, units, side effects): handled by hand.
SPECIAL = {"bind", "save", "client-output-buffer-limit", "notify-keyspace-events", "oom-score-adj-values",
           "latency-tracking-info-percentiles", "dir", "unixsocketperm", "replicaof", "requirepass",
           "masterauth", "logfile", "pidfile", "ignore-warnings", "shutdown-on-sigint", "shutdown-on-sigterm",
           "tls-protocols", "tls-ciphers", "tls-ciphersuites", "bind-source-addr", "proc-title-template",
           "unixsocket", "aclfile", "syslog-ident", "cluster-config-file", "dbfilename", "appendfilename",
           "appenddirname", "cluster-announce-hostname", "cluster-announce-ip", "replica-announce-ip", "masteruser",
           "server_cpulist", "bio_cpulist", "aof_rewrite_cpulist", "bgsave_cpulist", "supervised"}

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port)); self.buf = b""
    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out); return self.read()
    def line(self):
        while b"\r\n" not in self.buf: self.buf += self.s.recv(65536)
        l, self.buf = self.buf.split(b"\r\n", 1); return l
    def read(self):
        l = self.line(); t, r = l[:1], l[1:]
        if t == b"+": return r.decode()
        if t == b"-": return Exception(r.decode())
        if t == b":": return int(r)
        if t == b"$":
            n = int(r)
            if n < 0: return None
            while len(self.buf) < n + 2: self.buf += self.s.recv(65536)
            d, self.buf = self.buf[:n], self.buf[n + 2:]; return d.decode()
        if t == b"*": return [self.read() for _ in range(int(r))]
        raise RuntimeError(t)

def startup_error(name, value):
    p = subprocess.run(["redis-server", "--port", "7301", "--save", "", "--" + name, value],
                       capture_output=True, text=True, timeout=5)
    lines = (p.stdout + p.stderr).strip().splitlines()
    return lines[-1] if lines and "FATAL" in p.stdout + p.stderr else None

def classify(err):
    if err is None: return ("string",)
    if "must be 'yes' or 'no'" in err: return ("bool",)
    if "couldn't be parsed into an integer" in err: return ("int",)
    if "must be a memory value" in err: return ("memory",)
    m = re.search(r"must be one of the following: (.*)$", err)
    if m: return ("enum", [v.strip() for v in m.group(1).split(",")])
    return ("unknown", err)

def bounds(c, name, immutable):
    lo = hi = None
    # Memory values cannot be negative, so their lower bound shows only with "0".
    for probe in ("-9223372036854775807", "9223372036854775807", "0"):
        err = startup_error(name, probe) if immutable else c.cmd("CONFIG", "SET", name, probe)
        msg = str(err) if err is not None else ""
        m = re.search(r"between (-?\d+) and (-?\d+) inclusive", msg)
        if m: lo, hi = int(m.group(1)), int(m.group(2)); break
    return lo, hi

def rs(s): return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

def main():
    srv = subprocess.Popen(["redis-server", "--port", "7300", "--save", "", "--appendonly", "no"],
                           stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        c = Conn(7300)
        flat = c.cmd("CONFIG", "GET", "*")
        defaults = dict(zip(flat[0::2], flat[1::2]))
        defaults["port"] = "6379"; defaults["dir"] = ""; defaults["logfile"] = ""; defaults["pidfile"] = ""
        defaults["daemonize"] = "no"; defaults["save"] = "3600 1 300 100 60 10000"
        rows = []
        for name in sorted(defaults):
            if name in ALIASES: continue
            default = defaults[name]
            if name in SPECIAL:
                # Setting the current value again reveals only mutability.
                err = c.cmd("CONFIG", "SET", name, defaults[name])
                immutable = isinstance(err, Exception) and "immutable" in str(err)
                rows.append((name, ("special",), default, immutable)); continue
            err = c.cmd("CONFIG", "SET", name, "%%bad%%")
            immutable = isinstance(err, Exception) and "immutable" in str(err)
            if immutable:
                kind = classify(startup_error(name, "%%bad%%"))
            elif isinstance(err, Exception):
                kind = classify(str(err))
            else:
                kind = ("string",); c.cmd("CONFIG", "SET", name, default)
            if kind[0] in ("int", "memory"):
                kind = kind + bounds(c, name, immutable)
            rows.append((name, kind, default, immutable))
        out = ["// @generated by tools/gen_config_table.py from redis-server 7.0 (CONFIG GET/SET probes).",
               "// Do not edit by hand: rerun the script.", "use super::table::{Directive, Kind};", "",
               "/// Every Redis 7.0 directive: name, aliases, type, default, mutable at runtime.",
               "pub static DIRECTIVES: &[Directive] = &["]
        for name, kind, default, immutable in rows:
            aliases = [a for a, n in ALIASES.items() if n == name]
            k = kind[0]
            if k == "bool": ks = "Kind::Bool"
            elif k in ("int", "memory"):
                lo = kind[1] if kind[1] is not None else -(2**63) + 1
                hi = kind[2] if kind[2] is not None else 2**63 - 1
                ks = "Kind::%s { min: %d, max: %d }" % ("Int" if k == "int" else "Memory", lo, hi)
            elif k == "enum": ks = "Kind::Enum(&[%s])" % ", ".join(rs(v) for v in kind[1])
            elif k == "string": ks = "Kind::Str"
            else: ks = "Kind::Special"
            out.append("    Directive { name: %s, aliases: &[%s], kind: %s, default: %s, mutable: %s }," %
                       (rs(name), ", ".join(rs(a) for a in aliases), ks, rs(default), "false" if immutable else "true"))
        out.append("];")
        path = os.path.join(os.path.dirname(__file__), "..", "crates", "server", "src", "config", "generated.rs")
        open(path, "w").write("\n".join(out) + "\n")
        print("wrote %d directives" % len(rows))
    finally:
        srv.terminate(); srv.wait()

main()
