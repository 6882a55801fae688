"""Route-owned dispatch: the module that owns a request's route serves it
through its descriptor's handler, before and regardless of the HANDLER
hooks; HANDLER hooks serve what no route claims and what the owner declines.
Also: a plugin with the older (ABI 1.1) descriptor, which has no handler
field, keeps working from its HANDLER hook.

Run: cd tests/integration && python3 -m unittest test_dispatch -v
"""
import re
import unittest

from rptest import Server, LOAD_TESTHOOKS, run_httpd, kv_lines

# hooka's HANDLER hook runs FIRST and answers any request carrying
# "X-Hook-Grab: hooka", whatever its route.
GRABBER = "LoadModule hooka {testmodules}/mod_hooka.so\nHookA FIRST\n"

CONF = (GRABBER + LOAD_TESTHOOKS + "LoadModule static mod_static.so\n"
        "Map /echo test:echo\n"
        "Map /files {dir}/files\n")

FILES = {"files/a.txt": b"file a\n"}

GRAB = {"X-Hook-Grab": "hooka"}


class TestRouteOwnerFirst(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=CONF, files=FILES)

    @classmethod
    def tearDownClass(cls):
        # A clean exit (0) and no sanitizer report after all of the above.
        rc = cls.srv.stop()
        out = cls.srv.output()
        keep = rc != 0 or "Sanitizer" in out or "runtime error" in out
        cls.srv.cleanup(keep=keep)
        if keep:
            raise AssertionError("server exit %s (kept %s)\n%s" % (rc, cls.srv.dir, out[-6000:]))

    def test_owner_serves_before_a_first_ordered_hook(self):
        st, h, b = self.srv.request("GET", "/echo", headers=GRAB)
        self.assertEqual(st, 200, b)
        kv = kv_lines(b)
        self.assertEqual(kv.get("route_key"), "/echo", b)
        self.assertNotIn(b"handled by", b)

    def test_static_owner_serves_before_a_first_ordered_hook(self):
        st, h, b = self.srv.request("GET", "/files/a.txt", headers=GRAB)
        self.assertEqual((st, b), (200, FILES["files/a.txt"]))

    def test_owner_status_is_final(self):
        # mod_static's own 404 for a missing file is its answer: the grabbing
        # HANDLER hook is not asked.
        st, h, b = self.srv.request("GET", "/files/missing.txt", headers=GRAB)
        self.assertEqual(st, 404)
        self.assertNotIn(b"handled by", b)

    def test_unclaimed_request_reaches_handler_hooks(self):
        st, h, b = self.srv.request("GET", "/nowhere", headers=GRAB)
        self.assertEqual(st, 200, b)
        self.assertEqual(b.splitlines()[0], b"handled by hooka")
        # ... and with no hook answering it is 404.
        st, h, b = self.srv.request("GET", "/nowhere")
        self.assertEqual(st, 404)

    def test_owner_declining_falls_back_to_handler_hooks(self):
        # mod_testhooks' route handler declines requests with X-Hook-Claim.
        st, h, b = self.srv.request("GET", "/echo", headers={"X-Hook-Claim": "1"})
        self.assertEqual(st, 200, b)
        self.assertEqual(b.splitlines()[0], b"handled by hooka")

    def test_map_hook_reroute_goes_to_the_new_owner(self):
        # testhooks' MAP hook points an unrouted request at its own "echo".
        st, h, b = self.srv.request("GET", "/nowhere", headers=dict(GRAB, **{"X-Remap": "echo"}))
        self.assertEqual(st, 200, b)
        self.assertEqual(kv_lines(b).get("path"), "/nowhere", b)
        self.assertNotIn(b"handled by", b)

    def test_dump_hooks_lists_route_handlers(self):
        r = run_httpd(["-t", "--dump-hooks", "-f", self.srv.conf_path])
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"ROUTE HANDLERS[^\n]*\n((?:  .*\n)+)", r.stdout)
        self.assertTrue(m, r.stdout)
        names = re.findall(r"\d+\. (\w+)", m.group(1))
        self.assertEqual(sorted(names), ["static", "testhooks"])


class TestOlderDescriptor(unittest.TestCase):
    def test_abi11_plugin_serves_from_its_hook(self):
        conf = ("LoadModule abi11 {testmodules}/mod_abi11.so\n" + GRABBER +
                "Map /old abi11:\n")
        with Server(conf=conf) as srv:
            # The bytes past its struct_size are never read as a handler, its
            # owner check sees its own address, and its conf and ctx slots
            # are found from that address.
            st, h, b = srv.request("GET", "/old")
            self.assertEqual((st, b), (200, b"abi11 hook conf=11 ctx=42\n"))
            # Without a route handler, HANDLER order decides again.
            st, h, b = srv.request("GET", "/old", headers=GRAB)
            self.assertEqual(b.splitlines()[0], b"handled by hooka")


if __name__ == "__main__":
    unittest.main()
