"""mod_js hardening (issue 9): module roots, the daemon, form limits and the
core's limit / timeout options through start().

  * modulePath / MapModulePath: a symlink inside the root to a .js file
    outside it is 404 and never runs (also a symlinked directory); a
    symlink inside the root to a file inside still works.
  * daemon: true: start() returns the daemon's pid in the launching process,
    the script goes on there only (15 runs: the pid file always names the
    serving daemon), an error thrown after start() ends the launcher only,
    and the daemon's handler errors reach its error log.
  * MaxFormParams / maxFormParams: more urlencoded pairs or multipart parts
    answer 413 with a message, before the handler runs; at the limit the
    form is parsed; postData / params are built on first read and can be
    assigned.
  * keepAliveTimeout, gracefulTimeout, headerTimeout, bodyTimeout,
    sendTimeout, handshakeTimeout, maxBodySize, maxHeaderSize, maxHeaders,
    maxUriLength: accepted, and effective where cheap to see.

Run: cd tests/integration && python3 -m unittest test_js_limits -v
"""

import os
import signal
import socket
import time
import unittest

from jsrun import JsServer, RAMPART, wait_until
from rptest import Server

HAVE_RAMPART = os.path.exists(RAMPART)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def gone(pid):
    """pid has exited (or is a zombie waiting for its parent)."""
    st = read("/proc/%d/stat" % pid)
    return not st or st.rsplit(")", 1)[1].split()[0] == "Z"


