"""rampart.event across servers (mod_js + mod_cluster) with real redis-server
and real `rampart` processes, and websocket clients from wsclient.py.

  - an event triggered on server A reaches the `on` callbacks of B's worker
    heaps (both threads) and of B's main script heap, and A's own heaps
    once (locally, not again through Redis);
  - values survive the trip: nested objects, unicode strings, numbers,
    arrays, null, Buffers, Dates, shared references; functions dropped;
  - trigger(name, value, {local: true}) stays on A;
  - foreign messages on the channel (redis-cli PUBLISH) are dropped or
    reported, and do not stop later events;
  - Redis down: local delivery still works;
  - Redis stopped (SIGSTOP: connections open, no answer), found through
    start()'s clusterTimeout: local delivery goes on, one warning; after
    SIGCONT events cross the servers again;
  - examples/chat.js on two servers sharing one Redis: a message from a
    client of A reaches a client of B and back.

Nothing here sleeps to let something happen: "no second copy" is checked
with a fence, an event published after the checked one by the other
server (Redis keeps one publisher's order, and a server's messages from
Redis reach a worker's heaps in arrival order).

Every redis-server is started here on a free loopback port and stopped by
pid (test_cluster.Redis).

Run: cd tests/integration && python3 -m unittest test_js_cluster -v
"""

import json
import os
import unittest

from jsrun import JsServer, RAMPART, free_port, wait_until
from rptest import BUILD
from test_cluster import REDIS, Redis
from wsclient import WSClient, OP_TEXT

HERE = os.path.dirname(os.path.abspath(__file__))
CHAT = os.path.join(HERE, "..", "..", "examples", "chat.js")

HAVE = (REDIS is not None and os.path.exists(RAMPART) and
        all(os.path.exists(os.path.join(BUILD, "modules", m))
            for m in ("mod_ws.so", "mod_cluster.so")))

SCRIPT = r"""
var server = require("rampart-server");
var NAME = process.env.SRV_NAME;
var heapTag = null; /* per heap: NAME + the id of its first websocket */

/* The main script's heap: counts what it gets, answers locally. */
var mainCount = 0;
rampart.event.on("t", "main", function (cbv, data) {
    mainCount++;
    rampart.event.trigger("mainsaw", {srv: NAME, n: mainCount, data: data}, {local: true});
});

function describe(d) {
    if (d === null || typeof d !== "object" || !d.rich)
        return d; /* JSON as it came */
    return {
        obj: d.obj, uni: d.uni, nums: d.nums, arr: d.arr, nul: d.nul,
        buf: d.buf ? rampart.utils.bufferToString(d.buf) : null,
        dateMs: d.date instanceof Date ? d.date.getTime() : null,
        shared: d.a === d.b && d.a !== undefined,
        hasF: "f" in d, kind: typeof d
    };
}

function ev(req) {
    if (heapTag === null)
        heapTag = NAME + req.websocketId;
    if (req.count == 0) {
        req.names = [];
        req.wsOnDisconnect(function () {
            for (var i = 0; i < req.names.length; i++)
                rampart.event.off(req.names[i], "cb" + req.websocketId);
        });
        return JSON.stringify({heap: heapTag, id: req.websocketId});
    }
    var m = JSON.parse(rampart.utils.bufferToString(req.body));
    if (m.on) {
        req.names.push(m.on);
        rampart.event.on(m.on, "cb" + req.websocketId, function (r, data) {
            r.wsSend(JSON.stringify({ev: m.on, heap: heapTag, data: describe(data)}));
        }, req);
        return JSON.stringify({ok: "on " + m.on});
    }
    if (m.trigger) {
        var v = m.data;
        if (m.rich) {
            var sh = {s: "shared"};
            v = {obj: {a: {b: {c: [1, {d: "deep"}]}}}, uni: "h\u00e9llo \u65e5\u672c \ud83d\ude00",
                 nums: [0, -1.5, 1e300, 42], arr: [1, "two", [3, [4]]], nul: null,
                 buf: rampart.utils.stringToBuffer("bytes"), date: new Date(86400000),
                 a: sh, b: sh, f: function () {}, rich: true};
        }
        rampart.event.trigger(m.trigger, v, m.local ? {local: true} : undefined);
        return JSON.stringify({ok: "trigger"});
    }
    return JSON.stringify({error: "unknown"});
}

server.start({
    bind: "127.0.0.1:{port}",
    user: "nobody",
    threads: 2,
    cluster: process.env.CLUSTER,
    clusterTimeout: process.env.CLUSTER_TIMEOUT ? Number(process.env.CLUSTER_TIMEOUT) : undefined,
    map: {"ws:/ev": ev}
});
"""

