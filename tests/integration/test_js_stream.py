"""Streaming replies in mod_js: the server buffer, defer, chunking.

Covers: req.printf (formats, bytes written incl. UTF-8), req.put (String,
Buffer, other values), req.getpos / req.rewind / req.getBuffer, rewind past
the end -> a RangeError naming the position, buffer + returned body order,
a 5 MB buffer byte-exact (put) and a printf loop; {defer: true} +
req.reply: 100 concurrent deferred requests on threads:1, the buffer before
the defer and before the reply, a client gone before the reply (dropped,
logged, the server keeps serving), reply twice -> error; {chunk: true}:
Transfer-Encoding chunked, req.chunkIndex, chunkSend(null / String / Buffer
/ number / object / "@file"), chunkEnd(data), a 1 MB file in 32 KiB chunks
byte-exact (readFile offsets and "@file" parts), chunkDelay spacing, a
slow-reading client with bounded server memory, a disconnect stopping the
callbacks, errors in callbacks, chunkSend outside a callback; the examples
defer.js and chunk_file.js.

Run: cd tests/integration && python3 -m unittest test_js_stream -v
"""

import http.client
import json
import os
import random
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from jsrun import JsServer, RAMPART, free_port, wait_until
from rptest import REPO, recv_to_eof

HAVE_RAMPART = os.path.exists(RAMPART)
BIG = random.Random(5).randbytes(5 * 1024 * 1024 + 3)
MB = random.Random(7).randbytes(1024 * 1024)

