#!/usr/bin/env python3
"""Side-by-side benchmark of Redoubt against real redis-server (DESIGN.md section 5).

Starts both servers with the same settings on free loopback ports, runs the
measurements alternating between them, and reports Redoubt/Redis ratios.
Python 3 standard library only.  See bench/README.md for the method.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")

TESTS = ["SET", "GET", "INCR", "MSET"]
# redis-benchmark --csv names the MSET test "MSET (10 keys)".
CSV_NAME = {"SET": "SET", "GET": "GET", "INCR": "INCR", "MSET (10 keys)": "MSET"}
SERVERS = ["redoubt", "redis"]

START_TIMEOUT = 15.0  # seconds for a server to answer PING
STOP_TIMEOUT = 10.0  # seconds for a server to exit after SIGTERM before SIGKILL
IO_TIMEOUT = 60.0  # seconds for any single socket operation


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Small RESP client (enough for PING / INFO / FLUSHALL / pipelined SET)


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise BenchError("server closed the connection")
        self.buf += data

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2 :]
                return line
            self._fill()

    def read_reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b":"):
            return rest
        if t == b"-":
            raise BenchError("server error: " + rest.decode(errors="replace"))
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2 :]
            return data
        if t == b"*":
            n = int(rest)
            return [self.read_reply() for _ in range(max(n, 0))]
        raise BenchError("unexpected reply %r" % line[:80])

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self.read_reply()

    def skip_ok_replies(self, count):
        """Consume `count` '+OK\\r\\n' replies quickly (used by the bulk loader)."""
        need = 5 * count
        while len(self.buf) < need:
            self._fill()
        chunk, self.buf = self.buf[:need], self.buf[need:]
        if chunk != b"+OK\r\n" * count:
            raise BenchError("bulk load: unexpected reply %r" % chunk[:80])


def info_field(port, section, field):
    c = Conn(port)
    try:
        text = c.call("INFO", section).decode()
    finally:
        c.close()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise BenchError("INFO %s has no %s field" % (section, field))


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                parts = line.split()
                assert parts[2] == "kB"
                return int(parts[1]) * 1024
    raise BenchError("no VmRSS for pid %d" % pid)


# --------------------------------------------------------------------------------------------
# Server processes


def free_port():
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port != 6379:
            return port


def affinity_preexec(cpus):
    if not cpus:
        return None

    def fn():
        os.sched_setaffinity(0, cpus)

    return fn


class Server:
    """One server process in its own temp dir; stop() kills it by PID."""

    LIVE = []  # every started server, so cleanup can find them

    def __init__(self, kind, binary, cpus):
        self.kind = kind
        self.binary = binary
        self.cpus = cpus
        self.proc = None
        self.dir = None
        self.port = None

    def start(self):
        last_err = None
        for _attempt in range(3):
            self.dir = tempfile.mkdtemp(prefix="redoubt-bench-%s-" % self.kind)
            self.port = free_port()
            args = [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--maxclients", "10100",
                "--dir", self.dir,
                "--daemonize", "no",
                "--protected-mode", "no",
                "--enable-debug-command", "yes",
            ]  # fmt: skip
            self.logpath = os.path.join(self.dir, "server.log")
            self.logf = open(self.logpath, "wb")
            self.proc = subprocess.Popen(
                args,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=self.logf,
                stderr=subprocess.STDOUT,
                preexec_fn=affinity_preexec(self.cpus),
            )
            Server.LIVE.append(self)
            try:
                self._wait_ready()
                return self
            except BenchError as e:
                last_err = e
                self.stop()
        raise BenchError("could not start %s (%s): %s\n--- log tail ---\n%s" % (
            self.kind, self.binary, last_err, self.log_tail()))  # fmt: skip

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("exited with status %s" % self.proc.returncode)
            try:
                c = Conn(self.port, timeout=2.0)
                try:
                    if c.call("PING") == b"PONG":
                        return
                finally:
                    c.close()
            except (OSError, BenchError):
                pass
            time.sleep(0.05)
        raise BenchError("no PONG within %.0fs" % START_TIMEOUT)

    def log_tail(self, n=20):
        try:
            with open(self.logpath, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
        if self in Server.LIVE:
            Server.LIVE.remove(self)
        try:
            self.logf.close()
        except Exception:
            pass
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    @classmethod
    def stop_all(cls):
        for s in list(cls.LIVE):
            try:
                s.stop()
            except Exception as e:  # keep going: every PID must be stopped
                log("warning: stopping %s pid %s: %s" % (s.kind, s.pid, e))
                try:
                    s.proc.kill()
                except Exception:
                    pass


# --------------------------------------------------------------------------------------------
# 1. redis-benchmark throughput / p99


def proc_cpu_seconds(pid):
    """utime + stime of a whole process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_redis_benchmark(opts, srv, test, pipeline, requests):
    """One redis-benchmark run of one test against one server; returns its CSV row plus
    the CPU seconds the server and redis-benchmark used during it."""
    cmd = [
        opts.redis_benchmark,
        "-h", "127.0.0.1", "-p", str(srv.port),
        "-t", test.lower(),
        "-c", str(opts.clients),
        "-P", str(pipeline),
        "-n", str(requests),
        "-r", str(opts.keyspace),
        "--csv",
    ]  # fmt: skip
    if opts.threads:
        cmd += ["--threads", str(opts.threads)]
    # Generous bound: a run at 5k rps would still finish well within it.
    timeout = 60 + requests / 5000.0
    srv_cpu0, cli_cpu0, t0 = proc_cpu_seconds(srv.pid), children_cpu_seconds(), time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=affinity_preexec(opts.client_cpus),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BenchError("redis-benchmark timed out after %.0fs: %s" % (timeout, shlex.join(cmd)))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    wall = time.monotonic() - t0
    srv_cpu, cli_cpu = proc_cpu_seconds(srv.pid) - srv_cpu0, children_cpu_seconds() - cli_cpu0
    if proc.returncode != 0:
        raise BenchError("redis-benchmark failed (%s): %s\n%s" % (
            proc.returncode, shlex.join(cmd), err.decode(errors="replace")[-2000:]))  # fmt: skip
    header = None
    for line in out.decode().splitlines():
        fields = [f.strip('"') for f in line.split('","')]
        if header is None and fields and fields[0] == "test":
            header = fields
            continue
        if header and len(fields) == len(header) and CSV_NAME.get(fields[0]) == test:
            rec = dict(zip(header, fields))
            return {
                "rps": float(rec["rps"]),
                "p99_ms": float(rec["p99_latency_ms"]),
                "p50_ms": float(rec["p50_latency_ms"]),
                "avg_ms": float(rec["avg_latency_ms"]),
                "max_ms": float(rec["max_latency_ms"]),
                "wall_s": wall,
                "server_cpu_s": srv_cpu,
                "client_cpu_s": cli_cpu,
                # server CPU per request in microseconds (MSET: per MSET command of 10 keys)
                "server_cpu_us_per_req": srv_cpu * 1e6 / requests,
                "cmd": shlex.join(cmd),
            }
    raise BenchError("redis-benchmark output lacks %s:\n%s\n%s" % (
        test, out.decode(errors="replace"), err.decode(errors="replace")))  # fmt: skip


