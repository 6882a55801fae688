"""mod_dirlist against the real rampart-httpd: real sockets, real clients.

Covers: the listing page ("Index of /path/" title, Parent Directory link
except at "/", one row per entry with link, trailing '/' for directories,
last-modified and hsize() sizes), sorting (directories first, then names in
byte order), escaping (a file named <script>&".txt is HTML-escaped in text
and URL-encoded in its link, and the link works; a hostile directory name in
the title and heading), the page styled like the demo site's, .gzipcache hidden,
index.html still served, HEAD, 403 with "DirectoryFunc off" and without the
module, listings together with mod_gzip, and the DirectoryFunc directive's
errors.

The provider hook (the "dirlist" service of rp_dirlist.h, for mod_js's
directoryFunc) needs a plugin that registers a provider; none of the test
plugins does yet, so that test is skipped with the reason.

Run: cd tests/integration && python3 -m unittest test_dirlist -v
"""

import gzip
import html
import os
import re
import time
import unittest
import urllib.parse

from rptest import Server

NASTY = '<script>&".txt'
NASTY_DIR = "<img src=x onerror='alert(1)'>"

FILES = {
    "www/list/b.txt": b"bee\n",
    "www/list/a.txt": b"a" * 1536,          # 1.5k
    "www/list/Z.txt": b"zed\n",
    "www/list/" + NASTY: b"nasty file\n",
    "www/list/sp ace.txt": b"space\n",
    "www/list/zdir/inner.txt": b"inner\n",
    "www/list/adir/x.txt": b"x\n",
    "www/list/.gzipcache/a.txt.gz": b"not listed\n",
    "www/withindex/index.html": b"<p>the index</p>\n",
    "www/withindex/other.txt": b"other\n",
    "www/empty/.keep": b"",
    "www/top.txt": b"top\n",
    "www/hostile/" + NASTY_DIR + "/in.txt": b"in\n",
}

CONF = ("LoadModule static mod_static.so\n"
        "LoadModule dirlist mod_dirlist.so\n"
        "DirectoryFunc on\n"
        "Map / {www}\n")

ROW = re.compile(r'<tr><td><a href="([^"]*)">([^<]*)</a></td><td>([^<]*)</td><td>([^<]*)</td></tr>')


def rows(body):
    """The entry rows of a listing (without the Parent Directory row)."""
    return [r for r in ROW.findall(body.decode()) if r[1] != "Parent Directory"]


