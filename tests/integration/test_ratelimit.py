"""mod_ratelimit against the real rampart-httpd: per-client limits on paths.

Covers: the limit per window with 429 and Retry-After, paths outside the
rule, exact versus prefix rules and the longest rule winning, the key kinds
(ip, header:NAME, cookie:NAME, fingerprint) and the fall-back to the address
when the cookie or header is missing, a new window once the old one ends,
counting shared by the worker threads, a flood of distinct keys bounded by
RateLimitEntries, and configuration errors naming file:line.

RateLimitShared (counters kept in Redis through mod_cluster), with a
redis-server and two servers started here: the limit holds across the
servers, with exactly the documented excess (a server that has not yet
heard of the other's requests admits one more, then refuses); Redis killed
(one warning, counting on this server alone, with the last total Redis gave)
and restarted (one notice, what was counted meanwhile reaches Redis); Redis
stopped (SIGSTOP) on open connections, found by ClusterTimeout (the same
warning, local counting) and resumed (shared again); the script sent with
EVALSHA (INFO commandstats), and again with EVAL once after SCRIPT FLUSH
(NOSCRIPT), then EVALSHA again.

Run: cd tests/integration && python3 -m unittest test_ratelimit -v
"""

import hashlib
import http.client
import os
import re
import unittest
import uuid

from rptest import Server, run_httpd, wait_until
from test_cluster import REDIS, Redis, counter, metrics, stat_calls

FILES = {"www/index.html": b"home\n", "www/api/a.txt": b"api\n",
         "www/login": b"login\n", "www/h/x.txt": b"h\n", "www/c/x.txt": b"c\n",
         "www/f/x.txt": b"f\n", "www/t/x.txt": b"t\n", "www/w/x.txt": b"w\n",
         "www/api/deep/d.txt": b"deep\n"}

CONF = """LoadModule static mod_static.so
LoadModule ratelimit mod_ratelimit.so
Map / {www}
RateLimit /api/ 3 600
RateLimit /api/deep/ 5 600
RateLimit /login 2 600
RateLimit /h/ 2 600 header:X-User
RateLimit /c/ 2 600 cookie:session
RateLimit /f/ 2 600 fingerprint
RateLimit /t/ 6 600
RateLimit /w/ 1 0.3
RateLimitEntries 64
"""


class RateLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=CONF, files=FILES, threads=2)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def statuses(self, path, n, headers=None):
        return [self.srv.get(path, headers)[0] for _ in range(n)]

    def test_limit_and_retry_after(self):
        self.assertEqual(self.statuses("/api/a.txt", 3), [200, 200, 200])
        st, hd, body = self.srv.get("/api/a.txt")
        self.assertEqual(st, 429)
        self.assertTrue(1 <= int(hd["retry-after"]) <= 600, hd)
        self.assertIn(b"429", body)
        # not counted against other paths; refusals are not counted either
        self.assertEqual(self.srv.get("/index.html")[0], 200)
        self.srv.wait_log(r'"GET /api/a.txt HTTP/1.1" 429', which="access")

    def test_longest_rule_wins(self):
        self.assertEqual(self.statuses("/api/deep/d.txt", 6), [200] * 5 + [429])

    def test_exact_rule(self):
        self.assertEqual(self.statuses("/login", 3), [200, 200, 429])
        # "/login" without a trailing slash covers only itself
        self.assertEqual(self.srv.get("/login/x")[0], 404)
        self.assertEqual(self.srv.get("/login/x")[0], 404)

    def test_header_key(self):
        a, b = {"X-User": "alice"}, {"X-User": "bob"}
        self.assertEqual(self.statuses("/h/x.txt", 3, a), [200, 200, 429])
        self.assertEqual(self.statuses("/h/x.txt", 2, b), [200, 200])
        # without the header: counted by address, in a class of its own
        self.assertEqual(self.statuses("/h/x.txt", 3), [200, 200, 429])

    def test_cookie_key(self):
        s1 = {"Cookie": "theme=dark; session=\"s-1\""}
        s2 = {"Cookie": "session=s-2; theme=dark"}
        self.assertEqual(self.statuses("/c/x.txt", 3, s1), [200, 200, 429])
        self.assertEqual(self.statuses("/c/x.txt", 2, s2), [200, 200])
        self.assertEqual(self.statuses("/c/x.txt", 3, {"Cookie": "other=1"}),
                         [200, 200, 429])

    def test_fingerprint_key(self):
        ua1, ua2 = {"User-Agent": "one/1"}, {"User-Agent": "two/2"}
        self.assertEqual(self.statuses("/f/x.txt", 3, ua1), [200, 200, 429])
        self.assertEqual(self.statuses("/f/x.txt", 2, ua2), [200, 200])

    def test_shared_by_worker_threads(self):
        # six separate connections, spread over both worker threads, and
        # one keep-alive connection: together never more than the rate
        conns = [self.srv.connection() for _ in range(4)]
        try:
            got = [Server.do(c, "GET", "/t/x.txt")[0] for c in conns]
            got += [Server.do(conns[0], "GET", "/t/x.txt")[0] for _ in range(4)]
        finally:
            for c in conns:
                c.close()
        self.assertEqual(got.count(200), 6, got)
        self.assertEqual(got[6:], [429, 429])

    def test_new_window(self):
        self.assertEqual(self.srv.get("/w/x.txt")[0], 200)
        # a 0.3 s window: wait for the next one, bounded
        wait_until(lambda: self.srv.get("/w/x.txt")[0] == 200, 10,
                   what="a new rate-limit window")

    def test_flood_of_keys_is_bounded(self):
        victim = {"X-User": "victim"}
        self.assertEqual(self.statuses("/h/x.txt", 3, victim), [200, 200, 429])
        # far more distinct clients than RateLimitEntries 64: the oldest go
        conn = self.srv.connection()
        try:
            for i in range(2000):
                st = Server.do(conn, "GET", "/h/x.txt", {"X-User": "u%d" % i})[0]
                self.assertEqual(st, 200)
        finally:
            conn.close()
        # the victim was forgotten: a new window (memory stayed bounded)
        self.assertEqual(self.srv.get("/h/x.txt", victim)[0], 200)
        self.assertTrue(self.srv.alive())