def bench_throughput(opts, raw):
    """R rounds.  Both servers live for the whole section.  In each round, for each pipeline
    depth, each server's keyspace is flushed, then the tests run in the order SET, GET,
    INCR, MSET (GET reads what SET wrote), and every test runs on both servers back to back
    -- so the two numbers of a pair are seconds apart.  Who goes first flips with every
    test and every round."""
    servers = {k: Server(k, opts.bin[k], opts.server_cpus).start() for k in SERVERS}
    log("throughput: redoubt pid %d port %d, redis pid %d port %d" % (
        servers["redoubt"].pid, servers["redoubt"].port, servers["redis"].pid, servers["redis"].port))  # fmt: skip
    samples = {}  # (P, test, server) -> list of row dicts, index = round
    try:
        for rnd in range(opts.rounds):
            for pipeline, requests in ((1, opts.n_p1), (16, opts.n_p16)):
                for srv in servers.values():
                    c = Conn(srv.port)
                    try:
                        c.call("FLUSHALL")
                    finally:
                        c.close()
                for i, t in enumerate(TESTS):
                    order = SERVERS if (rnd + i) % 2 == 0 else SERVERS[::-1]
                    for kind in order:
                        srv = servers[kind]
                        row = run_redis_benchmark(opts, srv, t, pipeline, requests)
                        if not srv.alive():
                            raise BenchError("%s died during redis-benchmark:\n%s" % (kind, srv.log_tail()))
                        row.update({"round": rnd, "server": kind, "pipeline": pipeline, "test": t})
                        raw["throughput_runs"].append(row)
                        samples.setdefault((pipeline, t, kind), []).append(row)
                    a, b = samples[(pipeline, t, "redoubt")][-1], samples[(pipeline, t, "redis")][-1]
                    log("  round %d %-4s P%-2d  redoubt %9.0f rps p99 %7.3f cpu %5.2fus/req | "
                        "redis %9.0f rps p99 %7.3f cpu %5.2fus/req | ratio %.2f" % (
                            rnd + 1, t, pipeline, a["rps"], a["p99_ms"], a["server_cpu_us_per_req"],
                            b["rps"], b["p99_ms"], b["server_cpu_us_per_req"], a["rps"] / b["rps"]))  # fmt: skip
    finally:
        for s in servers.values():
            s.stop()
    result = []
    for pipeline in (1, 16):
        for t in TESTS:
            a = samples[(pipeline, t, "redoubt")]
            b = samples[(pipeline, t, "redis")]

            def med(rows, field):
                return statistics.median(x[field] for x in rows)

            per_round = [x["rps"] / y["rps"] for x, y in zip(a, b)]
            result.append({
                "test": t,
                "pipeline": pipeline,
                "redoubt_rps": med(a, "rps"),
                "redis_rps": med(b, "rps"),
                "rps_ratio": med(a, "rps") / med(b, "rps"),
                "rps_ratio_per_round": per_round,
                "rps_ratio_paired_median": statistics.median(per_round),
                "redoubt_p99_ms": med(a, "p99_ms"),
                "redis_p99_ms": med(b, "p99_ms"),
                "p99_ratio": med(a, "p99_ms") / med(b, "p99_ms") if med(b, "p99_ms") > 0 else float("nan"),
                "redoubt_cpu_us_per_req": med(a, "server_cpu_us_per_req"),
                "redis_cpu_us_per_req": med(b, "server_cpu_us_per_req"),
                "cpu_ratio": med(a, "server_cpu_us_per_req") / max(med(b, "server_cpu_us_per_req"), 1e-9),
                "redoubt_client_cpu_s": med(a, "client_cpu_s"),
                "redis_client_cpu_s": med(b, "client_cpu_s"),
            })  # fmt: skip
    return result


