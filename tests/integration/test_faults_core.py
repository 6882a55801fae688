"""Hostile and careless clients against the core (issue 9): pipelining on
every response path, framing errors, slow and stalled clients, timeouts
that cut attackers but never real work, and stop/reload with responses
still being written.

Every wait here waits for the condition it checks (a response, a close, a
log line, a process exit); clocks are only read to assert upper bounds.
"""
import os
import signal
import socket
import subprocess
import tempfile
import shutil
import threading
import time
import unittest

from rptest import (Server, BUILD, LOAD_TESTHOOKS, gen_body, sha256, read_response,
                    parse_responses, recv_all, is_closed, wait_until)

HAVE_JS = os.path.exists(os.path.join(BUILD, "modules", "mod_js.so"))

SMALL = b"s" * 1024                      # goes out in the header writev
LARGE = os.urandom(300 * 1024)           # goes out with sendfile
HUGE_MB = 48                             # downloads that outlive every timeout

ROUTES = LOAD_TESTHOOKS + """LoadModule static mod_static.so
LogLevel info
Map /echo test:echo
Map /stream test:stream:3
Map /err503 test:error:503
Map /files/ {www}
"""
FILES = {"www/small.css": SMALL, "www/large.bin": LARGE, "www/index.html": b"<p>index</p>\n"}


def slow_reader(sock, total, chunk=256 * 1024, pause=0.02):
    """Read a response of `total` body bytes at a steady pace (pause between
    reads); returns (status, body)."""
    f = sock.makefile("rb")
    st, _, hd, _ = read_head(f)
    body = bytearray()
    while len(body) < total:
        d = f.read1(chunk) if hasattr(f, "read1") else f.read(chunk)
        if not d:
            break
        body += d
        time.sleep(pause)  # pacing the reader, not synchronisation
    return st, bytes(body)


def read_head(f):
    line = f.readline()
    st = int(line.split()[1])
    hd = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        hd[k.strip().lower()] = v.strip()
    return st, line, hd, None


