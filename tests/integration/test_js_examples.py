"""The scripts in examples/ run and answer as their comments say.

Each runs as `rampart examples/<name>.js` with BIND=127.0.0.1:<free port>.

Run: cd tests/integration && python3 -m unittest test_js_examples -v
"""

import gzip
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from jsrun import RAMPART, free_port, wait_until
from rptest import REPO

EXAMPLES = os.path.join(REPO, "examples")
HAVE_RAMPART = os.path.exists(RAMPART)


class Example:
    def __init__(self, name, builtin=False):
        self.port = free_port()
        env = dict(os.environ, BIND="127.0.0.1:%d" % self.port)
        # an unnamed file: nothing is left in /tmp, even if the test dies
        self.log = tempfile.TemporaryFile()
        # builtin: `rampart` without a script (what `make run` starts), from
        # an unrelated directory, so the demo must be found beside the binary
        argv = [RAMPART] if builtin else [RAMPART, os.path.join(EXAMPLES, name + ".js")]
        self.proc = subprocess.Popen(argv, cwd="/" if builtin else EXAMPLES, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        import socket

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited: %s" % (name, self.output()))
            s = socket.socket()
            try:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
            finally:
                s.close()
        try:
            wait_until(up, 15, what=name + " to listen")
        except BaseException:
            self.__exit__(None, None, None)  # no `with` yet: stop it here
            raise

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, headers=None):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if exc[0] is not None:
            print(self.output())
        self.log.close()
        return False


@unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
class TestExamples(unittest.TestCase):
    def test_hello(self):
        with Example("hello") as ex:
            self.assertEqual(ex.request("GET", "/helloWorld.html")[2], b"<pre>Hello World!</pre>")

    def test_showreq(self):
        with Example("showreq") as ex:
            st, hd, body = ex.request("GET", "/showreq.txt?q=search+terms",
                                      headers={"Cookie": "mycookie=cookietext"})
            r = json.loads(body)
            self.assertEqual((r["query"]["q"], r["cookies"]["mycookie"]),
                             ("search terms", "cookietext"))

    def test_post_form(self):
        with Example("post_form") as ex:
            self.assertIn(b"<form", ex.request("GET", "/post.html")[2])
            st, hd, body = ex.request("POST", "/showreq.txt", b"fname=Joe&lname=Public&go=Submit",
                                      {"Content-Type": "application/x-www-form-urlencoded"})
            r = json.loads(body)
            self.assertEqual(r["postData"]["content"], {"fname": "Joe", "lname": "Public",
                                                        "go": "Submit"})
            self.assertEqual(r["body"], "fname=Joe&lname=Public&go=Submit")

    def test_upload(self):
        with Example("upload") as ex:
            b = b"----X"
            body = (b"--" + b + b"\r\nContent-Disposition: form-data; name=\"file\"; "
                    b"filename=\"helloWorld.txt\"\r\nContent-Type: text/plain\r\n\r\n"
                    b"Hello World!\r\n--" + b + b"\r\nContent-Disposition: form-data; "
                    b"name=\"Upload\"\r\n\r\nUpload\r\n--" + b + b"--\r\n")
            st, hd, out = ex.request("POST", "/showreq.txt", body,
                                     {"Content-Type": "multipart/form-data; boundary=----X"})
            self.assertEqual(out, b"part 0: name=file filename=helloWorld.txt type=text/plain "
                                  b"bytes=12\npart 1: name=Upload filename=- type=- bytes=6\n")

    def test_json_post(self):
        with Example("json_post") as ex:
            st, hd, body = ex.request("POST", "/showreq.json", b'{"first":"Joe","last":"Public"}',
                                      {"Content-Type": "application/json"})
            r = json.loads(body)
            self.assertEqual(r["params"], {"first": "Joe", "last": "Public"})
            self.assertEqual(ex.request("POST", "/showreq.json", b"{bad",
                                        {"Content-Type": "application/json"})[0], 400)

    def test_modules(self):
        with Example("modules") as ex:
            self.assertIn(b"page 1", ex.request("GET", "/multi/page1.html")[2])
            self.assertIn(b"page 3", ex.request("GET", "/multi/virtdir/page3.html")[2])
            self.assertEqual(ex.request("GET", "/myfunc.html")[2], b"<pre>HELLO WORLD!</pre>")
            self.assertIn(b"hello from modules/hello.js",
                          ex.request("GET", "/scripts/hello.html")[2])

    def test_redirect(self):
        with Example("redirect") as ex:
            st, hd, body = ex.request("GET", "/old.html")
            self.assertEqual(st, 302)
            self.assertTrue(hd["location"].endswith("/new.html"))

    def test_custom404(self):
        with Example("custom404") as ex:
            st, hd, body = ex.request("GET", "/nowhere.html")
            self.assertEqual(st, 404)
            self.assertIn(b"/nowhere.html was not found", body)
            st, hd, body = ex.request("GET", "/broken.html")
            self.assertEqual(st, 404)
            self.assertIn(b"ReferenceError", body)

    def test_dirlist(self):
        with Example("dirlist") as ex:
            st, hd, body = ex.request("GET", "/modules/")
            self.assertEqual(st, 200)
            self.assertIn(b"multi_function.js", body)
            self.assertIn(b"Parent Directory", body)

    def test_demo(self):
        with Example("demo") as ex:
            self.assertIn(b"JavaScript examples", ex.request("GET", "/")[2])
            self.assertEqual(ex.request("GET", "/helloWorld.html")[2], b"<pre>Hello World!</pre>")
            self.assertEqual(ex.request("GET", "/broken.html")[0], 500)
            self.assertEqual(ex.request("GET", "/nowhere")[0], 404)
            self.assertEqual(ex.request("GET", "/source/")[0], 200)
            st, hd, body = ex.request("GET", "/logo.svg")
            self.assertEqual((st, hd["content-type"]), (200, "image/svg+xml"))


class TestBuiltinDemo(unittest.TestCase):
    """`make run` is `rampart` without a script: the demo site and the examples."""

    @unittest.skipUnless(HAVE_RAMPART, "build/bin/rampart not built")
    def test_no_script_serves_the_demo(self):
        with Example("builtin-demo", builtin=True) as ex:
            st, h, body = ex.request("GET", "/")
            self.assertEqual(st, 200)
            self.assertIn(b"/helloWorld.html", body)  # the JS examples are linked
            self.assertEqual(ex.request("GET", "/helloWorld.html")[2], b"<pre>Hello World!</pre>")
            self.assertEqual(ex.request("GET", "/multi/page1.html")[0], 200)
            self.assertEqual(ex.request("GET", "/style.css")[0], 200)
            self.assertIn("running the built-in demo", ex.output())


if __name__ == "__main__":
    unittest.main()
