"""Virtual hosts, <Route> settings, SNI and 421 (issue 13): two hosts on
one address over plain HTTP and TLS, certificates made with the openssl CLI,
clients from Python's http.client/ssl and curl."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import base64
import pwd
import unittest

from rptest import BUILD, REPO, Server, run_httpd, wait_until

HAVE_JS = os.path.exists(os.path.join(BUILD, "modules", "mod_js.so"))

EX = "LoadModule static mod_static.so\n"

FILES = {"top/index.html": "top\n", "top/nocache/x.txt": "top-nocache\n",
         "a/index.html": "site a\n", "a/admin/x.txt": "a-admin\n",
         "b/index.html": "site b\n", "b/x/y.txt": "b-x\n",
         "w/index.html": "site w\n", "d/index.html": "site d\n"}

HOSTS = """
CacheControl "max-age=60"
Header set X-Scope top
Map / {dir}/top
<Route /nocache/>
    CacheControl off
    Header set X-Scope top-route
</Route>
<Host a.test www.a.test>
    Map / {dir}/a
    Header add X-Site a
    <Route /admin/>
        CacheControl "private, no-store"
    </Route>
</Host>
<Host b.test>
    CacheControl "max-age=5"
    Map / {dir}/b
    <Route ~^/x/>
        Header unset X-Scope
    </Route>
</Host>
<Host *.w.test>
    Map / {dir}/w
</Host>
"""


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def self_signed(d, name, key="rsa:2048", cn=None):
    """name.pem / name.key: a self-signed certificate for DNS:cn (default name)."""
    args = ["req", "-x509", "-nodes", "-days", "2", "-keyout", name + ".key",
            "-out", name + ".pem", "-subj", "/CN=%s" % (cn or name),
            "-addext", "subjectAltName=DNS:%s" % (cn or name)]
    if key.startswith("ec"):
        args[1:1] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    else:
        args[1:1] = ["-newkey", key]
    openssl(*args, cwd=d)
    for ext in (".pem", ".key"):
        os.chmod(os.path.join(d, name + ext), 0o644)


def read(path):
    with open(path) as f:
        return f.read()


def der(path):
    return ssl.PEM_cert_to_DER_cert(read(path))


def peer_cert(port, sni, ciphers=None, tls12=False):
    """The DER certificate the server shows for server name sni (None: none sent)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            return s.getpeercert(binary_form=True)


def tls_get(port, sni, host, path="/"):
    """GET over TLS with server name sni and Host header host -> (status, body)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % (path, host)).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def tls_get10(port, sni):
    """An HTTP/1.0 GET with no Host header over TLS -> (status, body)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


class PlainHosts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=EX + HOSTS, files=FILES)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check_sanitizers()
        cls.srv.cleanup()

    def get(self, host, path="/"):
        return self.srv.request("GET", path, headers={"Host": host})

    def test_names_pick_the_host(self):
        self.assertEqual(self.get("a.test")[2], b"site a\n")
        self.assertEqual(self.get("www.a.test")[2], b"site a\n")
        self.assertEqual(self.get("b.test")[2], b"site b\n")

    def test_host_header_is_normalized(self):
        # case, port and a trailing dot do not matter
        self.assertEqual(self.get("A.Test:%d" % self.srv.port)[2], b"site a\n")
        self.assertEqual(self.get("b.test.")[2], b"site b\n")

    def test_wildcard_and_default(self):
        self.assertEqual(self.get("x.w.test")[2], b"site w\n")
        self.assertEqual(self.get("deep.x.w.test")[2], b"site w\n")
        self.assertEqual(self.get("w.test")[2], b"top\n")  # *.w.test is not w.test
        self.assertEqual(self.get("unknown.test")[2], b"top\n")
        st, _, body = self.srv.request("GET", "/", http10=True)  # no Host at all
        self.assertEqual((st, body), (200, b"top\n"))

    def test_routes_are_per_host(self):
        self.assertEqual(self.get("a.test", "/x/y.txt")[0], 404)
        self.assertEqual(self.get("b.test", "/x/y.txt")[2], b"b-x\n")

    def test_settings_inherited_and_overridden(self):
        h = self.get("unknown.test")[1]
        self.assertEqual((h.get("cache-control"), h.get("x-scope")), ("max-age=60", "top"))
        h = self.get("unknown.test", "/nocache/x.txt")[1]
        self.assertNotIn("cache-control", h)  # the <Route> turned it off
        self.assertEqual(h.get("x-scope"), "top-route")
        # host a: inherits CacheControl and X-Scope, adds X-Site
        h = self.get("a.test")[1]
        self.assertEqual((h.get("cache-control"), h.get("x-scope"), h.get("x-site")),
                         ("max-age=60", "top", "a"))
        # its /admin/ route overrides CacheControl, keeps the headers
        h = self.get("a.test", "/admin/x.txt")[1]
        self.assertEqual((h.get("cache-control"), h.get("x-site")), ("private, no-store", "a"))
        # host b overrides CacheControl; its regex route unsets X-Scope
        h = self.get("b.test")[1]
        self.assertEqual((h.get("cache-control"), h.get("x-scope")), ("max-age=5", "top"))
        h = self.get("b.test", "/x/y.txt")[1]
        self.assertEqual(h.get("cache-control"), "max-age=5")
        self.assertNotIn("x-scope", h)
        # the top level's <Route /nocache/> belongs to the top level only
        self.assertEqual(self.get("b.test", "/nocache/")[0], 404)

    def test_headers_on_error_answers_too(self):
        st, h, _ = self.get("a.test", "/missing")
        self.assertEqual((st, h.get("x-site")), (404, "a"))


