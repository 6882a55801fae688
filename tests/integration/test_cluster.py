"""mod_cluster against real redis-server processes and real rampart-httpd servers.

The test plugin tests/modules/mod_clustertest.c drives the "cluster" service
over HTTP: POST /cl/pub publishes the body, GET /cl/recv lists what every
worker received ("<sub> <worker> <channel> <own> <data>" lines; sub "all" is
a "*" subscription, sub "others" one to channel "others" that skips this
server's own messages), GET /metrics has the counters.

Covers: a message published on server A reaches every worker of B and of A;
OTHERS_ONLY; ClusterPrefix isolation; order of many messages of one
publisher; Redis down at start (serves, one warning, delivery once Redis
is up); Redis killed and restarted (drops counted, one warning, one notice,
resubscribed); a Redis stopped (SIGSTOP) on open connections, idle or busy:
an outage found by ClusterTimeout (one warning, drops counted, the timeouts
counter), and after SIGCONT reconnected and resubscribed; a Redis paused for
less than ClusterTimeout (queue bounded, oldest dropped and counted); a
listener that never answers; a unix socket; reload (no thread or connection leak); configuration
errors; `-t` connects nowhere.

Every redis-server is started here on a free loopback port and stopped by pid.

Run: cd tests/integration && python3 -m unittest test_cluster -v
"""

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest
import uuid

from rptest import Server, free_port, run_httpd, wait_until

REDIS = shutil.which("redis-server")

ROUTES = """LoadModule cluster mod_cluster.so
LoadModule clustertest {testmodules}/mod_clustertest.so
LoadModule metrics mod_metrics.so
Map /cl/pub clustertest:pub
Map /cl/recv clustertest:recv
Map /cl/id clustertest:id
Map /metrics metrics:
LogLevel debug
"""

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$')


