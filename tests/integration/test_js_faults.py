"""JavaScript faults end only their request, never the process (issue 9,
defects 1-3), while a client on a healthy route keeps being served:

  - recursion through natives ([0].map(f) in f, JSON.stringify and a getter)
    throws RangeError "C stack depth limit" (the native stack check) instead
    of crashing: 500 in developer mode, 404 otherwise (any JS error), and a
    script can catch it - in worker heaps, the websocket heap and the main
    script's heap;
  - a Duktape fatal error (__rptest.fatal, RAMPART_TEST_HOOKS) lands in
    js_guard: 500 and a fresh heap; in the websocket heap its websockets
    close with 1011 and new ones get a new heap; in the main script it ends
    the script with status 1 instead of an abort;
  - the same for a fatal error in a callback the event loop runs: a
    setTimeout callback or a rampart.event callback in a worker heap (the
    deferred request waiting on the heap gets 500, the next request a
    fresh heap), a chunk callback (the chunked reply ends), a main-script
    timer after start() (the server keeps serving, the main heap's timers
    stop) and a main-script timer without a server (exit status 1);
  - ScriptTimeout holds for long natives (regexp backtracking, sort without
    a comparator, JSON.parse) within 2x the configured value;
  - ScriptMemoryLimit (the directive, or start()'s scriptMemoryLimit): an
    allocation loop answers 500 and the heap is recreated; an allocation
    loop is also stopped by ScriptTimeout;
  - SIGTERM during a for(;;) (or allocation) handler without ScriptTimeout:
    the request gets 503 once GracefulTimeout has passed and the process
    exits cleanly soon after.

Run: cd tests/integration && python3 -m unittest test_js_faults -v
"""

import os
import resource
import signal
import threading
import time
import unittest

from jsrun import BUILD, RAMPART, JsServer, wait_until
from rptest import Server
from wsclient import OP_TEXT, WSClient

HAVE_JS = os.path.exists(RAMPART)
HAVE_WS = os.path.exists(os.path.join(BUILD, "modules", "mod_ws.so"))
HOOKS = dict(os.environ, RAMPART_TEST_HOOKS="1")

TIMEOUT = 1.0  # scriptTimeout of the timeout tests
# A runaway never ends; a loaded ASan machine may answer late: the bound only
# has to tell the two apart.
MARGIN = 10.0


class Healthy:
    """A client asking `path` over and over on fresh connections, in a thread,
    while the test hits the bad routes; every answer must be 200 `body`."""

    def __init__(self, srv, path="/ok", body=b"ok"):
        self.srv, self.path, self.body = srv, path, body
        self.ok = 0
        self.bad = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                st, _, body = self.srv.get(self.path, timeout=30)
                if (st, body) == (200, self.body):
                    self.ok += 1
                else:
                    self.bad.append((st, body[:200]))
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.bad.append(repr(e))

    def served_more(self, n=3):
        """Wait until n more answers came (the server still serves)."""
        want = self.ok + n
        wait_until(lambda: self.ok >= want or self.bad, 30, what="%d healthy answers" % n)

    def finish(self, tc):
        self._stop.set()
        self._t.join(60)
        tc.assertEqual(self.bad, [], "the healthy route failed")
        tc.assertGreater(self.ok, 0)


WORKERS = r"""
var server = require("rampart-server");
var hits = 0;
function rec() { return [0].map(rec); }
function jsonRec() {
    var o = {get x() { return JSON.stringify(o); }};
    return JSON.stringify(o);
}
function numbers(n) {
    var a = [];
    for (var i = 0; i < n; i++) a.push((i * 7919) % 1000003);
    return a;
}
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 2,
              developerMode: DEV, scriptTimeout: %TIMEOUT%, map: {
    "/ok": function () { return {txt: "ok"}; },
    "/rec": function () { rec(); return {txt: "unreachable"}; },
    "/json": function () { jsonRec(); return {txt: "unreachable"}; },
    "/caught": function () {
        var names = [];
        try { rec(); } catch (e) { names.push(e.name + ": " + e.message); }
        try { jsonRec(); } catch (e) { names.push(e.name + ": " + e.message); }
        return {txt: names.join("|")};
    },
    /* catastrophic backtracking, in a loop so that one call is not all */
    "/regex": function () {
        for (;;) /^(a+)+$/.test("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!");
    },
    /* sorts without a comparator (no call back into bytecode) */
    "/sort": function () {
        var a = numbers(200000);
        for (;;) { a.reverse(); a.sort(); }
    },
    "/sortcmp": function () {
        var a = numbers(200000);
        for (;;) { a.reverse(); a.sort(function (x, y) { return x - y; }); }
    },
    "/jsonparse": function () {
        var o = [];
        for (var i = 0; i < 50000; i++) o.push({a: i, b: [i, "x"]});
        var s = JSON.stringify(o);
        for (;;) JSON.parse(s);
    }
}});
""".replace("%TIMEOUT%", str(TIMEOUT))


