"""examples/chat.js in a real browser: Debian's chromium, headless, driven by
playwright-core (tests/browser/chat.js), two tabs, a message typed in one
appears in the other.

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


@unittest.skipUnless(os.path.exists(RAMPART), "build/bin/rampart not built")
@unittest.skipUnless(os.access(CHROMIUM, os.X_OK),
                     "chromium is not installed (%s): apt-get install chromium, or run "
                     "scripts/install-deps.sh" % CHROMIUM)
@unittest.skipUnless(NODE, "node is not installed")
class ChatInBrowser(unittest.TestCase):
    def test_two_tabs(self):
        ensure_playwright()
        port = free_port()
        log = tempfile.TemporaryFile()
        env = dict(os.environ, BIND="127.0.0.1:%d" % port)
        proc = subprocess.Popen([RAMPART, os.path.join(REPO, "examples", "chat.js")],
                                cwd=os.path.join(REPO, "examples"), env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)

        def output():
            log.seek(0)
            return log.read().decode("utf-8", "replace")

        def up():
            if proc.poll() is not None:
                raise AssertionError("chat.js exited: %s" % output())
            s = socket.socket()
            try:
                return s.connect_ex(("127.0.0.1", port)) == 0
            finally:
                s.close()
        try:
            wait_until(up, 15, what="chat.js to listen")
            r = subprocess.run([NODE, os.path.join(BROWSER_DIR, "chat.js"),
                                "http://127.0.0.1:%d/" % port],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=90,
                               env=dict(os.environ, CHROMIUM=CHROMIUM))
            out = r.stdout.decode(errors="replace").strip().splitlines()
            detail = "node exit %d\nstdout:\n%s\nstderr:\n%s\nserver:\n%s" % (
                r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace")[-4000:], output()[-4000:])
            self.assertEqual(r.returncode, 0, detail)
            res = json.loads(out[-1])
            self.assertTrue(res["ok"], detail)
            self.assertIn("a message from", res["tab1"])
            self.assertIn("hello from tab one", res["tab1"])
            self.assertIn("and back from tab two", res["tab0"])
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            text = output()
            log.close()
            if "ERROR: AddressSanitizer" in text or "runtime error:" in text:
                raise AssertionError("sanitizer report from rampart:\n" + text[-6000:])


if __name__ == "__main__":
    unittest.main()
