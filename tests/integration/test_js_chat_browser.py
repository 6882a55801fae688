"""examples/chat.js in a real browser: Debian's chromium, headless, driven by
playwright-core (tests/browser/chat.js), two tabs, a message typed in one
appears in the other; then the same with each tab on its own server, two
servers of one cluster with a redis-server of the test's own between them.

playwright-core comes from tests/browser/package.json (pinned), installed into
tests/browser/node_modules by scripts/install-deps.sh, or here with npm when it
is missing.  Skipped only when chromium or node is not installed.

Run: cd tests/integration && python3 -m unittest test_js_chat_browser -v
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from jsrun import RAMPART, free_port, wait_until
from rptest import REPO
from test_cluster import REDIS, Redis

BROWSER_DIR = os.path.join(REPO, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")


def ensure_playwright():
    """Install tests/browser's package.json with npm if playwright-core is missing."""
    if os.path.exists(os.path.join(BROWSER_DIR, "node_modules", "playwright-core", "package.json")):
        return
    npm = shutil.which("npm")
    if not npm:
        raise AssertionError("playwright-core is not installed in tests/browser and npm is missing")
    r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-package-lock"],
                       cwd=BROWSER_DIR, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError("npm install in tests/browser failed:\n%s%s"
                             % (r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")))


class ChatServer:
    """examples/chat.js on a free loopback port (in a cluster when cluster is
    a redis:// address), its output kept for the failure message."""

    def __init__(self, cluster=None):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ, BIND="127.0.0.1:%d" % self.port)
        if cluster:
            env["CLUSTER"] = cluster
        self.proc = subprocess.Popen([RAMPART, os.path.join(REPO, "examples", "chat.js")],
                                     cwd=os.path.join(REPO, "examples"), env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.url = "http://127.0.0.1:%d/" % self.port

    def output(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def up(self):
        if self.proc.poll() is not None:
            raise AssertionError("chat.js exited: %s" % self.output())
        s = socket.socket()
        try:
            return s.connect_ex(("127.0.0.1", self.port)) == 0
        finally:
            s.close()

    def stop(self):
        """Stop it; a sanitizer report in its output fails the test."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        text = self.output()
        self.log.close()
        if "ERROR: AddressSanitizer" in text or "runtime error:" in text:
            raise AssertionError("sanitizer report from rampart:\n" + text[-6000:])


@unittest.skipUnless(os.path.exists(RAMPART), "build/bin/rampart not built")
@unittest.skipUnless(os.access(CHROMIUM, os.X_OK),
                     "chromium is not installed (%s): apt-get install chromium, or run "
                     "scripts/install-deps.sh" % CHROMIUM)
@unittest.skipUnless(NODE, "node is not installed")
class ChatInBrowser(unittest.TestCase):
    def start(self, cluster=None):
        srv = ChatServer(cluster)
        self.addCleanup(srv.stop)
        wait_until(srv.up, 15, what="chat.js to listen")
        return srv

    def browse(self, servers):
        """Two tabs (the second on the second server, if any): a message
        typed in each reaches the other."""
        ensure_playwright()
        r = subprocess.run([NODE, os.path.join(BROWSER_DIR, "chat.js")] +
                           [s.url for s in servers],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=90,
                           env=dict(os.environ, CHROMIUM=CHROMIUM))
        out = r.stdout.decode(errors="replace").strip().splitlines()
        detail = "node exit %d\nstdout:\n%s\nstderr:\n%s\n%s" % (
            r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")[-4000:],
            "".join("server %d:\n%s\n" % (i, s.output()[-3000:])
                    for i, s in enumerate(servers)))
        self.assertEqual(r.returncode, 0, detail)
        res = json.loads(out[-1])
        self.assertTrue(res["ok"], detail)
        self.assertIn("a message from", res["tab1"])
        self.assertIn("hello from tab one", res["tab1"])
        self.assertIn("and back from tab two", res["tab0"])

    def test_two_tabs(self):
        self.browse([self.start()])

    @unittest.skipUnless(REDIS, "redis-server is not installed")
    def test_two_tabs_on_two_servers(self):
        """Each tab on its own server; the servers share one redis-server."""
        redis = Redis()
        self.addCleanup(redis.cleanup)
        url = "redis://127.0.0.1:%d/0" % redis.port
        servers = [self.start(url), self.start(url)]
        # both subscriptions in place before a message is sent
        wait_until(lambda: redis.command("CLIENT", "LIST").count(" psub=1 ") >= 2, 15,
                   what="both chat servers subscribed in Redis")
        self.browse(servers)


if __name__ == "__main__":
    unittest.main()
