#!/usr/bin/env bash
# test_install.sh BUILD_DIR SOURCE_DIR
#
# 1. DESTDIR=<tmp> cmake --install BUILD_DIR --prefix /opt/rampart-test
# 2. check the installed tree (binaries, library, plugins, headers, rampart.pc,
#    conf, mime table, demo site) and that librampart exports only rp_*
# 3. build modules/mod_skeleton/mod_skeleton.c OUT OF TREE with cc and
#    `pkg-config rampart` (relocated into DESTDIR with --define-prefix)
# 4. load it into BUILD_DIR/bin/rampart-httpd on a free 127.0.0.1 port and
#    check its answers with curl; stop the server by its pid.
set -euo pipefail

build=$(cd "${1:?usage: test_install.sh BUILD_DIR SOURCE_DIR}" && pwd)
src=$(cd "${2:?usage: test_install.sh BUILD_DIR SOURCE_DIR}" && pwd)
prefix=/opt/rampart-test

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rp-install.XXXXXX")
chmod 0755 "$tmp" # as root the server runs as nobody and must read in here
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# ---- 1. install ----------------------------------------------------------
step "install into DESTDIR=$tmp/dest prefix=$prefix"
DESTDIR="$tmp/dest" cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install failed"; }
root="$tmp/dest$prefix"

# ---- 2. the installed tree -----------------------------------------------
step "check the installed tree"
need() { [ -e "$root/$1" ] || fail "not installed: $1"; echo "   ok $1"; }
need bin/rampart-httpd
[ -x "$root/bin/rampart-httpd" ] || fail "bin/rampart-httpd is not executable"
if [ -e "$build/bin/rampart" ]; then   # mod_js's front-end, built with it
    need bin/rampart
    need include/rampart/rp_js.h
    "$root/bin/rampart" -V >/dev/null 2>&1 || fail "installed rampart -V failed (librampart not found?)"
