"""mod_proxy against the real rampart-httpd and real upstreams.

The upstreams are Python servers in this process (so a test can see what
they received and make them misbehave on cue), nginx for a plain static
upstream, and a second rampart-httpd for websockets (mod_ws's echo route).

Covers: GET/HEAD/POST through the proxy and the upstream path built from the
route; hop-by-hop headers removed both ways, X-Forwarded-*, Via, Host
rewritten or preserved, extra headers; a 20 MB body streamed (the client
has the first half before the upstream sends the second, and the proxy's
memory stays far below the body); chunked and close-delimited upstream
bodies; keep-alive reuse of upstream connections; 502 for a closed port,
garbage and a reset, 504 for an upstream that never answers; round robin and
least connections across two upstreams; an upstream that keeps failing
marked down and skipped; retries only for idempotent methods; https
upstreams with a self-signed certificate (refused, then accepted with
insecure); websockets through the proxy; a client that goes away aborting
the upstream exchange; configuration errors with file:line.

Run: cd tests/integration && python3 -m unittest test_proxy -v
"""

import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jsrun import JsServer
from rptest import Server, free_port, wait_until
from wsclient import OP_BINARY, OP_TEXT, HandshakeError, WSClient

MB = 1024 * 1024
BIG = 20 * MB


def big_piece(i):
    """Deterministic 1 MiB pieces of the big body."""
    return hashlib.sha256(b"%d" % i).digest() * (MB // 32)


class Upstream:
    """A threaded HTTP/1.1 upstream that records what it received."""

    def __init__(self, name="up", tls_ctx=None, port=0):
        self.name = name
        self.connections = 0
        self.requests = []
        self.gate = threading.Event()  # /big waits on it halfway
        self.big_done = threading.Event()
        self.hang_closed = threading.Event()
        self.lock = threading.Lock()
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                BaseHTTPRequestHandler.setup(self)
                with up.lock:
                    up.connections += 1

            def log_message(self, *a):
                pass

            def record(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rec = {"method": self.command, "path": self.path,
                       "headers": [[k, v] for k, v in self.headers.items()],
                       "body": body.decode("latin-1"), "upstream": up.name}
                with up.lock:
                    up.requests.append(rec)
                return rec

            def send(self, status, body, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if status not in (204, 304):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD" and status not in (204, 304):
                    self.wfile.write(body)

            def do_GET(self):
                rec = self.record()
                p = self.path.split("?")[0]
                if p.endswith("/big"):
                    self.send_response(200)
                    self.send_header("Content-Length", str(BIG))
                    self.end_headers()
                    for i in range(BIG // MB):
                        if i == BIG // MB // 2:
                            up.gate.wait(60)
                        self.wfile.write(big_piece(i))
                    up.big_done.set()
                elif p.endswith("/chunked"):
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (b"hello ", b"chunked ", b"world" * 1000):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                elif p.endswith("/close"):
                    self.close_connection = True
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                                     + b"until-eof " * 5000)
                elif p.endswith("/hang"):
                    # never answer; notice the proxy closing its side
                    self.connection.settimeout(60)
                    try:
                        self.connection.recv(1)
                    except OSError:
                        pass
                    up.hang_closed.set()
                    self.close_connection = True
                elif p.endswith("/stall"):
                    # a head and part of the body, then silence
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nsome")
                    self.wfile.flush()
                    self.connection.settimeout(60)
                    try:
                        self.connection.recv(1)
                    except OSError:
                        pass
                    self.close_connection = True
                elif p.endswith("/garbage"):
                    self.close_connection = True
                    self.wfile.write(b"this is not HTTP\r\n\r\n")
                elif p.endswith("/reset"):
                    self.close_connection = True
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
                    self.wfile.flush()
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                elif p.endswith("/304"):
                    self.send(304, b"", [("ETag", '"x"')])
                elif p.endswith("/hop"):
                    self.send(200, b"hop", [("Connection", "X-Secret"), ("X-Secret", "1"),
                                            ("Keep-Alive", "timeout=5"), ("X-Kept", "yes")])
                elif p.endswith("/continue"):
                    self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    self.send(200, b"after-100")
                else:
                    self.send(200, json.dumps(rec).encode(),
                              [("Content-Type", "application/json"), ("X-Upstream", up.name)])

            do_HEAD = do_GET
            do_DELETE = do_GET

            def do_POST(self):
                rec = self.record()
                self.send(201, json.dumps(rec).encode(), [("X-Upstream", up.name)])

            do_PUT = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls_ctx:
            self.server.socket = tls_ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()

    def last(self):
        with self.lock:
            return self.requests[-1]


def closed_port():
    """A port nothing listens on (bound and closed: refused at once)."""
    return free_port()


def headers_of(rec):
    return {k.lower(): v for k, v in rec["headers"]}


def sanitized(pid):
    """An ASan build keeps freed memory in quarantine: RSS says nothing there."""
    with open("/proc/%d/maps" % pid) as f:
        return any("libasan" in line or "libtsan" in line for line in f)


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class ProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Upstream("A")
        cls.b = Upstream("B")
        cls.dead = closed_port()
        conf = """LoadModule proxy mod_proxy.so
ProxyHeader X-Proxy-Extra "from conf"
Map /api/ proxy:http://127.0.0.1:%(a)d/base/
<Route /api/>
    ProxyHeader X-Route api
</Route>
Map /whole/ proxy:http://127.0.0.1:%(a)d
Map /keep/ proxy:http://127.0.0.1:%(a)d/
<Route /keep/>
    ProxyPreserveHost on
</Route>
Map /rr/ proxy:http://127.0.0.1:%(a)d/,http://127.0.0.1:%(b)d/
Map /lc/ proxy:http://127.0.0.1:%(a)d/ http://127.0.0.1:%(b)d/
<Route /lc/>
    ProxyBalance leastconn
</Route>
Map /dead/ proxy:http://127.0.0.1:%(dead)d/
Map /slow/ proxy:http://127.0.0.1:%(a)d/
<Route /slow/>
    ProxyReadTimeout 0.5
</Route>
""" % {"a": cls.a.port, "b": cls.b.port, "dead": cls.dead}
        cls.srv = Server(conf=conf, threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()
        cls.srv.cleanup()
        cls.a.stop()
        cls.b.stop()

    def get(self, path, headers=None, method="GET", body=None):
        return self.srv.request(method, path, headers=headers, body=body)

    def test_get_path_and_query(self):
        st, hd, body = self.get("/api/x/y%20z?q=1&r=2")
        self.assertEqual(st, 200, body)
        rec = json.loads(body)
        self.assertEqual(rec["path"], "/base/x/y%20z?q=1&r=2")
        self.assertEqual(hd["x-upstream"], "A")
        self.assertEqual(hd["content-type"], "application/json")
        # no path in the URL: the client's whole target goes up
        st, hd, body = self.get("/whole/p?k=v")
        self.assertEqual(json.loads(body)["path"], "/whole/p?k=v")

    def test_head(self):
        st, hd, body = self.get("/api/h", method="HEAD")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"")
        self.assertGreater(int(hd["content-length"]), 0)
        self.assertEqual(self.a.last()["method"], "HEAD")
        # the connection is still usable afterwards
        self.assertEqual(self.get("/api/after-head")[0], 200)

    def test_post_body(self):
        payload = os.urandom(100000)
        st, hd, body = self.get("/api/post", method="POST", body=payload,
                                headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(st, 201)
        rec = json.loads(body)
        self.assertEqual(rec["body"].encode("latin-1"), payload)
        self.assertEqual(headers_of(rec)["content-length"], str(len(payload)))
        # an empty POST still says Content-Length: 0
        st, hd, body = self.get("/api/post0", method="POST", body=b"")
        self.assertEqual(headers_of(json.loads(body))["content-length"], "0")

    def test_request_headers(self):
        st, hd, body = self.get("/api/h", headers={
            "Connection": "keep-alive, X-Drop-Me", "X-Drop-Me": "1", "Keep-Alive": "300",
            "TE": "trailers", "Proxy-Authorization": "Basic eA==", "X-Kept": "yes",
            "X-Forwarded-For": "10.1.2.3", "Via": "1.0 other",
            "tRAILER": "x-t", "Date": "Tue, 01 Dec 2026 00:00:00 GMT"})
        h = headers_of(json.loads(body))
        for gone in ("x-drop-me", "keep-alive", "te", "proxy-authorization", "upgrade",
                     "trailer"):
            self.assertNotIn(gone, h)
        self.assertEqual(h["x-kept"], "yes")
        self.assertEqual(h["date"], "Tue, 01 Dec 2026 00:00:00 GMT")  # end-to-end
        self.assertEqual(h["x-forwarded-for"], "10.1.2.3, 127.0.0.1")
        self.assertEqual(h["x-forwarded-proto"], "http")
        self.assertEqual(h["x-forwarded-host"], "127.0.0.1:%d" % self.srv.port)
        self.assertEqual(h["via"], "1.0 other, 1.1 rampart")
        self.assertEqual(h["host"], "127.0.0.1:%d" % self.a.port)
        self.assertEqual(h["x-proxy-extra"], "from conf")
        self.assertEqual(h["x-route"], "api")

    def test_preserve_host(self):
        st, hd, body = self.get("/keep/x", headers={"Host": "example.test"})
        self.assertEqual(headers_of(json.loads(body))["host"], "example.test")

    def test_response_headers(self):
        st, hd, body = self.get("/api/hop")
        self.assertEqual(body, b"hop")
        self.assertEqual(hd["x-kept"], "yes")
        self.assertNotIn("x-secret", hd)
        self.assertNotIn("keep-alive", hd)
        self.assertTrue(hd["server"].startswith("rampart"))

    def test_interim_and_304(self):
        st, hd, body = self.get("/api/continue")
        self.assertEqual((st, body), (200, b"after-100"))
        st, hd, body = self.get("/api/304")
        self.assertEqual((st, body, hd.get("etag")), (304, b"", '"x"'))

    def test_chunked_upstream(self):
        st, hd, body = self.get("/api/chunked")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"hello chunked " + b"world" * 1000)

    def test_close_delimited_upstream(self):
        st, hd, body = self.get("/api/close")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"until-eof " * 5000)

    def test_keepalive_reuse(self):
        before = self.a.connections
        conn = self.srv.connection()
        for i in range(10):
            st, hd, body = self.srv.do(conn, "GET", "/api/ka%d" % i)
            self.assertEqual(st, 200)
        conn.close()
        # one worker thread: one pooled connection carries them all (a
        # second may have been opened if the pool had one in use)
        self.assertLessEqual(self.a.connections - before, 2)

    def test_big_download_streamed(self):
        self.a.gate.clear()
        self.a.big_done.clear()
        rss0 = vm_kib(self.srv.pid, "VmRSS")
        check_rss = not sanitized(self.srv.pid)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=60)
        try:
            s.sendall(b"GET /api/big HTTP/1.1\r\nHost: x\r\n\r\n")
            f = s.makefile("rb")
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += f.read(1)
            self.assertIn(b"Content-Length: %d" % BIG, head)
            h = hashlib.sha256()
            # the first half arrives while the upstream still holds the second
            got = 0
            while got < BIG // 2:
                chunk = f.read(min(MB, BIG // 2 - got))
                h.update(chunk)
                got += len(chunk)
            self.assertFalse(self.a.big_done.is_set())
            self.a.gate.set()
            # a slow reader: the proxy must not buffer what the client lags
            for _ in range(BIG // 2 // (64 * 1024)):
                chunk = f.read(64 * 1024)
                h.update(chunk)
                got += len(chunk)
                rss = vm_kib(self.srv.pid, "VmRSS")
                if not check_rss:
                    continue
                self.assertLess(rss - rss0, 12 * 1024, "proxy RSS grew %d KiB" % (rss - rss0))
            expect = hashlib.sha256()
            for i in range(BIG // MB):
                expect.update(big_piece(i))
            self.assertEqual(h.hexdigest(), expect.hexdigest())
        finally:
            s.close()

    def test_502_closed_port(self):
        st, hd, body = self.get("/dead/x")
        self.assertEqual(st, 502)
        self.srv.wait_log(r"upstream http://127.0.0.1:%d: .*(refused|closed)" % self.dead)

    def test_504_timeout(self):
        self.a.hang_closed.clear()
        st, hd, body = self.get("/slow/hang")
        self.assertEqual(st, 504)
        self.srv.wait_log(r"GET /slow/hang: upstream http://127.0.0.1:%d: no answer within 0.5s"
                          % self.a.port)
        # the proxy closed the upstream connection it gave up on
        self.assertTrue(self.a.hang_closed.wait(10))

    def test_timeout_in_body(self):
        # the answer started: the client sees it cut (connection closed
        # before Content-Length bytes), never a complete-looking one
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"GET /slow/stall HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        self.assertIn(b"Content-Length: 1000", data)
        self.assertTrue(data.endswith(b"\r\n\r\nsome"), data)
        self.srv.wait_log(r"GET /slow/stall: upstream .*no answer within 0.5s \(response cut short\)")

    def test_502_garbage_and_reset(self):
        self.assertEqual(self.get("/api/garbage")[0], 502)
        self.srv.wait_log(r"/api/garbage: upstream .*bad response")
        # a reset in the middle of a body: the client's response is cut short
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"GET /api/reset HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            data += d
        s.close()
        self.assertIn(b"partial", data)
        self.srv.wait_log(r"/api/reset: upstream .*in the body")
        self.assertEqual(self.get("/api/ok")[0], 200)

    def test_round_robin(self):
        seen = []
        for i in range(6):
            st, hd, body = self.get("/rr/r%d" % i)
            self.assertEqual(st, 200)
            seen.append(hd["x-upstream"])
        self.assertEqual(sorted(set(seen)), ["A", "B"])
        for i in range(5):
            self.assertNotEqual(seen[i], seen[i + 1], seen)

    def test_least_conn(self):
        # one upstream holds an exchange (a hanging request); new ones go
        # to the other
        self.a.hang_closed.clear()
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        try:
            # which upstream gets the hanging one depends on the rotation
            s.sendall(b"GET /lc/lc/hang HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_until(lambda: any(r["path"] == "/lc/hang"
                                   for r in self.a.requests + self.b.requests),
                       what="the hanging request upstream")
            busy = "A" if any(r["path"] == "/lc/hang" for r in self.a.requests) else "B"
            for i in range(4):
                st, hd, body = self.get("/lc/l%d" % i)
                self.assertNotEqual(hd["x-upstream"], busy)
        finally:
            s.close()

    def test_client_abort_closes_upstream(self):
        self.a.hang_closed.clear()
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"GET /api/hang HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: self.a.requests and self.a.last()["path"] == "/base/hang",
                   what="the request upstream")
        s.close()
        self.assertTrue(self.a.hang_closed.wait(10), "upstream connection not closed")
        self.assertEqual(self.get("/api/ok")[0], 200)


class HealthTest(unittest.TestCase):
    """Passive health and retries: a route whose first upstream refuses."""

    def setUp(self):
        self.good = Upstream("G")
        self.dead = closed_port()

    def tearDown(self):
        self.good.stop()

    def test_down_upstream_skipped(self):
        conf = """LoadModule proxy mod_proxy.so
ProxyMaxFails 2
ProxyFailTimeout 600
Map /h/ proxy:http://127.0.0.1:%d/,http://127.0.0.1:%d/
""" % (self.dead, self.good.port)
        with Server(conf=conf, threads=1) as srv:
            for i in range(8):
                st, hd, body = srv.get("/h/x%d" % i)
                self.assertEqual(st, 200, body)  # GET: retried on the good one
            srv.wait_log(r"upstream http://127.0.0.1:%d marked down" % self.dead)
            log = srv.error_log()
            # two failures marked it down; after that it is not tried
            self.assertEqual(log.count("trying another"), 2, log)
            # POST is never retried, but a down upstream is not picked either
            for i in range(4):
                self.assertEqual(srv.request("POST", "/h/p", body=b"x")[0], 201)

    def test_recovery(self):
        conf = """LoadModule proxy mod_proxy.so
ProxyMaxFails 1
ProxyFailTimeout 0.2
Map /h/ proxy:http://127.0.0.1:%d/,http://127.0.0.1:%d/
""" % (self.dead, self.good.port)
        with Server(conf=conf, threads=1) as srv:
            for i in range(3):
                self.assertEqual(srv.get("/h/x")[0], 200)
            srv.wait_log(r"upstream http://127.0.0.1:%d marked down" % self.dead)
            back = Upstream("R", port=self.dead)
            try:
                # once ProxyFailTimeout has passed it is tried again, and serves
                def served():
                    st, hd, body = srv.get("/h/y")
                    return st == 200 and hd.get("x-upstream") == "R"
                wait_until(served, timeout=20, interval=0.05, what="the upstream back in use")
            finally:
                back.stop()

    def test_post_not_retried(self):
        conf = """LoadModule proxy mod_proxy.so
ProxyMaxFails 0
Map /h/ proxy:http://127.0.0.1:%d/,http://127.0.0.1:%d/
""" % (self.dead, self.good.port)
        with Server(conf=conf, threads=1) as srv:
            posts = [srv.request("POST", "/h/p", body=b"x")[0] for _ in range(4)]
            self.assertEqual(sorted(posts), [201, 201, 502, 502])
            gets = [srv.get("/h/g")[0] for _ in range(4)]
            self.assertEqual(gets, [200] * 4)
            self.assertEqual(srv.error_log().count("trying another"), 2)


def header_names(rec):
    return [k.lower() for k, v in rec["headers"]]


class RouteSettingsTest(unittest.TestCase):
    """The proxy settings are route settings: top level, <Host>, <Route>,
    each scope over the enclosing one, ProxyHeader lines adding up."""

    @classmethod
    def setUpClass(cls):
        cls.a = Upstream("A")
        conf = """LoadModule proxy mod_proxy.so
ProxyHeader X-Top top
ProxyPreserveHost on
Map /t/ proxy:http://127.0.0.1:%(a)d/
<Route /t/plain/>
    ProxyPreserveHost off
    ProxyHeader X-Sub sub
</Route>
<Host b.test>
    ProxyHeader X-Host b
    Map /t/ proxy:http://127.0.0.1:%(a)d/
    <Route /t/r/>
        ProxyPreserveHost off
        ProxyHeader X-Route r
    </Route>
</Host>
""" % {"a": cls.a.port}
        cls.srv = Server(conf=conf, threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()
        cls.srv.cleanup()
        cls.a.stop()

    def up(self, path, host):
        st, hd, body = self.srv.get(path, headers={"Host": host})
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def test_top_level(self):
        rec = self.up("/t/x", "a.test")
        h = headers_of(rec)
        self.assertEqual((h["host"], h["x-top"]), ("a.test", "top"))
        self.assertNotIn("x-sub", h)

    def test_route_overrides_and_adds(self):
        rec = self.up("/t/plain/x", "a.test")
        h = headers_of(rec)
        self.assertEqual(h["host"], "127.0.0.1:%d" % self.a.port)
        self.assertEqual((h["x-top"], h["x-sub"]), ("top", "sub"))
        names = header_names(rec)
        self.assertLess(names.index("x-top"), names.index("x-sub"))

    def test_host_and_its_route(self):
        h = headers_of(self.up("/t/x", "b.test"))
        self.assertEqual((h["host"], h["x-top"], h["x-host"]), ("b.test", "top", "b"))
        self.assertNotIn("x-route", h)
        rec = self.up("/t/r/x", "b.test")
        h = headers_of(rec)
        self.assertEqual(h["host"], "127.0.0.1:%d" % self.a.port)
        names = header_names(rec)
        self.assertLess(names.index("x-top"), names.index("x-host"))
        self.assertLess(names.index("x-host"), names.index("x-route"))
        # the top level's <Route> is not b.test's
        self.assertNotIn("x-sub", headers_of(self.up("/t/plain/x", "b.test")))


def make_cert(d):
    key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


class TlsUpstreamTest(unittest.TestCase):
    def test_self_signed(self):
        d = tempfile.mkdtemp()
        try:
            crt, key = make_cert(d)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(crt, key)
            up = Upstream("T", tls_ctx=ctx)
            conf = """LoadModule proxy mod_proxy.so
Map /strict/ proxy:https://127.0.0.1:%d/
Map /lax/ proxy:https://127.0.0.1:%d/
Map /name/ proxy:https://localhost:%d/
<Route /lax/>
    ProxyInsecure on
</Route>
<Route /lax/strict/>
    ProxyInsecure off
</Route>
<Route /name/>
    ProxyInsecure on
</Route>
""" % (up.port, up.port, up.port)
            try:
                with Server(conf=conf, threads=1) as srv:
                    self.assertEqual(srv.get("/strict/x")[0], 502)
                    srv.wait_log(r"upstream https://127.0.0.1:%d: TLS: certificate verify failed"
                                 % up.port)
                    st, hd, body = srv.get("/lax/x?y=1")
                    self.assertEqual(st, 200)
                    self.assertEqual(json.loads(body)["path"], "/x?y=1")
                    st, hd, body = srv.get("/name/n")
                    self.assertEqual(st, 200)
                    self.assertEqual(headers_of(json.loads(body))["host"],
                                     "localhost:%d" % up.port)
                    # the lax route's kept-alive connection never serves a
                    # request whose route checks the certificate
                    conn = srv.connection()
                    self.assertEqual(srv.do(conn, "GET", "/lax/1")[0], 200)
                    self.assertEqual(srv.do(conn, "GET", "/strict/2")[0], 502)
                    self.assertEqual(srv.do(conn, "GET", "/lax/strict/3")[0], 502)
                    self.assertEqual(srv.do(conn, "GET", "/lax/4")[0], 200)
                    conn.close()
                # the top level says on, one <Route> off
                conf = """LoadModule proxy mod_proxy.so
ProxyInsecure on
Map /any/ proxy:https://127.0.0.1:%d/
<Route /any/checked/>
    ProxyInsecure off
</Route>
""" % up.port
                with Server(conf=conf, threads=1) as srv:
                    self.assertEqual(srv.get("/any/x")[0], 200)
                    self.assertEqual(srv.get("/any/checked/x")[0], 502)
                    self.assertEqual(srv.get("/any/y")[0], 200)
            finally:
                up.stop()
        finally:
            shutil.rmtree(d)

    def test_start_map_value(self):
        """start()'s map: {proxy, headers, timeout, insecure} becomes the Map
        line and a <Route> block of mod_proxy's settings."""
        d = tempfile.mkdtemp()
        try:
            crt, key = make_cert(d)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(crt, key)
            up = Upstream("T", tls_ctx=ctx)
            script = """var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:{port}",
    user: "nobody",
    threads: 1,
    map: {
        "/lax/": {proxy: "https://127.0.0.1:%d/", insecure: true, timeout: 7,
                  headers: {"X-One": "1", "X-Two": "two words"}},
        "/strict/": {proxy: "https://127.0.0.1:%d/"}
    }
});
""" % (up.port, up.port)
            try:
                srv = JsServer(script)
                try:
                    st, hd, body = srv.get("/lax/x")
                    self.assertEqual(st, 200, body)
                    h = headers_of(json.loads(body))
                    self.assertEqual((h["x-one"], h["x-two"]), ("1", "two words"))
                    self.assertEqual(srv.get("/strict/x")[0], 502)
                finally:
                    srv.__exit__(None, None, None)
            finally:
                up.stop()
        finally:
            shutil.rmtree(d)


class WebSocketTest(unittest.TestCase):
    def test_echo_through_proxy(self):
        with Server(conf="LoadModule ws mod_ws.so\nMap ws:/echo ws:echo\n") as echo:
            conf = """LoadModule proxy mod_proxy.so
Map ws:/chat/ proxy:ws://127.0.0.1:%d/echo
""" % echo.port
            with Server(conf=conf, threads=1) as srv:
                ws = WSClient.connect("127.0.0.1", srv.port, "/chat/")
                ws.send_text("hello")
                self.assertEqual(ws.recv_message(), (OP_TEXT, b"hello"))
                big = os.urandom(3 * MB)  # more than the relay's high-water mark
                ws.send_binary(big)
                self.assertEqual(ws.recv_message(), (OP_BINARY, big))
                for i in range(50):
                    ws.send_text("m%d" % i)
                for i in range(50):
                    self.assertEqual(ws.recv_message(), (OP_TEXT, b"m%d" % i))
                ws.close(1000)
                ws.wait_eof()


class WssUpstreamTest(unittest.TestCase):
    def test_wss_upstream(self):
        d = tempfile.mkdtemp()
        try:
            crt, key = make_cert(d)
            echo_conf = ("Secure on\nSslCertFile %s\nSslKeyFile %s\n"
                         "LoadModule ws mod_ws.so\nMap ws:/echo ws:echo\n" % (crt, key))
            with Server(conf=echo_conf) as echo:
                conf = """LoadModule proxy mod_proxy.so
Map ws:/s/ proxy:wss://127.0.0.1:%d/echo
Map ws:/strict/ proxy:wss://127.0.0.1:%d/echo
<Route /s/>
    ProxyInsecure on
</Route>
""" % (echo.port, echo.port)
                with Server(conf=conf, threads=1) as srv:
                    ws = WSClient.connect("127.0.0.1", srv.port, "/s/")
                    ws.send_text("over tls")
                    self.assertEqual(ws.recv_message(), (OP_TEXT, b"over tls"))
                    ws.close(1000)
                    ws.wait_eof()
                    with self.assertRaises(HandshakeError) as cm:
                        WSClient.connect("127.0.0.1", srv.port, "/strict/")
                    self.assertEqual(cm.exception.status, 502)
        finally:
            shutil.rmtree(d)


class StopTest(unittest.TestCase):
    def test_stop_with_exchange_in_flight(self):
        up = Upstream("S")
        try:
            conf = """LoadModule proxy mod_proxy.so
GracefulTimeout 0.3
Map /p/ proxy:http://127.0.0.1:%d/
""" % up.port
            srv = Server(conf=conf, threads=1)
            try:
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                s.sendall(b"GET /p/hang HTTP/1.1\r\nHost: x\r\n\r\n")
                wait_until(lambda: up.requests, what="the request upstream")
                srv.stop()
                s.close()
                # the upstream connection went with the server
                self.assertTrue(up.hang_closed.wait(10))
                srv.check_sanitizers()
            finally:
                srv.cleanup()
        finally:
            up.stop()


class NginxUpstreamTest(unittest.TestCase):
    """A real server upstream: nginx serving files, with keep-alive."""

    def test_nginx(self):
        if not shutil.which("nginx"):
            self.skipTest("nginx not installed")
        d = tempfile.mkdtemp()
        port = free_port()
        os.makedirs(os.path.join(d, "www"))
        data = os.urandom(3 * MB + 17)
        with open(os.path.join(d, "www", "f.bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write("""daemon off; worker_processes 1; pid %(d)s/nginx.pid;
error_log %(d)s/nginx-error.log;
events { worker_connections 256; }
http { log_format conn "$connection $request";
  access_log %(d)s/nginx-access.log conn; client_body_temp_path %(d)s;
  proxy_temp_path %(d)s; fastcgi_temp_path %(d)s; uwsgi_temp_path %(d)s; scgi_temp_path %(d)s;
  keepalive_requests 10000;
  server { listen 127.0.0.1:%(p)d; root %(d)s/www; } }
""" % {"d": d, "p": port})
        ng = subprocess.Popen(["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d],
                              stderr=subprocess.DEVNULL)
        try:
            def up():
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return True
                except OSError:
                    return False
            wait_until(up, what="nginx")
            conf = "LoadModule proxy mod_proxy.so\nMap /n/ proxy:http://127.0.0.1:%d/\n" % port
            with Server(conf=conf, threads=1) as srv:
                conn = srv.connection()
                for _ in range(5):
                    st, hd, body = srv.do(conn, "GET", "/n/f.bin")
                    self.assertEqual((st, len(body)), (200, len(data)))
                    self.assertEqual(body, data)
                st, hd, body = srv.do(conn, "HEAD", "/n/f.bin")
                self.assertEqual((st, hd["content-length"]), (200, str(len(data))))
                self.assertEqual(srv.do(conn, "GET", "/n/missing")[0], 404)
                conn.close()
            with open(os.path.join(d, "nginx-access.log")) as f:
                lines = f.readlines()
            self.assertEqual(len(lines), 7)
            # the upstream connection is kept between answers, big ones too
            self.assertEqual(len({l.split()[0] for l in lines}), 1, lines)
        finally:
            ng.terminate()
            ng.wait(10)
            shutil.rmtree(d, ignore_errors=True)


class ConfErrorTest(unittest.TestCase):
    def check(self, line, want):
        srv = Server(conf="LoadModule proxy mod_proxy.so\n" + line + "\n", expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            out = srv.output()
            self.assertRegex(out, r"rampart\.conf:\d+:")
            self.assertIn(want, out)
        finally:
            srv.cleanup()

    def test_bad_urls(self):
        self.check("Map /x/ proxy:ftp://h/", "is not an http://, https://, ws:// or wss:// URL "
                   "(e.g. proxy:http://127.0.0.1:9000/base/)")
        self.check("Map /x/ proxy:http://h:99999/", "port that is not a number")
        self.check("Map /x/ proxy:http://no-such-host.invalid/", "cannot resolve the host")
        self.check("Map /x/ proxy:", "needs an upstream URL")
        self.check("ProxyBalance random", "roundrobin or leastconn")

    def test_old_words_name_their_route_setting(self):
        up = "Map /x/ proxy:http://127.0.0.1:1/ "
        for word, line in (
                ("timeout=5", "<Route /x/> ProxyReadTimeout 5 </Route>"),
                ("insecure", "<Route /x/> ProxyInsecure on </Route>"),
                ("preserve-host", "<Route /x/> ProxyPreserveHost on </Route>"),
                ("balance=leastconn", "<Route /x/> ProxyBalance leastconn </Route>"),
                ('"X-Api-Key: secret"', '<Route /x/> ProxyHeader X-Api-Key "secret" </Route>')):
            self.check(up + word, line)
        self.check("Map ws:/w/ proxy:ws://127.0.0.1:1/ insecure",
                   "<Route ws:/w/> ProxyInsecure on </Route>")
        self.check(up + "frobnicate", '"frobnicate" is not an upstream URL')

    def test_scopes(self):
        # the pools' settings belong to the worker-wide pool: top level only
        self.check("<Route /x/>\nProxyKeepAlive 4\n</Route>",
                   "ProxyKeepAlive is not allowed inside <Route> (allowed: server)")
        self.check("<Host a.test>\nProxyMaxFails 1\n</Host>",
                   "ProxyMaxFails is not allowed inside <Host> (allowed: server)")
        self.check("<Route /x/>\nProxyReadTimeout soon\n</Route>", "ProxyReadTimeout")
        self.check("<Route /x/>\nProxyHeader Bad:Name v\n</Route>",
                   "needs a header name and a value")


if __name__ == "__main__":
    unittest.main()
