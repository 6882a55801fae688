"""mod_js websockets ("ws:" routes, req.ws*) and rampart.event, with the real
RFC 6455 client of wsclient.py.

  - the request object on connect and per message (count, body, wsIsBin,
    headers/query/cookies, properties that persist, websocketId), members
    first read on a later message;
  - return values and req.wsSend (String, Object, Buffer, numbers, null,
    several per message, the server buffer first), wsEnd([immediate]),
    wsOnDisconnect, errors and timeouts (1011, the heap goes on);
  - rampart.event on/off/trigger across worker threads, from an HTTP route,
    into the main script's heap, the structured copy of triggerVar, and
    registrations removed in wsOnDisconnect;
  - the spec's chat across two worker threads;
  - a script timeout in an HTTP route resets the HTTP heap but not the
    websocket heap;
  - ws: routes from a conf file (rampart-httpd).

Run: cd tests/integration && python3 -m unittest test_js_ws -v
"""

import json
import os
import time
import unittest

from jsrun import JsServer, RAMPART, wait_until
from rptest import BUILD, Server
from wsclient import WSClient, ConnectionClosed, OP_TEXT, OP_BINARY, OP_CLOSE

HAVE = os.path.exists(RAMPART) and os.path.exists(os.path.join(BUILD, "modules", "mod_ws.so"))