SHARED = """LoadModule static mod_static.so
LoadModule ratelimit mod_ratelimit.so
LoadModule cluster mod_cluster.so
LoadModule metrics mod_metrics.so
Map /metrics metrics:
Map / {www}
Cluster redis://127.0.0.1:%d/0
RateLimitShared on
RateLimit /s/ 10 600 header:X-Client
RateLimit /o/ 3 600 header:X-Client
"""

SHARED_FILES = {"www/s/x.txt": b"s\n", "www/o/x.txt": b"o\n"}
SYNCED = "rampart_ratelimit_shared_synced_total"


def redis_key(path, client):
    """The counter's key in Redis: ClusterPrefix, rule, SHA-256 of the header."""
    return "rampart:rl:%s header %s" % (path, hashlib.sha256(client.encode()).hexdigest())


@unittest.skipUnless(REDIS, "redis-server is not installed")
class RateLimitSharedTest(unittest.TestCase):
    def setUp(self):
        self.cleanups = []
        self.redis = Redis()
        self.cleanups.append(self.redis.cleanup)

    def tearDown(self):
        for c in reversed(self.cleanups):
            c()

    def server(self, extra=""):
        s = Server(conf=SHARED % self.redis.port + extra, files=SHARED_FILES, threads=2)

        def finish():
            s.stop()
            rep = s.sanitizer_report()
            s.cleanup(keep=bool(rep))
            self.assertFalse(rep, "sanitizer report:\n" + rep)

        self.cleanups.append(finish)
        wait_until(lambda: counter(s, "rampart_cluster_connected") == 1, 20,
                   what="the cluster connected")
        return s

    def total(self, path, client):
        v = self.redis.command("GET", redis_key(path, client))
        return int(v) if v is not None else 0

    def wait_total(self, path, client, n):
        wait_until(lambda: self.total(path, client) == n, 10,
                   what="Redis counted %d for %s" % (n, client))

    @staticmethod
    def hits(srv, path, client, n):
        return [srv.get(path, {"X-Client": client})[0] for _ in range(n)]

    def test_limit_across_servers(self):
        a, b = self.server(), self.server()
        c = "c-" + uuid.uuid4().hex
        self.assertEqual(self.hits(a, "/s/x.txt", c, 6), [200] * 6)
        self.wait_total("/s/", c, 6)
        # B has not heard of c: its first request goes by its own count, and
        # its answer brings Redis's total (7) in
        before = counter(b, SYNCED)
        self.assertEqual(self.hits(b, "/s/x.txt", c, 1), [200])
        self.wait_total("/s/", c, 7)
        wait_until(lambda: counter(b, SYNCED) > before, 10, what="B folded the total in")
        # 7 known + what B counts itself: three more, then refused
        self.assertEqual(self.hits(b, "/s/x.txt", c, 4), [200, 200, 200, 429])
        self.wait_total("/s/", c, 10)
        # A last heard 6: it admits one more (the documented excess), and
        # refuses once Redis's answer (11) is folded in
        before = counter(a, SYNCED)
        self.assertEqual(self.hits(a, "/s/x.txt", c, 1), [200])
        self.wait_total("/s/", c, 11)
        wait_until(lambda: counter(a, SYNCED) > before, 10, what="A folded the total in")
        st, hd, _ = a.get("/s/x.txt", {"X-Client": c})
        self.assertEqual(st, 429)
        self.assertTrue(1 <= int(hd["retry-after"]) <= 600, hd)
        self.assertEqual(self.hits(b, "/s/x.txt", c, 1), [429])
        # the window is Redis's: the key expires with it
        ttl = int(self.redis.command("PTTL", redis_key("/s/", c)))
        self.assertTrue(0 < ttl <= 600000, ttl)
        # another client is not touched; refusals are not counted
        self.assertEqual(self.hits(b, "/s/x.txt", "other-" + c, 1), [200])
        self.assertEqual(self.total("/s/", c), 11)
        for s in (a, b):
            self.assertEqual(counter(s, "rampart_ratelimit_shared_failed_total"), 0)
            self.assertEqual(counter(s, "rampart_ratelimit_shared_local"), 0)

    def warnings(self, srv):
        return len(re.findall(r"\[warn\] \[ratelimit\]", srv.error_log()))

    def test_redis_outage_and_recovery(self):
        a = self.server()
        c1, c2, c3 = ("%s-%s" % (n, uuid.uuid4().hex) for n in ("c1", "c2", "c3"))
        self.assertEqual(self.hits(a, "/o/x.txt", c1, 1), [200])
        self.wait_total("/o/", c1, 1)

        self.redis.stop()
        wait_until(lambda: counter(a, "rampart_cluster_connected") == 0, 10,
                   what="the cluster lost Redis")
        # counted on this server alone: c2 from zero, c1 from Redis's last 1
        self.assertEqual(self.hits(a, "/o/x.txt", c2, 4), [200, 200, 200, 429])
        self.assertEqual(self.hits(a, "/o/x.txt", c1, 3), [200, 200, 429])
        a.wait_log(r"\[warn\] \[ratelimit\] RateLimitShared: cannot update", timeout=10)
        self.assertEqual(self.warnings(a), 1, a.error_log())  # one per outage
        self.assertEqual(counter(a, "rampart_ratelimit_shared_local"), 1)
        self.assertGreaterEqual(counter(a, "rampart_ratelimit_shared_failed_total"), 3)

        self.redis.start()  # empty: no persistence
        self.assert_shared_again(a, c3, 20)
        # c2's three requests counted during the outage reach Redis with its
        # next update (this request is refused, and not counted)
        self.assertEqual(self.hits(a, "/o/x.txt", c2, 1), [429])
        self.wait_total("/o/", c2, 3)

        # a second outage: a second warning, still one
        self.redis.stop()
        wait_until(lambda: counter(a, "rampart_cluster_connected") == 0, 10,
                   what="the cluster lost Redis again")
        self.assertEqual(self.hits(a, "/o/x.txt", "c4-" + c1, 2), [200, 200])
        wait_until(lambda: self.warnings(a) == 2, 10, what="the second outage's warning")
        self.assertEqual(self.hits(a, "/o/x.txt", "c5-" + c1, 2), [200, 200])
        self.assertEqual(self.warnings(a), 2)
        self.assertTrue(a.alive())

    def assert_shared_again(self, a, key, within):
        """After an outage: the cluster reconnects, a new key is counted in
        Redis, the recovery is logged and local counting has stopped."""
        wait_until(lambda: counter(a, "rampart_cluster_connected") == 1, within,
                   what="the cluster back")
        self.assertEqual(self.hits(a, "/o/x.txt", key, 1), [200])
        self.wait_total("/o/", key, 1)
        a.wait_log(r"\[notice\] \[ratelimit\] RateLimitShared: Redis answers again",
                   timeout=10)
        self.assertEqual(counter(a, "rampart_ratelimit_shared_local"), 0)

    def test_stopped_redis(self):
        """A Redis that keeps its connections open and never answers is an
        outage once ClusterTimeout passes: counted here alone meanwhile."""
        a = self.server("ClusterTimeout 1.5\n")
        c0, c1, c2, c3 = ("%s-%s" % (n, uuid.uuid4().hex) for n in ("c0", "c1", "c2", "c3"))
        self.assertEqual(self.hits(a, "/o/x.txt", c1, 1), [200])
        self.wait_total("/o/", c1, 1)

        self.redis.pause()
        # an update left unanswered (Redis reads it when resumed: it may be
        # counted again with the next one - too many, never too few)
        self.assertEqual(self.hits(a, "/o/x.txt", c0, 1), [200])
        wait_until(lambda: counter(a, "rampart_cluster_connected") == 0, 30,
                   what="the stopped Redis found")
        self.assertGreaterEqual(counter(a, "rampart_cluster_timeouts_total"), 1)
        a.wait_log(r"\[warn\] \[ratelimit\] RateLimitShared: cannot update", timeout=10)
        self.assertEqual(counter(a, "rampart_ratelimit_shared_local"), 1)
        # counted on this server alone: c2 from zero, c1 from Redis's last 1
        self.assertEqual(self.hits(a, "/o/x.txt", c2, 4), [200, 200, 200, 429])
        self.assertEqual(self.hits(a, "/o/x.txt", c1, 3), [200, 200, 429])
        self.assertEqual(self.warnings(a), 1, a.error_log())

        self.redis.resume()
        self.assert_shared_again(a, c3, 30)
        # what c2 counted while Redis was stopped reaches it with the next update
        self.assertEqual(self.hits(a, "/o/x.txt", c2, 1), [429])
        self.wait_total("/o/", c2, 3)
        self.assertEqual(self.warnings(a), 1)

    def test_evalsha_and_noscript(self):
        a = self.server()
        first = "first-" + uuid.uuid4().hex
        self.assertEqual(self.hits(a, "/s/x.txt", first, 1), [200])
        self.wait_total("/s/", first, 1)
        # a new Redis does not know the script: NOSCRIPT, then EVAL once
        self.assertEqual(counter(a, "rampart_cluster_script_loads_total"), 1)
        evals, shas = stat_calls(self.redis, "eval"), stat_calls(self.redis, "evalsha")
        self.assertEqual(evals, 1)

        # from then on only EVALSHA: one per update (a client each)
        clients = ["c%d-%s" % (i, uuid.uuid4().hex) for i in range(4)]
        for c in clients:
            self.assertEqual(self.hits(a, "/s/x.txt", c, 1), [200])
            self.wait_total("/s/", c, 1)
        self.assertEqual(stat_calls(self.redis, "evalsha"), shas + 4)
        self.assertEqual(stat_calls(self.redis, "eval"), 1)

        # SCRIPT FLUSH (or a restart): the next update still reaches Redis
        self.assertEqual(self.redis.command("SCRIPT", "FLUSH"), "OK")
        after = "after-" + uuid.uuid4().hex
        self.assertEqual(self.hits(a, "/s/x.txt", after, 1), [200])
        self.wait_total("/s/", after, 1)
        self.assertEqual(counter(a, "rampart_cluster_script_loads_total"), 2)
        self.assertEqual(stat_calls(self.redis, "eval"), 2)
        # and EVALSHA again
        shas = stat_calls(self.redis, "evalsha")
        last = "last-" + uuid.uuid4().hex
        self.assertEqual(self.hits(a, "/s/x.txt", last, 1), [200])
        self.wait_total("/s/", last, 1)
        self.assertEqual(stat_calls(self.redis, "evalsha"), shas + 1)
        self.assertEqual(stat_calls(self.redis, "eval"), 2)
        self.assertEqual(counter(a, "rampart_ratelimit_shared_failed_total"), 0)
        self.assertEqual(counter(a, "rampart_ratelimit_shared_local"), 0)