# --------------------------------------------------------------------------------------------
# 2. bytes per key


def bulk_load(port, nkeys, batch=10000):
    c = Conn(port)
    try:
        for start in range(0, nkeys, batch):
            end = min(start + batch, nkeys)
            # 10-byte key k%09d, 16-byte value v%015d
            payload = b"".join(
                b"*3\r\n$3\r\nSET\r\n$10\r\nk%09d\r\n$16\r\nv%015d\r\n" % (i, i) for i in range(start, end)
            )
            c.sock.sendall(payload)
            c.skip_ok_replies(end - start)
        n = int(c.call("DBSIZE"))
    finally:
        c.close()
    if n != nkeys:
        raise BenchError("bulk load: DBSIZE %d, expected %d" % (n, nkeys))


def measure_bytes_per_key(opts, kind):
    srv = Server(kind, opts.bin[kind], opts.server_cpus).start()
    try:
        time.sleep(opts.settle)
        rss0 = rss_bytes(srv.pid)
        used0 = info_field(srv.port, "memory", "used_memory")
        t0 = time.monotonic()
        bulk_load(srv.port, opts.keys)
        load_s = time.monotonic() - t0
        time.sleep(opts.settle)
        rss1 = rss_bytes(srv.pid)
        used1 = info_field(srv.port, "memory", "used_memory")
        if not srv.alive():
            raise BenchError("%s died during bulk load:\n%s" % (kind, srv.log_tail()))
    finally:
        srv.stop()
    return {
        "rss_before": rss0,
        "rss_after": rss1,
        "used_memory_before": used0,
        "used_memory_after": used1,
        "rss_per_key": (rss1 - rss0) / opts.keys,
        "used_memory_per_key": (used1 - used0) / opts.keys,
        "load_seconds": load_s,
    }