SCRIPT = r'''
var server = require("rampart-server");
var utils = rampart.utils;
var state = {replied: [], errors: [], count: 0, slowIndex: -1, chunkErr: null};

function chunkFile(req) {
    var chunk = utils.readFile(req.file, req.chunkIndex * req.chunkSize, req.chunkSize);
    if (req.stat.size > (req.chunkIndex + 1) * req.chunkSize)
        req.chunkSend(chunk);
    else
        req.chunkEnd(chunk);
}

server.start({
    bind: "127.0.0.1:{port}",
    user: "nobody",
    threads: 1,
    developerMode: true,
    map: {
        "/printf.txt": function (req) {
            var r = {};
            r.a = req.printf("%s-%d-%05.1f|", "x", 42, 3.14159);
            r.b = req.printf("%s|", "\u00e9\u20ac");
            r.c = req.put("str|");
            r.d = req.put(utils.stringToBuffer("buf|"));
            r.e = req.put(12);
            r.f = req.put({k: 1});
            r.pos = req.getpos();
            req.put("DISCARDED");
            r.rw = req.rewind(r.pos);
            r.pos2 = req.getpos();
            r.copy = utils.bufferToString(req.getBuffer());
            r.json = req.printf("%J", {z: [1, 2]});
            return {txt: "|BODY:" + JSON.stringify(r)};
        },
        "/rewind.txt": function (req) {
            req.put("abc");
            var msgs = [];
            try { req.rewind(10); } catch (e) { msgs.push(e.name + ": " + e.message); }
            try { req.rewind(-1); } catch (e) { msgs.push(e.name + ": " + e.message); }
            req.rewind(1);
            return {txt: "|" + msgs.join("\n")};
        },
        "/rewind-uncaught.txt": function (req) {
            req.put("abc");
            req.rewind(4);
            return {txt: "not reached"};
        },
        "/big.bin": function (req) {
            var n = req.put(utils.readFile("{dir}/big.bin"));
            return {bin: utils.stringToBuffer("|tail " + n)};
        },
        "/loop.txt": function (req) {
            for (var i = 0; i < 100000; i++) req.printf("%08d\n", i);
            return {txt: "done"};
        },
        "/onlybuf.html": function (req) {
            req.printf("<p>%s</p>", "only");
            return {html: null};
        },
        "/bufthrow.txt": function (req) {
            req.printf("must not leak");
            throw new Error("boom");
        },
        "/after.txt": function (req) { return {txt: "clean"}; },
        "/defer.json": function (req) {
            var i = parseInt(req.query.i);
            req.printf("[pre %d]", i);
            setTimeout(function () {
                req.printf("[later %d]", i);
                state.replied.push(req.reply({json: {i: i, ms: parseInt(req.query.ms)}}));
            }, parseInt(req.query.ms || "300"));
            return {defer: true};
        },
        "/defer-status.txt": function (req) {
            setTimeout(function () {
                req.reply({txt: "made ya wait!", status: 201, headers: {"X-Later": "yes"}});
            }, 50);
            return {defer: true};
        },
        "/twice.txt": function (req) {
            setTimeout(function () {
                req.reply({txt: "first"});
                try { req.reply({txt: "second"}); } catch (e) { state.errors.push(e.message); }
            }, 20);
            return {defer: true};
        },
        "/early-reply.txt": function (req) {
            try { req.reply({txt: "x"}); } catch (e) { return {txt: e.message}; }
            return {txt: "no error"};
        },
        "/state.json": function (req) { return {json: state}; },
        "/chunk.txt": function (req) {
            return {chunk: true, txt: function (req) {
                switch (req.chunkIndex) {
                case 0: req.printf("buf%d;", req.chunkIndex); req.chunkSend(null); break;
                case 1: req.printf("pre;"); req.chunkSend("str;"); break;
                case 2: req.chunkSend(utils.stringToBuffer("buffer;")); break;
                case 3: req.chunkSend(42); break;
                case 4: req.chunkSend({o: 1}); break;
                case 5: req.chunkSend("@{dir}/small.txt"); break;
                default: req.printf("+"); req.chunkEnd("end");
                }
            }};
        },
        "/file1m.bin": function (req) {
            req.file = "{dir}/mb.bin";
            req.chunkSize = 32768;
            req.stat = utils.stat(req.file);
            return {bin: chunkFile, chunk: true,
                    headers: {"Content-Disposition": 'attachment; filename="mb.bin"'}};
        },
        "/fileparts.bin": function (req) {
            return {bin: function (req) {
                var f = "@part" + req.chunkIndex + ".bin";   /* relative: the script's dir */
                if (req.chunkIndex == 3) req.chunkEnd(f); else req.chunkSend(f);
            }, chunk: true};
        },
        "/delay.txt": function (req) {
            var n = parseInt(req.query.n);
            return {chunk: true, chunkDelay: parseInt(req.query.d), txt: function (req) {
                if (req.chunkIndex + 1 >= n) req.chunkEnd("c" + req.chunkIndex + "\n");
                else req.chunkSend("c" + req.chunkIndex + "\n");
            }};
        },
        "/slow.bin": function (req) {
            var piece = utils.readFile("{dir}/mb.bin", 0, 262144);
            return {chunk: true, bin: function (req) {
                state.slowIndex = req.chunkIndex;
                if (req.chunkIndex == 127) req.chunkEnd(piece); else req.chunkSend(piece);
            }};
        },
        "/forever.txt": function (req) {
            return {chunk: true, chunkDelay: 20, txt: function (req) {
                state.count++;
                req.chunkSend("tick " + req.chunkIndex + "\n");
            }};
        },
        "/chunkerr.txt": function (req) {
            return {chunk: true, txt: function (req) {
                if (req.chunkIndex == 2) throw new Error("chunk boom");
                req.chunkSend("ok" + req.chunkIndex + ";");
            }};
        },
        "/chunkerr0.txt": function (req) {
            return {chunk: true, txt: function (req) { throw new Error("first chunk boom"); }};
        },
        "/skip.txt": function (req) {
            var calls = 0;
            return {chunk: true, txt: function (req) {
                calls++;
                if (calls % 2) return;          /* nothing to send this time */
                if (req.chunkIndex == 2) req.chunkEnd("i" + req.chunkIndex + "c" + calls);
                else req.chunkSend("i" + req.chunkIndex + ";");
            }};
        },
        "/outside.txt": function (req) {
            try { req.chunkSend("x"); } catch (e) { return {txt: e.message}; }
            return {txt: "no error"};
        },
        "/badchunk.txt": function (req) {
            return {chunk: true, txt: function (req) { req.chunkSend("@{dir}/nonexistent"); }};
        },
        "/cz.txt": function (req) {
            return {chunk: true, compress: true, txt: function (req) {
                if (req.chunkIndex == 3) req.chunkEnd("@small.txt");
                else req.chunkSend("tick tick tick tick tick " + req.chunkIndex + "\n");
            }};
        },
        "/deferchunk.txt": function (req) {
            setTimeout(function () {
                req.reply({chunk: true, txt: function (r) {
                    if (r.chunkIndex == 2) r.chunkEnd("z"); else r.chunkSend("d" + r.chunkIndex);
                }});
            }, 30);
            return {defer: true};
        }
    }
});
'''


