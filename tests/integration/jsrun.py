"""jsrun - run `rampart script.js` servers for the mod_js integration tests.

    from jsrun import JsServer, RAMPART

    with JsServer('''
        var server = require("rampart-server");
        server.start({bind: "127.0.0.1:{port}", user: "nobody", map: {
            "/hi.txt": function () { return {txt: "hi"}; }
        }});
    ''', files={"modules/m.js": "module.exports = ..."}) as srv:
        st, hd, body = srv.get("/hi.txt")

JsServer(script, files=None, args=(), env=None, start=True, wait=True, start_timeout=15)

  * makes a temporary directory (0755, so 'nobody' can read it), writes
    `files` and the script as {dir}/test.js; the placeholders {dir}, {port}
    and {port2} are replaced in the script and in str files;
  * runs BUILD/bin/rampart test.js [args] in {dir} with stdout/stderr in
    {dir}/stdout.log and {dir}/stderr.log;
  * with wait=True waits until 127.0.0.1:{port} accepts (or the process
    exits: ServerStartError with its output).  wait=False: for scripts that
    are expected to exit (srv.wait() returns the exit status).

Only processes started here are signalled, always by pid.

Cleanup: the temporary directory is removed when the `with` block ends,
passed or failed (a failure prints the logs first; RP_KEEP_TMP=1 keeps
it), when the start in the constructor fails, and at interpreter exit for
servers never closed (including a test run stopped by SIGTERM).
"""

import atexit
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from rptest import (BUILD, IS_ROOT, ServerStartError, check_nobody_can_reach, close_quietly,
                    free_port, sanitizer_excerpt, wait_until)

RAMPART = os.path.join(BUILD, "bin", "rampart")

__all__ = ["JsServer", "RAMPART", "IS_ROOT", "BUILD", "wait_until", "free_port",
           "ServerStartError"]


# Servers not closed yet: what the exit handler stops and removes.
_live = set()


def _cleanup_live():
    for srv in list(_live):
        srv.kill()
        srv.remove_dir()


atexit.register(_cleanup_live)
# A run stopped by SIGTERM (a CI timeout) exits through atexit too, unless
# someone else already handles the signal.
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))


class JsServer:
    def __init__(self, script, files=None, args=(), env=None, start=True, wait=True,
                 start_timeout=15):
        self.dir = tempfile.mkdtemp(prefix="rpjs-")
        self.proc = None
        self._out = self._err = None
        _live.add(self)
        try:
            self._setup(script, files, args, env, start, wait, start_timeout)
        except BaseException:
            # no `with` block will run: the error already holds the logs
            self.kill()
            self.remove_dir()
            raise

    def _setup(self, script, files, args, env, start, wait, start_timeout):
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.port2 = free_port()
        while self.port2 == self.port:
            self.port2 = free_port()
        self.args = tuple(args)
        self.env = dict(os.environ if env is None else env)
        self.start_timeout = start_timeout
        self.proc = None
        self.returncode = None
        self._out = self._err = None
        for rel, content in (files or {}).items():
            self.write(rel, content)
        self.script = self.write("test.js", script)
        if '"nobody"' in script:
            check_nobody_can_reach()
        if start:
            self.start(wait)

    # ---- files ------------------------------------------------------------
    def fmt(self, s):
        return (s.replace("{dir}", self.dir).replace("{port}", str(self.port))
                .replace("{port2}", str(self.port2)))

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def write(self, rel, content, mode=0o644):
        p = os.path.join(self.dir, rel)
        d = os.path.dirname(p)
        if not os.path.isdir(d):
            os.makedirs(d)
            # every level 0755 for 'nobody'
            cur = d
            while cur.startswith(self.dir) and cur != self.dir:
                os.chmod(cur, 0o755)
                cur = os.path.dirname(cur)
        if isinstance(content, str):
            content = self.fmt(content).encode()
        with open(p, "wb") as f:
            f.write(content)
        os.chmod(p, mode)
        return p

    # ---- process ----------------------------------------------------------
    def start(self, wait=True):
        self._out = open(self.path("stdout.log"), "wb")
        self._err = open(self.path("stderr.log"), "wb")
        self.proc = subprocess.Popen([RAMPART, self.script] + list(self.args),
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, cwd=self.dir, env=self.env)
        if not wait:
            return self
        deadline = time.monotonic() + self.start_timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                self._close()
                raise ServerStartError("rampart exited with %s during start\n%s"
                                       % (rc, self.output()))
            if self.can_connect():
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError("rampart did not accept on port %d within %ss\n%s"
                                       % (self.port, self.start_timeout, self.output()))
            time.sleep(0.02)

    def can_connect(self, port=None):
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port or self.port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def wait(self, timeout=20):
        """For scripts expected to exit: their exit status."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("rampart did not exit within %ss\n%s" % (timeout, self.output()))
        self._close()
        return self.returncode

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.returncode = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        else:
            self.returncode = self.proc.returncode
        self._close()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._close()

    def _close(self):
        close_quietly(self._out, self._err)
        self._out = self._err = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        rep = self.sanitizer_report()
        if exc_type is not None or rep:
            sys.stderr.write("\n---- rampart output (%s) ----\n%s\n----\n" % (self.dir, self.output()))
        self.remove_dir()
        if exc_type is None and rep:
            raise AssertionError("sanitizer report from rampart:\n" + rep)
        return False

    def remove_dir(self):
        """Remove the temporary directory (kept with RP_KEEP_TMP=1)."""
        _live.discard(self)
        if os.environ.get("RP_KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- logs -------------------------------------------------------------
    def _read(self, name):
        try:
            with open(self.path(name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout(self):
        return self._read("stdout.log")

    def stderr(self):
        return self._read("stderr.log")

    def output(self):
        return "[stderr]\n%s\n[stdout]\n%s" % (self.stderr()[-8000:], self.stdout()[-4000:])

    def sanitizer_report(self):
        return sanitizer_excerpt(self.stderr())

    # ---- HTTP ---------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, port=None, timeout=20):
        """(status, headers dict lower-case (repeated joined by '\\n'), body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            hd = {}
            for k, v in r.getheaders():
                k = k.lower()
                hd[k] = hd[k] + "\n" + v if k in hd else v
            return r.status, hd, data
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, ctype=None, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if ctype:
            headers["Content-Type"] = ctype
        return self.request("POST", path, body=body, headers=headers, **kw)
