"""Configuration: rampart-httpd -t, conf errors as file:line, the module
loader's ABI checks, hook ordering and --dump-hooks, -V."""
import os
import re
import shutil
import tempfile
import unittest

from rptest import (Server, BUILD, HTTPD, LOAD_TESTHOOKS, TEST_MODULES, run_httpd, kv_lines,
                    test_module)

TH = test_module("testhooks")


class ConfDir:
    """A temp dir with conf files for -t runs."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rptest-conf-")
        os.chmod(self.dir, 0o755)

    def write(self, name, text):
        p = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text.replace("{dir}", self.dir).replace("{testmodules}", TEST_MODULES))
        return p

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def line_of(text, marker):
    """1-based number of the first line of text containing marker."""
    for i, l in enumerate(text.splitlines(), 1):
        if marker in l:
            return i
    raise ValueError(marker)


class TestCheck(unittest.TestCase):
    def setUp(self):
        self.cd = ConfDir()
        self.addCleanup(self.cd.close)

    def check(self, text, name="rampart.conf"):
        path = self.cd.write(name, text)
        return path, run_httpd(["-t", "-f", path])

    def assert_conf_error(self, text, marker, *needles, name="rampart.conf", err_file=None,
                          err_line=None):
        """-t must fail; stderr has "file:line: message" for the line holding
        marker, and each needle (case-insensitive) is in that message."""
        path, r = self.check(text, name)
        out = r.stderr + r.stdout
        self.assertEqual(r.returncode, 1, "accepted a bad conf:\n%s\n-- output:\n%s" % (text, out))
        f = err_file or path
        ln = err_line if err_line is not None else line_of(text, marker)
        pat = r"(%s|%s):%d: " % (re.escape(f), re.escape(os.path.basename(f)), ln)
        m = re.search(pat + r"(.*)", out)
        self.assertIsNotNone(m, "no '%s:%d: ' in:\n%s" % (f, ln, out))
        msg = m.group(0)
        for n in needles:
            self.assertIn(n.lower(), msg.lower(), "message lacks %r: %s" % (n, msg))
        return msg

    def test_good_conf(self):
        text = ("# a comment\n"
                "Bind 127.0.0.1:18088\n"
                "Bind \"[::1]:18088\"   # trailing comment\n"
                "Threads 2\n"
                "ConnectTimeout 2.5\n"
                "MaxBodySize 10m\n"
                "MaxHeaderSize 16k\n"
                "LogLevel info\n"
                + LOAD_TESTHOOKS +
                "LoadModule static mod_static.so\n"
                "CacheControl off\n"
                "Map /static/ {dir}\n"
                "Map / {dir}\n"
                "TestString 'single quoted # not a comment'\n"
                "Map /t test:echo\n")
        path, r = self.check(text)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok", (r.stderr + r.stdout).lower())

    def test_default_conf_shipped_is_valid(self):
        conf = os.path.join(BUILD, "conf", "rampart-httpd.conf")
        if not os.path.exists(conf):
            self.skipTest("no build/conf/rampart-httpd.conf")
        r = run_httpd(["-t", "-f", conf])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_unknown_directive(self):
        self.assert_conf_error("Threads 2\nFrobnicate yes\n", "Frobnicate", "Frobnicate")

    def test_directive_of_unloaded_module_names_it(self):
        self.assert_conf_error("Threads 2\nCacheControl off\n", "CacheControl", "CacheControl",
                               "static", "LoadModule")

    def test_wrong_arity(self):
        self.assert_conf_error("Threads\n", "Threads", "Threads")
        self.assert_conf_error("Threads 1 2\n", "Threads", "Threads")
        self.assert_conf_error("ConnectTimeout\n", "ConnectTimeout", "ConnectTimeout")
        self.assert_conf_error(LOAD_TESTHOOKS + "TestPair one\n", "TestPair", "TestPair")
        self.assert_conf_error(LOAD_TESTHOOKS + "TestPair a b c\n", "TestPair", "TestPair")

    def test_bad_values(self):
        cases = [("Threads abc\n", "abc"), ("MaxBodySize 12q\n", "12q"),
                 ("Daemon maybe\n", "maybe"), ("ConnectTimeout -1\n", "-1"),
                 ("LogLevel loud\n", "loud"), ("MaxHeaders many\n", "many"),
                 ("MapSort sideways\n", "sideways"),
                 (LOAD_TESTHOOKS + "TestInt abc\n", "abc"),
                 (LOAD_TESTHOOKS + "TestSize 5x\n", "5x"),
                 (LOAD_TESTHOOKS + "TestFlag perhaps\n", "perhaps"),
                 (LOAD_TESTHOOKS + "TestSeconds soon\n", "soon")]
        for text, bad in cases:
            with self.subTest(conf=text):
                self.assert_conf_error(text, bad, bad)

    def test_custom_setter_error_passed_through(self):
        self.assert_conf_error(LOAD_TESTHOOKS + "TestPair bad x\n", "TestPair",
                               "refused by its setter")

    def test_bad_bind(self):
        for b in ("127.0.0.1", "999.1.1.1:80", "[::1:80", "127.0.0.1:70000", "127.0.0.1:0",
                  "localhost:http", "1.2.3:80", ":80"):
            with self.subTest(bind=b):
                self.assert_conf_error("Threads 1\nBind %s\n" % b, "Bind", "Bind")

    def test_unterminated_quote(self):
        self.assert_conf_error("Threads 1\nBind \"127.0.0.1:80\n", "Bind")

    def test_missing_include(self):
        self.assert_conf_error("Threads 1\n\nInclude {dir}/nope.conf\n", "Include", "nope.conf")

    def test_error_inside_include_names_included_file(self):
        inc = self.cd.write("sub/inc.conf", "# included\nThreads 2\nBogusDirective 1\n")
        self.assert_conf_error("Threads 1\nInclude %s\n" % inc, "Include", "BogusDirective",
                               err_file=inc, err_line=3)

    def test_include_relative_and_works(self):
        self.cd.write("inc/routes.conf", LOAD_TESTHOOKS + "Map /t test:echo\n")
        path, r = self.check("Threads 1\nInclude inc/routes.conf\nTestInt 7\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_include_cycle_refused(self):
        self.cd.write("a.conf", "Include {dir}/b.conf\n")
        self.cd.write("b.conf", "Include {dir}/a.conf\n")
        path, r = self.check("Include {dir}/a.conf\n")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"[ab]\.conf:1: ")

    def test_missing_module_file(self):
        msg = self.assert_conf_error("Threads 1\nLoadModule nothere mod_nothere.so\n", "LoadModule",
                                     "mod_nothere.so")
        self.assertIn("modules", msg)

    def test_map_without_owner(self):
        self.assert_conf_error("Threads 1\nMap /x {dir}\n", "Map", "Map")

    def test_bad_map_key(self):
        self.assert_conf_error(LOAD_TESTHOOKS + "Map ~([unclosed test:echo\n", "Map", "Map")

    def test_post_config_failure_refuses_to_start(self):
        path, r = self.check(LOAD_TESTHOOKS + "TestPostConfigFail on\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("testhooks", r.stderr)

    def test_unknown_user_refuses_start(self):
        srv = Server(conf="User no_such_user_rptest\n", user=False, expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            self.assertIn("no_such_user_rptest", srv.output())
        finally:
            srv.cleanup()

    def test_unknown_user(self):
        # -t checks what a start would refuse: a User that does not exist
        self.assert_conf_error("Threads 1\nUser no_such_user_rptest\n", "User",
                               "no_such_user_rptest")

    def test_generic_setters_values(self):
        with Server(conf=LOAD_TESTHOOKS + "Map /conf test:conf\n"
                    "TestString \"two words\"\nTestFlag yes\nTestInt -42\nTestSize 3k\n"
                    "TestSeconds 1.5\nTestPath rel/file.txt\nTestList a 'b c' d\n"
                    "TestPair x y\n") as srv:
            st, h, b = srv.request("GET", "/conf")
            self.assertEqual(st, 200)
            kv = kv_lines(b)
            self.assertEqual(kv["string"], "two words")
            self.assertEqual(kv["flag"], "1")
            self.assertEqual(kv["int"], "-42")
            self.assertEqual(kv["size"], "3072")
            self.assertEqual(kv["seconds"], "1.5")
            self.assertEqual(kv["path"], os.path.join(srv.dir, "rel/file.txt"))
            self.assertEqual(kv["list"], "a|b c|d")
            self.assertEqual(kv["pair"], "x,y")

    def test_version(self):
        r = run_httpd(["-V"])
        self.assertEqual(r.returncode, 0)
        out = r.stdout + r.stderr
        self.assertRegex(out, r"rampart/\d+\.\d+\.\d+")
        self.assertRegex(out, r"ABI 1\.\d+")

    def test_version_lists_loaded_modules(self):
        path = self.cd.write("v.conf", LOAD_TESTHOOKS + "LoadModule static mod_static.so\n")
        r = run_httpd(["-V", "-f", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("testhooks", r.stdout + r.stderr)
        self.assertIn("static", r.stdout + r.stderr)

    def test_version_build_details(self):
        r = run_httpd(["-V"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for lib in ("OpenSSL:", "libevent:", "llhttp:", "PCRE2:", "module dir:"):
            self.assertRegex(r.stdout, r"(?m)^%s\s+\S" % lib)
        self.assertRegex(r.stdout, r"(?m)^module dir:\s+/")

    def test_short_version(self):
        for flag in ("-v", "--version"):
            r = run_httpd([flag])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"^rampart/\d+\.\d+\.\d+\n$")

    def test_help_lists_every_option(self):
        r = run_httpd(["-h"])
        self.assertEqual(r.returncode, 0)
        for opt in ("-f ", "-c ", "-t ", "--dump-hooks", "-T ", "-L ", "-s ", "-v, --version",
                    "-V ", "-h, --help"):
            self.assertIn(opt, r.stdout)

    def test_effective_configuration(self):
        self.cd.write("inc.conf", "# included\nThreads 3\n")
        self.cd.write("my www/index.html", "x")
        path = self.cd.write("t.conf", "LoadModule static mod_static.so\n\n"
                                        "include inc.conf\nMap / 'my www'\n")
        r = run_httpd(["-T", "-f", path, "-c", "AccessLog \"/tmp/a b.log\""])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("# 4 directives took effect", out)
        lines = [l for l in out.splitlines() if not l.startswith("#")]
        self.assertEqual(lines[0], "LoadModule static mod_static.so    # line 1")
        self.assertEqual(lines[1], "Threads 3    # line 2")  # inc.conf, canonical spelling
        self.assertEqual(lines[2], 'Map / "my www"    # line 4')  # as written
        self.assertEqual(lines[3], 'AccessLog "/tmp/a b.log"    # line 1')
        self.assertRegex(out, r"(?m)^# .*/inc\.conf$")
        self.assertIn("# <command line -c>", out)
        self.assertNotIn("nclude", "\n".join(lines))
        self.assertIn("is OK", out)

    def test_tls_errors_name_the_line(self):
        junk = self.cd.write("junk.pem", "not a certificate\n")
        path = self.cd.write("t1.conf", "Threads 1\nBind 127.0.0.1:4431 tls\n"
                                         "SslCertFile %s\n" % junk)
        r = run_httpd(["-t", "-f", path])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("t1.conf:2: TLS is asked for here but SslKeyFile is not set", r.stderr)
        path = self.cd.write("t2.conf", "Threads 1\nSecure on\nBind 127.0.0.1:4431\n"
                                         "SslCertFile %s\nSslKeyFile %s\n" % (junk, junk))
        r = run_httpd(["-t", "-f", path])
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"t2\.conf:4: SslCertFile '.*junk\.pem': cannot load the "
                                   r"certificate chain: no start line \(not a PEM file")
        self.assertNotIn("error:0", r.stderr)  # no raw OpenSSL codes

    def test_bind_host_name(self):
        # a name is resolved when the conf is read (IPv4 first)
        srv = Server(conf="LoadModule static mod_static.so\nMap / {www}\n",
                     files={"www/index.html": b"named\n"}, binds=["localhost:{port}"])
        try:
            self.assertEqual(srv.request("GET", "/", host="127.0.0.1", port=srv.port)[2],
                             b"named\n")
        finally:
            srv.stop()
            srv.cleanup()
        r = run_httpd(["-t", "-c", "Bind nosuchhost.invalid:80"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("host:port such as localhost:8088", r.stderr)

    @unittest.skipUnless(os.path.exists("/etc/mime.types"), "no /etc/mime.types")
    def test_debian_mime_types_file(self):
        # type lines without extensions are skipped, not refused
        r = run_httpd(["-t", "-c", "MimeTypes /etc/mime.types"])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_embedded_default_is_valid(self):
        r = run_httpd(["-t"])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_unknown_flag(self):
        r = run_httpd(["--no-such-flag"])
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr.strip())


class TestAbi(unittest.TestCase):
    """Each bad plugin: -t refuses with one clear line naming the file."""

    def setUp(self):
        self.cd = ConfDir()
        self.addCleanup(self.cd.close)

    def refuse(self, text, fname, *keywords):
        path = self.cd.write("abi.conf", text)
        r = run_httpd(["-t", "-f", path])
        out = (r.stderr + r.stdout).strip()
        self.assertEqual(r.returncode, 1, out)
        lines = [l for l in out.splitlines() if l.strip()]
        naming = [l for l in lines if fname in l]
        self.assertEqual(len(naming), 1, "want one line naming %s:\n%s" % (fname, out))
        self.assertLessEqual(len(lines), 2, "not a single clear line:\n%s" % out)
        ln = line_of(text, fname)
        self.assertRegex(naming[0], r"abi\.conf:%d: " % ln)
        low = naming[0].lower()
        self.assertTrue(any(k.lower() in low for k in keywords),
                        "none of %r in %r" % (keywords, naming[0]))
        return naming[0]

    def test_bad_magic(self):
        self.refuse("LoadModule badmagic {testmodules}/mod_badmagic.so\n", "mod_badmagic.so",
                    "magic")

    def test_other_major(self):
        msg = self.refuse("LoadModule badmajor {testmodules}/mod_badmajor.so\n",
                          "mod_badmajor.so", "ABI", "major")
        self.assertIn("2", msg)

    def test_newer_minor(self):
        msg = self.refuse("LoadModule newminor {testmodules}/mod_newminor.so\n",
                          "mod_newminor.so", "newer", "minor")
        self.assertIn("99", msg)

    def test_missing_symbol(self):
        self.refuse("LoadModule nosym {testmodules}/mod_nosym.so\n", "mod_nosym.so",
                    "rp_module_nosym")

    def test_duplicate_name(self):
        self.refuse(LOAD_TESTHOOKS + "LoadModule testhooks {testmodules}/mod_dupname.so\n",
                    "mod_dupname.so", "already", "duplicate")

    def test_same_module_twice(self):
        text = "Threads 1\n" + LOAD_TESTHOOKS + LOAD_TESTHOOKS
        path = self.cd.write("abi.conf", text)
        r = run_httpd(["-t", "-f", path])
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"abi\.conf:3: .*(already|duplicate)")

    def test_descriptor_name_mismatch(self):
        self.refuse("LoadModule dupname {testmodules}/mod_dupname.so\n", "mod_dupname.so",
                    "testhooks")

    def test_short_descriptor(self):
        # mod_oldsize claims ABI 1.0 with a descriptor shorter than 1.0's:
        # malformed for 1.0 (no older minor exists), so it must be refused clearly.
        self.refuse("LoadModule oldsize {testmodules}/mod_oldsize.so\n", "mod_oldsize.so",
                    "size", "bytes", "small")

    def test_not_a_shared_object(self):
        junk = self.cd.write("mod_junk.so", "this is not an ELF file\n")
        self.refuse("LoadModule junk %s\n" % junk, "mod_junk.so", "cannot", "load", "invalid",
                    "ELF")

    def test_rejected_plugin_refuses_real_start(self):
        srv = Server(conf="LoadModule badmajor {testmodules}/mod_badmajor.so\n",
                     expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            self.assertIn("mod_badmajor.so", srv.output())
        finally:
            srv.cleanup()


HOOKS3 = ("LoadModule hooka {testmodules}/mod_hooka.so\n"
          "LoadModule hookb {testmodules}/mod_hookb.so\n"
          "LoadModule hookc {testmodules}/mod_hookc.so\n" + LOAD_TESTHOOKS +
          "LogLevel info\nMap /hooks test:hooks\nMap /svc test:svc\n")


def dump_section(out, phase, next_phases):
    """The text of the --dump-hooks output from `phase` up to the next phase."""
    m = re.search(r"\b%s\b" % phase, out, re.I)
    if not m:
        return None
    rest = out[m.end():]
    ends = [mm.start() for p in next_phases for mm in [re.search(r"\b%s\b" % p, rest, re.I)] if mm]
    return rest[:min(ends)] if ends else rest


class TestHookOrder(unittest.TestCase):
    def order_of(self, directives):
        with Server(conf=HOOKS3 + directives) as srv:
            st, h, b = srv.request("GET", "/hooks")
            self.assertEqual(st, 200, b)
            kv = kv_lines(b)
            # LOG phase runs all too, in the same order
            srv.request("GET", "/hooks?log=1")
            srv.wait_log(r"(?s)hook-log (\w+) /hooks\?log=1.*hook-log (\w+) /hooks\?log=1.*"
                         r"hook-log (\w+) /hooks\?log=1")
            logged = re.findall(r"hook-log (\w+) /hooks\?log=1", srv.error_log())
            order = kv["order"].split(",")
            self.assertEqual(logged, order, "LOG order differs from AUTH order")
            # HANDLER is first-wins: the first in order answers
            st, h, b = srv.request("GET", "/hooks", headers={"X-Hook-Claim": "1"})
            self.assertEqual(b.splitlines()[0], b"handled by " + order[0].encode())
            return order

    def test_registration_order_by_default(self):
        self.assertEqual(self.order_of(""), ["hooka", "hookb", "hookc"])

    def test_first_middle_last(self):
        self.assertEqual(self.order_of("HookC FIRST\nHookA LAST\n"), ["hookc", "hookb", "hooka"])
        self.assertEqual(self.order_of("HookB LAST\nHookA MIDDLE\nHookC MIDDLE\n"),
                         ["hooka", "hookc", "hookb"])

    def test_numeric_order(self):
        self.assertEqual(self.order_of("HookA 5\nHookB -5\nHookC 0\n"), ["hookb", "hookc", "hooka"])

    def test_stable_within_same_order(self):
        self.assertEqual(self.order_of("HookA LAST\nHookB LAST\nHookC LAST\n"),
                         ["hooka", "hookb", "hookc"])

    def test_after(self):
        order = self.order_of("HookA MIDDLE after=hookc\n")
        self.assertLess(order.index("hookc"), order.index("hooka"))
        self.assertEqual(sorted(order), ["hooka", "hookb", "hookc"])

    def test_before_several(self):
        self.assertEqual(self.order_of("HookC MIDDLE before=hooka,hookb\n"),
                         ["hookc", "hooka", "hookb"])

    def test_before_and_after_chain(self):
        # c before b, a after b  => c, b, a
        self.assertEqual(self.order_of("HookC MIDDLE before=hookb\nHookA MIDDLE after=hookb\n"),
                         ["hookc", "hookb", "hooka"])

    def test_auth_status_stops_run_all(self):
        with Server(conf=HOOKS3) as srv:
            st, h, b = srv.request("GET", "/hooks", headers={"X-Hook-Deny": "hookb"})
            self.assertEqual(st, 403)

    def test_service_between_modules(self):
        with Server(conf=HOOKS3) as srv:
            st, h, b = srv.request("GET", "/svc")
            self.assertEqual(b, b"svc=5 from=hooka version=1\n")
        with Server(conf=LOAD_TESTHOOKS + "Map /svc test:svc\n") as srv:
            st, h, b = srv.request("GET", "/svc")
            self.assertEqual(b, b"svc=missing\n")

    def test_cycle_refused(self):
        cd = ConfDir()
        self.addCleanup(cd.close)
        path = cd.write("c.conf", HOOKS3 + "HookA MIDDLE after=hookb\nHookB MIDDLE after=hooka\n")
        r = run_httpd(["-t", "-f", path])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("cycle", r.stderr.lower())
        self.assertIn("hooka", r.stderr)
        self.assertIn("hookb", r.stderr)
        # three-way cycle, and a real start is refused as well
        srv = Server(conf=HOOKS3 + "HookA MIDDLE before=hookb\nHookB MIDDLE before=hookc\n"
                     "HookC MIDDLE before=hooka\n", expect_fail=True)
        try:
            self.assertNotEqual(srv.returncode, 0)
            out = srv.output()
            self.assertIn("cycle", out.lower())
            for n in ("hooka", "hookb", "hookc"):
                self.assertIn(n, out)
        finally:
            srv.cleanup()

    def test_dump_hooks(self):
        cd = ConfDir()
        self.addCleanup(cd.close)
        path = cd.write("d.conf", HOOKS3 + "HookC FIRST\nHookA LAST\n")
        r = run_httpd(["-t", "--dump-hooks", "-f", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        phases = ["map", "auth", "handler", "error", "log"]
        pos = [re.search(r"\b%s\b" % p, out, re.I) for p in phases]
        self.assertTrue(all(pos), "a phase is missing from:\n" + out)
        self.assertEqual([m.start() for m in pos], sorted(m.start() for m in pos),
                         "phases out of pipeline order:\n" + out)
        for phase, nxt in (("auth", ["handler", "error", "log"]), ("handler", ["error", "log"]),
                           ("log", ["filter"])):
            sec = dump_section(out, phase, nxt)
            idx = [sec.find(n) for n in ("hookc", "hookb", "hooka")]
            self.assertTrue(all(i >= 0 for i in idx), "%s section lacks a hook:\n%s" % (phase, sec))
            self.assertEqual(idx, sorted(idx), "%s section order wrong:\n%s" % (phase, sec))
        # testhooks hooks appear in map/auth/handler/error/log, its filter too
        self.assertIn("testhooks", dump_section(out, "map", ["auth"]))
        self.assertIn("testhooks", dump_section(out, "error", ["log"]))
        self.assertIn("upper", out)


if __name__ == "__main__":
    unittest.main()
