"""Streamed request bodies (rp_req_body_stream), seen through mod_proxy, the
module that streams them, against a Python sink upstream.

The sink reads each request body as it arrives (Content-Length or
chunked), counting and hashing it, and answers what it got; it can also
answer before reading, or cut the connection mid-body, on cue.  Clients are
raw sockets (so a test controls every byte and pause; keep-alive is several
requests on one socket) and Python's h2 package for HTTP/2.

Covers: Content-Length and chunked bodies byte-checked over HTTP/1.1 and
HTTP/2; the upstream holding part of the body before the client sent the
rest (streamed, not buffered); Expect: 100-continue answered only once the
body is read (never for a request answered without reading); keep-alive
after a streamed body and after an early answer (the rest discarded);
MaxBodySize -> 413 (announced and chunked) with the server still serving;
the same over TLS (HTTP/1.1 and HTTP/2 by ALPN); back-pressure: a stalled
upstream stops the client (HTTP/1.1 socket not read, HTTP/2 window held);
BodyTimeout -> 408 and the upstream connection closed, not pooled; an
upstream closing mid-upload -> 502; a 1 GiB upload with the server's RSS
growing by less than 16 MiB.

Run: cd tests/integration && python3 -m unittest test_body_stream -v
"""
import hashlib
import json
import os
import select
import shutil
import socket
import ssl
import tempfile
import threading
import time
import unittest

from rptest import Server, read_response, wait_until
from test_h2 import H2Client
from test_tls import make_pki

MB = 1024 * 1024


