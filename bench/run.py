#!/usr/bin/env python3
"""Side-by-side benchmark of Redoubt against real redis-server (DESIGN.md section 5).

Starts both servers with the same settings on free loopback ports, runs the
measurements alternating between them, and reports Redoubt/Redis ratios.

Suites (--suite):
  core   (default) SET, GET, INCR, MSET at -P 1 and -P 16; bytes per key; bytes per
         idle connection.
  types  LPUSH, RPOP, SADD, SPOP, HSET, ZADD, LRANGE_100, LRANGE_600 and two one-line
         EVAL scripts at -P 1 and -P 16; memory of a 1,000,000-member sorted set and
         of 100,000 hashes of 10 fields (issue 3's targets).
  all    both.

Python 3 standard library only.  See bench/README.md for the method.
"""

import argparse
import os
import random
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402  (bench/common.py: shared helpers)
    IO_TIMEOUT,
    SERVERS,
    BenchError,
    Server,
    Test,
    add_binary_args,
    add_pin_args,
    bench_throughput,
    bulk_load,
    call_once,
    command_line,
    environment,
    fmt_ratio,
    info_field,
    log,
    measure_load_memory,
    pipelined,
    private_redoubt_copy,
    raise_nofile,
    ratio,
    render_throughput,
    resolve_binaries,
    resolve_pinning,
    results_stamp,
    rss_bytes,
    run_rounds,
    save_results,
    stop_on_signals,
)

# Every server of this script runs with these settings (on top of port, bind, dir,
# daemonize no, protected-mode no, enable-debug-command yes).
SERVER_CONFIG = ["--save", "", "--appendonly", "no", "--maxclients", "10100"]

CORE_TESTS = [
    Test("SET", t="set"),
    Test("GET", t="get"),  # reads what SET wrote
    Test("INCR", t="incr"),
    Test("MSET", t="mset", csv="MSET (10 keys)"),
]

# In this order: RPOP pops exactly what LPUSH pushed, SPOP pops what SADD added, and each
# LRANGE test first runs redis-benchmark's own "LPUSH (needed to benchmark LRANGE)" fill.
TYPES_TESTS = [
    Test("LPUSH", t="lpush"),
    Test("RPOP", t="rpop"),
    Test("SADD", t="sadd"),
    Test("SPOP", t="spop"),
    Test("HSET", t="hset"),
    Test("ZADD", t="zadd"),
    Test("LRANGE_100", t="lrange_100", csv="LRANGE_100 (first 100 elements)"),
    Test("LRANGE_600", t="lrange_600", csv="LRANGE_600 (first 600 elements)"),
    Test("EVAL return 1", argv=["eval", "return 1", "0"]),
    Test("EVAL SET", argv=["eval", "return redis.call('SET',KEYS[1],ARGV[1])", "1", "key:__rand_int__", "xxx"]),
]


# --------------------------------------------------------------------------------------------
# Memory measures.  Each takes (opts, kind), starts a fresh server and returns a dict with
# rss_per_unit and used_memory_per_unit (plus whatever else it checked).


def measure_bytes_per_key(opts, kind):
    return measure_load_memory(opts, kind, lambda port: bulk_load(port, opts.keys), opts.keys)


def zset_scores(n, order):
    if order == "increasing":
        return range(n)
    rng = random.Random(20261122)  # the same scores for both servers and every round
    return (rng.randrange(1000000000) for _ in range(n))


def load_zset(opts, port):
    """ZADD zset SCORE member:%07d, one member per command, pipelined 10,000 at a time."""
    n = opts.zset_members

    def commands():
        for i, score in enumerate(zset_scores(n, opts.zset_scores)):
            s, m = b"%d" % score, b"member:%07d" % i
            yield b"*4\r\n$4\r\nZADD\r\n$4\r\nzset\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(s), s, len(m), m)

    pipelined(port, commands(), b":1\r\n")
    zcard = int(call_once(port, "ZCARD", "zset"))
    if zcard != n:
        raise BenchError("zset load: ZCARD %d, expected %d" % (zcard, n))
    return {"zcard": zcard, "encoding": object_encoding(port, "zset")}