@unittest.skipUnless(HAVE_JS, "rampart not built")
class TestRecursion(unittest.TestCase):
    """Defect 1: recursion through natives is a RangeError, not a crash."""

    def test_recursion_dev_500_process_survives(self):
        with JsServer(WORKERS.replace("DEV", "true")) as srv:
            healthy = Healthy(srv)
            for _ in range(3):
                for path in ("/rec", "/json"):
                    st, _, body = srv.get(path)
                    self.assertEqual(st, 500, body)
                    self.assertIn(b"RangeError", body)
                    self.assertIn(b"C stack depth limit", body)
                    self.assertTrue(srv.alive())
            healthy.served_more()
            healthy.finish(self)
            st, _, body = srv.get("/caught")
            self.assertEqual((st, body), (200, b"RangeError: C stack depth limit|"
                                              b"RangeError: C stack depth limit"))
            self.assertTrue(srv.alive())

    def test_recursion_small_stack(self):
        """Count limits alone do not know the stack: with 1 MiB thread stacks
        (RLIMIT_STACK at start) the recursion must still be a RangeError."""
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, hard))
        try:
            srv = JsServer(WORKERS.replace("DEV", "true"))
        finally:
            resource.setrlimit(resource.RLIMIT_STACK, (soft, hard))
        with srv:
            for path in ("/rec", "/json", "/rec"):
                st, _, body = srv.get(path)
                self.assertEqual(st, 500, body)
                self.assertIn(b"C stack depth limit", body)
            self.assertEqual(srv.get("/ok")[:3:2], (200, b"ok"))
            self.assertTrue(srv.alive())

    def test_recursion_non_dev_is_a_js_error(self):
        with JsServer(WORKERS.replace("DEV", "false")) as srv:
            st, _, _ = srv.get("/rec")
            self.assertEqual(st, 404)  # a JS error without developerMode
            st, _, _ = srv.get("/json")
            self.assertEqual(st, 404)
            self.assertEqual(srv.get("/ok")[:3:2], (200, b"ok"))
            wait_until(lambda: "C stack depth limit" in srv.stderr(), 5, what="the error logged")

    def test_main_script_recursion_caught(self):
        srv = JsServer(r"""
            function rec() { return [0].map(rec); }
            var o = {get x() { return JSON.stringify(o); }};
            try { rec(); } catch (e) { console.log("map " + e.name); }
            try { JSON.stringify(o); } catch (e) { console.log("json " + e.name); }
            rec();
        """, wait=False)
        rc = srv.wait(60)
        self.assertEqual(rc, 1, srv.output())  # the last rec() is uncaught
        self.assertEqual(srv.stdout().split(), ["map", "RangeError", "json", "RangeError"])
        self.assertIn("uncaught error: RangeError: C stack depth limit", srv.stderr())
        self.assertEqual(srv.sanitizer_report(), "")


FATAL = r"""
var server = require("rampart-server");
var hits = 0;
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1,
              developerMode: DEV, map: {
    "/ok": function () { return {txt: "ok"}; },
    "/hits": function () { hits++; return {txt: String(hits)}; },
    "/fatal": function () { hits = 1000; __rptest.fatal("test fatal"); return {txt: "no"}; },
    "ws:/echo": function (req) {
        return req.count ? "echo " + rampart.utils.bufferToString(req.body) : "hello";
    },
    "ws:/fatal": function (req) {
        if (req.count) __rptest.fatal("ws fatal");
        return "hello";
    },
    "ws:/rec": function (req) {
        function rec() { return [0].map(rec); }
        if (req.count) rec();
        return "hello";
    }
}});
"""


