#!/usr/bin/env bash
# bench/gzip.sh - issue 3's case: a 100 KiB .html served gzip-compressed.
#
#   ours:  mod_static + mod_gzip, "CompressFiles on": after the first request
#          the compressed copy comes from .gzipcache/ with sendfile.
#   nginx: "gzip_static on" serving the pre-compressed 100k.html.gz.
#
# Both get the same worker count (BENCH_WORKERS, default 1; first value
# used), wrk sends "Accept-Encoding: gzip", runs alternate ours, nginx, ours,
# nginx (BENCH_ROUNDS each), and the medians and their ratio are printed.
# Each server's answer is checked first (gzip, decompresses to the file).
#
# Environment: BUILD_DIR (build), BENCH_DURATION seconds per run (5),
# BENCH_ROUNDS (2), BENCH_CONNECTIONS (32), BENCH_WRK_THREADS (2),
# BENCH_WORKERS (1).  It starts only its own two servers, stops them by pid
# on exit, and uses 127.0.0.1 only.  Meant to be called from bench/run.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-build}
case "$build_dir" in /*) ;; *) build_dir="$here/$build_dir" ;; esac
httpd="$build_dir/bin/rampart-httpd"
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WORKERS=${BENCH_WORKERS:-1}
WORKERS=${WORKERS%% *}

die() { echo "bench/gzip: $*" >&2; exit 1; }

for t in "$DURATION" "$ROUNDS" "$CONNS" "$WRK_THREADS" "$WORKERS"; do
    [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "BENCH_* values must be positive integers"
done
[ "$DURATION" -le 60 ] || die "BENCH_DURATION is capped at 60 s per run"
[ "$ROUNDS" -le 5 ] || die "BENCH_ROUNDS is capped at 5"

if [ ! -x "$httpd" ] || [ ! -e "$build_dir/modules/mod_gzip.so" ]; then
    echo "bench/gzip: building first"
    cmake -S "$here" -B "$build_dir" >/dev/null
    cmake --build "$build_dir" -j"$(nproc)" >/dev/null
fi
command -v wrk >/dev/null || die "wrk not found: run 'make deps' (scripts/install-deps.sh)"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || die "nginx not found: run 'make deps' (scripts/install-deps.sh)"
command -v curl >/dev/null || die "curl not found: run 'make deps'"

# ---- scratch space, owned processes, cleanup -------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rp-bench-gzip.XXXXXX")
chmod 0755 "$tmp"
ours_pid=""
nginx_pid=""

stop_pid() { # pid: TERM, wait up to 10 s, then KILL
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$ours_pid"
    stop_pid "$nginx_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_up() { # pid url
    local i
    for i in $(seq 1 100); do # 10 s
        kill -0 "$1" 2>/dev/null || return 1
        curl -fs -o /dev/null --max-time 2 "$2" && return 0
        sleep 0.1
    done
    return 1
}

as_root=0
[ "$(id -u)" = 0 ] && as_root=1

# ---- the document roots ------------------------------------------------------
# 100 KiB of compressible, non-trivial HTML (about 4:1 with gzip).
mkdir -p "$tmp/ours" "$tmp/nginx"
python3 - "$tmp/ours/100k.html" <<'EOF'
import random, sys
rng = random.Random(42)
words = ["<div>", "</div>", "<p>", "</p>", "rampart", "server", "alpha", "beta",
         "gamma", "delta", "lorem", "ipsum", "dolor", "sit", "amet", "\n"]
out = []
n = 0
while n < 102400:
    w = "%s%d " % (rng.choice(words), rng.randint(0, 9999))
    out.append(w)
    n += len(w)
open(sys.argv[1], "w").write("".join(out)[:102400])
EOF
cp "$tmp/ours/100k.html" "$tmp/nginx/100k.html"
gzip -1 -n -c "$tmp/nginx/100k.html" >"$tmp/nginx/100k.html.gz" # CompressLevel 1's effort
touch -r "$tmp/nginx/100k.html" "$tmp/nginx/100k.html.gz"
chmod -R a+rX "$tmp/ours" "$tmp/nginx"
# mod_gzip writes its cache as the server user.
[ "$as_root" = 1 ] && chown nobody "$tmp/ours"

start_ours() { # port
    local conf="$tmp/rampart.conf"
    {
        echo "LoadModule static mod_static.so"
        echo "LoadModule gzip mod_gzip.so"
        echo "Bind 127.0.0.1:$1"
        echo "Threads $WORKERS"
        echo "Log off"
        echo "ErrorLog $tmp/rampart-error.log"
        [ "$as_root" = 1 ] && echo "User nobody"
        echo "CompressFiles on"
        echo "CompressLevel 1"
        echo "Map / $tmp/ours"
    } >"$conf"
    "$httpd" -f "$conf" >"$tmp/rampart.out" 2>&1 &
    ours_pid=$!
    wait_up "$ours_pid" "http://127.0.0.1:$1/100k.html" || {
        cat "$tmp/rampart.out" "$tmp/rampart-error.log" 2>/dev/null >&2
        die "rampart-httpd did not start"
    }
}

start_nginx() { # port
    local p="$tmp/nginx-prefix"
    mkdir -p "$p/logs" "$p/tmp"
    local user_line="# not root: workers run as the invoking user"
    [ "$as_root" = 1 ] && user_line="user nobody nogroup;"
    cat >"$p/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes $WORKERS;
pid $p/nginx.pid;
error_log $p/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    types { text/html html; }
    default_type application/octet-stream;
    gzip_static on;
    gzip_vary on;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    server {
        listen 127.0.0.1:$1;
        root $tmp/nginx;
        location / { }
    }
}
EOF
    "$nginx" -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log" >"$p/logs/stdout" 2>&1 &
    nginx_pid=$!
    wait_up "$nginx_pid" "http://127.0.0.1:$1/100k.html" || {
        cat "$p/logs/stdout" "$p/logs/error.log" 2>/dev/null >&2
        die "nginx did not start"
    }
}

# Both must answer gzip that decompresses to the file.
check() { # name url
    local hdrs="$tmp/check.h"
    curl -fs -D "$hdrs" -H 'Accept-Encoding: gzip' -o "$tmp/check.gz" "$2" || die "$1: request failed"
    grep -qi '^content-encoding: gzip' "$hdrs" || die "$1: answer is not gzip-encoded"
    gzip -dc "$tmp/check.gz" | cmp -s - "$tmp/ours/100k.html" || die "$1: body does not decompress to the file"
    echo "  $1: $(wc -c <"$tmp/check.gz") bytes gzip for 102400"
}

run_wrk() { # url -> "req_per_sec errors"
    local out rps errs
    out=$(timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" \
        -H 'Accept-Encoding: gzip' "$1" 2>&1) || { echo "$out" >&2; die "wrk failed against $1"; }
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {
                for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i } END {print n + 0}' <<<"$out")
    [ -n "$rps" ] || { echo "$out" >&2; die "could not parse wrk output"; }
    echo "$rps $errs"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
        if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ---- run -------------------------------------------------------------------------
ours_port=$(free_port)
nginx_port=$(free_port)
start_ours "$ours_port"
start_nginx "$nginx_port"
ours_url="http://127.0.0.1:$ours_port/100k.html"
nginx_url="http://127.0.0.1:$nginx_port/100k.html"
echo "gzip case: 100 KiB .html, Accept-Encoding: gzip, $WORKERS worker(s), wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds"
check ours "$ours_url" # also builds the .gzipcache copy
check ours "$ours_url"
[ -f "$tmp/ours/.gzipcache/100k.html.gz" ] || die "ours: no .gzipcache copy was made"
check nginx "$nginx_url"

wrk -t1 -c4 -d1s -H 'Accept-Encoding: gzip' "$ours_url" >/dev/null 2>&1 || true
wrk -t1 -c4 -d1s -H 'Accept-Encoding: gzip' "$nginx_url" >/dev/null 2>&1 || true
o=(); n=(); oe=0; ne=0
for r in $(seq 1 "$ROUNDS"); do
    read -r a e <<<"$(run_wrk "$ours_url")"; o+=("$a"); oe=$((oe + e))
    read -r a e <<<"$(run_wrk "$nginx_url")"; n+=("$a"); ne=$((ne + e))
done
om=$(median "${o[@]}")
nm=$(median "${n[@]}")
ratio=$(awk -v a="$om" -v b="$nm" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
printf '%-22s %8s %12s %12s %11s\n' case workers "ours req/s" "nginx req/s" ours/nginx
printf '%-22s %8s %12.0f %12.0f %11s\n' "100 KiB .html gzip" "$WORKERS" "$om" "$nm" "$ratio"
[ "$oe" = 0 ] && [ "$ne" = 0 ] || echo "errors: ours $oe, nginx $ne (numbers suspect)"