def load_hashes(opts, port):
    """HSET hash:%06d f0 v... f9 v..., one hash per command, pipelined 10,000 at a time.
    Fields f0..f9 (2 bytes), values v%07d (8 bytes, not integer-like): hash i field j
    holds v(10*i+j)."""
    n = opts.hashes

    def commands():
        for i in range(n):
            parts = [b"*22\r\n$4\r\nHSET\r\n$11\r\nhash:%06d\r\n" % i]
            for j in range(10):
                parts.append(b"$2\r\nf%d\r\n$8\r\nv%07d\r\n" % (j, 10 * i + j))
            yield b"".join(parts)

    pipelined(port, commands(), b":10\r\n")
    dbsize = int(call_once(port, "DBSIZE"))
    hlen = int(call_once(port, "HLEN", "hash:000000"))
    if dbsize != n or hlen != 10:
        raise BenchError("hash load: DBSIZE %d (expected %d), HLEN %d (expected 10)" % (dbsize, n, hlen))
    return {"dbsize": dbsize, "encoding": object_encoding(port, "hash:000000")}


def object_encoding(port, key):
    try:
        return call_once(port, "OBJECT", "ENCODING", key).decode()
    except BenchError as e:
        return "(%s)" % e


def measure_zset(opts, kind):
    return measure_load_memory(opts, kind, lambda port: load_zset(opts, port), opts.zset_members)


def measure_hashes(opts, kind):
    return measure_load_memory(opts, kind, lambda port: load_hashes(opts, port), opts.hashes)


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
    srv = Server(kind, opts.bin[kind], opts.server_cpus, opts.server_config).start()
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
    return {"rss_before": rss0, "rss_after": rss1, "connected_clients": connected,
            "rss_per_unit": (rss1 - rss0) / opts.conns}  # fmt: skip


# (name, function, [(field, table label), ...]); the label may use {n} for the size.
CORE_MEMORY = [
    ("keys", measure_bytes_per_key, [("rss_per_unit", "bytes/key (ΔRSS)"),
                                     ("used_memory_per_unit", "bytes/key (Δused_memory)")]),
    ("conns", measure_conn_rss, [("rss_per_unit", "bytes/idle connection (ΔRSS)")]),
]  # fmt: skip
TYPES_MEMORY = [
    ("zset", measure_zset, [("rss_per_unit", "sorted set: bytes/member (ΔRSS)"),
                            ("used_memory_per_unit", "sorted set: bytes/member (Δused_memory)")]),
    ("hashes", measure_hashes, [("rss_per_unit", "10-field hashes: bytes/hash (ΔRSS)"),
                                ("used_memory_per_unit", "10-field hashes: bytes/hash (Δused_memory)")]),
]  # fmt: skip


def bench_memory(opts, raw, measures):
    """R rounds; in each, every measure runs on a fresh server of each kind in turn, and
    who goes first flips with every round."""
    samples = {name: {k: [] for k in SERVERS} for name, _, _ in measures}
    for rnd in range(opts.mem_rounds):
        order = SERVERS if rnd % 2 == 0 else SERVERS[::-1]
        for name, fn, _ in measures:
            for kind in order:
                r = fn(opts, kind)
                samples[name][kind].append(r)
                log("  round %d %-6s %-7s  ΔRSS/unit %.1f%s%s%s" % (
                    rnd + 1, name, kind, r["rss_per_unit"],
                    ("  Δused_memory/unit %.1f" % r["used_memory_per_unit"]) if "used_memory_per_unit" in r else "",
                    ("  (load %.1fs)" % r["load_seconds"]) if "load_seconds" in r else "",
                    ("  encoding %s" % r["encoding"]) if "encoding" in r else ""))  # fmt: skip
    raw.setdefault("memory_runs", {}).update(samples)
    out = []
    for name, _, fields in measures:
        for field, label in fields:
            a = statistics.median(x[field] for x in samples[name]["redoubt"])
            b = statistics.median(x[field] for x in samples[name]["redis"])
            per_round = [ratio(x[field], y[field]) for x, y in zip(samples[name]["redoubt"], samples[name]["redis"])]
            out.append({"measure": name, "field": field, "label": label, "redoubt": a, "redis": b,
                        "ratio": ratio(a, b), "ratio_per_round": per_round})  # fmt: skip
        encs = {k: sorted({x.get("encoding") for x in samples[name][k]} - {None}) for k in SERVERS}
        if any(encs.values()):
            out.append({"measure": name, "encodings": encs})
    return out


