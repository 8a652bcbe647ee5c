"""Shared helpers of the bench scripts (bench/run.py, bench/persist.py, bench/replication.py).

A small RESP client, server processes started on free loopback ports and stopped by
PID, one redis-benchmark run with the server's CPU time split per test, the median
and ratio arithmetic of the throughput tables, the bulk loaders of the memory rows,
and the command-line plumbing (binaries, pinning, private binary copy, results).
Python 3 standard library only.  See bench/README.md for the method.
"""

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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
DEFAULT_REDOUBT = os.path.join(REPO, "target", "release", "redoubt-server")
# The binaries' defaults may come from the environment (the options still win), e.g.
# REDOUBT_BIN=/elsewhere/target/release/redoubt-server python3 bench/run.py
ENV_REDOUBT, ENV_REDIS, ENV_REDIS_BENCHMARK = "REDOUBT_BIN", "REDIS_BIN", "REDIS_BENCHMARK_BIN"

SERVERS = ["redoubt", "redis"]

START_TIMEOUT = 15.0  # seconds for a server to answer PING
STOP_TIMEOUT = 10.0  # seconds for a server to exit after SIGTERM before SIGKILL
IO_TIMEOUT = 60.0  # seconds for any single socket operation


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Small RESP client (enough for PING / INFO / FLUSHALL / pipelined loads)


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

    def skip_replies(self, count, reply=b"+OK\r\n"):
        """Consume `count` identical replies quickly (the bulk loaders), e.g. +OK or :1."""
        need = len(reply) * count
        while len(self.buf) < need:
            self._fill()
        chunk, self.buf = self.buf[:need], self.buf[need:]
        if chunk != reply * count:
            raise BenchError("bulk load: expected %r replies, got %r" % (reply, chunk[:80]))

    def skip_ok_replies(self, count):
        self.skip_replies(count, b"+OK\r\n")


def call_once(port, *args):
    c = Conn(port)
    try:
        return c.call(*args)
    finally:
        c.close()


def info(port, section, timeout=IO_TIMEOUT):
    """INFO SECTION as a dict of strings (field -> value)."""
    c = Conn(port, timeout=timeout)
    try:
        text = c.call("INFO", section).decode(errors="replace")
    finally:
        c.close()
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def info_field(port, section, field):
    fields = info(port, section)
    if field not in fields:
        raise BenchError("INFO %s has no %s field" % (section, field))
    return int(fields[field])


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                parts = line.split()
                assert parts[2] == "kB"
                return int(parts[1]) * 1024
    raise BenchError("no VmRSS for pid %d" % pid)


