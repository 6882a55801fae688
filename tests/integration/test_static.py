"""mod_static against the real rampart-httpd: real sockets, real clients.

Covers: index.html, mime types, Cache-Control (default, custom, on, off),
ETag / Last-Modified and 304 (If-None-Match lists, weak, "*";
If-Modified-Since), Range (206, 416, multi-range -> 200, If-Range), HEAD,
301 for directories without a slash, 403 without an index, 404, 405,
per-route headers (both spellings), relative Map targets, longest-prefix
mapping, the spec's "/file.html" directory-key example, a 5 MB file
byte-exact (http.client and curl), Map configuration errors, and many
traversal vectors sent over raw sockets.

Run: cd tests/integration && python3 -m unittest test_static -v
"""

import os
import random
import shutil
import subprocess
import threading
import time
import unittest

from rptest import BUILD, IS_ROOT, Server, parse_responses, sha256

SECRET = b"RAMPART-SECRET-5c1e2d9a"        # outside the mapped root
SECRET2 = b"RAMPART-OUTSIDE-DIR-81f0b3"    # in a directory outside the root
SECRET3 = b"RAMPART-SIBLING-0d4471"        # in www2, whose name starts like www
PASSWD = b"root:x:0:0"
RANGE = bytes(range(100))
BIG = random.Random(7).randbytes(5 * 1024 * 1024 + 13)
CC_DEFAULT = "max-age=84600, public"

FILES = {
    "secret.txt": SECRET,
    "outside/secret2.txt": SECRET2,
    "www2/x.txt": SECRET3,
    "www/index.html": b"<h1>home</h1>\n",
    "www/a.txt": b"plain text A\n",
    "www/style.css": b"body{}\n",
    "www/app.js": b"var x = 1;\n",
    "www/data.json": b"{\"a\": 1}\n",
    "www/pic.png": b"\x89PNG\r\n\x1a\nfake",
    "www/noext": b"no extension\n",
    "www/thing.weirdext": b"unknown extension\n",
    "www/empty.txt": b"",
    "www/range.bin": RANGE,
    "www/big.bin": BIG,
    "www/sp ace.txt": b"space\n",
    "www/back\\slash.txt": b"backslash\n",
    "www/sub/index.html": b"<p>sub index</p>\n",
    "www/sub/deeper/c.txt": b"deep C\n",
    "www/noindex/file.txt": b"in noindex\n",
    "www/evil.example/index.html": b"not a redirect target\n",
    "www/static/s.txt": b"WRONG: served from / mapping\n",
    "static/s.txt": b"static mapping\n",
    "static/index.html": b"static index\n",
    "filedir/inner.txt": b"inner of file.html dir\n",
    "hdr/h.txt": b"with headers\n",
    "relwww/r.txt": b"relative target\n",
}

CONF = """LoadModule static mod_static.so
Map / {www}
Map /static {dir}/static
Map /file.html {dir}/filedir
Map /hdr/ {dir}/hdr
Map /rel relwww
<Route /static/>
    Header set X-Static yes
</Route>
<Route /hdr/>
    Header set X-Custom-1 val1
    Header set X-Custom-2 "value two"
    Header add X-Custom-3 "third one"
</Route>
"""


