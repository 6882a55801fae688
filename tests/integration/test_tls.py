"""TLS listeners: certificates made with the openssl CLI, clients from
Python's ssl module and curl."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

from rptest import Server, run_httpd, sha256, parse_responses, recv_to_eof

BIG = os.urandom(2 * 1024 * 1024 + 123)


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_pki(d):
    """A root CA, an intermediate, a leaf for localhost/127.0.0.1 signed by the
    intermediate, and an unrelated self-signed pair for mismatch tests."""
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                "[leaf]\nbasicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key",
            "-out", "root.pem", "-days", "2", "-subj", "/CN=rptest root", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "int.key", "-out", "int.csr",
            "-subj", "/CN=rptest intermediate", cwd=d)
    openssl("x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key",
            "-CAcreateserial", "-out", "int.pem", "-days", "2", "-extfile", ext,
            "-extensions", "ca", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
            "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "int.pem", "-CAkey", "int.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", ext,
            "-extensions", "leaf", cwd=d)
    with open(os.path.join(d, "fullchain.pem"), "w") as f:
        for name in ("leaf.pem", "int.pem"):
            f.write(open(os.path.join(d, name)).read())
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key",
            "-out", "other.pem", "-days", "2", "-subj", "/CN=other", cwd=d)
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o644)


class TLSBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="rptest-pki-")
        os.chmod(cls.pki, 0o755)
        make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.pki, name)

    def conf(self, cert="fullchain.pem", key="leaf.key", extra=""):
        return ("LoadModule static mod_static.so\nSslCertFile %s\nSslKeyFile %s\n"
                "Map / {www}\n%s" % (self.p(cert), self.p(key), extra))

    def server(self, **kw):
        files = {"www/index.html": "<h1>tls</h1>\n", "www/big.bin": BIG}
        files.update({"www/s%d.bin" % n: BIG[:n] for n in EDGE_SIZES})
        binds = kw.pop("binds", ["127.0.0.1:{port}", "127.0.0.1:{port2} tls"])
        return Server(conf=self.conf(**kw), files=files, binds=binds)

    def client_ctx(self, **kw):
        ctx = ssl.create_default_context(cafile=self.p("root.pem"))
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx

    def tls_get(self, port, path="/", ctx=None, session=None, host="localhost"):
        ctx = ctx or self.client_ctx()
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname=host, session=session)
        ver, alpn = s.version(), s.selected_alpn_protocol()
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                  % path.encode())
        data = recv_to_eof(s)
        info = (ver, alpn, s.session, s.session_reused)
        s.close()
        return parse_responses(data)[0], info


EDGE_SIZES = (0, 1, 16383, 16384, 16385, 65536, 65537, 262144, 262145, 300001)


class TestTLS(TLSBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv = None

    def setUp(self):
        if TestTLS.srv is None:
            TestTLS.srv = self.server()

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            code = cls.srv.stop()
            cls.srv.cleanup()
            assert code == 0, "server exit %r" % code
        super().tearDownClass()

    def test_https_with_full_chain(self):
        # the client trusts only the root: the intermediate must come from the server
        (st, h, body), (ver, alpn, _, _) = self.tls_get(self.srv.port2)
        self.assertEqual((st, body), (200, b"<h1>tls</h1>\n"))

    def test_alpn_http11(self):
        # a client offering h2 gets it (test_h2); one offering HTTP/1.1 and
        # something unknown gets HTTP/1.1
        ctx = self.client_ctx()
        ctx.set_alpn_protocols(["spdy/3", "http/1.1"])
        _, (ver, alpn, _, _) = self.tls_get(self.srv.port2, ctx=ctx)
        self.assertEqual(alpn, "http/1.1")

    def test_plain_and_tls_side_by_side(self):
        st, h, body = self.srv.request("GET", "/")
        self.assertEqual((st, body), (200, b"<h1>tls</h1>\n"))
        # plain HTTP spoken to the TLS port gets no HTTP answer
        out = self.srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", port=self.srv.port2)
        self.assertNotIn(b"HTTP/1.1 200", out)
        # TLS spoken to the plain port fails the handshake
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.tls_get(self.srv.port)
        self.assertEqual(self.srv.request("GET", "/")[0], 200)

    def test_tls13(self):
        ctx = self.client_ctx(minimum_version=ssl.TLSVersion.TLSv1_3)
        (st, _, _), (ver, _, _, _) = self.tls_get(self.srv.port2, ctx=ctx)
        self.assertEqual((st, ver), (200, "TLSv1.3"))

    def test_tls12_works_and_resumes(self):
        ctx = self.client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2)
        (st, _, _), (ver, _, sess, reused) = self.tls_get(self.srv.port2, ctx=ctx)
        self.assertEqual((st, ver, reused), (200, "TLSv1.2", False))
        (st, _, _), (ver, _, _, reused) = self.tls_get(self.srv.port2, ctx=ctx, session=sess)
        self.assertEqual((st, reused), (200, True))

    def test_session_id_resumption_without_tickets(self):
        # the server's session cache, not tickets: needs a clean TLS close
        ctx = self.client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2)
        ctx.options |= ssl.OP_NO_TICKET
        (st, _, _), (_, _, sess, reused) = self.tls_get(self.srv.port2, ctx=ctx)
        self.assertEqual((st, reused), (200, False))
        (st, _, _), (_, _, _, reused) = self.tls_get(self.srv.port2, ctx=ctx, session=sess)
        self.assertEqual((st, reused), (200, True))

    def test_tls11_refused_by_default(self):
        ctx = legacy_client()
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.tls_get(self.srv.port2, ctx=ctx)
        self.assertEqual(self.tls_get(self.srv.port2)[0][0], 200)

    def test_big_file_byte_exact(self):
        (st, h, body), _ = self.tls_get(self.srv.port2, "/big.bin")
        self.assertEqual(st, 200)
        self.assertEqual(sha256(body), sha256(BIG))

    def test_file_sizes_byte_exact(self):
        # around the thresholds of the file path: cached in memory (16 KiB),
        # read in 64 KiB pieces, read rather than mapped over TLS (256 KiB)
        for n in EDGE_SIZES:
            for port in (self.srv.port, self.srv.port2):
                for _ in range(2):  # the second answer comes from the file cache
                    if port == self.srv.port2:
                        (st, h, body), _ = self.tls_get(port, "/s%d.bin" % n)
                    else:
                        st, h, body = self.srv.get("/s%d.bin" % n)
                    self.assertEqual((st, len(body)), (200, n), (n, port))
                    self.assertEqual(sha256(body), sha256(BIG[:n]), (n, port))

    def test_pipelined_over_tls(self):
        ctx = self.client_ctx()
        raw = socket.create_connection(("127.0.0.1", self.srv.port2), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = recv_to_eof(s)
        self.assertEqual([r[0] for r in parse_responses(data)], [200, 404, 200])

    def test_curl(self):
        out = subprocess.run(["curl", "-sS", "--cacert", self.p("root.pem"), "--resolve",
                              "localhost:%d:127.0.0.1" % self.srv.port2,
                              "https://localhost:%d/" % self.srv.port2],
                             capture_output=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"<h1>tls</h1>\n")


def legacy_client():
    """A client that offers only TLS 1.0/1.1 and allows the old ciphers, so a
    refusal can only come from the server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