def raw(port, data, timeout=10):
    """Send data, return everything the server sends until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


MODROOT = r'''
require("rampart-server").start({bind: "127.0.0.1:{port}", user: "nobody",
    map: {"/mods/": {modulePath: "mods"}}});
'''


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class ModuleRoot(unittest.TestCase):
    def test_symlinks_out_of_the_root_do_not_run(self):
        files = {"mods/ok.js": 'module.exports = function () { return {txt: "ok"}; };',
                 "mods/real/inner.js": 'module.exports = function () { return {txt: "inner"}; };',
                 "outside/evil.js": 'rampart.utils.fprintf("{dir}/ran", "evil ran");\n'
                                    'module.exports = function () { return {txt: "evil"}; };',
                 "outside/sub/x.js": 'module.exports = function () { return {txt: "x"}; };'}
        srv = JsServer(MODROOT, files=files, start=False)
        with srv:
            os.chmod(srv.dir, 0o777)  # so evil.js, run as nobody, could leave its mark
            os.symlink(srv.path("outside/evil.js"), srv.path("mods/evlink.js"))
            os.symlink("../outside/evil.js", srv.path("mods/rellink.js"))
            os.symlink(srv.path("outside/sub"), srv.path("mods/dirlink"))
            os.symlink("real/inner.js", srv.path("mods/goodlink.js"))
            srv.start()
            for path in ("/mods/evlink.js", "/mods/evlink", "/mods/evlink.html",
                         "/mods/rellink.txt", "/mods/dirlink/x.js"):
                st, _, body = srv.get(path)
                self.assertEqual(st, 404, path)
                self.assertNotIn(b"evil", body)
            self.assertFalse(os.path.exists(srv.path("ran")), "code outside the root ran")
            self.assertEqual(srv.get("/mods/ok.html")[2], b"ok")
            self.assertEqual(srv.get("/mods/goodlink.html")[2], b"inner")
            self.assertEqual(srv.get("/mods/real/inner.txt")[2], b"inner")

    def test_conf_file_module_path(self):
        """MapModulePath from a conf file (rampart-httpd) has the same rule."""
        files = {"mods/fine.js": 'module.exports = function () { return {txt: "fine"}; };',
                 "outside/evil.js": 'module.exports = function () { return {txt: "evil"}; };'}
        srv = Server(conf="LoadModule js mod_js.so\nMapModulePath /m/ mods\n", files=files,
                     start=False)
        with srv:
            os.symlink(srv.path("outside/evil.js"), srv.path("mods/evlink.js"))
            srv.start()
            self.assertEqual(srv.request("GET", "/m/fine.html")[2], b"fine")
            self.assertEqual(srv.request("GET", "/m/evlink.html")[0], 404)


DAEMON = r'''
var server = require("rampart-server");
var utils = rampart.utils;
var pid = server.start({bind: "127.0.0.1:{port}", user: "nobody", daemon: true,
    errorLog: "{dir}/error.log", threads: 1,
    map: {"/pid.txt": function () { return {txt: "" + utils.getpid()}; },
          "/boom.txt": function () { throw new Error("handler boom " + utils.getpid()); }}});
utils.fprintf("{dir}/pid.txt", "%d", pid);
if (utils.getpid() !== pid) console.log("launcher continues");
if (process.argv.indexOf("throw") >= 0) throw new Error("after start " + utils.getpid());
'''


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class Daemon(unittest.TestCase):
    def run_daemon(self, srv, args=()):
        """Run the launcher to its end; returns (exit status, daemon pid)."""
        srv.args = tuple(args)
        srv.start(wait=False)
        rc = srv.wait()
        text = read(srv.path("pid.txt"))
        pid = int(text) if text.isdigit() else None
        return rc, pid

    def stop_daemon(self, pid):
        if pid and not gone(pid):
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: gone(pid), 10, what="daemon %d to exit" % pid)

    def test_pid_file_names_the_serving_daemon_every_time(self):
        for i in range(15):
            srv = JsServer(DAEMON, start=False)
            with srv:
                rc, pid = self.run_daemon(srv)
                try:
                    self.assertEqual(rc, 0, "run %d: %s" % (i, srv.output()))
                    self.assertIsNotNone(pid, "run %d: no pid file" % i)
                    self.assertNotEqual(pid, srv.proc.pid)
                    self.assertEqual(srv.stdout().count("launcher continues"), 1)
                    self.assertEqual(srv.get("/pid.txt")[2], str(pid).encode(), "run %d" % i)
                    self.assertFalse(gone(pid))
                finally:
                    self.stop_daemon(pid)

    def test_error_after_start_ends_the_launcher_only(self):
        srv = JsServer(DAEMON, start=False)
        with srv:
            rc, pid = self.run_daemon(srv, ["throw"])
            try:
                self.assertEqual(rc, 1, srv.output())
                self.assertIn("after start %d" % srv.proc.pid, srv.stderr())
                self.assertEqual(srv.get("/pid.txt")[2], str(pid).encode())
                # the daemon logs what goes wrong in it
                self.assertEqual(srv.get("/boom.txt")[0], 404)
                wait_until(lambda: "handler boom %d" % pid in read(srv.path("error.log")), 10,
                           what="the handler error in the daemon's error log")
                self.assertIn("daemon (pid %d) serving" % pid, read(srv.path("error.log")))
            finally:
                self.stop_daemon(pid)


FORMS = r'''
require("rampart-server").start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1,
    maxFormParams: 100,
    map: {
      "/n.txt": function (req) { return {txt: "" + Object.keys(req.params).length}; },
      "/parts.txt": function (req) { return {txt: "" + req.postData.content.length}; },
      "/untouched.txt": function (req) { return {txt: "len " + req.body.length}; },
      "/assign.json": function (req) {
          req.params = {mine: 1};
          req.postData = "replaced";
          return {json: {params: req.params, post: req.postData}};
      },
      "/twice.txt": function (req) {
          var a = req.params, b = req.params;
          return {txt: (a === b) + " " + (req.postData === req.postData) + " " + a.x};
      },
      "/keys.json": function (req) { return {json: Object.keys(req)}; }
    }});
'''

FORM = "application/x-www-form-urlencoded"


def multipart(n):
    b = "XyZb0undary"
    body = "".join('--%s\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv%d\r\n'
                   % (b, i, i) for i in range(n)) + "--%s--\r\n" % b
    return body.encode(), "multipart/form-data; boundary=" + b


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class Forms(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = JsServer(FORMS)
        cls.addClassCleanup(cls.srv.__exit__, None, None, None)

    def n_headers(self):
        # params also merges the headers http.client sends
        st, _, body = self.srv.post("/n.txt", b"", ctype=FORM)
        return int(body)

    def test_urlencoded_limit(self):
        base = self.n_headers()
        ok = "&".join("k%d=1" % i for i in range(100)).encode()
        st, _, body = self.srv.post("/n.txt", ok, ctype=FORM)
        self.assertEqual((st, int(body)), (200, 100 + base))
        over = ok + b"&k100=1"
        st, hd, body = self.srv.post("/n.txt", over, ctype=FORM)
        self.assertEqual(st, 413)
        self.assertIn(b"more than 100 fields", body)
        # even a handler that never reads the form: refused before it runs
        self.assertEqual(self.srv.post("/untouched.txt", over, ctype=FORM)[0], 413)
        # empty pieces do not count
        st, _, body = self.srv.post("/n.txt", ok + b"&&&&", ctype=FORM)
        self.assertEqual(st, 200)

    def test_multipart_limit(self):
        body, ctype = multipart(100)
        st, _, got = self.srv.post("/parts.txt", body, ctype=ctype)
        self.assertEqual((st, got), (200, b"100"))
        body, ctype = multipart(101)
        st, _, got = self.srv.post("/parts.txt", body, ctype=ctype)
        self.assertEqual(st, 413)
        self.assertIn(b"MaxFormParams", got)

    def test_lazy_and_assignable(self):
        st, _, body = self.srv.post("/untouched.txt", b"a=1&b=2", ctype=FORM)
        self.assertEqual(body, b"len 7")
        st, _, body = self.srv.post("/assign.json", b"a=1", ctype=FORM)
        self.assertEqual(body, b'{"params":{"mine":1},"post":"replaced"}')
        st, _, body = self.srv.post("/twice.txt", b"x=7", ctype=FORM)
        self.assertEqual(body, b"true true 7")
        # enumerable like before: postData only with a body, params always
        import json
        keys = json.loads(self.srv.post("/keys.json", b"x=7", ctype=FORM)[2])
        self.assertIn("postData", keys)
        self.assertIn("params", keys)
        keys = json.loads(self.srv.get("/keys.json")[2])
        self.assertNotIn("postData", keys)
        self.assertIn("params", keys)

    def test_big_form_is_cheap(self):
        """1.4 M fields in 10 MB: refused at once, the server stays small."""
        body = b"&".join(b"k%d=1" % i for i in range(1400000))[:10 * 1024 * 1024]
        t0 = time.monotonic()
        out = raw(self.srv.port, b"POST /n.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                  b"Content-Type: " + FORM.encode() + b"\r\nContent-Length: %d\r\n\r\n"
                  % len(body) + body, timeout=60)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:200])
        # parsing every field would take far longer; a loaded machine less
        self.assertLess(time.monotonic() - t0, 20)
        self.assertEqual(self.srv.get("/n.txt")[0], 200)


def option_script(opts):
    return (r'''require("rampart-server").start({bind: "127.0.0.1:{port}", user: "nobody", %s,
    map: {"/x.txt": function (req) { return {txt: "x" + req.body.length}; }}});
''' % opts)


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class CoreOptions(unittest.TestCase):
    def test_all_accepted(self):
        opts = ("keepAliveTimeout: 30, gracefulTimeout: 2, headerTimeout: 20, bodyTimeout: 20, "
                "sendTimeout: 20, handshakeTimeout: 5, maxBodySize: 1000, maxHeaderSize: \"16k\", "
                "maxHeaders: 50, maxUriLength: 100, maxFormParams: 5000, connectTimeout: 0, "
                "fileCacheValid: 0.5, fileCacheEntries: 10")
        with JsServer(option_script(opts)) as srv:
            self.assertEqual(srv.get("/x.txt")[2], b"x0")

    def test_limits_take_effect(self):
        opts = "maxBodySize: 1000, maxUriLength: 100, maxHeaders: 10"
        with JsServer(option_script(opts)) as srv:
            self.assertEqual(srv.post("/x.txt", b"a" * 1000)[2], b"x1000")
            self.assertEqual(srv.post("/x.txt", b"a" * 1001)[0], 413)
            self.assertEqual(srv.get("/x.txt?" + "q" * 200)[0], 414)
            many = {"X-H%d" % i: "v" for i in range(20)}
            self.assertIn(srv.get("/x.txt", headers=many)[0], (400, 431))

    def test_keepalive_timeout_takes_effect(self):
        with JsServer(option_script("keepAliveTimeout: 1")) as srv:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"GET /x.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            data = b""
            while b"x0" not in data:
                data += s.recv(4096)
            t0 = time.monotonic()
            s.settimeout(45)
            self.assertEqual(s.recv(10), b"")  # closed after the idle second
            self.assertLess(time.monotonic() - t0, 30)  # not the 60 s default
            s.close()

    def test_bad_values_throw(self):
        cases = ["keepAliveTimeout: -1", "gracefulTimeout: \"x\"", "maxBodySize: -5",
                 "maxHeaders: 0", "maxUriLength: \"\"", "maxFormParams: 0",
                 "headerTimeout: true", "maxHeaderSize: \"lots\"", "fileCacheValid: -1",
                 "fileCacheEntries: -3"]
        for c in cases:
            srv = JsServer(option_script(c), start=False)
            with srv:
                srv.start(wait=False)
                self.assertNotEqual(srv.wait(), 0, c)
                self.assertIn("'%s'" % c.split(":")[0], srv.stderr(), c)


if __name__ == "__main__":
    unittest.main()
