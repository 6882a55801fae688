"""Operations: a daemonized server driven with `rampart-httpd -s`, log
rotation after the switch to User, the systemd unit, the man pages.

SIGHUP reload semantics are tested elsewhere (reload under load); here only
"the server is still serving after -s reload"."""
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from rptest import free_privileged_port, Server, HTTPD, REPO, IS_ROOT, run_httpd, wait_until

CONF = "LoadModule static mod_static.so\nLogLevel info\nMap / {www}\n"
FILES = {"www/index.html": "<h1>ops</h1>\n"}
UNIT = os.path.join(REPO, "conf", "rampart-httpd.service")
MAN_PAGES = ["man1/rampart.1", "man5/rampart-httpd.conf.5", "man7/rampart-plugins.7",
             "man8/rampart-httpd.8"]


def read(path):
    with open(path) as f:
        return f.read()


def nobody():
    return pwd.getpwnam("nobody")


def gone(pid):
    """pid is no longer a live rampart-httpd of this build."""
    return not Server.is_our_httpd(pid) or Server._is_zombie(pid)


class TestDaemonControl(unittest.TestCase):
    """Daemon on + PidFile, then -s reopen / reload / stop from the command line."""

    def setUp(self):
        self.srv = Server(conf=CONF, files=FILES, daemon=True, start=False)
        if IS_ROOT:
            # As an admin would: the pid file and the logs live in a directory
            # User may write, so the server can still delete its pid file and
            # create new logs after the switch to 'nobody'.
            os.chown(self.srv.dir, nobody().pw_uid, nobody().pw_gid)
        self.srv.start()
        self.addCleanup(self.srv.cleanup)

    def ctl(self, word):
        # never signal a pid that is not our server
        pid = int(read(self.srv.pid_file).strip())
        self.assertEqual(pid, self.srv.pid)
        self.assertTrue(Server.is_our_httpd(pid), "pid %d is not our rampart-httpd" % pid)
        r = run_httpd(["-f", self.srv.conf_path, "-s", word])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout + r.stderr, "")
        return pid

    def get(self, path="/"):
        st, _, body = self.srv.request("GET", path)
        return st, body

    def test_daemon_then_s_reopen_reload_stop(self):
        srv = self.srv
        self.assertEqual(srv.proc.wait(10), 0, "the launcher exits 0 after forking")
        self.assertNotEqual(srv.pid, srv.proc.pid)
        self.assertEqual(self.get(), (200, b"<h1>ops</h1>\n"))
        if IS_ROOT:
            self.assertEqual(int(read("/proc/%d/status" % srv.pid)
                                 .split("Uid:")[1].split()[0]), nobody().pw_uid)

        # -s reopen after a rotation: new lines go to the new files
        srv.request("GET", "/?before=1")
        srv.wait_log(r"before=1", "access")
        os.rename(srv.access_log_path, srv.access_log_path + ".1")
        os.rename(srv.error_log_path, srv.error_log_path + ".1")
        self.ctl("reopen")
        wait_until(lambda: os.path.exists(srv.access_log_path), 10, what="new access log")
        srv.wait_log(r"log files reopened")
        srv.request("GET", "/?after=1")
        srv.wait_log(r"after=1", "access")
        self.assertNotIn("after=1", read(srv.access_log_path + ".1"))
        self.assertNotIn("before=1", srv.access_log())

        # -s reload: same process, still serving
        pid = self.ctl("reload")
        for i in range(20):
            self.assertEqual(self.get("/?reload=%d" % i), (200, b"<h1>ops</h1>\n"))
        self.assertTrue(Server.is_our_httpd(pid) and not Server._is_zombie(pid))
        self.assertEqual(int(read(srv.pid_file)), pid)

        # -s stop: the daemon exits and removes its pid file
        self.ctl("stop")
        wait_until(lambda: gone(pid), 15, what="daemon exit after -s stop")
        wait_until(lambda: not os.path.exists(srv.pid_file), 5, what="pid file removal")
        srv.wait_log(r"\bstopped\b")
        self.assertNotRegex(srv.error_log(), r"\[err")

        # nothing left to signal: a clear error, status 1
        r = run_httpd(["-f", srv.conf_path, "-s", "stop"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("no server pid", r.stderr)

    def test_s_quit_stops_too(self):
        pid = self.ctl("quit")
        wait_until(lambda: gone(pid), 15, what="daemon exit after -s quit")

    def test_s_bad_word(self):
        r = run_httpd(["-f", self.srv.conf_path, "-s", "restart"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("expected stop, quit, reload or reopen", r.stderr)
        self.assertTrue(self.srv.alive())


class TestDaemonFailures(unittest.TestCase):
    def test_daemon_reports_the_childs_failure(self):
        # the launcher waits for the daemon to serve: a failure after the fork
        # is its exit status and message, not a silent 0
        srv = Server(conf=CONF + "PidFile /nonexistent-dir/x.pid\n", files=FILES,
                     start=False, logs=False)
        try:
            conf = srv.conf_text.replace("User nobody\n", "User nobody\nDaemon on\n") \
                if IS_ROOT else srv.conf_text + "Daemon on\n"
            with open(srv.conf_path, "w") as f:
                f.write(conf)
            r = run_httpd(["-f", srv.conf_path], timeout=20)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("PidFile", r.stderr)
        finally:
            srv.cleanup()

    def test_s_refuses_a_stale_pid_file(self):
        # a pid file naming a process that is not rampart-httpd (here: sleep)
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            srv = Server(conf=CONF + "PidFile {dir}/stale.pid\n", files=FILES, start=False)
            try:
                with open(os.path.join(srv.dir, "stale.pid"), "w") as f:
                    f.write("%d\n" % sleeper.pid)
                r = run_httpd(["-f", srv.conf_path, "-s", "stop"])
                self.assertEqual(r.returncode, 1)
                self.assertIn("stale", r.stderr)
                self.assertIsNone(sleeper.poll(), "the unrelated process was signalled")
            finally:
                srv.cleanup()
        finally:
            sleeper.kill()
            sleeper.wait()


class TestSignalsWithoutPidFile(unittest.TestCase):
    def test_s_without_pidfile_directive(self):
        srv = Server(conf=CONF, files=FILES, start=False, logs=False)
        try:
            r = run_httpd(["-f", srv.conf_path, "-s", "reload"])
            self.assertEqual(r.returncode, 1)
            self.assertIn("no PidFile in the configuration", r.stderr)
        finally:
            srv.cleanup()


@unittest.skipUnless(IS_ROOT, "needs root")
class TestLogsAfterUserSwitch(unittest.TestCase):
    """Logs created by root before the switch to 'nobody' stay writable, and
    logrotate-style rotation ('create' a new file owned by User, then
    SIGUSR1) works without a directory User could write in."""

    def test_root_created_logs_stay_writable(self):
        with Server(conf=CONF, files=FILES) as srv:  # srv.dir stays root-owned 0755
            nb = nobody()
            st = os.stat(srv.access_log_path)
            self.assertEqual((st.st_uid, st.st_gid), (nb.pw_uid, nb.pw_gid),
                             "access log not handed to User")
            self.assertEqual(os.stat(srv.error_log_path).st_uid, nb.pw_uid)
            srv.request("GET", "/?one=1")
            srv.wait_log(r"one=1", "access")
            # reopen without rotation: the same files, opened again as nobody
            srv.send_signal(signal.SIGUSR1)
            srv.wait_log(r"log files reopened")
            srv.request("GET", "/?two=1")
            srv.wait_log(r"two=1", "access")
            # logrotate 'create 0640 nobody nogroup' + postrotate USR1
            for path in (srv.access_log_path, srv.error_log_path):
                os.rename(path, path + ".1")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
                os.fchown(fd, nb.pw_uid, nb.pw_gid)
                os.close(fd)
            srv.request("GET", "/?three=1")  # still into the renamed file
            wait_until(lambda: "three=1" in read(srv.access_log_path + ".1"), 10,
                       what="line in the rotated file")
            srv.send_signal(signal.SIGUSR1)
            srv.wait_log(r"log files reopened")
            srv.request("GET", "/?four=1")
            srv.wait_log(r"four=1", "access")
            self.assertEqual(srv.access_log().count("GET /?four=1"), 1)
            self.assertNotIn("four=1", read(srv.access_log_path + ".1"))
            self.assertNotIn("cannot reopen", srv.error_log())
            self.assertTrue(srv.alive())
            self.assertEqual(srv.stop(), 0)


class TestSystemdUnit(unittest.TestCase):
    def unit(self):
        with open(UNIT) as f:
            return f.read()

    def settings(self):
        out = {}
        for line in self.unit().splitlines():
            m = re.match(r"^([A-Za-z]+)=(.*)$", line)
            if m:
                out.setdefault(m.group(1), []).append(m.group(2))
        return out

    def test_unit_runs_the_server_in_the_foreground(self):
        s = self.settings()
        self.assertEqual(s["Type"], ["exec"])
        self.assertRegex(s["ExecStart"][0],
                         r"^/usr/local/bin/rampart-httpd -f /usr/local/etc/rampart/"
                         r"rampart-httpd\.conf -c \"Daemon off\"$")
        self.assertIn("/bin/kill -HUP $MAINPID", s["ExecReload"])
        self.assertEqual(s["KillSignal"], ["SIGTERM"])
        self.assertEqual(s["NoNewPrivileges"], ["yes"])

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed")
    def test_systemd_analyze_verify(self):
        d = tempfile.mkdtemp(prefix="rptest-unit-")
        try:
            # as "make install" does, with the build tree as the prefix
            text = self.unit().replace("/usr/local/bin/", os.path.dirname(HTTPD) + "/")
            path = os.path.join(d, "rampart-httpd.service")
            with open(path, "w") as f:
                f.write(text)
            env = dict(os.environ, MANPATH=os.path.join(REPO, "man"), SYSTEMD_LOG_COLOR="0")
            man = ["--man=yes"] if shutil.which("man") else ["--man=no"]
            r = subprocess.run(["systemd-analyze", "verify"] + man + [path], capture_output=True,
                               text=True, timeout=60, env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stderr.strip(), "", r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    @unittest.skipUnless(IS_ROOT and shutil.which("setpriv"), "needs root and setpriv")
    def test_unit_capabilities_suffice(self):
        """The unit's CapabilityBoundingSet and NoNewPrivileges still let the
        server bind a port below 1024, chown its logs and switch to User."""
        caps = self.settings()["CapabilityBoundingSet"][0].split()
        bset = "-all," + ",".join("+" + c.lower().replace("cap_", "") for c in caps)
        port = free_privileged_port(700)
        if port is None:
            self.skipTest("no free port below 1024")
        srv = Server(conf=CONF, files=FILES, binds=["127.0.0.1:%d" % port], start=False)
        try:
            err = open(srv.path("stderr.log"), "wb")
            proc = subprocess.Popen(["setpriv", "--nnp", "--bounding-set", bset, HTTPD, "-f",
                                     srv.conf_path], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, cwd=srv.dir)
            try:
                wait_until(lambda: proc.poll() is not None or srv._can_connect(), 10,
                           what="server under setpriv accepting")
                if proc.poll() is not None:
                    self.fail("server under setpriv exited\n" + srv.output())
                self.assertTrue(Server.is_our_httpd(proc.pid))  # setpriv exec'd it
                st, _, body = srv.request("GET", "/")
                self.assertEqual((st, body), (200, b"<h1>ops</h1>\n"))
                status = read("/proc/%d/status" % proc.pid)
                self.assertEqual(int(status.split("Uid:")[1].split()[0]), nobody().pw_uid)
                self.assertEqual(int(status.split("NoNewPrivs:")[1].split()[0]), 1)
                self.assertEqual(os.stat(srv.access_log_path).st_uid, nobody().pw_uid)
                self.assertNotIn("cannot chown", srv.error_log())
            finally:
                if proc.poll() is None and Server.is_our_httpd(proc.pid):
                    proc.send_signal(signal.SIGTERM)
                try:
                    self.assertEqual(proc.wait(15), 0)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(5)
                    err.close()
        finally:
            srv.cleanup()


@unittest.skipUnless(shutil.which("groff"), "groff not installed")
class TestManPages(unittest.TestCase):
    def test_render_without_warnings(self):
        for rel in MAN_PAGES:
            path = os.path.join(REPO, "man", rel)
            r = subprocess.run(["groff", "-t", "-man", "-ww", "-z", path], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual((r.returncode, r.stderr), (0, ""), rel)

    @unittest.skipUnless(shutil.which("man"), "man not installed")
    def test_man_l_renders(self):
        env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0")
        for rel in MAN_PAGES:
            path = os.path.join(REPO, "man", rel)
            r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True,
                               text=True, timeout=60, env=env)
            self.assertEqual((r.returncode, r.stderr), (0, ""), rel)
            text = re.sub(r".\x08", "", r.stdout)  # overstrike bold/underline
            name = os.path.basename(rel).rsplit(".", 1)[0].upper()
            self.assertIn(name, text.replace("\u2010", "-"))
            for section in ("NAME", "DESCRIPTION", "SEE ALSO"):
                self.assertRegex(text, r"(?m)^%s$" % section, rel)


if __name__ == "__main__":
    unittest.main()


class TestProcTitle(unittest.TestCase):
    """AppendProcTitle: the command line ps shows names the listening
    addresses; without it, it is left alone."""

    def cmdline(self, pid):
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode()

    def test_httpd(self):
        srv = Server(conf="AppendProcTitle on\n", files={"www/x": b"x"})
        try:
            # the port answers a moment before the title is written
            want = " 127.0.0.1:%d" % srv.port
            wait_until(lambda: self.cmdline(srv.pid).endswith(want), 10, what="the title")
            self.assertIn(" -f %s" % srv.conf_path, self.cmdline(srv.pid))
            # options kept from argv still work: a reload re-reads the same file
            srv.send_signal(signal.SIGHUP)
            srv.wait_log("configuration reloaded")
            self.assertEqual(srv.get("/")[0], 404)
        finally:
            srv.stop()
            srv.cleanup()
        srv = Server(conf="", files={"www/x": b"x"})
        try:
            self.assertNotIn("127.0.0.1:%d" % srv.port, self.cmdline(srv.pid))
        finally:
            srv.stop()
            srv.cleanup()

    def test_js(self):
        from jsrun import JsServer
        script = ('require("rampart-server").start({bind: "127.0.0.1:{port}", user: "nobody", '
                  'appendProcTitle: true, map: {"/": function () { return {txt: "t"}; }}});\n')
        with JsServer(script) as srv:
            self.assertEqual(srv.get("/")[2], b"t")
            want = " 127.0.0.1:%d" % srv.port
            wait_until(lambda: self.cmdline(srv.proc.pid).endswith(want), 10, what="the title")
            self.assertIn("test.js", self.cmdline(srv.proc.pid))


HAVE_JS = os.path.exists(os.path.join(os.path.dirname(HTTPD), "..", "modules", "mod_js.so"))
JS_GOOD = "module.exports = function () { return {txt: 'ok'}; };\n"
JS_BAD = "module.exports = function () {\n  return {txt: 'x' +};\n};\n"


@unittest.skipUnless(HAVE_JS, "mod_js.so not built")
class TestConfigTestCompilesScripts(unittest.TestCase):
    """`rampart-httpd -t` compiles the module scripts the configuration maps,
    so a syntax error is a start-up error naming conf line and script line,
    not a 500 at the first request (issue 16)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rpops-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        for rel, text in (("good.js", JS_GOOD), ("bad.js", JS_BAD), ("mods/fine.js", JS_GOOD),
                          ("mods/broken.js", JS_BAD), ("goodmods/a.js", JS_GOOD),
                          ("www/index.html", "x\n")):
            p = os.path.join(self.dir, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)

    def check(self, line):
        conf = os.path.join(self.dir, "t.conf")
        with open(conf, "w") as f:
            f.write("LoadModule static mod_static.so\nLoadModule js mod_js.so\n"
                    "Map / www\n%s\n" % line)
        return run_httpd(["-t", "-f", conf]), conf

    def test_good_scripts_pass(self):
        for line in ("MapModule /x good.js", "MapModule /x good", "MapModulePath /m/ goodmods",
                     "Map /y good.js", "NotFound good.js", "DirectoryScript good.js",
                     "BeginFunc good.js", "EndFunc good.js", "LogFunc good.js",
                     "MapModule /z some-bare-module-name"):
            r, conf = self.check(line)
            self.assertEqual(r.returncode, 0, (line, r.stderr))
            self.assertIn("is OK", r.stdout)

    def test_syntax_error_names_conf_and_script_line(self):
        bad = os.path.join(self.dir, "bad.js")
        broken = os.path.join(self.dir, "mods", "broken.js")
        for line, script in (("MapModule /x bad.js", bad), ("MapModule /x bad", bad),
                             ("MapModulePath /m/ mods", broken), ("Map /y bad.js", bad),
                             ("NotFound bad.js", bad), ("DirectoryScript bad.js", bad),
                             ("BeginFunc bad.js", bad), ("EndFunc bad.js", bad),
                             ("LogFunc bad.js", bad)):
            r, conf = self.check(line)
            self.assertEqual(r.returncode, 1, line)
            self.assertIn("%s:4: %s" % (conf, line.split()[0]), r.stderr, line)
            self.assertIn("%s:2: SyntaxError" % script, r.stderr, line)
            self.assertNotIn("is OK", r.stdout)

