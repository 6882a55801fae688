"""start() options through `rampart script.js`: every option of the spec with
good values (and what it does), and bad values / unknown options, which
must throw a clear JS error naming the option.

Run: cd tests/integration && python3 -m unittest test_js_options -v
"""

import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from jsrun import JsServer, RAMPART, wait_until

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

BAD = r'''
var server = require("rampart-server");
var cases = [
  ["bogus", {bogus: 1}],
  ["opts", 5],
  ["bind", {bind: 5}],
  ["bind", {bind: []}],
  ["bind", {bind: ["127.0.0.1:{port}", 3]}],
  ["bind", {bind: "nonsense"}],
  ["threads", {threads: "4"}],
  ["threads", {threads: -1}],
  ["threads", {threads: 1.5}],
  ["useThreads", {useThreads: "yes"}],
  ["scriptTimeout", {scriptTimeout: "1"}],
  ["scriptTimeout", {scriptTimeout: -1}],
  ["connectTimeout", {connectTimeout: true}],
  ["log", {log: 1}],
  ["accessLog", {accessLog: 5}],
  ["errorLog", {errorLog: ""}],
  ["daemon", {daemon: "true"}],
  ["maxRead", {maxRead: "big"}],
  ["maxWrite", {maxWrite: 0}],
  ["secure", {secure: "yes"}],
  ["secure", {secure: true}],
  ["sslMinVersion", {secure: true, sslKeyFile: "k.pem", sslCertFile: "c.pem", sslMinVersion: "tls9"}],
  ["sslKeyFile", {sslKeyFile: 5}],
  ["notFoundFunc", {notFoundFunc: "nf"}],
  ["developerMode", {developerMode: "on"}],
  ["directoryFunc", {directoryFunc: 1}],
  ["user", {user: 5}],
  ["cacheControl", {cacheControl: 5}],
  ["compressFiles", {compressFiles: "html"}],
  ["compressFiles", {compressFiles: ["html", 3]}],
  ["compressScripts", {compressScripts: 1}],
  ["compressLevel", {compressLevel: 11}],
  ["compressLevel", {compressLevel: "1"}],
  ["compressMinSize", {compressMinSize: -5}],
  ["mimeMap", {mimeMap: {m4v: 5}}],
  ["mimeMap", {mimeMap: "x"}],
  ["mimeMap", {mimeMap: {m4v: "notamime"}}],
  ["mapSort", {mapSort: "no"}],
  ["map", {map: 5}],
  ["map['/x']", {map: {"/x": 5}}],
  ["map['/x']", {map: {"/x": "/nonexistent/dir"}}],
  ["map['/x']", {map: {"/x": {module: 5}}}],
  ["map['/x']", {map: {"/x": {module: "./nope.js"}}}],
  ["map['/x/']", {map: {"/x/": {modulePath: "/nonexistent"}}}],
  ["map['/x/']", {map: {"/x/": {path: ".", headers: 5}}}],
  ["map['/x/']", {map: {"/x/": {other: 1}}}],
  ["map['x']", {map: {"x": function () {}}}]
];
for (var i = 0; i < cases.length; i++) {
    var o = cases[i][1];
    if (typeof o === "object" && !o.bind) { o.bind = "127.0.0.1:{port}"; o.user = o.user || "nobody"; }
    try {
        server.start(o);
        console.log(JSON.stringify([cases[i][0], "started"]));
    } catch (e) {
        console.log(JSON.stringify([cases[i][0], e.name, e.message]));
    }
}
console.log("DONE");
'''


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class TestBadOptions(unittest.TestCase):
    def test_bad_values_throw_naming_the_option(self):
        srv = JsServer(BAD, start=False)
        with srv:
            srv.start(wait=False)
            self.assertEqual(srv.wait(), 0, srv.output())
            out = srv.stdout()
            self.assertIn("DONE", out)
            lines = [json.loads(l) for l in out.splitlines() if l.startswith("[")]
            self.assertEqual(len(lines), 47, out)
            for opt, name, *msg in lines:
                self.assertNotEqual(name, "started", "%s was accepted" % opt)
                self.assertIn(name, ("TypeError", "RangeError", "Error"))
                m = msg[0]
                self.assertIn("start()", m)
                if opt != "opts":
                    self.assertIn("'%s'" % opt if not opt.startswith("map[") else opt, m)
            kinds = {l[0]: l[1] for l in lines}
            self.assertEqual(kinds["bogus"], "TypeError")
            self.assertEqual(kinds["useThreads"], "TypeError")
            # nothing was started: the port is still free
            s = socket.socket()
            self.assertNotEqual(s.connect_ex(("127.0.0.1", srv.port)), 0)
            s.close()

    def test_unknown_option_did_you_mean(self):
        script = r'''
var s = require("rampart-server");
[{mpa: {}}, {Threads: 2}, {maxbodysize: 5}, {scriptTimout: 1}, {zzzqqq: 1}].forEach(function (o) {
    try { s.start(o); console.log("started"); }
    catch (e) { console.log(JSON.stringify([e.name, e.message])); }
});
console.log("DONE");
'''
        srv = JsServer(script, start=False)
        with srv:
            srv.start(wait=False)
            self.assertEqual(srv.wait(), 0, srv.output())
            out = srv.stdout()
            self.assertIn("DONE", out)
            got = [json.loads(l) for l in out.splitlines() if l.startswith("[")]
            self.assertEqual(got[:4], [
                ["TypeError", "start(): unknown option 'mpa'; did you mean 'map'?"],
                ["TypeError", "start(): unknown option 'Threads'; did you mean 'threads'?"],
                ["TypeError", "start(): unknown option 'maxbodysize'; did you mean 'maxBodySize'?"],
                ["TypeError", "start(): unknown option 'scriptTimout'; did you mean "
                              "'scriptTimeout'?"]])
            # nothing near: the list of known options, from the same table
            self.assertEqual(got[4][0], "TypeError")
            self.assertRegex(got[4][1], r"^start\(\): unknown option 'zzzqqq' \(known: bind, user, "
                             r".*\bmap, hosts\)$")

    def test_uncaught_bad_option_exits_nonzero(self):
        srv = JsServer('require("rampart-server").start({threads: "many"});\n', start=False)
        with srv:
            srv.start(wait=False)
            self.assertNotEqual(srv.wait(), 0)
            self.assertIn("TypeError", srv.stderr())
            self.assertIn("threads", srv.stderr())

    def test_twice(self):
        script = ('var s = require("rampart-server");\n'
                  's.start({bind: "127.0.0.1:{port}", user: "nobody", map: {"/a.txt": '
                  'function () { return {txt: "a"}; }}});\n'
                  'try { s.start({bind: "127.0.0.1:{port2}", user: "nobody"}); }\n'
                  'catch (e) { console.log("SECOND " + e.message); }\n')
        with JsServer(script) as srv:
            self.assertEqual(srv.get("/a.txt")[2], b"a")
            wait_until(lambda: "SECOND" in srv.stdout(), 5)
            self.assertIn("already started", srv.stdout())


