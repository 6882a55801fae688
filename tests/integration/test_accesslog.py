"""The access log: LogFormat (Apache % directives, common / combined / json),
request ids (RequestId, X-Request-Id, %L), and escaping.

Run: cd tests/integration && python3 -m unittest test_accesslog -v
"""

import json
import re
import socket
import unittest

from rptest import Server, run_httpd, wait_until

FILES = {"www/index.html": b"home\n", "www/a.txt": b"0123456789"}


def log_lines(srv, n):
    """The first n lines of the access log, once there are n."""
    def have():
        lines = srv.access_log().splitlines()
        return lines if len(lines) >= n else None
    return wait_until(have, 10, what="%d access log lines" % n)[:n]


def raw_get(srv, target, headers=b""):
    s = srv.sock()
    try:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + headers +
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        return data
    finally:
        s.close()


class JsonLog(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf="LoadModule static mod_static.so\nMap / {www}\nLogFormat json\n",
                         files=FILES)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def test_every_line_is_a_json_object(self):
        srv = self.srv
        srv.get("/a.txt?q=1", {"Referer": "http://r.example/", "X-Request-Id": "req-42"})
        # hostile bytes: quotes, backslashes, controls, invalid UTF-8 next
        # to valid UTF-8
        raw_get(srv, b"/nope%22x", b"User-Agent: a\"b\\c \xc3\xa9 \xff\t!\r\n")
        lines = log_lines(srv, 2)
        # the two requests may be logged in either order (two worker threads)
        a, b = sorted((json.loads(l) for l in lines), key=lambda o: o["uri"] != "/a.txt?q=1")
        self.assertEqual(a["method"], "GET")
        self.assertEqual(a["uri"], "/a.txt?q=1")
        self.assertEqual(a["protocol"], "HTTP/1.1")
        self.assertEqual(a["status"], 200)
        self.assertEqual(a["bytes"], 10)
        self.assertEqual(a["remote"], "127.0.0.1")
        self.assertEqual(a["referer"], "http://r.example/")
        self.assertEqual(a["request_id"], "req-42")
        self.assertIsInstance(a["duration_us"], int)
        self.assertRegex(a["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")
        self.assertEqual(b["status"], 404)
        self.assertEqual(b["uri"], '/nope"x')
        self.assertEqual(b["user_agent"], 'a"b\\c \u00e9 \u00ff\t!')
        self.assertRegex(b["request_id"], r"^[0-9a-f]{24}$")
        self.assertNotEqual(b["request_id"], a["request_id"])


class CustomFormats(unittest.TestCase):
    def run_with(self, fmt_lines, requests):
        srv = Server(conf="LoadModule static mod_static.so\nMap / {www}\n" + fmt_lines,
                     files=FILES)
        try:
            for path, headers in requests:
                srv.get(path, headers)
            # in request order (two worker threads may log them in either)
            lines = log_lines(srv, len(requests))
            order = [p for p, _ in requests]
            return sorted(lines, key=lambda l: [p in l for p in order].index(True)), srv.port
        finally:
            srv.stop()
            srv.cleanup()

    def test_directives(self):
        lines, port = self.run_with(
            'LogFormat "%m %U%q %H %>s %b %B %p %{X-A}i %{Content-Type}o %l %u %% %D %T %{ms}T"\n',
            [("/a.txt?z=9", {"X-A": "hdr value"}), ("/missing", None)])
        m = re.match(r"^GET /a\.txt\?z=9 HTTP/1\.1 200 10 10 (\d+) hdr value text/plain - - % "
                     r"(\d+) (\d+) (\d+)$", lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(int(m.group(1)), port)
        self.assertLess(int(m.group(3)), 60)
        m2 = re.match(r"^GET /missing HTTP/1\.1 404 (\d+) \1 \d+ - text/html", lines[1])
        self.assertIsNotNone(m2, lines[1])

    def test_common_and_named(self):
        lines, _ = self.run_with("LogFormat common\n", [("/a.txt", None)])
        self.assertRegex(lines[0], r'^127\.0\.0\.1 - - \[[^\]]+\] "GET /a\.txt HTTP/1\.1" 200 10$')
        lines, _ = self.run_with('LogFormat "%>s|%U" short\nLogFormat short\n', [("/a.txt", None)])
        self.assertEqual(lines[0], "200|/a.txt")

    def test_escaping_in_text_formats(self):
        srv = Server(conf="LoadModule static mod_static.so\nMap / {www}\n", files=FILES)
        try:
            raw_get(srv, b"/x", b"User-Agent: evil\" \"forged\r\n")
            line = log_lines(srv, 1)[0]
            self.assertIn('"evil\\x22 \\x22forged"', line)
            self.assertEqual(line.count('"'), 6)  # request, referer, agent
        finally:
            srv.stop()
            srv.cleanup()


class RequestIds(unittest.TestCase):
    def test_echo(self):
        srv = Server(conf="LoadModule static mod_static.so\nMap / {www}\nRequestId on\n"
                          'LogFormat "%L %U"\n', files=FILES)
        try:
            st, hd, _ = srv.get("/a.txt", {"X-Request-Id": "abc.DEF_1:2-3"})
            self.assertEqual(hd["x-request-id"], "abc.DEF_1:2-3")
            ids = set()
            for bad in ("", "has space", "x" * 129, "semi;colon"):
                st, hd, _ = srv.get("/missing", {"X-Request-Id": bad})
                self.assertEqual(st, 404)
                self.assertRegex(hd["x-request-id"], r"^[0-9a-f]{24}$")
                ids.add(hd["x-request-id"])
            self.assertEqual(len(ids), 4)
            lines = log_lines(srv, 5)
            self.assertIn("abc.DEF_1:2-3 /a.txt", lines)
            self.assertEqual({l.split()[0] for l in lines if l.endswith("/missing")}, ids)
        finally:
            srv.stop()
            srv.cleanup()

    def test_off_by_default(self):
        srv = Server(conf="LoadModule static mod_static.so\nMap / {www}\n", files=FILES)
        try:
            st, hd, _ = srv.get("/a.txt", {"X-Request-Id": "abc"})
            self.assertNotIn("x-request-id", hd)
        finally:
            srv.stop()
            srv.cleanup()


class Errors(unittest.TestCase):
    def check(self, line, want):
        srv = Server(conf=line + "\n", start=False)
        try:
            r = run_httpd(["-t", "-f", srv.conf_path])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("rampart.conf:", r.stderr)
            self.assertIn(want, r.stderr)
        finally:
            srv.cleanup()

    def test_errors(self):
        self.check('LogFormat "%h %Z"', "unknown directive '%Z'")
        self.check('LogFormat "%{Referer"', "without its '}'")
        self.check('LogFormat "%i"', "needs a header name")
        self.check('LogFormat "%{x}m"', "takes no {argument}")
        self.check('LogFormat "%{min}T"', "the unit is s, ms or us")
        self.check('LogFormat "abc %"', "lone '%'")
        self.check("LogFormat nosuch", "no format named 'nosuch'")


if __name__ == "__main__":
    unittest.main()