SCRIPT = r"""
var server = require("rampart-server");

var heapTag = null;     /* per heap: "h" + the id of its first websocket */
var zombie = 0;         /* event callbacks whose websocket had closed */
var disconnected = [];  /* ids whose wsOnDisconnect ran in this heap */
var httpHits = 0;       /* per HTTP heap (recreated after a timeout) */
var wsHits = 0;         /* per websocket heap */

/* The main script's heap answers "tomain" with "frommain". */
rampart.event.on("tomain", "m", function (cbv, data) {
    rampart.event.trigger("frommain", {cbv: cbv, got: data, main: true});
}, "main-cbv");

function tag(req) {
    if (heapTag === null)
        heapTag = "h" + req.websocketId;
    return heapTag;
}

function basic(req) {
    tag(req);
    if (req.count == 0) {
        req.myState = {n: 0};
        return {count: req.count, bodyLen: req.body.length, isBin: req.wsIsBin,
                q: req.query.x, cookie: req.cookies.c, hdr: req.headers["X-Test"],
                id: req.websocketId, heap: heapTag, path: req.path.path,
                methods: [typeof req.wsSend, typeof req.wsEnd, typeof req.wsOnDisconnect]};
    }
    req.myState.n++;
    if (req.wsIsBin)
        return req.body;
    var s = rampart.utils.bufferToString(req.body);
    var cmd = s.split(" ")[0], arg = s.substring(cmd.length + 1);
    switch (cmd) {
    case "info":
        return {count: req.count, n: req.myState.n, isBin: req.wsIsBin,
                bodyLen: req.body.length, heap: heapTag, id: req.websocketId,
                wsHits: ++wsHits};
    case "text": return arg;
    case "num": return 42;
    case "none": return;
    case "null": return null;
    case "multi":
        req.wsSend("one");
        req.wsSend({two: 2});
        req.wsSend(rampart.utils.stringToBuffer("three"));
        return "four";
    case "printf":
        if (typeof req.printf != "function")
            return "noprintf";
        req.printf("%s-%d:", "pre", 7);
        return "body";
    case "printfonly":
        if (typeof req.printf != "function")
            return "noprintf";
        req.printf("only %d", 1);
        req.wsSend(null);
        return;
    case "end":
        req.wsSend("bye");
        req.wsEnd();
        return "after-end";
    case "endnow":
        req.wsSend("lost");
        req.wsEnd(true);
        return;
    case "throw": throw new Error("boom");
    case "spin": for (;;) {}
    case "emoji": return "smile \uD83D\uDE00 caf\u00e9";
    }
    return "unknown " + s;
}

function describe(d) {
    if (!d || typeof d != "object" || !("self" in d))
        return d;
    return {s: d.s, n: d.n, t: d.t, nul: d.nul, arr: d.arr,
            buf: rampart.utils.bufferToString(d.buf),
            dateIsDate: d.date instanceof Date, dateMs: d.date.getTime(),
            selfCycle: d.self === d, shared: d.shared[0] === d.shared[1] && d.shared[0] === d.arr,
            hasU: "u" in d, uIsUndef: d.u === undefined, hasF: "f" in d};
}

function rich() {
    var o = {s: "str", n: 1.5, t: true, nul: null, arr: [1, "two", [3]],
             buf: rampart.utils.stringToBuffer("bytes"), date: new Date(86400000),
             u: undefined, f: function () {}};
    o.self = o;
    o.shared = [o.arr, o.arr];
    return o;
}

function ev(req) {
    tag(req);
    if (req.count == 0) {
        req.wsOnDisconnect(function (r) {
            disconnected.push(r.websocketId);
            if (r.offOnClose)
                rampart.event.off("t", "cb" + r.websocketId);
            rampart.event.trigger("gone", r.websocketId);
        });
        return {heap: heapTag, id: req.websocketId};
    }
    var m = JSON.parse(rampart.utils.bufferToString(req.body));
    if (m.on) {
        rampart.event.on(m.on, "cb" + req.websocketId, function (r, data) {
            if (!r.wsSend({ev: m.on, cbv: r.websocketId, data: describe(data), heap: heapTag}))
                zombie++;
        }, req);
        return {ok: "on " + m.on};
    }
    if (m.off) {
        rampart.event.off(m.off, "cb" + req.websocketId);
        return {ok: "off " + m.off};
    }
    if (m.trigger) {
        rampart.event.trigger(m.trigger, m.rich ? rich() : m.data);
        return {ok: "trigger"};
    }
    if (m.offOnClose) {
        req.offOnClose = true;
        return {ok: "offOnClose"};
    }
    if (m.state)
        return {zombie: zombie, disconnected: disconnected, heap: heapTag};
    return {error: "unknown"};
}

/* The spec's chat handler, its greeting naming the heap. */
function chat(req) {
    if (req.count == 0) {
        var func_name = "myfunc_" + req.websocketId;
        req.wsOnDisconnect(function () {
            rampart.event.off("myev", func_name);
        });
        rampart.event.on("myev", func_name, function (req, data) {
            if (data.id != req.websocketId)
                req.wsSend(data.msg);
        }, req);
        return "Greetings from " + tag(req) + " id " + req.websocketId;
    }
    req.body = rampart.utils.bufferToString(req.body);
    if (req.body.length) {
        rampart.event.trigger("myev", {
            id: req.websocketId,
            msg: "a message from " + req.websocketId + ": " + req.body
        });
        return req.body;
    }
}

/* req's members are built on first read: here first read on a later
 * message, long after the upgrade request ended. */
function late(req) {
    if (req.count == 0)
        return "open";
    return {q: req.query.x, cookie: req.cookies.c, hdr: req.headers["X-Test"],
            path: req.path.path, raw: req.query_raw, keys: Object.keys(req).slice(0, 10)};
}

server.start({
    bind: "127.0.0.1:{port}", user: "nobody", threads: THREADS, scriptTimeout: 1,
    map: {
        "ws:/basic": basic,
        "ws:/late": late,
        "ws:/ev": ev,
        "ws:/chat": chat,
        "/trigger": function (req) {
            rampart.event.trigger("t", {from: "http", q: req.query.x});
            return {txt: "ok"};
        },
        "/spin": function () { for (;;) {} },
        "/hits": function () { return {json: {httpHits: ++httpHits}}; }
    }
});
"""


