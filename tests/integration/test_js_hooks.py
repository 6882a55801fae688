"""start()'s beginFunc and endFunc (NEWER.md's hooks; mod_js hooks.c) with a
real `rampart` script: beginFunc sees every JS request, may change req,
answer it (an object) or refuse it (false: 404); endFunc sees req.reply and
may change what is sent; neither runs for static files unless
beginFuncOnFile (then beginFunc gets req.fsPath, never outside a mapped
root, and may refuse, answer or swap the file); a throwing hook is logged
and the request still answered; without hooks nothing changes.

Run: cd tests/integration && python3 -m unittest test_js_hooks -v
"""

import json
import os
import unittest

from jsrun import BUILD, JsServer, RAMPART, wait_until
from rptest import Server
from wsclient import WSClient, OP_TEXT

HAVE_RAMPART = os.path.exists(RAMPART)
HAVE_JS = os.path.exists(os.path.join(BUILD, "modules", "mod_js.so"))
HAVE_WS = HAVE_RAMPART and os.path.exists(os.path.join(BUILD, "modules", "mod_ws.so"))

MAIN = r'''
var server = require("rampart-server");
var seen = 0;
function begin(req) {
    seen++;
    if (req.path.path == "/deny") return {status: 403, txt: "denied by beginFunc"};
    if (req.path.path == "/gone") return false;
    if (req.path.path == "/boom") throw new Error("beginFunc exploded");
    req.fromBegin = "yes";
    return true;
}
function end(req) {
    if (req.path.path == "/endboom") throw new Error("endFunc exploded");
    if (req.path.path == "/rewrite")
        req.reply = {status: 201, json: {was: req.reply.txt}};
    else if (req.reply && typeof req.reply == "object" && req.reply.json)
        req.reply.json.endSaw = req.reply.status || 200;
}
// one worker: one heap, so `seen` counts every request
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1, beginFunc: begin, endFunc: end,
  map: {
    "/": "{dir}/www",
    "/seen": function (req) { return {json: {seen: seen, fromBegin: req.fromBegin}}; },
    "/deny": function () { return {txt: "must not run"}; },
    "/gone": function () { return {txt: "must not run"}; },
    "/boom": function () { return {txt: "must not run"}; },
    "/endboom": function () { return {txt: "ran"}; },
    "/rewrite": function () { return {txt: "original"}; },
    "/status": function () { return {status: 202, json: {}}; }
  }});
'''

PLAIN = r'''
var server = require("rampart-server");
server.start({bind: "127.0.0.1:{port}", user: "nobody", map: {
    "/": "{dir}/www",
    "/x": function (req) { return {json: {fromBegin: req.fromBegin || null, reply: req.reply || null}}; }
}});
'''

GLOBAL_NAME = r'''
var server = require("rampart-server");
function myBegin(req) { if (req.query.no) return false; }
server.start({bind: "127.0.0.1:{port}", user: "nobody", beginFunc: "myBegin",
  endFunc: {module: "{dir}/end.js"},
  map: {"/x": function (req) { return {json: {ok: 1}}; }}});
'''

FILES = {"www/a.txt": "static file\n"}


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


@unittest.skipUnless(HAVE_RAMPART, "rampart not built")
class TestHooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = JsServer(MAIN, files=FILES)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        rep = cls.srv.sanitizer_report()
        cls.srv.remove_dir()
        if rep:
            raise AssertionError("sanitizer report from rampart:\n" + rep)

    def req(self, path):
        return self.srv.request("GET", path)

    def test_begin_sees_every_request_and_changes_req(self):
        st, _, b = self.req("/seen")
        self.assertEqual(st, 200, b)
        first = json.loads(b)
        self.assertEqual(first["fromBegin"], "yes")
        self.req("/status")
        st, _, b = self.req("/seen")
        # two more JS requests since, each seen once
        self.assertEqual(json.loads(b)["seen"], first["seen"] + 2)

    def test_begin_answers_with_an_object(self):
        st, _, b = self.req("/deny")
        self.assertEqual(st, 403)
        self.assertEqual(b, b"denied by beginFunc")

    def test_begin_false_is_404(self):
        st, _, b = self.req("/gone")
        self.assertEqual(st, 404)
        self.assertNotIn(b"must not run", b)

    def test_begin_not_run_for_static_files(self):
        st, _, b = self.req("/seen")
        before = json.loads(b)["seen"]
        st, _, b = self.req("/a.txt")
        self.assertEqual((st, b), (200, b"static file\n"))
        st, _, b = self.req("/seen")
        self.assertEqual(json.loads(b)["seen"], before + 1)

    def test_end_sees_reply_status(self):
        st, _, b = self.req("/status")
        self.assertEqual(st, 202)
        self.assertEqual(json.loads(b), {"endSaw": 202})

    def test_end_replaces_reply(self):
        st, _, b = self.req("/rewrite")
        self.assertEqual(st, 201)
        self.assertEqual(json.loads(b), {"was": "original"})

    def test_throwing_hooks_are_logged_and_answered(self):
        for path, msg in (("/boom", "beginFunc exploded"), ("/endboom", "endFunc exploded")):
            st, _, b = self.req(path)
            self.assertEqual(st, 404, path)  # a JS error outside developer mode
            self.assertNotIn(b"must not run", b)
            self.assertTrue(wait_until(lambda: msg in self.srv.stderr()), msg)
        # the server goes on
        st, _, _ = self.req("/seen")
        self.assertEqual(st, 200)


