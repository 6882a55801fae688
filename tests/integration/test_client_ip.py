"""LogIpFromHeader and TrustedProxies: behind a trusted proxy the client is
the header's first address - in the access log, for rate limits and for
Allow/Deny - and from anyone else the header changes nothing.

Run: cd tests/integration && python3 -m unittest test_client_ip -v
"""

import unittest

from rptest import Server, run_httpd, wait_until

FILES = {"www/index.html": b"home\n", "www/lim/x": b"x\n"}


def run(conf):
    return Server(conf="LoadModule static mod_static.so\nLoadModule ratelimit mod_ratelimit.so\n"
                       "Map / {www}\nLogFormat \"%h %U\"\n" + conf, files=FILES)


def logged(srv, path):
    def find():
        for line in srv.access_log().splitlines():
            if line.endswith(" " + path):
                return line.split()[0]
        return None
    return wait_until(find, 10, what="%s in the access log" % path)


class ClientIp(unittest.TestCase):
    def test_from_a_trusted_proxy(self):
        srv = run("LogIpFromHeader X-Forwarded-For\nRateLimit /lim/ 1 600\n")
        try:
            srv.get("/index.html", {"X-Forwarded-For": " 203.0.113.7"})
            self.assertEqual(logged(srv, "/index.html"), "203.0.113.7")
            # a client that sends the header itself cannot pose as loopback: the
            # rightmost address no trusted proxy is, is the client
            for xff, want in (("127.0.0.1, 203.0.113.9", "203.0.113.9"),
                              ("203.0.113.8, 127.0.0.1", "203.0.113.8"),
                              ("198.51.100.4,203.0.113.10", "203.0.113.10")):
                path = "/x%s" % want
                srv.get(path, {"X-Forwarded-For": xff})
                self.assertEqual(logged(srv, path), want, xff)
            # rate limits count the forwarded client, not the proxy
            self.assertEqual(srv.get("/lim/x", {"X-Forwarded-For": "198.51.100.1"})[0], 200)
            self.assertEqual(srv.get("/lim/x", {"X-Forwarded-For": "198.51.100.2"})[0], 200)
            self.assertEqual(srv.get("/lim/x", {"X-Forwarded-For": "198.51.100.1"})[0], 429)
            # not an address: the peer stays the client
            srv.get("/index.html", {"X-Forwarded-For": "unknown"})
            wait_until(lambda: "127.0.0.1 /index.html" in srv.access_log(), 10,
                       what="the peer's address logged")
            srv.get("/index.html", {"X-Forwarded-For": "2001:db8::5"})
            wait_until(lambda: "2001:db8::5 /index.html" in srv.access_log(), 10,
                       what="an IPv6 client")
        finally:
            srv.stop()
            srv.cleanup()

    def test_untrusted_peer_is_ignored(self):
        srv = run("LogIpFromHeader X-Forwarded-For\nTrustedProxies 10.0.0.0/8 2001:db8::/32\n")
        try:
            srv.get("/index.html", {"X-Forwarded-For": "203.0.113.7"})
            self.assertEqual(logged(srv, "/index.html"), "127.0.0.1")
        finally:
            srv.stop()
            srv.cleanup()

    def test_off_by_default(self):
        srv = run("")
        try:
            srv.get("/index.html", {"X-Forwarded-For": "203.0.113.7"})
            self.assertEqual(logged(srv, "/index.html"), "127.0.0.1")
        finally:
            srv.stop()
            srv.cleanup()

    def test_bad_network(self):
        srv = Server(conf="TrustedProxies 10.0.0.0/33\n", start=False)
        try:
            r = run_httpd(["-t", "-f", srv.conf_path])
            self.assertNotEqual(r.returncode, 0)
            self.assertRegex(r.stderr, r"rampart\.conf:\d+: TrustedProxies: '10\.0\.0\.0/33': "
                                       r"the prefix length must be 0-32")
        finally:
            srv.cleanup()


class JsClientIp(unittest.TestCase):
    def test_req_ip(self):
        from jsrun import JsServer
        script = ('require("rampart-server").start({bind: "127.0.0.1:{port}", user: "nobody", '
                  'logIpFromHeader: "X-Real-IP", trustedProxies: ["127.0.0.1", "::1"], '
                  'map: {"/": function (req) { return {txt: req.ip}; }}});\n')
        with JsServer(script) as srv:
            self.assertEqual(srv.get("/", headers={"X-Real-IP": "192.0.2.9"})[2], b"192.0.2.9")
            self.assertEqual(srv.get("/")[2], b"127.0.0.1")


if __name__ == "__main__":
    unittest.main()