class Base(unittest.TestCase):
    threads = 2

    @classmethod
    def setUpClass(cls):
        cls.srv = JsServer(SCRIPT.replace("THREADS", str(cls.threads)))

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.shutdown()

    def ws(self, path, **kw):
        c = WSClient.connect("127.0.0.1", self.srv.port, path, **kw)
        self.clients.append(c)
        return c

    def text(self, c):
        op, payload = c.recv_message()
        self.assertEqual(op, OP_TEXT, payload)
        return payload.decode()

    def jmsg(self, c):
        return json.loads(self.text(c))

    def send(self, c, obj):
        c.send_text(json.dumps(obj))

    def ev_pair(self):
        """Two /ev clients on different worker heaps (with 2 threads)."""
        a = self.ws("/ev")
        ha = self.jmsg(a)
        for _ in range(8):
            b = self.ws("/ev")
            hb = self.jmsg(b)
            if self.threads == 1 or hb["heap"] != ha["heap"]:
                return a, ha, b, hb
        self.fail("no two websockets landed on different workers")

    def assert_no_message(self, c, probe):
        """Nothing queued for c: the answer to probe comes first."""
        time.sleep(0.3)
        self.send(c, probe)
        return self.jmsg(c)


@unittest.skipUnless(HAVE, "rampart or mod_ws.so not built")
class Requests(Base):
    def test_connect_request_object(self):
        c = self.ws("/basic?x=1", headers={"Cookie": "c=v", "X-Test": "yes"})
        r = self.jmsg(c)
        self.assertEqual(r["count"], 0)
        self.assertEqual(r["bodyLen"], 0)
        self.assertFalse(r["isBin"])
        self.assertEqual((r["q"], r["cookie"], r["hdr"], r["path"]), ("1", "v", "yes", "/basic"))
        self.assertEqual(r["methods"], ["function"] * 3)
        self.assertIsInstance(r["id"], int)

    def test_members_first_read_later(self):
        c = self.ws("/late?x=2", headers={"Cookie": "c=w", "X-Test": "late"})
        self.assertEqual(self.text(c), "open")
        c2 = self.ws("/late?x=3&y=4", headers={"Cookie": "c=z", "X-Test": "later"})
        self.assertEqual(self.text(c2), "open")
        for conn, want in ((c, ("2", "w", "late", "x=2")), (c2, ("3", "z", "later", "x=3&y=4"))):
            conn.send_text("late")
            r = self.jmsg(conn)
            self.assertEqual((r["q"], r["cookie"], r["hdr"], r["raw"]), want)
            self.assertEqual(r["path"], "/late")
            self.assertEqual(r["keys"], ["ip", "port", "method", "path", "query", "body",
                                         "query_raw", "cookies", "headers", "params"])

    def test_count_body_persistence(self):
        c = self.ws("/basic")
        first = self.jmsg(c)
        for i in range(1, 4):
            c.send_text("info")
            r = self.jmsg(c)
            self.assertEqual((r["count"], r["n"], r["bodyLen"], r["isBin"]), (i, i, 4, False))
            self.assertEqual(r["id"], first["id"])
        c.send_binary(b"\x00\xffbin")
        self.assertEqual(c.recv_message(), (OP_BINARY, b"\x00\xffbin"))
        c.send_text("info")
        r = self.jmsg(c)
        self.assertEqual((r["count"], r["n"], r["isBin"]), (5, 5, False))

    def test_return_values_and_wssend(self):
        c = self.ws("/basic")
        self.jmsg(c)
        c.send_text("text hello")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"hello"))
        c.send_text("num")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"42"))
        c.send_text("none")
        c.send_text("null")
        c.send_text("text after")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"after"))
        c.send_text("multi")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"one"))
        self.assertEqual(c.recv_message(), (OP_TEXT, b'{"two":2}'))
        self.assertEqual(c.recv_message(), (OP_BINARY, b"three"))
        self.assertEqual(c.recv_message(), (OP_TEXT, b"four"))

    def test_non_bmp_text_is_utf8(self):
        c = self.ws("/basic")
        self.jmsg(c)
        c.send_text("emoji")
        op, payload = c.recv_message()
        self.assertEqual(op, OP_TEXT)
        self.assertEqual(payload.decode("utf-8"), "smile \U0001F600 caf\u00e9")

    def test_server_buffer_prepended(self):
        c = self.ws("/basic")
        self.jmsg(c)
        c.send_text("printf")
        got = c.recv_message()
        if got == (OP_TEXT, b"noprintf"):
            self.skipTest("req.printf (stream.c) is not in this build yet")
        self.assertEqual(got, (OP_TEXT, b"pre-7:body"))
        c.send_text("printfonly")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"only 1"))

    def test_wsend_after_queue(self):
        c = self.ws("/basic")
        self.jmsg(c)
        c.send_text("end")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"bye"))
        with self.assertRaises(ConnectionClosed) as cm:
            c.recv_message()
        self.assertEqual(cm.exception.args[0][0], 1000)

    def test_wsend_immediate(self):
        c = self.ws("/basic")
        self.jmsg(c)
        c.send_text("endnow")
        self.assertTrue(c.wait_eof(5))

    def test_throw_closes_1011_others_go_on(self):
        other = self.ws("/basic")
        self.jmsg(other)
        c = self.ws("/basic")
        self.jmsg(c)
        c.send_text("throw")
        code, _ = c.recv_close()
        self.assertEqual(code, 1011)
        other.send_text("text still")
        self.assertEqual(other.recv_message(), (OP_TEXT, b"still"))
        wait_until(lambda: "boom" in self.srv.stderr(), 5, what="the error in the log")

    def test_ids_unique_across_workers(self):
        ids, heaps = set(), set()
        cs = [self.ws("/basic") for _ in range(12)]
        for c in cs:
            r = self.jmsg(c)
            ids.add(r["id"])
            heaps.add(r["heap"])
        self.assertEqual(len(ids), 12)
        self.assertEqual(len(heaps), 2, "12 websockets should use both worker threads")

    def test_unknown_ws_path_404(self):
        from wsclient import HandshakeError
        with self.assertRaises(HandshakeError) as cm:
            self.ws("/nothere")
        self.assertEqual(cm.exception.status, 404)