RICH = {"obj": {"a": {"b": {"c": [1, {"d": "deep"}]}}},
        "uni": "h\u00e9llo \u65e5\u672c \U0001F600",
        "nums": [0, -1.5, 1e300, 42], "arr": [1, "two", [3, [4]]], "nul": None,
        "buf": "bytes", "dateMs": 86400000, "shared": True, "hasF": False, "kind": "object"}


def env_for(name, redis_port):
    env = dict(os.environ)
    env["SRV_NAME"] = name
    env["CLUSTER"] = "redis://127.0.0.1:%d/0" % redis_port
    return env


class Base(unittest.TestCase):
    def setUp(self):
        self.clients = []
        self.redis = Redis()
        self.addCleanup(self.redis.cleanup)

    def tearDown(self):
        for c in self.clients:
            c.shutdown()

    def server(self, name, script=SCRIPT, env=None):
        srv = JsServer(script, env=env or env_for(name, self.redis.port))
        self.addCleanup(srv.__exit__, None, None, None)
        return srv

    def ws(self, srv, path="/ev"):
        c = WSClient.connect("127.0.0.1", srv.port, path)
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

    def on(self, c, *names):
        for n in names:
            self.send(c, {"on": n})
            self.assertEqual(self.jmsg(c), {"ok": "on " + n})

    def trigger(self, c, name, data=None, **kw):
        msg = {"trigger": name, "data": data}
        msg.update(kw)
        self.send(c, msg)
        self.assertEqual(self.jmsg(c), {"ok": "trigger"})

    def wait_subscribed(self, n):
        """Both servers' cluster subscriptions are in Redis (PSUBSCRIBE)."""
        wait_until(lambda: self.redis.command("CLIENT", "LIST").count(" psub=1 ") >= n,
                   10, what="%d pattern subscribers in Redis" % n)

    def two_heaps(self, srv):
        """Two clients of srv on different worker heaps (threads: 2)."""
        a = self.ws(srv)
        ha = self.jmsg(a)["heap"]
        for _ in range(16):
            b = self.ws(srv)
            hb = self.jmsg(b)["heap"]
            if hb != ha:
                return (a, ha), (b, hb)
        self.fail("no two websockets on different worker threads")