# --------------------------------------------------------------------------------------------
# 3. RSS per idle connection


def open_idle_connections(port, n, batch=200):
    socks = []
    try:
        for start in range(0, n, batch):
            group = []
            for _ in range(min(batch, n - start)):
                s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
                group.append(s)
                socks.append(s)
            for s in group:
                s.sendall(b"PING\r\n")
            for s in group:
                got = b""
                while not got.endswith(b"\r\n"):
                    d = s.recv(64)
                    if not d:
                        raise BenchError("connection %d closed before PONG (%r)" % (len(socks), got))
                    got += d
                if got != b"+PONG\r\n":
                    raise BenchError("connection %d: expected +PONG, got %r" % (len(socks), got[:80]))
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def measure_conn_rss(opts, kind):
    srv = Server(kind, opts.bin[kind], opts.server_cpus).start()
    socks = []
    try:
        time.sleep(opts.settle)
        rss0 = rss_bytes(srv.pid)
        socks = open_idle_connections(srv.port, opts.conns)
        time.sleep(opts.settle)
        rss1 = rss_bytes(srv.pid)
        connected = info_field(srv.port, "clients", "connected_clients")
        if connected < opts.conns:
            raise BenchError("%s reports connected_clients=%d, expected >= %d" % (kind, connected, opts.conns))
    finally:
        for s in socks:
            s.close()
        srv.stop()
    return {"rss_before": rss0, "rss_after": rss1, "connected_clients": connected, "rss_per_conn": (rss1 - rss0) / opts.conns}


def bench_memory(opts, raw):
    samples = {"keys": {k: [] for k in SERVERS}, "conns": {k: [] for k in SERVERS}}
    for rnd in range(opts.mem_rounds):
        order = SERVERS if rnd % 2 == 0 else SERVERS[::-1]
        for kind in order:
            r = measure_bytes_per_key(opts, kind)
            samples["keys"][kind].append(r)
            log("  round %d bytes/key  %-7s  RSS %.1f  used_memory %.1f  (load %.1fs)" % (
                rnd + 1, kind, r["rss_per_key"], r["used_memory_per_key"], r["load_seconds"]))  # fmt: skip
        for kind in order:
            r = measure_conn_rss(opts, kind)
            samples["conns"][kind].append(r)
            log("  round %d bytes/conn %-7s  RSS %.1f  (connected_clients %d)" % (
                rnd + 1, kind, r["rss_per_conn"], r["connected_clients"]))  # fmt: skip
    raw["memory_runs"] = samples

    def med(section, kind, field):
        return statistics.median(x[field] for x in samples[section][kind])

    out = {}
    for field, label in (("rss_per_key", "keys"), ("used_memory_per_key", "keys"), ("rss_per_conn", "conns")):
        a, b = med(label, "redoubt", field), med(label, "redis", field)
        out[field] = {"redoubt": a, "redis": b, "ratio": a / b if b else float("nan")}
    return out