@unittest.skipUnless(HAVE, "rampart or mod_ws.so not built")
class Events(Base):
    def test_chat_across_two_threads(self):
        a = self.ws("/chat")
        ga = self.text(a)
        for _ in range(8):
            b = self.ws("/chat")
            gb = self.text(b)
            if gb.split()[2] != ga.split()[2]:
                break
        else:
            self.fail("no two chat clients on different workers")
        ida, idb = ga.split()[-1], gb.split()[-1]
        a.send_text("hi from a")
        self.assertEqual(self.text(a), "hi from a")
        self.assertEqual(self.text(b), "a message from %s: hi from a" % ida)
        b.send_text("hi from b")
        self.assertEqual(self.text(b), "hi from b")
        self.assertEqual(self.text(a), "a message from %s: hi from b" % idb)
        b.close()
        a.send_text("alone")
        self.assertEqual(self.text(a), "alone")

    def test_trigger_across_threads_structured_copy(self):
        a, ha, b, hb = self.ev_pair()
        self.send(a, {"on": "t"})
        self.assertEqual(self.jmsg(a), {"ok": "on t"})
        self.send(b, {"trigger": "t", "rich": True})
        self.assertEqual(self.jmsg(b), {"ok": "trigger"})
        r = self.jmsg(a)
        self.assertEqual((r["ev"], r["cbv"], r["heap"]), ("t", ha["id"], ha["heap"]))
        d = r["data"]
        self.assertEqual((d["s"], d["n"], d["t"], d["nul"], d["arr"]),
                         ("str", 1.5, True, None, [1, "two", [3]]))
        self.assertEqual(d["buf"], "bytes")
        self.assertTrue(d["dateIsDate"])
        self.assertEqual(d["dateMs"], 86400000)
        self.assertTrue(d["selfCycle"])
        self.assertTrue(d["shared"])
        self.assertTrue(d["hasU"] and d["uIsUndef"])
        self.assertFalse(d["hasF"])
        # b registered nothing: no event for it
        self.assertEqual(self.assert_no_message(b, {"state": 1})["heap"], hb["heap"])
        self.send(a, {"off": "t"})
        self.jmsg(a)

    def test_off(self):
        a, ha, b, hb = self.ev_pair()
        self.send(a, {"on": "t2"})
        self.jmsg(a)
        self.send(b, {"trigger": "t2", "data": [1, 2]})
        self.jmsg(b)
        self.assertEqual(self.jmsg(a)["data"], [1, 2])
        self.send(a, {"off": "t2"})
        self.assertEqual(self.jmsg(a), {"ok": "off t2"})
        self.send(b, {"trigger": "t2", "data": "again"})
        self.jmsg(b)
        self.assertIn("zombie", self.assert_no_message(a, {"state": 1}))

    def test_every_registration_gets_it(self):
        a, ha, b, hb = self.ev_pair()
        c = self.ws("/ev")
        self.jmsg(c)
        for x in (a, b, c):
            self.send(x, {"on": "all"})
            self.jmsg(x)
        self.send(a, {"trigger": "all", "data": "x"})
        self.jmsg(a)
        for x in (a, b, c):
            r = self.jmsg(x)
            self.assertEqual((r["ev"], r["data"]), ("all", "x"))
        for x in (a, b, c):
            self.send(x, {"off": "all"})
            self.jmsg(x)

    def test_trigger_from_http_route(self):
        a = self.ws("/ev")
        self.jmsg(a)
        self.send(a, {"on": "t"})
        self.jmsg(a)
        st, _, body = self.srv.get("/trigger?x=5")
        self.assertEqual((st, body), (200, b"ok"))
        r = self.jmsg(a)
        self.assertEqual(r["data"], {"from": "http", "q": "5"})
        self.send(a, {"off": "t"})
        self.jmsg(a)

    def test_main_script_heap(self):
        a = self.ws("/ev")
        self.jmsg(a)
        self.send(a, {"on": "frommain"})
        self.jmsg(a)
        self.send(a, {"trigger": "tomain", "data": {"x": 1}})
        self.assertEqual(self.jmsg(a), {"ok": "trigger"})
        r = self.jmsg(a)
        self.assertEqual(r["ev"], "frommain")
        self.assertEqual(r["data"], {"cbv": "main-cbv", "got": {"x": 1}, "main": True})


