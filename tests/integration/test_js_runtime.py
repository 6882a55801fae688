"""The JavaScript runtime of `rampart script.js` (mod_js, runtime half):
require, rampart.utils, console, timers, uncaught errors, globalize, the
snapshot of globals copied into worker heaps and the cooperative script
timeout.  Every test runs build/bin/rampart on scripts in a temp directory.

The runtime's parts are also tested on their own, in C, on heaps from
js_heap_new (tests/unit/test_jsrt_*.c): every printf format, timer order,
require resolution and caching, the structured copy of every value type with
its limits, snapshots of the globals, the deadline and the fatal-error
landing.  What stays here is what needs the `rampart` executable: output,
exit status, files, processes and the script's own view."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from rptest import BUILD, _SANITIZER_RE

RAMPART = os.path.join(BUILD, "bin", "rampart")


class JsCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rpjs-")

    def tearDown(self):
        if os.environ.get("RP_KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, rel, content, mode=0o644):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        os.chmod(p, mode)
        return p

    def run_js(self, script, files=None, args=(), env=None, cwd=None, name="main.js",
               timeout=30, check=True):
        """Write script (and files) and run it; returns CompletedProcess (text).
        check=True asserts exit status 0."""
        for rel, content in (files or {}).items():
            self.write(rel, content)
        path = self.write(name, script)
        e = dict(os.environ)
        e.update(env or {})
        r = subprocess.run([RAMPART, path] + list(args), capture_output=True, text=True,
                           timeout=timeout, cwd=cwd or self.dir, env=e)
        m = _SANITIZER_RE.search(r.stderr)
        if m:
            self.fail("sanitizer report:\n" + r.stderr[max(0, m.start() - 300):][:6000])
        if check and r.returncode != 0:
            self.fail("rampart exited %d\n[stdout]\n%s\n[stderr]\n%s"
                      % (r.returncode, r.stdout, r.stderr))
        return r

    def lines(self, script, **kw):
        return self.run_js(script, **kw).stdout.splitlines()


class TestExecutable(JsCase):
    def test_help_and_version(self):
        r = subprocess.run([RAMPART, "-h"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: rampart [script.js [args...]]", r.stdout)
        self.assertIn("Without a script: the built-in demo", r.stdout)
        r = subprocess.run([RAMPART, "-V"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^rampart/\d+\.\d+\.\d+ \(plugin ABI \d+\.\d+\)")
        # no script: the built-in demo (test_js_examples.TestBuiltinDemo serves it)
        r = subprocess.run([RAMPART, "--bogus"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option '--bogus'", r.stderr)

    def test_missing_and_unreadable_script(self):
        r = subprocess.run([RAMPART, os.path.join(self.dir, "nope.js")], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot open script", r.stderr)
        self.assertIn("nope.js", r.stderr)
        self.assertIn("No such file", r.stderr)
        r = subprocess.run([RAMPART, self.dir], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is a directory", r.stderr)
        if os.geteuid() != 0:  # root reads anything
            p = self.write("secret.js", "1;", mode=0o000)
            r = subprocess.run([RAMPART, p], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot read script", r.stderr)

    def test_hello_and_args(self):
        out = self.lines('console.log("hello", process.argv.length, process.argv[2], '
                         'process.argv[3], process.scriptName);', args=["one", "two words"])
        self.assertEqual(out, ["hello 4 one two words main.js"])
        r = self.run_js('console.log(process.argv[1] === process.scriptPath + "/main.js");')
        self.assertEqual(r.stdout, "true\n")

    def test_process_exit_and_env(self):
        r = self.run_js('console.log(process.env.RPJS_X); process.exit(3); console.log("no");',
                        env={"RPJS_X": "envval"}, check=False)
        self.assertEqual(r.returncode, 3)
        self.assertEqual(r.stdout, "envval\n")

    def test_shebang(self):
        self.assertEqual(self.lines("#!/usr/bin/env rampart\nconsole.log('ok');"), ["ok"])


class TestErrors(JsCase):
    def test_uncaught_error_file_line_and_stack(self):
        r = self.run_js("var a = 1;\nfunction f() {\n  throw new Error('boom');\n}\nf();\n",
                        check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("main.js:3", r.stderr)
        self.assertIn("Error: boom", r.stderr)
        self.assertRegex(r.stderr, r"at f \(.*main\.js:3\)")
        self.assertRegex(r.stderr, r"main\.js:5\)")

    def test_syntax_error(self):
        r = self.run_js("var ok = 1;\nvar x = ;\n", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("SyntaxError", r.stderr)
        self.assertIn("line 2", r.stderr)
        self.assertIn("main.js", r.stderr)

    def test_error_from_native_points_at_script(self):
        r = self.run_js("\n\nrampart.utils.readFile('/nonexistent/x');\n", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"main\.js:3: uncaught error: Error: readFile\('/nonexistent/x'\)")

    def test_traces_name_scripts_not_c_sources(self):
        files = {"lib/bad_syntax.js": "var x = 1;\n\nvar y = ;\n",
                 "lib/bad_run.js": "module.exports = function () {\n  return null.boom;\n};\n"}
        bad_run = os.path.join(self.dir, "lib", "bad_run.js")
        bad_syntax = os.path.join(self.dir, "lib", "bad_syntax.js")
        # raised inside Duktape (a C source) in a module's function
        r = self.run_js("var f = require('./lib/bad_run.js');\nf();\n", files=files, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("uncaught error: TypeError: cannot read property 'boom' of null", r.stderr)
        self.assertIn("    at [anon] (%s:2)\n" % bad_run, r.stderr)
        self.assertRegex(r.stderr, r"    at global \(.*main\.js:2\)")
        self.assertNotIn(".c:", r.stderr)
        self.assertNotIn("preventsyield", r.stderr)
        # a syntax error in a required module: the module's file:line comes first
        r = self.run_js("\nrequire('./lib/bad_syntax.js');\n", files=files, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("%s:3: uncaught error: SyntaxError: " % bad_syntax),
                        r.stderr)
        self.assertIn("\n    at %s:3\n" % bad_syntax, r.stderr)
        self.assertNotIn(".c:", r.stderr)
        # console.log of an Error prints the same trace
        r = self.run_js("try { null.x; } catch (e) { console.log(e); }\n")
        self.assertRegex(r.stdout, r"^TypeError: .*\n    at global \(.*main\.js:1\)\n$")

    def test_thrown_non_error(self):
        r = self.run_js("throw 'plain string';", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("plain string", r.stderr)

    def test_output_before_error_is_flushed(self):
        r = self.run_js("rampart.utils.printf('partial');\nnull.x;\n", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "partial")
        self.assertIn("TypeError", r.stderr)


class TestPrintf(JsCase):
    """Every format: tests/unit/test_jsrt_format.c.  Here: output and files."""

    def test_printf_returns_length_and_errors(self):
        r = self.run_js("var n = rampart.utils.printf('%s-%d\\n', 'ab', 12);\n"
                        "console.log(n);\n"
                        "try { rampart.utils.sprintf('%d %d', 1); } catch (e) { console.log(e.name, e.message); }\n"
                        "try { rampart.utils.sprintf('%q', 1); } catch (e) { console.log(e.message); }\n"
                        "var c = {}; c.c = c;\n"
                        "try { rampart.utils.sprintf('%J', c); } catch (e) { console.log(e.name); }\n")
        self.assertEqual(r.stdout.splitlines(),
                         ["ab-12", "6", "TypeError printf: no argument left for %d in format",
                          "printf: unknown format '%q'", "TypeError"])

    def test_fprintf(self):
        f = os.path.join(self.dir, "out.txt")
        r = self.run_js("var u = rampart.utils;\n"
                        "u.fprintf(u.stdout, 'to %%s\\n', 'stdout');\n"
                        "u.fprintf(u.stderr, 'to %%s\\n', 'stderr');\n"
                        "var n = u.fprintf(%r, 'first %%d\\n', 1);\n"
                        "u.fprintf(%r, true, 'second %%J\\n', [2]);\n"
                        "console.log(n, u.readFile(%r, true).length);\n"
                        "u.fprintf(%r, 'truncated\\n');\n" % (f, f, f, f))
        self.assertEqual(r.stdout, "to stdout\n8 19\n")
        self.assertEqual(r.stderr, "to stderr\n")
        with open(f) as fh:
            self.assertEqual(fh.read(), "truncated\n")
        r = self.run_js("rampart.utils.fprintf('/nonexistent/dir/x', 'a');", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("fprintf: cannot open '/nonexistent/dir/x'", r.stderr)

    def test_console(self):
        r = self.run_js("console.log('s', 1, true, null, undefined, {a: [1, {b: 'c'}]}, [1, 2]);\n"
                        "console.error('err', {e: 1});\n"
                        "var c = {}; c.self = c; console.log(c);\n"
                        "console.log(function foo() {});\n"
                        "console.log(new Error('shown'));\n"
                        "console.warn('w'); console.info('i');\n")
        out = r.stdout.splitlines()
        self.assertEqual(out[0], 's 1 true null undefined {"a":[1,{"b":"c"}]} [1,2]')
        self.assertEqual(out[1], "[Object (circular)]")
        self.assertEqual(out[2], "[Function: foo]")
        self.assertTrue(out[3].startswith("Error: shown"))
        self.assertEqual(out[-1], "i")
        self.assertEqual(r.stderr.splitlines(), ['err {"e":1}', "w"])


class TestFiles(JsCase):
    def test_readfile(self):
        data = bytes(range(256))
        p = self.write("bin.dat", data)
        r = self.run_js(
            "var u = rampart.utils, p = %r;\n"
            "var b = u.readFile(p);\n"
            "console.log(typeof b, b.length, b[0], b[255], b instanceof Uint8Array);\n"
            "var part = u.readFile(p, 10, 5);\n"
            "console.log(part.length, part[0], part[4]);\n"
            "var tail = u.readFile(p, -3);\n"
            "console.log(tail.length, tail[0]);\n"
            "var cut = u.readFile(p, 250, -2);\n"
            "console.log(cut.length, cut[0], cut[3]);\n"
            "var o = u.readFile({file: p, offset: 65, length: 3, returnString: true});\n"
            "console.log(typeof o, o);\n"
            "console.log(u.readFile(%r, true));\n"
            "try { u.readFile(p + '.missing'); } catch (e) { console.log(e.message); }\n"
            % (p, self.write("t.txt", "text file\n")))
        out = r.stdout.splitlines()
        self.assertEqual(out[0], "object 256 0 255 true")
        self.assertEqual(out[1], "5 10 14")
        self.assertEqual(out[2], "3 253")
        self.assertEqual(out[3], "4 250 253")
        self.assertEqual(out[4], "string ABC")
        self.assertEqual(out[5], "text file")
        self.assertEqual(out[7], "readFile('%s.missing'): No such file or directory" % p)

    def test_stat_and_readdir(self):
        self.write("d/b.txt", "12345")
        self.write("d/a.txt", "")
        self.write("d/.hidden", "")
        os.mkdir(os.path.join(self.dir, "d", "sub"))
        os.utime(os.path.join(self.dir, "d", "b.txt"), (1000000000, 1000000000))
        d = os.path.join(self.dir, "d")
        r = self.run_js(
            "var u = rampart.utils, d = %r;\n"
            "var s = u.stat(d + '/b.txt');\n"
            "console.log(s.size, s.isFile(), s.isDirectory(), s.mtime instanceof Date, "
            "s.mtime.getTime(), (s.mode & 0x1ff).toString(8), s.permissions.toString(8));\n"
            "var sd = u.stat(d + '/sub');\n"
            "console.log(sd.isDirectory(), sd.isFile(), typeof sd.ino, typeof sd.atime.getTime());\n"
            "console.log(u.stat(d + '/missing'));\n"
            "console.log(JSON.stringify(u.readdir(d)));\n"
            "console.log(JSON.stringify(u.readdir(d, true)));\n"
            "try { u.readdir(d + '/b.txt'); } catch (e) { console.log(e.message); }\n"
            "console.log(u.lstat(d + '/b.txt').isSymbolicLink());\n" % d)
        out = r.stdout.splitlines()
        self.assertEqual(out[0], "5 true false true 1000000000000 644 644")
        self.assertEqual(out[1], "true false number number")
        self.assertEqual(out[2], "false")
        self.assertEqual(json.loads(out[3]), ["a.txt", "b.txt", "sub"])
        self.assertEqual(json.loads(out[4]), [".hidden", "a.txt", "b.txt", "sub"])
        self.assertIn("Not a directory", out[5])
        self.assertEqual(out[6], "false")

    def test_buffers_and_trim(self):
        r = self.run_js(
            "var u = rampart.utils;\n"
            "var b = u.stringToBuffer('h\u00e9');\n"
            "console.log(b.length, b[0], u.bufferToString(b), u.bufferToString('str'));\n"
            "console.log('[' + u.trim('  \\t a b \\n ') + ']');\n"
            "console.log(JSON.stringify(u.stringToBuffer('AB')));\n"
            "try { u.bufferToString(5); } catch (e) { console.log(e.name); }\n")
        self.assertEqual(r.stdout.splitlines(),
                         ["3 104 h\u00e9 str", "[a b]", '{"0":65,"1":66}', "TypeError"])


class TestProcesses(JsCase):
    def test_exec(self):
        r = self.run_js(
            "var u = rampart.utils;\n"
            "var r = u.exec(['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);\n"
            "console.log(JSON.stringify([r.stdout, r.stderr, r.exitStatus, r.timedOut, r.pid > 0]));\n"
            "r = u.exec('echo', 'a b', 'c');\n"
            "console.log(JSON.stringify([r.stdout, r.exitStatus]));\n"
            "r = u.exec('cat', {stdin: 'fed in'});\n"
            "console.log(r.stdout);\n"
            "r = u.exec('sleep', '5', {timeout: 200});\n"
            "console.log(r.timedOut, r.exitStatus);\n"
            "r = u.exec('pwd', {cd: '/'});\n"
            "console.log(r.stdout.trim());\n"
            "r = u.exec('/bin/sh', '-c', 'echo $RPX', {env: {RPX: 'xyz'}});\n"
            "console.log(r.stdout.trim());\n"
            "r = u.shell('echo shell | tr a-z A-Z');\n"
            "console.log(r.stdout.trim(), r.exitStatus);\n"
            "try { u.exec('/no/such/cmd'); } catch (e) { console.log(e.message); }\n")
        out = r.stdout.splitlines()
        self.assertEqual(json.loads(out[0]), ["out\n", "err\n", 3, False, True])
        self.assertEqual(json.loads(out[1]), ["a b c\n", 0])
        self.assertEqual(out[2], "fed in")
        self.assertEqual(out[3], "true %d" % (128 + signal.SIGTERM))
        self.assertEqual(out[4], "/")
        self.assertEqual(out[5], "xyz")
        self.assertEqual(out[6], "SHELL 0")
        self.assertEqual(out[7], "exec: cannot run '/no/such/cmd': No such file or directory")

    def test_getpid_kill_background(self):
        r = self.run_js(
            "var u = rampart.utils;\n"
            "console.log(u.getpid(), u.getppid());\n"
            "console.log(u.kill(u.getpid(), 0));\n"
            "var bg = u.exec('sleep', '30', {background: true});\n"
            "console.log(bg.pid > 0, u.kill(bg.pid, 0));\n"
            "console.log(u.kill(bg.pid, 'SIGKILL'));\n"
            "u.sleep(0.2);\n"
            "/* gone, or a zombie if nobody reaps orphans here */\n"
            "var st = u.stat('/proc/' + bg.pid) ? u.readFile('/proc/' + bg.pid + '/stat', true) : '';\n"
            "console.log(!st || / Z /.test(st));\n"
            "try { u.kill(1, 'NOPE'); } catch (e) { console.log(e.message); }\n")
        out = r.stdout.splitlines()
        pid, ppid = out[0].split()
        self.assertNotEqual(pid, str(os.getpid()))
        self.assertEqual(ppid, str(os.getpid()))
        self.assertEqual(out[1], "true")
        self.assertEqual(out[2], "true true")
        self.assertEqual(out[3], "true")
        self.assertEqual(out[4], "true")
        self.assertEqual(out[5], "unknown signal 'NOPE'")


class TestGlobalize(JsCase):
    def test_globalize(self):
        out = self.lines(
            "rampart.globalize(rampart.utils);\n"
            "printf('%s %d\\n', sprintf('%s', 'g'), typeof readFile === 'function' ? 1 : 0);\n"
            "rampart.globalize({x1: 1, x2: 2, x3: 3}, ['x1', 'x3']);\n"
            "console.log(typeof x1, typeof x2, x3);\n"
            "try { rampart.globalize(5); } catch (e) { console.log(e.name); }\n")
        self.assertEqual(out, ["g 1", "number undefined 3", "TypeError"])


class TestRequire(JsCase):
    """Resolution, caching, cycles and hot reload: tests/unit/test_jsrt_require.c.
    Here: what a script sees of require's errors, and the server's builtin."""

    def test_missing_module_error(self):
        r = self.run_js("try { require('no_such_mod'); } catch (e) { console.log(e.message); }\n"
                        "require('./also_missing');\n", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot find module 'no_such_mod' (searched %s" % self.dir, r.stdout)
        self.assertIn("cannot find module './also_missing'", r.stderr)
        self.assertIn("main.js:2", r.stderr)

    def test_module_errors_name_the_file(self):
        files = {"bad_syntax.js": "var x = 1;\nvar y = ;\n",
                 "bad_run.js": "var x = 1;\nnull.boom;\n",
                 "bad.json": '{"a": }'}
        r = self.run_js(
            "['bad_syntax', 'bad_run', 'bad.json'].forEach(function (m) {\n"
            "  try { require(m); } catch (e) { console.log(e.name + ': ' + e.message + ' @ ' + "
            "(e.stack || '')); }\n"
            "});\n", files=files)
        out = r.stdout
        self.assertRegex(out, r"SyntaxError: .*line 2.*in module %s" % re.escape(
            os.path.join(self.dir, "bad_syntax.js")))
        self.assertRegex(out, r"TypeError: cannot read property 'boom' of null @ [\s\S]*?bad_run\.js:2")
        self.assertIn("require: JSON module '%s'" % os.path.join(self.dir, "bad.json"), out)
        # a failed module is retried, not cached half-done
        r = self.run_js("try { require('bad_run'); } catch (e) {}\n"
                        "try { require('bad_run'); console.log('cached'); } catch (e) { "
                        "console.log('retried'); }\n")
        self.assertEqual(r.stdout, "retried\n")

    def test_builtin_module(self):
        out = self.lines("var s = require('rampart-server');\n"
                         "console.log(typeof s.start, require('rampart-server') === s);")
        self.assertEqual(out, ["function true"])


class TestTimers(JsCase):
    def test_metronome(self):
        # A 200 ms grid.  A loaded machine may deliver any one beat late (by
        # 100 ms and more), so lateness is judged over the three beats after
        # the missed one: a timer that drifted (counted its interval from the
        # late beat) would have every one of them 100+ ms off the grid.
        r = self.run_js(
            "var t0 = Date.now(), ticks = [];\n"
            "var m = setMetronome(function () {\n"
            "  ticks.push(Date.now() - t0);\n"
            "  if (ticks.length === 2) rampart.utils.sleep(0.3); /* miss a beat */\n"
            "  if (ticks.length === 5) { clearMetronome(m); console.log(JSON.stringify(ticks)); }\n"
            "}, 200);\n")
        ticks = json.loads(r.stdout)
        self.assertEqual(len(ticks), 5)
        # slots of the grid (a beat may read up to 20 ms early: two clocks)
        slots = [(t + 20) // 200 for t in ticks]
        late = [(t + 20) % 200 - 20 for t in ticks]
        self.assertEqual(slots, sorted(set(slots)), ticks)  # never two in one slot
        self.assertGreaterEqual(slots[2] - slots[1], 2, ticks)  # the missed one skipped
        self.assertLess(min(late[2:]), 80, ticks)  # back on the grid, no drift

    def test_callback_error_does_not_stop_the_loop(self):
        r = self.run_js(
            "setTimeout(function () {\n  null.x;\n}, 5);\n"
            "setTimeout(function () { console.log('still running'); }, 20);\n")
        self.assertEqual(r.stdout, "still running\n")
        self.assertIn("main.js:2: setTimeout callback: TypeError", r.stderr)

    def test_exit_when_no_timers_left(self):
        t = time.monotonic()
        r = self.run_js("var n = 0; var i = setInterval(function () { if (++n === 5) clearInterval(i); }, 1);\n"
                        "setTimeout(function () { console.log('done', n); }, 100);")
        self.assertEqual(r.stdout, "done 5\n")
        self.assertLess(time.monotonic() - t, 10)

    def test_bad_arguments(self):
        out = self.lines("try { setTimeout('code', 1); } catch (e) { console.log(e.name, e.message); }\n"
                         "console.log(typeof setTimeout(function () {}, -5));")
        self.assertEqual(out, ["TypeError setTimeout: the first argument must be a function",
                               "number"])


class TestEventCopy(JsCase):
    """What rampart.event.trigger() carries: copy.c's structured copy in its
    data-only mode (js_event_encode), delivered to this same heap."""

    def test_values_as_delivered(self):
        r = self.run_js(
            "var o = {a: 1}; o.self = o;\n"
            "var holes = [1, , 3]; holes.extra = 'x';\n"
            "var sh = {x: 1}, u = new Uint8Array([9]);\n"
            "var re = /x/g; re.foo = 1;\n"
            "var cases = [o, holes, {f: function () {}, g: 2, h: [function () {}, 1]},\n"
            "  function () {}, re, new Uint8Array([1, 2]), [u, u], new Date(12345),\n"
            "  JSON.parse('{\"__proto__\": {\"z\": 1}, \"k\": 2}'), [sh, sh, {y: sh}]];\n"
            "var got = [];\n"
            "rampart.event.on('t', 'n', function (cbv, v) {\n"
            "  got.push(v);\n"
            "  if (got.length < cases.length) { rampart.event.trigger('t', cases[got.length]); return; }\n"
            "  rampart.event.off('t');\n"
            "  console.log(got[0].self === got[0], got[0] !== o);\n"
            "  console.log(JSON.stringify(got[1]), 1 in got[1], got[1].extra);\n"
            "  console.log(JSON.stringify(got[2]), typeof got[3]);\n"
            "  console.log(Object.prototype.toString.call(got[4]), JSON.stringify(got[4]));\n"
            "  console.log(got[5] instanceof Uint8Array, got[5].length, got[5][1]);\n"
            "  console.log(got[6][0] === got[6][1], got[7] instanceof Date && got[7].getTime());\n"
            "  console.log(Object.keys(got[8]).join(), got[8].z);\n"
            "  console.log(got[9][0] === got[9][1] && got[9][2].y === got[9][0]);\n"
            "});\n"
            "rampart.event.trigger('t', cases[0]);\n")
        self.assertEqual(r.stdout.splitlines(), [
            "true true",
            "[1,null,3] true undefined",
            '{"g":2,"h":[null,1]} undefined',
            "[object Object] {\"foo\":1}",
            "true 2 2",
            "true 12345",
            "__proto__,k undefined",
            "true"])

if __name__ == "__main__":
    unittest.main()
