"""rptest - the integration-test harness for rampart-httpd.

    from rptest import Server, BUILD, free_port, run_httpd

    with Server(conf="LoadModule static mod_static.so\\nMap / {www}\\n",
                files={"www/index.html": b"hello"}) as srv:
        status, headers, body = srv.request("GET", "/")

Server(conf, files, threads=2, binds=None, start=True, expect_fail=False, args=(),
       logs=True, user=None, daemon=False, pid_file=None, env=None, start_timeout=10)

  * makes a temporary directory (mode 0755 so 'nobody' can read it) and writes
    `files` into it (bytes or str; parent directories 0755, files 0644);
  * replaces the placeholders {dir}, {www} (= dir/www), {port} and {port2}
    (two free TCP ports) in `conf`, in `binds` and in `files` given as str;
  * prepends "Bind 127.0.0.1:<port>" (or one Bind per entry of `binds`),
    "Threads <threads>" (unless threads is None), "ErrorLog {dir}/error.log" and
    "Log on", "AccessLog {dir}/access.log" (unless logs=False), and "User nobody" when
    running as root (unless user=False; user="name" picks another name);
  * writes {dir}/rampart.conf and starts BUILD/bin/rampart-httpd -f conf +args,
    with stdout/stderr going to {dir}/stdout.log and {dir}/stderr.log;
  * waits up to start_timeout seconds until the first Bind address accepts;
    fails with the server's stderr and error log if it exits or times out.
    With expect_fail=True it instead waits for the process to exit and keeps
    the exit code in srv.returncode (srv.output() has stderr + error log).
    With daemon=True the launched process is expected to fork and exit 0; the
    serving pid is then read from pid_file (default {dir}/rampart.pid, a
    "PidFile" line is prepended) and checked to be a rampart-httpd process.

Only processes started here are ever signalled, always by pid.
"""

import hashlib
import http.client
import os
import re
import shutil
import signal
import signal as _signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("RP_BUILD_DIR") or os.path.join(REPO, "build"))
HTTPD = os.path.join(BUILD, "bin", "rampart-httpd")
TEST_MODULES = os.path.join(BUILD, "test-modules")
IS_ROOT = os.geteuid() == 0


def closed_to_others(path):
    """The first directory above path that others cannot enter, or None.

    Tests started as root run the server as 'nobody', which must reach the
    build tree (modules, scripts).  A checkout inside a 0700 directory (what
    mktemp -d makes) would fail those tests obscurely; say why instead."""
    d = os.path.abspath(path)
    while True:
        if not os.stat(d).st_mode & 0o001:
            return d
        up = os.path.dirname(d)
        if up == d:
            return None
        d = up


def check_nobody_can_reach(path=BUILD):
    blocked = closed_to_others(path) if IS_ROOT else None
    if blocked:
        raise ServerStartError(
            "%s is closed to other users (mode %o), so the server, dropping to 'nobody', "
            "cannot reach %s: run the tests from a checkout under world-searchable "
            "directories (chmod 755 %s)" % (blocked, os.stat(blocked).st_mode & 0o777, path,
                                            blocked))

__all__ = ["Server", "BUILD", "HTTPD", "TEST_MODULES", "REPO", "IS_ROOT", "free_port",
           "run_httpd", "wait_until", "parse_responses", "read_response", "sha256",
           "ServerStartError", "check_nobody_can_reach"]


class ServerStartError(AssertionError):
    pass


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def free_port(host="127.0.0.1"):
    """A TCP port that is free on host right now (and on ::1 when available)."""
    for _ in range(50):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        # The server may also bind [::1] on the same port: check it is free there too.
        if fam == socket.AF_INET and socket.has_ipv6:
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            try:
                s6.bind(("::1", port))
            except OSError as e:
                if e.errno == 98:  # EADDRINUSE
                    continue
            finally:
                s6.close()
        return port
    raise RuntimeError("no free port found")


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value (returned) or timeout (AssertionError)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


_SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|"
                           r"runtime error: |WARNING: ThreadSanitizer")


