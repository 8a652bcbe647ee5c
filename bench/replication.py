#!/usr/bin/env python3
"""Replication benchmark: Redoubt against real redis-server, side by side in one run.

For each server kind in turn (a Redoubt master with a Redoubt replica, a Redis master
with a Redis replica), alternating who goes first with every round:

  sync     load N keys (10-byte keys, 16-byte values) into a fresh master, start a
           fresh replica with --replicaof, and time replica start -> master_link_status:up
           (full sync); the bytes the master sent for it (total_net_repl_output_bytes).
  restart  SHUTDOWN SAVE the replica, start it again on the same dir with the same
           --replicaof: the master's sync_full / sync_partial_ok deltas and the bytes it
           sent for the resync, next to the dataset size (the replica's dump.rdb).
  lag      redis-benchmark -t set -c 50 against the master while sampling, several times
           a second, master_repl_offset minus the replica's acknowledged offset (the
           master's INFO slaveN:...,offset= line): mean and max lag in bytes.

Reports every number per server and the ratio Redoubt / Redis.  --only redis (or
--only redoubt) measures one kind alone, e.g. to validate the script against Redis.

Python 3 standard library only; the helpers come from bench/common.py.  Every server
runs in its own temp dir on a free loopback port and is stopped by PID.  Every wait
is bounded.  See bench/README.md for the method.
"""

import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (bench/common.py: shared helpers)
from common import SERVERS, BenchError, Server, log  # noqa: E402

PARTS = ["sync", "restart", "lag"]
START_TIMEOUT = 120.0  # seconds for a master to answer PING
POLL_S = 0.01  # INFO polling while waiting for the link
MAX_SAMPLES = 100000  # bound on the lag samples of one load, whatever the interval


def master_config(opts):
    return ["--save", "", "--appendonly", "no",
            "--repl-diskless-sync", opts.diskless_sync, "--repl-diskless-sync-delay", "0"]  # fmt: skip


def replica_config(master_port):
    return ["--save", "", "--appendonly", "no", "--replicaof", "127.0.0.1", str(master_port)]


# --------------------------------------------------------------------------------------------
# INFO readings


def repl_stats(port):
    """The master's counters that the restart part compares before and after."""
    st = common.info(port, "stats")
    out = {k: int(st[k]) for k in ("sync_full", "sync_partial_ok", "sync_partial_err") if k in st}
    out["repl_output_bytes"] = int(st.get("total_net_repl_output_bytes", -1))
    out["net_output_bytes"] = int(st.get("total_net_output_bytes", -1))
    return out


def acked_offset(master_info, replica_port):
    """The replica's acknowledged offset from the master's INFO replication line
    slaveN:ip=...,port=P,state=...,offset=O,lag=L (the one whose port is the replica's,
    else the only one); None when the master lists no replica."""
    lines = [v for k, v in master_info.items() if k.startswith("slave") and k[5:].isdigit()]
    parsed = [dict(kv.split("=", 1) for kv in v.split(",") if "=" in kv) for v in lines]
    mine = [p for p in parsed if p.get("port") == str(replica_port)] or (parsed if len(parsed) == 1 else [])
    return int(mine[0]["offset"]) if mine else None


def offsets(master, replica):
    """(master_repl_offset, the replica's offset acknowledged to the master, both from
    one INFO of the master; the master's offset at the moment the replica was asked,
    the offset the replica itself reports having processed).  The replica is asked
    between two INFOs of the master, and its reading is paired with the midpoint of the
    two, so that neither order of asking biases its lag."""
    mi = common.info(master.port, "replication")
    ri = common.info(replica.port, "replication")
    m2 = int(common.info(master.port, "replication")["master_repl_offset"])
    m1 = int(mi["master_repl_offset"])
    return m1, acked_offset(mi, replica.port), (m1 + m2) / 2.0, int(ri.get("master_repl_offset", -1))


