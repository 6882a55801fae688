"""Process behaviour: SIGTERM/SIGINT graceful stop, SIGUSR1 log reopen,
Daemon + PidFile, User (privilege drop) and the refusal to run as root."""
import os
import pwd
import re
import signal
import socket
import threading
import time
import unittest

from rptest import (free_privileged_port, Server, IS_ROOT, LOAD_TESTHOOKS, read_response, recv_all, parse_responses,
                    kv_lines, wait_until)

CONF = LOAD_TESTHOOKS + """LogLevel info
Map /echo test:echo
Map /slow test:slow:6000
Map /slow30 test:slow:30000
Map /streamslow test:stream:4:300
"""


def refused(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect((host, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)


class TestGraceful(unittest.TestCase):
    def graceful(self, sig):
        with Server(conf=CONF) as srv:
            out = {}

            def client():
                try:
                    out["resp"] = srv.request("GET", "/slow", timeout=40)
                except Exception as e:  # reported below
                    out["err"] = e
            t = threading.Thread(target=client)
            t.start()
            srv.wait_log(r"testhooks handler slow:6000 /slow")
            t_sig = time.monotonic()
            srv.send_signal(sig)
            # the listener closes while the 6 s request is still running
            wait_until(lambda: refused("127.0.0.1", srv.port), 5,
                       what="listener closed after signal")
            self.assertTrue(t.is_alive(), "slow request finished too early to prove anything")
            code = srv.proc.wait(40)
            t.join(15)
            self.assertNotIn("err", out, out.get("err"))
            st, h, b = out["resp"]
            self.assertEqual(st, 200)
            self.assertEqual(b, b"slow 6000\n")
            self.assertEqual(code, 0, srv.output())
            self.assertGreater(time.monotonic() - t_sig, 0.5)
            log = srv.error_log()
            exits = sorted(int(x) for x in re.findall(r"testhooks worker_exit (\d+)", log))
            self.assertEqual(exits, [0, 1], log)
            self.assertEqual(srv.stop(), 0)

    def test_sigterm_finishes_in_flight(self):
        self.graceful(signal.SIGTERM)

    def test_sigint_finishes_in_flight(self):
        self.graceful(signal.SIGINT)

    def test_sigterm_mid_stream(self):
        with Server(conf=CONF) as srv:
            s = srv.sock(10)
            try:
                s.sendall(b"GET /streamslow HTTP/1.1\r\nHost: x\r\n\r\n")
                got = b""
                deadline = time.monotonic() + 5
                while b"chunk 0\n" not in got and time.monotonic() < deadline:
                    d = s.recv(65536)
                    if not d:
                        break
                    got += d
                self.assertIn(b"chunk 0\n", got)
                srv.send_signal(signal.SIGTERM)
                got += recv_all(s, 5, 10)
            finally:
                s.close()
            rs = parse_responses(got)
            self.assertEqual(rs[0][2], b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n")
            self.assertEqual(srv.proc.wait(10), 0)

    def test_idle_keepalive_does_not_delay_stop(self):
        with Server(conf=CONF) as srv:
            conn = srv.connection()
            try:
                st, h, b = Server.do(conn, "GET", "/echo")
                self.assertEqual(st, 200)
                t0 = time.monotonic()
                srv.send_signal(signal.SIGTERM)
                self.assertEqual(srv.proc.wait(30), 0)
                # waiting for the idle connection would take GracefulTimeout (10 s)
                self.assertLess(time.monotonic() - t0, 8, "idle connection held up the stop")
            finally:
                conn.close()

    def test_graceful_timeout_bounds_the_wait(self):
        with Server(conf=CONF + "GracefulTimeout 1\n") as srv:
            out = {}
            t = threading.Thread(target=lambda: out.setdefault(
                "raw", srv.raw(b"GET /slow30 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=40)))
            t.start()
            srv.wait_log(r"testhooks handler slow:30000 /slow30")
            t0 = time.monotonic()
            srv.send_signal(signal.SIGTERM)
            code = srv.proc.wait(40)
            dt = time.monotonic() - t0
            t.join(40)
            # the handler would take 30 s; GracefulTimeout 1 must cut it short
            self.assertLess(dt, 15, "GracefulTimeout 1 not honoured (%.1fs)" % dt)
            self.assertGreaterEqual(dt, 0.8)
            self.assertGreaterEqual(code, 0, "killed by a signal")
            self.assertNotIn(b"slow 5000", out.get("raw", b""))


class TestReopen(unittest.TestCase):
    def test_sigusr1_reopens_logs(self):
        with Server(conf=CONF) as srv:
            if IS_ROOT:
                # The server runs as 'nobody' after binding; give it a log
                # directory it may create files in, as an admin would.
                nobody = pwd.getpwnam("nobody")
                os.chown(srv.dir, nobody.pw_uid, nobody.pw_gid)
            srv.request("GET", "/echo?before=1")
            srv.wait_log(r"/echo\?before=1", "access")
            srv.wait_log(r"testhooks log GET /echo\?before=1")
            os.rename(srv.access_log_path, srv.access_log_path + ".1")
            os.rename(srv.error_log_path, srv.error_log_path + ".1")
            # still writing to the renamed files until the signal
            srv.request("GET", "/echo?between=1")
            wait_until(lambda: "between=1" in open(srv.access_log_path + ".1").read(), 10,
                       what="access line in the renamed file")
            srv.send_signal(signal.SIGUSR1)
            wait_until(lambda: os.path.exists(srv.access_log_path)
                       and os.path.exists(srv.error_log_path), 10, what="new log files")
            srv.request("GET", "/echo?after=1")
            srv.wait_log(r"/echo\?after=1", "access")
            srv.wait_log(r"testhooks log GET /echo\?after=1")
            old_access = open(srv.access_log_path + ".1").read()
            old_error = open(srv.error_log_path + ".1").read()
            self.assertNotIn("after=1", old_access)
            self.assertNotIn("after=1", old_error)
            self.assertNotIn("before=1", srv.access_log())
            self.assertTrue(srv.alive())
            # and again: a second reopen works the same
            os.rename(srv.access_log_path, srv.access_log_path + ".2")
            srv.send_signal(signal.SIGUSR1)
            wait_until(lambda: os.path.exists(srv.access_log_path), 10, what="second reopen")
            srv.request("GET", "/echo?again=1")
            srv.wait_log(r"/echo\?again=1", "access")
            self.assertEqual(srv.stop(), 0)


class TestDaemon(unittest.TestCase):
    def test_daemon_with_pid_file(self):
        srv = Server(conf=CONF, daemon=True)
        try:
            self.assertEqual(srv.proc.wait(10), 0, "the launcher should exit 0 after forking")
            self.assertNotEqual(srv.pid, srv.proc.pid)
            with open(srv.pid_file) as f:
                pid = int(f.read().strip())
            self.assertEqual(pid, srv.pid)
            self.assertTrue(Server.is_our_httpd(pid))
            st = proc_status(pid)
            self.assertNotEqual(int(st["PPid"].strip()), os.getpid())
            # detached: a session of its own, no controlling terminal
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            self.assertEqual(int(fields[3]), pid, "not a session leader... (sid)")  # sid
            self.assertEqual(int(fields[4]), 0, "has a controlling terminal")
            s, h, b = srv.request("GET", "/echo?daemon=1")
            self.assertEqual(s, 200)
            self.assertEqual(kv_lines(b)["query"], "daemon=1")
            self.assertEqual(srv.stop(), 0)
            self.assertFalse(Server.is_our_httpd(pid) and not Server._is_zombie(pid))
        finally:
            srv.cleanup()


@unittest.skipUnless(IS_ROOT, "needs root")
class TestPrivileges(unittest.TestCase):
    def test_user_nobody_drops_privileges(self):
        nobody = pwd.getpwnam("nobody")
        with Server(conf=CONF, threads=3) as srv:
            st, h, b = srv.request("GET", "/echo")
            self.assertEqual(st, 200)
            tasks = os.listdir("/proc/%d/task" % srv.pid)
            self.assertGreaterEqual(len(tasks), 4)  # main + 3 workers
            for tid in tasks:
                with open("/proc/%d/task/%s/status" % (srv.pid, tid)) as f:
                    d = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
                uids = [int(x) for x in d["Uid"].split()]
                gids = [int(x) for x in d["Gid"].split()]
                self.assertEqual(uids, [nobody.pw_uid] * 4, "thread %s Uid %r" % (tid, uids))
                self.assertEqual(gids, [nobody.pw_gid] * 4, "thread %s Gid %r" % (tid, gids))
                groups = d.get("Groups", "").split()
                self.assertTrue(all(int(g) != 0 for g in groups), "still in group root")

    def test_privileged_port_then_drop(self):
        # binding needs root, serving does not
        port = free_privileged_port(900)
        if port is None:
            self.skipTest("no free port below 1024")
        with Server(conf=CONF, binds=["127.0.0.1:%d" % port]) as srv:
            st, h, b = srv.request("GET", "/echo")
            self.assertEqual(st, 200)
            uid = int(proc_status(srv.pid)["Uid"].split()[0])
            self.assertEqual(uid, pwd.getpwnam("nobody").pw_uid)

    def test_root_without_user_refused(self):
        srv = Server(conf=CONF, user=False, expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            out = srv.output()
            self.assertIn("root", out.lower())
            self.assertIn("User", out)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