class DirList(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=CONF, files=FILES)
        big = cls.srv.path("www/list/big.bin")
        with open(big, "wb") as f:
            f.truncate(3 * 1024 * 1024 + 100 * 1024)  # sparse: 3.1M
        os.chmod(big, 0o644)
        t = time.mktime((2021, 3, 4, 5, 6, 7, 0, 0, -1))
        os.utime(cls.srv.path("www/list/b.txt"), (t, t))

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def listing(self, path):
        st, h, body = self.srv.request("GET", path)
        self.assertEqual(st, 200, body)
        self.assertTrue(h["content-type"].startswith("text/html"), h)
        self.assertEqual(int(h["content-length"]), len(body))
        return body

    def test_page(self):
        body = self.listing("/list/")
        text = body.decode()
        self.assertIn("<title>Index of /list/</title>", text)
        self.assertTrue(text.startswith("<!DOCTYPE html>"))
        self.assertIn('<tr><td><a href="../">Parent Directory</a></td><td></td><td>-</td></tr>',
                      text)
        r = rows(body)
        names = [x[1] for x in r]
        self.assertEqual(names, ["adir/", "zdir/", html.escape(NASTY), "Z.txt", "a.txt",
                                 "b.txt", "big.bin", "sp ace.txt"])

    def test_sorting(self):
        names = [html.unescape(x[1]) for x in rows(self.listing("/list/"))]
        dirs = [n for n in names if n.endswith("/")]
        files = [n for n in names if not n.endswith("/")]
        self.assertEqual(names, dirs + files)
        self.assertEqual(dirs, sorted(dirs))
        self.assertEqual([n.encode() for n in files], sorted(n.encode() for n in files))

    def test_sizes_and_dates(self):
        r = {html.unescape(x[1]): x for x in rows(self.listing("/list/"))}
        self.assertEqual(r["a.txt"][3], "1.5k")
        self.assertEqual(r["b.txt"][3], "4")
        self.assertEqual(r["big.bin"][3], "3.1M")
        self.assertIn("2021", r["b.txt"][2])
        self.assertRegex(r["b.txt"][2], r"^2021-03-0[345] \d\d:\d\d:\d\d$")

    def test_escaping(self):
        body = self.listing("/list/")
        self.assertNotIn(b"<script>", body)
        self.assertIn(b"&lt;script&gt;&amp;&quot;.txt", body)
        r = {html.unescape(x[1]): x for x in rows(body)}
        href = html.unescape(r[NASTY][0])
        self.assertEqual(href, "%3Cscript%3E%26%22.txt")
        self.assertEqual(urllib.parse.unquote(href), NASTY)
        # and the link leads to the file
        st, _, data = self.srv.request("GET", "/list/" + href)
        self.assertEqual((st, data), (200, b"nasty file\n"))
        self.assertEqual(html.unescape(r["sp ace.txt"][0]), "sp%20ace.txt")
        st, _, data = self.srv.request("GET", "/list/sp%20ace.txt")
        self.assertEqual((st, data), (200, b"space\n"))

    def test_styled_like_the_demo(self):
        text = self.listing("/list/").decode()
        # the demo site's palette and column (examples/www/style.css), inline
        self.assertIn("<style>", text)
        self.assertIn("--accent:#b5482a", text)
        self.assertIn("max-width:", text)
        self.assertIn('<meta name="viewport"', text)
        self.assertIn("<th>Name</th><th>Last modified</th><th>Size</th>", text)
        n = len(rows(text.encode()))
        self.assertIn("<footer>%d entries" % n, text)
        self.assertNotIn("<link", text)  # no stylesheet the site may lack

    def test_hostile_directory_name_in_path(self):
        path = "/hostile/" + NASTY_DIR + "/"
        body = self.listing("/hostile/" + urllib.parse.quote(NASTY_DIR) + "/").decode()
        self.assertNotIn("<img", body)
        title = re.search(r"<title>Index of ([^<]*)</title>", body).group(1)
        heading = re.search(r"<h1>Index of ([^<]*)</h1>", body).group(1)
        self.assertEqual(html.unescape(title), path)
        self.assertEqual(html.unescape(heading), path)
        self.assertNotIn("'", title + heading)
        # and in the parent's listing: text escaped, link encoded
        r = {html.unescape(x[1]): x for x in rows(self.listing("/hostile/"))}
        row = r[NASTY_DIR + "/"]
        self.assertEqual(urllib.parse.unquote(html.unescape(row[0])), NASTY_DIR + "/")
        self.assertNotIn("'", row[0] + row[1])

    def test_directory_links(self):
        r = {html.unescape(x[1]): x for x in rows(self.listing("/list/"))}
        self.assertEqual(r["adir/"][0], "adir/")
        body = self.listing("/list/adir/")
        self.assertIn(b"<title>Index of /list/adir/</title>", body)
        self.assertEqual([x[1] for x in rows(body)], ["x.txt"])

    def test_gzipcache_hidden(self):
        body = self.listing("/list/")
        self.assertNotIn(b".gzipcache", body)

    def test_root_has_no_parent_link(self):
        body = self.listing("/")
        self.assertIn(b"<title>Index of /</title>", body)
        self.assertNotIn(b"Parent Directory", body)
        names = [x[1] for x in rows(body)]
        self.assertEqual(names, ["empty/", "hostile/", "list/", "withindex/", "top.txt"])

    def test_empty_directory(self):
        body = self.listing("/empty/")
        self.assertIn(b"Parent Directory", body)
        self.assertEqual([x[1] for x in rows(body)], [".keep"])

    def test_index_html_wins(self):
        st, _, body = self.srv.request("GET", "/withindex/")
        self.assertEqual((st, body), (200, b"<p>the index</p>\n"))

    def test_no_slash_redirects(self):
        st, h, _ = self.srv.request("GET", "/list")
        self.assertEqual(st, 301)
        self.assertEqual(h["location"], "/list/")

    def test_head(self):
        _, hg, body = self.srv.request("GET", "/list/")
        st, h, b = self.srv.request("HEAD", "/list/")
        self.assertEqual((st, b), (200, b""))
        self.assertEqual(h["content-length"], hg["content-length"])

    def test_unreadable_directory(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (the server then runs as nobody)")
        p = self.srv.path("www/list/adir")
        os.chmod(p, 0o711)  # nobody may enter but not read
        try:
            st, _, _ = self.srv.request("GET", "/list/adir/")
            self.assertEqual(st, 403)
        finally:
            os.chmod(p, 0o755)

    # Providers registered through the "dirlist" service are exercised through
    # mod_js's directoryFunc: the directoryFunc tests of test_js_server.


class DirListOff(unittest.TestCase):
    def check_403(self, conf):
        with Server(conf=conf, files=FILES) as srv:
            st, _, body = srv.request("GET", "/list/")
            self.assertEqual(st, 403)
            self.assertNotIn(b"Index of", body)
            st, _, _ = srv.request("GET", "/withindex/")
            self.assertEqual(st, 200)

    def test_off(self):
        self.check_403("LoadModule static mod_static.so\nLoadModule dirlist mod_dirlist.so\n"
                       "DirectoryFunc off\nMap / {www}\n")

    def test_default_is_off(self):
        self.check_403("LoadModule static mod_static.so\nLoadModule dirlist mod_dirlist.so\n"
                       "Map / {www}\n")

    def test_module_not_loaded(self):
        self.check_403("LoadModule static mod_static.so\nMap / {www}\n")

    def test_bad_directive(self):
        srv = Server(conf="LoadModule static mod_static.so\nLoadModule dirlist mod_dirlist.so\n"
                          "DirectoryFunc sometimes\n", expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            self.assertRegex(srv.output(), r"rampart\.conf:\d+.*DirectoryFunc")
        finally:
            srv.cleanup()


class DirListGzip(unittest.TestCase):
    def test_listing_compressed_with_scripts_on(self):
        files = {"www/d/file%03d.txt" % i: b"x" for i in range(60)}
        with Server(conf="LoadModule static mod_static.so\nLoadModule dirlist mod_dirlist.so\n"
                         "LoadModule gzip mod_gzip.so\nDirectoryFunc on\nCompressScripts on\n"
                         "Map / {www}\n", files=files) as srv:
            st, h, body = srv.request("GET", "/d/", {"Accept-Encoding": "gzip"})
            self.assertEqual(st, 200)
            self.assertEqual(h.get("content-encoding"), "gzip")
            text = gzip.decompress(body)
            self.assertEqual(len(rows(text)), 60)
            st, h, body = srv.request("GET", "/d/")
            self.assertIsNone(h.get("content-encoding"))
            self.assertEqual(len(rows(body)), 60)


if __name__ == "__main__":
    unittest.main()
