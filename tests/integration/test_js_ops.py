"""start() options for operations: rateLimit, logFormat, requestId,
defaultRangeMBytes, metrics, statusPage - each becomes its directive and
behaves as the conf form does (the conf forms have their own tests).

Run: cd tests/integration && python3 -m unittest test_js_ops -v
"""

import json
import os
import unittest

from jsrun import JsServer, wait_until

SCRIPT = r'''
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:{port}",
    user: "nobody",
    threads: 2,
    log: true,
    accessLog: "{dir}/access.log",
    errorLog: "{dir}/error.log",
    logFormat: "json",
    requestId: true,
    defaultRangeMBytes: 0.5,
    rateLimit: {"/limited/": {rate: 2, window: 600, key: "header:X-User"}},
    metrics: "/metrics",
    statusPage: "/status",
    map: {
        "/": "{dir}/www",
        "/limited/x": function (req) { return {txt: "ok"}; },
        "/throws": function () { throw new Error("on purpose"); },
        "/info": function (req) {
            return {json: {id: req.id, m: req.methodRaw, css: server.getMime("a.css"),
                           none: server.getMime("nosuchext") === undefined,
                           keys: Object.getOwnPropertyNames(req).indexOf("id"),
                           mem: process.memoryUsage()}};
        }
    }
});
'''

FILES = {"www/index.html": "home\n", "www/big.bin": "b" * (1 << 20)}