def sanitizer_excerpt(text):
    """The sanitizer finding in a process's output, with some context, or ''."""
    m = _SANITIZER_RE.search(text)
    return text[max(0, m.start() - 200):m.start() + 6000] if m else ""


def close_quietly(*files):
    for f in files:
        if f is not None:
            try:
                f.close()
            except OSError:
                pass


def free_privileged_port(lo=700, hi=1000):
    """A free 127.0.0.1 port below 1024 (binding it needs root), or None."""
    for p in range(lo, hi):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    return None


def run_httpd(args, timeout=30, cwd=None, env=None, check_sanitizers=True):
    """Run rampart-httpd with args (e.g. ["-t", "-f", path]) to completion.
    Returns subprocess.CompletedProcess with text stdout/stderr.  Raises
    AssertionError if a sanitizer (ASan/UBSan/LSan) reported anything."""
    r = subprocess.run([HTTPD] + list(args), capture_output=True, text=True,
                       timeout=timeout, cwd=cwd, env=env)
    if check_sanitizers:
        m = _SANITIZER_RE.search(r.stderr)
        if m:
            raise AssertionError("sanitizer report from rampart-httpd %s:\n%s"
                                 % (" ".join(args), r.stderr[max(0, m.start() - 300):][:6000]))
    return r


def _parse_bind(b):
    """'127.0.0.1:8080' / '[::1]:8080' / ' [ ::1 ] : 8080 ' -> (host, port)."""
    s = b.replace(" ", "").replace("\t", "")
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", s) or re.match(r"^([^:]+):(\d+)$", s)
    if not m:
        raise ValueError("cannot parse bind %r" % b)
    return m.group(1), int(m.group(2))


def read_response(sock_file, method="GET"):
    """Read one HTTP/1.x response from a binary file object.
    Returns (status, reason, headers list[(name_lower, value)], body bytes)
    or None at a clean EOF before a status line. 1xx responses are returned
    as responses of their own (with an empty body)."""
    line = sock_file.readline(65537)
    if not line:
        return None
    m = re.match(rb"^HTTP/1\.[01] (\d{3}) ?(.*)\r\n$", line)
    if not m:
        raise ValueError("bad status line %r" % line)
    status = int(m.group(1))
    reason = m.group(2).decode("latin-1")
    headers = []
    while True:
        h = sock_file.readline(65537)
        if not h:
            raise ValueError("EOF in headers")
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers.append((name.strip().lower(), value.strip()))
    hd = {}
    for k, v in headers:
        hd[k] = hd[k] + ", " + v if k in hd else v
    if status < 200 or status in (204, 304) or method == "HEAD":
        return status, reason, headers, b""
    if "chunked" in hd.get("transfer-encoding", "").lower():
        body = b""
        while True:
            szl = sock_file.readline(1024)
            if not szl:
                raise ValueError("EOF in chunk size")
            sz = int(szl.split(b";")[0].strip(), 16)
            if sz == 0:
                while True:  # trailers
                    t = sock_file.readline(65537)
                    if t in (b"\r\n", b"\n", b""):
                        break
                break
            chunk = sock_file.read(sz)
            if len(chunk) != sz:
                raise ValueError("short chunk")
            body += chunk
            if sock_file.read(2) != b"\r\n":
                raise ValueError("missing CRLF after chunk")
        return status, reason, headers, body
    if "content-length" in hd:
        n = int(hd["content-length"])
        body = sock_file.read(n)
        if len(body) != n:
            raise ValueError("short body: %d of %d" % (len(body), n))
        return status, reason, headers, body
    return status, reason, headers, sock_file.read()


def parse_responses(data, methods=None):
    """Split raw bytes holding several responses.  methods: list of request
    methods in order (for HEAD); 1xx interim responses do not consume one.
    Returns a list of (status, headers dict, body)."""
    import io
    f = io.BytesIO(data)
    out = []
    i = 0
    while True:
        method = methods[i] if methods and i < len(methods) else "GET"
        r = read_response(f, method)
        if r is None:
            break
        status, _, hl, body = r
        hd = {}
        for k, v in hl:
            hd[k] = hd[k] + ", " + v if k in hd else v
        out.append((status, hd, body))
        if status >= 200:
            i += 1
    return out


