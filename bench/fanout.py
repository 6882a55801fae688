#!/usr/bin/env python3
"""bench/fanout.py - websocket fan-out across two servers through one Redis:
rampart (rampart.event over mod_cluster) next to Socket.IO 4.8 with
@socket.io/redis-adapter 8.3, on the same machine and the same Redis.

    python3 bench/fanout.py            (about 1 minute; env below)

One redis-server, then two servers of one kind at a time, each with one
event loop (rampart `threads: 1`; Node has one), on loopback ports:
bench/fanout-rampart.js (`rampart`), bench/fanout-sio.js (`node`).  The load
generator bench/fanout-load.js opens BENCH_FANOUT_CLIENTS websockets (200),
every other one on each server, and each client broadcasts
BENCH_FANOUT_RATES messages per second in turn (0.5,1,2,4,8,16,32; a step of
BENCH_FANOUT_STEP seconds, 3), each message to be delivered to every
client of both servers, until a step saturates (under 90% delivered, or p99
over 1 s).  Columns: deliveries expected and delivered per second, p50 and
p99 delivery latency (send to receive, one clock), and server CPU (both
servers together, from /proc) per delivered message.  BENCH_ROUNDS (1)
rounds alternate ours / peer; the table shows each step's median.

The goal of issue 15 was 1,000 clients; a 2-core machine that also runs the
load generator, both servers and Redis cannot drive 1,000 clients at one
message per client per second (1,000,000 deliveries per second), so the
client count is 200 and the per-client rate grows instead.

The npm packages (socket.io, @socket.io/redis-adapter, redis, ws) are
installed into bench/.node by `scripts/install-deps.sh --bench` (or here, once,
when missing).  Every process is started here and stopped by pid.
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from rptest import BUILD, free_port, wait_until  # noqa: E402
from test_cluster import Redis  # noqa: E402

NODE_DIR = os.path.join(HERE, ".node")
NODE_PKGS = ["ws@8", "socket.io@4.8", "@socket.io/redis-adapter@8.3", "redis@4"]
CLIENTS = int(os.environ.get("BENCH_FANOUT_CLIENTS", "200"))
RATES = os.environ.get("BENCH_FANOUT_RATES", "0.5,1,2,4,8,16,32")
STEP = os.environ.get("BENCH_FANOUT_STEP", "3")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1"))


def need_npm():
    mods = os.path.join(NODE_DIR, "node_modules")
    if all(os.path.exists(os.path.join(mods, p.rsplit("@", 1)[0], "package.json"))
           for p in NODE_PKGS):
        return
    print("bench/fanout: installing %s into bench/.node" % " ".join(NODE_PKGS), flush=True)
    subprocess.run(["npm", "install", "--prefix", NODE_DIR, "--no-audit", "--no-fund",
                    "--silent"] + NODE_PKGS, check=True, stdout=subprocess.DEVNULL)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, args, env, port, log):
        p = subprocess.Popen(args, env=dict(os.environ, **env), stdout=log,
                             stderr=subprocess.STDOUT, cwd=ROOT)
        self.procs.append(p)
        wait_until(lambda: p.poll() is not None or listening(port), 20,
                   what="%s on port %d" % (args[0], port))
        assert p.poll() is None, "%s exited" % args
        return p

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def server_pids(p):
    """The process and its children (a server that forks serves from them)."""
    pids = [p.pid]
    try:
        with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
            pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return pids


def run(kind, redis, log):
    procs = Procs()
    ports = [free_port(), free_port()]
    try:
        servers = []
        for port in ports:
            if kind == "ours":
                servers.append(procs.start(
                    [os.path.join(BUILD, "bin", "rampart"), os.path.join(HERE, "fanout-rampart.js")],
                    {"BIND": "127.0.0.1:%d" % port, "THREADS": "1",
                     "CLUSTER": "redis://127.0.0.1:%d/0" % redis.port}, port, log))
            else:
                servers.append(procs.start(
                    ["node", os.path.join(HERE, "fanout-sio.js")],
                    {"PORT": str(port), "REDIS": "redis://127.0.0.1:%d" % redis.port,
                     "NODE_PATH": os.path.join(NODE_DIR, "node_modules")}, port, log))
        pids = sum((server_pids(p) for p in servers), [])
        env = {"PROTO": "rampart" if kind == "ours" else "sio",
               "URLS": ",".join("127.0.0.1:%d" % p for p in ports),
               "CLIENTS": str(CLIENTS), "RATES": RATES, "STEP": STEP,
               "PIDS": ",".join(map(str, pids)), "REDIS_PID": str(redis.proc.pid),
               "NODE_PATH": os.path.join(NODE_DIR, "node_modules")}
        out = subprocess.run(["node", os.path.join(HERE, "fanout-load.js")],
                             env=dict(os.environ, **env), capture_output=True, text=True,
                             timeout=300)
        if out.returncode != 0:
            raise SystemExit("bench/fanout: the load generator failed against %s:\n%s"
                             % (kind, out.stderr))
        return [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    finally:
        procs.stop()


def median_rows(runs):
    """Per rate, the median of each figure over the rounds that reached it."""
    by = {}
    for rows in runs:
        for r in rows:
            by.setdefault(r["rate"], []).append(r)
    out = {}
    for rate, rs in by.items():
        out[rate] = {k: statistics.median(r[k] for r in rs)
                     for k in ("expected", "per_s", "p50", "p99", "cpu_servers", "delivered")}
        out[rate]["sat"] = any(r["delivered"] < 0.9 * r["expected"] or not r["p99"] <= 1000
                               for r in rs)
    return out


def fmt(v, f="%.0f"):
    return "-" if v is None else f % v


def main():
    need_npm()
    redis = Redis()
    log = open(os.path.join(redis.dir, "servers.log"), "ab")
    try:
        ours, peer = [], []
        for _ in range(ROUNDS):
            redis.command("FLUSHALL")
            ours.append(run("ours", redis, log))
            redis.command("FLUSHALL")
            peer.append(run("peer", redis, log))
    finally:
        log.close()
        redis.cleanup()
    o, p = median_rows(ours), median_rows(peer)
    step = float(STEP)
    print("fan-out: %d websocket clients over 2 servers (1 loop each), 1 Redis; "
          "each step %s s; latency send->receive" % (CLIENTS, STEP))
    print("%-8s %10s | %10s %8s %8s %8s | %10s %8s %8s %8s" % (
        "msg/cl/s", "expect/s", "ours/s", "p50 ms", "p99 ms", "us/msg", "sio/s", "p50 ms",
        "p99 ms", "us/msg"))
    for rate in sorted(set(o) | set(p)):
        row = ["%-8g" % rate]
        exp = (o.get(rate) or p.get(rate))["expected"] / step
        row.append("%10.0f" % exp)
        for side in (o, p):
            r = side.get(rate)
            if not r:
                row.append("%10s %8s %8s %8s" % ("-", "-", "-", "-"))
                continue
            cpu = 1e6 * r["cpu_servers"] / r["delivered"] if r["delivered"] else None
            row.append("%10s %8s %8s %8s" % (
                fmt(r["per_s"]) + ("*" if r["sat"] else ""), fmt(r["p50"], "%.1f"),
                fmt(r["p99"], "%.1f"), fmt(cpu, "%.2f")))
        print(row[0] + " " + row[1] + " | " + row[2] + " | " + row[3])
    peak_o = max(r["per_s"] for r in o.values())
    peak_p = max(r["per_s"] for r in p.values())
    ok_o = max([r["per_s"] for r in o.values() if not r["sat"]] or [0])
    ok_p = max([r["per_s"] for r in p.values() if not r["sat"]] or [0])
    print("highest delivered/s of an unsaturated step: ours %d, Socket.IO %d" % (ok_o, ok_p))
    print("* saturated (under 90% delivered, or p99 over 1 s); us/msg: server CPU (both "
          "servers, step and drain) per delivered message, in microseconds")
    print("peak delivered/s (saturated steps included): ours %d, Socket.IO %d, ratio %.2f" % (
        peak_o, peak_p, peak_o / peak_p if peak_p else float("nan")))
    common = [r for r in sorted(set(o) & set(p)) if not o[r]["sat"] and not p[r]["sat"]]
    if common:
        r = common[-1]
        print("at %g msg/client/s (highest rate neither saturated): p99 ours %.1f ms, "
              "Socket.IO %.1f ms" % (r, o[r]["p99"], p[r]["p99"]))


if __name__ == "__main__":
    main()