@unittest.skipUnless(HAVE, "rampart, mod_ws, mod_cluster or redis-server missing")
class AcrossServers(Base):
    def setUp(self):
        super().setUp()
        self.A = self.server("A")
        self.B = self.server("B")
        self.wait_subscribed(2)

    def test_event_reaches_every_heap_of_both_servers_once(self):
        a1 = self.ws(self.A)
        ha = self.jmsg(a1)["heap"]
        (b1, hb1), (b2, hb2) = self.two_heaps(self.B)
        self.on(a1, "t", "fence", "mainsaw")
        self.on(b1, "t", "mainsaw")
        self.on(b2, "t")
        self.trigger(a1, "t", rich=True)
        # the main heaps (A's locally, B's through worker 0, once each)
        # answer "mainsaw" on their own server, in any order with "t"
        want = {a1: (ha, "A"), b1: (hb1, "B"), b2: (hb2, None)}
        for c, (heap, main) in want.items():
            got = {}
            for _ in range(2 if main else 1):
                r = self.jmsg(c)
                self.assertNotIn(r["ev"], got, "a second %s" % r["ev"])
                got[r["ev"]] = r
            self.assertEqual(got["t"]["heap"], heap)
            self.assertEqual(got["t"]["data"], RICH)
            if main:
                d = got["mainsaw"]["data"]
                self.assertEqual((d["srv"], d["n"], d["data"]["uni"]), (main, 1, RICH["uni"]))
        # B publishes after it got t: a copy of t coming back to A through
        # Redis would reach a1 before the fence
        self.trigger(b1, "fence", "after")
        r = self.jmsg(a1)
        self.assertEqual((r["ev"], r["data"]), ("fence", "after"))

    def test_plain_values(self):
        a1 = self.ws(self.A)
        self.jmsg(a1)
        b1 = self.ws(self.B)
        self.jmsg(b1)
        self.on(b1, "v")
        for v in (None, 0, -2.5, "", "\u00fcnicode \u2603", [1, [2, [3]]], {"k": {"n": None}},
                  True):
            self.trigger(a1, "v", v)
            r = self.jmsg(b1)
            self.assertEqual((r["ev"], r["data"]), ("v", v))

    def test_local_only_stays_on_the_server(self):
        a1 = self.ws(self.A)
        self.jmsg(a1)
        b1 = self.ws(self.B)
        self.jmsg(b1)
        self.on(a1, "t")
        self.on(b1, "t")
        self.trigger(a1, "t", "local", local=True)
        self.assertEqual(self.jmsg(a1)["data"], "local")
        self.trigger(a1, "t", "everywhere")
        self.assertEqual(self.jmsg(a1)["data"], "everywhere")
        # one publisher's messages keep their order: had "local" been
        # published, B would get it first
        self.assertEqual(self.jmsg(b1)["data"], "everywhere")
        # and B's own triggers reach A
        self.trigger(b1, "t", "from B")
        self.assertEqual(self.jmsg(b1)["data"], "from B")
        self.assertEqual(self.jmsg(a1)["data"], "from B")

    def test_foreign_messages_on_the_channel(self):
        """What something else publishes on <prefix>:event is no trigger:
        dropped, or (a corrupt value) reported; later events still arrive."""
        a1 = self.ws(self.A)
        self.jmsg(a1)
        b1 = self.ws(self.B)
        self.jmsg(b1)
        self.on(b1, "t")
        self.redis.command("PUBLISH", "rampart:event", "no trigger")
        self.redis.command("PUBLISH", "rampart:event", "lt\x00\x7f")
        self.trigger(a1, "t", "fine")
        self.assertEqual(self.jmsg(b1)["data"], "fine")
        wait_until(lambda: "corrupt trigger value" in self.B.stderr(), 10,
                   what="the corrupt value reported")
        self.assertTrue(self.A.alive() and self.B.alive())


