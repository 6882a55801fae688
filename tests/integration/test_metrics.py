"""mod_metrics against the real rampart-httpd: /metrics and the status page.

Covers: request counts by method and status class, body bytes in and out,
the duration histogram (cumulative buckets, count), per-worker gauges,
gzip cache hits and misses, rate-limit counters, promtool's check of the
whole exposition, the HTML status page (escaped), 405 for other methods,
and Map target errors.

Run: cd tests/integration && python3 -m unittest test_metrics -v
"""

import os
import re
import shutil
import subprocess
import unittest

from rptest import Server, free_port, run_httpd, wait_until
from wsclient import WSClient

BODY = b"<p>" + b"compressible text " * 200 + b"</p>\n"
FILES = {"www/index.html": b"home\n", "www/big.html": BODY}

CONF = """LoadModule static mod_static.so
LoadModule gzip mod_gzip.so
LoadModule ratelimit mod_ratelimit.so
LoadModule metrics mod_metrics.so
LoadModule ws mod_ws.so
LoadModule proxy mod_proxy.so
Map ws:/echo ws:echo
Map /self/ proxy:http://127.0.0.1:{port}/
Map /dead/ proxy:http://127.0.0.1:DEADPORT/
Map /metrics metrics:
Map /server-status metrics:status
Map / {www}
CompressFiles on
RateLimit /limited/ 1 600
"""

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse(text):
    """{"name{labels}": value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=CONF.replace("DEADPORT", str(free_port())), files=FILES,
                         threads=2)
        os.chmod(cls.srv.www, 0o777)  # the server (nobody when root) makes .gzipcache/

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def scrape(self):
        st, hd, body = self.srv.get("/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hd["content-type"].startswith("text/plain; version=0.0.4"))
        return body.decode(), parse(body.decode())

    def settled(self, n):
        """Wait until n requests are in the access log: the metrics LOG
        hook runs before the access log's, so they are counted too."""
        wait_until(lambda: len(self.srv.access_log().splitlines()) >= n, 10,
                   what="%d access log lines" % n)

    def test_counts_and_histogram(self):
        srv = self.srv
        before = len(srv.access_log().splitlines())
        _, m0 = self.scrape()
        for _ in range(3):
            self.assertEqual(srv.get("/index.html")[0], 200)
        self.assertEqual(srv.get("/missing")[0], 404)
        st, _, _ = srv.request("DELETE", "/index.html")
        self.assertEqual(st, 405)
        st, _, _ = srv.request("POST", "/metrics", body=b"12345")
        self.assertEqual(st, 405)
        self.settled(before + 7)
        _, m1 = self.scrape()

        def delta(k):
            return m1.get(k, 0) - m0.get(k, 0)
        get2 = 'rampart_http_requests_total{method="GET",code="2xx"}'
        self.assertEqual(delta(get2), 4)  # three pages and the first scrape
        self.assertEqual(delta('rampart_http_requests_total{method="GET",code="4xx"}'), 1)
        self.assertEqual(delta('rampart_http_requests_total{method="DELETE",code="4xx"}'), 1)
        self.assertEqual(delta('rampart_http_requests_total{method="POST",code="4xx"}'), 1)
        self.assertGreaterEqual(delta("rampart_http_request_body_bytes_total"), 5)
        self.assertGreaterEqual(delta("rampart_http_response_body_bytes_total"), 3 * 5)
        buckets = sorted((float(re.search(r'le="([^"]+)"', k).group(1)), v)
                         for k, v in m1.items()
                         if k.startswith("rampart_http_request_duration_seconds_bucket"))
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts))  # cumulative
        self.assertEqual(buckets[-1][0], float("inf"))
        self.assertEqual(buckets[-1][1], m1["rampart_http_request_duration_seconds_count"])
        self.assertEqual(delta("rampart_http_request_duration_seconds_count"), 7)
        for w in (0, 1):
            self.assertIn('rampart_worker_connections{worker="%d"}' % w, m1)
            self.assertIn('rampart_worker_busy_seconds{worker="%d"}' % w, m1)

    def test_promtool_accepts_the_exposition(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed (scripts/install-deps.sh --test)")
        text, _ = self.scrape()
        r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_gzip_cache_and_ratelimit_series(self):
        srv = self.srv
        _, m0 = self.scrape()
        gz = {"Accept-Encoding": "gzip"}
        self.assertEqual(srv.get("/big.html", gz)[1].get("content-encoding"), "gzip")
        copy = os.path.join(srv.www, ".gzipcache", "big.html.gz")
        wait_until(lambda: os.path.exists(copy), 10, what="the .gzipcache copy")
        self.assertEqual(srv.get("/big.html", gz)[1].get("content-encoding"), "gzip")
        self.assertEqual([srv.get("/limited/x")[0] for _ in range(2)], [404, 429])
        before = len(srv.access_log().splitlines())
        self.settled(before)
        _, m1 = self.scrape()
        self.assertGreaterEqual(m1["rampart_gzip_cache_misses_total"] -
                                m0.get("rampart_gzip_cache_misses_total", 0), 1)
        self.assertGreaterEqual(m1["rampart_gzip_cache_hits_total"] -
                                m0.get("rampart_gzip_cache_hits_total", 0), 1)
        self.assertGreaterEqual(m1["rampart_ratelimit_refused"], 1)
        self.assertIn("rampart_ratelimit_evicted", m1)

    def test_websocket_series(self):
        _, m0 = self.scrape()
        c = WSClient.connect("127.0.0.1", self.srv.port, "/echo")
        try:
            for i in range(3):
                c.send_text("m%d" % i)
                self.assertEqual(c.recv_message()[1], ("m%d" % i).encode())
            _, m1 = self.scrape()
            self.assertEqual(m1["rampart_websockets_open"] - m0["rampart_websockets_open"], 1)
            for k in ("rampart_websocket_messages_received_total",
                      "rampart_websocket_messages_sent_total"):
                self.assertEqual(m1[k] - m0[k], 3, k)
        finally:
            c.close()
            c.shutdown()
        wait_until(lambda: self.scrape()[1]["rampart_websockets_open"] ==
                   m0["rampart_websockets_open"], 10, what="the websocket counted closed")

    def test_proxy_series(self):
        _, m0 = self.scrape()
        conn = self.srv.connection()
        try:
            for _ in range(3):  # one client connection: the upstream one is kept and reused
                self.assertEqual(Server.do(conn, "GET", "/self/index.html")[2], b"home\n")
        finally:
            conn.close()
        self.assertEqual(self.srv.get("/dead/x")[0], 502)
        # the error-log line names the client and the request id
        self.srv.wait_log(r"\[proxy\] \[client 127\.0\.0\.1:\d+\] \[id [0-9a-f]{24}\] "
                          r"GET /dead/x: upstream http://127\.0\.0\.1:\d+")
        before = len(self.srv.access_log().splitlines())
        self.settled(before)
        _, m1 = self.scrape()

        def delta(k):
            return m1.get(k, 0) - m0.get(k, 0)
        self.assertEqual(delta('rampart_proxy_errors_total{code="502"}'), 1)
        self.assertGreaterEqual(delta('rampart_proxy_upstream_connections_total{how="reused"}'), 1)
        self.assertGreaterEqual(delta('rampart_proxy_upstream_connections_total{how="new"}'), 1)

    def test_status_page(self):
        st, hd, body = self.srv.get("/server-status")
        self.assertEqual(st, 200)
        self.assertTrue(hd["content-type"].startswith("text/html"))
        page = body.decode()
        self.assertIn("worker thread(s)", page)
        self.assertIn("rampart_http_requests_total{method=&quot;GET&quot;,code=&quot;2xx&quot;}",
                      page)
        self.assertNotIn('{method="', page)  # escaped
        st, hd, body = self.srv.request("HEAD", "/server-status")
        self.assertEqual((st, body), (200, b""))


class MetricsConf(unittest.TestCase):
    def test_bad_target(self):
        srv = Server(conf="LoadModule metrics mod_metrics.so\nMap /m metrics:bogus\n",
                     start=False)
        try:
            r = run_httpd(["-t", "-f", srv.conf_path])
            self.assertNotEqual(r.returncode, 0)
            self.assertRegex(r.stderr, r"rampart\.conf:\d+: Map /m metrics:bogus")
            self.assertIn("metrics:status", r.stderr)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()


class TlsSeries(unittest.TestCase):
    """rampart_tls_handshakes_total: new, resumed (a TLS 1.2 session offered
    again) and failed (a client speaking plain HTTP to the TLS port)."""

    def test_handshakes(self):
        import socket
        import ssl
        import tempfile
        from test_tls import make_pki
        pki = tempfile.mkdtemp(prefix="rptest-pki-")
        os.chmod(pki, 0o755)
        make_pki(pki)
        conf = ("LoadModule static mod_static.so\nLoadModule metrics mod_metrics.so\n"
                "Map /metrics metrics:\nMap / {www}\nSslCertFile %s\nSslKeyFile %s\n"
                % (os.path.join(pki, "fullchain.pem"), os.path.join(pki, "leaf.key")))
        srv = Server(conf=conf, files=FILES, binds=["127.0.0.1:{port}", "127.0.0.1:{port2} tls"])
        try:
            ctx = ssl.create_default_context(cafile=os.path.join(pki, "root.pem"))
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # a session to offer right away
            session = None
            for _ in range(2):
                with socket.create_connection(("127.0.0.1", srv.port2)) as raw:
                    with ctx.wrap_socket(raw, server_hostname="localhost",
                                         session=session) as s:
                        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n"
                                  b"Connection: close\r\n\r\n")
                        while s.recv(65536):
                            pass
                        session = s.session
            with socket.create_connection(("127.0.0.1", srv.port2)) as raw:
                raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not TLS
                raw.settimeout(10)
                try:
                    while raw.recv(4096):
                        pass
                except OSError:
                    pass

            def counts():
                m = parse(srv.get("/metrics")[2].decode())
                got = {k: m.get('rampart_tls_handshakes_total{result="%s"}' % k, 0)
                       for k in ("new", "resumed", "failed")}
                return got if got["failed"] >= 1 else None
            got = wait_until(counts, 10, what="the failed handshake counted")
            self.assertEqual(got["new"] + got["resumed"], 2, got)
            self.assertGreaterEqual(got["resumed"], 1, got)
        finally:
            srv.stop()
            srv.cleanup()
            shutil.rmtree(pki, ignore_errors=True)