# --------------------------------------------------------------------------------------------
# Report


def fmt_rps(x):
    return "{:,.0f}".format(x)


def render(opts, cmdline, env, tp, mem):
    L = []
    L.append("Command: `%s`" % cmdline)
    L.append("")
    L.append("%s; %s; %s" % (env["date"], env["host"], env["cpus"]))
    L.append("Redoubt: %s, %s, checkout %s  |  Redis: %s" % (
        env["redoubt_binary"], env["redoubt_version"], env["git_head"], env["redis_version"]))  # fmt: skip
    L.append(
        "redis-benchmark -c %d -r %d, -n %d (P1) / %d (P16)%s; %d round(s), alternating; "
        "median per server, ratio = Redoubt / Redis.  Pinning: %s." % (
            opts.clients, opts.keyspace, opts.n_p1, opts.n_p16,
            (", --threads %d" % opts.threads) if opts.threads else "",
            opts.rounds, env["pinning"]))  # fmt: skip
    L.append("")
    if tp is not None:
        L.append("| Test | Redoubt rps | Redis rps | rps ratio (≥1 good) | per-round ratios "
                 "| Redoubt p99 ms | Redis p99 ms | p99 ratio (≤1 good) |")  # fmt: skip
        L.append("|---|---:|---:|---:|---|---:|---:|---:|")
        for r in tp:
            L.append("| %s P%d | %s | %s | **%.2f** | %s | %.3f | %.3f | **%.2f** |" % (
                r["test"], r["pipeline"], fmt_rps(r["redoubt_rps"]), fmt_rps(r["redis_rps"]), r["rps_ratio"],
                " ".join("%.2f" % x for x in r["rps_ratio_per_round"]),
                r["redoubt_p99_ms"], r["redis_p99_ms"], r["p99_ratio"]))  # fmt: skip
        L.append("")
        L.append("Server CPU time (utime+stime, all threads) per request, median; "
                 "less sensitive to a noisy machine than rps (lower is better):")  # fmt: skip
        L.append("")
        L.append("| Test | Redoubt µs/req | Redis µs/req | ratio |")
        L.append("|---|---:|---:|---:|")
        for r in tp:
            L.append("| %s P%d | %.2f | %.2f | %.2f |" % (
                r["test"], r["pipeline"], r["redoubt_cpu_us_per_req"], r["redis_cpu_us_per_req"], r["cpu_ratio"]))  # fmt: skip
        L.append("")
    if mem is not None:
        L.append("%d key(s) of 10 bytes with 16-byte values; %d idle connection(s), each after one PING; "
                 "%d round(s), fresh servers each time, median." % (opts.keys, opts.conns, opts.mem_rounds))  # fmt: skip
        L.append("")
        L.append("| Memory | Redoubt | Redis | ratio (lower is better) |")
        L.append("|---|---:|---:|---:|")
        for field, label in (
            ("rss_per_key", "bytes/key (ΔRSS)"),
            ("used_memory_per_key", "bytes/key (Δused_memory)"),
            ("rss_per_conn", "bytes/idle connection (ΔRSS)"),
        ):
            m = mem[field]
            L.append("| %s | %.1f | %.1f | **%.2f** |" % (label, m["redoubt"], m["redis"], m["ratio"]))
        L.append("")
    return "\n".join(L)


def version_of(binary):
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, timeout=10).stdout
        return out.decode(errors="replace").strip()
    except Exception as e:
        return "unknown (%s)" % e