fi
compgen -G "$root/lib/librampart.so*" >/dev/null || fail "not installed: lib/librampart.so*"
need lib/librampart.so      # the development link plugins link with
need lib/librampart.so.0    # the SONAME the executables need
need lib/rampart/modules/mod_static.so
need include/rampart/rampart.h
for h in "$src"/api/*.h; do need "include/rampart/$(basename "$h")"; done
[ ! -e "$root/include/rampart/core.h" ] || fail "internal header core.h was installed"
need lib/pkgconfig/rampart.pc
need etc/rampart/mime.types
need etc/rampart/rampart-httpd.conf
need share/rampart/www/index.html
cmp -s "$root/etc/rampart/mime.types" "$src/conf/mime.types" || fail "installed mime.types differs"
grep -qx "Map / $prefix/share/rampart/www" "$root/etc/rampart/rampart-httpd.conf" ||
    fail "installed rampart-httpd.conf does not map / to $prefix/share/rampart/www"
grep -q "^prefix=$prefix\$" "$root/lib/pkgconfig/rampart.pc" ||
    fail "rampart.pc does not name the install prefix $prefix"

# Hidden visibility: librampart's dynamic symbol table holds rp_* only.
extra=$(nm -D --defined-only "$root/lib/librampart.so" | awk '{print $3}' |
        grep -v -E '^(rp_|_init$|_fini$|_edata$|_end$|__bss_start$)' || true)
[ -z "$extra" ] || fail "librampart exports non-API symbols: $(echo $extra | head -c 400)"

# The installed executable finds the installed librampart (RUNPATH).
"$root/bin/rampart-httpd" -V >"$tmp/version.txt" 2>&1 ||
    { cat "$tmp/version.txt"; fail "installed rampart-httpd -V failed"; }
# (captured first: with pipefail, grep -q quitting early could SIGPIPE ldd)
linked=$(ldd "$root/bin/rampart-httpd")
grep -q "$root/bin/../lib/librampart.so\|$root/lib/librampart.so" <<<"$linked" ||
    fail "installed rampart-httpd does not resolve librampart from $root/lib: $(grep rampart <<<"$linked")"

# ---- 3. out-of-tree plugin build -----------------------------------------
step "build mod_skeleton out of tree with pkg-config rampart"
pc() { PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_LIBDIR="$root/lib/pkgconfig" \
       pkg-config --define-prefix "$@" rampart; }
cflags=$(pc --cflags)
libs=$(pc --libs)
echo "   cflags: $cflags"
echo "   libs:   $libs"
case "$cflags" in *"-I$root/include/rampart"*) ;; *) fail "cflags do not point into DESTDIR" ;; esac
case "$libs" in *"-L$root/lib"*) ;; *) fail "libs do not point into DESTDIR" ;; esac
mkdir -p "$tmp/plugin"
cp "$src/modules/mod_skeleton/mod_skeleton.c" "$tmp/plugin/"
# shellcheck disable=SC2086 # word splitting of pkg-config output is intended
(cd "$tmp/plugin" &&
 cc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden $cflags \
    -o mod_skeleton.so mod_skeleton.c $libs) || fail "out-of-tree build failed"
chmod -R a+rX "$tmp/plugin"
syms=$(nm -D --defined-only "$tmp/plugin/mod_skeleton.so")
grep -q ' rp_module_skeleton$' <<<"$syms" ||
    fail "mod_skeleton.so does not export rp_module_skeleton"

# ---- 4. load it into the build tree's server -----------------------------
step "run rampart-httpd with the out-of-tree plugin"
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
greeting="Hello from an out-of-tree plugin"
write_conf() {
    {
        echo "# written by tests/install/test_install.sh"
        echo "LoadModule skeleton $tmp/plugin/mod_skeleton.so"
        echo "Bind 127.0.0.1:$1"
        echo "Threads 2"
        echo "SkeletonGreeting \"$greeting\""
        echo "Map /hello skeleton:"
        echo "Map /hi skeleton:Hiya"
        if [ "$(id -u)" = 0 ]; then echo "User nobody"; fi
    } >"$tmp/test.conf"
}
httpd="$build/bin/rampart-httpd"

write_conf 1
"$httpd" -t -f "$tmp/test.conf" >"$tmp/check.log" 2>&1 ||
    { cat "$tmp/check.log"; fail "rampart-httpd -t refused the conf"; }

started=0
for attempt in 1 2 3; do
    port=$(free_port)
    write_conf "$port"
    "$httpd" -f "$tmp/test.conf" >"$tmp/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do # up to 10 s
        if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
        if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/hello"; then started=1; break; fi
        sleep 0.1
    done
    [ "$started" = 1 ] && break
    echo "   attempt $attempt: the server did not come up on port $port:"; cat "$tmp/server.log"
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
done
[ "$started" = 1 ] || fail "rampart-httpd did not start"
echo "   serving on 127.0.0.1:$port, pid $server_pid"

url="http://127.0.0.1:$port"
get() { curl -sS --max-time 5 "$@"; }
body=$(get "$url/hello")
[ "$body" = "$greeting" ] || fail "/hello answered '$body', expected '$greeting'"
echo "   ok GET /hello -> $body"
body=$(get "$url/hi")
[ "$body" = "Hiya" ] || fail "/hi answered '$body', expected 'Hiya'"
echo "   ok GET /hi -> $body"
ctype=$(get -o /dev/null -w '%{content_type}' "$url/hello")
[ "$ctype" = "text/plain; charset=utf-8" ] || fail "/hello Content-Type '$ctype'"
code=$(get -o /dev/null -w '%{http_code}' -H 'X-Skeleton-Deny: 1' "$url/hello")
[ "$code" = 403 ] || fail "AUTH hook: expected 403, got $code"
echo "   ok AUTH hook -> 403"
code=$(get -o /dev/null -w '%{http_code}' -X POST -d x=1 "$url/hello")
[ "$code" = 405 ] || fail "POST /hello: expected 405, got $code"
echo "   ok POST -> 405"
code=$(get -o /dev/null -w '%{http_code}' "$url/nothing-here")
[ "$code" = 404 ] || fail "unmapped path: expected 404, got $code"
echo "   ok unmapped -> 404"
body=$(get "$url/hello")
[ "$body" = "$greeting" ] || fail "server no longer serving after the error cases"

step "stop the server (SIGTERM to pid $server_pid)"
kill -TERM "$server_pid"
status=""
for _ in $(seq 1 150); do # up to 15 s
    if ! kill -0 "$server_pid" 2>/dev/null; then
        set +e; wait "$server_pid"; status=$?; set -e
        break
    fi
    sleep 0.1
done
if [ -z "$status" ]; then cat "$tmp/server.log"; fail "server still running 15 s after SIGTERM"; fi
server_pid=""
[ "$status" = 0 ] || { cat "$tmp/server.log"; fail "server exited with status $status after SIGTERM"; }
echo "PASS"