class DefaultHostAndLogs(unittest.TestCase):
    def test_default_host_and_own_access_log(self):
        conf = EX + """Map / {dir}/top
<Host d.test>
    Default
    Map / {dir}/d
    AccessLog {dir}/d.log
    LogFormat "%h %U %>s"
</Host>
<Host a.test>
    Map / {dir}/a
</Host>
"""
        with Server(conf=conf, files=FILES) as srv:
            for host, body in (("nobody.test", b"site d\n"), ("d.test", b"site d\n"),
                               ("a.test", b"site a\n")):
                st, _, got = srv.request("GET", "/", headers={"Host": host})
                self.assertEqual((st, got), (200, body))
            dlog = os.path.join(srv.dir, "d.log")
            wait_until(lambda: os.path.exists(dlog) and read(dlog).count("\n") >= 2,
                       what="two lines in d.log")
            wait_until(lambda: "GET / " in srv.access_log(), what="a.test in access.log")
            lines = read(dlog).splitlines()
            self.assertEqual(len(lines), 2)
            self.assertTrue(all(l.endswith(" / 200") for l in lines), lines)
            # the shared log has only a.test's request
            self.assertEqual(srv.access_log().count("GET / "), 1)
            # rotation: SIGUSR1 reopens the host's log under its name
            os.rename(dlog, dlog + ".1")
            fd = os.open(dlog, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)  # logrotate's create
            if os.geteuid() == 0:
                nb = pwd.getpwnam("nobody")
                os.fchown(fd, nb.pw_uid, nb.pw_gid)
            os.close(fd)
            before = srv.error_log().count("log files reopened")
            os.kill(srv.pid, signal.SIGUSR1)
            wait_until(lambda: srv.error_log().count("log files reopened") > before,
                       what="the reopen")
            self.assertEqual(srv.request("GET", "/", headers={"Host": "d.test"})[0], 200)
            wait_until(lambda: os.path.exists(dlog) and read(dlog).count("\n") == 1,
                       what="a line in the new d.log")
            self.assertEqual(read(dlog + ".1").count("\n"), 2)


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class ExampleConf(unittest.TestCase):
    """conf/examples/vhosts.conf as documented, on a free port."""

    def test_two_hosts_and_a_protected_route(self):
        conf_dir = os.path.join(REPO, "conf", "examples")
        text = read(os.path.join(conf_dir, "vhosts.conf"))
        text = "\n".join(l for l in text.splitlines() if not l.startswith("Bind "))
        text = text.replace(" vhosts/", " %s/vhosts/" % conf_dir)
        with Server(conf=text) as srv:
            def get(host, path="/", auth=None):
                h = {"Host": host}
                if auth:
                    h["Authorization"] = auth
                return srv.request("GET", path, headers=h)
            st, h, body = get("a.localhost")
            self.assertEqual((st, body), (200, b"<h1>site a</h1>\n"))
            self.assertEqual(h.get("x-content-type-options"), "nosniff")  # from the top
            self.assertEqual(get("www.a.localhost")[2], b"<h1>site a</h1>\n")
            self.assertEqual(get("x.b.localhost")[2], b"<h1>site b</h1>\n")
            self.assertEqual(get("b.localhost")[1].get("cache-control"), "max-age=300")
            self.assertEqual(get("127.0.0.1")[2], b"<h1>site b</h1>\n")
            st, h, _ = get("a.localhost", "/admin/")
            self.assertEqual(st, 401)
            self.assertIn('realm="a admin"', h.get("www-authenticate", ""))
            self.assertEqual(get("a.localhost", "/admin/", basic("admin", "wrong"))[0], 401)
            st, h, body = get("a.localhost", "/admin/", basic("admin", "secret"))
            self.assertEqual((st, body), (200, b"<h1>site a: admin</h1>\n"))
            self.assertEqual(h.get("cache-control"), "no-store")
            # the route belongs to host a only
            self.assertEqual(get("b.localhost", "/admin/")[0], 404)