def wait_link_up(opts, replica):
    """Polls the replica's INFO replication until master_link_status:up; returns the
    seconds since the replica process started.  Fails at once when the server answers
    INFO with a role other than slave (a server that ignores --replicaof)."""
    deadline = time.monotonic() + opts.sync_timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not replica.alive():
            raise BenchError("%s replica exited (status %s):\n%s" % (
                replica.kind, replica.proc.returncode, replica.log_tail()))  # fmt: skip
        try:
            ri = common.info(replica.port, "replication", timeout=5.0)
        except (OSError, BenchError) as e:  # not listening yet, or -LOADING
            last = str(e)
            time.sleep(POLL_S)
            continue
        if ri.get("role") != "slave":
            raise BenchError("%s started with --replicaof answers INFO replication with role:%s, not slave: "
                             "it does not implement replication (yet). Run with --only redis (or --only redoubt "
                             "once it does).\n--- replica log ---\n%s" % (
                                 replica.kind, ri.get("role"), replica.log_tail(8)))  # fmt: skip
        if ri.get("master_link_status") == "up":
            return time.monotonic() - replica.started
        last = "master_link_status:%s" % ri.get("master_link_status")
        time.sleep(POLL_S)
    raise BenchError("%s replica: no master_link_status:up within %.0fs (%s)\n%s" % (
        replica.kind, opts.sync_timeout, last, replica.log_tail()))  # fmt: skip


def wait_caught_up(opts, master, replica):
    """Until the replica has acknowledged the master's whole stream (acked offset ==
    master_repl_offset, read in one INFO).  Returns the seconds it took."""
    t0 = time.monotonic()
    deadline = t0 + opts.sync_timeout
    while time.monotonic() < deadline:
        mi = common.info(master.port, "replication")
        acked = acked_offset(mi, replica.port)
        if acked is not None and acked >= int(mi["master_repl_offset"]):
            return time.monotonic() - t0
        time.sleep(POLL_S)
    raise BenchError("%s replica did not catch up within %.0fs" % (replica.kind, opts.sync_timeout))


def dbsize(port):
    return int(common.call_once(port, "DBSIZE"))


# --------------------------------------------------------------------------------------------
# The three parts


def part_sync(opts, kind, master):
    """Starts the replica on the loaded master; returns (replica, row)."""
    before = repl_stats(master.port)
    replica = Server(kind, opts.bin[kind], opts.server_cpus, replica_config(master.port),
                     start_timeout=START_TIMEOUT, stop_timeout=opts.stop_timeout)  # fmt: skip
    replica.start(wait=False)
    sync_s = wait_link_up(opts, replica)
    catchup_s = wait_caught_up(opts, master, replica)
    after = repl_stats(master.port)
    n = dbsize(replica.port)
    if n != opts.keys:
        raise BenchError("%s replica holds %d keys after the full sync, expected %d" % (kind, n, opts.keys))
    return replica, {
        "full_sync_s": sync_s,
        "ack_after_link_up_s": catchup_s,
        "full_sync_bytes": after["repl_output_bytes"] - before["repl_output_bytes"],
        "full_sync_sync_full_delta": after.get("sync_full", 0) - before.get("sync_full", 0),
        "replica_keys": n,
    }


def part_restart(opts, kind, master, replica):
    """SHUTDOWN SAVE the replica, start it again on the same dir and --replicaof; the
    master's counters and bytes sent from before the shutdown to the replica caught up."""
    wait_caught_up(opts, master, replica)
    before = repl_stats(master.port)
    shutdown_s = replica.shutdown(save=True)
    rdb = os.path.join(replica.dir, "dump.rdb")
    if not os.path.exists(rdb):
        raise BenchError("%s replica wrote no dump.rdb on SHUTDOWN SAVE" % kind)
    rdb_bytes = os.path.getsize(rdb)
    replica.start(wait=False)
    relink_s = wait_link_up(opts, replica)
    wait_caught_up(opts, master, replica)
    after = repl_stats(master.port)
    n, want = dbsize(replica.port), dbsize(master.port)
    if n != want:
        raise BenchError("%s replica holds %d keys after the restart, the master %d" % (kind, n, want))
    d = {k: after.get(k, 0) - before.get(k, 0) for k in ("sync_full", "sync_partial_ok", "sync_partial_err")}
    return {
        "restart_shutdown_s": shutdown_s,
        "restart_link_up_s": relink_s,
        "restart_sync_full": d["sync_full"],
        "restart_sync_partial_ok": d["sync_partial_ok"],
        "restart_sync_partial_err": d["sync_partial_err"],
        "restart_repl_bytes": after["repl_output_bytes"] - before["repl_output_bytes"],
        "restart_net_output_bytes": after["net_output_bytes"] - before["net_output_bytes"],
        "rdb_bytes": rdb_bytes,
    }