class TestTLSConfig(TLSBase):
    def test_min_version_tls1_admits_old_clients(self):
        # the control for test_tls11_refused_by_default: the same client works
        # when the admin lowers the floor
        with self.server(extra="SslMinVersion tls1\n") as srv:
            (st, _, _), (ver, _, _, _) = self.tls_get(srv.port2, ctx=legacy_client())
            self.assertEqual((st, ver), (200, "TLSv1.1"))

    def test_min_version_tls13_refuses_tls12(self):
        with self.server(extra="SslMinVersion tls1.3\n") as srv:
            ctx = self.client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2)
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                self.tls_get(srv.port2, ctx=ctx)

    def test_secure_on_makes_every_bind_tls(self):
        with self.server(extra="Secure on\n", binds=["127.0.0.1:{port}"]) as srv:
            (st, _, _), _ = self.tls_get(srv.port)
            self.assertEqual(st, 200)

    def test_leaf_only_chain_fails_verification(self):
        # the control for test_https_with_full_chain
        with self.server(cert="leaf.pem") as srv:
            with self.assertRaises(ssl.SSLCertVerificationError):
                self.tls_get(srv.port2)

    def assert_refused(self, text, **kw):
        srv = Server(conf=self.conf(**kw), binds=["127.0.0.1:{port} tls"],
                     files={"www/x": "x"}, start=False, logs=False)
        try:
            r = run_httpd(["-t", "-f", srv.conf_path])
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn(text, r.stderr)
            self.assertEqual(r.stderr.count("\n"), 1, "one clear sentence: %r" % r.stderr)
            srv.expect_fail = True
            srv.start()
            self.assertEqual(srv.returncode, 1)
            self.assertIn(text, srv.output())
        finally:
            srv.cleanup()

    def test_key_cert_mismatch_refused(self):
        self.assert_refused("does not match the certificate", key="other.key")

    def test_unreadable_cert_refused(self):
        self.assert_refused("cannot read it", cert="no-such.pem")

    def test_cert_without_key_refused(self):
        srv = Server(conf="LoadModule static mod_static.so\nSslCertFile %s\nMap / {www}\n"
                     % self.p("fullchain.pem"), binds=["127.0.0.1:{port} tls"],
                     files={"www/x": "x"}, start=False, logs=False)
        try:
            r = run_httpd(["-t", "-f", srv.conf_path])
            self.assertEqual(r.returncode, 1)
            self.assertIn("SslKeyFile", r.stderr)
        finally:
            srv.cleanup()


class TestHttpsRedirect(TLSBase):
    def test_permanent_and_temporary(self):
        for word, code in (("permanent", 301), ("temporary", 302), ("on", 301)):
            with self.server(extra="HttpsRedirect %s\n" % word) as srv:
                st, h, _ = srv.request("GET", "/a/b?x=1", headers={"Host": "localhost:%d" % srv.port})
                self.assertEqual(st, code)
                self.assertEqual(h["location"], "https://localhost:%d/a/b?x=1" % srv.port2)
                # the TLS side serves normally, and the target works
                (st, _, body), _ = self.tls_get(srv.port2)
                self.assertEqual((st, body), (200, b"<h1>tls</h1>\n"))

    def test_off_by_default(self):
        with self.server() as srv:
            self.assertEqual(srv.request("GET", "/")[0], 200)

    def test_hostile_host_header_not_echoed(self):
        with self.server(extra="HttpsRedirect on\n") as srv:
            st, h, _ = srv.request("GET", "/", headers={"Host": "evil.example/@x"})
            self.assertEqual(st, 301)
            self.assertEqual(h["location"], "https://127.0.0.1:%d/" % srv.port2)

    def test_redirect_needs_a_tls_bind(self):
        srv = Server(conf="HttpsRedirect on\n", start=False, logs=False)
        try:
            r = run_httpd(["-t", "-f", srv.conf_path])
            self.assertEqual(r.returncode, 1)
            self.assertIn("HttpsRedirect needs a TLS Bind", r.stderr)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