GOOD = r'''
var server = require("rampart-server");
var long = new Array(2001).join("y");
var pid = server.start({
    bind: ["127.0.0.1:{port}", " 127.0.0.1 : {port2} "],
    user: "nobody",
    scriptTimeout: 2,
    connectTimeout: 1,
    log: true,
    accessLog: "access.log",
    errorLog: "error.log",
    daemon: false,
    useThreads: true,
    threads: 3,
    maxRead: 4096,
    maxWrite: 4096,
    developerMode: false,
    cacheControl: "max-age=5",
    compressFiles: ["txt"],
    compressScripts: true,
    compressLevel: 9,
    compressMinSize: 10,
    mimeMap: {"zzz": "application/x-zzz"},
    mapSort: true,
    directoryFunc: true,
    notFoundFunc: function (req) { return {status: 404, txt: "nf " + req.path.path}; },
    map: {
        "/": "www",
        "/t.zzz": function () { return {zzz: "hello zzz"}; },
        "/long.txt": function () { return {txt: long}; },
        "/short.txt": function () { return {txt: "tiny"}; },
        "/big.bin": function () { return {bin: rampart.utils.stringToBuffer(new Array(100001).join("abcdefghij"))}; }
    }
});
console.log("PID " + pid);
'''


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class TestGoodOptions(unittest.TestCase):
    def test_many_options(self):
        files = {"www/index.html": "home\n", "www/f.zzz": "zzz file\n",
                 "www/big.txt": "z" * 5000, "www/dir/x.txt": "x\n"}
        with JsServer(GOOD, files=files) as srv:
            # the script prints after start() returns, maybe after the port answers
            wait_until(lambda: "PID %d" % srv.proc.pid in srv.stdout(), 10,
                       what="the script's PID line")
            # both binds (the second with blanks inside)
            self.assertEqual(srv.get("/")[2], b"home\n")
            self.assertEqual(srv.get("/", port=srv.port2)[2], b"home\n")
            # cacheControl on files
            st, hd, body = srv.get("/index.html")
            self.assertEqual(hd["cache-control"], "max-age=5")
            # mimeMap: both the return key and static files
            st, hd, body = srv.get("/t.zzz")
            self.assertEqual((hd["content-type"], body), ("application/x-zzz", b"hello zzz"))
            self.assertEqual(srv.get("/f.zzz")[1]["content-type"], "application/x-zzz")
            # compressFiles ["txt"] on a static .txt
            st, hd, body = srv.get("/big.txt", headers={"Accept-Encoding": "gzip"})
            self.assertEqual(hd.get("content-encoding"), "gzip")
            self.assertEqual(gzip.decompress(body), b"z" * 5000)
            # compressScripts + compressMinSize
            st, hd, body = srv.get("/long.txt", headers={"Accept-Encoding": "gzip"})
            self.assertEqual(hd.get("content-encoding"), "gzip")
            self.assertEqual(gzip.decompress(body), b"y" * 2000)
            st, hd, body = srv.get("/short.txt", headers={"Accept-Encoding": "gzip"})
            self.assertNotIn("content-encoding", hd)
            # maxRead / maxWrite: big bodies still whole
            st, hd, body = srv.get("/big.bin")
            self.assertEqual(body, b"abcdefghij" * 100000)
            st, hd, body = srv.request("POST", "/short.txt", body=b"q" * 300000)
            self.assertEqual(body, b"tiny")
            # directoryFunc true: mod_dirlist's listing
            st, hd, body = srv.get("/dir/")
            self.assertEqual(st, 200)
            self.assertIn(b"x.txt", body)
            # notFoundFunc
            self.assertEqual(srv.get("/none")[2], b"nf /none")
            # connectTimeout 1: an idle connection is closed.  The bound only
            # has to tell 1 s from the 60 s default, so a loaded machine is
            # no reason to fail.
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.settimeout(30)
            t0 = time.monotonic()
            self.assertEqual(s.recv(10), b"")
            self.assertLess(time.monotonic() - t0, 30)
            s.close()
            # log / accessLog / errorLog
            wait_until(lambda: "GET /index.html" in read(srv.path("access.log")), 30)
            self.assertTrue(os.path.exists(srv.path("error.log")))
            self.assertEqual(srv.stdout().count("GET /"), 0)

    def test_use_threads_false_and_log_false(self):
        script = r'''
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:{port}", user: "nobody", useThreads: false, threads: 4,
    log: false, accessLog: "access.log",
    map: {"/n.txt": {module: "count.js"}}
});
'''
        files = {"count.js": "var n = 0; module.exports = function () { n++; return {txt: '' + n}; };"}
        with JsServer(script, files=files) as srv:
            # one thread: one module instance sees every request, in order
            got = [srv.get("/n.txt")[2] for _ in range(8)]
            self.assertEqual(got, [str(i).encode() for i in range(1, 9)])
            # nothing to wait for: log:false must leave the file empty; the
            # error log line of the start is there long before
            self.assertEqual(read(srv.path("access.log")), "")

    def test_map_sort(self):
        tmpl = r'''
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:{port}", user: "nobody", mapSort: %s,
    map: {
        "/p/": function () { return {txt: "prefix"}; },
        "/p/a.html": function () { return {txt: "exact"}; }
    }
});
'''
        with JsServer(tmpl % "true") as srv:
            self.assertEqual(srv.get("/p/a.html")[2], b"exact")
            self.assertEqual(srv.get("/p/b.html")[2], b"prefix")
        with JsServer(tmpl % "false") as srv:
            self.assertEqual(srv.get("/p/a.html")[2], b"prefix")

    def test_cache_control_false_and_compress_files_true(self):
        script = r'''
var server = require("rampart-server");
server.start({bind: "127.0.0.1:{port}", user: "nobody", cacheControl: false,
              compressFiles: true, map: {"/": "www"}});
'''
        files = {"www/page.html": "<p>" + "h" * 3000 + "</p>"}
        with JsServer(script, files=files) as srv:
            st, hd, body = srv.get("/page.html", headers={"Accept-Encoding": "gzip"})
            self.assertNotIn("cache-control", hd)
            self.assertEqual(hd.get("content-encoding"), "gzip")

    def test_daemon(self):
        script = r'''
var server = require("rampart-server");
var pid = server.start({bind: "127.0.0.1:{port}", user: "nobody", daemon: true,
                        map: {"/d.txt": function () { return {txt: "daemon"}; }}});
console.log("PID " + pid);
'''
        srv = JsServer(script, start=False)
        with srv:
            srv.start(wait=False)
            self.assertEqual(srv.wait(), 0, srv.output())
            out = srv.stdout()
            pid = int(out.split("PID ")[1].split()[0])
            try:
                self.assertNotEqual(pid, srv.proc.pid)
                self.assertTrue(os.path.realpath(os.readlink("/proc/%d/exe" % pid)) ==
                                os.path.realpath(RAMPART))
                wait_until(lambda: srv.can_connect(), 10)
                self.assertEqual(srv.get("/d.txt")[2], b"daemon")
            finally:
                os.kill(pid, signal.SIGTERM)
            wait_until(lambda: gone(pid), 10, what="daemon exit")

    def test_secure(self):
        if not shutil.which("openssl"):
            self.skipTest("no openssl CLI")
        script = r'''
var server = require("rampart-server");
server.start({bind: "127.0.0.1:{port}", user: "nobody", secure: true,
              sslKeyFile: "key.pem", sslCertFile: "cert.pem", sslMinVersion: "tls1.2",
              map: {"/s.txt": function (req) { return {txt: "secure " + req.path.scheme}; }}});
'''
        srv = JsServer(script, start=False)
        with srv:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", srv.path("key.pem"), "-out", srv.path("cert.pem"),
                            "-days", "2", "-subj", "/CN=localhost"],
                           check=True, capture_output=True)
            os.chmod(srv.path("key.pem"), 0o644)
            srv.start()
            ctx = ssl.create_default_context(cafile=srv.path("cert.pem"))
            ctx.check_hostname = False
            c = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=10)
            c.request("GET", "/s.txt")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"secure https://"))
            c.close()


if __name__ == "__main__":
    unittest.main()