class Redis:
    """A redis-server of our own: loopback TCP port (and a unix socket)."""

    def __init__(self, port=None, unix=False):
        self.dir = tempfile.mkdtemp(prefix="rptest-redis-")
        os.chmod(self.dir, 0o755)
        self.port = port or free_port()
        self.unix = os.path.join(self.dir, "redis.sock") if unix else None
        self.proc = None
        self.start()

    def start(self):
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir]
        if self.unix:
            args += ["--unixsocket", self.unix, "--unixsocketperm", "777"]
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is not None or self._pong(), 10,
                   what="redis-server on port %d" % self.port)
        assert self.proc.poll() is None, "redis-server exited"

    def _pong(self):
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False

    def command(self, *args):
        """One command in RESP; a bulk or simple string reply as str."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            req = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)
            s.sendall(req.encode())
            f = s.makefile("rb")
            line = f.readline().decode().rstrip("\r\n")
            if line.startswith("$"):
                n = int(line[1:])
                return f.read(n + 2)[:n].decode() if n >= 0 else None
            return line[1:]

    def clients(self):
        """Client connections other than the asking one."""
        return len(self.command("CLIENT", "LIST").splitlines()) - 1

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def metrics(srv):
    st, _, body = srv.get("/metrics")
    assert st == 200, st
    out = {}
    for line in body.decode().splitlines():
        m = SAMPLE.match(line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def counter(srv, name):
    return metrics(srv).get(name, 0)


DROP_QUEUE = 'rampart_cluster_dropped_total{reason="queue"}'
DROP_DISC = 'rampart_cluster_dropped_total{reason="disconnected"}'


def publish(srv, body, ch="test", n=0):
    path = "/cl/pub?ch=%s" % ch + ("&n=%d" % n if n else "")
    st, _, out = srv.request("POST", path, body=body.encode())
    assert st == 200, (st, out)
    ok, bad = out.decode().split()[1:]
    return int(ok), int(bad)


def received(srv):
    """[(sub, worker, channel, own, data)] in delivery order."""
    st, _, body = srv.get("/cl/recv")
    assert st == 200
    out = []
    for line in body.decode().splitlines():
        sub, w, ch, own, data = line.split(" ", 4)
        out.append((sub, int(w), ch, own == "1", data))
    return out


def got(srv, data, sub="all"):
    """Workers that received data on subscription sub."""
    return sorted(w for s, w, _, _, d in received(srv) if d == data and s == sub)


def cluster_server(redis_addr, threads=2, extra="", plugin_first=False):
    conf = ROUTES
    if plugin_first:  # its worker_init subscribes before mod_cluster's runs
        first, second = conf.splitlines(True)[:2]
        conf = second + first + "".join(conf.splitlines(True)[2:])
    return Server(conf=conf + "Cluster %s\n" % redis_addr + extra, threads=threads)


def connected(srv):
    return counter(srv, "rampart_cluster_connected") == 1


def numsub(r, channel):
    """Subscribers of channel (PUBSUB NUMSUB answers an array)."""
    with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
        s.sendall(("*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$%d\r\n%s\r\n"
                   % (len(channel), channel)).encode())
        f = s.makefile("rb")
        assert f.readline().startswith(b"*2")
        f.readline()
        f.readline()
        return int(f.readline()[1:])


def stat_calls(r, command):
    """How many times Redis ran command (INFO commandstats)."""
    m = re.search(r"^cmdstat_%s:calls=(\d+)" % command, r.command("INFO", "commandstats"), re.M)
    return int(m.group(1)) if m else 0


def lines(srv, pattern):
    return len(re.findall(pattern, srv.error_log(), re.M))


@unittest.skipUnless(REDIS, "redis-server is not installed")
class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.cleanups = []

    def tearDown(self):
        for c in reversed(self.cleanups):
            c()

    def redis(self, **kw):
        r = Redis(**kw)
        self.cleanups.append(r.cleanup)
        return r

    def server(self, *a, **kw):
        s = cluster_server(*a, **kw)
        self.cleanups.append(lambda: self.finish(s))
        return s

    def finish(self, srv):
        srv.stop()
        rep = srv.sanitizer_report()
        ok = not rep
        srv.cleanup(keep=not ok)
        self.assertFalse(rep, "sanitizer report:\n" + rep)

    def wait_connected(self, *servers, timeout=20):
        for s in servers:
            wait_until(lambda: connected(s), timeout, what="the cluster connected")

    def test_fanout_across_servers_and_threads(self):
        r = self.redis()
        url = "redis://127.0.0.1:%d/0" % r.port
        a = self.server(url, threads=3)
        b = self.server(url, threads=2)
        c = self.server(url, threads=1, extra="ClusterPrefix otherapp\n")
        self.wait_connected(a, b, c)
        ida, ena = a.get("/cl/id")[2].decode().split()
        idb, _ = b.get("/cl/id")[2].decode().split()
        self.assertEqual(ena, "1")
        self.assertRegex(ida, r"^[0-9a-f]{16}$")
        self.assertNotEqual(ida, idb)

        msg = "hello-" + uuid.uuid4().hex
        self.assertEqual(publish(a, msg), (1, 0))
        wait_until(lambda: got(b, msg) == [0, 1], 10, what="B's two workers got it")
        wait_until(lambda: got(a, msg) == [0, 1, 2], 10, what="A's three workers got it")
        self.assertTrue(all(own for _, _, _, own, d in received(a) if d == msg))
        self.assertFalse(any(own for _, _, _, own, d in received(b) if d == msg))

        # RP_CLUSTER_OTHERS_ONLY: B's "others" subscription gets it, A's does not
        other = "others-" + uuid.uuid4().hex
        publish(a, other, ch="others")
        wait_until(lambda: got(b, other, "others") == [0, 1], 10, what="B's others sub")
        wait_until(lambda: got(a, other, "all") == [0, 1, 2], 10, what="A's all sub")
        self.assertEqual(got(a, other, "others"), [])

        # ClusterPrefix: C shares the Redis but not the channels
        mine = "c-" + uuid.uuid4().hex
        publish(c, mine)
        wait_until(lambda: got(c, mine) == [0], 10, what="C got its own")
        self.assertEqual(got(a, mine) + got(b, mine), [])
        self.assertNotIn(msg, [d for *_, d in received(c)])

        m = metrics(a)
        self.assertEqual(m["rampart_cluster_published_total"], 2)
        self.assertGreaterEqual(m["rampart_cluster_delivered_total"], 6)
        self.assertEqual(m[DROP_QUEUE] + m[DROP_DISC], 0)

    def test_many_messages_keep_order(self):
        r = self.redis()
        url = "redis://127.0.0.1:%d/0" % r.port
        a = self.server(url)
        b = self.server(url)
        self.wait_connected(a, b)
        tag = uuid.uuid4().hex[:8]
        n = 3000
        self.assertEqual(publish(a, tag, ch="seq", n=n), (n, 0))

        def seq(srv, worker):
            return [d for s, w, ch, _, d in received(srv) if s == "all" and w == worker
                    and ch == "seq" and d.startswith(tag)]

        want = ["%s-%d" % (tag, i) for i in range(n)]
        for w in (0, 1):
            wait_until(lambda: len(seq(b, w)) >= n, 30, what="%d messages on B" % n)
            self.assertEqual(seq(b, w), want)
        self.assertEqual(counter(a, "rampart_cluster_published_total"), n)

    def test_redis_down_at_start(self):
        port = free_port()
        a = self.server("redis://127.0.0.1:%d" % port)
        self.assertEqual(a.get("/cl/id")[0], 200)  # serves without Redis
        a.wait_log(r"\[warn\] \[cluster\] cannot reach Redis", timeout=10)
        self.assertEqual(publish(a, "lost"), (0, 1))
        self.assertEqual(counter(a, DROP_DISC), 1)
        # several failed retries, still one warning
        wait_until(lambda: lines(a, r"retrying Redis at") >= 2, 10, what="two retries")
        self.assertEqual(connected(a), False)

        self.redis(port=port)
        self.wait_connected(a)
        a.wait_log(r"\[notice\] \[cluster\] connected to Redis", timeout=5)
        msg = "after-" + uuid.uuid4().hex
        self.assertEqual(publish(a, msg), (1, 0))
        wait_until(lambda: got(a, msg) == [0, 1], 10, what="delivery once Redis is up")
        self.assertEqual(lines(a, r"\[warn\] \[cluster\]"), 1)
        self.assertEqual(counter(a, "rampart_cluster_reconnects_total"), 0)

    def test_redis_restart(self):
        r = self.redis()
        url = "redis://127.0.0.1:%d/0" % r.port
        a = self.server(url)
        b = self.server(url)
        self.wait_connected(a, b)

        r.stop()
        for s in (a, b):
            s.wait_log(r"\[warn\] \[cluster\] lost Redis", timeout=10)
            wait_until(lambda: not connected(s), 5, what="connected gauge 0")
        self.assertEqual(publish(a, "x", n=3), (0, 3))
        self.assertGreaterEqual(counter(a, DROP_DISC), 3)
        wait_until(lambda: lines(a, r"retrying Redis at") >= 2, 10, what="two retries")

        r.start()
        self.wait_connected(a, b)
        for s in (a, b):
            s.wait_log(r"\[notice\] \[cluster\] Redis at .* is back", timeout=5)
        msg = "back-" + uuid.uuid4().hex
        self.assertEqual(publish(a, msg), (1, 0))
        wait_until(lambda: got(b, msg) == [0, 1], 10, what="B resubscribed")
        for s in (a, b):
            self.assertEqual(lines(s, r"\[warn\] \[cluster\]"), 1, s.error_log())
            self.assertEqual(lines(s, r"\[notice\] \[cluster\] .* is back"), 1)
            self.assertEqual(counter(s, "rampart_cluster_reconnects_total"), 1)

    def stopped_redis_outage(self, busy):
        """Redis stopped by SIGSTOP: its connections stay open and silent."""
        r = self.redis()
        url = "redis://127.0.0.1:%d/0" % r.port
        a = self.server(url, extra="ClusterTimeout 1.5\n")
        b = self.server(url, extra="ClusterTimeout 1.5\n")
        self.wait_connected(a, b)
        msg = "before-" + uuid.uuid4().hex
        publish(a, msg)
        wait_until(lambda: got(b, msg) == [0, 1], 10, what="B got A's message")

        r.pause()
        if busy:  # commands unanswered on the publishing connection
            self.assertEqual(publish(a, "unanswered", n=5), (5, 0))
        # idle, the heartbeat finds it: within 1.5 s to about 2.5 s
        for s in (a, b):
            s.wait_log(r"\[warn\] \[cluster\] lost Redis .*\(no answer on the "
                       r"(publishing|subscribing) connection for 1.5 s\)", timeout=30)
            wait_until(lambda: not connected(s), 5, what="connected gauge 0")
            self.assertGreaterEqual(counter(s, "rampart_cluster_timeouts_total"), 1)
        if busy:
            self.assertGreaterEqual(counter(a, DROP_DISC), 5)
        before = counter(a, DROP_DISC)
        self.assertEqual(publish(a, "x", n=3), (0, 3))  # dropped at once, counted
        self.assertEqual(counter(a, DROP_DISC), before + 3)
        self.assertEqual(a.get("/cl/id")[0], 200)  # serving as usual
        # the retries' new connections get no answer either: no new warning
        wait_until(lambda: counter(a, "rampart_cluster_timeouts_total") >= 2, 30,
                   what="a retry given up")

        r.resume()
        self.wait_connected(a, b)
        for s in (a, b):
            s.wait_log(r"\[notice\] \[cluster\] Redis at .* is back", timeout=5)
        msg = "after-" + uuid.uuid4().hex
        self.assertEqual(publish(a, msg), (1, 0))
        wait_until(lambda: got(b, msg) == [0, 1], 10, what="B resubscribed")
        wait_until(lambda: got(a, msg) == [0, 1], 10, what="A resubscribed")
        for s in (a, b):
            self.assertEqual(lines(s, r"\[warn\] \[cluster\]"), 1, s.error_log())
            self.assertEqual(counter(s, "rampart_cluster_reconnects_total"), 1)

    def test_stopped_redis_idle(self):
        self.stopped_redis_outage(busy=False)

    def test_stopped_redis_with_commands_waiting(self):
        self.stopped_redis_outage(busy=True)

    def test_heartbeat_is_private(self):
        """The heartbeat keeps an idle pair checked without reaching any
        subscriber: it is published outside the <prefix>:* pattern."""
        r = self.redis()
        url = "redis://127.0.0.1:%d/0" % r.port
        a = self.server(url, extra="ClusterTimeout 1\n")
        b = self.server(url)
        self.wait_connected(a, b)
        ida = a.get("/cl/id")[2].decode().split()[0]
        chan = "rampart!alive:" + ida
        wait_until(lambda: numsub(r, chan) == 1, 10, what="A listens to its heartbeat")

        def beats():
            return stat_calls(r, "publish")

        n = beats()
        wait_until(lambda: beats() >= n + 3, 10, what="three heartbeats")
        self.assertEqual(received(a) + received(b), [])
        self.assertEqual(counter(a, "rampart_cluster_published_total"), 0)

    def test_paused_redis_drops_oldest(self):
        """Paused for less than ClusterTimeout: a slow Redis, not an outage."""
        r = self.redis()
        url = "redis://127.0.0.1:%d/0" % r.port
        a = self.server(url, extra="ClusterQueue 10\nClusterTimeout 3600\n")
        b = self.server(url)
        self.wait_connected(a, b)
        r.pause()
        tag = uuid.uuid4().hex[:8]
        total = 0
        for batch in range(5):
            self.assertEqual(publish(a, "%s.%d" % (tag, batch), ch="slow", n=200), (200, 0))
            total += 200
        self.assertGreater(counter(a, DROP_QUEUE), 0)
        self.assertEqual(a.get("/cl/id")[0], 200)  # the workers never wait for Redis
        r.resume()

        def accounted():
            m = metrics(a)
            return m["rampart_cluster_published_total"] + m[DROP_QUEUE] == total

        wait_until(accounted, 20, what="every message published or dropped")
        sent = counter(a, "rampart_cluster_published_total")
        self.assertLess(sent, total)

        def mine():  # global sequence numbers: batch * 200 + i
            out = []
            for s, w, ch, _, d in received(b):
                if s == "all" and w == 0 and ch == "slow" and d.startswith(tag):
                    batch, i = d[len(tag) + 1:].split("-")
                    out.append(int(batch) * 200 + int(i))
            return out

        wait_until(lambda: len(mine()) >= sent, 10, what="B got what was published")
        seen = mine()
        self.assertEqual(len(seen), sent)
        self.assertEqual(seen, sorted(seen))  # order kept, gaps where dropped
        self.assertEqual(seen[-1], total - 1)  # the newest are kept
        self.assertEqual(counter(a, DROP_DISC), 0)

    def test_redis_that_does_not_answer(self):
        lst = socket.socket()  # accepts (the kernel does) and never answers
        lst.bind(("127.0.0.1", 0))
        lst.listen(16)
        self.cleanups.append(lst.close)
        a = self.server("redis://127.0.0.1:%d" % lst.getsockname()[1])
        self.assertEqual(a.get("/cl/id")[0], 200)
        a.wait_log(r"\[warn\] \[cluster\] cannot reach Redis .*no answer within 5 s",
                   timeout=20)
        self.assertEqual(publish(a, "lost"), (0, 1))
        self.assertEqual(lines(a, r"\[warn\] \[cluster\]"), 1)
        self.assertGreaterEqual(counter(a, "rampart_cluster_timeouts_total"), 1)

    def test_unix_socket(self):
        r = self.redis(unix=True)
        a = self.server("unix:%s" % r.unix, plugin_first=True)
        self.wait_connected(a)
        msg = "unix-" + uuid.uuid4().hex
        publish(a, msg)
        wait_until(lambda: got(a, msg) == [0, 1], 10, what="delivery over a unix socket")

    def test_reload_keeps_one_connection_pair(self):
        r = self.redis()
        a = self.server("redis://127.0.0.1:%d/0" % r.port)
        self.wait_connected(a)
        wait_until(lambda: r.clients() == 2, 10, what="two connections to Redis")
        tasks = len(os.listdir("/proc/%d/task" % a.pid))
        for i in range(3):
            a.send_signal(signal.SIGHUP)
            wait_until(lambda: lines(a, r"previous configuration has finished") == i + 1, 20,
                       what="reload %d drained" % (i + 1))
        self.wait_connected(a)
        wait_until(lambda: r.clients() == 2, 10, what="still two connections to Redis")
        self.assertEqual(len(os.listdir("/proc/%d/task" % a.pid)), tasks)
        msg = "reloaded-" + uuid.uuid4().hex
        self.assertEqual(publish(a, msg), (1, 0))
        wait_until(lambda: got(a, msg) == [0, 1], 10, what="delivery after reloads")


class ClusterConfTest(unittest.TestCase):
    def check(self, line, want):
        d = tempfile.mkdtemp(prefix="rptest-")
        try:
            path = os.path.join(d, "bad.conf")
            with open(path, "w") as f:
                f.write("LoadModule cluster mod_cluster.so\n%s\n" % line)
            r = run_httpd(["-t", "-f", path])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("bad.conf:2:", r.stderr)
            self.assertIn(want, r.stderr)
        finally:
            shutil.rmtree(d)

    def test_errors(self):
        self.check("Cluster http://127.0.0.1:6379", "is not a Redis address; use redis://")
        self.check("Cluster 127.0.0.1:6379", "did you mean redis://127.0.0.1:6379")
        self.check("Cluster rediss://h:6380", "TLS to Redis (rediss://) is not supported")
        self.check("Cluster redis://127.0.0.1:99999", "port '99999' must be a number")
        self.check("Cluster redis://127.0.0.1:6379/x", "database 'x' must be a number")
        self.check("ClusterQueue 0", "ClusterQueue: '0' must be a number of messages")
        self.check("ClusterPrefix a*b", "ClusterPrefix: 'a*b' must be 1 to 64 letters")
        self.check("ClusterTimeout 0", "ClusterTimeout: '0' must be seconds from 0.1 to 3600")
        self.check("ClusterTimeout 5s", "ClusterTimeout: '5s' must be seconds")

    def test_check_connects_nowhere(self):
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(8)
        d = tempfile.mkdtemp(prefix="rptest-")
        try:
            path = os.path.join(d, "ok.conf")
            with open(path, "w") as f:
                f.write("LoadModule cluster mod_cluster.so\nCluster redis://127.0.0.1:%d/0\n"
                        % lst.getsockname()[1])
            r = run_httpd(["-t", "-f", path])
            self.assertEqual(r.returncode, 0, r.stderr)
            # a connect would have completed (and queued) before -t exited
            readable, _, _ = select.select([lst], [], [], 0)
            self.assertEqual(readable, [])
        finally:
            lst.close()
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
