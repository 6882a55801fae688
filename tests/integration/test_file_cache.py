"""File responses in the core (rp_resp_send_file) and the open-file cache.

- The open-file cache (FileCacheValid, FileCacheEntries): a file replaced,
  deleted, chmod'ed, renamed or swapped for a symlink while cached is
  noticed once the validity window has passed, and a symlink swap never
  serves anything from outside the mapped root, not even inside the window.
  FileCacheValid 0 turns it off (every change seen at once).
- JS "@file" replies get the validators, 304, 206 and 416 that static files
  get, from the same code.
- Static and gzip'd answers share one If-None-Match parser.

Run: cd tests/integration && python3 -m unittest test_file_cache -v
"""

import gzip
import os
import unittest

from rptest import BUILD, IS_ROOT, Server, run_httpd, wait_until

HAVE_JS = os.path.exists(os.path.join(BUILD, "modules", "mod_js.so"))

OLD = b"old content\n" * 100
NEW = b"new content, longer\n" * 100
SECRET = b"SECRET outside the root\n"
BIG = bytes(range(256)) * 400  # 100 KiB: served with sendfile, not from memory


def cache_conf(valid):
    return ("LoadModule static mod_static.so\n"
            "FileCacheValid %s\n"
            "Map / {www}\n" % valid)


def files():
    return {"www/a.txt": OLD, "www/b.txt": OLD, "www/c.txt": OLD, "www/d.txt": OLD,
            "www/e.txt": OLD, "www/big.bin": BIG, "secret/s.txt": SECRET}