def sampler(master, replica, interval, stop, out, errors):
    """Samples (time,) + offsets() every `interval` seconds until `stop` is set (or
    MAX_SAMPLES)."""
    try:
        while not stop.is_set() and len(out) < MAX_SAMPLES:
            t = time.monotonic()
            out.append((t,) + offsets(master, replica))
            stop.wait(max(0.0, interval - (time.monotonic() - t)))
    except Exception as e:  # reported by the main thread
        errors.append(e)


def part_lag(opts, kind, master, replica):
    """redis-benchmark -t set -c CLIENTS -n REQUESTS against the master (main thread,
    bounded by run_redis_benchmark's timeout) while a thread samples the offsets."""
    wait_caught_up(opts, master, replica)
    start_offset = int(common.info(master.port, "replication")["master_repl_offset"])
    samples, errors, stop = [], [], threading.Event()
    th = threading.Thread(target=sampler, args=(master, replica, opts.sample_interval, stop, samples, errors),
                          daemon=True)  # fmt: skip
    th.start()
    try:
        row = common.run_redis_benchmark(opts, master, common.Test("SET", t="set"), 1, opts.requests,
                                         extra=["-d", str(opts.data_size)])  # fmt: skip
        t_end = time.monotonic()
    finally:
        stop.set()
        th.join(timeout=10)
    if errors:
        raise BenchError("sampling offsets: %s" % errors[0])
    for srv in (master, replica):
        if not srv.alive():
            raise BenchError("%s died during the load:\n%s" % (srv.kind, srv.log_tail()))
    catchup_s = wait_caught_up(opts, master, replica)
    # "During the load": from the first sample where the master's offset has moved to
    # the end of redis-benchmark.
    during = [s for s in samples if s[1] > start_offset and s[0] <= t_end and s[2] is not None]
    if len(during) < 2:
        raise BenchError("%s: only %d lag sample(s) during the load; use a larger --requests" % (kind, len(during)))
    acked_lag = [m - a for _, m, a, _, _ in during]
    own_lag = [mid - o for _, _, _, mid, o in during if o >= 0]
    return {
        "load_rps": row["rps"],
        "load_p99_ms": row["p99_ms"],
        "load_cmd": row["cmd"],
        "lag_samples": len(during),
        "lag_sample_hz": (len(during) - 1) / max(during[-1][0] - during[0][0], 1e-9),
        "lag_mean_bytes": statistics.mean(acked_lag),
        "lag_max_bytes": max(acked_lag),
        "lag_own_mean_bytes": statistics.mean(own_lag) if own_lag else float("nan"),
        "lag_own_max_bytes": max(own_lag) if own_lag else float("nan"),
        "stream_bytes": during[-1][1] - start_offset,
        "catchup_after_load_s": catchup_s,
        # (seconds since the first, master offset, acked offset, master offset at the replica's reading, replica's)
        "raw_samples": [(round(x[0] - during[0][0], 4),) + tuple(x[1:]) for x in during],
    }


def measure(opts, kind):
    """One round of one kind: fresh master, load, then the parts asked for."""
    master = Server(kind, opts.bin[kind], opts.server_cpus, master_config(opts),
                    start_timeout=START_TIMEOUT, stop_timeout=opts.stop_timeout).start()  # fmt: skip
    replica = None
    try:
        t0 = time.monotonic()
        common.bulk_load(master.port, opts.keys)
        row = {"load_s": time.monotonic() - t0}
        replica, r = part_sync(opts, kind, master)
        row.update(r)
        log("  %-7s full sync %.3fs, %d bytes sent" % (kind, r["full_sync_s"], r["full_sync_bytes"]))
        if "restart" in opts.parts:
            r = part_restart(opts, kind, master, replica)
            row.update(r)
            log("  %-7s restart: sync_full +%d, sync_partial_ok +%d, %d bytes sent, dump.rdb %d bytes, "
                "link up after %.3fs" % (kind, r["restart_sync_full"], r["restart_sync_partial_ok"],
                                         r["restart_repl_bytes"], r["rdb_bytes"], r["restart_link_up_s"]))  # fmt: skip
        if "lag" in opts.parts:
            r = part_lag(opts, kind, master, replica)
            row.update(r)
            log("  %-7s lag under SET load (%.0f rps): mean %.0f bytes, max %d bytes (%d samples, %.1f/s); "
                "replica's own offset: mean %.0f, max %d" % (
                    kind, r["load_rps"], r["lag_mean_bytes"], r["lag_max_bytes"], r["lag_samples"],
                    r["lag_sample_hz"], r["lag_own_mean_bytes"], r["lag_own_max_bytes"]))  # fmt: skip
        return row
    finally:
        if replica is not None:
            replica.stop()
        master.stop()


