"""The documentation matches the code: the README's configuration table and
the directive list in rampart-httpd.conf(5) are what scripts/gen-directives.sh
makes from `rampart-httpd -L`, and rampart-httpd(8) documents every flag."""
import glob
import os
import re
import subprocess
import tempfile
import unittest

from rptest import BUILD, REPO, run_httpd

GEN = os.path.join(REPO, "scripts", "gen-directives.sh")
MAN8 = os.path.join(REPO, "man", "man8", "rampart-httpd.8")
MAN5 = os.path.join(REPO, "man", "man5", "rampart-httpd.conf.5")
README = os.path.join(REPO, "README.md")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def source_modules():
    """Plugins the tree builds: modules/mod_<name>/ with a CMakeLists.txt."""
    return sorted(os.path.basename(os.path.dirname(p))[4:]
                  for p in glob.glob(os.path.join(REPO, "modules", "mod_*", "CMakeLists.txt")))


def built_modules():
    return sorted(os.path.basename(p)[4:-3]
                  for p in glob.glob(os.path.join(BUILD, "modules", "mod_*.so")))


class TestDirectiveReference(unittest.TestCase):
    def test_generated_docs_are_up_to_date(self):
        missing = sorted(set(source_modules()) - set(built_modules()))
        if missing:
            # a partial build (e.g. -DRP_BUILD_SKELETON=OFF, or only some
            # targets built) cannot tell whether the docs are current
            self.skipTest("not built: %s" % ", ".join("mod_%s" % m for m in missing))
        r = subprocess.run([GEN, "--check", BUILD], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0,
                         "the directive reference is out of date with `rampart-httpd -L`; run "
                         "scripts/gen-directives.sh and commit README.md and "
                         "man/man5/rampart-httpd.conf.5\n" + r.stdout[-6000:] + r.stderr)

    def test_every_built_module_is_documented(self):
        readme = read(README)
        block = readme[readme.index("<!-- directives:begin -->"):
                       readme.index("<!-- directives:end -->")]
        man = read(MAN5)
        for m in built_modules():
            conf = "LoadModule %s %s\n" % (m, os.path.join(BUILD, "modules", "mod_%s.so" % m))
            with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
                f.write(conf)
                f.flush()
                r = run_httpd(["-L", "-f", f.name])
            self.assertEqual(r.returncode, 0, r.stderr)
            for line in r.stdout.splitlines():
                name, module, _ = line.split("\t", 2)
                if module != m:
                    continue
                self.assertRegex(block, r"\| `%s\b" % re.escape(name),
                                 "README lacks directive %s of mod_%s" % (name, m))
                self.assertRegex(man, r'(?m)^\.BI? "?%s\b' % re.escape(name),
                                 "rampart-httpd.conf(5) lacks directive %s of mod_%s" % (name, m))

    def test_list_format(self):
        r = run_httpd(["-L"])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertGreater(len(lines), 20)
        for line in lines:
            self.assertEqual(line.count("\t"), 3, line)
            name, module, help_, scope = line.split("\t")
            self.assertRegex(scope, r"^(server|host|route)(, (host|route))*$")
            self.assertRegex(name, r"^[A-Z][A-Za-z0-9]+$")
            self.assertTrue(help_.startswith(name), "help of %s should start with its "
                            "syntax: %r" % (name, help_))


class TestManPageFlags(unittest.TestCase):
    def test_every_flag_of_usage_is_in_the_man_page(self):
        r = run_httpd(["-h"])
        self.assertEqual(r.returncode, 0)
        flags = re.findall(r"^\s+(-{1,2}[A-Za-z][-A-Za-z]*)", r.stdout, re.M)
        self.assertIn("-f", flags)
        man = read(MAN8).replace("\\-", "-")
        for flag in flags:
            self.assertRegex(man, r"(?m)^\.(B|BI|BR|OP)\s+%s\b" % re.escape(flag),
                             "rampart-httpd(8) does not document %s" % flag)
        for word in ("stop", "quit", "reload", "reopen", "SIGTERM", "SIGHUP", "SIGUSR1",
                     "PidFile", "User", "Daemon"):
            self.assertIn(word, man)


if __name__ == "__main__":
    unittest.main()


START_C = os.path.join(REPO, "modules", "mod_js", "start.c")
MAN1 = os.path.join(REPO, "man", "man1", "rampart.1")


class TestStartOptionTable(unittest.TestCase):
    """start()'s options are one table in start.c (opt_defs[]); the option ->
    directive table of rampart(1) must list each of them with its directive
    and nothing else."""

    def test_man_table_matches_opt_defs(self):
        src = read(START_C)
        table = src[src.index("static const opt_def opt_defs[]"):]
        table = table[:table.index("};")]
        defs = re.findall(r'\{"(\w+)", "(\w+)", opt_\w+,', table)
        self.assertGreater(len(defs), 30)
        man = read(MAN1)
        sect = man[man.index(".SH START() OPTIONS"):]
        rows = sect[sect.index(".TS"):sect.index(".TE")].splitlines()[2:]
        documented = {}
        for row in rows:
            if "\t" not in row or row.startswith("\\fB"):
                continue
            opts, dirs = row.split("\t", 1)
            for o in opts.split(","):
                documented[o.strip()] = dirs
        self.assertEqual(sorted(documented), sorted(o for o, _ in defs),
                         "rampart(1)'s START() OPTIONS table and start.c's opt_defs[] differ")
        for option, directive in defs:
            self.assertRegex(documented[option], r"\b%s\b" % directive,
                             "rampart(1) should say option %s becomes %s" % (option, directive))