@unittest.skipUnless(HAVE_JS, "rampart not built")
class TestFatal(unittest.TestCase):
    """Defect 1: a Duktape fatal error ends its request (500), the heap is
    replaced, the process goes on."""

    def test_fatal_in_handler(self):
        for dev in ("true", "false"):
            with JsServer(FATAL.replace("DEV", dev), env=HOOKS) as srv:
                self.assertEqual(srv.get("/hits")[2], b"1")
                self.assertEqual(srv.get("/hits")[2], b"2")
                st, _, body = srv.get("/fatal")
                self.assertEqual(st, 500, body)
                self.assertIn(b"Duktape fatal error: test fatal", body)
                # a fresh heap: the globals as the main script had them
                self.assertEqual(srv.get("/hits")[2], b"1")
                self.assertEqual(srv.get("/ok")[:3:2], (200, b"ok"))
                self.assertTrue(srv.alive())
                self.assertIn("Duktape fatal error in a worker heap: test fatal", srv.stderr())

    def test_fatal_repeated_with_healthy_client(self):
        with JsServer(FATAL.replace("DEV", "false"), env=HOOKS) as srv:
            healthy = Healthy(srv)
            for _ in range(10):
                self.assertEqual(srv.get("/fatal")[0], 500)
            healthy.served_more()
            healthy.finish(self)
            self.assertTrue(srv.alive())

    def test_main_script_fatal_exits_1(self):
        srv = JsServer('console.log("before"); __rptest.fatal("main fatal"); '
                       'console.log("after");', env=HOOKS, wait=False)
        rc = srv.wait(30)
        self.assertEqual(rc, 1, srv.output())  # not an abort (-6)
        self.assertEqual(srv.stdout().split(), ["before"])
        self.assertIn("Duktape fatal error in the main heap: main fatal", srv.stderr())
        self.assertEqual(srv.sanitizer_report(), "")

    @unittest.skipUnless(HAVE_WS, "mod_ws not built")
    def test_websocket_recursion_and_fatal(self):
        with JsServer(FATAL.replace("DEV", "false"), env=HOOKS) as srv:
            clients = []

            def ws(path):
                c = WSClient.connect("127.0.0.1", srv.port, path)
                clients.append(c)
                self.assertEqual(c.recv_message(), (OP_TEXT, b"hello"))
                return c

            try:
                other = ws("/echo")
                r = ws("/rec")
                r.send_text("go")
                self.assertEqual(r.recv_close()[0], 1011)
                other.send_text("a")  # a RangeError: the heap goes on
                self.assertEqual(other.recv_message(), (OP_TEXT, b"echo a"))
                wait_until(lambda: "C stack depth limit" in srv.stderr(), 5,
                           what="the RangeError logged")

                f = ws("/fatal")
                f.send_text("fatal")
                self.assertEqual(f.recv_close()[0], 1011)
                # the heap was broken: its other websockets are closed too
                self.assertEqual(other.recv_close()[0], 1011)
                again = ws("/echo")  # a new heap serves new websockets
                again.send_text("b")
                self.assertEqual(again.recv_message(), (OP_TEXT, b"echo b"))
                self.assertEqual(srv.get("/ok")[:3:2], (200, b"ok"))
                self.assertIn("Duktape fatal error in the websocket heap", srv.stderr())
            finally:
                for c in clients:
                    c.shutdown()


CALLBACKS = r"""
var server = require("rampart-server");
var hits = 0;
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1,
              developerMode: DEV, map: {
    "/ok": function () { return {txt: "ok"}; },
    "/hits": function () { hits++; return {txt: String(hits)}; },
    /* deferred replies whose heap a callback breaks */
    "/timer": function () {
        hits = 1000;
        setTimeout(function () { __rptest.fatal("timer fatal"); }, 10);
        return {defer: true};
    },
    "/event": function () {
        hits = 1000;
        rampart.event.on("boom", "fatal", function () { __rptest.fatal("event fatal"); });
        rampart.event.trigger("boom", 1);
        return {defer: true};
    },
    /* a chunked reply whose third chunk breaks the heap */
    "/chunk": function () {
        hits = 1000;
        return {chunk: true, chunkDelay: 5, txt: function (req) {
            if (req.chunkIndex == 2) __rptest.fatal("chunk fatal");
            req.chunkSend("c" + req.chunkIndex + "\n");
        }};
    }
}});
"""