def chunked_get(port, path, timeout=20, on_chunk=None):
    """Raw HTTP/1.1 GET; returns (head bytes, [(time, chunk bytes)])."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                raise AssertionError("connection closed in the headers: %r" % buf)
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        chunks = []

        def need(n):
            nonlocal buf
            while len(buf) < n:
                d = s.recv(65536)
                if not d:
                    raise AssertionError("connection closed in the body")
                buf += d

        while True:
            while b"\r\n" not in buf:
                d = s.recv(65536)
                if not d:
                    raise AssertionError("connection closed before the last chunk")
                buf += d
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            need(size + 2)
            data, buf = buf[:size], buf[size + 2:]
            if size == 0:
                break
            chunks.append((time.monotonic(), data))
            if on_chunk:
                on_chunk(len(chunks))
        return head, chunks
    finally:
        s.close()


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class StreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        files = {"big.bin": BIG, "mb.bin": MB, "small.txt": "small;"}
        for i in range(4):
            files["part%d.bin" % i] = MB[i * 262144:(i + 1) * 262144]
        cls.srv = JsServer(SCRIPT, files=files)

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def get(self, path, **kw):
        return self.srv.get(path, **kw)

    def state(self):
        st, _, body = self.get("/state.json")
        self.assertEqual(st, 200)
        return json.loads(body)

    # ---- the server buffer ----------------------------------------------------
    def test_printf_put_getpos_rewind_getbuffer(self):
        st, hd, body = self.get("/printf.txt")
        self.assertEqual(st, 200, body)
        pre, rest = body.split(b"|BODY:", 1)
        r = json.loads(rest)
        self.assertEqual(pre, b'x-42-003.1|\xc3\xa9\xe2\x82\xac|str|buf|12{"k":1}{"z":[1,2]}')
        self.assertEqual(r["a"], len("x-42-003.1|"))
        self.assertEqual(r["b"], 6)  # bytes, not characters
        self.assertEqual([r["c"], r["d"], r["e"], r["f"]], [4, 4, 2, 7])
        self.assertEqual(r["pos"], 11 + 6 + 4 + 4 + 2 + 7)
        self.assertEqual(r["rw"], r["pos"])
        self.assertEqual(r["pos2"], r["pos"])
        self.assertEqual(r["copy"], pre[:r["pos"]].decode())
        self.assertEqual(r["json"], len('{"z":[1,2]}'))
        self.assertEqual(int(hd["content-length"]), len(body))
        self.assertEqual(hd["content-type"], "text/plain")

    def test_rewind_past_end(self):
        st, _, body = self.get("/rewind.txt")
        self.assertEqual(st, 200)
        lines = body.split(b"|", 1)
        self.assertEqual(lines[0], b"a")  # rewound to 1
        msgs = lines[1].decode().split("\n")
        self.assertIn("RangeError: req.rewind: position 10 is past the end of the server buffer "
                      "(req.getpos() is 3)", msgs[0])
        self.assertIn("RangeError", msgs[1])
        st, _, body = self.get("/rewind-uncaught.txt")
        self.assertEqual(st, 500)
        self.assertIn(b"position 4 is past the end", body)
        self.assertNotIn(b"abc", body.split(b"<pre>")[0])

    def test_big_buffer_byte_exact(self):
        st, hd, body = self.get("/big.bin")
        self.assertEqual(st, 200)
        tail = b"|tail %d" % len(BIG)
        self.assertEqual(len(body), len(BIG) + len(tail))
        self.assertTrue(body[:len(BIG)] == BIG, "5 MB server buffer differs")
        self.assertEqual(body[len(BIG):], tail)
        self.assertEqual(int(hd["content-length"]), len(body))

    def test_printf_loop(self):
        st, _, body = self.get("/loop.txt")
        self.assertEqual(st, 200)
        want = "".join("%08d\n" % i for i in range(100000)).encode() + b"done"
        self.assertTrue(body == want)

    def test_buffer_only_and_reset(self):
        st, hd, body = self.get("/onlybuf.html")
        self.assertEqual((st, body), (200, b"<p>only</p>"))
        self.assertEqual(hd["content-type"], "text/html")
        st, _, body = self.get("/bufthrow.txt")
        self.assertEqual(st, 500)
        st, _, body = self.get("/after.txt")
        self.assertEqual(body, b"clean")  # the thrown function's buffer did not leak

    # ---- defer --------------------------------------------------------------------
    def test_defer_basic(self):
        st, hd, body = self.get("/defer-status.txt")
        self.assertEqual((st, body), (201, b"made ya wait!"))
        self.assertEqual(hd["x-later"], "yes")
        st, _, body = self.get("/defer.json?i=7&ms=20")
        self.assertEqual(st, 200)
        self.assertEqual(body, b'[pre 7][later 7]{"i":7,"ms":20}')

    def test_defer_100_concurrent_one_thread(self):
        def one(i):
            st, _, body = self.get("/defer.json?i=%d&ms=%d" % (i, 300 + i % 7 * 10), timeout=30)
            return i, st, body
        t0 = time.monotonic()
        with ThreadPoolExecutor(100) as ex:
            res = list(ex.map(one, range(100)))
        took = time.monotonic() - t0
        for i, st, body in res:
            self.assertEqual(st, 200)
            self.assertEqual(body, b'[pre %d][later %d]{"i":%d,"ms":%d}'
                             % (i, i, i, 300 + i % 7 * 10))
        # all waited at once: far less than 100 x 300 ms
        self.assertLess(took, 20, "deferred requests were not concurrent")

    def test_defer_client_gone(self):
        before = self.state()["replied"].count(False)
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        s.sendall(b"GET /defer.json?i=999&ms=400 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.1)
        s.close()
        wait_until(lambda: self.state()["replied"].count(False) > before, 5,
                   what="req.reply to return false")
        self.assertTrue(self.srv.alive())
        st, _, body = self.get("/after.txt")
        self.assertEqual(body, b"clean")
        wait_until(lambda: "deferred reply is dropped" in self.srv.stderr(), 5,
                   what="the drop in the error log")

    def test_reply_twice(self):
        st, _, body = self.get("/twice.txt")
        self.assertEqual((st, body), (200, b"first"))
        errs = self.state()["errors"]
        self.assertTrue(any("req.reply" in e and "already answered" in e for e in errs), errs)

    def test_reply_before_return(self):
        st, _, body = self.get("/early-reply.txt")
        self.assertEqual(st, 200)
        self.assertIn(b"req.reply: no deferred reply is pending", body)

    def test_defer_then_chunk(self):
        st, hd, body = self.get("/deferchunk.txt")
        self.assertEqual((st, body), (200, b"d0d1z"))
        self.assertEqual(hd.get("transfer-encoding"), "chunked")

    # ---- chunking -------------------------------------------------------------------
    def test_chunk_kinds(self):
        head, chunks = chunked_get(self.srv.port, "/chunk.txt")
        self.assertIn(b"Transfer-Encoding: chunked", head)
        self.assertIn(b"Content-Type: text/plain", head)
        body = b"".join(c for _, c in chunks)
        self.assertEqual(body, b'buf0;pre;str;buffer;42{"o":1}small;+end')

    def test_chunk_1mb_file_readfile(self):
        st, hd, body = self.get("/file1m.bin")
        self.assertEqual(st, 200)
        self.assertEqual(hd.get("transfer-encoding"), "chunked")
        self.assertNotIn("content-length", hd)
        self.assertIn("mb.bin", hd["content-disposition"])
        self.assertEqual(len(body), len(MB))
        self.assertTrue(body == MB, "1 MB chunked file differs")
        head, chunks = chunked_get(self.srv.port, "/file1m.bin")
        self.assertEqual(b"".join(c for _, c in chunks), MB)

    def test_chunk_file_parts(self):
        st, hd, body = self.get("/fileparts.bin")
        self.assertEqual(st, 200)
        self.assertEqual(hd.get("transfer-encoding"), "chunked")
        self.assertTrue(body == MB, "@file chunks differ")

    def test_chunk_delay_spacing(self):
        delay, n = 150, 6
        t0 = time.monotonic()
        head, chunks = chunked_get(self.srv.port, "/delay.txt?n=%d&d=%d" % (n, delay))
        total = time.monotonic() - t0
        self.assertEqual([c for _, c in chunks], [b"c%d\n" % i for i in range(n)])
        # Chunk i cannot leave before i delays after the request was sent; a
        # loaded machine can only make it arrive later (so no check of each
        # gap: one late arrival shortens the next gap).
        since = [(t - t0) * 1000 for t, _ in chunks]
        for i, ms in enumerate(since):
            self.assertGreaterEqual(ms, i * delay - 15, since)
        self.assertGreaterEqual(total * 1000, (n - 1) * delay - 15)
        self.assertLess(total * 1000, (n - 1) * delay + 15000)

    def test_callback_without_send_and_index(self):
        st, _, body = self.get("/skip.txt")
        self.assertEqual((st, body), (200, b"i0;i1;i2c6"))

    def test_chunk_errors(self):
        head, chunks = None, None
        st, _, body = self.get("/outside.txt")
        self.assertIn(b"req.chunkSend: only available inside the chunk callback", body)
        # an error after chunks went out ends the stream (terminated cleanly)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"GET /chunkerr.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = recv_to_eof(s)
        s.close()
        self.assertIn(b"ok0;", data)
        self.assertIn(b"ok1;", data)
        self.assertTrue(data.endswith(b"0\r\n\r\n"), data)
        # an error before anything was sent: 500 with the message (developerMode)
        st, _, body = self.get("/chunkerr0.txt")
        self.assertEqual(st, 500)
        self.assertIn(b"first chunk boom", body)
        st, _, body = self.get("/badchunk.txt")
        self.assertEqual(st, 500)
        self.assertIn(b"nonexistent", body)
        wait_until(lambda: "chunk boom" in self.srv.stderr(), 5, what="the error in the log")

    def test_keepalive_after_chunk_and_defer(self):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=20)
        try:
            for path, want in [("/chunk.txt", b'buf0;pre;str;buffer;42{"o":1}small;+end'),
                               ("/defer.json?i=1&ms=10", b'[pre 1][later 1]{"i":1,"ms":10}'),
                               ("/file1m.bin", MB), ("/after.txt", b"clean")]:
                c.request("GET", path)
                r = c.getresponse()
                self.assertEqual((r.status, r.read()), (200, want), path)
        finally:
            c.close()

    def test_chunk_compression(self):
        import gzip
        st, hd, body = self.get("/chunk.txt", headers={"Accept-Encoding": "gzip"})
        self.assertNotIn("content-encoding", hd)  # off unless asked for
        st, hd, body = self.get("/cz.txt", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(st, 200)
        self.assertEqual(hd.get("content-encoding"), "gzip")
        self.assertEqual(hd.get("transfer-encoding"), "chunked")
        self.assertEqual(gzip.decompress(body), b"".join(b"tick tick tick tick tick %d\n" % i for i in range(3))
                         + b"small;")

    def test_head_chunk(self):
        st, hd, body = self.srv.request("HEAD", "/chunk.txt")
        self.assertEqual((st, body), (200, b""))

    def test_slow_client_bounded_memory(self):
        pid = self.srv.proc.pid
        # warm up: one full stream, so allocator arenas exist already
        st, _, body = self.get("/slow.bin", timeout=60)
        self.assertEqual(len(body), 128 * 262144)
        rss0 = vmrss_kb(pid)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.settimeout(30)
        s.connect(("127.0.0.1", self.srv.port))
        s.sendall(b"GET /slow.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        got = 0
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:      # slow: 16 KiB per 50 ms
            got += len(s.recv(16384))
            time.sleep(0.05)
        rss1 = vmrss_kb(pid)
        idx = self.state()["slowIndex"]
        if os.environ.get("RP_VERBOSE"):
            print("rss0 %d kB, rss1 %d kB, got %d, index %d" % (rss0, rss1, got, idx))
        # the stream is 32 MB; the server holds about one 256 KiB chunk
        self.assertLess(rss1 - rss0, 8 * 1024, "RSS grew %d kB" % (rss1 - rss0))
        self.assertLess(idx, 40, "callbacks ran ahead of the client (%d)" % idx)
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got += len(d)
        s.close()
        self.assertGreater(got, 128 * 262144)
        self.assertEqual(self.state()["slowIndex"], 127)

    def test_disconnect_stops_callbacks(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"GET /forever.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while data.count(b"tick") < 5:
            data += s.recv(4096)
        s.close()
        # first the server notices, then nothing more may run for a while
        wait_until(lambda: "chunked reply stops" in self.srv.stderr(), 5, what="the log line")
        c1 = self.state()["count"]
        time.sleep(0.6)  # an observation window, not a synchronisation
        c2 = self.state()["count"]
        self.assertEqual(c1, c2, "callbacks went on after the client left")
        self.assertTrue(self.srv.alive())


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class TimeoutTest(unittest.TestCase):
    def test_callback_timeouts(self):
        script = r'''
        var server = require("rampart-server");
        var started = 0; /* deferlong requests that reached their handler */
        server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1,
                      scriptTimeout: 0.5, map: {
            "/loop.txt": function (req) {
                return {chunk: true, txt: function (req) {
                    if (req.chunkIndex == 1) while (true) {}
                    req.chunkSend("a");
                }};
            },
            "/deferloop.txt": function (req) {
                setTimeout(function () { while (true) {} }, 10);
                setTimeout(function () { req.reply({txt: "still here"}); }, 50);
                return {defer: true};
            },
            "/ok.txt": function () { return {txt: "ok"}; },
            "/started.txt": function () { return {txt: "" + started}; },
            "/deferlong.txt": function (req) {
                started++;
                setTimeout(function () { req.reply({txt: "too late"}); }, 3000);
                return {defer: true};
            },
            "/spin.txt": function () { while (true) {} }
        }});
        '''
        with JsServer(script) as srv:
            t0 = time.monotonic()
            head, chunks = chunked_get(srv.port, "/loop.txt")
            self.assertEqual(b"".join(c for _, c in chunks), b"a")
            self.assertLess(time.monotonic() - t0, 30)  # the loop never ends by itself
            st, _, body = srv.get("/deferloop.txt")
            self.assertEqual((st, body), (200, b"still here"))
            self.assertEqual(srv.get("/ok.txt")[2], b"ok")
            wait_until(lambda: "timed out" in srv.stderr(), 5, what="the timeout in the log")
            # a timeout resets the heap: requests deferred in it are answered 500
            res = {}

            def deferred():
                res["a"] = srv.get("/deferlong.txt")
            th = threading.Thread(target=deferred)
            th.start()
            # the deferred request must be waiting in the heap before it is reset
            wait_until(lambda: srv.get("/started.txt")[2] == b"1", 10,
                       what="the deferred request to run")
            st, _, _ = srv.get("/spin.txt")
            self.assertEqual(st, 500)
            th.join(10)
            self.assertEqual(res["a"][0], 500)
            wait_until(lambda: "before req.reply" in srv.stderr(), 5, what="the log line")
            self.assertEqual(srv.get("/ok.txt")[2], b"ok")

    def test_host_script_timeout_bounds_chunk_callbacks(self):
        # no server-wide scriptTimeout: only host "t"'s bounds the callbacks
        script = r'''
        var server = require("rampart-server");
        server.start({bind: "127.0.0.1:{port}", user: "nobody", threads: 1,
                      hosts: {"t": {scriptTimeout: 0.3, map: {
            "/loop.txt": function (req) {
                return {chunk: true, txt: function (req) {
                    if (req.chunkIndex == 1) while (true) {}
                    req.chunkSend("a");
                }};
            }}}}});
        '''
        with JsServer(script) as srv:
            head, chunks = chunked_get(srv.port, "/loop.txt")
            self.assertIn(b" 200 ", head)
            self.assertEqual(b"".join(c for _, c in chunks), b"a")
            wait_until(lambda: "(chunk 1): script timed out" in srv.stderr(), 5,
                       what="the timeout in the log")


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class ExamplesTest(unittest.TestCase):
    def run_example(self, name):
        port = free_port()
        env = dict(os.environ, BIND="127.0.0.1:%d" % port)
        # an unnamed file: nothing is left in /tmp, even if the test dies
        log = tempfile.TemporaryFile()
        p = subprocess.Popen([RAMPART, os.path.join(REPO, "examples", name)],
                             cwd=os.path.join(REPO, "examples"), env=env,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.addCleanup(self.stop, p, log)  # also when the start below fails

        def up():
            if p.poll() is not None:
                log.seek(0)
                raise AssertionError("%s exited: %s" % (name, log.read()))
            s = socket.socket()
            try:
                return s.connect_ex(("127.0.0.1", port)) == 0
            finally:
                s.close()
        wait_until(up, 15, what=name)
        return p, port, log

    def stop(self, p, log):
        """Idempotent: the tests call it, and addCleanup again."""
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()

    def test_defer_example(self):
        p, port, log = self.run_example("defer.js")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            t0 = time.monotonic()
            c.request("GET", "/defer.txt")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"made ya wait!"))
            self.assertGreater(time.monotonic() - t0, 1.5)
            c.close()
        finally:
            self.stop(p, log)

    def test_chunk_file_example(self):
        p, port, log = self.run_example("chunk_file.js")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("GET", "/myfile.mp4")
            r = c.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
            c.close()
            with open(os.path.join(REPO, "examples", "chunk_file.js"), "rb") as f:
                self.assertEqual(body, f.read())
        finally:
            self.stop(p, log)


if __name__ == "__main__":
    unittest.main()