@unittest.skipUnless(HAVE, "rampart or mod_ws.so not built")
class OneThread(Base):
    """threads: 1 - one HTTP heap and one websocket heap, so heap globals
    show what ran."""
    threads = 1

    def test_disconnect_runs_and_can_off(self):
        watcher = self.ws("/ev")
        self.jmsg(watcher)
        self.send(watcher, {"on": "gone"})
        self.jmsg(watcher)
        base = self.jmsg_state(watcher)
        # a: removes its "t" callback in wsOnDisconnect; z: does not
        a = self.ws("/ev")
        ida = self.jmsg(a)["id"]
        self.send(a, {"on": "t"})
        self.jmsg(a)
        self.send(a, {"offOnClose": True})
        self.jmsg(a)
        z = self.ws("/ev")
        idz = self.jmsg(z)["id"]
        self.send(z, {"on": "t"})
        self.jmsg(z)
        a.close()
        self.assertEqual(self.jmsg(watcher)["data"], ida)
        z.close()
        self.assertEqual(self.jmsg(watcher)["data"], idz)
        self.send(watcher, {"trigger": "t", "data": 1})
        self.jmsg(watcher)
        st = wait_until(lambda: self.disconnected(watcher, ida, idz), 5,
                        what="both disconnects in the state")
        # z's callback still ran (wsSend false on its closed req), a's did not
        self.assertEqual(st["zombie"] - base["zombie"], 1)
        self.send(watcher, {"off": "gone"})
        self.jmsg(watcher)

    def disconnected(self, watcher, *ids):
        """The state once every id is in its disconnected list, else None."""
        st = self.jmsg_state(watcher)
        return st if all(i in st["disconnected"] for i in ids) else None

    def jmsg_state(self, c):
        self.send(c, {"state": 1})
        return self.jmsg(c)

    def test_http_timeout_keeps_ws_heap(self):
        c = self.ws("/basic")
        self.jmsg(c)
        c.send_text("info")
        before = self.jmsg(c)
        h1 = json.loads(self.srv.get("/hits")[2])["httpHits"]
        h2 = json.loads(self.srv.get("/hits")[2])["httpHits"]
        self.assertEqual(h2, h1 + 1)
        st, _, _ = self.srv.get("/spin")
        self.assertEqual(st, 500)
        self.assertEqual(json.loads(self.srv.get("/hits")[2])["httpHits"], 1,
                         "the HTTP heap should be new after the timeout")
        c.send_text("info")
        after = self.jmsg(c)
        self.assertEqual(after["count"], before["count"] + 1)
        self.assertEqual(after["n"], before["n"] + 1)
        self.assertEqual(after["wsHits"], before["wsHits"] + 1)
        self.assertEqual(after["heap"], before["heap"])

    def test_ws_timeout_closes_1011_heap_kept(self):
        c = self.ws("/basic")
        self.jmsg(c)
        c.send_text("info")
        before = self.jmsg(c)
        s = self.ws("/basic")
        self.jmsg(s)
        t0 = time.monotonic()
        s.send_text("spin")
        code, _ = s.recv_close()
        self.assertEqual(code, 1011)
        self.assertLess(time.monotonic() - t0, 10)
        c.send_text("info")
        after = self.jmsg(c)
        self.assertEqual(after["wsHits"], before["wsHits"] + 1)
        wait_until(lambda: "timed out" in self.srv.stderr(), 5, what="the timeout in the log")