class Server:
    def __init__(self, conf="", files=None, threads=2, binds=None, start=True,
                 expect_fail=False, args=(), logs=True, user=None, daemon=False,
                 pid_file=None, env=None, start_timeout=10):
        self.dir = tempfile.mkdtemp(prefix="rptest-")
        os.chmod(self.dir, 0o755)
        self.www = os.path.join(self.dir, "www")
        self.port = free_port()
        self.port2 = free_port()
        while self.port2 == self.port:
            self.port2 = free_port()
        self.proc = None
        self.pid = None  # the serving process (differs from proc.pid with daemon=True)
        self.returncode = None
        self.expect_fail = expect_fail
        self.daemon = daemon
        self.args = tuple(args)
        self.env = env
        self.start_timeout = start_timeout
        self.conf_path = os.path.join(self.dir, "rampart.conf")
        self.error_log_path = os.path.join(self.dir, "error.log")
        self.access_log_path = os.path.join(self.dir, "access.log")
        self.pid_file = self.fmt(pid_file) if pid_file else os.path.join(self.dir, "rampart.pid")
        self._stdout = self._stderr = None
        self._stopped = False

        for rel, content in (files or {}).items():
            self.write(rel, content)

        lines = []
        if binds is None:
            self.binds = ["127.0.0.1:%d" % self.port]
        else:
            self.binds = [self.fmt(b) for b in binds]
        for b in self.binds:
            lines.append('Bind "%s"' % b if " " in b else "Bind %s" % b)
        if threads is not None:
            lines.append("Threads %d" % threads)
        if logs:
            lines.append("Log on")
            lines.append("ErrorLog %s" % self.error_log_path)
            lines.append("AccessLog %s" % self.access_log_path)
        if user is None and IS_ROOT:
            user = "nobody"
        if user:
            if user == "nobody":
                check_nobody_can_reach()
            lines.append("User %s" % user)
        if daemon:
            lines.append("Daemon on")
            lines.append("PidFile %s" % self.pid_file)
        self.conf_text = "\n".join(lines) + "\n" + self.fmt(conf or "")
        if not self.conf_text.endswith("\n"):
            self.conf_text += "\n"
        with open(self.conf_path, "w") as f:
            f.write(self.conf_text)
        os.chmod(self.conf_path, 0o644)
        try:
            self.host, self.connect_port = _parse_bind(self.binds[0])
        except ValueError:
            self.host, self.connect_port = "127.0.0.1", self.port
        if start:
            self.start()

    # ---- files and placeholders ----------------------------------------
    def fmt(self, s):
        return (s.replace("{dir}", self.dir).replace("{www}", self.www)
                .replace("{port}", str(self.port)).replace("{port2}", str(self.port2))
                .replace("{testmodules}", TEST_MODULES).replace("{build}", BUILD))

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def write(self, rel, content, mode=0o644):
        p = os.path.join(self.dir, rel)
        parent = os.path.dirname(p)
        self._makedirs(parent)
        if isinstance(content, str):
            content = self.fmt(content).encode()
        with open(p, "wb") as f:
            f.write(content)
        os.chmod(p, mode)
        return p

    def _makedirs(self, d):
        if os.path.isdir(d):
            return
        self._makedirs(os.path.dirname(d))
        os.mkdir(d)
        os.chmod(d, 0o755)

    # ---- process control ----------------------------------------------
    def start(self):
        self._stdout = open(os.path.join(self.dir, "stdout.log"), "wb")
        self._stderr = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen([HTTPD, "-f", self.conf_path] + list(self.args),
                                     stdin=subprocess.DEVNULL, stdout=self._stdout,
                                     stderr=self._stderr, cwd=self.dir, env=self.env)
        self.pid = self.proc.pid
        self._stopped = False
        if self.expect_fail:
            try:
                self.returncode = self.proc.wait(self.start_timeout)
            except subprocess.TimeoutExpired:
                self._kill_hard()
                raise ServerStartError("server was expected to fail but is still running\n"
                                       + self.output())
            self._close_files()
            return self
        deadline = time.monotonic() + self.start_timeout
        while True:
            rc = self.proc.poll()
            if rc is not None and not (self.daemon and rc == 0):
                self.returncode = rc
                self._close_files()
                raise ServerStartError("rampart-httpd exited with %s during start\n%s"
                                       % (rc, self.output()))
            if self.daemon and rc == 0 and self.pid == self.proc.pid:
                dpid = self._read_pid_file()
                if dpid:
                    self.pid = dpid
            if (not self.daemon or self.pid != self.proc.pid) and self._can_connect():
                return self
            if time.monotonic() >= deadline:
                self._kill_hard()
                raise ServerStartError("rampart-httpd did not accept on %s:%d within %ss\n%s"
                                       % (self.host, self.connect_port, self.start_timeout,
                                          self.output()))
            time.sleep(0.02)

    def _read_pid_file(self):
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if self.is_our_httpd(pid) else None

    @staticmethod
    def is_our_httpd(pid):
        """True if pid is a live rampart-httpd process of this build."""
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            return False
        return os.path.realpath(exe.replace(" (deleted)", "")) == os.path.realpath(HTTPD)

    def _can_connect(self):
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect((self.host, self.connect_port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def alive(self):
        if self.daemon and self.pid != (self.proc.pid if self.proc else None):
            return self.is_our_httpd(self.pid) and not self._is_zombie(self.pid)
        return self.proc is not None and self.proc.poll() is None

    @staticmethod
    def _is_zombie(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, sig=_signal.SIGTERM, timeout=10):
        """Signal the server and wait.  Returns its exit code (None for a
        daemon, whose status we cannot collect: then True if it went away)."""
        if self.proc is None:
            return self.returncode
        if self._stopped:
            return self.returncode
        self._stopped = True
        if self.daemon and self.pid != self.proc.pid:
            if self.is_our_httpd(self.pid):
                os.kill(self.pid, sig)
            gone = True
            deadline = time.monotonic() + timeout
            while self.is_our_httpd(self.pid) and not self._is_zombie(self.pid):
                if time.monotonic() >= deadline:
                    gone = False
                    if self.is_our_httpd(self.pid):
                        os.kill(self.pid, _signal.SIGKILL)
                    break
                time.sleep(0.02)
            self.proc.wait(5)
            self._close_files()
            self.returncode = 0 if gone else None
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.returncode = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_hard()
                self.returncode = None
        else:
            self.returncode = self.proc.returncode
        self._close_files()
        return self.returncode

    SANITIZER_RE = _SANITIZER_RE

    def sanitizer_report(self):
        """Sanitizer findings in the server's stderr (and error log), or ''."""
        return sanitizer_excerpt(self.stderr() + "\n" + self.error_log())

    def check_sanitizers(self):
        rep = self.sanitizer_report()
        if rep:
            raise AssertionError("sanitizer report from rampart-httpd:\n" + rep)

    def _kill_hard(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.daemon and self.pid and self.proc and self.pid != self.proc.pid \
                and self.is_our_httpd(self.pid):
            os.kill(self.pid, _signal.SIGKILL)
        self._close_files()

    def _close_files(self):
        close_quietly(self._stdout, self._stderr)
        self._stdout = self._stderr = None

    def cleanup(self, keep=False):
        self.stop()
        if not keep and os.environ.get("RP_KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None and self.sanitizer_report():
            sys.stderr.write("\n---- sanitizer report (%s) ----\n" % self.dir)
            self.cleanup(keep=True)
            self.check_sanitizers()
        if exc_type is not None:
            sys.stderr.write("\n---- rampart-httpd output (%s) ----\n%s\n----\n"
                             % (self.dir, self.output()))
        self.cleanup(keep=exc_type is not None)
        return False

    # ---- logs -----------------------------------------------------------
    def _read(self, name):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def error_log(self):
        return self._read(self.error_log_path)

    def access_log(self):
        return self._read(self.access_log_path)

    def stderr(self):
        return self._read("stderr.log")

    def stdout(self):
        return self._read("stdout.log")

    def output(self):
        return ("[stderr]\n" + self.stderr() + "\n[stdout]\n" + self.stdout()[-4000:]
                + "\n[error.log]\n" + self.error_log()[-8000:])

    def wait_log(self, pattern, which="error", timeout=10):
        """Poll a log until regex pattern matches; returns the match."""
        get = self.error_log if which == "error" else self.access_log
        return wait_until(lambda: re.search(pattern, get(), re.M), timeout,
                          what="%r in the %s log" % (pattern, which))

    # ---- clients --------------------------------------------------------
    def url(self, path="/"):
        h = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d%s" % (h, self.connect_port, path)

    def connection(self, timeout=10, host=None, port=None):
        return http.client.HTTPConnection(host or self.host, port or self.connect_port,
                                          timeout=timeout)

    @staticmethod
    def do(conn, method, path, headers=None, body=None, http10=False):
        """One request on an existing http.client connection."""
        if http10:
            conn._http_vsn = 10
            conn._http_vsn_str = "HTTP/1.0"
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hd = {}
        for k, v in resp.getheaders():
            k = k.lower()
            hd[k] = hd[k] + ", " + v if k in hd else v
        return resp.status, hd, data

    def request(self, method, path, headers=None, body=None, http10=False, timeout=10,
                host=None, port=None):
        """One request on a fresh connection -> (status, headers, body)."""
        conn = self.connection(timeout, host, port)
        try:
            return self.do(conn, method, path, headers, body, http10)
        finally:
            conn.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers)

    def sock(self, timeout=10, host=None, port=None):
        h = host or self.host
        fam = socket.AF_INET6 if ":" in h else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((h, port or self.connect_port))
        return s

    def raw(self, data, timeout=2, max_time=30, host=None, port=None):
        """Fresh socket: send data, read until the server closes, or nothing
        arrived for `timeout` seconds, or max_time passed.  Returns bytes."""
        s = self.sock(timeout, host, port)
        try:
            if data:
                s.sendall(data)
            return recv_all(s, timeout, max_time)
        finally:
            s.close()


def recv_all(s, timeout=2, max_time=30):
    """Read from s until EOF, a quiet period of `timeout` seconds, or max_time."""
    out = bytearray()
    deadline = time.monotonic() + max_time
    s.settimeout(timeout)
    while time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not d:
            break
        out += d
    return bytes(out)


def recv_to_eof(s):
    """Everything s receives until the peer closes it (the socket's own
    timeout bounds each wait)."""
    out = bytearray()
    while True:
        d = s.recv(65536)
        if not d:
            return bytes(out)
        out += d


def is_closed(s, timeout=5):
    """True if the peer closed s (EOF or reset) within timeout, ignoring data."""
    deadline = time.monotonic() + timeout
    s.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not d:
            return True
    return False


__all__ += ["recv_all", "is_closed"]


# ---- helpers for the test-only plugins (tests/modules) ---------------------

def test_module(name):
    """Absolute path of a test-only plugin, e.g. test_module("testhooks")."""
    return os.path.join(TEST_MODULES, "mod_%s.so" % name)


LOAD_TESTHOOKS = "LoadModule testhooks {testmodules}/mod_testhooks.so\n"


def gen_body(n, off=0):
    """The body mod_testhooks' big:<n> modes generate: byte i = (i^(i>>8)^(i>>16)) & 0xff."""
    return bytes(((i ^ (i >> 8) ^ (i >> 16)) & 0xFF) for i in range(off, off + n))


def kv_lines(body):
    """Parse "key=value" lines (mod_testhooks echo/conf output) into a dict."""
    out = {}
    for line in body.decode("utf-8", "replace").splitlines():
        k, sep, v = line.partition("=")
        if sep and not k.startswith("h:"):
            out[k] = v
    return out


__all__ += ["test_module", "LOAD_TESTHOOKS", "gen_body", "kv_lines"]
