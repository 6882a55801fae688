#!/usr/bin/env bash
# gen-directives.sh - regenerate the directive reference from the directive
# tables themselves (`rampart-httpd -L`), so the documentation cannot drift:
#
#   README.md                    the table between <!-- directives:begin -->
#                                and <!-- directives:end -->
#   man/man5/rampart-httpd.conf.5  the list between .\" directives:begin
#                                and .\" directives:end
#
#   scripts/gen-directives.sh [--check] [BUILD_DIR]     (default: build)
#
# Every build/modules/mod_*.so is loaded (in name order) into one
# configuration and listed with -L, which prints "name<TAB>module<TAB>help
# <TAB>scope" lines (scope: where the directive may be written: server,
# host, route).  A help text "Name args: meaning (default X)" becomes the columns
# syntax, meaning and default; core directives whose help has no
# "(default ...)" take theirs from CORE_DEFAULTS below.
#
# --check writes nothing: it exits 1 and shows a diff when a file is out of
# date (tests/integration/test_docs.py runs it).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHECK=0
if [ "${1:-}" = "--check" ]; then CHECK=1; shift; fi
BUILD_DIR=${1:-${RP_BUILD_DIR:-$ROOT/build}}
HTTPD=$BUILD_DIR/bin/rampart-httpd
[ -x "$HTTPD" ] || { echo "gen-directives: $HTTPD is not built" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
conf=$tmp/all-modules.conf
: > "$conf"
for so in "$BUILD_DIR"/modules/mod_*.so; do
    [ -e "$so" ] || continue
    name=$(basename "$so" .so); name=${name#mod_}
    echo "LoadModule $name $so" >> "$conf"
done
"$HTTPD" -L -f "$conf" > "$tmp/directives.tsv"

python3 - "$tmp/directives.tsv" "$ROOT" "$CHECK" <<'EOF'
import difflib, re, sys

tsv, root, check = sys.argv[1], sys.argv[2], sys.argv[3] == "1"

# Defaults of core directives whose help text does not state one.
CORE_DEFAULTS = {
    "Bind": "[::1]:8088 127.0.0.1:8088",
    "Threads": "0 (one per CPU core)",
    "UseThreads": "on",
    "GracefulTimeout": "10",
    "MaxRead": "65536",
    "MaxWrite": "65536",
    "MaxHeaderSize": "8192",
    "MaxUriLength": "8192",
    "MaxBodySize": "32m",
    "MaxHeaders": "100",
    "Log": "off",
    "AccessLog": "standard output",
    "ErrorLog": "standard error",
    "LogLevel": "notice",
    "PidFile": "none",
    "Daemon": "off",
    "User": "none (required as root)",
    "MapSort": "on",
    "ModuleDir": "modules/ of the build or install tree",
    "MimeTypes": "conf/mime.types",
    "MimeMap": "none",
    "Secure": "off",
    "SslCertFile": "none",
    "SslKeyFile": "none",
    "HttpsRedirect": "off",
}

rows = []
for line in open(tsv, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line:
        continue
    name, module, help_, scope = (line.split("\t", 3) + ["", "", ""])[:4]
    syntax, meaning = help_, ""
    m = re.match(r"^(%s\b.*?): (.*)$" % re.escape(name), help_)
    if m:
        syntax, meaning = m.group(1), m.group(2)
    elif not help_.startswith(name):
        syntax, meaning = name, help_
    default = ""
    # "(default X)" or "(other words; default X)"
    d = re.search(r"\s*\(([^()]*?);?\s*\bdefault:? ([^()]*)\)", meaning)
    if d:
        default = d.group(2).strip()
        keep = " (%s)" % d.group(1).strip() if d.group(1).strip() else ""
        meaning = (meaning[:d.start()] + keep + meaning[d.end():]).strip()
    elif module == "core":
        default = CORE_DEFAULTS.get(name, "")
    rows.append((name, module, syntax, meaning, default, scope or "server"))


def md(s):
    return s.replace("|", "\\|")


def readme_block():
    out = ["| directive | module | scope | default | meaning |",
           "|-----------|--------|-------|---------|---------|"]
    for name, module, syntax, meaning, default, scope in rows:
        out.append("| `%s` | %s | %s | %s | %s |" % (
            md(syntax), module, scope, "`%s`" % md(default) if default else "—", md(meaning)))
    return "\n".join(out) + "\n"


def roff(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return s


def roff_line(s):
    s = roff(s)
    return "\\&" + s if s[:1] in (".", "'") else s


def man_block():
    out = []
    last = None
    for name, module, syntax, meaning, default, scope in rows:
        if module != last:
            out.append('.SS "%s"' % ("Core" if module == "core" else "mod_" + module))
            last = module
        args = syntax[len(name):].strip() if syntax.startswith(name) else ""
        out.append(".TP")
        out.append(".B %s" % name if not args else
                   '.BI "%s " "%s"' % (roff(name), roff(args).replace('"', '\\(dq')))
        body = []
        if meaning:
            body.append(meaning if meaning.endswith(".") else meaning + ".")
        if default:
            body.append("Default: " + default + ".")
        if scope != "server":
            body.append("Scope: " + scope + ".")
        for k, b in enumerate(body or ["\\&"]):
            if k:
                out.append(".br")
            out.append(roff_line(b) if body else b)
    return "\n".join(out) + "\n"


def splice(path, begin, end, block):
    text = open(path, encoding="utf-8").read()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        sys.exit("gen-directives: %s: markers %r / %r not found" % (path, begin, end))
    i = text.index("\n", i) + 1
    new = text[:i] + block + text[j:]
    rel = path[len(root) + 1:]
    if new == text:
        return 0
    if check:
        sys.stdout.writelines(difflib.unified_diff(
            text.splitlines(True), new.splitlines(True), rel, rel + " (from rampart-httpd -L)"))
        return 1
    open(path, "w", encoding="utf-8").write(new)
    print("gen-directives: updated %s" % rel)
    return 0


bad = splice(root + "/README.md", "<!-- directives:begin -->", "<!-- directives:end -->",
             readme_block())
bad |= splice(root + "/man/man5/rampart-httpd.conf.5", '.\\" directives:begin',
              '.\\" directives:end', man_block())
if bad:
    print("\ngen-directives: out of date; run scripts/gen-directives.sh and commit the result",
          file=sys.stderr)
sys.exit(bad)
EOF