# --------------------------------------------------------------------------------------------
# Report

# (field, label, format, part, compare): compare=False rows show values, no ratio.
ROWS = [
    ("load_s", "load {keys} keys, pipelined (s)", "%.2f", "sync", False),
    ("full_sync_s", "full sync: replica start -> link up (s)", "%.3f", "sync", True),
    ("full_sync_bytes", "full sync: bytes sent by the master", "%d", "sync", True),
    ("full_sync_sync_full_delta", "full sync: master sync_full delta", "%d", "sync", False),
    ("rdb_bytes", "dataset: replica's dump.rdb (bytes)", "%d", "restart", True),
    ("restart_sync_full", "restart: master sync_full delta", "%d", "restart", False),
    ("restart_sync_partial_ok", "restart: master sync_partial_ok delta", "%d", "restart", False),
    ("restart_repl_bytes", "restart: bytes sent by the master (repl output)", "%d", "restart", True),
    ("restart_link_up_s", "restart: replica start -> link up (s)", "%.3f", "restart", True),
    ("load_rps", "lag load: SET rps (-c {clients})", "%.0f", "lag", True),
    ("lag_mean_bytes", "lag: mean, master offset - acked offset (bytes)", "%.0f", "lag", True),
    ("lag_max_bytes", "lag: max, master offset - acked offset (bytes)", "%.0f", "lag", True),
    ("lag_own_mean_bytes", "lag: mean, master offset - replica's own offset (bytes)", "%.0f", "lag", True),
    ("lag_own_max_bytes", "lag: max, master offset - replica's own offset (bytes)", "%.0f", "lag", True),
    ("lag_samples", "lag: samples during the load", "%d", "lag", False),
    ("catchup_after_load_s", "lag: load end -> replica acked all (s)", "%.3f", "lag", True),
]


def summarize(opts, results):
    out = []
    for field, label, fmt, part, compare in ROWS:
        if part not in opts.parts:
            continue
        vals = {k: [r[k][field] for r in results] for k in opts.kinds}
        med = {k: statistics.median(v) for k, v in vals.items()}
        row = {"field": field, "label": label.format(keys=opts.keys, clients=opts.clients), "fmt": fmt,
               "median": med, "values": vals, "compare": compare}  # fmt: skip
        if compare and len(opts.kinds) == 2:
            row["ratio"] = common.ratio(med["redoubt"], med["redis"])
            row["ratio_per_round"] = [common.ratio(a, b) for a, b in zip(vals["redoubt"], vals["redis"])]
        out.append(row)
    return out


