"""HTTP/2: negotiation (ALPN h2 and the fallback to HTTP/1.1, h2c by prior
knowledge and by Upgrade), the same pipeline as HTTP/1.1 over h2 (static
files, ETag/304, Range, HEAD, gzip, JS replies, chunked JS replies as DATA,
a POST body), many concurrent streams on one connection byte-checked, flow
control with a small client window, the limits (H2MaxConcurrentStreams ->
REFUSED_STREAM, H2MaxResets -> GOAWAY ENHANCE_YOUR_CALM, header list ->
431, MaxBodySize -> 413) with the server still serving, the access log
showing HTTP/2.0, graceful stop sending GOAWAY while a stream finishes, and
HTTP/1.1 on the same ports.

Clients: curl (--http2, --http2-prior-knowledge, Upgrade) and Python's h2
package (Debian python3-h2) over plain sockets.

Run: cd tests/integration && python3 -m unittest test_h2 -v
"""
import gzip
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

try:
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.settings
except ImportError:  # a Python of its own (pyenv) next to Debian's python3-h2
    sys.path.append("/usr/lib/python3/dist-packages")
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.settings

from rptest import Server, wait_until
from test_tls import make_pki

try:
    from jsrun import JsServer, RAMPART
    HAVE_RAMPART = os.path.exists(RAMPART)
except ImportError:
    HAVE_RAMPART = False

BIG = os.urandom(3 * 1024 * 1024 + 77)
TEXT = ("".join("line %d of a compressible text file\n" % i for i in range(4000))).encode()
SMALL = b"hello over h2\n"
CURL = shutil.which("curl")


def sha(b):
    return hashlib.sha256(b).hexdigest()


