"""mod_gzip against the real rampart-httpd: real sockets, real clients.

Covers: byte-exact gzip round trips for every default extension
(html css js json xml txt text htm) and for an explicit extension list,
Vary, Content-Length of cached copies, ETag of the gzip variant (distinct,
and answered with 304), refused encodings (absent, identity, gzip;q=0,
*;q=0, others only), q-values (gzip;q=0.5, *, x-gzip, upper case, tiny q),
CompressMinSize (default 1000 around the edge, 0, with suffix), CompressLevel
(1 vs 10 changes the size), HEAD / 304 / Range (206) / already encoded
responses untouched, the .gzipcache copy (created, reused with the same
inode and mtime, refreshed after the original is touched or rewritten),
50 parallel first requests for one file (all valid, exactly one cache file,
no temporary files left), an unwritable directory (compressed on the fly,
one warning per directory), a 3 MB file compressed on the fly (paced),
script output (CompressScripts off by default; on: chunked streams
compressed, FLUSH gives output the client can decode at once), and the
directives' range checks with file:line errors.

The per-response override (rp_resp_set_compress, for mod_js's
`compress`) is tested through mod_js: test_js_server.TestMain.test_compress.

Run: cd tests/integration && python3 -m unittest test_gzip -v
"""

import gzip
import os
import random
import re
import socket
import threading
import time
import unittest
import zlib

from rptest import Server, IS_ROOT, LOAD_TESTHOOKS, TEST_MODULES, wait_until

EXTS = ["html", "css", "js", "json", "xml", "txt", "text", "htm"]
AE = {"Accept-Encoding": "gzip"}


def text_body(n, seed=1):
    """Compressible but not trivial text of exactly n bytes."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "rampart", "server", "<div>", "</div>",
             "gzip", "cache", "file", "{\"k\": 1}", "lorem", "ipsum", "dolor", "\n"]
    out = []
    size = 0
    while size < n:
        w = "%s%d " % (rng.choice(words), rng.randint(0, 9999))
        out.append(w)
        size += len(w)
    return "".join(out).encode()[:n]


BODY = text_body(20000)
BIG = text_body(3 * 1024 * 1024 + 7, seed=3)

FILES = {"www/f.%s" % e: BODY for e in EXTS}
FILES.update({
    "www/pic.png": BODY,
    "www/noext": BODY,
    "www/min999.txt": text_body(999, 5),
    "www/min1000.txt": text_body(1000, 6),
    "www/empty.txt": b"",
    "www/enc/pre.txt": BODY,
    "www/cache/c.html": BODY,
    "www/race/r.html": text_body(400000, 9),
    "www/ro/ro.html": BODY,
    "www/ro/ro2.css": BODY,
    "www/rogz/big.txt": BIG,
})


def gunzip(data):
    return gzip.decompress(data)


def hdr(headers, name):
    return headers.get(name.lower())


def dechunk(data):
    """The payload of a complete chunked body."""
    out = b""
    while True:
        line, _, data = data.partition(b"\r\n")
        n = int(line, 16)
        if n == 0:
            return out
        out += data[:n]
        data = data[n + 2:]


def dechunk_partial(raw):
    """(head, text decompressed so far) of a gzip+chunked response being read."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return head, b""
    body = b""
    while True:
        line, sep, tail = rest.partition(b"\r\n")
        if not sep or not line:
            break
        n = int(line, 16)
        if n == 0 or len(tail) < n + 2:
            break
        body += tail[:n]
        rest = tail[n + 2:]
    return head, zlib.decompressobj(31).decompress(body)


def vary_has_ae(headers):
    v = hdr(headers, "vary") or ""
    return "accept-encoding" in [x.strip().lower() for x in v.split(",")]


def make_writable(srv, rel):
    """A directory the server (nobody when we are root) may write into."""
    p = srv.path(rel)
    os.chmod(p, 0o777)
    return p


class GzipFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # FileCacheValid 0: files here are rewritten in place between
        # requests, and each worker would keep its own view of them for the
        # validity window (test_file_cache tests the window).
        cls.srv = Server(conf="LoadModule static mod_static.so\n"
                              "LoadModule gzip mod_gzip.so\n"
                              "FileCacheValid 0\n"
                              "CompressFiles on\n"
                              "Map / {www}\n"
                              "Map /enc {www}/enc\n"
                              "<Route /enc/>\nHeader set Content-Encoding br\n</Route>\n",
                         files=FILES, threads=2)
        for d in ("www", "www/cache", "www/race", "www/enc"):
            make_writable(cls.srv, d)
        # Unwritable for the server: mode 0555 (as root the server is nobody,
        # who is not the owner; as a user, 0555 stops the owner too).
        os.chmod(cls.srv.path("www/ro"), 0o555)
        os.chmod(cls.srv.path("www/rogz"), 0o555)

    @classmethod
    def tearDownClass(cls):
        for d in ("www/ro", "www/rogz"):
            try:
                os.chmod(cls.srv.path(d), 0o755)
            except OSError:
                pass
        cls.srv.cleanup()

    def get(self, path, headers=None, method="GET"):
        return self.srv.request(method, path, headers)

    def assert_gzip(self, path, expect, headers=AE):
        st, h, body = self.get(path, headers)
        self.assertEqual(st, 200, path)
        self.assertEqual(hdr(h, "content-encoding"), "gzip", (path, h))
        self.assertTrue(vary_has_ae(h), h)
        self.assertEqual(gunzip(body), expect, path)
        if "content-length" in h:
            self.assertEqual(int(h["content-length"]), len(body))
        self.assertNotIn("accept-ranges", h)
        return h, body

    def assert_identity(self, path, expect, headers=None, vary=True):
        st, h, body = self.get(path, headers)
        self.assertEqual(st, 200, path)
        self.assertIsNone(hdr(h, "content-encoding"), (path, h))
        self.assertEqual(body, expect, path)
        self.assertEqual(int(h["content-length"]), len(expect))
        if vary:
            self.assertTrue(vary_has_ae(h), h)
        return h

    # ---- round trips ---------------------------------------------------
    def test_roundtrip_each_extension(self):
        for e in EXTS:
            with self.subTest(ext=e):
                h, body = self.assert_gzip("/f.%s" % e, BODY)
                self.assertLess(len(body), len(BODY) // 2)
                # second time: from the cache, same bytes, known length
                h2, body2 = self.assert_gzip("/f.%s" % e, BODY)
                self.assertEqual(body2, body)
                self.assertEqual(int(h2["content-length"]), len(body2))

    def test_other_extensions_untouched(self):
        for p in ("/pic.png", "/noext"):
            with self.subTest(path=p):
                st, h, body = self.get(p, AE)
                self.assertEqual(st, 200)
                self.assertIsNone(hdr(h, "content-encoding"))
                self.assertIsNone(hdr(h, "vary"))
                self.assertEqual(body, BODY)

    def test_mime_type_kept(self):
        h, _ = self.assert_gzip("/f.css", BODY)
        self.assertTrue(h["content-type"].startswith("text/css"), h)

    def test_with_curl(self):
        import shutil
        import subprocess
        if not shutil.which("curl"):
            self.skipTest("curl not installed")
        out = subprocess.run(["curl", "-s", "--compressed", self.srv.url("/f.json")],
                             capture_output=True, timeout=30)
        self.assertEqual(out.stdout, BODY)

    # ---- Accept-Encoding -------------------------------------------------
    def test_no_accept_encoding(self):
        # http.client sends "Accept-Encoding: identity" unless told otherwise
        self.assert_identity("/f.html", BODY)
        raw = self.srv.raw(b"GET /f.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head = raw.split(b"\r\n\r\n", 1)[0].lower()
        self.assertNotIn(b"content-encoding", head)
        self.assertTrue(raw.endswith(BODY))

    def test_refused_encodings(self):
        for ae in ("identity", "gzip;q=0", "gzip; q=0.000", "*;q=0", "deflate, br",
                   "br;q=1.0, gzip;q=0", "gzip;q=0, *", "*;q=0, identity", "gzipx", "",
                   "gzip;q=2", "gzip;q=abc"):
            with self.subTest(ae=ae):
                self.assert_identity("/f.txt", BODY, {"Accept-Encoding": ae})

    def test_q_values_accepted(self):
        for ae in ("gzip", "GZIP", "gzip;q=0.5", "gzip ; q=1.0", "deflate, gzip;q=0.001",
                   "*", "br, *;q=0.1", "x-gzip", "identity;q=1, gzip;q=0.8",
                   "gzip;q=0, gzip;q=1", "br;q=1, gzip;q=0.5, *;q=0"):
            with self.subTest(ae=ae):
                self.assert_gzip("/f.txt", BODY, {"Accept-Encoding": ae})

    # ---- minimum size ----------------------------------------------------
    def test_min_size_default(self):
        self.assert_identity("/min999.txt", FILES["www/min999.txt"], AE, vary=True)
        self.assert_gzip("/min1000.txt", FILES["www/min1000.txt"])

    def test_empty_file(self):
        st, h, body = self.get("/empty.txt", AE)
        self.assertEqual((st, body), (200, b""))
        self.assertIsNone(hdr(h, "content-encoding"))

    # ---- untouched responses --------------------------------------------
    def test_head_untouched(self):
        st, h, body = self.get("/f.js", AE, method="HEAD")
        self.assertEqual(st, 200)
        self.assertIsNone(hdr(h, "content-encoding"))
        self.assertEqual(int(h["content-length"]), len(BODY))
        self.assertEqual(body, b"")

    def test_304_untouched(self):
        _, h, _ = self.get("/f.xml")
        etag, lm = h["etag"], h["last-modified"]
        st, h2, body = self.get("/f.xml", {"Accept-Encoding": "gzip", "If-None-Match": etag})
        self.assertEqual((st, body), (304, b""))
        self.assertIsNone(hdr(h2, "content-encoding"))
        self.assertEqual(h2["etag"], etag)
        st, h3, _ = self.get("/f.xml", {"Accept-Encoding": "gzip", "If-Modified-Since": lm})
        self.assertEqual(st, 304)
        self.assertIsNone(hdr(h3, "content-encoding"))

    def test_range_untouched(self):
        st, h, body = self.get("/f.htm", {"Accept-Encoding": "gzip", "Range": "bytes=10-109"})
        self.assertEqual(st, 206)
        self.assertIsNone(hdr(h, "content-encoding"))
        self.assertEqual(body, BODY[10:110])
        self.assertEqual(h["content-range"], "bytes 10-109/%d" % len(BODY))

    def test_already_encoded_untouched(self):
        st, h, body = self.get("/enc/pre.txt", AE)
        self.assertEqual(st, 200)
        self.assertEqual(h["content-encoding"], "br")
        self.assertEqual(body, BODY)
        self.assertFalse(os.path.exists(self.srv.path("www/enc/.gzipcache")))

    def test_errors_untouched(self):
        st, h, body = self.get("/missing.html", AE)
        self.assertEqual(st, 404)
        self.assertIsNone(hdr(h, "content-encoding"))
        self.assertIn(b"404", body)

    # ---- validators of the gzip variant ----------------------------------
    def test_etag_distinct_and_304(self):
        _, hi, _ = self.get("/f.text")
        hg, _ = self.assert_gzip("/f.text", BODY)
        self.assertNotEqual(hi["etag"], hg["etag"])
        self.assertEqual(hg["etag"], hi["etag"][:-1] + '-gz"')
        self.assertEqual(hg["last-modified"], hi["last-modified"])
        hg2, _ = self.assert_gzip("/f.text", BODY)  # cached copy: same tag
        self.assertEqual(hg2["etag"], hg["etag"])
        st, h, body = self.get("/f.text", {"Accept-Encoding": "gzip",
                                           "If-None-Match": hg["etag"]})
        self.assertEqual((st, body), (304, b""))
        self.assertEqual(h["etag"], hg["etag"])
        self.assertTrue(vary_has_ae(h))
        # the gzip tag does not validate the identity variant
        st, _, body = self.get("/f.text", {"If-None-Match": hg["etag"]})
        self.assertEqual((st, body), (200, BODY))

    # ---- the cache ---------------------------------------------------------
    def test_cache_created_reused_refreshed(self):
        cpath = self.srv.path("www/cache/.gzipcache/c.html.gz")
        _, body1 = self.assert_gzip("/cache/c.html", BODY)
        self.assertTrue(os.path.isfile(cpath))
        with open(cpath, "rb") as f:
            cached = f.read()
        self.assertEqual(gunzip(cached), BODY)
        self.assertEqual(cached, body1)
        st1 = os.stat(cpath)
        time.sleep(0.05)
        h2, body2 = self.assert_gzip("/cache/c.html", BODY)
        self.assertEqual(body2, cached)
        self.assertEqual(int(h2["content-length"]), len(cached))
        st2 = os.stat(cpath)
        self.assertEqual((st1.st_ino, st1.st_mtime_ns), (st2.st_ino, st2.st_mtime_ns),
                         "cache copy rewritten although the original did not change")
        # touch: same content, new mtime -> rebuilt
        orig = self.srv.path("www/cache/c.html")
        t = time.time() + 5
        os.utime(orig, (t, t))
        # the server notices within FileCacheValid (its open-file cache)
        rebuilt = []

        def new_tag():
            rebuilt[:] = [self.assert_gzip("/cache/c.html", BODY)[0]]
            return rebuilt[0]["etag"] != h2["etag"]
        wait_until(new_tag, timeout=15, what="a new ETag after touch")
        h3 = rebuilt[0]
        self.assert_gzip("/cache/c.html", BODY)
        st3 = os.stat(cpath)
        self.assertNotEqual(st3.st_ino, st2.st_ino, "cache copy not rebuilt after touch")
        self.assertNotEqual(h3["etag"], h2["etag"])
        # rewrite with new content -> the new content, rebuilt again
        new = text_body(15000, seed=11)
        with open(orig, "wb") as f:
            f.write(new)
        t += 5
        os.utime(orig, (t, t))
        wait_until(lambda: gunzip(self.get("/cache/c.html", AE)[2]) == new, timeout=15,
                   what="the new content")
        self.assert_gzip("/cache/c.html", new)
        h5, _ = self.assert_gzip("/cache/c.html", new)
        self.assertIn("content-length", h5)
        with open(cpath, "rb") as f:
            self.assertEqual(gunzip(f.read()), new)
        # same mtime, different size (an mtime-preserving copy) -> rebuilt
        new2 = new + b"tail"
        with open(orig, "wb") as f:
            f.write(new2)
        os.utime(orig, (t, t))
        wait_until(lambda: gunzip(self.get("/cache/c.html", AE)[2]) == new2, timeout=15,
                   what="the longer content")
        self.assert_gzip("/cache/c.html", new2)
        self.assertEqual(sorted(os.listdir(self.srv.path("www/cache/.gzipcache"))),
                         ["c.html.gz"])

    def test_cache_file_not_trusted_blindly(self):
        # a cache file that is not ours (no matching header) is replaced
        d = self.srv.path("www/.gzipcache")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o777)
        bogus = gzip.compress(b"WRONG CONTENT" * 200)
        p = os.path.join(d, "f.json.gz")
        with open(p, "wb") as f:
            f.write(bogus)
        os.chmod(p, 0o666)
        self.assert_gzip("/f.json", BODY)
        self.assert_gzip("/f.json", BODY)

    def test_concurrent_first_requests(self):
        expect = FILES["www/race/r.html"]
        n = 50
        barrier = threading.Barrier(n)
        results = [None] * n

        def worker(i):
            try:
                barrier.wait(10)
                st, h, body = self.srv.request("GET", "/race/r.html", AE, timeout=30)
                ok = st == 200 and h.get("content-encoding") == "gzip" and \
                    gunzip(body) == expect
                results[i] = ok or (st, h)
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = repr(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        bad = [r for r in results if r is not True]
        self.assertEqual(bad, [], "%d of %d requests failed" % (len(bad), n))
        cdir = self.srv.path("www/race/.gzipcache")
        self.assertEqual(os.listdir(cdir), ["r.html.gz"])
        with open(os.path.join(cdir, "r.html.gz"), "rb") as f:
            self.assertEqual(gunzip(f.read()), expect)
        # and it is used from now on
        h, _ = self.assert_gzip("/race/r.html", expect)
        self.assertIn("content-length", h)

    def test_unwritable_directory(self):
        if not IS_ROOT and os.access(self.srv.path("www/ro"), os.W_OK):
            self.skipTest("cannot make a directory unwritable here")
        for _ in range(3):
            self.assert_gzip("/ro/ro.html", BODY)
            self.assert_gzip("/ro/ro2.css", BODY)
        self.assertFalse(os.path.exists(self.srv.path("www/ro/.gzipcache")))
        self.srv.wait_log(r"\[warn\] \[gzip\] .*ro/\.gzipcache")
        log = self.srv.error_log()
        self.assertEqual(len(re.findall(r"\[gzip\] .*/ro/\.gzipcache", log)), 1, log)

    def test_big_file_on_the_fly(self):
        # 3 MB in an unwritable directory: compressed while the client reads
        h, body = self.assert_gzip("/rogz/big.txt", BIG)
        self.assertNotIn("content-length", h)
        self.assertEqual(h.get("transfer-encoding"), "chunked")

    def test_big_file_on_the_fly_slow_reader(self):
        s = self.srv.sock(timeout=30)
        try:
            s.sendall(b"GET /rogz/big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                      b"Connection: close\r\n\r\n")
            data = bytearray()
            time.sleep(0.5)  # the server fills the socket, then must wait for drain
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
        finally:
            s.close()
        head, _, rest = bytes(data).partition(b"\r\n\r\n")
        self.assertIn(b"content-encoding: gzip", head.lower())
        self.assertEqual(gunzip(dechunk(rest)), BIG)

    def test_client_gone_mid_stream(self):
        for _ in range(5):
            s = self.srv.sock()
            s.sendall(b"GET /rogz/big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
            s.recv(1000)
            s.close()
        # the server goes on serving
        self.assert_gzip("/rogz/big.txt", BIG)
        self.assert_identity("/f.txt", BODY)

    def test_http10(self):
        st, h, body = self.srv.request("GET", "/f.html", AE, http10=True)
        self.assertEqual(st, 200)
        self.assertEqual(h["content-encoding"], "gzip")
        self.assertEqual(gunzip(body), BODY)


class GzipLevels(unittest.TestCase):
    def test_level_changes_size(self):
        body = text_body(200000, seed=21)
        sizes = {}
        for level in (1, 10):
            with Server(conf="LoadModule static mod_static.so\nLoadModule gzip mod_gzip.so\n"
                             "CompressFiles html\nCompressLevel %d\nMap / {www}\n" % level,
                        files={"www/l.html": body}) as srv:
                st, h, data = srv.request("GET", "/l.html", AE)
                self.assertEqual((st, h.get("content-encoding")), (200, "gzip"))
                self.assertEqual(gunzip(data), body)
                sizes[level] = len(data)
        self.assertLess(sizes[10], sizes[1] * 0.97, sizes)

    def test_min_size_directive(self):
        files = {"www/s.txt": text_body(300), "www/k.txt": text_body(5000)}
        with Server(conf="LoadModule static mod_static.so\nLoadModule gzip mod_gzip.so\n"
                         "CompressFiles txt\nCompressMinSize 0\nMap / {www}\n",
                    files=files) as srv:
            st, h, data = srv.request("GET", "/s.txt", AE)
            self.assertEqual(h.get("content-encoding"), "gzip")
            self.assertEqual(gunzip(data), files["www/s.txt"])
        with Server(conf="LoadModule static mod_static.so\nLoadModule gzip mod_gzip.so\n"
                         "CompressFiles txt\nCompressMinSize 5k\nMap / {www}\n",
                    files=files) as srv:
            st, h, data = srv.request("GET", "/k.txt", AE)
            self.assertIsNone(h.get("content-encoding"))
            self.assertEqual(data, files["www/k.txt"])

    def test_extension_list(self):
        files = {"www/a.md": BODY, "www/b.html": BODY, "www/c.CSV": BODY}
        with Server(conf="LoadModule static mod_static.so\nLoadModule gzip mod_gzip.so\n"
                         "CompressFiles md .csv\nMap / {www}\n", files=files) as srv:
            for p, on in (("/a.md", True), ("/b.html", False), ("/c.CSV", True)):
                st, h, data = srv.request("GET", p, AE)
                self.assertEqual(st, 200)
                if on:
                    self.assertEqual(h.get("content-encoding"), "gzip", p)
                    self.assertEqual(gunzip(data), BODY)
                else:
                    self.assertIsNone(h.get("content-encoding"), p)
                    self.assertEqual(data, BODY)

    def test_files_off_by_default(self):
        with Server(conf="LoadModule static mod_static.so\nLoadModule gzip mod_gzip.so\n"
                         "Map / {www}\n", files={"www/a.html": BODY}) as srv:
            st, h, data = srv.request("GET", "/a.html", AE)
            self.assertIsNone(h.get("content-encoding"))
            self.assertEqual(data, BODY)


@unittest.skipUnless(os.path.exists(os.path.join(TEST_MODULES, "mod_testhooks.so")),
                     "test-modules not built")
class GzipScripts(unittest.TestCase):
    CONF = (LOAD_TESTHOOKS + "LoadModule gzip mod_gzip.so\n%s"
            "Map /stream test:stream:300\n"
            "Map /slow test:stream:4:400\n"
            "Map /small test:status:200\n"
            "Map /bin test:bigchunked:100000\n")
    EXPECT = b"".join(b"chunk %d\n" % i for i in range(300))

    def test_off_by_default(self):
        with Server(conf=self.CONF % "") as srv:
            st, h, body = srv.request("GET", "/stream", AE)
            self.assertEqual(st, 200)
            self.assertIsNone(h.get("content-encoding"))
            self.assertEqual(body, self.EXPECT)

    def test_scripts_on(self):
        with Server(conf=self.CONF % "CompressScripts on\n") as srv:
            st, h, body = srv.request("GET", "/stream", AE)
            self.assertEqual((st, h.get("content-encoding")), (200, "gzip"))
            self.assertTrue(vary_has_ae(h))
            self.assertEqual(gunzip(body), self.EXPECT)
            # not accepted -> as is
            st, h, body = srv.request("GET", "/stream")
            self.assertIsNone(h.get("content-encoding"))
            self.assertEqual(body, self.EXPECT)
            # known length below the minimum -> as is
            st, h, body = srv.request("GET", "/small", AE)
            self.assertIsNone(h.get("content-encoding"))
            self.assertEqual(body, b"status 200\n")
            # a binary type is not compressed
            st, h, body = srv.request("GET", "/bin", AE)
            self.assertIsNone(h.get("content-encoding"))
            self.assertEqual(len(body), 100000)
            # HEAD untouched
            st, h, body = srv.request("HEAD", "/stream", AE)
            self.assertIsNone(h.get("content-encoding"))

    def test_flush_is_sync_flush(self):
        # four chunks 400 ms apart, each followed by FLUSH: the client must
        # be able to decode "chunk 0" long before the response ends.
        with Server(conf=self.CONF % "CompressScripts on\n") as srv:
            s = srv.sock(timeout=5)
            try:
                t0 = time.monotonic()
                s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                          b"Connection: close\r\n\r\n")
                raw = b""
                while b"chunk 0\n" not in dechunk_partial(raw)[1]:
                    got = s.recv(65536)
                    self.assertTrue(got, "closed before chunk 0 could be decoded")
                    raw += got
                early = time.monotonic() - t0
                head, text = dechunk_partial(raw)
                self.assertIn(b"content-encoding: gzip", head.lower())
                self.assertLess(early, 0.35)
                self.assertNotIn(b"chunk 1", text)
                while True:
                    got = s.recv(65536)
                    if not got:
                        break
                    raw += got
            finally:
                s.close()
            body = dechunk(raw.partition(b"\r\n\r\n")[2])
            self.assertEqual(gunzip(body), b"".join(b"chunk %d\n" % i for i in range(4)))

    # The per-response override (rp_resp_set_compress) is exercised through
    # mod_js's `compress` key: test_js_server.TestMain.test_compress.


class GzipDirectives(unittest.TestCase):
    def bad(self, line, needle):
        srv = Server(conf="LoadModule static mod_static.so\nLoadModule gzip mod_gzip.so\n"
                          + line + "\n", expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            out = srv.output()
            self.assertRegex(out, r"rampart\.conf:\d+")
            self.assertIn(needle, out)
        finally:
            srv.cleanup()

    def test_level_range(self):
        for v in ("0", "11", "-1", "abc", "1.5"):
            with self.subTest(v=v):
                self.bad("CompressLevel %s" % v, "CompressLevel")

    def test_min_size(self):
        for v in ("-1", "abc", "10q"):
            with self.subTest(v=v):
                self.bad("CompressMinSize %s" % v, "CompressMinSize")

    def test_files(self):
        self.bad("CompressFiles html on", "CompressFiles")
        self.bad("CompressFiles .", "CompressFiles")

    def test_scripts(self):
        self.bad("CompressScripts maybe", "CompressScripts")
        self.bad("CompressScripts", "CompressScripts")

    def test_good(self):
        with Server(conf="LoadModule static mod_static.so\nLoadModule gzip mod_gzip.so\n"
                         "CompressFiles off\nCompressFiles true\nCompressScripts on\n"
                         "CompressLevel 10\nCompressLevel 1\nCompressMinSize 2k\n") as srv:
            self.assertTrue(srv.alive())


if __name__ == "__main__":
    unittest.main()
