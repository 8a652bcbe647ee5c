#!/usr/bin/env python3
"""Persistence benchmark: Redoubt against real redis-server, side by side in one run.

Measures, alternating between the two servers, and reports Redoubt/Redis ratios
(issue #4's targets in brackets):

  1. SAVE time for N keys                                        [<= 1.0x]
  2. start-up load time of that dump ("DB loaded from disk")      [<= 1.0x]
  3. peak memory during BGSAVE under a write load, as a multiple
     of the memory before it (Redis: parent + fork child, PSS)    [<= 1.2x for Redoubt]
  4. redis-benchmark SET throughput with appendfsync always       [>= 1.0x]

Python 3 standard library only; the helpers (RESP client, server processes, bulk
loader, binary lookup) come from bench/common.py. Every server runs in its own temp
dir, on a free loopback port, and is stopped by PID.
"""

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (bench/common.py: shared helpers)
from common import SERVERS, Server, log  # noqa: E402

START_TIMEOUT = 120.0  # seconds: a server loading a large dump answers -LOADING meanwhile
SAVE_TIMEOUT = 600.0
RSS_SAMPLE_S = 0.01


def pserver(opts, kind, directory, extra):
    """A server in `directory` (kept across restarts: the dump stays), logging to
    DIR/server.log; it may take START_TIMEOUT to load a dump."""
    return Server(kind, opts.bin[kind], None, extra, directory=directory,
                  start_timeout=START_TIMEOUT, stop_timeout=60.0, poll_s=0.005)  # fmt: skip


