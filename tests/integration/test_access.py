"""mod_access against the real rampart-httpd: real sockets, real clients.

Covers: HTTP Basic login against htpasswd files made here with the real
tools (bcrypt from `htpasswd -B`, SHA-crypt from `openssl passwd -5/-6`):
right and wrong passwords, unknown users, missing and malformed
Authorization headers, the escaped realm in WWW-Authenticate, the user in
the access log and escaped in the error log, prefix scoping by whole
segments; the refused hash formats ($apr1$, $1$, {SHA}, DES, plain text)
failing the start with file:line and a hint; the file re-read after it
changes (and kept when the new one is broken); Allow/Deny rules telling
127.0.0.1 from ::1 (first match wins, IPv4-mapped rules match IPv4
clients); hidden files (/.env, /.git/config, /.gzipcache/, /%2eenv refused,
/.well-known/ served, DenyHidden off); mod_access loaded by the built-in
configuration and by `rampart` start(); the C unit test of the rule code.

Run: cd tests/integration && python3 -m unittest test_access -v
"""

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

from rptest import BUILD, Server, run_httpd, wait_until

HTPASSWD = shutil.which("htpasswd")
OPENSSL = shutil.which("openssl")
UNIT = os.path.join(BUILD, "test-bin", "mod_access_unit")


def bcrypt(user, password):
    out = subprocess.run([HTPASSWD, "-nbB", user, password], check=True,
                         capture_output=True, text=True).stdout
    return out.strip()


def openssl_crypt(user, password, kind):
    out = subprocess.run([OPENSSL, "passwd", kind, password], check=True,
                         capture_output=True, text=True).stdout
    return "%s:%s" % (user, out.strip())


def basic(user, password):
    raw = ("%s:%s" % (user, password)).encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@unittest.skipUnless(HTPASSWD and OPENSSL, "needs htpasswd (apache2-utils) and openssl")
class BasicAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        pw = "\n".join([
            "# made by the test",
            bcrypt("alice", "wonder land"),
            openssl_crypt("bob", "hunter2", "-6"),
            openssl_crypt("carol", "five", "-5"),
            "",
        ])
        cls.srv = Server(
            conf=("LoadModule static mod_static.so\n"
                  "LoadModule access mod_access.so\n"
                  'AuthBasic /admin/ "Admin \\"zone\\"" {dir}/htpasswd\n'
                  "AuthBasic /admin/deeper/ Deeper {dir}/htpasswd2\n"
                  "Map / {www}\n"),
            files={"htpasswd": pw,
                   "htpasswd2": openssl_crypt("dave", "deep", "-6") + "\n",
                   "www/admin/index.txt": "secret\n",
                   "www/admin/deeper/d.txt": "deeper\n",
                   "www/administrator.txt": "not protected\n",
                   "www/pub.txt": "public\n"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def get(self, path, headers=None):
        return self.srv.request("GET", path, headers)

    def test_no_credentials_gets_the_challenge(self):
        st, hd, _ = self.get("/admin/index.txt")
        self.assertEqual(st, 401)
        self.assertEqual(hd["www-authenticate"], 'Basic realm="Admin \\"zone\\"", charset="UTF-8"')

    def test_right_passwords(self):
        for user, pw in (("alice", "wonder land"), ("bob", "hunter2"), ("carol", "five")):
            st, _, body = self.get("/admin/index.txt", basic(user, pw))
            self.assertEqual((st, body), (200, b"secret\n"), user)
        # the authenticated user is the access log's third field
        self.srv.wait_log(r'^127\.0\.0\.1 - bob \[[^]]*\] "GET /admin/index.txt HTTP/1.1" 200 ',
                          which="access")

    def test_curl_bcrypt(self):
        r = subprocess.run(["curl", "-s", "-u", "alice:wonder land", "-w", " %{http_code}",
                            self.srv.url("/admin/index.txt")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, "secret\n 200")

    def test_wrong_password(self):
        st, hd, _ = self.get("/admin/index.txt", basic("alice", "wonder"))
        self.assertEqual(st, 401)
        self.assertIn("www-authenticate", hd)
        self.srv.wait_log(r'Basic login for user "alice" refused from 127\.0\.0\.1: wrong password')

    def test_unknown_user(self):
        st, _, _ = self.get("/admin/index.txt", basic("mallory", "hunter2"))
        self.assertEqual(st, 401)
        self.srv.wait_log(r'user "mallory" refused from 127\.0\.0\.1: no such user')

    def test_refusals_look_alike(self):
        # an unknown user, a wrong password and a malformed header get the same
        # answer, so the response does not tell which part was wrong (the work
        # is the same too: an unknown user is hashed with the first entry's
        # setting, htpasswd.c; that part is by construction, not timed here)
        answers = []
        for cred in (basic("mallory", "hunter2"), basic("alice", "wrong"),
                     basic("bob", ""), {"Authorization": "Basic !!!"}):
            st, hd, body = self.get("/admin/index.txt", cred)
            hd = {k: v for k, v in hd.items() if k not in ("date", "x-request-id")}
            answers.append((st, sorted(hd.items()), body))
        self.assertEqual(answers[0][0], 401)
        for other in answers[1:]:
            self.assertEqual(other, answers[0])

    def test_user_name_escaped_in_the_error_log(self):
        st, _, _ = self.get("/admin/%0aforged%22", basic('ev"il\nx\\', "pw"))
        self.assertEqual(st, 401)
        self.srv.wait_log(r'/admin/\\x0aforged\\x22: Basic login for user "ev\\x22il\\x0ax\\x5c" '
                          r'refused')

    def test_malformed_headers(self):
        for value in ("Bearer abc", "Basic", "Basic !!!!", "Basic " + base64.b64encode(
                b"nocolon").decode(), "Basic " + base64.b64encode(b"a\0b:pw").decode(),
                "Basic " + base64.b64encode(b":pw").decode(), "Basic YWxpY2U6d29uZGVy"):
            st, hd, _ = self.get("/admin/index.txt", {"Authorization": value})
            self.assertEqual(st, 401, value)
            self.assertTrue(hd["www-authenticate"].startswith("Basic realm="), value)
        self.srv.wait_log(r"refused from 127\.0\.0\.1: not a Basic Authorization header")
        self.srv.wait_log(r"refused from 127\.0\.0\.1: malformed Basic credentials")
        self.srv.wait_log(r"refused from 127\.0\.0\.1: empty user name")

    def test_scope_is_by_whole_segments(self):
        self.assertEqual(self.get("/pub.txt")[0], 200)
        self.assertEqual(self.get("/administrator.txt")[0], 200)
        self.assertEqual(self.get("/admin")[0], 401)  # the directory itself
        self.assertEqual(self.get("/admin/")[0], 401)
        self.assertEqual(self.get("/%61dmin/index.txt")[0], 401)  # decided on the decoded path
        self.assertEqual(self.get("/pub/../admin/index.txt")[0], 401)

    def test_longest_prefix_wins(self):
        st, hd, _ = self.get("/admin/deeper/d.txt", basic("bob", "hunter2"))
        self.assertEqual(st, 401)
        self.assertEqual(hd["www-authenticate"], 'Basic realm="Deeper", charset="UTF-8"')
        st, _, body = self.get("/admin/deeper/d.txt", basic("dave", "deep"))
        self.assertEqual((st, body), (200, b"deeper\n"))

    def test_keepalive_mixes_good_and_bad(self):
        conn = self.srv.connection()
        try:
            for hdrs, want in ((basic("bob", "hunter2"), 200), (basic("bob", "x"), 401),
                               ({}, 401), (basic("carol", "five"), 200)):
                self.assertEqual(Server.do(conn, "GET", "/admin/index.txt", hdrs)[0], want)
        finally:
            conn.close()


@unittest.skipUnless(HTPASSWD and OPENSSL, "needs htpasswd (apache2-utils) and openssl")
class PasswordFileReread(unittest.TestCase):
    def test_changed_file_is_read_again(self):
        files = {"pw": openssl_crypt("erin", "old", "-6") + "\n", "www/p/x.txt": "x\n"}
        conf = ("LoadModule static mod_static.so\nLoadModule access mod_access.so\n"
                "AuthBasic /p/ P {dir}/pw\nMap / {www}\n")
        with Server(conf=conf, files=files) as srv:
            self.assertEqual(srv.get("/p/x.txt", basic("erin", "old"))[0], 200)
            self.assertEqual(srv.get("/p/x.txt", basic("erin", "new"))[0], 401)
            srv.write("pw", openssl_crypt("erin", "new", "-6") + "\n" + bcrypt("frank", "f") + "\n")
            wait_until(lambda: srv.get("/p/x.txt", basic("erin", "new"))[0] == 200,
                       timeout=20, what="the new password to be accepted")
            self.assertEqual(srv.get("/p/x.txt", basic("erin", "old"))[0], 401)
            self.assertEqual(srv.get("/p/x.txt", basic("frank", "f"))[0], 200)
            srv.wait_log(r"re-read .*/pw: 2 user\(s\)")

            # A broken file keeps the entries that work, and says why with file:line.
            srv.write("pw", openssl_crypt("erin", "newer", "-6") + "\nbad:$apr1$x$y\n")
            # (the file is looked at when a login needs it, once a second at most)
            broken = re.compile(r"/pw:2: user 'bad' has an Apache MD5 \(\$apr1\$\) hash.*"
                                r"keeping the previous entries")
            wait_until(lambda: srv.get("/p/x.txt", basic("erin", "new"))[0] == 200
                       and broken.search(srv.error_log()),
                       timeout=20, what="the broken file to be reported")
            self.assertEqual(srv.get("/p/x.txt", basic("erin", "new"))[0], 200)
            self.assertEqual(srv.get("/p/x.txt", basic("erin", "newer"))[0], 401)

    def test_sighup_reload(self):
        """A reload reads the password files of the new configuration; one
        that does not load refuses the reload with file:line, and the old
        configuration keeps serving."""
        files = {"pw1": openssl_crypt("hank", "one", "-6") + "\n",
                 "pw2": openssl_crypt("hank", "two", "-6") + "\n",
                 "bad": "hank:$1$abc$def\n", "www/p/x.txt": "x\n"}
        conf = ("LoadModule static mod_static.so\nLoadModule access mod_access.so\n"
                "AuthBasic /p/ P {dir}/%s\nMap / {www}\n")
        with Server(conf=conf % "pw1", files=files) as srv:
            def reload(name, expect):
                head = srv.conf_text[:srv.conf_text.index("LoadModule")]
                with open(srv.conf_path, "w") as f:
                    f.write(head + srv.fmt(conf % name))
                before = srv.error_log().count(expect)
                os.kill(srv.pid, signal.SIGHUP)
                wait_until(lambda: srv.error_log().count(expect) > before, 10, what=expect)

            self.assertEqual(srv.get("/p/x.txt", basic("hank", "one"))[0], 200)
            reload("pw2", "configuration reloaded")
            self.assertEqual(srv.get("/p/x.txt", basic("hank", "two"))[0], 200)
            self.assertEqual(srv.get("/p/x.txt", basic("hank", "one"))[0], 401)
            reload("bad", "reload refused")
            self.assertRegex(srv.error_log(), r"rampart\.conf:\d+: AuthBasic: .*/bad:1: user "
                             r"'hank' has an MD5-crypt \(\$1\$\) hash")
            self.assertEqual(srv.get("/p/x.txt", basic("hank", "two"))[0], 200)

    def test_logins_go_on_while_the_file_is_replaced(self):
        """Clients on every worker keep logging in while the file is swapped
        (rename, as editors and scripts do) under them: each swap is picked
        up and not one login fails."""
        files = {"pw": openssl_crypt("gina", "pw", "-5") + "\n", "www/p/x.txt": "x\n"}
        conf = ("LoadModule static mod_static.so\nLoadModule access mod_access.so\n"
                "AuthBasic /p/ P {dir}/pw\nMap / {www}\n")
        with Server(conf=conf, files=files, threads=3) as srv:
            stop = threading.Event()
            seen = []

            def client():
                conn = srv.connection()
                try:
                    for _ in range(5000):  # bounded; stop ends it sooner
                        if stop.is_set():
                            break
                        seen.append(Server.do(conn, "GET", "/p/x.txt", basic("gina", "pw"))[0])
                finally:
                    conn.close()

            threads = [threading.Thread(target=client) for _ in range(3)]
            for t in threads:
                t.start()
            try:
                for k in range(1, 4):
                    users = [openssl_crypt("gina", "pw", "-5")]
                    users += [openssl_crypt("u%d" % i, "x", "-5") for i in range(k)]
                    srv.write("pw.new", "\n".join(users) + "\n")
                    os.replace(srv.path("pw.new"), srv.path("pw"))
                    srv.wait_log(r"re-read .*/pw: %d user\(s\)" % (k + 1), timeout=20)
            finally:
                stop.set()
                for t in threads:
                    t.join(60)
            self.assertTrue(seen)
            self.assertEqual(set(seen), {200}, "%d logins" % len(seen))


@unittest.skipUnless(HTPASSWD and OPENSSL, "needs htpasswd (apache2-utils) and openssl")
class ConfigErrors(unittest.TestCase):
    def setUp(self):
        self.srv = Server(start=False, conf="")
        self.good = openssl_crypt("ok", "pw", "-6")

    def tearDown(self):
        self.srv.cleanup()

    def check(self, body, *want):
        conf = self.srv.write("t.conf", "LoadModule access mod_access.so\n" + body)
        r = run_httpd(["-t", "-f", conf])
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        for w in want:
            self.assertRegex(r.stderr, w)
        return r

    def test_refused_hash_formats(self):
        def tool(*args):
            return subprocess.run(args, check=True, capture_output=True,
                                  text=True).stdout.strip()
        cases = {
            "apr1": (tool(OPENSSL, "passwd", "-apr1", "pw"), r"Apache MD5 \(\$apr1\$\)"),
            "md5": (tool(OPENSSL, "passwd", "-1", "pw"), r"MD5-crypt \(\$1\$\)"),
            "sha": (tool(HTPASSWD, "-nbs", "u", "pw").split(":", 1)[1], r"unsalted SHA-1"),
            "des": ("1T2ooNI.58t9g", r"DES crypt"),
            "plain": ("pw", r"not a password hash \(plain text\?\)"),
            "yescrypt": ("$y$j9T$abc$def", r"not supported"),
            "short": ("$6$salt$tooshort", r"malformed \$6\$ hash"),
        }
        for name, (hash_, why) in cases.items():
            pw = self.srv.write("pw-" + name, "# comment\n%s\nbad:%s\n" % (self.good, hash_))
            self.check("AuthBasic / R %s\n" % pw,
                       r"t\.conf:2: AuthBasic: %s:3: user 'bad' has " % re.escape(pw),
                       why, r"htpasswd -B")

    def test_refused_format_stops_a_real_start(self):
        pw = self.srv.write("pw", "x:$apr1$mpWp6deg$z6GZ0j.BFAccq4wFDjOI81\n")
        srv = Server(conf="LoadModule access mod_access.so\nAuthBasic / R %s\n" % pw,
                     expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            self.assertRegex(srv.output(), r"rampart\.conf:\d+: AuthBasic: %s:1: user 'x'"
                             % re.escape(pw))
        finally:
            srv.cleanup()

    def test_duplicate_and_shapeless_lines(self):
        pw = self.srv.write("dup", "%s\n%s\n" % (self.good, self.good))
        self.check("AuthBasic / R %s\n" % pw, r"%s:2: user 'ok' is already on line 1" % pw)
        pw = self.srv.write("nocolon", "just-a-name\n")
        self.check("AuthBasic / R %s\n" % pw, r"%s:1: expected user:hash" % pw)

    def test_missing_file(self):
        self.check("AuthBasic /a/ R %s/none\n" % self.srv.dir,
                   r"t\.conf:2: AuthBasic: cannot read '.*/none': No such file",
                   r"htpasswd -c -B")

    def test_relative_file_is_found_beside_the_conf(self):
        self.srv.write("rel-pw", self.good + "\n")
        conf = self.srv.write("t.conf", "LoadModule access mod_access.so\n"
                                        "AuthBasic /a/ R rel-pw\n")
        r = run_httpd(["-t", "-f", conf])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_rules(self):
        self.check("Allow / 10.0.0.0/33\n", r"t\.conf:2: Allow: '10\.0\.0\.0/33': the prefix "
                   r"length must be 0-32; write an address")
        self.check("Deny / fd00::/129\n", r"t\.conf:2: Deny: 'fd00::/129'.*0-128")
        self.check("Deny / localhost\n", r"t\.conf:2: Deny: 'localhost': not an IPv4 or IPv6")
        # without a /prefix the rule covers its whole scope; anything else is an address
        self.check("Allow admin 10.0.0.0/8\n", r"t\.conf:2: Allow: 'admin': ")
        self.check("Allow /a/\n", r"t\.conf:2: Allow: give the addresses after the prefix")
        self.check("DenyHidden maybe\n", r"t\.conf:2: ")
        pw = self.srv.write("pw", self.good + "\n")
        self.check("AuthBasic /a/ R %s\nAuthBasic /a R %s\n" % (pw, pw),
                   r"t\.conf:3: AuthBasic: /a/ is protected already")


class AddressRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not have_ipv6():
            raise unittest.SkipTest("no IPv6 loopback")
        cls.srv = Server(
            binds=["127.0.0.1:{port}", "[::1]:{port}"],
            conf=("LoadModule static mod_static.so\n"
                  "LoadModule access mod_access.so\n"
                  "Allow /v4/ 127.0.0.0/8\n"
                  "Deny /v4/ all\n"
                  "Deny /no6/ ::1\n"
                  "Allow /mapped/ ::ffff:127.0.0.0/104\n"
                  "Deny /mapped/ all\n"
                  "Deny /first/ 127.0.0.1\n"
                  "Allow /first/ 127.0.0.1 ::1\n"
                  "Allow /second/ 127.0.0.1 ::1\n"
                  "Deny /second/ all\n"
                  "Deny /net6/ ::/127\n"
                  "Map / {www}\n"),
            files={"www/%s/f.txt" % d: d + "\n"
                   for d in ("v4", "no6", "mapped", "first", "second", "net6", "open")})

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def status(self, host, path):
        return self.srv.request("GET", path, host=host)[0]

    def test_rules(self):
        want = {  # path: (127.0.0.1, ::1)
            "/v4/f.txt": (200, 403),
            "/no6/f.txt": (200, 403),
            "/mapped/f.txt": (200, 403),
            "/first/f.txt": (403, 200),
            "/second/f.txt": (200, 200),
            "/net6/f.txt": (200, 403),
            "/open/f.txt": (200, 200),
        }
        for path, (v4, v6) in want.items():
            self.assertEqual(self.status("127.0.0.1", path), v4, path + " from 127.0.0.1")
            self.assertEqual(self.status("::1", path), v6, path + " from ::1")

    def test_rules_cover_the_decoded_path(self):
        self.assertEqual(self.status("::1", "/%76%34/f.txt"), 403)
        self.assertEqual(self.status("::1", "/open/../v4/f.txt"), 403)


class HiddenFiles(unittest.TestCase):
    FILES = {"www/.env": "SECRET=1\n", "www/.git/config": "[core]\n",
             "www/.gzipcache/x.txt.gz": "gz\n", "www/.well-known/x": "known\n",
             "www/d/.hidden": "h\n", "www/ok.txt": "ok\n", "www/.well-known/.y": "y\n"}
    CONF = "LoadModule static mod_static.so\nLoadModule access mod_access.so\n%sMap / {www}\n"

    def test_refused_by_default(self):
        with Server(conf=self.CONF % "", files=self.FILES) as srv:
            for path in ("/.env", "/.git/config", "/.gzipcache/x.txt.gz", "/d/.hidden",
                         "/%2eenv", "/%2Egit/config", "/d/%2ehidden", "/ok/../.env",
                         "/.well-known/.y", "/.git/", "/.env?x=1"):
                self.assertEqual(srv.get(path)[0], 404, path)
            self.assertEqual(srv.get("/.well-known/x")[2], b"known\n")
            self.assertEqual(srv.get("/ok.txt")[2], b"ok\n")

    def test_off_switch(self):
        with Server(conf=self.CONF % "DenyHidden off\n", files=self.FILES) as srv:
            self.assertEqual(srv.get("/.env")[2], b"SECRET=1\n")
            self.assertEqual(srv.get("/%2eenv")[2], b"SECRET=1\n")
            self.assertEqual(srv.get("/.git/config")[0], 200)

    def test_built_in_configuration_loads_it(self):
        r = run_httpd(["-V"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"modules:.* access/")

    def test_rampart_start_loads_it(self):
        from jsrun import JsServer
        script = ('var s = require("rampart-server"); s.start({bind: "127.0.0.1:{port}", '
                  'user: "nobody", map: {"/": "www"}});')
        files = {"www/.env": "SECRET=1\n", "www/.well-known/x": "known\n", "www/ok.txt": "ok\n"}
        with JsServer(script, files=files) as srv:
            self.assertEqual(srv.get("/.env")[0], 404)
            self.assertEqual(srv.get("/%2eenv")[0], 404)
            self.assertEqual(srv.get("/.well-known/x")[2], b"known\n")
            self.assertEqual(srv.get("/ok.txt")[2], b"ok\n")


class RuleUnit(unittest.TestCase):
    def test_unit(self):
        if not os.path.exists(UNIT):
            self.skipTest("%s not built" % UNIT)
        r = subprocess.run([UNIT], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