ON_FILE = r'''
var server = require("rampart-server");
var seen = [];
function begin(req) {
    var p = req.fsPath;
    if (p === undefined) return true;       /* a JS route */
    seen.push(p);
    var name = p.split("/").pop();
    if (name == "deny.txt") return false;
    if (name == "obj.txt") return {status: 203, txt: "instead of " + name};
    if (name == "swap.txt") req.fsPath = "{dir}/www/b.txt";
    if (name == "other.txt") req.fsPath = "{dir}/other/o.txt";
    if (name == "escape.txt") req.fsPath = "/etc/passwd";
    if (name == "dots.txt") req.fsPath = "{dir}/www/../secret.txt";
    if (name == "rel.txt") req.fsPath = "b.txt";
    if (name == "reldots.txt") req.fsPath = "sub/../b.txt";
    if (name == "reldir.txt") req.fsPath = "sub";
    if (name == "boom.txt") throw new Error("beginFuncOnFile exploded");
    return true;
}
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1, beginFunc: begin,
  beginFuncOnFile: true,
  map: {"/": "{dir}/www", "/o/": "{dir}/other",
        "/seen": function (req) { return {json: {seen: seen, fsPath: req.fsPath || null}}; }}});
'''

ON_FILE_FILES = {
    "www/a.txt": "file a\n", "www/b.txt": "file b\n", "www/deny.txt": "deny\n",
    "www/obj.txt": "obj\n", "www/swap.txt": "swap\n", "www/other.txt": "other\n",
    "www/escape.txt": "escape\n", "www/dots.txt": "dots\n", "www/rel.txt": "rel\n", "www/reldots.txt": "reldots\n",
    "www/reldir.txt": "reldir\n", "www/boom.txt": "boom\n",
    "www/sub/index.html": "<p>index</p>\n", "other/o.txt": "file o\n",
    "secret.txt": "SECRET outside every root\n",
}