class OpenFileCache(unittest.TestCase):
    """Each change is made after the file was served (so it is cached in
    the worker); the server must show the change once FileCacheValid has
    passed: the test waits for it, bounded far above the window."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=cache_conf("0.3"), files=files(), threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def body(self, path):
        """(status, body) for 200, (status, None) for an error page."""
        st, _, body = self.srv.get(path)
        return st, body if st == 200 else None

    def prime(self, path, want=OLD):
        for _ in range(3):  # first serve opens, the next ones hit the cache
            self.assertEqual(self.body(path), (200, want))

    def wait_state(self, path, want, allowed):
        """Poll until path answers want; every answer on the way must be in
        allowed (the old state or the new one)."""
        seen = []

        def check():
            got = self.body(path)
            seen.append(got)
            self.assertIn(got, allowed, "an answer that is neither old nor new")
            return got == want
        wait_until(check, timeout=15, what="%s to become %r" % (path, want[0]))

    def test_replaced_by_rename(self):
        self.prime("/a.txt")
        tmp = self.srv.path("www/.a.tmp")
        with open(tmp, "wb") as f:
            f.write(NEW)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.srv.path("www/a.txt"))
        self.wait_state("/a.txt", (200, NEW), [(200, OLD), (200, NEW)])

    def test_rewritten_in_place(self):
        self.prime("/e.txt")
        with open(self.srv.path("www/e.txt"), "wb") as f:
            f.write(NEW)
        # open("wb") truncates first: a check in between sees an empty file
        self.wait_state("/e.txt", (200, NEW), [(200, OLD), (200, b""), (200, NEW)])

    def test_deleted(self):
        self.prime("/b.txt")
        os.unlink(self.srv.path("www/b.txt"))
        self.wait_state("/b.txt", (404, None), [(200, OLD), (404, None)])

    @unittest.skipUnless(IS_ROOT, "the server must not be the file's owner (runs as nobody)")
    def test_chmod(self):
        self.prime("/c.txt")
        os.chmod(self.srv.path("www/c.txt"), 0o600)  # root's only: nobody may not read
        self.wait_state("/c.txt", (403, None), [(200, OLD), (403, None)])

    def test_renamed_away(self):
        self.prime("/d.txt")
        os.rename(self.srv.path("www/d.txt"), self.srv.path("www/d2.txt"))
        self.wait_state("/d.txt", (404, None), [(200, OLD), (404, None)])
        self.assertEqual(self.body("/d2.txt"), (200, OLD))

    def test_symlink_swap_never_leaves_the_root(self):
        p = self.srv.path("www/swap.txt")
        with open(p, "wb") as f:
            f.write(OLD)
        os.chmod(p, 0o644)
        self.prime("/swap.txt")
        tmp = self.srv.path("www/.swap.lnk")
        os.symlink(self.srv.path("secret/s.txt"), tmp)
        os.rename(tmp, p)  # atomic: the name now points outside the root
        # old bytes (the cached descriptor) or 404, never the secret
        self.wait_state("/swap.txt", (404, None), [(200, OLD), (404, None)])
        for _ in range(5):
            self.assertEqual(self.body("/swap.txt"), (404, None))

    def test_big_file_ranges_from_the_cache(self):
        for _ in range(2):
            st, h, body = self.srv.get("/big.bin")
            self.assertEqual((st, body), (200, BIG))
            st, h, body = self.srv.get("/big.bin", {"Range": "bytes=1000-1999"})
            self.assertEqual((st, body), (206, BIG[1000:2000]))
            self.assertEqual(h["content-range"], "bytes 1000-1999/%d" % len(BIG))


class NoCache(unittest.TestCase):
    def test_valid_zero_sees_every_change_at_once(self):
        with Server(conf=cache_conf("0"), files=files(), threads=1) as srv:
            self.assertEqual(srv.get("/a.txt")[2], OLD)
            with open(srv.path("www/a.txt"), "wb") as f:
                f.write(NEW)
            self.assertEqual(srv.get("/a.txt")[2], NEW)
            os.unlink(srv.path("www/a.txt"))
            self.assertEqual(srv.get("/a.txt")[0], 404)

    def test_bad_directives(self):
        for line, what in (("FileCacheEntries -1", "FileCacheEntries"),
                           ("FileCacheEntries many", "FileCacheEntries"),
                           ("FileCacheValid soon", "FileCacheValid")):
            srv = Server(conf="LoadModule static mod_static.so\n%s\n" % line, start=False)
            try:
                r = run_httpd(["-t", "-f", srv.conf_path])
                self.assertNotEqual(r.returncode, 0, line)
                self.assertIn(what, r.stderr, line)
                self.assertRegex(r.stderr, r"\.conf:\d+:", line)
            finally:
                srv.cleanup()


class SharedValidators(unittest.TestCase):
    """mod_static and mod_gzip answer If-None-Match from one parser."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf="LoadModule static mod_static.so\n"
                              "LoadModule gzip mod_gzip.so\n"
                              "CompressFiles on\n"
                              "Map / {www}\n",
                         files={"www/p.html": b"<p>hello</p>\n" * 400}, threads=1)
        os.chmod(cls.srv.path("www"), 0o777)  # room for .gzipcache

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_same_answers(self):
        srv = self.srv
        _, hi, _ = srv.get("/p.html")
        ident = hi["etag"]
        _, hg, body = srv.get("/p.html", {"Accept-Encoding": "gzip"})
        self.assertEqual(hg.get("content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(body), b"<p>hello</p>\n" * 400)
        gz = hg["etag"]
        self.assertNotEqual(gz, ident)
        for tmpl in ('foo, %s', '%s', 'W/%s', '"x", W/%s , "y"', '*'):
            for tag, ae in ((ident, None), (gz, "gzip")):
                hdrs = {"If-None-Match": tmpl.replace("%s", tag)}
                if ae:
                    hdrs["Accept-Encoding"] = ae
                st, h, body = srv.get("/p.html", hdrs)
                self.assertEqual((st, body), (304, b""), (tmpl, ae))
                if tmpl != "*":  # "*": answered before a variant is chosen
                    self.assertEqual(h["etag"], tag, (tmpl, ae))
                self.assertNotIn("content-type", h)
        # the gzip tag does not validate the identity variant
        st, _, _ = srv.get("/p.html", {"If-None-Match": gz})
        self.assertEqual(st, 200)


JS_FILES = {
    "www/data.txt": OLD,
    "js/app.js": """module.exports = {
        "/whole.txt": function () { return {txt: "@{www}/data.txt"}; },
        "/notfound.txt": function () { return {status: 404, txt: "@{www}/data.txt"}; },
        "/pre.txt": function (req) { req.put("pre:"); return {txt: "@{www}/data.txt"}; },
        "/big.bin": function () { return {bin: "@{www}/big.bin"}; },
        "/nocap.bin": function () { return {bin: "@{www}/big.bin", noRangeCap: true}; },
        "/noranges.bin": function () { return {bin: "@{www}/big.bin", noAcceptRanges: true}; }
    };""",
    "www/big.bin": bytes(range(256)) * 80,  # 20 KiB, over DefaultRangeMBytes 0.01
}


class RangeCap(unittest.TestCase):
    """DefaultRangeMBytes: an open-ended "bytes=N-" gets a part of a big
    file; closed and suffix ranges are as asked."""

    DATA = bytes(range(256)) * (3 * 4096)  # 3 MiB

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf="LoadModule static mod_static.so\nMap / {www}\n"
                              "DefaultRangeMBytes 1\n", files={"www/big.bin": cls.DATA})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def test_open_ended_is_capped(self):
        st, hd, body = self.srv.get("/big.bin", {"Range": "bytes=100-"})
        self.assertEqual(st, 206)
        self.assertEqual(hd["content-range"], "bytes 100-1048675/3145728")
        self.assertEqual(body, self.DATA[100:100 + 1048576])
        # near the end the rest is shorter than the cap
        st, hd, body = self.srv.get("/big.bin", {"Range": "bytes=3145000-"})
        self.assertEqual((st, hd["content-range"]), (206, "bytes 3145000-3145727/3145728"))

    def test_closed_and_suffix_ranges_are_not(self):
        st, hd, body = self.srv.get("/big.bin", {"Range": "bytes=0-2097151"})
        self.assertEqual((st, len(body)), (206, 2097152))
        st, hd, body = self.srv.get("/big.bin", {"Range": "bytes=-2000000"})
        self.assertEqual((st, len(body)), (206, 2000000))
        self.assertEqual(body, self.DATA[-2000000:])

    def test_bad_values(self):
        for v in ("0", "2000", "x"):
            srv = Server(conf="DefaultRangeMBytes %s\n" % v, start=False)
            try:
                r = run_httpd(["-t", "-f", srv.conf_path])
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("DefaultRangeMBytes: '%s' must be megabytes" % v, r.stderr)
            finally:
                srv.cleanup()


@unittest.skipUnless(HAVE_JS, "mod_js.so not built")
class JsFileReplies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf="LoadModule js mod_js.so\nMapModule /js/ js/app.js\n"
                              "DefaultRangeMBytes 0.01\n", files=JS_FILES, threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_validators_304_206_416(self):
        srv = self.srv
        st, h, body = srv.get("/js/whole.txt")
        self.assertEqual((st, body), (200, OLD))
        self.assertTrue(h["content-type"].startswith("text/plain"), h)
        self.assertEqual(h["accept-ranges"], "bytes")
        etag, lm = h["etag"], h["last-modified"]
        self.assertEqual(srv.get("/js/whole.txt", {"If-None-Match": etag})[:3:2], (304, b""))
        self.assertEqual(srv.get("/js/whole.txt", {"If-Modified-Since": lm})[0], 304)
        st, h, body = srv.get("/js/whole.txt", {"Range": "bytes=5-14"})
        self.assertEqual((st, body), (206, OLD[5:15]))
        self.assertEqual(h["content-range"], "bytes 5-14/%d" % len(OLD))
        st, h, body = srv.get("/js/whole.txt", {"Range": "bytes=5-14", "If-Range": '"stale"'})
        self.assertEqual((st, body), (200, OLD))
        st, h, _ = srv.get("/js/whole.txt", {"Range": "bytes=99999-"})
        self.assertEqual(st, 416)
        self.assertEqual(h["content-range"], "bytes */%d" % len(OLD))
        st, h, body = srv.request("HEAD", "/js/whole.txt")
        self.assertEqual((st, body, int(h["content-length"])), (200, b"", len(OLD)))

    def test_range_cap_keys(self):
        big = bytes(range(256)) * 80
        cap = int(0.01 * 1048576 + 0.5)
        st, h, body = self.srv.get("/js/big.bin", {"Range": "bytes=100-"})
        self.assertEqual((st, body), (206, big[100:100 + cap]))
        st, h, body = self.srv.get("/js/nocap.bin", {"Range": "bytes=100-"})
        self.assertEqual((st, body), (206, big[100:]))
        st, h, body = self.srv.get("/js/noranges.bin", {"Range": "bytes=100-"})
        self.assertEqual((st, body), (200, big))
        self.assertNotIn("accept-ranges", h)

    def test_other_status_and_prefix_send_the_file_as_is(self):
        srv = self.srv
        st, h, body = srv.get("/js/notfound.txt", {"Range": "bytes=0-3"})
        self.assertEqual((st, body), (404, OLD))
        st, h, body = srv.get("/js/pre.txt", {"Range": "bytes=0-3"})
        self.assertEqual((st, body), (200, b"pre:" + OLD))


if __name__ == "__main__":
    unittest.main()