class TestPipelining(unittest.TestCase):
    """Two (or many) requests in one send: each gets its answer, in order,
    whatever path answered the one before (defect 0)."""

    @classmethod
    def setUpClass(cls):
        conf = ROUTES
        files = dict(FILES)
        if HAVE_JS:
            conf += "LoadModule js mod_js.so\nMap /js/hello.txt {dir}/hello.js\n"
            files["hello.js"] = "module.exports = function () { return {txt: 'hello js'}; };"
        # Logging off: the benchmark setting, where requests were lost.
        files["www/secret.txt"] = b"no"
        cls.srv = Server(conf=conf, files=files, logs=False)
        os.chmod(cls.srv.path("www/secret.txt"), 0o600)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def pipelined(self, paths, method="GET"):
        reqs = b"".join(b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method.encode(), p.encode())
                        for p in paths)
        s = self.srv.sock(10)
        try:
            s.sendall(reqs)
            f = s.makefile("rb")
            return [read_response(f, method) for _ in paths]
        finally:
            s.close()

    def expect(self):
        exp = {"/files/small.css": (200, SMALL), "/files/large.bin": (200, LARGE),
               "/files/index.html": (200, b"<p>index</p>\n"), "/files/nope": (404, None),
               "/files/secret.txt": (403 if os.geteuid() == 0 else 200, None),
               "/err503": (503, None), "/echo": (200, None), "/stream": (200, None)}
        if HAVE_JS:
            exp["/js/hello.txt"] = (200, b"hello js")
        return exp

    def test_pairs_on_every_path(self):
        exp = self.expect()
        for first in exp:
            for second in ("/files/small.css", "/files/large.bin", "/echo"):
                with self.subTest(first=first, second=second):
                    rs = self.pipelined([first, second])
                    for path, r in zip((first, second), rs):
                        self.assertIsNotNone(r, "no answer to pipelined %s" % path)
                        st, body = exp[path]
                        self.assertEqual(r[0], st, path)
                        if body is not None:
                            self.assertEqual(r[3], body, path)

    def test_hundred_small_files_in_one_send(self):
        rs = self.pipelined(["/files/small.css"] * 100)
        self.assertEqual([r[0] for r in rs], [200] * 100)
        self.assertTrue(all(r[3] == SMALL for r in rs))

    def test_head_pipelined(self):
        rs = self.pipelined(["/files/large.bin", "/files/small.css"], method="HEAD")
        self.assertEqual([r[0] for r in rs], [200, 200])

    def test_half_close_after_pipelining(self):
        s = self.srv.sock(10)
        try:
            s.sendall(b"GET /files/small.css HTTP/1.1\r\nHost: x\r\n\r\n" * 2 +
                      b"GET /files/large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            s.shutdown(socket.SHUT_WR)  # like nc: all requests sent, then end of file
            rs = parse_responses(recv_all(s, timeout=10))
            self.assertEqual([r[0] for r in rs], [200, 200, 200])
            self.assertEqual(rs[2][2], LARGE)
        finally:
            s.close()

    def test_third_request_after_a_pause(self):
        s = self.srv.sock(10)
        try:
            s.sendall(b"GET /files/small.css HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
            f = s.makefile("rb")
            self.assertEqual([read_response(f)[0] for _ in range(2)], [200, 200])
            s.sendall(b"GET /files/index.html HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(read_response(f)[3], b"<p>index</p>\n")
        finally:
            s.close()


class TestFraming(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=ROUTES + "MaxBodySize 65536\n", files=FILES)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def post_chunked(self, size_line):
        return parse_responses(self.srv.raw(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
            size_line + b"\r\nabc", timeout=10))

    def test_chunk_size_overflow_is_400(self):
        rs = self.post_chunked(b"ffffffffffffffff")
        self.assertEqual([r[0] for r in rs], [400])

    def test_chunk_size_over_max_body_is_413(self):
        rs = self.post_chunked(b"%x" % (65536 + 1))
        self.assertEqual([r[0] for r in rs], [413])

    def test_chunks_adding_up_over_max_body_are_413(self):
        body = b"8000\r\n" + b"a" * 0x8000 + b"\r\n"
        rs = parse_responses(self.srv.raw(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
            body * 2 + b"1\r\n", timeout=10))
        self.assertEqual([r[0] for r in rs], [413])

    def test_server_still_serves(self):
        self.post_chunked(b"ffffffffffffffff")
        self.assertEqual(self.srv.request("GET", "/files/small.css")[2], SMALL)


class TestTimeouts(unittest.TestCase):
    """Deadlines for attackers (trickled heads, silent bodies, stalled
    readers) and none for clients that make progress (defect 10)."""

    def test_defaults_are_safe(self):
        with Server(conf=ROUTES, files=FILES) as srv:
            out = subprocess.run([os.path.join(BUILD, "bin", "rampart-httpd"), "-L"],
                                 capture_output=True, text=True).stdout
            for name in ("HeaderTimeout", "BodyTimeout", "SendTimeout", "HandshakeTimeout"):
                self.assertIn(name, out)
            self.assertEqual(srv.request("GET", "/files/small.css")[0], 200)

    def test_trickled_head_gets_408_at_the_deadline(self):
        with Server(conf=ROUTES + "HeaderTimeout 1.5\nConnectTimeout 0\n", files=FILES) as srv:
            s = srv.sock(10)
            t0 = time.monotonic()
            got = b""
            try:
                head = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
                s.settimeout(0.3)
                for i in range(len(head)):  # one byte at a time until the server gives up
                    try:
                        s.sendall(head[i:i + 1])
                    except (BrokenPipeError, ConnectionResetError):
                        break
                    try:
                        d = s.recv(4096)
                    except socket.timeout:
                        continue
                    got = d
                    break
                self.assertTrue(got.startswith(b"HTTP/1.1 408"), got)
                self.assertLess(time.monotonic() - t0, 20)
                self.assertTrue(is_closed(s, 10))
            finally:
                s.close()
            srv.wait_log(r"request head not complete in time: 408")

    def test_silent_body_gets_408(self):
        with Server(conf=ROUTES + "BodyTimeout 1\n", files=FILES) as srv:
            s = srv.sock(15)
            try:
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
                r = read_response(s.makefile("rb"))
                self.assertEqual(r[0], 408)
            finally:
                s.close()

    def test_connect_timeout_zero_means_never(self):
        with Server(conf=ROUTES + "ConnectTimeout 0\nHeaderTimeout 0\n", files=FILES) as srv:
            s = srv.sock(10)
            try:
                self.assertFalse(is_closed(s, 2.5))
                s.sendall(b"GET /files/small.css HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(read_response(s.makefile("rb"))[3], SMALL)
            finally:
                s.close()

    def test_steady_download_outlives_every_timeout(self):
        # Every deadline but SendTimeout is far shorter than the download;
        # SendTimeout (silence only) leaves room for a reader descheduled for
        # seconds on a loaded machine.
        size = HUGE_MB * 1024 * 1024
        conf = ROUTES + ("ConnectTimeout 1\nKeepAliveTimeout 1\nHeaderTimeout 1\n"
                         "SendTimeout 8\nBodyTimeout 1\n")
        files = dict(FILES)
        with Server(conf=conf, files=files) as srv:
            with open(srv.path("www/huge.bin"), "wb") as f:
                f.write(gen_body(1 << 20) * HUGE_MB)
            os.chmod(srv.path("www/huge.bin"), 0o644)
            s = srv.sock(30)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            try:
                s.sendall(b"GET /files/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                t0 = time.monotonic()
                st, body = slow_reader(s, size, chunk=256 * 1024, pause=0.025)
                self.assertEqual(st, 200)
                self.assertEqual(len(body), size, srv.error_log()[-2000:])
                self.assertEqual(sha256(body), sha256(gen_body(1 << 20) * HUGE_MB))
                # the point of the test: it took longer than the timeouts
                self.assertGreater(time.monotonic() - t0, 3.0)
            finally:
                s.close()

    def test_stalled_reader_is_closed_after_send_timeout(self):
        with Server(conf=ROUTES + "SendTimeout 1\n", files=FILES) as srv:
            with open(srv.path("www/huge.bin"), "wb") as f:
                f.write(b"z" * (32 << 20))
            os.chmod(srv.path("www/huge.bin"), 0o644)
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            s.connect(("127.0.0.1", srv.port))
            try:
                s.sendall(b"GET /files/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                srv.wait_log(r"took no response byte for SendTimeout", timeout=20)
            finally:
                s.close()
            self.assertEqual(srv.request("GET", "/files/small.css")[2], SMALL)


class TestHeldThread(unittest.TestCase):
    """A thread held by one request (a long script, a blocking call) gets no
    new connections while another thread is free (defect 2)."""

    def test_new_connections_avoid_a_held_thread(self):
        conf = ROUTES + "Map /block test:block:4000\nMap /worker test:worker\n"
        with Server(conf=conf, files=FILES, threads=2) as srv:
            held = srv.sock(30)
            socks = [held]
            try:
                held.sendall(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
                srv.wait_log(r"testhooks blocking 4000")
                time.sleep(0.3)  # past the 200 ms after which a thread counts as held
                workers = set()
                for _ in range(6):  # kept open: each tie would pick the held thread first
                    s = srv.sock(10)
                    socks.append(s)
                    s.sendall(b"GET /worker HTTP/1.1\r\nHost: x\r\n\r\n")
                    st, _, _, body = read_response(s.makefile("rb"))
                    self.assertEqual(st, 200)
                    workers.add(body)
                self.assertEqual(len(workers), 1, workers)
                held.setblocking(False)
                with self.assertRaises(BlockingIOError, msg="answered only after the block"):
                    held.recv(1)
                held.settimeout(30)
                self.assertEqual(read_response(held.makefile("rb"))[3], b"blocked 4000\n")
            finally:
                for s in socks:
                    s.close()


def open_fds(pid):
    """Descriptors open in pid, not counting files the open-file cache keeps
    (each worker caches what it served, for FileCacheValid)."""
    n = 0
    for f in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, f))
        except OSError:
            continue
        if not (target.startswith("/") and os.path.isfile(target) and "/www/" in target):
            n += 1
    return n


class TestDescriptorFlood(unittest.TestCase):
    """More connections than descriptors (defects 7 and 12): no spinning, one
    warning per episode, idle and slow connections give way to a client that
    sends a request, and descriptors return to the baseline afterwards."""

    LIMIT = 96

    def server(self):
        """A server started with RLIMIT_NOFILE = LIMIT (inherited from us)."""
        import resource
        srv = Server(conf=ROUTES, files=FILES, start=False)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.LIMIT, hard))
        try:
            srv.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        return srv

    def baseline(self, srv):
        """Descriptors once both threads run and one request was served."""
        wait_until(lambda: srv.error_log().count("worker_init") >= 2, what="both workers")
        self.assertEqual(srv.request("GET", "/files/small.css")[0], 200)
        return open_fds(srv.pid)

    def flood(self, srv, prefix):
        base = self.baseline(srv)
        socks = []
        try:
            for _ in range(int(self.LIMIT * 1.5)):  # 1.5 x the limit
                s = socket.socket()
                s.settimeout(10)
                s.connect(("127.0.0.1", srv.port))  # the backlog takes what accept() cannot
                if prefix:
                    s.sendall(prefix)
                socks.append(s)
            srv.wait_log(r"out of file descriptors")
            for i in range(3):  # a normal client gets through, each time
                st, _, body = srv.request("GET", "/files/small.css", timeout=30)
                self.assertEqual((st, body), (200, SMALL))
            warnings = srv.error_log().count("out of file descriptors")
            self.assertLess(warnings, 20, "a warning per failed accept, not per episode")
        finally:
            for s in socks:
                s.close()
        last = []

        def back():
            last[:] = [open_fds(srv.pid)]
            return last[0] <= base
        try:
            wait_until(back, timeout=30, what="descriptors back to the baseline (%d)" % base)
        except AssertionError:
            raise AssertionError("%d descriptors open, %d before the flood:\n%s" % (
                last[0], base, "\n".join(sorted(os.readlink("/proc/%d/fd/%s" % (srv.pid, f))
                                               for f in os.listdir("/proc/%d/fd" % srv.pid)))))

    def test_idle_connections(self):
        with self.server() as srv:
            self.flood(srv, b"")

    def test_slow_heads(self):
        with self.server() as srv:
            self.flood(srv, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-a: ")

    def test_slow_bodies(self):
        with self.server() as srv:
            self.flood(srv, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")


def make_cert(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost"],
                   cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for n in ("key.pem", "cert.pem"):
        os.chmod(os.path.join(d, n), 0o644)


class TestHandshakeTimeout(unittest.TestCase):
    def test_half_client_hello_is_dropped(self):
        d = tempfile.mkdtemp(prefix="rptest-hs-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        make_cert(d)
        conf = ("LoadModule static mod_static.so\nLogLevel info\nHandshakeTimeout 1\n"
                "SslCertFile %s/cert.pem\nSslKeyFile %s/key.pem\nMap / {www}\n" % (d, d))
        with Server(conf=conf, files={"www/index.html": "x"},
                    binds=["127.0.0.1:{port}", "127.0.0.1:{port2} tls"]) as srv:
            socks = []
            try:
                for _ in range(20):
                    s = srv.sock(10, port=srv.port2)
                    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a cut ClientHello
                    socks.append(s)
                for s in socks:
                    self.assertTrue(is_closed(s, 15), "stalled handshake not timed out")
            finally:
                for s in socks:
                    s.close()
            srv.wait_log(r"TLS handshake not complete in time")


class TestStopAndReloadInFlight(unittest.TestCase):
    """A response being sent is in flight until its last byte leaves
    (defect 13)."""

    def start_download(self, srv, size_mb):
        with open(srv.path("www/huge.bin"), "wb") as f:
            f.write(gen_body(1 << 20) * size_mb)
        os.chmod(srv.path("www/huge.bin"), 0o644)
        s = srv.sock(30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"GET /files/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        st, _, hd, _ = read_head(f)
        self.assertEqual(st, 200)
        return s, f, int(hd["content-length"])

    def finish(self, f, total, pause=0.01):
        body = bytearray()
        while len(body) < total:
            d = f.read1(256 * 1024)
            if not d:
                break
            body += d
            time.sleep(pause)  # a steady reader
        return bytes(body)

    def test_sigterm_lets_a_download_finish(self):
        with Server(conf=ROUTES + "GracefulTimeout 60\n", files=FILES) as srv:
            s, f, total = self.start_download(srv, 32)
            try:
                got = len(f.read1(64 * 1024))
                srv.send_signal(signal.SIGTERM)
                srv.wait_log(r"finishing in-flight requests")
                rest = self.finish(f, total - got)
                self.assertEqual(got + len(rest), total, "download cut by stop")
            finally:
                s.close()
            wait_until(lambda: not srv.alive(), timeout=30, what="server exit after the download")

    def test_sigterm_does_not_wait_past_graceful_timeout(self):
        with Server(conf=ROUTES + "GracefulTimeout 1\n", files=FILES) as srv:
            s, f, total = self.start_download(srv, 32)
            try:
                t0 = time.monotonic()
                srv.send_signal(signal.SIGTERM)
                wait_until(lambda: not srv.alive(), timeout=20, what="exit after GracefulTimeout")
                self.assertLess(time.monotonic() - t0, 10)
            finally:
                s.close()

    def test_reload_lets_a_download_finish(self):
        with Server(conf=ROUTES, files=FILES) as srv:
            s, f, total = self.start_download(srv, 32)
            try:
                got = len(f.read1(64 * 1024))
                srv.send_signal(signal.SIGHUP)
                srv.wait_log(r"reload")
                # stall past the 5 s a retired idle connection is given
                rest = self.finish(f, total - got, pause=0.06)
                self.assertEqual(got + len(rest), total, "download cut by reload")
            finally:
                s.close()
            self.assertEqual(srv.request("GET", "/files/small.css")[2], SMALL)


if __name__ == "__main__":
    unittest.main()