@unittest.skipUnless(HAVE_RAMPART, "rampart not built")
class TestBeginFuncOnFile(unittest.TestCase):
    """beginFuncOnFile (NEWER.md): beginFunc before static files with
    req.fsPath, through mod_static's "static" service (rp_static.h)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = JsServer(ON_FILE, files=ON_FILE_FILES)
        # a symlink inside the root to a file outside every mapped root
        os.symlink(cls.srv.path("secret.txt"), cls.srv.path("www/link.txt"))
        cls.www = os.path.realpath(cls.srv.path("www"))
        cls.other = os.path.realpath(cls.srv.path("other"))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        rep = cls.srv.sanitizer_report()
        cls.srv.remove_dir()
        if rep:
            raise AssertionError("sanitizer report from rampart:\n" + rep)

    def get(self, path):
        return self.srv.request("GET", path)

    def seen(self):
        st, _, b = self.get("/seen")
        self.assertEqual(st, 200, b)
        return json.loads(b)

    def test_hook_sees_the_real_path(self):
        self.assertEqual(self.get("/a.txt")[::2], (200, b"file a\n"))
        self.assertIn(os.path.join(self.www, "a.txt"), self.seen()["seen"])
        # index.html of a directory is a file too
        self.assertEqual(self.get("/sub/")[::2], (200, b"<p>index</p>\n"))
        self.assertIn(os.path.join(self.www, "sub", "index.html"), self.seen()["seen"])
        # a JS route gets no fsPath
        self.assertIsNone(self.seen()["fsPath"])

    def test_head_runs_the_hook(self):
        st, _, b = self.srv.request("HEAD", "/obj.txt")
        self.assertEqual((st, b), (203, b""))

    def test_false_is_404_and_object_answers(self):
        st, _, b = self.get("/deny.txt")
        self.assertEqual(st, 404)
        self.assertNotIn(b"deny", b)
        self.assertEqual(self.get("/obj.txt")[::2], (203, b"instead of obj.txt"))

    def test_changed_fspath_sends_that_file(self):
        self.assertEqual(self.get("/swap.txt")[::2], (200, b"file b\n"))
        # another mapped root
        self.assertEqual(self.get("/other.txt")[::2], (200, b"file o\n"))
        # relative: below the route's root
        self.assertEqual(self.get("/rel.txt")[::2], (200, b"file b\n"))

    def test_replacement_outside_every_root_is_404(self):
        for path in ("/escape.txt", "/dots.txt", "/reldots.txt", "/reldir.txt"):
            st, _, b = self.get(path)
            self.assertEqual(st, 404, path)
            self.assertNotIn(b"SECRET", b)
            self.assertNotIn(b"root:", b)
        self.assertTrue(wait_until(lambda: "/etc/passwd" in self.srv.stderr()))

    def test_outside_any_root_never_reaches_the_hook(self):
        for path in ("/link.txt", "/%2e%2e/secret.txt", "/../secret.txt", "/sub/../../secret.txt",
                     "/o/../../secret.txt", "/missing.txt"):
            st, _, b = self.get(path)
            self.assertIn(st, (400, 404), path)
            self.assertNotIn(b"SECRET", b)
        roots = (self.www + "/", self.other + "/")
        for p in self.seen()["seen"]:
            self.assertTrue(p.startswith(roots), p)
            self.assertTrue(os.path.isfile(p) and not os.path.islink(p), p)
        self.assertNotIn(os.path.realpath(self.srv.path("secret.txt")), self.seen()["seen"])

    def test_throw_is_the_scripts_error(self):
        st, _, b = self.get("/boom.txt")
        self.assertEqual(st, 404)
        self.assertNotIn(b"boom", b)
        self.assertTrue(wait_until(lambda: "beginFuncOnFile exploded" in self.srv.stderr()))
        self.assertEqual(self.get("/a.txt")[0], 200)


@unittest.skipUnless(HAVE_JS, "mod_js.so not built")
class TestBeginFuncOnFileConf(unittest.TestCase):
    """The same from a conf file (rampart-httpd): BeginFuncOnFile on."""

    def test_conf_directive(self):
        conf = ("LoadModule static mod_static.so\nLoadModule js mod_js.so\n"
                "BeginFunc js/begin.js\nBeginFuncOnFile {on}\nMap / {www}\n")
        files = {"www/a.txt": "file a\n",
                 "js/begin.js": "module.exports = function (req) { return {txt: 'hook ' + "
                                "req.fsPath.split('/').pop()}; };"}
        with Server(conf=conf.replace("{on}", "on"), files=files) as srv:
            st, _, b = srv.get("/a.txt")
            self.assertEqual((st, b), (200, b"hook a.txt"))
        with Server(conf=conf.replace("{on}", "off"), files=files) as srv:
            st, _, b = srv.get("/a.txt")
            self.assertEqual((st, b), (200, b"file a\n"))


@unittest.skipUnless(HAVE_RAMPART, "rampart not built")
class TestNoHooks(unittest.TestCase):
    def test_without_hooks_nothing_changes(self):
        with JsServer(PLAIN, files=FILES) as srv:
            st, _, b = srv.request("GET", "/x")
            self.assertEqual(st, 200)
            d = json.loads(b)
            self.assertIsNone(d.get("fromBegin"))
            self.assertIsNone(d.get("reply"))
            st, _, b = srv.request("GET", "/a.txt")
            self.assertEqual((st, b), (200, b"static file\n"))


@unittest.skipUnless(HAVE_RAMPART, "rampart not built")
class TestHookForms(unittest.TestCase):
    def test_global_name_and_module(self):
        files = {"end.js": "module.exports = function (req) { req.reply.json.end = 'module'; };"}
        with JsServer(GLOBAL_NAME, files=files) as srv:
            st, _, b = srv.request("GET", "/x")
            self.assertEqual(st, 200, b)
            self.assertEqual(json.loads(b), {"ok": 1, "end": "module"})
            st, _, _ = srv.request("GET", "/x?no=1")
            self.assertEqual(st, 404)

    def test_bad_values_throw(self):
        script = r'''
var server = require("rampart-server");
try { server.start({bind: "127.0.0.1:{port}", beginFunc: 5}); }
catch (e) { console.log("ERR " + e.message); }
try { server.start({bind: "127.0.0.1:{port}", endFunc: "noSuchFunction"}); }
catch (e) { console.log("ERR " + e.message); }
'''
        with JsServer(script, wait=False) as srv:
            srv.wait()
            out = srv.stdout()
            self.assertIn("option 'beginFunc' must be", out)
            self.assertIn("'noSuchFunction' is not a global function", out)

    def test_module_syntax_errors_throw_at_start(self):
        # start() compiles the module scripts it maps (as rampart-httpd -t
        # does): the error names the option and the script's line
        script = r'''
var server = require("rampart-server");
try { server.start({bind: "127.0.0.1:{port}", user: "nobody",
                    map: {"/x": {module: "{dir}/bad.js"}}}); }
catch (e) { console.log("ERR1 " + e.message); }
try { server.start({bind: "127.0.0.1:{port}", user: "nobody", beginFunc: {module: "{dir}/bad.js"},
                    map: {"/x": function () { return {txt: "x"}; }}}); }
catch (e) { console.log("ERR2 " + e.message); }
'''
        files = {"bad.js": "module.exports = function () {\n  return {txt: 'x' +};\n};\n"}
        with JsServer(script, files=files, wait=False) as srv:
            srv.wait()
            out = srv.stdout()
            bad = srv.path("bad.js")
            self.assertIn("ERR1 start(): option 'map['/x']': MapModule /x: %s:2: SyntaxError" % bad,
                          out)
            self.assertIn("ERR2 start(): option 'beginFunc': BeginFunc: %s:2: SyntaxError" % bad,
                          out)


LOGS = r'''
var server = require("rampart-server");
var u = rampart.utils;
server.start({bind: "127.0.0.1:{port}", user: "nobody", log: true,
  accessLog: "{dir}/access.log", errorLog: "{dir}/error.log",
  map: {"/w": function (req) {
    u.fprintf(u.accessLog, "CUSTOM-ACCESS %s %d\n", req.path.path, 7);
    u.fprintf(u.errorLog, "CUSTOM-ERROR %s\n", req.method);
    return {txt: "ok"};
  }}});
'''


@unittest.skipUnless(HAVE_RAMPART, "rampart not built")
class TestLogHandles(unittest.TestCase):
    def test_fprintf_to_access_and_error_log(self):
        with JsServer(LOGS) as srv:
            st, _, b = srv.request("GET", "/w")
            self.assertEqual((st, b), (200, b"ok"))
            acc = lambda: read(srv.path("access.log"))
            err = lambda: read(srv.path("error.log"))
            self.assertTrue(wait_until(lambda: "CUSTOM-ACCESS /w 7\n" in acc()))
            self.assertTrue(wait_until(lambda: "CUSTOM-ERROR GET\n" in err()))
            # the core's own line is still written (no logFunc)
            self.assertTrue(wait_until(lambda: '"GET /w HTTP/1.1" 200' in acc()))


LOGFUNC = r'''
var server = require("rampart-server");
var u = rampart.utils;
function lf(d, line) {
    if (d.path == "/quiet") return;          /* no line at all */
    if (d.path == "/lfboom") throw new Error("logFunc exploded");
    u.fprintf(u.accessLog, "LF %s\n%s", JSON.stringify(d), line);
}
server.start({bind: "127.0.0.1:{port}", user: "nobody", log: true, scriptTimeout: 5,
  accessLog: "{dir}/access.log", logFunc: lf,
  map: {"/": "{dir}/www", "/j": function () { return {txt: "js"}; },
        "/quiet": function () { return {txt: "q"}; },
        /* req.reply() from a timer ends the response inside a JS call */
        "/later": function (req) {
            setTimeout(function () { req.reply({txt: "later"}); }, 1);
            return {defer: true};
        },
        "/lfboom": function () { return {txt: "b"}; }}});
'''


@unittest.skipUnless(HAVE_RAMPART, "rampart not built")
class TestLogFunc(unittest.TestCase):
    def test_logfunc_replaces_the_line(self):
        with JsServer(LOGFUNC, files=FILES) as srv:
            acc = lambda: read(srv.path("access.log"))
            st, _, _ = srv.request("GET", "/j?a=1", headers={"User-Agent": "hooktest",
                                                              "Referer": "http://r/"})
            self.assertEqual(st, 200)
            self.assertTrue(wait_until(lambda: "LF " in acc()))
            lines = acc().splitlines()
            i = [k for k, l in enumerate(lines) if l.startswith("LF ")][0]
            d = json.loads(lines[i][3:])
            for k in ("addr", "dateStr", "method", "path", "query", "protocol", "code",
                      "length", "referer", "userAgent", "timeMs"):
                self.assertIn(k, d)
            self.assertEqual((d["addr"], d["method"], d["path"], d["query"], d["code"],
                              d["length"], d["referer"], d["userAgent"]),
                             ("127.0.0.1", "GET", "/j", "a=1", 200, 2, "http://r/", "hooktest"))
            # logline: the core's own line, passed on and written once
            self.assertIn('"GET /j?a=1 HTTP/1.1" 200', lines[i + 1])
            self.assertEqual(sum('"GET /j?a=1' in l for l in lines), 1)
            # static files are logged through it too
            srv.request("GET", "/a.txt")
            self.assertTrue(wait_until(lambda: '"path":"/a.txt"' in acc()))
            # a deferred reply: the LOG phase runs inside the timer's call
            st, _, b = srv.request("GET", "/later")
            self.assertEqual((st, b), (200, b"later"))
            self.assertTrue(wait_until(lambda: '"path":"/later"' in acc()))
            # nothing written: no line
            srv.request("GET", "/quiet")
            # a throwing logFunc: logged, and the core's line is written
            st, _, _ = srv.request("GET", "/lfboom")
            self.assertEqual(st, 200)
            self.assertTrue(wait_until(lambda: '"GET /lfboom HTTP/1.1" 200' in acc()))
            self.assertTrue(wait_until(lambda: "logFunc exploded" in srv.stderr()))
            self.assertNotIn("/quiet", acc())


WS = r'''
var server = require("rampart-server");
function begin(req) {
    if (!req.path) return;
    if (req.path.path == "/wsno") return false;
    if (req.path.path == "/wsobj") return {hello: "from beginFunc"};
    req.beginRuns = (req.beginRuns || 0) + 1;
}
function end(req) {
    console.log("ENDFUNC " + req.path.path + " reply=" + JSON.stringify(req.reply) +
                " after=" + req.disconnected);
    req.reply.changed = 1;
    if (req.path.path == "/wsthrow") throw new Error("ws endFunc exploded");
    return {ignored: true};
}
function chat(req) {
    req.wsOnDisconnect(function () { req.disconnected = "yes"; });
    return {count: req.count, beginRuns: req.beginRuns};
}
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1,
  beginFunc: begin, endFunc: end,
  map: {"ws:/wsa": chat, "ws:/wsno": chat, "ws:/wsobj": chat, "ws:/wsthrow": chat}});
'''


@unittest.skipUnless(HAVE_WS, "rampart or mod_ws.so not built")
class TestWebsocketHooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = JsServer(WS)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        rep = cls.srv.sanitizer_report()
        cls.srv.remove_dir()
        if rep:
            raise AssertionError("sanitizer report from rampart:\n" + rep)

    def ws(self, path):
        c = WSClient.connect("127.0.0.1", self.srv.port, path)
        self.addCleanup(c.shutdown)
        return c

    def jmsg(self, c):
        op, payload = c.recv_message()
        self.assertEqual(op, OP_TEXT, payload)
        return json.loads(payload)

    def test_begin_once_end_after_close(self):
        c = self.ws("/wsa")
        self.assertEqual(self.jmsg(c), {"count": 0, "beginRuns": 1})
        for n in (1, 2):
            c.send_text("x")
            self.assertEqual(self.jmsg(c), {"count": n, "beginRuns": 1})
        self.assertEqual(c.close(1000)[0], 1000)
        # after wsOnDisconnect, with req.reply = {}
        self.assertTrue(wait_until(
            lambda: 'ENDFUNC /wsa reply={} after=yes' in self.srv.stdout()))

    def test_begin_false_closes(self):
        c = self.ws("/wsno")
        code, _ = c.recv_close()
        self.assertEqual(code, 1008)

    def test_begin_object_is_first_message(self):
        c = self.ws("/wsobj")
        self.assertEqual(self.jmsg(c), {"hello": "from beginFunc"})
        c.send_text("x")  # later messages call the function
        self.assertEqual(self.jmsg(c)["count"], 1)

    def test_end_throwing_is_logged(self):
        c = self.ws("/wsthrow")
        self.jmsg(c)
        self.assertEqual(c.close(1000)[0], 1000)
        self.assertTrue(wait_until(lambda: "ws endFunc exploded" in self.srv.stderr()))
        c2 = self.ws("/wsa")  # the heap goes on
        self.assertEqual(self.jmsg(c2)["count"], 0)


if __name__ == "__main__":
    unittest.main()


ERRSTACK = r'''
var server = require("rampart-server");
function parseBad() { try { JSON.parse("{"); } catch (e) { return e; } }
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1, map: {
  "/stack": function (req) {
    var nul; try { nul.x; } catch (e) { nul = e; }
    var own = new Error("own"); own.stack = "assigned";
    var mod; try { require("{dir}/bad.js"); } catch (e) { mod = e; }
    return {json: {json: parseBad().stack, nul: nul.stack, own: own.stack, mod: mod.stack,
                   str: String(nul)}};
  }}});
'''


@unittest.skipUnless(HAVE_RAMPART, "rampart not built")
class TestErrStack(unittest.TestCase):
    """err.stack read by a script in a worker heap is the cleaned trace the
    log shows (errstack.c): no C source frames, no Duktape flags."""

    def test_stack_is_cleaned(self):
        with JsServer(ERRSTACK, files={"bad.js": "module.exports = 1 +;\n"}) as srv:
            st, _, b = srv.request("GET", "/stack")
            self.assertEqual(st, 200, b)
            d = json.loads(b)
            script = srv.path("test.js")
            for k in ("json", "nul", "mod"):
                self.assertNotRegex(d[k], r"\.c:\d+", k)
                for flag in ("internal", "preventsyield", "strict"):
                    self.assertNotIn(flag, d[k], k)
            self.assertEqual(d["json"].split("\n"), [
                "SyntaxError: invalid json (at offset 2)",
                "    at parse (native)",
                "    at parseBad (%s:3)" % script,
                "    at [anon] (%s:9)" % script])
            self.assertEqual(d["nul"].split("\n"), [
                "TypeError: cannot read property 'x' of undefined",
                "    at [anon] (%s:6)" % script])
            # a syntax error in a module starts at its own place
            self.assertIn("\n    at %s:1\n" % srv.path("bad.js"), d["mod"])
            self.assertEqual(d["own"], "assigned")  # assignment still works
            self.assertEqual(d["str"], "TypeError: cannot read property 'x' of undefined")


DEVPAGE = r'''
var server = require("rampart-server");
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1, developerMode: true, map: {
  "/f/": function (req) {
    /* an error quoting a client-chosen file name, as a failed read would */
    rampart.utils.readFile("{dir}/no-such-dir/" + req.path.file);
  }}});
'''
HOSTILE = "<img src=x onerror='alert(1)'>&\".txt"


@unittest.skipUnless(HAVE_RAMPART, "rampart not built")
class TestDevErrorPage(unittest.TestCase):
    """The developer-mode script-error page (errpage.c): styled like the
    demo's pages, every inserted value HTML-escaped."""

    def test_hostile_file_name_is_escaped(self):
        import html
        import re
        import urllib.parse
        with JsServer(DEVPAGE) as srv:
            st, h, b = srv.request("GET", "/f/" + urllib.parse.quote(HOSTILE))
            self.assertEqual(st, 500, b)
            self.assertTrue(h["content-type"].startswith("text/html"))
            text = b.decode()
            self.assertNotIn("<img", text)
            self.assertNotIn("onerror='", text)
            pre = re.search(r"<pre>(.*)</pre>", text, re.S).group(1)
            self.assertIn(HOSTILE, html.unescape(pre))
            code = re.search(r"<code>(GET [^<]*)</code>", text).group(1)
            self.assertEqual(html.unescape(code), "GET /f/" + HOSTILE)
            # the demo site's look, inline
            self.assertIn("<style>", text)
            self.assertIn("--accent:#b5482a", text)
            self.assertIn("<h1>500 Internal Server Error</h1>", text)
            self.assertNotIn("<link", text)