def pss_bytes(pid):
    """Proportional set size: shared pages split between sharers, so parent + fork
    child add up to the memory really used (RSS would count shared pages twice)."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def total_pss(pid):
    return pss_bytes(pid) + sum(pss_bytes(c) for c in children(pid))


def load_seconds(log_text):
    m = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", log_text)
    if not m:
        raise common.BenchError("no 'DB loaded from disk' line in the log")
    return float(m[-1])


def measure_save_and_load(opts, kind):
    """SAVE time of opts.keys keys, then the load time of that dump at start-up."""
    d = tempfile.mkdtemp(prefix="redoubt-pbench-%s-" % kind)
    try:
        s = pserver(opts, kind, d, ["--save", ""]).start()
        common.bulk_load(s.port, opts.keys)
        c = common.Conn(s.port)
        t = time.monotonic()
        c.call("SAVE")
        save_s = time.monotonic() - t
        c.close()
        size = os.path.getsize(os.path.join(d, "dump.rdb"))
        s.stop()
        s2 = pserver(opts, kind, d, ["--save", ""]).start(wait=False)
        ready_s = s2.wait_ready()
        load_s = load_seconds(s2.log_text())
        s2.stop()
        return {"save_s": save_s, "load_s": load_s, "ready_s": ready_s, "dump_bytes": size}
    finally:
        Server.stop_all()
        shutil.rmtree(d, ignore_errors=True)


def writer_load(port, stop, nkeys, value):
    """Overwrites random keys, pipelined, until stopped: the write load during BGSAVE."""
    c = common.Conn(port)
    i = 0
    try:
        while not stop.is_set():
            batch = b"".join(common.encode("SET", "key:%d" % ((i * 7919 + j * 104729) % nkeys), value) for j in range(100))
            c.sock.sendall(batch)
            c.skip_ok_replies(100)
            i += 1
    except (OSError, common.BenchError):
        pass
    finally:
        c.close()


def measure_bgsave_memory(opts, kind):
    """Peak memory (PSS of the server and its children) during a BGSAVE while every
    key gets overwritten, as a multiple of the memory just before."""
    d = tempfile.mkdtemp(prefix="redoubt-pbench-%s-" % kind)
    try:
        s = pserver(opts, kind, d, ["--save", ""]).start()
        c = common.Conn(s.port)
        c.call("DEBUG", "POPULATE", str(opts.keys), "key", str(opts.value_size))
        time.sleep(opts.settle)
        before = total_pss(s.pid)
        stop = threading.Event()
        value = b"v" * opts.value_size
        w = threading.Thread(target=writer_load, args=(s.port, stop, opts.keys, value), daemon=True)
        w.start()
        time.sleep(0.3)
        peak = total_pss(s.pid)
        c.call("BGSAVE")
        t = time.monotonic()
        while True:
            peak = max(peak, total_pss(s.pid))
            if common.info_field(s.port, "persistence", "rdb_bgsave_in_progress") == 0:
                break
            if time.monotonic() - t > SAVE_TIMEOUT:
                raise common.BenchError("BGSAVE did not finish")
            time.sleep(RSS_SAMPLE_S)
        bgsave_s = time.monotonic() - t
        stop.set()
        w.join(timeout=10)
        c.close()
        return {"before": before, "peak": peak, "ratio": peak / before, "bgsave_s": bgsave_s}
    finally:
        Server.stop_all()
        shutil.rmtree(d, ignore_errors=True)


def measure_always_set(opts, kind):
    """redis-benchmark SET throughput with appendonly yes, appendfsync always:
    -t set -c CLIENTS -n REQUESTS -r 100000 -d 16 (common.run_redis_benchmark)."""
    d = tempfile.mkdtemp(prefix="redoubt-pbench-%s-" % kind)
    try:
        s = pserver(opts, kind, d, ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]).start()
        row = common.run_redis_benchmark(opts, s, common.Test("SET", t="set"), 1, opts.requests, extra=["-d", "16"])
        return {"rps": row["rps"], "p99_ms": row["p99_ms"], "cmd": row["cmd"]}
    finally:
        Server.stop_all()
        shutil.rmtree(d, ignore_errors=True)


def median_ratio(results, key):
    pairs = [(r["redoubt"][key], r["redis"][key]) for r in results]
    return statistics.median(a / b for a, b in pairs if b > 0), pairs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_binary_args(ap)
    ap.add_argument("--keys", type=int, default=1000000, help="keys for SAVE/load (default 1000000)")
    ap.add_argument("--value-size", type=int, default=100, help="value bytes for the BGSAVE memory test")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100000, help="redis-benchmark -n with appendfsync always")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--only", choices=["save", "memory", "always"])
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    opts = ap.parse_args()
    opts.keyspace, opts.threads, opts.client_cpus = 100000, 0, None  # for common.run_redis_benchmark
    try:
        common.resolve_binaries(opts)
    except common.BenchError as e:
        log("error: %s" % e)
        return 2
    common.stop_on_signals()
    cmdline = common.command_line()
    # One binary for the whole run, even if target/release is rebuilt meanwhile.
    bindir = common.private_redoubt_copy(opts)
    parts = [opts.only] if opts.only else ["save", "memory", "always"]
    results = {p: [] for p in parts}

    def rounds():
        for rnd in range(opts.rounds):
            # Alternate which server goes first, so drift on a shared machine cancels.
            order = SERVERS if rnd % 2 == 0 else SERVERS[::-1]
            for p in parts:
                row = {}
                for kind in order:
                    log("round %d: %s on %s" % (rnd + 1, p, kind))
                    f = {"save": measure_save_and_load, "memory": measure_bgsave_memory, "always": measure_always_set}[p]
                    row[kind] = f(opts, kind)
                    log("  %s" % row[kind])
                results[p].append(row)

    status, _ = common.run_rounds(bindir, rounds)
    if status is not None:
        return status

    lines = ["# Persistence: Redoubt / Redis 7.0 (median of %d rounds)" % opts.rounds, "", "`%s`" % cmdline, "",
             "| measure | Redoubt | Redis | ratio | target |", "|---|---|---|---|---|"]  # fmt: skip
    if "save" in results:
        for key, label in (("save_s", "SAVE, %d keys (s)" % opts.keys), ("load_s", "load at start-up (s)")):
            r, pairs = median_ratio(results["save"], key)
            a = statistics.median(x for x, _ in pairs)
            b = statistics.median(y for _, y in pairs)
            lines.append("| %s | %.3f | %.3f | %.2fx | <= 1.0x |" % (label, a, b, r))
    if "memory" in results:
        mine = statistics.median(r["redoubt"]["ratio"] for r in results["memory"])
        theirs = statistics.median(r["redis"]["ratio"] for r in results["memory"])
        lines.append("| peak memory during BGSAVE under writes / before | %.2fx | %.2fx | %.2f | Redoubt <= 1.2x |"
                     % (mine, theirs, mine / theirs))  # fmt: skip
    if "always" in results:
        r, pairs = median_ratio(results["always"], "rps")
        a = statistics.median(x for x, _ in pairs)
        b = statistics.median(y for _, y in pairs)
        lines.append("| SET rps, appendfsync always, -c %d | %.0f | %.0f | %.2fx | >= 1.0x |" % (opts.clients, a, b, r))
    print("\n".join(lines), flush=True)
    if not opts.no_save:
        common.save_results(common.results_stamp("persist"), "\n".join(lines),
                            {"command": cmdline, "options": vars(opts), "results": results})  # fmt: skip
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        Server.stop_all()