class H2Client:
    """A blocking HTTP/2 client over one socket, driven by h2's state machine."""

    def __init__(self, port, tls_ctx=None, settings=None, host="127.0.0.1", preface=True):
        self.sock = socket.create_connection((host, port), timeout=20)
        if tls_ctx:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname="localhost")
            assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.streams = {}
        self.goaway = None
        self.closed = False
        self.auto_ack = True
        if preface:
            self.conn.initiate_connection()
            if settings:
                self.conn.update_settings(settings)
            self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def st(self, sid):
        return self.streams.setdefault(sid, {"headers": None, "data": bytearray(),
                                             "ended": False, "reset": None, "interim": []})

    def request(self, path, method="GET", headers=(), body=None, end=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", "localhost")] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        if body is not None:
            self.send_body(sid, body, end)
        self.flush()
        self.st(sid)
        return sid

    def send_body(self, sid, body, end=True):
        while body:
            n = min(len(body), self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size)
            if n <= 0:
                self.pump()
                continue
            self.conn.send_data(sid, body[:n])
            body = body[n:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
        self.flush()

    def pump(self):
        """Read once and handle every event; False when the server closed."""
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            return False
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                self.st(ev.stream_id)["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.InformationalResponseReceived):
                self.st(ev.stream_id)["interim"].append(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                self.st(ev.stream_id)["data"] += ev.data
                if self.auto_ack:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.st(ev.stream_id)["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                self.st(ev.stream_id)["reset"] = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev.error_code
        self.flush()
        return True

    def wait(self, pred):
        while not pred():
            if not self.pump():
                break
        return pred()

    def response(self, sid):
        s = self.st(sid)
        self.wait(lambda: s["ended"] or s["reset"] is not None or self.goaway is not None)
        return s

    def get(self, path, headers=()):
        s = self.response(self.request(path, headers=headers))
        return int(s["headers"][":status"]), s["headers"], bytes(s["data"])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def curl(*args):
    p = subprocess.run([CURL, "-s", "-S", "--max-time", "30"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p


FILES = {"www/small.txt": SMALL, "www/big.bin": BIG, "www/text.txt": TEXT}
CONF = ("LoadModule static mod_static.so\nLoadModule gzip mod_gzip.so\n"
        "CompressFiles on\nMap / {www}\n")
NGHTTP = shutil.which("nghttp")


@unittest.skipUnless(CURL, "curl not installed")
class H2Plain(unittest.TestCase):
    """h2c: prior knowledge, Upgrade, and the pipeline over HTTP/2."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=CONF + "H2MaxHeaderListSize 4k\nMaxBodySize 100k\n", files=FILES)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()
        cls.srv.cleanup()

    def client(self, **kw):
        c = H2Client(self.srv.port, **kw)
        self.addCleanup(c.close)
        return c

    def test_curl_prior_knowledge(self):
        p = curl("--http2-prior-knowledge", "-i", self.srv.url("/small.txt"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b"HTTP/2 200"), p.stdout[:100])
        self.assertTrue(p.stdout.endswith(SMALL))
        self.assertNotIn(b"connection:", p.stdout.lower())
        p = curl("--http2-prior-knowledge", self.srv.url("/big.bin"))
        self.assertEqual(sha(p.stdout), sha(BIG))

    def test_curl_upgrade(self):
        p = curl("--http2", "-v", self.srv.url("/small.txt"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"101 Switching Protocols", p.stderr)
        self.assertIn(b"< HTTP/2 200", p.stderr)
        self.assertEqual(p.stdout, SMALL)

    def test_http11_same_port(self):
        status, _, body = self.srv.request("GET", "/small.txt")
        self.assertEqual((status, body), (200, SMALL))

    def test_many_streams_one_connection(self):
        c = self.client()
        paths = []
        for i in range(100):
            kind = i % 4
            if kind == 0:
                paths.append(("/big.bin", (), BIG))
            elif kind == 1:
                paths.append(("/text.txt", (("accept-encoding", "gzip"),), TEXT))
            else:
                paths.append(("/small.txt?%d" % i, (), SMALL))
        sids = [c.request(p, headers=h) for p, h, _ in paths]
        c.wait(lambda: all(c.streams[s]["ended"] for s in sids) or c.closed)
        for sid, (p, h, want) in zip(sids, paths):
            s = c.streams[sid]
            self.assertTrue(s["ended"], p)
            self.assertEqual(s["headers"][":status"], "200")
            body = bytes(s["data"])
            if s["headers"].get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            self.assertEqual(sha(body), sha(want), p)
        # gzip really happened on the text streams
        gz = [c.streams[s]["headers"].get("content-encoding") for s, x in zip(sids, paths)
              if x[0] == "/text.txt"]
        self.assertEqual(set(gz), {"gzip"})

    def test_small_window_flow_control(self):
        # 4 KiB stream window: the server may send only what the client
        # opens; the transfer completes as the client acknowledges.
        c = self.client(settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 4096})
        status, hdrs, body = c.get("/big.bin")
        self.assertEqual(status, 200)
        self.assertEqual(int(hdrs["content-length"]), len(BIG))
        self.assertEqual(sha(body), sha(BIG))
        # ... and the same connection serves the next request
        self.assertEqual(c.get("/small.txt")[2], SMALL)

    def test_slow_reader_does_not_block_others(self):
        c = self.client(settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
        c.auto_ack = False  # the big stream's window stays closed
        big = c.request("/big.bin")
        c.wait(lambda: len(c.streams[big]["data"]) > 0)
        # small streams: ack their data ourselves (the connection window too)
        for i in range(5):
            sid = c.request("/small.txt?s%d" % i)
            s = c.streams[sid]

            def done():
                for k, v in c.streams.items():
                    if k != big and v["data"]:
                        c.conn.acknowledge_received_data(len(v["data"]), k)
                        c.flush()
                return s["ended"]
            c.wait(done)
            self.assertEqual(bytes(s["data"]), SMALL)
        self.assertFalse(c.streams[big]["ended"])

    def test_etag_304_range_head(self):
        c = self.client()
        status, hdrs, body = c.get("/small.txt")
        etag = hdrs["etag"]
        status, hdrs, body = c.get("/small.txt", headers=(("if-none-match", etag),))
        self.assertEqual((status, body), (304, b""))
        status, hdrs, body = c.get("/big.bin", headers=(("range", "bytes=100-199"),))
        self.assertEqual(status, 206)
        self.assertEqual(body, BIG[100:200])
        self.assertEqual(hdrs["content-range"], "bytes 100-199/%d" % len(BIG))
        s = c.response(c.request("/big.bin", method="HEAD"))
        self.assertEqual(s["headers"][":status"], "200")
        self.assertEqual(int(s["headers"]["content-length"]), len(BIG))
        self.assertEqual(bytes(s["data"]), b"")

    def test_gzip(self):
        p = curl("--http2-prior-knowledge", "-H", "Accept-Encoding: gzip", "-D", "-",
                 "-o", os.path.join(self.srv.dir, "t.gz"), self.srv.url("/text.txt"))
        self.assertIn(b"content-encoding: gzip", p.stdout.lower())
        with open(os.path.join(self.srv.dir, "t.gz"), "rb") as f:
            self.assertEqual(gzip.decompress(f.read()), TEXT)

    def test_header_list_too_large_431(self):
        c = self.client()
        status, _, _ = c.get("/small.txt", headers=(("x-big", "a" * 6000),))
        self.assertEqual(status, 431)
        self.assertEqual(c.get("/small.txt")[2], SMALL)  # the connection goes on

    def test_body_too_large_413(self):
        c = self.client()
        sid = c.request("/small.txt", method="POST", headers=(("content-length", "200000"),),
                        end=False)
        s = c.response(sid)
        self.assertEqual(s["headers"][":status"], "413")
        self.assertEqual(c.get("/small.txt")[2], SMALL)

    def test_max_concurrent_streams_refused(self):
        srv = Server(conf=CONF + "H2MaxConcurrentStreams 4\n", files=FILES)
        self.addCleanup(srv.cleanup)
        c = H2Client(srv.port)
        self.addCleanup(c.close)
        # Five streams that stay open (no END_STREAM), sent before the
        # server's SETTINGS are read: the fifth is refused.
        sids = [c.request("/small.txt", end=False) for _ in range(5)]
        c.wait(lambda: c.streams[sids[4]]["reset"] is not None)
        self.assertEqual(c.streams[sids[4]]["reset"], h2.errors.ErrorCodes.REFUSED_STREAM)
        for sid in sids[:4]:
            c.conn.end_stream(sid)
        c.flush()
        for sid in sids[:4]:
            self.assertEqual(bytes(c.response(sid)["data"]), SMALL)
        self.assertIsNone(c.goaway)
        srv.stop()
        srv.check_sanitizers()

    def test_rapid_reset_goaway(self):
        srv = Server(conf=CONF + "H2MaxResets 50\n", files=FILES)
        self.addCleanup(srv.cleanup)
        c = H2Client(srv.port)
        self.addCleanup(c.close)
        for _ in range(60):
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, [(":method", "GET"), (":path", "/small.txt"),
                                      (":scheme", "http"), (":authority", "x")])
            c.conn.reset_stream(sid)
        c.flush()
        c.wait(lambda: c.goaway is not None)
        self.assertEqual(c.goaway, h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
        # everybody else is still served
        c2 = H2Client(srv.port)
        self.addCleanup(c2.close)
        self.assertEqual(c2.get("/small.txt")[2], SMALL)
        srv.stop()
        srv.check_sanitizers()

    def test_idle_and_stall_timeouts(self):
        srv = Server(conf=CONF + "H2IdleTimeout 0.3\nH2StallTimeout 0.3\n", files=FILES)
        self.addCleanup(srv.cleanup)
        # a response whose window the client never opens is reset (CANCEL)
        c = H2Client(srv.port, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
        self.addCleanup(c.close)
        c.auto_ack = False
        sid = c.request("/big.bin")
        c.wait(lambda: c.streams[sid]["reset"] is not None)
        self.assertEqual(c.streams[sid]["reset"], h2.errors.ErrorCodes.CANCEL)
        # then, with no stream left, the connection gets GOAWAY NO_ERROR
        c.wait(lambda: c.goaway is not None)
        self.assertEqual(c.goaway, h2.errors.ErrorCodes.NO_ERROR)
        c.wait(lambda: c.closed)
        self.assertEqual(srv.request("GET", "/small.txt")[2], SMALL)
        srv.stop()
        srv.check_sanitizers()

    def raw_frames(self, sock, buf):
        """Frames read from sock (hyperframe), past h2's state machine, which
        stops at a GOAWAY; returns (frames, rest of buf)."""
        from hyperframe.frame import Frame
        data = sock.recv(65536)
        if not data:
            return None, buf
        buf += data
        frames = []
        while len(buf) >= 9:
            f, n = Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + n:
                break
            f.parse_body(memoryview(buf[9:9 + n]))
            frames.append(f)
            buf = buf[9 + n:]
        return frames, buf

    def test_reload_sends_goaway_and_finishes_stream(self):
        from hyperframe.frame import DataFrame, GoAwayFrame, WindowUpdateFrame
        srv = Server(conf=CONF, files=FILES)
        self.addCleanup(srv.cleanup)
        c = H2Client(srv.port, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
        self.addCleanup(c.close)
        sid = c.request("/big.bin")
        # The window is never opened until the GOAWAY is in: the stream is
        # in flight, deterministically, when the reload happens.
        got, goaway, ended, buf, reloaded = 0, None, False, b"", False
        while not ended:
            frames, buf = self.raw_frames(c.sock, buf)
            self.assertIsNotNone(frames, "closed before the stream ended: " + srv.error_log())
            for f in frames:
                if isinstance(f, DataFrame) and f.stream_id == sid:
                    got += len(f.data)
                    ended = "END_STREAM" in f.flags
                    if goaway is not None and f.flow_controlled_length:
                        n = f.flow_controlled_length
                        c.sock.sendall(WindowUpdateFrame(0, window_increment=n).serialize() +
                                       WindowUpdateFrame(sid, window_increment=n).serialize())
                elif isinstance(f, GoAwayFrame):
                    goaway = f
                    # now let the stream go on: open both windows wide
                    c.sock.sendall(WindowUpdateFrame(0, window_increment=1 << 30).serialize() +
                                   WindowUpdateFrame(sid, window_increment=1 << 30).serialize())
            if got and not reloaded:
                srv.send_signal(signal.SIGHUP)
                reloaded = True
        self.assertEqual(got, len(BIG))
        self.assertEqual(goaway.error_code, 0)
        self.assertGreaterEqual(goaway.last_stream_id, sid)
        # the connection closes once the stream is done
        while True:
            frames, buf = self.raw_frames(c.sock, buf)
            if frames is None:
                break
        # and the reloaded server serves new connections, h2 and HTTP/1.1
        c2 = H2Client(srv.port)
        self.addCleanup(c2.close)
        self.assertEqual(c2.get("/small.txt")[2], SMALL)
        self.assertEqual(srv.request("GET", "/small.txt")[2], SMALL)
        srv.stop()
        srv.check_sanitizers()

    def test_body_timeout_408(self):
        srv = Server(conf=CONF + "BodyTimeout 0.3\n", files=FILES)
        self.addCleanup(srv.cleanup)
        c = H2Client(srv.port)
        self.addCleanup(c.close)
        sid = c.request("/small.txt", end=False)  # a body that never comes
        s = c.response(sid)
        self.assertEqual(s["headers"][":status"], "408")
        self.assertEqual(c.get("/small.txt")[2], SMALL)
        srv.stop()
        srv.check_sanitizers()

    def test_continuation_flood_goaway(self):
        # nghttp2 (1.52 with Debian's CVE-2024-28182 fix) caps CONTINUATION
        # frames; the session ends with GOAWAY ENHANCE_YOUR_CALM
        import hpack
        from hyperframe.frame import ContinuationFrame, GoAwayFrame, HeadersFrame
        c = self.client()
        enc = hpack.Encoder()
        out = HeadersFrame(1, data=enc.encode([(":method", "GET"), (":path", "/small.txt"),
                                               (":scheme", "http"), (":authority", "x")])).serialize()
        cont = ContinuationFrame(1, data=enc.encode([("x-a", "b" * 10)])).serialize()
        try:
            c.sock.sendall(out + cont * 5000)
        except OSError:
            pass  # the server may close before it has read everything
        buf, goaway = b"", None
        while goaway is None:
            try:
                frames, buf = self.raw_frames(c.sock, buf)
            except OSError:
                break
            if frames is None:
                break
            goaway = next((f for f in frames if isinstance(f, GoAwayFrame)), None)
        self.assertIsNotNone(goaway)
        self.assertEqual(goaway.error_code, h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
        c2 = self.client()
        self.assertEqual(c2.get("/small.txt")[2], SMALL)

    def test_access_log_http2(self):
        c = self.client()
        c.get("/small.txt?logged-h2")
        wait_until(lambda: "GET /small.txt?logged-h2 HTTP/2.0\" 200 %d" % len(SMALL)
                   in self.srv.access_log(), what="h2 access log line")

    def test_bad_preface_keeps_serving(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x04\x09\x00\x00\x00\x00\x00junk")
        s.settimeout(10)
        data = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
        except OSError:
            pass
        s.close()
        self.assertIn(b"\x07", data[:200])  # a GOAWAY frame was sent
        self.assertEqual(self.srv.request("GET", "/small.txt")[2], SMALL)


@unittest.skipUnless(CURL, "curl not installed")
class H2Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="rptest-pki-")
        os.chmod(cls.pki, 0o755)
        make_pki(cls.pki)
        cls.srv = Server(conf=CONF + "SslCertFile %s/fullchain.pem\nSslKeyFile %s/leaf.key\n"
                         % (cls.pki, cls.pki), files=FILES, binds=["127.0.0.1:{port} tls"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()
        cls.srv.cleanup()
        shutil.rmtree(cls.pki, ignore_errors=True)

    def ctx(self, alpn):
        ctx = ssl.create_default_context(cafile=os.path.join(self.pki, "root.pem"))
        ctx.set_alpn_protocols(alpn)
        return ctx

    def test_curl_alpn_h2(self):
        url = "https://localhost:%d/big.bin" % self.srv.port
        p = curl("--http2", "-v", "--cacert", os.path.join(self.pki, "root.pem"),
                 "--resolve", "localhost:%d:127.0.0.1" % self.srv.port, url)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"ALPN: server accepted h2", p.stderr)
        self.assertEqual(sha(p.stdout), sha(BIG))

    def test_alpn_fallback_http11(self):
        p = curl("--http1.1", "-v", "--cacert", os.path.join(self.pki, "root.pem"),
                 "--resolve", "localhost:%d:127.0.0.1" % self.srv.port,
                 "https://localhost:%d/small.txt" % self.srv.port)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"< HTTP/1.1 200", p.stderr)
        self.assertEqual(p.stdout, SMALL)

    def test_alpn_server_prefers_h2(self):
        for offer in (["h2", "http/1.1"], ["http/1.1", "h2"]):
            with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as raw:
                with self.ctx(offer).wrap_socket(raw, server_hostname="localhost") as s:
                    self.assertEqual(s.selected_alpn_protocol(), "h2", offer)

    def test_protocols_without_h2(self):
        srv = Server(conf=CONF + "SslCertFile %s/fullchain.pem\nSslKeyFile %s/leaf.key\n"
                     "Protocols h2c http/1.1\n" % (self.pki, self.pki), files=FILES,
                     binds=["127.0.0.1:{port} tls"])
        self.addCleanup(srv.cleanup)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
            with self.ctx(["h2", "http/1.1"]).wrap_socket(raw, server_hostname="localhost") as s:
                self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        srv.stop()
        srv.check_sanitizers()

    def test_python_h2_over_tls(self):
        c = H2Client(self.srv.port, tls_ctx=self.ctx(["h2", "http/1.1"]))
        self.addCleanup(c.close)
        sids = [c.request("/small.txt?%d" % i) for i in range(20)] + [c.request("/big.bin")]
        for sid in sids[:-1]:
            self.assertEqual(bytes(c.response(sid)["data"]), SMALL)
        self.assertEqual(sha(bytes(c.response(sids[-1])["data"])), sha(BIG))


JS = r'''
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:{port}",
    user: "nobody",
    threads: 1,
    map: {
        "/hello.txt": function (req) { return {txt: "hello js"}; },
        "/echo.txt": function (req) {
            return {txt: req.method + " " + rampart.utils.bufferToString(req.body)};
        },
        "/chunk.txt": function (req) {
            return {chunk: true, txt: function (req) {
                if (req.chunkIndex < 5) req.chunkSend("part" + req.chunkIndex + ";");
                else req.chunkEnd("end");
            }};
        },
        "/defer.txt": function (req) {
            setTimeout(function () {
                req.reply({txt: "later " + req.query.i, status: 201, headers: {"X-Later": "yes"}});
            }, 20);
            return {defer: true};
        },
        "/slow.txt": function (req) {
            return {chunk: true, chunkDelay: 100, txt: function (req) {
                if (req.chunkIndex < 10) req.chunkSend("s" + req.chunkIndex + ";");
                else req.chunkEnd("done");
            }};
        }
    }
});
'''


@unittest.skipUnless(HAVE_RAMPART, "rampart (mod_js) not built")
class H2Js(unittest.TestCase):
    def test_js_routes_over_h2c(self):
        with JsServer(JS) as srv:
            c = H2Client(srv.port)
            self.addCleanup(c.close)
            self.assertEqual(c.get("/hello.txt")[2], b"hello js")
            status, hdrs, body = c.get("/chunk.txt")
            self.assertEqual(status, 200)
            self.assertNotIn("transfer-encoding", hdrs)
            self.assertEqual(body, b"part0;part1;part2;part3;part4;end")
            sid = c.request("/echo.txt", method="POST", body=b"x" * 100000)
            self.assertEqual(bytes(c.response(sid)["data"]), b"POST " + b"x" * 100000)
            # deferred replies, several in flight on one connection
            sids = [c.request("/defer.txt?i=%d" % i) for i in range(20)]
            for i, sid in enumerate(sids):
                r = c.response(sid)
                self.assertEqual(r["headers"][":status"], "201")
                self.assertEqual(r["headers"]["x-later"], "yes")
                self.assertEqual(bytes(r["data"]), b"later %d" % i)
            # several at once, mixed
            sids = [c.request(p) for p in ("/hello.txt", "/chunk.txt") * 10]
            for sid, want in zip(sids, (b"hello js", b"part0;part1;part2;part3;part4;end") * 10):
                self.assertEqual(bytes(c.response(sid)["data"]), want)

    def test_protocols_option(self):
        # start({protocols}) -> Protocols: without h2c, the preface is no HTTP/2
        script = JS.replace('map: {', 'protocols: ["http/1.1"], map: {', 1)
        with JsServer(script) as srv:
            self.assertEqual(srv.get("/hello.txt")[2], b"hello js")
            r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null",
                                "-w", "%{http_version}", "--max-time", "10",
                                "http://127.0.0.1:%d/hello.txt" % srv.port],
                               capture_output=True, text=True)
            self.assertNotEqual(r.stdout, "2")
        with JsServer(JS.replace('map: {', 'protocols: "h2c", map: {', 1), start=False) as srv:
            srv.start(wait=False)
            self.assertNotEqual(srv.wait(), 0)  # http/1.1 must be listed
            self.assertIn("Protocols", srv.output())

    def test_100_streams_static_gzip_js(self):
        script = JS.replace('map: {', 'compressFiles: true, map: {\n        "/www/": "www",', 1)
        files = {"www/big.bin": BIG, "www/text.txt": TEXT, "www/small.txt": SMALL}
        with JsServer(script, files=files) as srv:
            c = H2Client(srv.port)
            self.addCleanup(c.close)
            chunked = b"part0;part1;part2;part3;part4;end"
            kinds = [("/www/big.bin", (), BIG), ("/www/text.txt", (("accept-encoding", "gzip"),), TEXT),
                     ("/www/small.txt", (), SMALL), ("/hello.txt", (), b"hello js"),
                     ("/chunk.txt", (), chunked)]
            plan = [kinds[i % len(kinds)] for i in range(100)]
            sids = [c.request(p, headers=h) for p, h, _ in plan]
            c.wait(lambda: all(c.streams[s]["ended"] for s in sids) or c.closed)
            encodings = set()
            for sid, (p, h, want) in zip(sids, plan):
                st = c.streams[sid]
                self.assertEqual(st["headers"][":status"], "200", p)
                body = bytes(st["data"])
                if st["headers"].get("content-encoding") == "gzip":
                    encodings.add(p)
                    body = gzip.decompress(body)
                self.assertEqual(sha(body), sha(want), p)
            self.assertEqual(encodings, {"/www/text.txt"})

    def test_reset_while_deferred_and_chunking(self):
        with JsServer(JS) as srv:
            c = H2Client(srv.port)
            self.addCleanup(c.close)
            for path in ("/defer.txt?i=1", "/slow.txt"):
                sid = c.request(path)
                c.conn.reset_stream(sid)
                c.flush()
            # the replies that come later find their streams gone; the
            # connection and the server go on
            self.assertEqual(c.get("/hello.txt")[2], b"hello js")
            sid = c.request("/defer.txt?i=2")
            self.assertEqual(bytes(c.response(sid)["data"]), b"later 2")
            self.assertEqual(c.get("/hello.txt")[2], b"hello js")

    @unittest.skipUnless(NGHTTP, "nghttp not installed")
    def test_graceful_stop_finishes_stream(self):
        # Python's h2 drops a connection at GOAWAY; nghttp finishes the
        # streams the GOAWAY let through, as RFC 9113 6.8 means.
        with JsServer(JS) as srv:
            p = subprocess.Popen([NGHTTP, "-v", "http://127.0.0.1:%d/slow.txt" % srv.port],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.addCleanup(p.kill)
            out = b""
            while b"recv DATA" not in out:
                line = p.stdout.readline()
                self.assertTrue(line, out)
                out += line
            srv.proc.send_signal(signal.SIGTERM)
            rest, _ = p.communicate(timeout=30)
            out += rest
            self.assertEqual(p.returncode, 0, out)
            self.assertIn(b"recv GOAWAY", out)
            self.assertIn(b"error_code=NO_ERROR", out)
            self.assertIn(b"s9;", out)
            self.assertIn(b"\ndone[", out)  # nghttp prints the body as it arrives
            self.assertIn(b"; END_STREAM", out.split(b"recv GOAWAY")[1])
            self.assertEqual(srv.proc.wait(timeout=30), 0)

if __name__ == "__main__":
    unittest.main()
