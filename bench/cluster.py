#!/usr/bin/env python3
"""bench/cluster.py - mod_cluster's message rate next to redis-benchmark's.

    python3 bench/cluster.py [messages] [rounds]     (default 200000 2)

One redis-server and two rampart-httpd servers (Threads 2, mod_cluster and
the test plugin mod_clustertest, built in build/), all on loopback, all
started here and stopped by pid.  Server A publishes `messages` 64-byte
messages in bursts of 20,000 (one HTTP request each, the plugin's loop
calling the service's publish()); B subscribes on both workers.  Measured: the
time from the first burst until B's rampart_cluster_received_total has them
all, so it covers A's queue, its Redis connection, Redis's fan-out and B's
subscription connection.

The peer, in the same run on the same Redis with the same subscriber B:
`redis-benchmark -c 1 -P 256 -n <messages> PUBLISH rampart:bench <64 bytes>`,
one connection pipelining 256 commands, like mod_cluster's one connection with
at most 256 unanswered.  Rounds alternate ours / peer.  The ratio is ours /
peer; 1.0 means mod_cluster publishes as fast as Redis's own benchmark
client.
"""
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from rptest import Server, wait_until  # noqa: E402
from test_cluster import ROUTES, Redis, counter  # noqa: E402

BURST = 20000


def ours(a, b, n, body):
    before = counter(b, "rampart_cluster_received_total")
    t0 = time.monotonic()
    left = n
    while left:
        k = min(BURST, left)
        st, _, out = a.request("POST", "/cl/pub?ch=bench&n=%d" % k, body=body, timeout=60)
        assert st == 200 and out.split()[2] == b"0", out
        left -= k
    wait_until(lambda: counter(b, "rampart_cluster_received_total") >= before + n, 120,
               interval=0.005, what="B received them all")
    return n / (time.monotonic() - t0)


def peer(r, b, n, payload):
    before = counter(b, "rampart_cluster_received_total")
    t0 = time.monotonic()
    subprocess.run(["redis-benchmark", "-p", str(r.port), "-c", "1", "-P", "256", "-n", str(n),
                    "-q", "PUBLISH", "rampart:bench", payload], check=True,
                   stdout=subprocess.DEVNULL)
    wait_until(lambda: counter(b, "rampart_cluster_received_total") >= before + n, 120,
               interval=0.005, what="B received the peer's messages")
    return n / (time.monotonic() - t0)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    if not shutil.which("redis-benchmark"):
        sys.exit("redis-benchmark is not installed")
    r = Redis()
    url = "redis://127.0.0.1:%d/0" % r.port
    conf = ROUTES.replace("LogLevel debug", "LogLevel notice") + \
        "Cluster %s\nClusterQueue %d\nLog off\n" % (url, n + BURST)
    a = Server(conf=conf, threads=2, logs=False)
    b = Server(conf=conf, threads=2, logs=False)
    try:
        wait_until(lambda: counter(a, "rampart_cluster_connected") == 1, 10)
        wait_until(lambda: counter(b, "rampart_cluster_connected") == 1, 10)
        # mod_cluster adds a 21-byte origin header: the peer's payload is as long
        body = b"m" * (64 - len("-99999"))
        payload = "p" * (64 + 21)
        ours(a, b, BURST, body)  # warm-up
        res_ours, res_peer = [], []
        for _ in range(rounds):
            res_ours.append(ours(a, b, n, body))
            res_peer.append(peer(r, b, n, payload))
        med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
        dropped = counter(a, 'rampart_cluster_dropped_total{reason="queue"}')
        print("messages  rounds  mod_cluster msg/s  redis-benchmark msg/s  ratio  dropped")
        print("%8d  %6d  %17.0f  %21.0f  %5.2f  %7d" % (n, rounds, med(res_ours), med(res_peer),
                                                      med(res_ours) / med(res_peer), dropped))
    finally:
        a.cleanup()
        b.cleanup()
        r.cleanup()


if __name__ == "__main__":
    main()