def binary_stamp(path):
    st = os.stat(path)
    return "%s (built %s)" % (os.path.relpath(path, REPO) if path.startswith(REPO) else path,
                              datetime.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M:%S"))  # fmt: skip


def git_head():
    try:
        out = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                             capture_output=True, timeout=10)  # fmt: skip
        return out.stdout.decode().strip() or "unknown"
    except Exception:
        return "unknown"


def parse_cpus(text):
    cpus = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            cpus.update(range(int(a), int(b) + 1))
        elif part:
            cpus.add(int(part))
    return cpus


def resolve_binary(path, what, hint):
    if os.sep in path:
        found = path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    else:
        found = shutil.which(path)
    if not found:
        raise BenchError("%s binary not found: %s\n  %s" % (what, path, hint))
    return os.path.abspath(found)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redoubt", default=os.path.join(REPO, "target", "release", "redoubt-server"),
                    help="redoubt-server binary (default: target/release/redoubt-server)")  # fmt: skip
    ap.add_argument("--redis", default="redis-server", help="redis-server binary (default: from PATH)")
    ap.add_argument("--redis-benchmark", default="redis-benchmark", help="redis-benchmark binary")
    ap.add_argument("--rounds", type=int, default=None, help="throughput rounds (default 3; 1 with --quick)")
    ap.add_argument("--mem-rounds", type=int, default=None, help="memory rounds (default: same as --rounds)")
    ap.add_argument("--threads", type=int, default=0, help="pass --threads N to redis-benchmark")
    ap.add_argument("--clients", type=int, default=50, help="redis-benchmark -c (default 50)")
    ap.add_argument("--n-p1", type=int, default=None, help="requests per test at -P 1 (default 200000)")
    ap.add_argument("--n-p16", type=int, default=None, help="requests per test at -P 16 (default 1000000)")
    ap.add_argument("--keyspace", type=int, default=1000000, help="redis-benchmark -r (default 1000000)")
    ap.add_argument("--keys", type=int, default=None, help="keys for bytes/key (default 1000000)")
    ap.add_argument("--conns", type=int, default=None, help="idle connections (default 10000)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before each RSS reading (default 1)")
    ap.add_argument("--pin", action="store_true",
                    help="pin every server to CPU 1 and redis-benchmark to CPU 0 (same for both servers)")  # fmt: skip
    ap.add_argument("--server-cpus", help="CPU list for the servers, e.g. 1 or 2-3 (implies pinning)")
    ap.add_argument("--client-cpus", help="CPU list for redis-benchmark, e.g. 0 (implies pinning)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, small -n, 100k keys, 1000 conns")
    ap.add_argument("--only", choices=["throughput", "memory"], help="run only one part")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    opts = ap.parse_args()

    q = opts.quick
    if opts.rounds is None:
        opts.rounds = 1 if q else 3
    if opts.mem_rounds is None:
        opts.mem_rounds = opts.rounds
    if opts.n_p1 is None:
        opts.n_p1 = 20000 if q else 200000
    if opts.n_p16 is None:
        opts.n_p16 = 100000 if q else 1000000
    if opts.keys is None:
        opts.keys = 100000 if q else 1000000
    if opts.conns is None:
        opts.conns = 1000 if q else 10000
    if opts.rounds < 1 or opts.mem_rounds < 1:
        ap.error("--rounds and --mem-rounds must be >= 1")

    server_cpus = parse_cpus(opts.server_cpus) if opts.server_cpus else ({1} if opts.pin else None)
    client_cpus = parse_cpus(opts.client_cpus) if opts.client_cpus else ({0} if opts.pin else None)
    avail = os.sched_getaffinity(0)
    for name, cpus in (("server", server_cpus), ("client", client_cpus)):
        if cpus is not None and not cpus <= avail:
            ap.error("%s CPUs %s not available (have %s)" % (name, sorted(cpus), sorted(avail)))
    opts.server_cpus, opts.client_cpus = server_cpus, client_cpus

    cmdline = shlex.join([os.path.relpath(sys.argv[0]) if os.path.exists(sys.argv[0]) else sys.argv[0]]
                         + sys.argv[1:])  # fmt: skip
    cmdline = "python3 " + cmdline

    try:
        opts.bin = {
            "redoubt": resolve_binary(opts.redoubt, "redoubt-server",
                                      "build it with: cargo build --release -p redoubt-server, or pass --redoubt PATH"),
            "redis": resolve_binary(opts.redis, "redis-server", "install Redis 7.0 or pass --redis PATH"),
        }  # fmt: skip
        opts.redis_benchmark = resolve_binary(opts.redis_benchmark, "redis-benchmark",
                                              "install Redis 7.0 tools or pass --redis-benchmark PATH")  # fmt: skip
    except BenchError as e:
        log("error: %s" % e)
        return 2

    # The servers inherit this limit (maxclients 10100 needs ~10132 fds) and the python
    # process itself holds the idle connections.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = opts.conns + 1000
    if hard != resource.RLIM_INFINITY and hard < want:
        log("error: RLIMIT_NOFILE hard limit %d < %d needed for %d connections" % (hard, want, opts.conns))
        return 2
    new_soft = max(soft, want, 10100 + 1000)
    if hard != resource.RLIM_INFINITY:
        new_soft = min(new_soft, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)

    pinning = "none"
    if opts.server_cpus or opts.client_cpus:
        pinning = "servers on CPU %s, redis-benchmark on CPU %s" % (
            ",".join(map(str, sorted(opts.server_cpus))) if opts.server_cpus else "any",
            ",".join(map(str, sorted(opts.client_cpus))) if opts.client_cpus else "any")  # fmt: skip
    env = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "host": "%s %s" % (platform.node(), platform.release()),
        "cpus": "%d CPU(s) online, load avg %s" % (os.cpu_count() or 0, " ".join("%.2f" % x for x in os.getloadavg())),
        "redoubt_version": version_of(opts.bin["redoubt"]),
        "redoubt_binary": binary_stamp(opts.bin["redoubt"]),
        "git_head": git_head(),
        "redis_version": version_of(opts.bin["redis"]),
        "pinning": pinning,
    }
    raw = {"command": cmdline, "env": env, "throughput_runs": [], "options": {
        k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(opts).items()}}  # fmt: skip

    # Measure one binary for the whole run even if someone rebuilds target/release meanwhile:
    # every Redoubt server of this run starts from a private copy.
    bindir = tempfile.mkdtemp(prefix="redoubt-bench-bin-")
    private = os.path.join(bindir, "redoubt-server")
    shutil.copy2(opts.bin["redoubt"], private)
    opts.bin["redoubt"] = private

    tp = mem = None
    try:
        if opts.only in (None, "throughput"):
            log("== throughput/latency (%d rounds)" % opts.rounds)
            tp = bench_throughput(opts, raw)
        if opts.only in (None, "memory"):
            log("== memory: bytes/key and bytes/idle connection (%d round(s))" % opts.mem_rounds)
            mem = bench_memory(opts, raw)
    except KeyboardInterrupt:
        log("interrupted; stopping servers")
        return 130
    except BenchError as e:
        log("error: %s" % e)
        return 1
    finally:
        Server.stop_all()
        shutil.rmtree(bindir, ignore_errors=True)

    raw["throughput"] = tp
    raw["memory"] = mem
    table = render(opts, cmdline, env, tp, mem)
    print(table, flush=True)
    if not opts.no_save:
        os.makedirs(RESULTS_DIR, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-quick" if q else "")
        md = os.path.join(RESULTS_DIR, stamp + ".md")
        js = os.path.join(RESULTS_DIR, stamp + ".json")
        with open(md, "w") as f:
            f.write(table + "\n")
        with open(js, "w") as f:
            json.dump(raw, f, indent=1)
        log("wrote %s and %s" % (os.path.relpath(md), os.path.relpath(js)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        Server.stop_all()