# --------------------------------------------------------------------------------------------
# Report


def render(opts, cmdline, env, tp, mem):
    L = []
    L.append("Command: `%s`" % cmdline)
    L.append("")
    L.append("%s; %s; %s" % (env["date"], env["host"], env["cpus"]))
    L.append("Redoubt: %s, %s, checkout %s  |  Redis: %s" % (
        env["redoubt_binary"], env["redoubt_version"], env["git_head"], env["redis_version"]))  # fmt: skip
    L.append(
        "Suite %s. redis-benchmark -c %d -r %d, -n %d (P1) / %d (P16)%s; %d round(s), alternating; "
        "median per server, ratio = Redoubt / Redis.  Pinning: %s." % (
            opts.suite, opts.clients, opts.keyspace, opts.n_p1, opts.n_p16,
            (", --threads %d" % opts.threads) if opts.threads else "",
            opts.rounds, env["pinning"]))  # fmt: skip
    L.append("")
    if tp is not None:
        L.extend(render_throughput(tp))
    if mem is not None:
        sizes = []
        if opts.suite in ("core", "all"):
            sizes.append("%d key(s) of 10 bytes with 16-byte values; %d idle connection(s), each after one PING"
                         % (opts.keys, opts.conns))  # fmt: skip
        if opts.suite in ("types", "all"):
            sizes.append("a sorted set of %d members member:%%07d with %s integer scores; %d hashes hash:%%06d "
                         "of 10 fields f0..f9 with 8-byte values v%%07d"
                         % (opts.zset_members, opts.zset_scores, opts.hashes))  # fmt: skip
        L.append("%s; %d round(s), fresh servers each time, median." % ("; ".join(sizes), opts.mem_rounds))
        L.append("")
        L.append("| Memory | Redoubt | Redis | ratio (lower is better) | per-round ratios |")
        L.append("|---|---:|---:|---:|---|")
        notes = []
        for m in mem:
            if "encodings" in m:
                notes.append("%s: OBJECT ENCODING Redoubt %s, Redis %s" % (
                    m["measure"], "/".join(m["encodings"]["redoubt"]), "/".join(m["encodings"]["redis"])))  # fmt: skip
                continue
            L.append("| %s | %.1f | %.1f | **%s** | %s |" % (
                m["label"], m["redoubt"], m["redis"], fmt_ratio(m["ratio"]),
                " ".join(fmt_ratio(x) for x in m["ratio_per_round"])))  # fmt: skip
        L.append("")
        if notes:
            L.append("; ".join(notes) + ".")
            L.append("")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_binary_args(ap)
    ap.add_argument("--suite", choices=["core", "types", "all"], default="core",
                    help="which rows (default core: SET/GET/INCR/MSET, bytes/key, bytes/connection)")  # fmt: skip
    ap.add_argument("--rounds", type=int, default=None, help="throughput rounds (default 3; 1 with --quick)")
    ap.add_argument("--mem-rounds", type=int, default=None, help="memory rounds (default: same as --rounds)")
    ap.add_argument("--threads", type=int, default=0, help="pass --threads N to redis-benchmark")
    ap.add_argument("--clients", type=int, default=50, help="redis-benchmark -c (default 50)")
    ap.add_argument("--n-p1", type=int, default=None, help="requests per test at -P 1 (default 200000)")
    ap.add_argument("--n-p16", type=int, default=None, help="requests per test at -P 16 (default 1000000)")
    ap.add_argument("--keyspace", type=int, default=1000000, help="redis-benchmark -r (default 1000000)")
    ap.add_argument("--keys", type=int, default=None, help="core: keys for bytes/key (default 1000000)")
    ap.add_argument("--conns", type=int, default=None, help="core: idle connections (default 10000)")
    ap.add_argument("--zset-members", type=int, default=None, help="types: sorted-set members (default 1000000)")
    ap.add_argument("--zset-scores", choices=["random", "increasing"], default="random",
                    help="types: sorted-set scores, random integers in [0, 1e9) from a fixed seed "
                         "or the member's index (default random)")  # fmt: skip
    ap.add_argument("--hashes", type=int, default=None, help="types: 10-field hashes (default 100000)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before each RSS reading (default 1)")
    add_pin_args(ap)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, small -n and small data sets")
    ap.add_argument("--only", choices=["throughput", "memory"], help="run only one part")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    opts = ap.parse_args()

    q = opts.quick
    defaults = {
        "rounds": (1, 3), "n_p1": (20000, 200000), "n_p16": (100000, 1000000), "keys": (100000, 1000000),
        "conns": (1000, 10000), "zset_members": (100000, 1000000), "hashes": (10000, 100000),
    }  # fmt: skip
    for name, (quick, full) in defaults.items():
        if getattr(opts, name) is None:
            setattr(opts, name, quick if q else full)
    if opts.mem_rounds is None:
        opts.mem_rounds = opts.rounds
    if opts.rounds < 1 or opts.mem_rounds < 1:
        ap.error("--rounds and --mem-rounds must be >= 1")
    pinning = resolve_pinning(ap, opts)
    opts.server_config = SERVER_CONFIG
    core, types = opts.suite in ("core", "all"), opts.suite in ("types", "all")
    tests = (CORE_TESTS if core else []) + (TYPES_TESTS if types else [])
    measures = (CORE_MEMORY if core else []) + (TYPES_MEMORY if types else [])
    cmdline = command_line()

    try:
        resolve_binaries(opts)
        # The servers inherit this limit (maxclients 10100 needs ~10132 fds) and the python
        # process itself holds the idle connections.
        raise_nofile(max(opts.conns if core else 0, 10100) + 1000)
    except BenchError as e:
        log("error: %s" % e)
        return 2
    stop_on_signals()

    env = environment(opts, pinning)
    raw = {"command": cmdline, "env": env, "throughput_runs": [], "options": {
        k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(opts).items()}}  # fmt: skip
    bindir = private_redoubt_copy(opts)

    def rounds():
        tp = mem = None
        if opts.only in (None, "throughput"):
            log("== throughput/latency, suite %s (%d rounds)" % (opts.suite, opts.rounds))
            tp = bench_throughput(opts, raw, tests)
        if opts.only in (None, "memory"):
            log("== memory, suite %s: %s (%d round(s))" % (
                opts.suite, ", ".join(m[0] for m in measures), opts.mem_rounds))  # fmt: skip
            mem = bench_memory(opts, raw, measures)
        return tp, mem

    status, measured = run_rounds(bindir, rounds)
    if status is not None:
        return status
    tp, mem = measured
    raw["throughput"] = tp
    raw["memory"] = mem
    table = render(opts, cmdline, env, tp, mem)
    print(table, flush=True)
    if not opts.no_save:
        save_results(results_stamp("" if opts.suite == "core" else opts.suite, "quick" if q else ""), table, raw)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        Server.stop_all()