@unittest.skipUnless(HAVE_JS, "rampart not built")
class TestFatalInCallbacks(unittest.TestCase):
    """Defect 1: a Duktape fatal error in a callback the event loop runs
    (timers, rampart.event, chunk callbacks) never takes the process down."""

    def check_reset(self, srv, path, msg, dev):
        self.assertEqual(srv.get("/hits")[0], 200)  # hits >= 1 in the heap
        st, _, body = srv.get(path)
        self.assertEqual(st, 500, body)
        if dev:
            self.assertIn(b"Duktape fatal error: " + msg.encode(), body)
        wait_until(lambda: "Duktape fatal error in a worker heap: " + msg in srv.stderr(), 10,
                   what="the fatal error logged")
        # the next request gets a fresh heap: the globals as the script had them
        self.assertEqual(srv.get("/hits")[2], b"1")
        self.assertEqual(srv.get("/ok")[:3:2], (200, b"ok"))
        self.assertTrue(srv.alive())

    def test_timer_callback_in_worker(self):
        for dev in ("true", "false"):
            with JsServer(CALLBACKS.replace("DEV", dev), env=HOOKS) as srv:
                self.check_reset(srv, "/timer", "timer fatal", dev == "true")
                self.assertIn("setTimeout callback", srv.stderr())

    def test_event_callback_in_worker(self):
        with JsServer(CALLBACKS.replace("DEV", "true"), env=HOOKS) as srv:
            self.check_reset(srv, "/event", "event fatal", True)
            self.assertIn("rampart.event callback", srv.stderr())
            self.check_reset(srv, "/event", "event fatal", True)  # registered anew

    def test_chunk_callback(self):
        with JsServer(CALLBACKS.replace("DEV", "false"), env=HOOKS) as srv:
            healthy = Healthy(srv)
            for _ in range(3):
                self.assertEqual(srv.get("/hits")[0], 200)  # hits >= 1 in the heap
                st, _, body = srv.get("/chunk")
                self.assertEqual((st, body), (200, b"c0\nc1\n"))  # ended after two chunks
                self.assertEqual(srv.get("/hits")[2], b"1")
            healthy.served_more()
            healthy.finish(self)
            self.assertIn("Duktape fatal error in a worker heap: chunk fatal", srv.stderr())
            self.assertIn("the chunked reply ends after 2 chunks", srv.stderr())

    @unittest.skipUnless(HAVE_WS, "mod_ws not built")
    def test_timer_callback_in_websocket_heap(self):
        """The websocket heap's timer breaks it: its websockets close with
        1011 at the heap's next use, which replaces it."""
        with JsServer(CALLBACKS.replace("DEV", "false").replace('"/ok":', r"""
            "ws:/t": function (req) {
                if (req.count == 1)
                    setTimeout(function () { __rptest.fatal("ws timer fatal"); }, 10);
                return "got " + req.count;
            },
            "/ok":"""), env=HOOKS) as srv:
            c = WSClient.connect("127.0.0.1", srv.port, "/t")
            try:
                self.assertEqual(c.recv_message(), (OP_TEXT, b"got 0"))
                c.send_text("a")
                self.assertEqual(c.recv_message(), (OP_TEXT, b"got 1"))
                wait_until(lambda: "ws timer fatal" in srv.stderr(), 10, what="the fatal error")
                c.send_text("b")
                self.assertEqual(c.recv_close()[0], 1011)
            finally:
                c.shutdown()
            d = WSClient.connect("127.0.0.1", srv.port, "/t")  # a new heap
            try:
                self.assertEqual(d.recv_message(), (OP_TEXT, b"got 0"))
            finally:
                d.shutdown()
            self.assertEqual(srv.get("/ok")[:3:2], (200, b"ok"))
            self.assertIn("Duktape fatal error in the websocket heap", srv.stderr())

    def test_main_timer_after_start(self):
        with JsServer(FATAL.replace("DEV", "false") + r"""
            var ticks = 0;
            setInterval(function () {
                console.log("tick " + (++ticks));
                if (ticks == 3) __rptest.fatal("main timer fatal");
            }, 20);
        """, env=HOOKS) as srv:
            wait_until(lambda: "main timer fatal" in srv.stderr(), 15, what="the fatal error")
            healthy = Healthy(srv)
            healthy.served_more(5)
            self.assertEqual(srv.get("/hits")[2], b"1")
            healthy.finish(self)
            self.assertTrue(srv.alive())
            self.assertIn("the main script's timers and rampart.event callbacks stop; the server "
                          "goes on", srv.stderr())
            # the interval is gone with the heap: nothing ticked after the third
            self.assertEqual(srv.stdout().split("\n")[-4:], ["tick 1", "tick 2", "tick 3", ""])

    def test_main_timer_without_server(self):
        srv = JsServer(r"""
            console.log("start");
            setTimeout(function () { console.log("later"); }, 5000);
            setTimeout(function () {
                console.log("tick");
                __rptest.fatal("lonely fatal");
                console.log("after");
            }, 10);
        """, env=HOOKS, wait=False)
        rc = srv.wait(30)
        self.assertEqual(rc, 1, srv.output())  # not an abort (-6), not the 5 s timer
        self.assertEqual(srv.stdout().split(), ["start", "tick"])
        self.assertIn("rampart: setTimeout callback: Duktape fatal error: lonely fatal; the "
                      "script ends (status 1)", srv.stderr())
        self.assertEqual(srv.sanitizer_report(), "")

    def test_main_event_without_server(self):
        srv = JsServer(r"""
            rampart.event.on("e", "n", function () { __rptest.fatal("event fatal"); });
            rampart.event.trigger("e", 1);
        """, env=HOOKS, wait=False)
        self.assertEqual(srv.wait(30), 1, srv.output())
        self.assertIn("rampart.event callback: Duktape fatal error: event fatal", srv.stderr())
        self.assertEqual(srv.sanitizer_report(), "")