class RateLimitConfTest(unittest.TestCase):
    def check_error(self, line, want):
        srv = Server(conf="LoadModule ratelimit mod_ratelimit.so\n" + line + "\n",
                     start=False)
        try:
            r = run_httpd(["-t", "-f", srv.conf_path])
            self.assertNotEqual(r.returncode, 0)
            msg = r.stdout + r.stderr
            self.assertIn("rampart.conf:", msg)
            self.assertIn(want, msg)
        finally:
            srv.cleanup()

    def test_errors(self):
        self.check_error("RateLimit api/ 3 60", "must start with '/'")
        self.check_error("RateLimit /a/ 0 60", "rate '0'")
        self.check_error("RateLimit /a/ x 60", "rate 'x'")
        self.check_error("RateLimit /a/ 3 0", "window '0'")
        self.check_error("RateLimit /a/ 3 60 cookie:", "unknown key 'cookie:'")
        self.check_error("RateLimit /a/ 3 60 ipp", "unknown key 'ipp'")
        self.check_error("RateLimit /a/ 3 60\nRateLimit /a/ 4 60", "already has a limit")
        self.check_error("RateLimitEntries 10", "from 64")
        self.check_error("RateLimitShared yes", "RateLimitShared: 'yes' must be on or off")

    def test_shared_needs_cluster(self):
        srv = Server(conf="LoadModule ratelimit mod_ratelimit.so\nRateLimitShared on\n"
                          "RateLimit /a/ 3 60\n", start=False)
        try:
            r = run_httpd(["-t", "-f", srv.conf_path])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("RateLimitShared on needs mod_cluster", r.stdout + r.stderr)
        finally:
            srv.cleanup()

    def test_no_rules_no_cost(self):
        srv = Server(conf="LoadModule static mod_static.so\n"
                          "LoadModule ratelimit mod_ratelimit.so\nMap / {www}\n",
                     files={"www/index.html": b"x\n"})
        try:
            self.assertEqual([srv.get("/")[0] for _ in range(5)], [200] * 5)
        finally:
            srv.stop()
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