class JsOps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = JsServer(SCRIPT, files=FILES)

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def test_rate_limit(self):
        a = {"X-User": "a"}
        got = [self.srv.get("/limited/x", headers=a)[0] for _ in range(3)]
        self.assertEqual(got, [200, 200, 429])
        self.assertEqual(self.srv.get("/limited/x", headers={"X-User": "b"})[0], 200)

    def test_json_log_and_request_id(self):
        st, hd, _ = self.srv.get("/index.html?jslog=1", headers={"X-Request-Id": "js-77"})
        self.assertEqual((st, hd["x-request-id"]), (200, "js-77"))
        log = os.path.join(self.srv.dir, "access.log")

        def line():
            if not os.path.exists(log):
                return None
            with open(log) as f:
                for l in f:
                    if "jslog=1" in l:
                        return json.loads(l)
            return None
        obj = wait_until(line, 10, what="the JSON access log line")
        self.assertEqual((obj["uri"], obj["status"], obj["request_id"]),
                         ("/index.html?jslog=1", 200, "js-77"))

    def test_req_id_method_raw_get_mime(self):
        st, hd, body = self.srv.get("/info", headers={"X-Request-Id": "given-1"})
        j = json.loads(body)
        self.assertEqual((j["id"], j["m"], j["css"], j["none"], j["keys"]),
                         ("given-1", "GET", "text/css", True, -1))
        self.assertEqual(hd["x-request-id"], "given-1")  # requestId: true echoes it
        # the worker's own heap, and the process
        self.assertGreater(j["mem"]["heapUsed"], 1000)
        self.assertGreater(j["mem"]["rss"], j["mem"]["heapUsed"])
        st, hd, body = self.srv.get("/info")
        self.assertEqual(json.loads(body)["id"], hd["x-request-id"])  # one id, made once

    def test_range_cap(self):
        st, hd, body = self.srv.get("/big.bin", headers={"Range": "bytes=10-"})
        self.assertEqual((st, len(body)), (206, 524288))

    def test_js_series(self):
        import re

        def value(body, name):
            m = re.search(r"^%s (\S+)$" % re.escape(name), body.decode(), re.M)
            return float(m.group(1)) if m else None
        before = self.srv.get("/metrics")[2]
        self.assertEqual(self.srv.get("/throws")[0], 404)  # not developerMode: 404
        self.srv.get("/limited/x", headers={"X-User": "metrics"})

        def moved():
            body = self.srv.get("/metrics")[2]
            e0 = value(before, 'rampart_js_failures_total{kind="error"}')
            e1 = value(body, 'rampart_js_failures_total{kind="error"}')
            calls = value(body, "rampart_js_calls_total")
            # the counters move after the answer is sent: wait for both
            return body if e1 is not None and e1 - (e0 or 0) >= 1 and (calls or 0) >= 2 else None
        body = wait_until(moved, 10, what="the JS error and both calls counted")
        heaps = [value(body, 'rampart_js_heap_bytes{worker="%d"}' % i) for i in (0, 1)]
        self.assertTrue(all(h is not None for h in heaps))
        self.assertGreater(max(heaps), 1000)

    def test_metrics_and_status(self):
        self.srv.get("/index.html")
        st, hd, body = self.srv.get("/metrics")
        self.assertEqual(st, 200)
        self.assertIn(b'rampart_http_requests_total{method="GET",code="2xx"}', body)
        st, hd, body = self.srv.get("/status")
        self.assertEqual(st, 200)
        self.assertIn(b"worker thread(s)", body)

    def test_bad_values(self):
        script = r'''
var s = require("rampart-server");
[{rateLimit: 5}, {rateLimit: {"/a/": 5}}, {rateLimit: {"/a/": {rate: "two", window: 1}}},
 {rateLimit: {"/a/": {rate: 1, window: 1, key: 7}}}, {metrics: "metrics"}, {statusPage: 1},
 {logFormat: 1}, {requestId: "yes"}, {defaultRangeMBytes: 0}].forEach(function (o) {
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
            msgs = [json.loads(l)[1] for l in out.splitlines() if l.startswith("[")]
            self.assertEqual(len(msgs), 9, out)
            self.assertNotIn("started", out)
            for want in ("'rateLimit' must be an object", "rateLimit['/a/'] must be",
                         "rateLimit['/a/'].rate must be a number",
                         "rateLimit['/a/'].key must be a string", "'metrics' must be a path",
                         "'statusPage' must be a path", "'logFormat' must be",
                         "'requestId' must be true or false", "'defaultRangeMBytes'"):
                self.assertTrue(any(want in m for m in msgs), "%r not in %r" % (want, msgs))


ACCESS = r'''
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:{port}",
    user: "nobody",
    threads: 2,
    denyHidden: false,
    access: {
        "/admin/": {allow: "::1", deny: ["all"]},
        "/team/": {basic: {realm: "Team", file: "{dir}/htpasswd"}}
    },
    map: {
        "/": "{dir}/www",
        "/echo": function (req) { return {txt: (req.headers["X-Extra"] || "none") + " " + req.path.path}; },
        "/up/": {proxy: "http://127.0.0.1:{port}/", headers: {"X-Extra": "added"}, timeout: 5}
    }
});
'''


class JsAccessAndProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import subprocess
        h = subprocess.run(["openssl", "passwd", "-6", "s3cret"], capture_output=True,
                           text=True, check=True).stdout.strip()
        files = {"www/.env": "visible\n", "www/admin/a.txt": "admin\n",
                 "www/team/t.txt": "team\n", "htpasswd": "ann:%s\n" % h}
        cls.srv = JsServer(ACCESS, files=files)

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def test_access(self):
        import base64
        self.assertEqual(self.srv.get("/admin/a.txt")[0], 403)  # 127.0.0.1 is not ::1
        self.assertEqual(self.srv.get("/team/t.txt")[0], 401)
        tok = base64.b64encode(b"ann:s3cret").decode()
        st, _, body = self.srv.get("/team/t.txt", headers={"Authorization": "Basic " + tok})
        self.assertEqual((st, body), (200, b"team\n"))
        self.assertEqual(self.srv.get("/.env")[2], b"visible\n")  # denyHidden: false

    def test_proxy_map_value(self):
        st, _, body = self.srv.get("/up/echo")
        self.assertEqual((st, body), (200, b"added /echo"))
        self.assertEqual(self.srv.get("/up/admin/a.txt")[0], 403)  # rules apply upstream too


if __name__ == "__main__":
    unittest.main()
