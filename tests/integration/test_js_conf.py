"""mod_js from a conf file (rampart-httpd): MapModule, MapModulePath,
"Map /key file.js", NotFound, DirectoryScript, DeveloperMode, ScriptTimeout,
and the configuration errors they report.

Run: cd tests/integration && python3 -m unittest test_js_conf -v
"""

import os
import time
import unittest

from rptest import BUILD, Server, run_httpd

HAVE_JS = os.path.exists(os.path.join(BUILD, "modules", "mod_js.so"))

CONF = """LoadModule static mod_static.so
LoadModule js mod_js.so
ScriptTimeout 0.5
DeveloperMode {dev}
NotFound js/notfound.js
DirectoryScript js/dir.js
Map / {www}
MapModule /multi/ js/multi.js
MapModule /one.html js/one
Map /plain.txt js/plain.js
MapModulePath /scripts/ js/scripts
"""

FILES = {
    "www/index.html": "home\n",
    "www/empty/x.txt": "x\n",
    "js/notfound.js": "module.exports = function (req) { return {status: 404, "
                      "txt: 'conf 404 ' + req.path.path + (req.errMsg ? ' ' + req.errMsg : '')}; };",
    "js/dir.js": "module.exports = function (req) { return {txt: 'dir ' + req.fsPath}; };",
    "js/multi.js": "module.exports = {'/': function () { return {txt: 'multi root'}; },"
                   " '/a.html': function () { return {txt: 'multi a'}; }};",
    "js/one.js": "module.exports = function (req) { return {html: 'one ' + req.method}; };",
    "js/plain.js": "module.exports = function () { return {txt: 'plain'}; };",
    "js/scripts/s.js": "module.exports = function (req) { return {txt: 's ' + req.query.x}; };",
    "js/scripts/loop.js": "module.exports = function () { while (true) {} };",
    "js/scripts/bad.js": "module.exports = function () { return {txt: nope}; };",
}


@unittest.skipUnless(HAVE_JS, "mod_js.so not built")
class TestConf(unittest.TestCase):
    def test_conf_routes(self):
        with Server(conf=CONF.replace("{dev}", "off"), files=FILES, threads=1) as srv:
            def get(p):
                return srv.request("GET", p)
            self.assertEqual(get("/")[2], b"home\n")
            self.assertEqual(get("/multi/")[2], b"multi root")
            self.assertEqual(get("/multi/a.html")[2], b"multi a")
            self.assertEqual(get("/one.html")[2], b"one GET")
            self.assertEqual(get("/plain.txt")[2], b"plain")
            self.assertEqual(get("/scripts/s.html?x=1")[2], b"s 1")
            st, hd, body = get("/nowhere")
            self.assertEqual((st, body), (404, b"conf 404 /nowhere"))
            st, hd, body = get("/scripts/bad.html")
            self.assertEqual(st, 404)
            self.assertIn(b"ReferenceError", body)
            self.assertEqual(get("/empty/")[2],
                             ("dir " + os.path.realpath(srv.www) + "/empty").encode())
            st, hd, body = get("/scripts/loop.html")
            self.assertEqual(st, 500)
            self.assertEqual(get("/one.html")[2], b"one GET")

    def test_conf_developer_mode(self):
        with Server(conf=CONF.replace("{dev}", "on"), files=FILES) as srv:
            st, hd, body = srv.request("GET", "/scripts/bad.html")
            self.assertEqual(st, 500)
            self.assertIn(b"ReferenceError", body)
            self.assertIn(b"bad.js:1", body)

    def test_conf_errors(self):
        cases = [
            ("MapModule /x js/missing.js", "cannot find module"),
            ("MapModulePath /x/ nodir", "is not a directory"),
            ("MapModule /x js/one.js sideways", "may only be 'exact'"),
            ("Map /x js:function:f", "start() script"),
            ("ScriptTimeout soon", "ScriptTimeout"),
            ("MapModulePath ~/re js", "regular expressions"),
        ]
        for line, want in cases:
            with Server(conf="LoadModule static mod_static.so\nLoadModule js mod_js.so\n"
                        + line + "\n", files=FILES, expect_fail=True) as srv:
                self.assertNotEqual(srv.returncode, 0, line)
                self.assertIn(want, srv.output(), line)

    def test_check_config(self):
        with Server(conf=CONF.replace("{dev}", "off"), files=FILES, start=False) as srv:
            r = run_httpd(["-t", "-f", srv.conf_path], cwd=srv.dir)
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