class RouteAccess(unittest.TestCase):
    def test_access_rules_per_host_and_route(self):
        conf = EX + """LoadModule access mod_access.so
Map / {dir}/top
<Host a.test>
    Map / {dir}/a
    DenyHidden off
    <Route /admin/>
        Allow 10.0.0.0/8
        Deny all
    </Route>
</Host>
<Host b.test>
    Map / {dir}/b
    Deny /x/ all
    <Route /x/y.txt>
        Allow 127.0.0.1
    </Route>
</Host>
"""
        files = dict(FILES)
        files["a/.env"] = "a-secret\n"
        files["b/.env"] = "b-secret\n"
        with Server(conf=conf, files=files) as srv:
            def get(host, path):
                return srv.request("GET", path, headers={"Host": host})[0]
            self.assertEqual(get("a.test", "/.env"), 200)  # DenyHidden off in host a only
            self.assertEqual(get("b.test", "/.env"), 404)
            self.assertEqual(get("a.test", "/admin/x.txt"), 403)
            self.assertEqual(get("a.test", "/"), 200)
            # the route's Allow is tried before the host's Deny /x/
            self.assertEqual(get("b.test", "/x/y.txt"), 200)
            self.assertEqual(get("b.test", "/x/"), 403)


class StartHosts(unittest.TestCase):
    """start()'s hosts option: the same blocks from JavaScript."""

    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="rptest-vhpki-")
        os.chmod(cls.pki, 0o755)
        for name in ("a.test", "top.test"):
            self_signed(cls.pki, name)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def test_hosts_option(self):
        from jsrun import JsServer
        script = """
var server = require("rampart-server");
server.start({bind: ["127.0.0.1:{port}", "127.0.0.1:{port2} tls"], user: "nobody",
    secure: false, threads: 1,
    map: {"/": "{dir}/top", "/who.txt": function () { return {txt: "top"}; }},
    hosts: {
        "a.test www.a.test": {
            map: {"/": "{dir}/a", "/who.txt": function (req) { return {txt: "a"}; }},
            sslCertFile: "%(ac)s", sslKeyFile: "%(ak)s",
            cacheControl: "max-age=7"
        },
        "*.b.test": {default: true, map: {"/who.txt": function () { return {txt: "b"}; }}}
    }});
""".replace("secure: false", "secure: true, sslCertFile: \"%(tc)s\", sslKeyFile: \"%(tk)s\"")
        script = script % {"ac": os.path.join(self.pki, "a.test.pem"),
                           "ak": os.path.join(self.pki, "a.test.key"),
                           "tc": os.path.join(self.pki, "top.test.pem"),
                           "tk": os.path.join(self.pki, "top.test.key")}
        with JsServer(script, files={"top/index.html": "top\n", "a/index.html": "site a\n"}) as srv:
            self.assertEqual(tls_get(srv.port2, "a.test", "a.test", "/who.txt"),
                             (200, b"a"))
            self.assertEqual(tls_get(srv.port2, "www.a.test", "www.a.test", "/"),
                             (200, b"site a\n"))
            self.assertEqual(tls_get(srv.port2, "x.b.test", "x.b.test", "/who.txt"), (200, b"b"))
            self.assertEqual(tls_get(srv.port2, "nobody.test", "nobody.test", "/who.txt"),
                             (200, b"b"))  # default: true
            self.assertEqual(tls_get(srv.port2, "a.test", "x.b.test", "/who.txt")[0], 421)
            self.assertEqual(peer_cert(srv.port2, "a.test"), der(os.path.join(self.pki,
                                                                               "a.test.pem")))
            self.assertEqual(peer_cert(srv.port2, "x.b.test"),
                             der(os.path.join(self.pki, "top.test.pem")))

    def test_host_headers_log_and_script_timeout(self):
        """hosts values take headers, log, scriptTimeout; the top level takes
        headers; map {path, headers} is a <Route> with Header set lines."""
        from jsrun import JsServer
        script = """
var server = require("rampart-server");
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1, scriptTimeout: 30,
    headers: {"X-Top": "t"},
    map: {"/": "{dir}/top", "/d": {path: "{dir}/top", headers: {"X-Dir": "d"}}},
    hosts: {
        "a.test": {headers: {"X-Top": "a", "X-Site": "a"}, scriptTimeout: 0.2,
                   accessLog: "{dir}/a.log",
                   map: {"/loop": function () { while (true) {} }, "/": "{dir}/top"}},
        "off.test": {log: false, accessLog: "{dir}/off.log",
                     map: {"/": "{dir}/top"}}
    }});
"""
        files = {"top/index.html": "top\n"}
        with JsServer(script, files=files) as srv:
            st, h, body = srv.request("GET", "/", headers={"Host": "x.test"})
            self.assertEqual((st, h.get("x-top"), h.get("x-dir")), (200, "t", None))
            st, h, body = srv.request("GET", "/d/index.html", headers={"Host": "x.test"})
            self.assertEqual((st, body, h.get("x-dir")), (200, b"top\n", "d"))
            st, h, body = srv.request("GET", "/loop", headers={"Host": "a.test"}, timeout=120)
            self.assertEqual((st, h.get("x-top"), h.get("x-site")), (500, "a", "a"))
            self.assertIn(b"script timed out after 0.2 seconds", body)
            self.assertEqual(srv.request("GET", "/?off-marker",
                                         headers={"Host": "off.test"})[0], 200)
            self.assertEqual(srv.request("GET", "/?a-marker",
                                         headers={"Host": "a.test"})[0], 200)
            alog, olog = srv.path("a.log"), srv.path("off.log")
            wait_until(lambda: os.path.exists(alog) and "a-marker" in read(alog),
                       what="a.test's line")  # one worker: off.test's would be there first
            self.assertEqual(read(olog) if os.path.exists(olog) else "", "")

    def test_hosts_option_errors(self):
        from jsrun import JsServer
        for hosts, expect in (('{"a.test": {bind: "x"}}',
                               "hosts['a.test']: 'bind' is not a per-host option"),
                              ('{"a.test": 3}', "hosts['a.test'] must be an object"),
                              ('[]', "option 'hosts' must be an object")):
            script = ('require("rampart-server").start({bind: "127.0.0.1:{port}", '
                      'user: "nobody", hosts: %s});' % hosts)
            with JsServer(script, wait=False) as srv:
                srv.wait()
                self.assertIn(expect, srv.output())


