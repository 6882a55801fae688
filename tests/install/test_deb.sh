#!/usr/bin/env bash
# test_deb.sh SOURCE_DIR - the Debian package, installed for real.
#
# 1. scripts/make-deb.sh builds rampart_<v>_<arch>.deb (its own build tree)
# 2. dpkg-deb: the package holds the binaries, modules, headers, rampart.pc,
#    man pages, the conf, the systemd unit and the logrotate file, and
#    depends on the llhttp runtime package (libllhttp9.2 on Debian 12)
# 3. dpkg -i into this machine (needs root; the package must not be
#    installed already, so an administrator's copy is never touched)
# 4. the installed rampart-httpd checks the installed conf (-t), then serves
#    the installed demo site from it, as root dropping to www-data, on a free
#    loopback port instead of the conf's 8088 (other tests may hold that)
# 5. stops it by pid, dpkg --purge, and checks that nothing is left
# Exit 77 (skipped) when not root or dpkg is missing.
set -euo pipefail
src=$(cd "${1:?usage: test_deb.sh SOURCE_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "test_deb: needs root for dpkg -i: skipped"; exit 77; }
command -v dpkg >/dev/null || { echo "test_deb: no dpkg: skipped"; exit 77; }
if dpkg-query -W -f='${Status}' rampart 2>/dev/null | grep -q "ok installed"; then
    echo "test_deb: a rampart package is installed already; not touching it: skipped"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rp-deb.XXXXXX")
pid=
installed=0
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    [ "$installed" = 1 ] && dpkg --purge rampart >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }
step() { echo "test_deb: $*"; }

step "build the package"
deb=$(JOBS=${JOBS:-2} "$src/scripts/make-deb.sh" "$tmp/out" | tail -n 1)
[ -f "$deb" ] || fail "make-deb.sh made no package"

ma=$(gcc -print-multiarch)
step "contents of $(basename "$deb")"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/list"
for f in /usr/bin/rampart-httpd /usr/bin/rampart /usr/lib/$ma/librampart.so \
    /usr/include/rampart/rampart.h /usr/lib/$ma/pkgconfig/rampart.pc \
    /usr/share/man/man8/rampart-httpd.8 /usr/share/man/man5/rampart-httpd.conf.5 \
    /usr/share/man/man1/rampart.1 /etc/rampart/rampart-httpd.conf /etc/rampart/mime.types \
    /usr/lib/systemd/system/rampart-httpd.service /etc/logrotate.d/rampart-httpd \
    /usr/lib/$ma/rampart/modules/mod_static.so \
    /usr/lib/$ma/rampart/modules/mod_js.so /usr/share/rampart/www/index.html; do
    grep -qx "$f" "$tmp/list" || fail "the package lacks $f"
done
dpkg-deb -f "$deb" Depends | grep -q "libevent" || fail "Depends names no libevent"
# llhttp's runtime package (Debian 12 has none of its own; install-deps.sh
# takes trixie's libllhttp9.2): named by its package, with a version
llhttp_pkg='libllhttp[0-9.]+'
grep -q '^12' /etc/debian_version 2>/dev/null && llhttp_pkg='libllhttp9\.2'
dpkg-deb -f "$deb" Depends | grep -Eq "(^|, )$llhttp_pkg \(>= [^)]+\)" ||
    fail "Depends names no llhttp runtime package ($llhttp_pkg): $(dpkg-deb -f "$deb" Depends)"
dpkg-deb -e "$deb" "$tmp/control"
grep -qx /etc/rampart/rampart-httpd.conf "$tmp/control/conffiles" || fail "conf is no conffile"

step "dpkg -i"
installed=1
dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i failed"; }
[ -d /var/log/rampart ] || fail "postinst made no /var/log/rampart"
unit=/usr/lib/systemd/system/rampart-httpd.service
grep -q "^ExecStart=/usr/bin/rampart-httpd -f /etc/rampart/rampart-httpd.conf" "$unit" ||
    fail "the unit does not start /usr/bin/rampart-httpd with /etc/rampart/rampart-httpd.conf"
conf=/etc/rampart/rampart-httpd.conf
grep -qx "User www-data" "$conf" || fail "the installed conf does not drop to www-data"
grep -qx "Map / /usr/share/rampart/www" "$conf" || fail "the installed conf maps no demo site"
/usr/bin/rampart-httpd -t -f "$conf" || fail "the installed conf does not check"

step "serve from the installed conf on a loopback port"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed "s|^Bind .*|Bind 127.0.0.1:$port|" "$conf" >"$tmp/serve.conf"
/usr/bin/rampart-httpd -f "$tmp/serve.conf" >"$tmp/out.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    grep -q "serving with" /var/log/rampart/error.log 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/out.log"; fail "the server exited"; }
    sleep 0.05
done
body=$(curl -sS --max-time 10 "http://127.0.0.1:$port/") || fail "no answer on port $port"
cmp -s <(printf '%s' "$body") <(printf '%s' "$(cat /usr/share/rampart/www/index.html)") ||
    fail "the page served is not the installed index.html"
curl -sS --max-time 10 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$port/index.html" |
    grep -q "text/html" || fail "no mime type: /etc/rampart/mime.types not found by the server"
user=$(ps -o user= -p "$pid" | tr -d ' ')
[ "$user" = www-data ] || fail "the server runs as '$user', not www-data"
for _ in $(seq 1 200); do
    grep -q '"GET / HTTP/1.1" 200' /var/log/rampart/access.log 2>/dev/null && break
    sleep 0.05
done
grep -q '"GET / HTTP/1.1" 200' /var/log/rampart/access.log || fail "no access log line"
kill "$pid"
wait "$pid" || fail "the server did not stop cleanly"
pid=

step "dpkg --purge"
dpkg --purge rampart >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "purge failed"; }
installed=0
for f in /usr/bin/rampart-httpd /etc/rampart /var/log/rampart "$unit" /etc/logrotate.d/rampart-httpd; do
    [ ! -e "$f" ] || fail "$f is left after purge"
done
step "ok"