def raw_get(srv, target, headers=b"", method=b"GET", version=b"HTTP/1.1", timeout=3):
    """One request over a raw socket, exactly as given (no client-side
    normalisation).  Returns (status or None, headers dict, body, raw bytes)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    req = (method + b" " + target + b" " + version + b"\r\nHost: 127.0.0.1\r\n" + headers +
           b"Connection: close\r\n\r\n")
    data = srv.raw(req, timeout=timeout)
    try:
        resps = parse_responses(data, [method.decode()])
    except ValueError:
        resps = []
    if not resps:
        return None, {}, b"", data
    st, hd, body = resps[0]
    return st, hd, body, data


class StaticServerTest(unittest.TestCase):
    """One server with every mapping; most tests share it."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=CONF, files=FILES)
        d, w = cls.srv.dir, cls.srv.www
        # Symlinks: out of the root (absolute and relative, file and
        # directory) must look missing; inside the root they are fine.
        os.symlink(os.path.join(d, "secret.txt"), os.path.join(w, "evil_link"))
        os.symlink("../secret.txt", os.path.join(w, "evil_rel_link"))
        os.symlink(os.path.join(d, "outside"), os.path.join(w, "evil_dir"))
        os.symlink("../outside", os.path.join(w, "evil_rel_dir"))
        os.symlink("/", os.path.join(w, "evil_slash"))
        # A string-prefix check without the '/' would let ".../www2" pass
        # as inside ".../www".
        os.symlink(os.path.join(d, "www2", "x.txt"), os.path.join(w, "evil_sibling"))
        os.symlink(os.path.join(d, "www2"), os.path.join(w, "evil_sibling_dir"))
        os.symlink(os.path.join(w, "a.txt"), os.path.join(w, "good_abs_link"))
        os.symlink("a.txt", os.path.join(w, "good_rel_link"))
        os.symlink("sub/../a.txt", os.path.join(w, "good_dotdot_link"))
        os.symlink(os.path.join(w, "sub"), os.path.join(w, "good_dir"))
        os.symlink("evil_link", os.path.join(w, "chain_link"))
        os.symlink("loop2", os.path.join(w, "loop1"))
        os.symlink("loop1", os.path.join(w, "loop2"))
        os.mkfifo(os.path.join(w, "fifo"))
        p = cls.srv.write("www/private.txt", b"private", mode=0o000)
        os.chmod(p, 0o000)

    @classmethod
    def tearDownClass(cls):
        # A clean exit (0) and no sanitizer report after all of the above.
        rc = cls.srv.stop()
        out = cls.srv.output()
        keep = rc != 0 or "Sanitizer" in out or "runtime error" in out
        cls.srv.cleanup(keep=keep)
        if keep:
            raise AssertionError("server exit %s (kept %s)\n%s" % (rc, cls.srv.dir, out[-6000:]))

    def get(self, path, headers=None):
        return self.srv.request("GET", path, headers)

    def assertServes(self):
        st, _, body = self.get("/a.txt")
        self.assertEqual((st, body), (200, FILES["www/a.txt"]), "server stopped serving")

    # ---- basics -----------------------------------------------------------

    def test_index_html(self):
        st, hd, body = self.get("/")
        self.assertEqual(st, 200)
        self.assertEqual(body, FILES["www/index.html"])
        self.assertEqual(hd["content-type"].split(";")[0], "text/html")
        st, _, body = self.get("/sub/")
        self.assertEqual((st, body), (200, FILES["www/sub/index.html"]))

    def test_plain_file_headers(self):
        st, hd, body = self.get("/a.txt")
        self.assertEqual(st, 200)
        self.assertEqual(body, FILES["www/a.txt"])
        self.assertEqual(hd["content-length"], str(len(body)))
        self.assertEqual(hd["accept-ranges"], "bytes")
        self.assertEqual(hd["cache-control"], CC_DEFAULT)
        self.assertIn("last-modified", hd)
        self.assertRegex(hd["last-modified"], r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")
        self.assertRegex(hd["etag"], r'^"[0-9a-f]+-[0-9a-f]+"$')

    def test_mime_types(self):
        cases = {
            "/index.html": "text/html", "/a.txt": "text/plain", "/style.css": "text/css",
            "/app.js": "application/javascript", "/data.json": "application/json",
            "/pic.png": "image/png", "/noext": "application/octet-stream",
            "/thing.weirdext": "application/octet-stream",
        }
        for path, want in cases.items():
            with self.subTest(path=path):
                st, hd, _ = self.get(path)
                self.assertEqual(st, 200)
                self.assertEqual(hd["content-type"].split(";")[0].strip(), want)

    def test_empty_file(self):
        st, hd, body = self.get("/empty.txt")
        self.assertEqual((st, body, hd.get("content-length")), (200, b"", "0"))

    def test_encoded_names(self):
        st, _, body = self.get("/sp%20ace.txt")
        self.assertEqual((st, body), (200, FILES["www/sp ace.txt"]))
        # A backslash is an ordinary file-name character on Linux and
        # mod_static serves it; the core may refuse an encoded backslash
        # outright (400) as a policy, which is fine too.
        st, _, body = self.get("/back%5Cslash.txt")
        self.assertIn(st, (200, 400))
        if st == 200:
            self.assertEqual(body, FILES["www/back\\slash.txt"])

    def test_nested_file(self):
        st, _, body = self.get("/sub/deeper/c.txt")
        self.assertEqual((st, body), (200, FILES["www/sub/deeper/c.txt"]))

    # ---- directories --------------------------------------------------------

    def test_directory_without_slash_redirects(self):
        st, hd, _ = self.get("/sub")
        self.assertEqual(st, 301)
        self.assertEqual(hd["location"], "/sub/")
        st, hd, _ = self.get("/sub/deeper?x=1&y=two")
        self.assertEqual(st, 301)
        self.assertEqual(hd["location"], "/sub/deeper/?x=1&y=two")

    def test_redirect_is_not_protocol_relative(self):
        # "//evil.example" names a directory; the Location must stay on this
        # host, never "//evil.example/" (an open redirect).
        st, hd, _, raw = raw_get(self.srv, "//evil.example")
        self.assertIn(st, (301, 400, 404), raw[:300])
        if st == 301:
            self.assertTrue(hd["location"].startswith("/"))
            self.assertFalse(hd["location"].startswith("//"), hd["location"])

    def test_directory_without_index_is_403(self):
        st, _, body = self.get("/noindex/")
        self.assertEqual(st, 403)
        self.assertNotIn(b"file.txt", body)
        st, _, _ = self.get("/noindex")
        self.assertEqual(st, 301)

    def test_404(self):
        for path in ("/nope.txt", "/sub/nope", "/a.txt/", "/a.txt/x", "/nope/", "/sub/deeper/x/y"):
            with self.subTest(path=path):
                st, _, _ = self.get(path)
                self.assertEqual(st, 404)

    def test_unreadable_file_is_403(self):
        if not IS_ROOT and os.access(os.path.join(self.srv.www, "private.txt"), os.R_OK):
            self.skipTest("cannot make an unreadable file here")
        st, _, body = self.get("/private.txt")
        self.assertEqual(st, 403)
        self.assertNotIn(b"private", body)

    def test_fifo_is_refused_without_hanging(self):
        t0 = time.monotonic()
        st, _, _ = self.srv.request("GET", "/fifo", timeout=30)
        self.assertIn(st, (403, 404))
        self.assertLess(time.monotonic() - t0, 20)  # opening it would block forever
        self.assertServes()

    def test_symlink_loop_is_404(self):
        st, _, _ = self.get("/loop1")
        self.assertEqual(st, 404)

    # ---- methods ------------------------------------------------------------

    def test_405(self):
        for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            with self.subTest(method=m):
                st, hd, _ = self.srv.request(m, "/a.txt", body=b"x" if m != "OPTIONS" else None)
                self.assertEqual(st, 405)
                self.assertEqual(hd.get("allow"), "GET, HEAD")
        self.assertServes()

    def test_head(self):
        st, hd, body = self.srv.request("HEAD", "/range.bin")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(hd["content-length"], "100")
        self.assertIn("etag", hd)
        # Raw: HEAD then GET pipelined; if HEAD leaked body bytes the second
        # response would not parse.
        req = (b"HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resps = parse_responses(self.srv.raw(req), ["HEAD", "GET"])
        self.assertEqual(len(resps), 2)
        self.assertEqual(resps[0][0], 200)
        self.assertEqual(resps[0][1]["content-length"], str(len(BIG)))
        self.assertEqual((resps[1][0], resps[1][2]), (200, FILES["www/a.txt"]))

    # ---- validators and conditional requests -------------------------------

    def etag_and_date(self, path="/a.txt"):
        st, hd, _ = self.get(path)
        self.assertEqual(st, 200)
        return hd["etag"], hd["last-modified"]

    def test_etag_matches_file(self):
        etag, _ = self.etag_and_date("/range.bin")
        st = os.stat(os.path.join(self.srv.www, "range.bin"))
        self.assertEqual(etag, '"%x-%x"' % (int(st.st_mtime), st.st_size))

    def test_if_none_match(self):
        etag, _ = self.etag_and_date()
        cases = {etag: 304, '"nope", ' + etag: 304, 'W/' + etag: 304, "*": 304,
                 '"nope"': 200, '"nope", W/"other"': 200, etag[:-2] + '"': 200}
        for value, want in cases.items():
            with self.subTest(inm=value):
                st, hd, body = self.get("/a.txt", {"If-None-Match": value})
                self.assertEqual(st, want)
                if want == 304:
                    self.assertEqual(body, b"")
                    self.assertEqual(hd["etag"], etag)
                    self.assertEqual(hd["cache-control"], CC_DEFAULT)
                else:
                    self.assertEqual(body, FILES["www/a.txt"])

    def test_if_modified_since(self):
        etag, lm = self.etag_and_date()
        st, _, body = self.get("/a.txt", {"If-Modified-Since": lm})
        self.assertEqual((st, body), (304, b""))
        st, _, _ = self.get("/a.txt", {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
        self.assertEqual(st, 200)
        st, _, _ = self.get("/a.txt", {"If-Modified-Since": "garbage"})
        self.assertEqual(st, 200)
        # If-None-Match wins over If-Modified-Since.
        st, _, _ = self.get("/a.txt", {"If-None-Match": '"other"', "If-Modified-Since": lm})
        self.assertEqual(st, 200)
        st, _, _ = self.get("/a.txt", {"If-None-Match": etag,
                                       "If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
        self.assertEqual(st, 304)

    def test_head_304(self):
        etag, _ = self.etag_and_date()
        st, _, body = self.srv.request("HEAD", "/a.txt", {"If-None-Match": etag})
        self.assertEqual((st, body), (304, b""))

    # ---- ranges --------------------------------------------------------------

    def rng(self, value, path="/range.bin", extra=None):
        h = {"Range": value}
        h.update(extra or {})
        return self.get(path, h)

    def test_range_206(self):
        cases = {"bytes=0-9": (0, 10), "bytes=90-": (90, 100), "bytes=-5": (95, 100),
                 "bytes=50-1000": (50, 100), "bytes=99-99": (99, 100), "bytes=-1000": (0, 100),
                 "bytes= 3-4": (3, 5)}
        for value, (a, b) in cases.items():
            with self.subTest(range=value):
                st, hd, body = self.rng(value)
                self.assertEqual(st, 206)
                self.assertEqual(body, RANGE[a:b])
                self.assertEqual(hd["content-range"], "bytes %d-%d/100" % (a, b - 1))
                self.assertEqual(hd["content-length"], str(b - a))

    def test_range_416(self):
        for value in ("bytes=100-", "bytes=1000-2000", "bytes=-0"):
            with self.subTest(range=value):
                st, hd, _ = self.rng(value)
                self.assertEqual(st, 416)
                self.assertEqual(hd.get("content-range"), "bytes */100")
        st, hd, _ = self.rng("bytes=0-", path="/empty.txt")
        self.assertEqual(st, 416)
        self.assertEqual(hd.get("content-range"), "bytes */0")

    def test_range_ignored(self):
        # Several ranges, other units and malformed specs: the whole file.
        for value in ("bytes=0-1,5-6", "bytes=0-1, 50-", "items=0-5", "bytes=5-1", "bytes=x-y",
                      "bytes="):
            with self.subTest(range=value):
                st, hd, body = self.rng(value)
                self.assertEqual(st, 200)
                self.assertEqual(body, RANGE)
                self.assertNotIn("content-range", hd)

    def test_if_range(self):
        etag, lm = self.etag_and_date("/range.bin")
        st, _, body = self.rng("bytes=0-3", extra={"If-Range": etag})
        self.assertEqual((st, body), (206, RANGE[0:4]))
        st, _, body = self.rng("bytes=0-3", extra={"If-Range": lm})
        self.assertEqual((st, body), (206, RANGE[0:4]))
        for stale in ('"0-0"', "W/" + etag, "Sat, 01 Jan 2000 00:00:00 GMT"):
            with self.subTest(if_range=stale):
                st, _, body = self.rng("bytes=0-3", extra={"If-Range": stale})
                self.assertEqual((st, body), (200, RANGE))

    def test_range_big_file(self):
        st, hd, body = self.rng("bytes=1000000-1999999", path="/big.bin")
        self.assertEqual(st, 206)
        self.assertEqual(body, BIG[1000000:2000000])
        st, _, body = self.rng("bytes=-7", path="/big.bin")
        self.assertEqual((st, body), (206, BIG[-7:]))

    # ---- big bodies ----------------------------------------------------------

    def test_big_file_byte_exact(self):
        st, hd, body = self.srv.request("GET", "/big.bin", timeout=30)
        self.assertEqual(st, 200)
        self.assertEqual(hd["content-length"], str(len(BIG)))
        self.assertEqual(sha256(body), sha256(BIG))

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_big_file_curl(self):
        out = os.path.join(self.srv.dir, "curl.out")
        r = subprocess.run(["curl", "-sS", "--fail", "-o", out, self.srv.url("/big.bin")],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(sha256(f.read()), sha256(BIG))
        os.unlink(out)

    def test_big_file_concurrent(self):
        results = []

        def fetch():
            try:
                st, _, body = self.srv.request("GET", "/big.bin", timeout=60)
                results.append(st == 200 and body == BIG)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                results.append(e)

        threads = [threading.Thread(target=fetch) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        self.assertEqual(results, [True] * 6)

    # ---- mappings -------------------------------------------------------------

    def test_longest_prefix_wins(self):
        st, hd, body = self.get("/static/s.txt")
        self.assertEqual((st, body), (200, FILES["static/s.txt"]))
        self.assertEqual(hd.get("x-static"), "yes")
        st, _, body = self.get("/static/")
        self.assertEqual((st, body), (200, FILES["static/index.html"]))
        # The file from the "/" mapping is not reachable through /static/.
        st, hd, _ = self.get("/a.txt")
        self.assertNotIn("x-static", hd)

    def test_key_without_slash_is_not_the_mapping(self):
        # The key "/static" means "/static/": the bare "/static" is not part
        # of that mapping (the spec's rule for directory keys).  Here the "/"
        # mapping holds a "static" directory, so it redirects to "/static/",
        # which the /static mapping then serves.
        st, hd, body = self.get("/static")
        self.assertEqual(st, 301)
        self.assertEqual(hd["location"], "/static/")
        self.assertNotIn(b"WRONG", body)

    def test_file_html_directory_key(self):
        # The spec: map {"/file.html": "/my/dir"} -> /file.html is NOT FOUND,
        # /file.html/... serves from the directory.
        st, _, _ = self.get("/file.html")
        self.assertEqual(st, 404)
        st, _, body = self.get("/file.html/inner.txt")
        self.assertEqual((st, body), (200, FILES["filedir/inner.txt"]))

    def test_per_route_headers(self):
        st, hd, body = self.get("/hdr/h.txt")
        self.assertEqual((st, body), (200, FILES["hdr/h.txt"]))
        self.assertEqual(hd.get("x-custom-1"), "val1")
        self.assertEqual(hd.get("x-custom-2"), "value two")
        self.assertEqual(hd.get("x-custom-3"), "third one")
        etag = hd["etag"]
        st, hd, _ = self.get("/hdr/h.txt", {"If-None-Match": etag})
        self.assertEqual(st, 304)
        self.assertEqual(hd.get("x-custom-1"), "val1")

    def test_relative_target(self):
        st, _, body = self.get("/rel/r.txt")
        self.assertEqual((st, body), (200, FILES["relwww/r.txt"]))

    # ---- symlinks ----------------------------------------------------------------

    def test_symlinks_inside_root_are_served(self):
        for path in ("/good_abs_link", "/good_rel_link", "/good_dotdot_link"):
            with self.subTest(path=path):
                st, _, body = self.get(path)
                self.assertEqual((st, body), (200, FILES["www/a.txt"]))
        st, _, body = self.get("/good_dir/deeper/c.txt")
        self.assertEqual((st, body), (200, FILES["www/sub/deeper/c.txt"]))
        st, _, body = self.get("/good_dir/")
        self.assertEqual((st, body), (200, FILES["www/sub/index.html"]))

    # ---- traversal -----------------------------------------------------------------

    # Request targets that try to reach secret.txt (one level above the
    # root), outside/secret2.txt, or /etc/passwd.  Sent byte-for-byte.
    TRAVERSAL = [
        "/../secret.txt",
        "/../../../../../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%5csecret.txt",
        "/..%5csecret.txt",
        "/%252e%252e/secret.txt",
        "/%252e%252e%252fsecret.txt",
        "/./../secret.txt",
        "//../secret.txt",
        "/sub/../../secret.txt",
        "/sub/./../../secret.txt",
        "/sub/deeper/../../../secret.txt",
        "/%2e./secret.txt",
        "/.%2e/secret.txt",
        "/%2e%2e",
        "/..",
        "/sub/../..",
        "/sub/../../",
        "/../",
        "/%00../secret.txt",
        "/secret.txt%00.html",
        "/..%00/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%c0%ae%c0%ae%c0%afsecret.txt",
        "/..%c0%afsecret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt",
        "/..\\secret.txt",
        "/..\\..\\secret.txt",
        "/sub\\..\\..\\secret.txt",
        "/....//secret.txt",
        "/..../secret.txt",
        "/.../secret.txt",
        "/..;/secret.txt",
        "/sub;/../../secret.txt",
        "/%u002e%u002e/secret.txt",
        "/%2e%2e%2f%2e%2e%2fetc/passwd",
        "/static/../../secret.txt",
        "/static/%2e%2e/%2e%2e/secret.txt",
        "/file.html/../../secret.txt",
        "/rel/../../secret.txt",
        "/evil_link",
        "/evil_rel_link",
        "/chain_link",
        "/evil_dir/secret2.txt",
        "/evil_dir/",
        "/evil_dir",
        "/evil_rel_dir/secret2.txt",
        "/evil_slash/etc/passwd",
        "/evil_slash/",
        "/evil_sibling",
        "/evil_sibling_dir/x.txt",
        "/good_dir/../../secret.txt",
        "http://127.0.0.1/../secret.txt",
        "http://127.0.0.1/%2e%2e/secret.txt",
        "http://127.0.0.1/evil_link",
        "http://127.0.0.1:80/..%2fsecret.txt",
        "../secret.txt",
        "secret.txt",
        "/" + "../" * 3000 + "secret.txt",
        "/" + "a/" * 5000 + "../" * 5001 + "secret.txt",
        "/" + "x" * 5000 + "/../../secret.txt",
    ]

    # Targets where a 200 is legitimate, as long as it is the named file.
    QUERY_TRICKS = [
        "/a.txt?../../secret.txt",
        "/a.txt?file=../../secret.txt",
        "/a.txt?%2e%2e/secret.txt",
        "/a.txt#/../../secret.txt",
        "/a.txt?/../../../etc/passwd",
    ]

    def assertNoLeak(self, raw, target):
        for marker in (SECRET, SECRET2, SECRET3, PASSWD):
            self.assertNotIn(marker, raw, "leak for %r" % target)

    def test_traversal_vectors(self):
        self.assertGreaterEqual(len(self.TRAVERSAL), 20)
        for target in self.TRAVERSAL:
            with self.subTest(target=target[:80]):
                st, _, _, raw = raw_get(self.srv, target)
                self.assertNoLeak(raw, target)
                self.assertIsNotNone(st, "no HTTP response for %r: %r" % (target[:80], raw[:200]))
                self.assertGreaterEqual(st, 400, "status %s for %r" % (st, target[:80]))
                self.assertLess(st, 500, "status %s for %r" % (st, target[:80]))
                self.assertServes()

    def test_traversal_http10_and_head(self):
        for target in ("/../secret.txt", "/evil_link", "/%2e%2e/secret.txt"):
            for method, version in ((b"GET", b"HTTP/1.0"), (b"HEAD", b"HTTP/1.1")):
                with self.subTest(target=target, method=method, version=version):
                    st, _, _, raw = raw_get(self.srv, target, method=method, version=version)
                    self.assertNoLeak(raw, target)
                    self.assertIsNotNone(st)
                    self.assertGreaterEqual(st, 400)
        self.assertServes()

    def test_query_tricks(self):
        for target in self.QUERY_TRICKS:
            with self.subTest(target=target):
                st, _, body, raw = raw_get(self.srv, target)
                self.assertNoLeak(raw, target)
                self.assertIsNotNone(st)
                if st == 200:
                    self.assertEqual(body, FILES["www/a.txt"])
        self.assertServes()

    def test_traversal_pipelined(self):
        # Evil requests and a good one on one keep-alive connection.
        req = (b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /evil_link HTTP/1.1\r\nHost: x\r\n\r\n")
        data = self.srv.raw(req + b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertNoLeak(data, "pipelined")
        self.assertNotIn(b"200 OK", data.split(b"\r\n", 1)[0])
        self.assertServes()

    def test_traversal_with_curl_path_as_is(self):
        if not shutil.which("curl"):
            self.skipTest("curl not installed")
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt"):
            with self.subTest(path=path):
                r = subprocess.run(["curl", "-s", "--path-as-is", "-o", "-", "-w",
                                    "\n%{http_code}", self.srv.url(path)],
                                   capture_output=True, timeout=20)
                self.assertNotIn(SECRET, r.stdout)
                code = int(r.stdout.rsplit(b"\n", 1)[1] or b"0")
                self.assertGreaterEqual(code, 400)

    def test_secret_really_exists(self):
        # Guard against a vacuous traversal test: the secret is there, 0644.
        with open(os.path.join(self.srv.dir, "secret.txt"), "rb") as f:
            self.assertEqual(f.read(), SECRET)
        self.assertEqual(os.stat(os.path.join(self.srv.dir, "secret.txt")).st_mode & 0o777, 0o644)

    def test_zz_still_alive(self):
        self.assertTrue(self.srv.alive())
        self.assertServes()


class PathUnitTest(unittest.TestCase):
    """modules/mod_static/unit_test.c: path.c and cond.c without the core in
    front (another module's MAP hook could hand mod_static any path)."""

    def test_unit(self):
        exe = os.path.join(BUILD, "test-bin", "mod_static_unit")
        if not os.path.exists(exe):
            self.skipTest("mod_static_unit not built (RP_TESTS off?)")
        r = subprocess.run([exe], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class CacheControlTest(unittest.TestCase):
    def cc_header(self, directive):
        conf = "LoadModule static mod_static.so\n%sMap / {www}\n" % directive
        with Server(conf=conf, files={"www/f.txt": b"f"}) as srv:
            st, hd, _ = srv.get("/f.txt")
            self.assertEqual(st, 200)
            return hd.get("cache-control")

    def test_default(self):
        self.assertEqual(self.cc_header(""), CC_DEFAULT)

    def test_on(self):
        self.assertEqual(self.cc_header("CacheControl on\n"), CC_DEFAULT)

    def test_custom(self):
        self.assertEqual(self.cc_header('CacheControl "no-cache, private"\n'), "no-cache, private")

    def test_off(self):
        self.assertIsNone(self.cc_header("CacheControl off\n"))


class MapConfigErrorTest(unittest.TestCase):
    def fails(self, map_line, *needles):
        conf = "LoadModule static mod_static.so\n" + map_line + "\n"
        srv = Server(conf=conf, files={"www/f.txt": b"f", "plain.txt": b"x"}, expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            out = srv.output()
            self.assertRegex(out, r"rampart\.conf:\d+")
            for n in needles:
                self.assertIn(n, out)
        finally:
            srv.cleanup()

    def test_missing_directory(self):
        self.fails("Map /x {dir}/missing", "is not a directory", "/x")

    def test_regex_key(self):
        self.fails("Map ~^/x {www}", "not allowed")

    def test_glob_key(self):
        self.fails("Map /x/*.html {www}", "not allowed")

    def test_header_words_after_the_directory(self):
        # headers are the core's route setting: the old Map words name it
        self.fails("Map /x {www} Header OnlyName", "<Route /x/> Header set Name")
        self.fails('Map /x {www} "X-A: v"', '<Route /x/> Header set X-A "v" </Route>')

    def test_empty_cache_control(self):
        self.fails('CacheControl ""\nMap / {www}', "CacheControl")


if __name__ == "__main__":
    unittest.main()