@unittest.skipUnless(HAVE_JS, "rampart not built")
class TestNativeTimeout(unittest.TestCase):
    """Defect 3: ScriptTimeout holds for long natives (within 2x)."""

    def timed_500(self, srv, path):
        t0 = time.monotonic()
        st, _, body = srv.get(path, timeout=120)
        elapsed = time.monotonic() - t0
        self.assertEqual(st, 500, body)
        self.assertIn(b"script timed out", body)
        self.assertLess(elapsed, TIMEOUT + MARGIN, "%s took %.2fs" % (path, elapsed))
        self.assertGreaterEqual(elapsed, TIMEOUT * 0.9)

    def test_long_natives_time_out(self):
        with JsServer(WORKERS.replace("DEV", "false")) as srv:
            healthy = Healthy(srv)
            for path in ("/regex", "/sort", "/sortcmp", "/jsonparse"):
                with self.subTest(path=path):
                    self.timed_500(srv, path)
                    self.assertTrue(srv.alive())
            healthy.served_more()
            healthy.finish(self)


CONF = """LoadModule js mod_js.so
ScriptMemoryLimit {limit}
ScriptTimeout {timeout}
MapModule /ok js/ok.js
MapModule /grow js/grow.js
MapModule /churn js/churn.js
MapModule /hits js/hits.js
"""

CONF_FILES = {
    "js/ok.js": "module.exports = function () { return {txt: 'ok'}; };",
    "js/grow.js": "module.exports = function () { var a = []; "
                  "for (;;) a.push(new Array(1e5)); };",
    "js/churn.js": "module.exports = function () { var a = []; "
                   "for (;;) { a.push(new Array(1e4)); if (a.length > 50) a = []; } };",
    "js/hits.js": "var n = 0; module.exports = function () { return {txt: String(++n)}; };",
}


@unittest.skipUnless(HAVE_JS, "mod_js not built")
class TestMemory(unittest.TestCase):
    """Defect 2: an allocation loop ends its request, not the process."""

    def test_memory_limit_500_and_heap_recreated(self):
        conf = CONF.format(limit="24m", timeout=0)
        with Server(conf=conf, files=CONF_FILES, threads=1) as srv:
            self.assertEqual(srv.request("GET", "/hits")[2], b"1")
            self.assertEqual(srv.request("GET", "/hits")[2], b"2")
            st, _, body = srv.request("GET", "/grow", timeout=120)
            self.assertEqual(st, 500, body)
            self.assertIn(b"ScriptMemoryLimit (25165824 bytes)", body)
            self.assertEqual(srv.request("GET", "/hits")[2], b"1")  # a new heap
            self.assertEqual(srv.request("GET", "/ok")[2], b"ok")
            st, _, body = srv.request("GET", "/grow", timeout=120)
            self.assertEqual(st, 500, body)
            self.assertEqual(srv.request("GET", "/ok")[2], b"ok")

    def test_allocation_loop_stopped_by_timeout(self):
        conf = CONF.format(limit="off", timeout=TIMEOUT)
        with Server(conf=conf, files=CONF_FILES, threads=2) as srv:
            t0 = time.monotonic()
            st, _, body = srv.request("GET", "/churn", timeout=120)
            self.assertEqual(st, 500, body)
            self.assertLess(time.monotonic() - t0, TIMEOUT + MARGIN)
            self.assertEqual(srv.request("GET", "/ok")[2], b"ok")

    def test_bad_limit_refused(self):
        with Server(conf="LoadModule js mod_js.so\nScriptMemoryLimit lots\n",
                    expect_fail=True) as srv:
            self.assertNotEqual(srv.returncode, 0)
            self.assertIn("ScriptMemoryLimit: expected bytes", srv.output())