def piece(i, size=64 * 1024):
    """Deterministic pieces of a body: the client and the checks agree."""
    return hashlib.sha256(b"%d" % i).digest() * (size // 32)


class Sink:
    """An HTTP/1.1 upstream that reads bodies as they come.

    /early  answers 200 at once without reading the body, then closes
    /cut    reads 64 KiB of the body, then closes the connection
    /gated  reads 64 KiB of the body, then waits for self.gate
    else    reads the whole body and answers {"n", "sha1", "chunked"}
    Events (connection closed mid-body, ...) are recorded for the tests."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.progress = 0      # body bytes of the request being read
        self.events = []       # ("mid-body-eof", bytes read), ("request", path)
        self.connections = 0
        self.stopping = False
        self.gate = threading.Event()
        self.gate.set()
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def stop(self):
        self.gate.set()
        self.stopping = True
        self.lsock.close()

    def event(self, *ev):
        with self.lock:
            self.events.append(ev)

    def seen(self, kind):
        with self.lock:
            return [e for e in self.events if e[0] == kind]

    def accept_loop(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        f = c.makefile("rb")
        try:
            while self.one(c, f):
                pass
        except OSError:
            pass
        finally:
            c.close()

    def read_body(self, f, hd, h, stop_at=None, gate_at=None):
        """Hash the body into h; False at a close before its end."""
        got = [0]  # this body's bytes; self.progress shows the latest body's

        def take(n):
            while n > 0:
                if stop_at is not None and got[0] >= stop_at:
                    return False
                if gate_at is not None and got[0] >= gate_at:
                    self.gate.wait(60)
                b = f.read1(min(n, MB))
                if not b:
                    self.event("mid-body-eof", got[0])
                    return False
                h.update(b)
                got[0] += len(b)
                self.progress = got[0]
                n -= len(b)
            return True

        self.progress = 0
        if "chunked" in hd.get("transfer-encoding", ""):
            while True:
                line = f.readline()
                if not line:
                    self.event("mid-body-eof", got[0])
                    return False
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    while f.readline() not in (b"\r\n", b""):
                        pass
                    return got[0]
                if not take(n):
                    return False
                f.read(2)
        return take(int(hd.get("content-length", "0"))) and got[0]

    def one(self, c, f):
        line = f.readline()
        if not line:
            return False
        path = line.split()[1].decode()
        hd = {}
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            hd[k.strip().lower()] = v.strip()
        self.event("request", path, hd)
        if path.endswith("/early"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly")
            c.shutdown(socket.SHUT_WR)  # then a lingering close: no reset
            while f.read(MB):
                pass
            return False
        if path.endswith("/gated"):
            # a fixed receive buffer (no autotuning up to tcp_rmem's 32 MiB):
            # what the chain holds while stalled then depends on us, not sysctl
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
        h = hashlib.sha1()
        n = self.read_body(f, hd, h, 64 * 1024 if path.endswith("/cut") else None,
                           64 * 1024 if path.endswith("/gated") else None)
        if n is False:
            return False
        body = json.dumps({"n": n, "sha1": h.hexdigest(),
                           "chunked": "chunked" in hd.get("transfer-encoding", ""),
                           "length": hd.get("content-length")}).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        return True


def head(path, length=None, chunked=False, extra=""):
    h = "POST %s HTTP/1.1\r\nHost: localhost\r\n%s" % (path, extra)
    if chunked:
        h += "Transfer-Encoding: chunked\r\n"
    elif length is not None:
        h += "Content-Length: %d\r\n" % length
    return (h + "\r\n").encode()


def chunk(b):
    return b"%x\r\n%s\r\n" % (len(b), b)


class StreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink()
        conf = """LoadModule proxy mod_proxy.so
MaxBodySize 4m
BodyTimeout 1
Map /up/ proxy:http://127.0.0.1:%(p)d/
Map /dead/ proxy:http://127.0.0.1:%(dead)d/
""" % {"p": cls.sink.port, "dead": cls.dead_port()}
        cls.srv = Server(conf=conf, threads=1)

    @staticmethod
    def dead_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        return p

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()
        cls.srv.cleanup()
        cls.sink.stop()

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=20)
        return s, s.makefile("rb")

    def upload(self, s, f, path, pieces, chunked=False, gate=None):
        """Send a body of pieces; after gate pieces, wait until the sink
        holds them (the proof it streams).  Returns (response, sha1)."""
        total = sum(len(p) for p in pieces)
        s.sendall(head(path, total, chunked))
        h = hashlib.sha1()
        for i, p in enumerate(pieces):
            if gate is not None and i == gate:
                sent = sum(len(x) for x in pieces[:gate])
                wait_until(lambda: self.sink.progress >= sent, timeout=15,
                           what="the upstream has the first pieces")
            s.sendall(chunk(p) if chunked else p)
            h.update(p)
        if chunked:
            s.sendall(b"0\r\n\r\n")
        return read_response(f, "POST"), h.hexdigest()

    def check(self, resp, sha, n, chunked):
        st, _, hd, body = resp
        self.assertEqual(st, 200, body)
        got = json.loads(body)
        self.assertEqual((got["n"], got["sha1"], got["chunked"]), (n, sha, chunked))

    def test_content_length_streamed(self):
        s, f = self.connect()
        pieces = [piece(i) for i in range(48)]  # 3 MiB
        resp, sha = self.upload(s, f, "/up/cl", pieces, gate=24)
        self.check(resp, sha, 48 * 64 * 1024, False)
        self.assertEqual(self.sink.seen("request")[-1][2]["content-length"], str(3 * MB))
        # keep-alive after a streamed body: the same connection goes on
        resp, sha = self.upload(s, f, "/up/again", [b"x" * 1000])
        self.check(resp, sha, 1000, False)
        s.close()

    def test_chunked_streamed(self):
        s, f = self.connect()
        pieces = [piece(i, 40000) for i in range(60)]
        resp, sha = self.upload(s, f, "/up/ch", pieces, chunked=True, gate=30)
        self.check(resp, sha, 60 * 40000 // 32 * 32, True)
        s.close()

    def test_expect_continue_when_read(self):
        s, f = self.connect()
        body = b"y" * 200000
        s.sendall(head("/up/exp", len(body), extra="Expect: 100-continue\r\n"))
        st = read_response(f)
        self.assertEqual(st[0], 100)
        s.sendall(body)
        self.check(read_response(f, "POST"), hashlib.sha1(body).hexdigest(), len(body), False)
        s.close()

    def test_expect_continue_never_read(self):
        # the upstream is down: 502 before the body was read, so no 100,
        # and the connection closes (the client never sends the body)
        s, f = self.connect()
        s.sendall(head("/dead/x", 100000, extra="Expect: 100-continue\r\n"))
        resp = read_response(f, "POST")
        self.assertEqual(resp[0], 502)
        self.assertEqual(f.read(), b"")
        s.close()

    def test_early_answer_rest_discarded(self):
        s, f = self.connect()
        pieces = [piece(i) for i in range(16)]  # 1 MiB, answered before it is read
        s.sendall(head("/up/early", 16 * 64 * 1024))
        s.sendall(pieces[0])
        st, _, hd, body = read_response(f, "POST")
        self.assertEqual((st, body), (200, b"early"))
        for p in pieces[1:]:
            s.sendall(p)
        # the server read and dropped the rest: the connection serves on
        resp, sha = self.upload(s, f, "/up/after", [b"z" * 5000])
        self.check(resp, sha, 5000, False)
        s.close()

    def test_early_answer_chunked_with_trailers(self):
        s, f = self.connect()
        s.sendall(head("/up/early", chunked=True) + chunk(piece(0)))
        st, _, hd, body = read_response(f, "POST")
        self.assertEqual((st, body), (200, b"early"))
        s.sendall(chunk(piece(1)) + b"0\r\nX-Trailer: dropped\r\n\r\n")
        resp, sha = self.upload(s, f, "/up/after-trailers", [b"t" * 3000])
        self.check(resp, sha, 3000, False)
        s.close()

    def test_announced_over_max_413(self):
        s, f = self.connect()
        s.sendall(head("/up/big", 5 * MB))
        self.assertEqual(read_response(f, "POST")[0], 413)
        s.close()

    def test_chunked_over_max_413(self):
        s, f = self.connect()
        s.sendall(head("/up/big", chunked=True))
        st = None
        try:
            for i in range(80):  # 5 MiB, MaxBodySize is 4
                s.sendall(chunk(piece(i)))
        except OSError:
            pass  # the server may stop reading once it answered
        st = read_response(f, "POST")[0]
        self.assertEqual(st, 413)
        s.close()
        self.assertEqual(self.srv.request("GET", "/up/alive")[0], 200)

    def test_body_timeout_closes_upstream(self):
        before = len(self.sink.seen("mid-body-eof"))
        s, f = self.connect()
        s.sendall(head("/up/slow", 1 * MB))
        s.sendall(piece(0) * 2)  # 128 KiB of 1 MiB, then silence
        st = read_response(f, "POST")[0]
        self.assertEqual(st, 408)
        # the upstream saw its connection close mid-body: not pooled
        wait_until(lambda: len(self.sink.seen("mid-body-eof")) > before, timeout=10,
                   what="the upstream connection closed")
        s.close()
        self.assertEqual(self.srv.request("GET", "/up/alive")[0], 200)

    def test_upstream_closes_mid_upload_502(self):
        s, f = self.connect()
        s.sendall(head("/up/cut", 2 * MB))
        try:
            for i in range(32):
                s.sendall(piece(i))
        except OSError:
            pass
        self.assertEqual(read_response(f, "POST")[0], 502)
        s.close()
        self.assertEqual(self.srv.request("GET", "/up/alive")[0], 200)

    def h2_upload(self, body, length):
        c = H2Client(self.srv.port)
        hdrs = [("content-length", str(len(body)))] if length else []
        sid = c.request("/up/h2", method="POST", headers=hdrs, body=body)
        r = c.response(sid)
        c.close()
        self.assertEqual(r["headers"][":status"], "200", bytes(r["data"]))
        return json.loads(bytes(r["data"]))

    def test_h2_content_length(self):
        body = b"".join(piece(i) for i in range(40))
        got = self.h2_upload(body, True)
        self.assertEqual((got["n"], got["sha1"], got["chunked"]),
                         (len(body), hashlib.sha1(body).hexdigest(), False))

    def test_h2_unknown_length_chunked_upstream(self):
        body = b"".join(piece(i, 50000) for i in range(30))
        got = self.h2_upload(body, False)
        self.assertEqual((got["n"], got["sha1"], got["chunked"]),
                         (len(body), hashlib.sha1(body).hexdigest(), True))

    def h2_expect(self, path, expect="100-continue", n=100000):
        """A POST announcing n bytes with an Expect header and no body yet:
        the client, the stream id, and what came back before any body."""
        c = H2Client(self.srv.port)
        sid = c.request(path, method="POST", end=False,
                        headers=[("content-length", str(n)), ("expect", expect)])
        st = c.st(sid)
        c.wait(lambda: st["interim"] or st["headers"] is not None or st["reset"] is not None)
        return c, sid, st

    def test_h2_expect_continue_when_read(self):
        body = b"".join(piece(i, 25000) for i in range(4))
        c, sid, st = self.h2_expect("/up/h2exp", n=len(body))
        self.assertEqual((st["interim"], st["headers"]), (["100"], None))
        c.send_body(sid, body)
        r = c.response(sid)
        c.close()
        self.assertEqual(r["headers"][":status"], "200", bytes(r["data"]))
        got = json.loads(bytes(r["data"]))
        self.assertEqual((got["n"], got["sha1"]), (len(body), hashlib.sha1(body).hexdigest()))

    def test_h2_expect_continue_never_read(self):
        # the upstream is down: 502 before the body is read, and no 100
        c, sid, st = self.h2_expect("/dead/h2exp")
        c.close()
        self.assertEqual((st["interim"], st["headers"][":status"]), ([], "502"))

    def test_h2_expect_unknown_417(self):
        c, sid, st = self.h2_expect("/up/h2exp", expect="something-else")
        c.close()
        self.assertEqual((st["interim"], st["headers"][":status"]), ([], "417"))

    def test_h2_body_timeout_408(self):
        before = len(self.sink.seen("mid-body-eof"))
        c = H2Client(self.srv.port)
        sid = c.request("/up/h2slow", method="POST",
                        headers=[("content-length", str(MB))], body=piece(1), end=False)
        r = c.response(sid)  # then silence: BodyTimeout (1 s) answers
        c.close()
        self.assertEqual(r["headers"][":status"], "408")
        wait_until(lambda: len(self.sink.seen("mid-body-eof")) > before, timeout=10,
                   what="the upstream connection closed")

    def test_h2_over_max_413(self):
        c = H2Client(self.srv.port)
        sid = c.request("/up/h2big", method="POST", body=None, end=False)
        sent = 0
        try:
            while sent < 5 * MB and c.st(sid)["headers"] is None:
                n = min(16384, c.conn.local_flow_control_window(sid))
                if n <= 0:
                    c.pump()
                    continue
                c.conn.send_data(sid, piece(sent // 16384, 16384)[:n])
                c.flush()
                sent += n
        except Exception:
            pass
        r = c.response(sid)
        c.close()
        self.assertEqual(r["headers"][":status"], "413")


class TlsStreamTest(unittest.TestCase):
    """The same over TLS: HTTP/1.1 (Content-Length and chunked) and HTTP/2
    by ALPN, byte-checked."""

    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="rptest-pki-")
        make_pki(cls.pki)
        cls.sink = Sink()
        cls.srv = Server(conf="LoadModule proxy mod_proxy.so\n"
                              "SslCertFile %s/fullchain.pem\nSslKeyFile %s/leaf.key\n"
                              "Map /up/ proxy:http://127.0.0.1:%d/\n"
                              % (cls.pki, cls.pki, cls.sink.port),
                         binds=["127.0.0.1:{port} tls"], threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()
        cls.srv.cleanup()
        cls.sink.stop()
        shutil.rmtree(cls.pki, ignore_errors=True)

    def ctx(self, alpn):
        ctx = ssl.create_default_context(cafile=os.path.join(self.pki, "root.pem"))
        ctx.set_alpn_protocols(alpn)
        return ctx

    def test_http11_over_tls(self):
        raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=20)
        s = self.ctx(["http/1.1"]).wrap_socket(raw, server_hostname="localhost")
        f = s.makefile("rb")
        for chunked in (False, True):
            pieces = [piece(i, 50000) for i in range(40)]
            s.sendall(head("/up/tls", sum(len(p) for p in pieces), chunked))
            h = hashlib.sha1()
            for p in pieces:
                s.sendall(chunk(p) if chunked else p)
                h.update(p)
            if chunked:
                s.sendall(b"0\r\n\r\n")
            st, _, _, body = read_response(f, "POST")
            self.assertEqual(st, 200, body)
            got = json.loads(body)
            self.assertEqual((got["n"], got["sha1"], got["chunked"]),
                             (sum(len(p) for p in pieces), h.hexdigest(), chunked))
        s.close()

    def test_h2_over_tls(self):
        c = H2Client(self.srv.port, tls_ctx=self.ctx(["h2"]))
        body = b"".join(piece(i) for i in range(32))
        sid = c.request("/up/tls2", method="POST", body=body)
        r = c.response(sid)
        c.close()
        self.assertEqual(r["headers"][":status"], "200", bytes(r["data"]))
        got = json.loads(bytes(r["data"]))
        self.assertEqual((got["n"], got["sha1"]), (len(body), hashlib.sha1(body).hexdigest()))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        return any("libasan" in line for line in f)


class BigTest(unittest.TestCase):
    """Big bodies: the server's memory stays flat, a stalled upstream stops
    the client (HTTP/1.1: the socket is not read; HTTP/2: no window)."""

    @classmethod
    def setUpClass(cls):
        cls.sink = Sink()
        cls.srv = Server(conf="LoadModule proxy mod_proxy.so\nMaxBodySize 2g\n"
                              "Map /up/ proxy:http://127.0.0.1:%d/\n" % cls.sink.port,
                         threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()
        cls.srv.cleanup()
        cls.sink.stop()

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=60)
        return s, s.makefile("rb")

    def test_one_gib_rss_flat(self):
        srv = self.srv
        if sanitized(srv.pid):
            self.skipTest("an ASan build keeps freed memory: RSS says nothing")
        # warm up (first-use allocations), then take the baseline
        s, f = self.connect()
        block = piece(7, MB)
        s.sendall(head("/up/warm", 8 * MB) + block * 8)
        self.assertEqual(read_response(f, "POST")[0], 200)
        base = rss_kib(srv.pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(srv.pid))
                time.sleep(0.02)
        t = threading.Thread(target=sample, daemon=True)
        t.start()
        total = 1024 * MB
        s.sendall(head("/up/giant", total))
        h = hashlib.sha1()
        for _ in range(total // MB):
            s.sendall(block)
            h.update(block)
        st, _, _, body = read_response(f, "POST")
        done.set()
        t.join()
        self.assertEqual(st, 200, body)
        got = json.loads(body)
        self.assertEqual((got["n"], got["sha1"]), (total, h.hexdigest()))
        growth = (peak[0] - base) / 1024.0
        print("\n1 GiB upload: server RSS %d KiB -> peak %d KiB (+%.1f MiB)"
              % (base, peak[0], growth))
        self.assertLess(growth, 16.0)
        s.close()

    def fill(self, s, block, limit):
        """Send until the chain stops taking bytes (nothing for 2 s) or
        limit is reached; the bytes sent."""
        s.setblocking(False)
        sent = 0
        while sent < limit:
            try:
                sent += s.send(block[sent % len(block):])
            except BlockingIOError:
                _, w, _ = select.select([], [s], [], 2.0)
                if not w:
                    break
        s.setblocking(True)
        return sent

    def test_backpressure_h1(self):
        """A stalled upstream stops the client: the server does not buffer."""
        total, block = 256 * MB, piece(3, MB)
        self.sink.gate.clear()
        s, f = self.connect()
        s.sendall(head("/up/gated", total))
        base = rss_kib(self.srv.pid)
        sent = self.fill(s, block, total)
        grown = (rss_kib(self.srv.pid) - base) / 1024.0
        # kernel buffers on both sides plus the proxy's 256 KiB, far from all
        print("\nHTTP/1.1, upstream stalled: the client could send %.1f MiB, server RSS +%.1f MiB"
              % (sent / MB, grown))
        self.assertLess(sent, 64 * MB)
        if not sanitized(self.srv.pid):
            self.assertLess(grown, 16.0)
        self.sink.gate.set()
        h = hashlib.sha1()
        for i in range(total // MB):
            h.update(block)
        off = sent
        while off < total:
            start = off % MB
            n = min(MB - start, total - off)
            s.sendall(block[start:start + n])
            off += n
        st, _, _, body = read_response(f, "POST")
        self.assertEqual(st, 200, body)
        got = json.loads(body)
        self.assertEqual((got["n"], got["sha1"]), (total, h.hexdigest()))
        s.close()

    def test_backpressure_h2(self):
        """Over HTTP/2 the stream window stays closed while the upstream stalls."""
        total, block = 40 * MB, piece(5, 16384)
        self.sink.gate.clear()
        c = H2Client(self.srv.port)
        sid = c.request("/up/gated", method="POST",
                        headers=[("content-length", str(total))], body=None, end=False)
        sent = 0
        h = hashlib.sha1()
        c.sock.settimeout(2.0)
        while sent < total:
            n = min(len(block), c.conn.local_flow_control_window(sid), total - sent)
            if n > 0:
                c.conn.send_data(sid, block[:n])
                c.flush()
                h.update(block[:n])
                sent += n
                continue
            try:
                c.pump()
            except socket.timeout:
                break  # no window granted for 2 s: the server holds it closed
        # one stream window, the proxy's 256 KiB, its socket's send buffer
        # (tcp_wmem, at most 4 MiB here) and the sink's 256 KiB and 1 MiB
        print("\nHTTP/2, upstream stalled: the client could send %.1f MiB" % (sent / MB))
        self.assertLess(sent, 16 * MB)
        self.sink.gate.set()
        c.sock.settimeout(30)
        while sent < total:  # the rest, the window opening as the upstream reads
            n = min(len(block), c.conn.local_flow_control_window(sid), total - sent)
            if n <= 0:
                c.pump()
                continue
            c.conn.send_data(sid, block[:n])
            c.flush()
            h.update(block[:n])
            sent += n
        c.conn.end_stream(sid)
        c.flush()
        r = c.response(sid)
        c.close()
        self.assertEqual(r["headers"][":status"], "200", bytes(r["data"]))
        got = json.loads(bytes(r["data"]))
        self.assertEqual((got["n"], got["sha1"]), (total, h.hexdigest()))



if __name__ == "__main__":
    unittest.main()
