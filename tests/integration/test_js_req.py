"""The request object of mod_js is lazy: what scripts can observe of it.

req's members (path, query, body, query_raw, cookies, headers, postData,
params) are built on first read and cached in place (modules/mod_js/req.c).
These tests pin everything a script could see, so that laziness never
shows: Object.keys / for..in order (GET, POST, notFoundFunc), JSON.stringify
and %3J of an untouched req equal to the same after every member was read,
own enumerable properties (hasOwnProperty, `in`, getOwnPropertyNames),
identity (req.query === req.query), a frozen or sealed req and a member
made non-enumerable (as a plain object would behave), assignment before and after a read
(later code and JSON see the value, the key keeps its place, params still
merges the request's own query), delete before and after a read, in-place
changes seen by params, passing req to other functions, members first read
in chunk callbacks after the response began, in a deferred reply's timer,
and from a req kept in a global and read during a later request (the copy
the members are built from outlives its request), and a websocket's req.

Run: cd tests/integration && python3 -m unittest test_js_req -v
"""

import json
import os
import socket
import unittest

from jsrun import JsServer, RAMPART

HAVE_RAMPART = os.path.exists(RAMPART)

MAIN = r'''
var server = require("rampart-server");
var utils = rampart.utils;
var kept = null;

function readAll(req) {
    var o = {};
    for (var k in req) o[k] = req[k];
    return o;
}

function bodyless(o) {
    /* Buffers print as objects of bytes: keep the JSON small and plain */
    var r = {};
    for (var k in o) r[k] = k === "body" ? utils.bufferToString(o[k]) : o[k];
    if (r.postData && typeof r.postData.content === "object" &&
        r.postData.content.length !== undefined && !Array.isArray(r.postData.content))
        r.postData = {t: r.postData["Content-Type"], c: utils.bufferToString(r.postData.content)};
    return r;
}

server.start({
    bind: "127.0.0.1:{port}",
    user: "nobody",
    developerMode: true,
    threads: 1,
    notFoundFunc: function (req) {
        return {json: {keys: Object.keys(req), hasErr: typeof req.errMsg}, status: 404};
    },
    map: {
        "/keys.json": function (req) {
            var forin = [];
            for (var k in req) forin.push(k);
            return {json: {keys: Object.keys(req), forin: forin,
                           names: Object.getOwnPropertyNames(req)}};
        },
        "/stringify.json": function (req) {
            var before = JSON.stringify(bodyless(req));
            var raw1 = JSON.stringify(req);
            var pj = utils.sprintf("%3J", req);
            var all = readAll(req);
            var raw2 = JSON.stringify(req);
            return {json: {before: before, after: JSON.stringify(bodyless(req)),
                           raw_same: raw1 === raw2, pj_same: pj === JSON.stringify(req, null, 3),
                           keys: Object.keys(req), req: JSON.parse(before),
                           own: ["path", "query", "headers", "cookies", "params", "body",
                                 "query_raw"].map(function (k) {
                               return req.hasOwnProperty(k) && (k in req) &&
                                      Object.keys(req).indexOf(k) >= 0;
                           }),
                           same: req.query === req.query && req.headers === req.headers &&
                                 req.path === req.path && req.params === req.params &&
                                 req.body === req.body && all.cookies === req.cookies}};
        },
        "/assign.json": function (req) {
            var mine = {mine: "yes"};
            req.query = mine;              /* before any read */
            req.cookies.extra = "added";   /* in place, after the read */
            req.headers = "replaced";      /* after no read */
            var h = req.headers;
            req.path = 5;
            req.path = 6;                  /* twice */
            req.custom = 1;                /* a new member goes last */
            function later(r) { return [r.query === mine, r.headers, r.path, r.cookies.extra]; }
            return {json: {later: later(req), keys: Object.keys(req), h: h,
                           json: JSON.parse(JSON.stringify(bodyless(req))),
                           pq: req.params.q, pextra: req.params.extra, pmine: req.params.mine}};
        },
        "/assign-after.json": function (req) {
            var q = req.query;
            req.query = {x: "after"};
            var p = req.params;
            return {json: {q: q, now: req.query, p: p.q, keys: Object.keys(req)}};
        },
        "/delete.json": function (req) {
            var c = req.cookies;
            var d1 = delete req.cookies;   /* after a read */
            var d2 = delete req.headers;   /* before any read */
            var d3 = delete req.params;
            return {json: {d: [d1, d2, d3], c: c, keys: Object.keys(req),
                           has: ["cookies" in req, "headers" in req, "params" in req],
                           vals: [typeof req.cookies, typeof req.headers],
                           json: Object.keys(JSON.parse(JSON.stringify(bodyless(req))))}};
        },
        "/inplace.json": function (req) {
            req.query.late = "in-place";
            req.headers["X-Made"] = "here";
            return {json: {late: req.params.late, made: req.params["X-Made"]}};
        },
        "/chunk.txt": function (req) {
            return {chunk: true, txt: function (req) {
                if (req.chunkIndex == 0)
                    req.chunkSend("first;");
                else if (req.chunkIndex == 1)
                    req.chunkSend(req.query.v + ";" + req.headers["X-T"] + ";");
                else
                    req.chunkEnd(req.cookies.c + ";" + req.path.file + ";" + req.params.v);
            }};
        },
        "/defer.json": function (req) {
            setTimeout(function () {
                req.reply({json: {q: req.query.v, h: req.headers["X-T"], c: req.cookies.c,
                                  p: req.path.path, raw: req.query_raw, pv: req.params.v,
                                  keys: Object.keys(req)}});
            }, 1);
            return {defer: true};
        },
        "/frozen.json": function (req) {
            var out = [];
            Object.freeze(req);
            out.push(req.query.a);
            req.query = 5;                 /* ignored, as for a frozen data property */
            out.push(typeof req.query, Object.isFrozen(req), JSON.parse(JSON.stringify(req)).cookies,
                     Object.keys(req).length);
            return {json: out};
        },
        "/sealed.json": function (req) {
            Object.seal(req);
            var c = req.cookies.c;
            req.headers = 7;
            return {json: [c, req.headers, Object.isSealed(req), Object.isFrozen(req)]};
        },
        "/hidden.json": function (req) {
            Object.defineProperty(req, "headers", {enumerable: false});
            var h = req.headers["X-T"];
            return {json: [h, Object.keys(req)]};
        },
        "/keep.txt": function (req) {
            kept = req;
            return {txt: "kept"};
        },
        "/kept.json": function (req) {
            var k = kept;
            kept = null;
            return {json: {q: k.query, h: k.headers["X-T"], c: k.cookies, url: k.path.url,
                           raw: k.query_raw, method: k.method, p: k.params.v,
                           body: utils.bufferToString(k.body),
                           post: k.postData ? k.postData.content : null,
                           mine: req.query}};
        }
    }
});
'''


