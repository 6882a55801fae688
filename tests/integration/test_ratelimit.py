"""mod_ratelimit against the real rampart-httpd: per-client limits on paths.

Covers: the limit per window with 429 and Retry-After, paths outside the
rule, exact versus prefix rules and the longest rule winning, the key kinds
(ip, header:NAME, cookie:NAME, fingerprint) and the fall-back to the address
when the cookie or header is missing, a new window once the old one ends,
counting shared by the worker threads, a flood of distinct keys bounded by
RateLimitEntries, and configuration errors naming file:line.

Run: cd tests/integration && python3 -m unittest test_ratelimit -v
"""

import http.client
import os
import unittest

from rptest import Server, run_httpd, wait_until

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