def render(opts, cmdline, env, summary):
    names = {"redoubt": "Redoubt", "redis": "Redis"}
    L = ["# Replication: %s" % " / ".join(names[k] for k in opts.kinds), "",
         "Command: `%s`" % cmdline, "",
         "%s; %s; %s" % (env["date"], env["host"], env["cpus"]),
         "Redoubt: %s, %s, checkout %s  |  Redis: %s" % (
             env["redoubt_binary"], env["redoubt_version"], env["git_head"], env["redis_version"]),
         "%d keys (10-byte keys, 16-byte values); master --repl-diskless-sync %s --repl-diskless-sync-delay 0; "
         "lag load redis-benchmark -t set -c %d -n %d -r %d -d %d, sampled every %.2fs; %d round(s), "
         "alternating; median per server%s.  Pinning: %s." % (
             opts.keys, opts.diskless_sync, opts.clients, opts.requests, opts.keyspace, opts.data_size,
             opts.sample_interval, opts.rounds,
             ", ratio = Redoubt / Redis" if len(opts.kinds) == 2 else "", env["pinning"]),
         ""]  # fmt: skip
    both = len(opts.kinds) == 2
    head = "| Measure | " + " | ".join(names[k] for k in opts.kinds) + " |"
    sep = "|---|" + "---:|" * len(opts.kinds)
    if both:
        head += " ratio | per-round ratios |"
        sep += "---:|---|"
    L += [head, sep]
    for r in summary:
        cells = [r["fmt"] % r["median"][k] if r["median"][k] == r["median"][k] else "n/a" for k in opts.kinds]
        line = "| %s | %s |" % (r["label"], " | ".join(cells))
        if both:
            if "ratio" in r:
                line += " **%s** | %s |" % (common.fmt_ratio(r["ratio"]),
                                            " ".join(common.fmt_ratio(x) for x in r["ratio_per_round"]))  # fmt: skip
            else:
                line += " | |"
        L.append(line)
    L.append("")
    if "restart" in opts.parts:
        for k in opts.kinds:
            rows = {r["field"]: r["median"][k] for r in summary}
            if rows.get("rdb_bytes"):
                L.append("%s: the restart's resync sent %s bytes, %.4f of the dataset (%d-byte dump.rdb)." % (
                    names[k], "{:,.0f}".format(rows["restart_repl_bytes"]),
                    rows["restart_repl_bytes"] / rows["rdb_bytes"], rows["rdb_bytes"]))  # fmt: skip
        L.append("")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_binary_args(ap)
    ap.add_argument("--only", choices=SERVERS, help="measure one server kind alone (master and replica of that kind)")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help="comma-separated subset of sync,restart,lag (sync always runs; default all)")
    ap.add_argument("--keys", type=int, default=None, help="keys loaded into the master (default 1000000)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 3; 1 with --quick)")
    ap.add_argument("--requests", type=int, default=None, help="lag load: redis-benchmark -n (default 1000000)")
    ap.add_argument("--clients", type=int, default=50, help="lag load: redis-benchmark -c (default 50)")
    ap.add_argument("--keyspace", type=int, default=None, help="lag load: redis-benchmark -r (default: --keys)")
    ap.add_argument("--data-size", type=int, default=3, help="lag load: redis-benchmark -d (default 3, its own)")
    ap.add_argument("--sample-interval", type=float, default=0.1, help="lag: seconds between samples (default 0.1)")
    ap.add_argument("--diskless-sync", choices=["yes", "no"], default="yes",
                    help="master's repl-diskless-sync (default yes, Redis 7.0's default); the delay is always 0")
    ap.add_argument("--sync-timeout", type=float, default=300.0,
                    help="seconds to wait for a link up or a catch-up (default 300)")  # fmt: skip
    ap.add_argument("--stop-timeout", type=float, default=60.0,
                    help="seconds for a server to exit after SHUTDOWN/SIGTERM before SIGKILL (default 60)")
    common.add_pin_args(ap)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, 100000 keys, 100000 requests")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    opts = ap.parse_args()

    for name, (quick, full) in {"rounds": (1, 3), "keys": (100000, 1000000), "requests": (100000, 1000000)}.items():
        if getattr(opts, name) is None:
            setattr(opts, name, quick if opts.quick else full)
    if opts.keyspace is None:
        opts.keyspace = opts.keys
    opts.parts = [p.strip() for p in opts.parts.split(",") if p.strip()]
    bad = [p for p in opts.parts if p not in PARTS]
    if bad:
        ap.error("unknown part(s) %s; choose from %s" % (",".join(bad), ",".join(PARTS)))
    if "sync" not in opts.parts:
        opts.parts.insert(0, "sync")  # the other parts need the replica it starts
    if opts.rounds < 1 or opts.keys < 1 or opts.requests < 1 or opts.sample_interval <= 0:
        ap.error("--rounds, --keys and --requests must be >= 1, --sample-interval > 0")
    opts.kinds = [opts.only] if opts.only else list(SERVERS)
    opts.threads = 0
    pinning = common.resolve_pinning(ap, opts)
    cmdline = common.command_line()
    try:
        common.resolve_binaries(opts, opts.kinds)
    except BenchError as e:
        log("error: %s" % e)
        return 2
    common.stop_on_signals()
    env = common.environment(opts, pinning)
    bindir = common.private_redoubt_copy(opts)
    results = []

    def rounds():
        for rnd in range(opts.rounds):
            order = opts.kinds if rnd % 2 == 0 else opts.kinds[::-1]
            row = {}
            for kind in order:
                log("round %d: %s master + %s replica, %d keys" % (rnd + 1, kind, kind, opts.keys))
                row[kind] = measure(opts, kind)
            results.append(row)

    status, _ = common.run_rounds(bindir, rounds)
    if status is not None:
        return status

    summary = summarize(opts, results)
    table = render(opts, cmdline, env, summary)
    print(table, flush=True)
    if not opts.no_save:
        raw = {"command": cmdline, "env": env, "results": results, "summary": summary,
               "options": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(opts).items()}}  # fmt: skip
        common.save_results(common.results_stamp("replication", opts.only or "", "quick" if opts.quick else ""),
                            table, raw)  # fmt: skip
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        Server.stop_all()