class RouteCompression(unittest.TestCase):
    def test_compress_per_route(self):
        conf = EX + """LoadModule gzip mod_gzip.so
CompressFiles off
Map / {dir}/top
<Route /c/>
    CompressFiles html
    CompressMinSize 10
</Route>
<Host a.test>
    Map / {dir}/a
    CompressFiles on
</Host>
"""
        page = "<p>" + "compress me " * 200 + "</p>\n"
        files = {"top/p.html": page, "top/c/p.html": page, "a/p.html": page}
        with Server(conf=conf, files=files) as srv:
            def enc(host, path):
                st, h, _ = srv.request("GET", path, headers={"Host": host,
                                                             "Accept-Encoding": "gzip"})
                self.assertEqual(st, 200)
                return h.get("content-encoding")
            self.assertIsNone(enc("x.test", "/p.html"))
            self.assertEqual(enc("x.test", "/c/p.html"), "gzip")
            self.assertEqual(enc("a.test", "/p.html"), "gzip")


class Stapling(unittest.TestCase):
    """SslStaplingFile: a real OCSP response made with openssl ocsp, checked
    with openssl s_client -status."""

    def test_staple_per_certificate(self):
        d = tempfile.mkdtemp(prefix="rptest-ocsp-")
        try:
            os.chmod(d, 0o755)
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                    "-out", "ca.pem", "-days", "2", "-subj", "/CN=ca", "-addext",
                    "basicConstraints=critical,CA:TRUE", "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=d)
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "s.key", "-out", "s.csr",
                    "-subj", "/CN=s.test", cwd=d)
            with open(os.path.join(d, "ext"), "w") as f:
                f.write("subjectAltName=DNS:s.test\n")
            openssl("x509", "-req", "-in", "s.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", "s.pem", "-days", "2", "-extfile", "ext", cwd=d)
            serial = subprocess.run(["openssl", "x509", "-in", "s.pem", "-noout", "-serial"],
                                    cwd=d, capture_output=True, text=True,
                                    check=True).stdout.strip().split("=")[1]
            with open(os.path.join(d, "index.txt"), "w") as f:
                f.write("V\t301231000000Z\t\t%s\tunknown\t/CN=s.test\n" % serial)
            openssl("ocsp", "-issuer", "ca.pem", "-cert", "s.pem", "-reqout", "req.der",
                    "-no_nonce", cwd=d)
            openssl("ocsp", "-index", "index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key",
                    "-CA", "ca.pem", "-reqin", "req.der", "-respout", "resp.der", "-ndays", "1",
                    cwd=d)
            self_signed(d, "t.test")
            for name in os.listdir(d):
                os.chmod(os.path.join(d, name), 0o644)
            conf = EX + ("Map / {dir}/top\nSslCertFile %(d)s/t.test.pem\nSslKeyFile %(d)s/t.test.key\n"
                         "<Host s.test>\nSslCertFile %(d)s/s.pem\nSslStaplingFile %(d)s/resp.der\n"
                         "SslKeyFile %(d)s/s.key\n</Host>\n" % {"d": d})
            with Server(conf=conf, files=FILES, binds=["127.0.0.1:{port} tls"]) as srv:
                def status(name):
                    return subprocess.run(
                        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port,
                         "-servername", name, "-status"], input="", capture_output=True,
                        text=True, timeout=30).stdout
                out = status("s.test")
                self.assertIn("OCSP Response Status: successful", out)
                self.assertIn("Cert Status: good", out)
                self.assertIn("OCSP response: no response sent", status("other.test"))
            if HAVE_JS:  # the same from start()'s hosts option
                from jsrun import JsServer
                script = ('require("rampart-server").start({bind: "127.0.0.1:{port}", '
                          'user: "nobody", threads: 1, secure: true, '
                          'sslCertFile: "%(d)s/t.test.pem", sslKeyFile: "%(d)s/t.test.key", '
                          'hosts: {"s.test": {sslCertFile: "%(d)s/s.pem", '
                          'sslKeyFile: "%(d)s/s.key", sslStaplingFile: "%(d)s/resp.der"}}});'
                          % {"d": d})
                with JsServer(script) as srv:
                    out = subprocess.run(
                        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port,
                         "-servername", "s.test", "-status"], input="", capture_output=True,
                        text=True, timeout=30).stdout
                    self.assertIn("Cert Status: good", out)
            # a file that is no OCSP response: a file:line error at -t
            path = os.path.join(d, "bad.conf")
            with open(path, "w") as f:
                f.write(EX + "Bind 127.0.0.1:4431 tls\nSslCertFile %(d)s/s.pem\n"
                        "SslStaplingFile %(d)s/s.pem\nSslKeyFile %(d)s/s.key\n" % {"d": d})
            r = run_httpd(["-t", "-f", path])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("bad.conf:4: SslStaplingFile '%s/s.pem' is not a DER OCSP response" % d,
                          r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class ConfErrors(unittest.TestCase):
    def check(self, text, expect):
        d = tempfile.mkdtemp(prefix="rptest-vh-")
        try:
            os.makedirs(os.path.join(d, "www"))
            path = os.path.join(d, "v.conf")
            with open(path, "w") as f:
                f.write(EX + text.replace("{www}", os.path.join(d, "www")))
            r = run_httpd(["-t", "-f", path])
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("v.conf:" + expect, r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_wrong_scope(self):
        self.check("<Route /a/>\nThreads 2\n</Route>\n",
                   "3: Threads is not allowed inside <Route> (allowed: server)")
        self.check("<Host a.test>\nMap / {www}\n<Route /a/>\nMap /x {www}\n</Route>\n</Host>\n",
                   "5: Map is not allowed inside <Route> (allowed: server, host)")
        self.check("<Host a.test>\nBind 127.0.0.1:9\n</Host>\n",
                   "3: Bind is not allowed inside <Host> (allowed: server)")
        self.check("Default\n", "2: Default is not allowed at the top level (allowed: host)")

    def test_blocks(self):
        self.check("<Host a.test>\nMap / {www}\n", "2: <Host> is not closed (missing </Host>)")
        self.check("<Route /a/>\n<Route /b/>\n",
                   "3: <Route> blocks do not nest (the <Route> opened at ")
        self.check("</Route>\n", "2: </Route> without an open <Route>")
        self.check("<Host a.test>\n</Host>\n<Host A.test>\n</Host>\n",
                   "4: <Host>: 'a.test' is already a name of the <Host> at ")
        self.check("<Host a.test\n", "2: <Host: the line must end with '>'")
        self.check("<Host a.test>\nDefault\n</Host>\n<Host b.test>\nDefault\n</Host>\n",
                   "5: a second Default <Host> (the first is at ")
        self.check("<Route /a/>\nCacheControl bad\x01\n</Route>\n", "3: CacheControl:")

    def test_route_settings_are_accepted_everywhere(self):
        d = tempfile.mkdtemp(prefix="rptest-vh-")
        try:
            path = os.path.join(d, "ok.conf")
            with open(path, "w") as f:
                f.write(EX + "CacheControl off\nHeader set A b\n<Host a.test>\nCacheControl on\n"
                        "<Route ~^/x>\nCacheControl off\nHeader unset A\n</Route>\n</Host>\n")
            r = run_httpd(["-t", "-f", path])
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_list_shows_scopes(self):
        r = run_httpd(["-L", "-f", "/dev/null"])
        rows = {l.split("\t")[0]: l.split("\t") for l in r.stdout.splitlines()}
        self.assertEqual(rows["Threads"][3], "server")
        self.assertEqual(rows["Map"][3], "server, host")
        self.assertEqual(rows["Header"][3], "server, host, route")
        self.assertEqual(rows["Default"][3], "host")


class MapHeaderForm(unittest.TestCase):
    """mod_static's old "Map /key /dir Header Name Value" is refused, naming
    the <Route> replacement; the replacement serves the header."""

    def test_refused_with_the_replacement(self):
        ConfErrors.check(self, "Map /x {www} Header X-A yes\n",
                         '2: Map /x: words after the directory (\'Header\') are not read; '
                         'response headers are a route setting: <Route /x/> Header set X-A '
                         '"yes" </Route>')
        ConfErrors.check(self, "Map /x/ {www} \"X-B: two words\"\n",
                         "2: Map /x/: words after the directory ('X-B: two words') are not "
                         'read; response headers are a route setting: <Route /x/> Header set X-B "two words" </Route>')

    def test_route_header_replaces_it(self):
        conf = EX + "Map /a/ {dir}/a\n<Route /a/>\n    Header set X-A yes\n</Route>\n"
        with Server(conf=conf, files=FILES) as srv:
            st, h, body = srv.get("/a/index.html")
            self.assertEqual((st, body, h.get("x-a")), (200, b"site a\n", "yes"))


class HostLogOff(unittest.TestCase):
    def test_log_off_in_one_host(self):
        conf = EX + """Map / {dir}/top
<Host off.test>
    Map / {dir}/a
    Log off
</Host>
<Host quiet.test>
    Map / {dir}/b
    AccessLog {dir}/quiet.log
    Log off
</Host>
<Host on.test>
    Map / {dir}/d
</Host>
"""
        # one worker: the lines are written in the order the requests came
        with Server(conf=conf, files=FILES, threads=1) as srv:
            for host, q in (("off.test", "off-marker"), ("quiet.test", "quiet-marker"),
                            ("on.test", "on-marker")):
                self.assertEqual(srv.request("GET", "/?" + q, headers={"Host": host})[0], 200)
            wait_until(lambda: "on-marker" in srv.access_log(), what="on.test's line")
            self.assertNotIn("off-marker", srv.access_log())
            self.assertNotIn("quiet-marker", srv.access_log())
            qlog = os.path.join(srv.dir, "quiet.log")
            self.assertEqual(read(qlog) if os.path.exists(qlog) else "", "")


@unittest.skipUnless(HAVE_JS, "mod_js not built")
class RouteScriptTimeout(unittest.TestCase):
    """ScriptTimeout per <Route> and <Host>: each answers with its own limit.
    The requests wait for the 500 the deadline gives; the only clock is the
    spinning script's own (it spins longer than the server's limit)."""

    CONF = EX + """LoadModule js mod_js.so
ScriptTimeout 0.5
Map /loop {dir}/js/loop.js
Map /short {dir}/js/loop.js
Map /long {dir}/js/spin.js
Map /spin {dir}/js/spin.js
<Route /short>
    ScriptTimeout 0.2
</Route>
<Route /long>
    ScriptTimeout 600
</Route>
<Host h.test>
    ScriptTimeout 0.3
    Map /loop {dir}/js/loop.js
</Host>
"""
    FILES = {"js/loop.js": "module.exports = function () { while (true) {} };",
             "js/spin.js": "module.exports = function () { var t = Date.now();"
                           " while (Date.now() - t < 1500) {} return {txt: 'spun'}; };"}

    def test_route_and_host_limits(self):
        with Server(conf=self.CONF, files=self.FILES) as srv:
            def get(path, host="x.test"):
                st, _, body = srv.request("GET", path, headers={"Host": host}, timeout=120)
                return st, body.decode()
            st, body = get("/loop")
            self.assertEqual(st, 500)
            self.assertIn("script timed out after 0.5 seconds", body)
            st, body = get("/short")  # shorter than the server's
            self.assertEqual(st, 500)
            self.assertIn("script timed out after 0.2 seconds", body)
            st, body = get("/spin")  # the spin outlasts the server's limit...
            self.assertEqual(st, 500)
            self.assertIn("after 0.5 seconds", body)
            self.assertEqual(get("/long"), (200, "spun"))  # ...but not its route's
            st, body = get("/loop", "h.test")  # the host's value
            self.assertEqual(st, 500)
            self.assertIn("script timed out after 0.3 seconds", body)

    def test_list_and_scope(self):
        r = run_httpd(["-L", "-f", "/dev/null", "-c", "LoadModule js mod_js.so"])
        rows = [l.split("\t") for l in r.stdout.splitlines() if l.startswith("ScriptTimeout\t")]
        self.assertEqual(len(rows), 1, r.stdout)
        self.assertEqual(rows[0][3], "server, host, route")


class ShowConf(unittest.TestCase):
    def test_blocks_are_indented(self):
        d = tempfile.mkdtemp(prefix="rptest-vh-")
        try:
            os.makedirs(os.path.join(d, "www"))
            path = os.path.join(d, "t.conf")
            with open(path, "w") as f:
                f.write(EX + "Map / www\n<Host a.test>\nMap / www\n<Route /x/>\n"
                        "Header set A b\n</Route>\nCacheControl off\n</Host>\nThreads 1\n")
            r = run_httpd(["-T", "-f", path])
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = [l.split("    # line")[0] for l in r.stdout.splitlines()
                     if "# line" in l]
            self.assertEqual(lines, ["LoadModule static mod_static.so", "Map / www",
                                     "<Host a.test>", "    Map / www", "    <Route /x/>",
                                     "        Header set A b", "    </Route>",
                                     "    CacheControl off", "</Host>", "Threads 1"])
        finally:
            shutil.rmtree(d, ignore_errors=True)


class TLSHosts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="rptest-vhpki-")
        os.chmod(cls.pki, 0o755)
        for name in ("a.test", "b.test", "top.test", "a2.test"):
            self_signed(cls.pki, name)
        self_signed(cls.pki, "a-ec.test", key="ec", cn="a.test")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.pki, name)

    def conf(self, extra=""):
        p = self.p
        return EX + """SslCertFile {tc}
SslKeyFile {tk}
Map / {{dir}}/top
{extra}
<Host a.test>
    SslCertFile {ac}
    SslKeyFile {ak}
    SslCertFile {ecc}
    SslKeyFile {eck}
    Map / {{dir}}/a
</Host>
<Host b.test>
    SslCertFile {bc}
    SslKeyFile {bk}
    Map / {{dir}}/b
</Host>
<Host *.w.test>
    Map / {{dir}}/w
</Host>
""".format(tc=p("top.test.pem"), tk=p("top.test.key"), ac=p("a.test.pem"), ak=p("a.test.key"),
           ecc=p("a-ec.test.pem"), eck=p("a-ec.test.key"), bc=p("b.test.pem"),
           bk=p("b.test.key"), extra=extra)

    def server(self, extra=""):
        return Server(conf=self.conf(extra), files=FILES,
                      binds=["127.0.0.1:{port}", "127.0.0.1:{port2} tls"])

    def test_sni_picks_certificate_and_421(self):
        with self.server() as srv:
            port = srv.port2
            a_certs = (der(self.p("a.test.pem")), der(self.p("a-ec.test.pem")))
            self.assertIn(peer_cert(port, "a.test"), a_certs)
            self.assertEqual(peer_cert(port, "B.TEST"), der(self.p("b.test.pem")))
            # unknown names, no name, and a host without certificates: the default's
            self.assertEqual(peer_cert(port, "nobody.test"), der(self.p("top.test.pem")))
            self.assertEqual(peer_cert(port, None), der(self.p("top.test.pem")))
            self.assertEqual(peer_cert(port, "x.w.test"), der(self.p("top.test.pem")))
            # RSA and ECDSA side by side in host a: TLS 1.2 suites choose
            self.assertEqual(peer_cert(port, "a.test", "ECDHE-ECDSA-AES128-GCM-SHA256", True),
                             der(self.p("a-ec.test.pem")))
            self.assertEqual(peer_cert(port, "a.test", "ECDHE-RSA-AES128-GCM-SHA256", True),
                             der(self.p("a.test.pem")))
            self.assertEqual(tls_get(port, "a.test", "a.test"), (200, b"site a\n"))
            self.assertEqual(tls_get(port, "b.test", "b.test:%d" % port), (200, b"site b\n"))
            self.assertEqual(tls_get(port, "x.w.test", "x.w.test"), (200, b"site w\n"))
            # SNI chose a, Host asks for b: Misdirected Request
            self.assertEqual(tls_get(port, "a.test", "b.test")[0], 421)
            self.assertEqual(tls_get(port, "nobody.test", "a.test")[0], 421)
            # HTTP/1.0 without Host: the server name decides
            self.assertEqual(tls_get10(port, "b.test"), (200, b"site b\n"))
            # no SNI at all: the Host header decides
            self.assertEqual(tls_get(port, None, "b.test"), (200, b"site b\n"))
            # plain HTTP on the same configuration: no SNI, no 421
            st, _, body = srv.request("GET", "/", headers={"Host": "b.test"})
            self.assertEqual((st, body), (200, b"site b\n"))

    def test_curl_resolve_and_h2_authority(self):
        with self.server() as srv:
            port = srv.port2
            for extra in ([], ["--http2"]):
                out = subprocess.run(
                    ["curl", "-sk"] + extra + ["--resolve", "b.test:%d:127.0.0.1" % port,
                                               "-w", "\n%{http_code} %{http_version}",
                                               "https://b.test:%d/" % port],
                    capture_output=True, text=True, timeout=30).stdout
                self.assertTrue(out.startswith("site b\n\n200 "), out)
            out = subprocess.run(
                ["curl", "-sk", "--http2", "--resolve", "a.test:%d:127.0.0.1" % port,
                 "-H", "Host: b.test", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                 "https://a.test:%d/" % port], capture_output=True, text=True, timeout=30).stdout
            self.assertEqual(out, "421 2")

    def test_strict_sni_refuses_unknown_names(self):
        with self.server("SslStrictSni on") as srv:
            self.assertEqual(peer_cert(srv.port2, "b.test"), der(self.p("b.test.pem")))
            with self.assertRaises(ssl.SSLError):
                peer_cert(srv.port2, "nobody.test")

    def test_reload_picks_up_a_new_certificate(self):
        d = tempfile.mkdtemp(prefix="rptest-vhcert-")
        try:
            os.chmod(d, 0o755)
            for ext in (".pem", ".key"):
                shutil.copy(self.p("b.test" + ext), os.path.join(d, "cur" + ext))
                os.chmod(os.path.join(d, "cur" + ext), 0o644)
            conf = self.conf().replace(self.p("b.test.pem"), os.path.join(d, "cur.pem"))
            conf = conf.replace(self.p("b.test.key"), os.path.join(d, "cur.key"))
            with Server(conf=conf, files=FILES,
                        binds=["127.0.0.1:{port}", "127.0.0.1:{port2} tls"]) as srv:
                self.assertEqual(peer_cert(srv.port2, "b.test"), der(self.p("b.test.pem")))
                for ext in (".pem", ".key"):
                    shutil.copy(self.p("a2.test" + ext), os.path.join(d, "cur" + ext))
                before = srv.error_log().count("configuration reloaded")
                os.kill(srv.pid, signal.SIGHUP)
                wait_until(lambda: srv.error_log().count("configuration reloaded") > before,
                           what="the reload")
                self.assertEqual(peer_cert(srv.port2, "b.test"), der(self.p("a2.test.pem")))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_host_certificate_errors_name_the_line(self):
        d = tempfile.mkdtemp(prefix="rptest-vh-")
        try:
            path = os.path.join(d, "t.conf")
            with open(path, "w") as f:
                f.write(EX + "Bind 127.0.0.1:4431 tls\nSslCertFile %s\nSslKeyFile %s\n"
                        "<Host a.test>\nSslCertFile %s\nSslKeyFile %s\n</Host>\n"
                        % (self.p("top.test.pem"), self.p("top.test.key"),
                           self.p("a.test.pem"), self.p("b.test.key")))
            r = run_httpd(["-t", "-f", path])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("t.conf:7: SslKeyFile '%s' does not match" % self.p("b.test.key"),
                          r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