CONF = """LoadModule js mod_js.so
LoadModule ws mod_ws.so
Map ws:/echo js/echo.js
MapModule ws:/mod/ js/multi.js
"""
CONF_FILES = {
    "js/echo.js": "module.exports = function (req) { return req.count ? req.body : "
                  "'hello ' + req.count; };",
    "js/multi.js": "module.exports = {'/a': function (req) { return 'a' + req.count; }};",
}


@unittest.skipUnless(HAVE, "rampart or mod_ws.so not built")
class ConfFile(unittest.TestCase):
    def test_ws_routes_from_conf(self):
        with Server(conf=CONF, files=CONF_FILES, threads=1) as srv:
            c = WSClient.connect("127.0.0.1", srv.port, "/echo")
            self.assertEqual(c.recv_message(), (OP_TEXT, b"hello 0"))
            c.send_binary(b"xyz")
            self.assertEqual(c.recv_message(), (OP_BINARY, b"xyz"))
            c.close()
            c.shutdown()
            c = WSClient.connect("127.0.0.1", srv.port, "/mod/a")
            self.assertEqual(c.recv_message(), (OP_TEXT, b"a0"))
            c.send_text("x")
            self.assertEqual(c.recv_message(), (OP_TEXT, b"a1"))
            c.close()
            c.shutdown()

    def test_route_script_timeout_bounds_ws_callbacks(self):
        # no server-wide ScriptTimeout: only the <Route>'s bounds the callbacks
        conf = CONF + "Map ws:/slow/spin js/spin.js\n<Route /slow/>\nScriptTimeout 0.3\n</Route>\n"
        files = dict(CONF_FILES)
        files["js/spin.js"] = ("module.exports = function (req) {"
                               " if (rampart.utils.bufferToString(req.body) == 'spin') while (true) {}"
                               " return 'ok ' + req.count; };")
        with Server(conf=conf, files=files, threads=1) as srv:
            c = WSClient.connect("127.0.0.1", srv.port, "/slow/spin")
            self.assertEqual(c.recv_message(), (OP_TEXT, b"ok 0"))
            c.send_text("x")
            self.assertEqual(c.recv_message(), (OP_TEXT, b"ok 1"))
            c.send_text("spin")
            code, _ = c.recv_close()  # never ends by itself without the route's limit
            self.assertEqual(code, 1011)
            c.shutdown()
            wait_until(lambda: "timed out" in srv.output(), 5, what="the timeout in the log")
            e = WSClient.connect("127.0.0.1", srv.port, "/echo")  # the server still serves
            self.assertEqual(e.recv_message(), (OP_TEXT, b"hello 0"))
            e.close()
            e.shutdown()

    def test_ws_route_needs_mod_ws(self):
        srv = Server(conf="LoadModule js mod_js.so\nMap ws:/echo js/echo.js\n",
                     files=CONF_FILES, threads=1, expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            self.assertIn("LoadModule ws", srv.output())
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