@unittest.skipUnless(HAVE_RAMPART, "rampart not built")
class TestLazyReq(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = JsServer(MAIN)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def getj(self, path, headers=None, method="GET", body=None, status=200):
        st, _, data = self.srv.request(method, path, body=body, headers=headers)
        self.assertEqual(st, status, data)
        return json.loads(data)

    GET_KEYS = ["ip", "port", "method", "path", "query", "body", "query_raw", "cookies",
                "headers", "params"]
    POST_KEYS = GET_KEYS[:9] + ["postData", "params"]

    def test_keys_order(self):
        j = self.getj("/keys.json?a=1", {"Cookie": "c=1"})
        self.assertEqual(j["keys"], self.GET_KEYS)
        self.assertEqual(j["forin"], self.GET_KEYS)
        self.assertEqual(j["names"], self.GET_KEYS)
        j = self.getj("/keys.json", {"Content-Type": "text/plain"}, "POST", b"body")
        self.assertEqual(j["keys"], self.POST_KEYS)
        self.assertEqual(j["forin"], self.POST_KEYS)
        j = self.getj("/nothing-here", status=404)
        self.assertEqual(j["keys"], self.GET_KEYS)
        self.assertEqual(j["hasErr"], "undefined")

    def test_stringify_untouched_equals_built(self):
        hd = {"Cookie": "c=cv; d=dv", "X-T": "t1", "Content-Type":
              "application/x-www-form-urlencoded"}
        j = self.getj("/stringify.json?v=1&v=2&w=x+y", hd, "POST", b"f=1&g=2")
        self.assertEqual(j["before"], j["after"])
        self.assertTrue(j["raw_same"])
        self.assertTrue(j["pj_same"])
        self.assertEqual(j["keys"], self.POST_KEYS)
        self.assertEqual(j["own"], [True] * 7)
        self.assertTrue(j["same"])
        r = j["req"]
        self.assertEqual(list(r), self.POST_KEYS)
        self.assertEqual(r["method"], "POST")
        self.assertEqual(r["ip"], "127.0.0.1")
        self.assertIsInstance(r["port"], int)
        self.assertEqual(r["query"], {"v": ["1", "2"], "w": "x y"})
        self.assertEqual(r["query_raw"], "v=1&v=2&w=x+y")
        self.assertEqual(r["cookies"], {"c": "cv", "d": "dv"})
        self.assertEqual(r["headers"]["X-T"], "t1")
        self.assertEqual(r["headers"]["Cookie"], "c=cv; d=dv")
        self.assertEqual(r["body"], "f=1&g=2")
        self.assertEqual(r["postData"]["content"], {"f": "1", "g": "2"})
        self.assertEqual(list(r["path"]), ["file", "path", "base", "scheme", "host", "url"])
        self.assertEqual(r["path"]["url"],
                         "http://127.0.0.1:%d/stringify.json?v=1&v=2&w=x+y" % self.srv.port)
        # params: body, then query, cookies, headers
        self.assertEqual(list(r["params"])[:6], ["f", "g", "v", "w", "c", "d"])
        self.assertEqual(r["params"]["X-T"], "t1")

    def test_assign(self):
        j = self.getj("/assign.json?q=orig", {"Cookie": "c=1"})
        self.assertEqual(j["later"], [True, "replaced", 6, "added"])
        self.assertEqual(j["h"], "replaced")
        self.assertEqual(j["keys"], self.GET_KEYS + ["custom"])
        self.assertEqual(list(j["json"]), self.GET_KEYS + ["custom"])
        self.assertEqual(j["json"]["query"], {"mine": "yes"})
        self.assertEqual(j["json"]["path"], 6)
        # params merges the request's own query and the cookies as changed
        self.assertEqual(j["pq"], "orig")
        self.assertEqual(j["pextra"], "added")
        self.assertIsNone(j.get("pmine"))
        j = self.getj("/assign-after.json?q=first")
        self.assertEqual(j["q"], {"q": "first"})
        self.assertEqual(j["now"], {"x": "after"})
        self.assertEqual(j["p"], "first")
        self.assertEqual(j["keys"], self.GET_KEYS)

    def test_delete(self):
        j = self.getj("/delete.json", {"Cookie": "c=1"})
        self.assertEqual(j["d"], [True, True, True])
        self.assertEqual(j["c"], {"c": "1"})
        keys = [k for k in self.GET_KEYS if k not in ("cookies", "headers", "params")]
        self.assertEqual(j["keys"], keys)
        self.assertEqual(j["json"], keys)
        self.assertEqual(j["has"], [False, False, False])
        self.assertEqual(j["vals"], ["undefined", "undefined"])

    def test_frozen_sealed_redefined(self):
        j = self.getj("/frozen.json?a=1", {"Cookie": "c=1"})
        self.assertEqual(j, ["1", "object", True, {"c": "1"}, len(self.GET_KEYS)])
        j = self.getj("/sealed.json", {"Cookie": "c=1"})
        self.assertEqual(j, ["1", 7, True, False])
        j = self.getj("/hidden.json", {"X-T": "t"})
        self.assertEqual(j, ["t", [k for k in self.GET_KEYS if k != "headers"]])

    def test_inplace_changes_reach_params(self):
        j = self.getj("/inplace.json")
        self.assertEqual(j, {"late": "in-place", "made": "here"})

    def test_read_after_response_began(self):
        st, hd, data = self.srv.request("GET", "/chunk.txt?v=qv",
                                        headers={"X-T": "tv", "Cookie": "c=cv"})
        self.assertEqual(st, 200)
        self.assertEqual(hd.get("transfer-encoding"), "chunked")
        self.assertEqual(data, b"first;qv;tv;cv;chunk.txt;qv")

    def test_deferred_reply_reads_later(self):
        j = self.getj("/defer.json?v=dv", {"X-T": "tv", "Cookie": "c=cv"})
        self.assertEqual(j, {"q": "dv", "h": "tv", "c": "cv", "p": "/defer.json",
                             "raw": "v=dv", "pv": "dv", "keys": self.GET_KEYS})

    def test_req_kept_past_its_request(self):
        st, _, data = self.srv.request("POST", "/keep.txt?v=kv&v2=x",
                                       body=b"a=1&b=2",
                                       headers={"X-T": "kt", "Cookie": "k=1",
                                                "Content-Type":
                                                "application/x-www-form-urlencoded"})
        self.assertEqual((st, data), (200, b"kept"))
        # a second connection and request: the kept req still reads its own
        j = self.getj("/kept.json?other=1", {"X-T": "other", "Cookie": "z=9"})
        self.assertEqual(j["q"], {"v": "kv", "v2": "x"})
        self.assertEqual(j["h"], "kt")
        self.assertEqual(j["c"], {"k": "1"})
        self.assertEqual(j["url"], "http://127.0.0.1:%d/keep.txt?v=kv&v2=x" % self.srv.port)
        self.assertEqual(j["raw"], "v=kv&v2=x")
        self.assertEqual(j["method"], "POST")
        self.assertEqual(j["p"], "kv")
        self.assertEqual(j["body"], "a=1&b=2")
        self.assertEqual(j["post"], {"a": "1", "b": "2"})
        self.assertEqual(j["mine"], {"other": "1"})

    def test_no_host_header(self):
        # HTTP/1.0 without Host: path.host falls back to the local address
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=20) as s:
            s.sendall(b"GET /stringify.json HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        r = json.loads(body)["req"]
        self.assertEqual(r["path"]["host"], "127.0.0.1:%d" % self.srv.port)
        self.assertEqual(r["headers"], {})
        self.assertEqual(r["cookies"], {})
        self.assertEqual(r["query"], {})


if __name__ == "__main__":
    unittest.main()