def proc_cpu_seconds(pid):
    """utime + stime of a whole process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


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
    """One server process on a free loopback port; stop() stops it by PID.

    `config` is appended to the common arguments (port, bind, dir, daemonize no,
    protected-mode no, enable-debug-command yes).  With `directory=None` the server
    gets a fresh temp dir, removed on stop(); a given `directory` is kept (so a dump
    survives a restart).  stdout and stderr go to DIR/server.log (appended)."""

    LIVE = []  # every started server, so cleanup can find them

    def __init__(self, kind, binary, cpus=None, config=(), directory=None,
                 start_timeout=START_TIMEOUT, stop_timeout=STOP_TIMEOUT, poll_s=0.05):  # fmt: skip
        self.kind = kind
        self.binary = binary
        self.cpus = cpus
        self.config = list(config)
        self.own_dir = directory is None
        self.dir = directory
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.poll_s = poll_s
        self.proc = None
        self.port = None
        self.logf = None

    def start(self, wait=True):
        last_err = None
        for _attempt in range(3):
            if self.own_dir and self.dir is None:  # a restart after shutdown() keeps its dir
                self.dir = tempfile.mkdtemp(prefix="redoubt-bench-%s-" % self.kind)
            self.port = free_port()
            args = [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", self.dir,
                "--daemonize", "no",
                "--protected-mode", "no",
                "--enable-debug-command", "yes",
            ] + self.config  # fmt: skip
            self.logpath = os.path.join(self.dir, "server.log")
            self.logf = open(self.logpath, "ab")
            self.log_offset = self.logf.tell()  # log_text() shows this start's lines only
            self.started = time.monotonic()
            self.proc = subprocess.Popen(
                args,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=self.logf,
                stderr=subprocess.STDOUT,
                preexec_fn=affinity_preexec(self.cpus),
            )
            Server.LIVE.append(self)
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except BenchError as e:
                last_err = e
                tail = self.log_tail()
                self.stop()
        raise BenchError("could not start %s (%s): %s\n--- log tail ---\n%s" % (
            self.kind, self.binary, last_err, tail))  # fmt: skip

    def wait_ready(self):
        """Until PING answers PONG (not an error such as -LOADING); returns the seconds
        since the process started."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("%s exited with status %s" % (self.kind, self.proc.returncode))
            try:
                c = Conn(self.port, timeout=5.0)
                try:
                    if c.call("PING") == b"PONG":
                        return time.monotonic() - self.started
                finally:
                    c.close()
            except (OSError, BenchError):
                pass
            time.sleep(self.poll_s)
        raise BenchError("%s: no PONG within %.0fs" % (self.kind, self.start_timeout))

    def log_text(self):
        try:
            with open(self.logpath, "rb") as f:
                f.seek(self.log_offset)
                return f.read().decode(errors="replace")
        except (OSError, AttributeError):
            return ""

    def log_tail(self, n=20):
        return "\n".join(self.log_text().splitlines()[-n:]) or "(no log)"

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, keep_dir=False):
        """SIGTERM, SIGKILL after stop_timeout; removes an own temp dir unless keep_dir."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
        if self in Server.LIVE:
            Server.LIVE.remove(self)
        if self.logf is not None:
            self.logf.close()
            self.logf = None
        if self.own_dir and self.dir and not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def shutdown(self, save=True):
        """SHUTDOWN SAVE (or NOSAVE) over a connection, then waits up to stop_timeout for
        the process to exit (stop() if it does not).  The directory stays, so start()
        can start the server again on its dump.  Returns the seconds until exit."""
        t0 = time.monotonic()
        try:
            c = Conn(self.port, timeout=self.stop_timeout)
            try:
                c.call("SHUTDOWN", "SAVE" if save else "NOSAVE")
            except BenchError as e:  # the connection closing is the expected answer
                if "closed the connection" not in str(e):
                    raise
            finally:
                c.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            log("warning: %s pid %d did not exit within %.0fs of SHUTDOWN" % (self.kind, self.pid, self.stop_timeout))
        if self.proc.returncode is None:
            self.stop(keep_dir=True)
            raise BenchError("%s did not exit after SHUTDOWN:\n%s" % (self.kind, self.log_tail()))
        self.stop(keep_dir=True)
        return time.monotonic() - t0

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
                if s in cls.LIVE:
                    cls.LIVE.remove(s)


# --------------------------------------------------------------------------------------------
# redis-benchmark


class Test:
    """One row of a throughput table: a redis-benchmark `-t` test or a command line.

    name: the row label.  t: the `-t` name.  argv: a command for redis-benchmark to
    send instead (its `__rand_int__` are replaced as usual).  csv: the name
    redis-benchmark gives the row in --csv output (default: name for -t tests, the
    command joined by spaces for argv tests).  redis-benchmark may print other rows
    before it (the LRANGE tests first run "LPUSH (needed to benchmark LRANGE)"):
    they are kept in the raw data, and the server CPU they cost is not counted."""

    def __init__(self, name, t=None, argv=None, csv=None):
        assert (t is None) != (argv is None)
        self.name, self.t, self.argv = name, t, argv
        self.csv = csv or (name if t else " ".join(argv))


STDBUF = shutil.which("stdbuf")


def run_redis_benchmark(opts, srv, test, pipeline, requests, extra=()):
    """One redis-benchmark run of one test against one server.  Returns the test's CSV
    row plus the server CPU seconds spent on that test alone.

    Uses opts.redis_benchmark, opts.clients, opts.keyspace (-r; None: no -r),
    opts.threads and opts.client_cpus (None: unpinned); `extra` options (e.g. -d 16)
    go before the test.

    redis-benchmark prints each CSV row when its test ends; run under `stdbuf -oL`
    its stdout is line-buffered, so the server's CPU time is read as each row arrives
    and a preparatory test (LRANGE's LPUSH fill) is subtracted.  Without stdbuf all
    rows arrive at exit and the CPU of the whole run is counted (flagged in the row)."""
    cmd = [
        opts.redis_benchmark,
        "-h", "127.0.0.1", "-p", str(srv.port),
        "-c", str(opts.clients),
        "-P", str(pipeline),
        "-n", str(requests),
        "--csv",
    ]  # fmt: skip
    if getattr(opts, "keyspace", None):
        cmd += ["-r", str(opts.keyspace)]
    if getattr(opts, "threads", None):
        cmd += ["--threads", str(opts.threads)]
    cmd += list(extra)
    cmd += ["-t", test.t] if test.t else list(test.argv)
    # Generous bound: a run at 5k rps would still finish well within it (LRANGE runs two tests).
    timeout = 60 + 2 * requests / 5000.0
    errf = tempfile.TemporaryFile()
    srv_cpu0, cli_cpu0, t0 = proc_cpu_seconds(srv.pid), children_cpu_seconds(), time.monotonic()
    proc = subprocess.Popen(
        ([STDBUF, "-oL"] if STDBUF else []) + cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=errf,
        preexec_fn=affinity_preexec(getattr(opts, "client_cpus", None)),
    )
    fired = []

    def on_timeout():
        fired.append(True)
        proc.kill()

    timer = threading.Timer(timeout, on_timeout)
    timer.start()
    header, rows, marks = None, [], [("start", srv_cpu0, t0)]
    try:
        for raw_line in proc.stdout:
            now_cpu, now = proc_cpu_seconds(srv.pid), time.monotonic()
            fields = [f.strip('"') for f in raw_line.decode(errors="replace").strip().split('","')]
            if header is None and fields and fields[0] == "test":
                header = fields
                continue
            if header and len(fields) == len(header):
                rows.append(dict(zip(header, fields)))
                marks.append((fields[0], now_cpu, now))
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        proc.stdout.close()
        errf.seek(0)
        err = errf.read().decode(errors="replace")
        errf.close()
    wall = time.monotonic() - t0
    srv_cpu, cli_cpu = proc_cpu_seconds(srv.pid) - srv_cpu0, children_cpu_seconds() - cli_cpu0
    if fired:
        raise BenchError("redis-benchmark timed out after %.0fs: %s" % (timeout, shlex.join(cmd)))
    if proc.returncode != 0:
        raise BenchError("redis-benchmark failed (%s): %s\n%s" % (proc.returncode, shlex.join(cmd), err[-2000:]))
    for i, rec in enumerate(rows):
        if rec["test"] != test.csv:
            continue
        (_, cpu_a, t_a), (_, cpu_b, t_b) = marks[i], marks[i + 1]
        split = STDBUF is not None
        test_cpu = (cpu_b - cpu_a) if split else srv_cpu
        return {
            "rps": float(rec["rps"]),
            "p99_ms": float(rec["p99_latency_ms"]),
            "p50_ms": float(rec["p50_latency_ms"]),
            "avg_ms": float(rec["avg_latency_ms"]),
            "max_ms": float(rec["max_latency_ms"]),
            "wall_s": wall,
            "test_wall_s": (t_b - t_a) if split else wall,
            "server_cpu_s": test_cpu,
            "server_cpu_s_whole_run": srv_cpu,
            "client_cpu_s": cli_cpu,
            # server CPU per request in microseconds (MSET: per MSET command of 10 keys)
            "server_cpu_us_per_req": test_cpu * 1e6 / requests,
            "cpu_includes_other_rows": (not split) and len(rows) > 1,
            "other_rows": [r for r in rows if r["test"] != test.csv],
            "cmd": shlex.join(cmd),
        }
    raise BenchError("redis-benchmark output lacks %r: %s\nrows: %s\n%s" % (
        test.csv, shlex.join(cmd), [r["test"] for r in rows], err[-2000:]))  # fmt: skip


def flushall(servers):
    for srv in servers.values():
        call_once(srv.port, "FLUSHALL")


def bench_throughput(opts, raw, tests):
    """R rounds.  Both servers live for the whole section.  In each round, for each pipeline
    depth, each server's keyspace is flushed, then the tests run in the order given (a test
    may read what an earlier one wrote), and every test runs on both servers back to back
    -- so the two numbers of a pair are seconds apart.  Who goes first flips with every
    test and every round."""
    servers = {k: Server(k, opts.bin[k], opts.server_cpus, opts.server_config).start() for k in SERVERS}
    log("throughput: redoubt pid %d port %d, redis pid %d port %d" % (
        servers["redoubt"].pid, servers["redoubt"].port, servers["redis"].pid, servers["redis"].port))  # fmt: skip
    samples = {}  # (P, test name, server) -> list of row dicts, index = round
    try:
        for rnd in range(opts.rounds):
            for pipeline, requests in ((1, opts.n_p1), (16, opts.n_p16)):
                flushall(servers)
                for i, t in enumerate(tests):
                    order = SERVERS if (rnd + i) % 2 == 0 else SERVERS[::-1]
                    for kind in order:
                        srv = servers[kind]
                        row = run_redis_benchmark(opts, srv, t, pipeline, requests)
                        if not srv.alive():
                            raise BenchError("%s died during redis-benchmark:\n%s" % (kind, srv.log_tail()))
                        row.update({"round": rnd, "server": kind, "pipeline": pipeline, "test": t.name})
                        raw["throughput_runs"].append(row)
                        samples.setdefault((pipeline, t.name, kind), []).append(row)
                    a, b = samples[(pipeline, t.name, "redoubt")][-1], samples[(pipeline, t.name, "redis")][-1]
                    log("  round %d %-13s P%-2d  redoubt %9.0f rps p99 %7.3f cpu %5.2fus/req | "
                        "redis %9.0f rps p99 %7.3f cpu %5.2fus/req | ratio %.2f" % (
                            rnd + 1, t.name, pipeline, a["rps"], a["p99_ms"], a["server_cpu_us_per_req"],
                            b["rps"], b["p99_ms"], b["server_cpu_us_per_req"], a["rps"] / b["rps"]))  # fmt: skip
    finally:
        for s in servers.values():
            s.stop()
    return summarize_throughput(samples, tests)


def ratio(a, b):
    """a / b, nan when b is 0 (e.g. a CPU time below one clock tick)."""
    return a / b if b else float("nan")


def fmt_ratio(x, digits=2):
    return "n/a" if x != x else "%.*f" % (digits, x)


def summarize_throughput(samples, tests):
    def med(rows, field):
        return statistics.median(x[field] for x in rows)

    result = []
    for pipeline in (1, 16):
        for t in tests:
            a = samples[(pipeline, t.name, "redoubt")]
            b = samples[(pipeline, t.name, "redis")]
            per_round = [x["rps"] / y["rps"] for x, y in zip(a, b)]
            result.append({
                "test": t.name,
                "pipeline": pipeline,
                "redoubt_rps": med(a, "rps"),
                "redis_rps": med(b, "rps"),
                "rps_ratio": med(a, "rps") / med(b, "rps"),
                "rps_ratio_per_round": per_round,
                "rps_ratio_paired_median": statistics.median(per_round),
                "redoubt_p99_ms": med(a, "p99_ms"),
                "redis_p99_ms": med(b, "p99_ms"),
                "p99_ratio": ratio(med(a, "p99_ms"), med(b, "p99_ms")),
                "redoubt_cpu_us_per_req": med(a, "server_cpu_us_per_req"),
                "redis_cpu_us_per_req": med(b, "server_cpu_us_per_req"),
                # nan where Redis's CPU time was below one clock tick (small -n)
                "cpu_ratio": ratio(med(a, "server_cpu_us_per_req"), med(b, "server_cpu_us_per_req")),
                "cpu_ratio_per_round": [ratio(x["server_cpu_us_per_req"], y["server_cpu_us_per_req"])
                                        for x, y in zip(a, b)],  # fmt: skip
                "redoubt_client_cpu_s": med(a, "client_cpu_s"),
                "redis_client_cpu_s": med(b, "client_cpu_s"),
            })  # fmt: skip
    return result


def fmt_rps(x):
    return "{:,.0f}".format(x)


def render_throughput(tp):
    L = []
    L.append("| Test | Redoubt rps | Redis rps | rps ratio (≥1 good) | per-round ratios "
             "| Redoubt p99 ms | Redis p99 ms | p99 ratio (≤1 good) |")  # fmt: skip
    L.append("|---|---:|---:|---:|---|---:|---:|---:|")
    for r in tp:
        L.append("| %s P%d | %s | %s | **%.2f** | %s | %.3f | %.3f | **%s** |" % (
            r["test"], r["pipeline"], fmt_rps(r["redoubt_rps"]), fmt_rps(r["redis_rps"]), r["rps_ratio"],
            " ".join("%.2f" % x for x in r["rps_ratio_per_round"]),
            r["redoubt_p99_ms"], r["redis_p99_ms"], fmt_ratio(r["p99_ratio"])))  # fmt: skip
    L.append("")
    L.append("Server CPU time (utime+stime, all threads) per request, median; "
             "less sensitive to a noisy machine than rps (lower is better; n/a: Redis used less "
             "than one clock tick):")  # fmt: skip
    L.append("")
    L.append("| Test | Redoubt µs/req | Redis µs/req | ratio | per-round ratios |")
    L.append("|---|---:|---:|---:|---|")
    for r in tp:
        L.append("| %s P%d | %.2f | %.2f | %s | %s |" % (
            r["test"], r["pipeline"], r["redoubt_cpu_us_per_req"], r["redis_cpu_us_per_req"], fmt_ratio(r["cpu_ratio"]),
            " ".join(fmt_ratio(x) for x in r["cpu_ratio_per_round"])))  # fmt: skip
    L.append("")
    return L


# --------------------------------------------------------------------------------------------
# Bulk loading and memory


def bulk_load(port, nkeys, batch=10000):
    """nkeys plain SETs, pipelined: 10-byte keys k%09d, 16-byte values v%015d."""
    c = Conn(port)
    try:
        for start in range(0, nkeys, batch):
            end = min(start + batch, nkeys)
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


def pipelined(port, commands, reply, batch=10000):
    """Sends the encoded commands in batches of `batch`, expecting `reply` to each."""
    c = Conn(port)
    try:
        pending = []
        for cmd in commands:
            pending.append(cmd)
            if len(pending) == batch:
                c.sock.sendall(b"".join(pending))
                c.skip_replies(len(pending), reply)
                pending = []
        if pending:
            c.sock.sendall(b"".join(pending))
            c.skip_replies(len(pending), reply)
    finally:
        c.close()


def measure_load_memory(opts, kind, load, units):
    """Fresh server; settle; RSS and used_memory; load(port) -> extra info dict; settle;
    RSS and used_memory again.  Returns both deltas per unit (units = what was loaded)."""
    srv = Server(kind, opts.bin[kind], opts.server_cpus, opts.server_config).start()
    try:
        time.sleep(opts.settle)
        rss0 = rss_bytes(srv.pid)
        used0 = info_field(srv.port, "memory", "used_memory")
        t0 = time.monotonic()
        extra = load(srv.port) or {}
        load_s = time.monotonic() - t0
        time.sleep(opts.settle)
        rss1 = rss_bytes(srv.pid)
        used1 = info_field(srv.port, "memory", "used_memory")
        if not srv.alive():
            raise BenchError("%s died during the load:\n%s" % (kind, srv.log_tail()))
    finally:
        srv.stop()
    out = {
        "rss_before": rss0,
        "rss_after": rss1,
        "used_memory_before": used0,
        "used_memory_after": used1,
        "units": units,
        "rss_per_unit": (rss1 - rss0) / units,
        "used_memory_per_unit": (used1 - used0) / units,
        "load_seconds": load_s,
    }
    out.update(extra)
    return out


# --------------------------------------------------------------------------------------------
# Command line, environment, results


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


def add_binary_args(ap):
    ap.add_argument("--redoubt", default=os.environ.get(ENV_REDOUBT) or DEFAULT_REDOUBT,
                    help="redoubt-server binary (default: $%s, else target/release/redoubt-server)"
                         % ENV_REDOUBT)  # fmt: skip
    ap.add_argument("--redis", default=os.environ.get(ENV_REDIS) or "redis-server",
                    help="redis-server binary (default: $%s, else redis-server from PATH)" % ENV_REDIS)
    ap.add_argument("--redis-benchmark", default=os.environ.get(ENV_REDIS_BENCHMARK) or "redis-benchmark",
                    help="redis-benchmark binary (default: $%s, else from PATH)" % ENV_REDIS_BENCHMARK)


def resolve_binaries(opts, kinds=SERVERS):
    """Fills opts.bin (for the server kinds measured) and opts.redis_benchmark with
    absolute paths; BenchError if one is missing."""
    hints = {
        "redoubt": ("redoubt-server", opts.redoubt, "build it with: cargo build --release -p redoubt-server, "
                    "or pass --redoubt PATH (or set %s)" % ENV_REDOUBT),
        "redis": ("redis-server", opts.redis, "install Redis 7.0 or pass --redis PATH (or set %s)" % ENV_REDIS),
    }  # fmt: skip
    opts.bin = {k: resolve_binary(hints[k][1], hints[k][0], hints[k][2]) for k in kinds}
    opts.redis_benchmark = resolve_binary(opts.redis_benchmark, "redis-benchmark",
                                          "install Redis 7.0 tools or pass --redis-benchmark PATH "
                                          "(or set %s)" % ENV_REDIS_BENCHMARK)  # fmt: skip


def add_pin_args(ap):
    ap.add_argument("--pin", action="store_true",
                    help="pin every server to CPU 1 and redis-benchmark to CPU 0 (same for both servers)")  # fmt: skip
    ap.add_argument("--server-cpus", help="CPU list for the servers, e.g. 1 or 2-3 (implies pinning)")
    ap.add_argument("--client-cpus", help="CPU list for redis-benchmark, e.g. 0 (implies pinning)")


def resolve_pinning(ap, opts):
    """Turns --pin / --server-cpus / --client-cpus into CPU sets (or None); returns a
    one-line description for the report."""
    server_cpus = parse_cpus(opts.server_cpus) if opts.server_cpus else ({1} if opts.pin else None)
    client_cpus = parse_cpus(opts.client_cpus) if opts.client_cpus else ({0} if opts.pin else None)
    avail = os.sched_getaffinity(0)
    for name, cpus in (("server", server_cpus), ("client", client_cpus)):
        if cpus is not None and not cpus <= avail:
            ap.error("%s CPUs %s not available (have %s)" % (name, sorted(cpus), sorted(avail)))
    opts.server_cpus, opts.client_cpus = server_cpus, client_cpus
    if not (server_cpus or client_cpus):
        return "none"
    return "servers on CPU %s, redis-benchmark on CPU %s" % (
        ",".join(map(str, sorted(server_cpus))) if server_cpus else "any",
        ",".join(map(str, sorted(client_cpus))) if client_cpus else "any")  # fmt: skip


def command_line():
    argv0 = sys.argv[0]
    return "python3 " + shlex.join([os.path.relpath(argv0) if os.path.exists(argv0) else argv0] + sys.argv[1:])


def private_redoubt_copy(opts):
    """Measure one binary for the whole run even if someone rebuilds target/release
    meanwhile: every Redoubt server of this run starts from a private copy.  Returns
    the temp dir to remove at the end (None when Redoubt is not measured)."""
    if "redoubt" not in opts.bin:
        return None
    bindir = tempfile.mkdtemp(prefix="redoubt-bench-bin-")
    private = os.path.join(bindir, "redoubt-server")
    shutil.copy2(opts.bin["redoubt"], private)
    opts.bin["redoubt"] = private
    return bindir


def run_rounds(bindir, rounds):
    """Runs `rounds` (a function doing the measuring) and returns (status, its result).
    Ctrl-C or a BenchError ends the run with exit status 130 or 1 (logged; result
    None); status is None when it completed.  Either way every server is stopped and
    the private binary copy (`private_redoubt_copy`) removed."""
    try:
        return None, rounds()
    except KeyboardInterrupt:
        log("interrupted; stopping servers")
        return 130, None
    except BenchError as e:
        log("error: %s" % e)
        return 1, None
    finally:
        Server.stop_all()
        if bindir:
            shutil.rmtree(bindir, ignore_errors=True)


def raise_nofile(want):
    """Raises the RLIMIT_NOFILE soft limit to at least `want` (servers inherit it);
    BenchError when the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        raise BenchError("RLIMIT_NOFILE hard limit %d < %d needed" % (hard, want))
    new_soft = max(soft, want)
    if hard != resource.RLIM_INFINITY:
        new_soft = min(new_soft, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))