START_LIMIT = r"""
var server = require("rampart-server");
var n = 0;
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1,
              scriptMemoryLimit: LIMIT, map: {
    "/ok": function () { return {txt: "ok"}; },
    "/hits": function () { return {txt: String(++n)}; },
    "/grow": function () { var a = []; for (;;) a.push(new Array(1e5)); }
}});
"""


@unittest.skipUnless(HAVE_JS, "rampart not built")
class TestStartMemoryLimit(unittest.TestCase):
    """start()'s scriptMemoryLimit is ScriptMemoryLimit."""

    def test_size_string(self):
        with JsServer(START_LIMIT.replace("LIMIT", '"16m"')) as srv:
            self.assertEqual(srv.get("/hits")[2], b"1")
            st, _, body = srv.get("/grow", timeout=120)
            self.assertEqual(st, 500, body)
            self.assertIn(b"ScriptMemoryLimit (16777216 bytes)", body)
            self.assertEqual(srv.get("/hits")[2], b"1")  # a new heap
            self.assertTrue(srv.alive())

    def test_number(self):
        with JsServer(START_LIMIT.replace("LIMIT", str(20 << 20))) as srv:
            st, _, body = srv.get("/grow", timeout=120)
            self.assertEqual(st, 500, body)
            self.assertIn(b"ScriptMemoryLimit (20971520 bytes)", body)
            self.assertEqual(srv.get("/ok")[:3:2], (200, b"ok"))

    def test_off_and_bad_values(self):
        for off in ("false", '"off"'):
            with JsServer(START_LIMIT.replace("LIMIT", off)) as srv:
                self.assertEqual(srv.get("/ok")[:3:2], (200, b"ok"))
        for bad, msg in (("true", "option 'scriptMemoryLimit' must be"),
                         ('"lots"', "ScriptMemoryLimit: expected bytes"),
                         ("-1", "option 'scriptMemoryLimit' must be")):
            srv = JsServer(START_LIMIT.replace("LIMIT", bad), wait=False)
            self.assertNotEqual(srv.wait(30), 0, srv.output())
            self.assertIn(msg, srv.stderr())
            srv.remove_dir()


STOP = r"""
var server = require("rampart-server");
server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 2, gracefulTimeout: GRACE,
              map: {
    "/ok": function () { return {txt: "ok"}; },
    "/loop": function () { console.log("looping"); for (;;) {} },
    "/alloc": function () {
        console.log("looping");
        var a = [];
        for (;;) { a.push(new Array(1e4)); if (a.length > 50) a = []; }
    }
}});
"""
GRACE = 1.0


@unittest.skipUnless(HAVE_JS, "rampart not built")
class TestStop(unittest.TestCase):
    """Defect 2: without ScriptTimeout a runaway handler still lets SIGTERM
    stop the process within GracefulTimeout (+ a margin); it answers 503."""

    def stop_during(self, path):
        with JsServer(STOP.replace("GRACE", str(GRACE))) as srv:
            result = {}

            def bad():
                try:
                    result["resp"] = srv.get(path, timeout=60)
                except Exception as e:  # noqa: BLE001
                    result["err"] = repr(e)

            t = threading.Thread(target=bad, daemon=True)
            t.start()
            wait_until(lambda: "looping" in srv.stdout(), 15, what="the handler running")
            self.assertEqual(srv.get("/ok")[:3:2], (200, b"ok"))  # the other worker
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            rc = srv.proc.wait(30)
            elapsed = time.monotonic() - t0
            t.join(30)
            self.assertEqual(rc, 0, srv.output())
            self.assertLess(elapsed, GRACE + MARGIN, "stopped after %.2fs" % elapsed)
            self.assertGreaterEqual(elapsed, GRACE * 0.9)
            self.assertIn("resp", result, result)
            st, _, body = result["resp"]
            self.assertEqual(st, 503, body)
            self.assertIn(b"the server is stopping", body)

    def test_sigterm_stops_busy_loop(self):
        self.stop_during("/loop")

    def test_sigterm_stops_allocation_loop(self):
        self.stop_during("/alloc")


if __name__ == "__main__":
    unittest.main()