@unittest.skipUnless(HAVE, "rampart, mod_ws, mod_cluster or redis-server missing")
class RedisDown(Base):
    def test_local_delivery_without_redis(self):
        A = self.server("A")
        self.wait_subscribed(1)
        self.redis.stop()
        (a1, ha1), (a2, ha2) = self.two_heaps(A)
        self.on(a1, "t")
        self.on(a2, "t")
        for v in ("one", {"two": [2]}):
            self.trigger(a1, "t", v)
            for c, heap in ((a1, ha1), (a2, ha2)):
                r = self.jmsg(c)
                self.assertEqual((r["heap"], r["data"]), (heap, v))
        wait_until(lambda: "Redis" in A.stderr(), 10, what="mod_cluster's warning")

    def test_stopped_redis(self):
        envs = [env_for(n, self.redis.port) for n in ("A", "B")]
        for e in envs:
            e["CLUSTER_TIMEOUT"] = "1.5"
        A, B = self.server("A", env=envs[0]), self.server("B", env=envs[1])
        self.wait_subscribed(2)
        (a1, ha1), (a2, ha2) = self.two_heaps(A)
        b1 = self.ws(B)
        self.jmsg(b1)
        self.on(a1, "t")
        self.on(a2, "t")
        self.on(b1, "t")
        self.trigger(a1, "t", "before")
        for c in (a1, a2, b1):
            self.assertEqual(self.jmsg(c)["data"], "before")

        self.redis.pause()
        wait_until(lambda: "lost Redis" in A.stderr() and "lost Redis" in B.stderr(), 30,
                   what="both servers found Redis stopped")
        for v in ("one", {"two": [2]}):  # A's own heaps still get its events
            self.trigger(a1, "t", v)
            for c, heap in ((a1, ha1), (a2, ha2)):
                r = self.jmsg(c)
                self.assertEqual((r["heap"], r["data"]), (heap, v))

        self.redis.resume()
        back = "reconnected and resubscribed"
        wait_until(lambda: back in A.stderr() and back in B.stderr(), 30,
                   what="both servers reconnected")
        self.trigger(a1, "t", "after")
        self.assertEqual(self.jmsg(a1)["data"], "after")
        self.assertEqual(self.jmsg(a2)["data"], "after")
        # b1 may have missed the outage's events (dropped), never got them late
        self.assertEqual(self.jmsg(b1)["data"], "after")
        for s in (A, B):
            self.assertEqual(s.stderr().count("lost Redis"), 1, s.stderr())

    def test_start_without_redis(self):
        port = free_port()  # nothing listens there
        A = self.server("A", env=env_for("A", port))
        (a1, ha1), (a2, ha2) = self.two_heaps(A)
        self.on(a1, "t")
        self.on(a2, "t")
        self.trigger(a2, "t", [None, "x"])
        self.assertEqual(self.jmsg(a1)["data"], [None, "x"])
        self.assertEqual(self.jmsg(a2)["data"], [None, "x"])


@unittest.skipUnless(os.path.exists(RAMPART), "rampart not built")
class TriggerArgument(unittest.TestCase):
    def test_third_argument(self):
        """{local: true} in a script without a server; anything but an
        object (or undefined/null) is a TypeError."""
        with JsServer(
                "try { rampart.event.trigger('t', 1, 5); } catch (e) { console.log(String(e)); }\n"
                "rampart.event.on('t', 'n', function (c, v) {\n"
                "  console.log('got', JSON.stringify(v)); if (v.last) rampart.event.off('t');\n"
                "});\n"
                "rampart.event.trigger('t', {a: 1}, {local: true});\n"
                "rampart.event.trigger('t', {b: 2}, null);\n"
                "rampart.event.trigger('t', {last: 1}, {local: false});\n",
                wait=False) as srv:
            self.assertEqual(srv.wait(), 0, srv.output())
            self.assertEqual(srv.stdout().splitlines(), [
                "TypeError: rampart.event.trigger: the third argument must be an object "
                "({local: true})",
                'got {"a":1}', 'got {"b":2}', 'got {"last":1}'])


@unittest.skipUnless(HAVE and os.path.exists(CHAT), "chat.js or a module missing")
class Chat(Base):
    def chat_server(self):
        with open(CHAT) as f:
            script = f.read()
        env = dict(os.environ)
        env["CLUSTER"] = "redis://127.0.0.1:%d/0" % self.redis.port
        srv = JsServer(script, env=env, start=False)
        self.addCleanup(srv.__exit__, None, None, None)
        srv.env["BIND"] = "127.0.0.1:%d" % srv.port
        srv.start()
        return srv

    def test_chat_across_two_servers(self):
        A = self.chat_server()
        B = self.chat_server()
        self.wait_subscribed(2)
        ca = self.ws(A, "/ws")
        self.assertIn("Greetings", self.text(ca))
        # the first client of each server: websocket ids start at a random
        # point per process, so chat.js's "not from myself" test holds
        cb = self.ws(B, "/ws")
        self.assertIn("Greetings", self.text(cb))
        ca.send_text("hello from A \u00e9")
        self.assertEqual(self.text(ca), "hello from A \u00e9")
        got = self.text(cb)
        self.assertTrue(got.startswith("a message from ") and
                        got.endswith(": hello from A \u00e9"), got)
        cb.send_text("hi from B")
        self.assertEqual(self.text(cb), "hi from B")
        got = self.text(ca)
        self.assertTrue(got.endswith(": hi from B"), got)


if __name__ == "__main__":
    unittest.main()
