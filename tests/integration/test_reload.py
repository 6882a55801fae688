"""SIGHUP reload: new connections get the new configuration at once, requests
in flight finish on the old one, nothing stops listening, and a bad new
configuration leaves the old one serving."""
import http.client
import os
import signal
import threading
import time
import unittest

from rptest import Server, LOAD_TESTHOOKS, wait_until

FILES = {"v1/a.txt": "version 1\n", "v2/a.txt": "version 2\n"}


def conf(version, extra=""):
    return (LOAD_TESTHOOKS + "LoadModule static mod_static.so\n"
            "LogLevel info\nMap /slow test:slow:1500\nMap / {dir}/%s\n%s" % (version, extra))


class TestReload(unittest.TestCase):
    def rewrite(self, srv, text):
        # same Bind/Threads/log lines as the harness wrote, new body
        head = srv.conf_text[:srv.conf_text.index(LOAD_TESTHOOKS.split()[0])]
        with open(srv.conf_path, "w") as f:
            f.write(head + srv.fmt(text))

    def reload(self, srv, expect):
        before = srv.error_log().count(expect)
        os.kill(srv.pid, signal.SIGHUP)
        wait_until(lambda: srv.error_log().count(expect) > before, 10, what=repr(expect))

    def body(self, srv):
        st, _, b = srv.request("GET", "/a.txt")
        self.assertEqual(st, 200)
        return b

    def test_reload_under_load_loses_nothing(self):
        with Server(conf=conf("v1"), files=FILES, threads=2) as srv:
            stop = threading.Event()
            results, errors = [], []

            def client(keepalive):
                conn = None
                for _ in range(3000):  # bounded in count; the stop event bounds time
                    if stop.is_set():
                        break
                    try:
                        if conn is None or not keepalive:
                            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
                        conn.request("GET", "/a.txt")
                        r = conn.getresponse()
                        body = r.read()
                        results.append((r.status, body))
                        if not keepalive or r.getheader("Connection", "").lower() == "close":
                            conn.close()
                            conn = None
                    except Exception as e:  # any failure is a lost request
                        errors.append(repr(e))
                        conn = None
                if conn:
                    conn.close()

            threads = [threading.Thread(target=client, args=(k,)) for k in (True, True, False, False)]
            for t in threads:
                t.start()
            try:
                wait_until(lambda: len(results) > 200, 10, what="load running")
                for version in ("v2", "v1", "v2"):
                    self.rewrite(srv, conf(version))
                    self.reload(srv, "configuration reloaded")
                    n = len(results)
                    wait_until(lambda: len(results) > n + 100, 10, what="load after reload")
            finally:
                stop.set()
                for t in threads:
                    t.join(30)
            self.assertEqual(errors, [])
            bad = [r for r in results if r[0] != 200 or r[1] not in (b"version 1\n", b"version 2\n")]
            self.assertEqual(bad, [])
            self.assertGreater(len(results), 500)
            self.assertEqual(self.body(srv), b"version 2\n")
            # the replaced configurations drained and were released
            wait_until(lambda: srv.error_log().count("previous configuration has finished") >= 3,
                       10, what="old configurations released")

    def test_in_flight_request_finishes_on_old_configuration(self):
        with Server(conf=conf("v1"), files=FILES, threads=1) as srv:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            conn.request("GET", "/slow")
            srv.wait_log(r"testhooks handler slow:1500")
            self.rewrite(srv, conf("v2"))
            self.reload(srv, "configuration reloaded")
            # the new configuration answers new connections while /slow is pending
            self.assertEqual(self.body(srv), b"version 2\n")
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"slow 1500\n"))
            # an old-configuration connection closes after its request
            self.assertEqual(r.getheader("Connection"), "close")
            wait_until(lambda: "previous configuration has finished" in srv.error_log(), 10,
                       what="old configuration released")
            # its worker_exit ran for the old configuration, worker_init for the new
            self.assertGreaterEqual(srv.error_log().count("testhooks worker_init"), 2)
            self.assertGreaterEqual(srv.error_log().count("testhooks worker_exit"), 1)

    def test_two_reloads_in_quick_succession(self):
        # (signals do not queue: the second SIGHUP goes once the first is
        # taken) both replaced configurations must be released
        with Server(conf=conf("v1"), files=FILES, threads=2) as srv:
            self.rewrite(srv, conf("v2"))
            self.reload(srv, "configuration reloaded")
            self.reload(srv, "configuration reloaded")
            self.assertEqual(self.body(srv), b"version 2\n")
            wait_until(lambda: srv.error_log().count("previous configuration has finished") == 2,
                       10, what="both replaced configurations released")

    def test_bad_new_configuration_keeps_the_old_one(self):
        with Server(conf=conf("v1"), files=FILES) as srv:
            self.rewrite(srv, conf("v2", "NoSuchDirective 1\n"))
            self.reload(srv, "reload refused")
            log = srv.error_log()
            self.assertIn("rampart.conf:", log)  # file:line of the bad line
            self.assertIn("unknown directive 'NoSuchDirective'", log)
            self.assertEqual(self.body(srv), b"version 1\n")
            # once fixed, the next reload takes
            self.rewrite(srv, conf("v2"))
            self.reload(srv, "configuration reloaded")
            self.assertEqual(self.body(srv), b"version 2\n")

    def test_bind_change_needs_restart(self):
        with Server(conf=conf("v1"), files=FILES) as srv:
            with open(srv.conf_path) as f:
                text = f.read()
            with open(srv.conf_path, "w") as f:
                f.write(text.replace("Bind 127.0.0.1:%d" % srv.port,
                                     "Bind 127.0.0.1:%d\nBind 127.0.0.1:%d" % (srv.port, srv.port2)))
            self.reload(srv, "reload refused")
            self.assertIn("Bind/Secure changed", srv.error_log())
            self.assertEqual(self.body(srv), b"version 1\n")

    def test_dash_s_reload(self):
        with Server(conf=conf("v1", "PidFile {dir}/httpd.pid\n"), files=FILES) as srv:
            wait_until(lambda: os.path.exists(os.path.join(srv.dir, "httpd.pid")), 10,
                       what="pid file")
            self.rewrite(srv, conf("v2", "PidFile {dir}/httpd.pid\n"))
            from rptest import run_httpd
            r = run_httpd(["-f", srv.conf_path, "-s", "reload"])
            self.assertEqual(r.returncode, 0, r.stderr)
            wait_until(lambda: "configuration reloaded" in srv.error_log(), 10, what="reload")
            self.assertEqual(self.body(srv), b"version 2\n")


if __name__ == "__main__":
    unittest.main()