def stop_on_signals():
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt, so `finally` blocks stop the
    servers."""

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)


def environment(opts, pinning):
    """Call it before private_redoubt_copy(), so that the report names the real binary."""
    has = opts.bin.get
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "host": "%s %s" % (platform.node(), platform.release()),
        "cpus": "%d CPU(s) online, load avg %s" % (os.cpu_count() or 0, " ".join("%.2f" % x for x in os.getloadavg())),
        "redoubt_version": version_of(has("redoubt")) if has("redoubt") else "not measured",
        "redoubt_binary": binary_stamp(has("redoubt")) if has("redoubt") else "not measured",
        "git_head": git_head(),
        "redis_version": version_of(has("redis")) if has("redis") else "not measured",
        "pinning": pinning,
    }


def results_stamp(*suffixes):
    """The results' file name: the time, then the non-empty suffixes, dash-separated."""
    return "-".join([datetime.datetime.now().strftime("%Y%m%d-%H%M%S")] + [x for x in suffixes if x])


def save_results(name, table, raw):
    """Writes bench/results/NAME.md (the table) and NAME.json (every raw number)."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    md = os.path.join(RESULTS_DIR, name + ".md")
    js = os.path.join(RESULTS_DIR, name + ".json")
    with open(md, "w") as f:
        f.write(table + "\n")
    with open(js, "w") as f:
        json.dump(raw, f, indent=1)
    log("wrote %s and %s" % (os.path.relpath(md), os.path.relpath(js)))
