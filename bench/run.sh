#!/usr/bin/env bash
# bench/run.sh - rampart-httpd against nginx, static files over loopback.
#
# Cases: {1 KiB, 100 KiB file} x {1, 2 workers}; each server gets the same
# number of workers (rampart "Threads N", nginx "worker_processes N").  wrk
# runs against the two servers interleaved (ours, nginx, ours, nginx, ...),
# ROUNDS times each, and the table shows the median of the rounds.
#
# Environment: BUILD_DIR (build), BENCH_DURATION seconds per run (5),
# BENCH_ROUNDS (2), BENCH_CONNECTIONS (32), BENCH_WRK_THREADS (2),
# BENCH_WORKERS ("1 2").  Total time with the defaults: about 2 minutes.
#
# It starts only its own two servers, stops them by pid on exit, and uses
# 127.0.0.1 only.  See bench/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-build}
case "$build_dir" in /*) ;; *) build_dir="$here/$build_dir" ;; esac
httpd="$build_dir/bin/rampart-httpd"
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WORKERS=${BENCH_WORKERS:-1 2}

die() { echo "bench: $*" >&2; exit 1; }

for t in "$DURATION" "$ROUNDS" "$CONNS" "$WRK_THREADS"; do
    [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "BENCH_* values must be positive integers"
done
[ "$DURATION" -le 60 ] || die "BENCH_DURATION is capped at 60 s per run"
[ "$ROUNDS" -le 5 ] || die "BENCH_ROUNDS is capped at 5"

if [ ! -x "$httpd" ] || [ ! -e "$build_dir/modules/mod_static.so" ]; then
    echo "bench: building first"
    cmake -S "$here" -B "$build_dir" >/dev/null
    cmake --build "$build_dir" -j"$(nproc)" >/dev/null
fi
command -v wrk >/dev/null || die "wrk not found: run 'make deps' (scripts/install-deps.sh)"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || die "nginx not found: run 'make deps' (scripts/install-deps.sh)"
command -v curl >/dev/null || die "curl not found: run 'make deps'"

# ---- scratch space, owned processes, cleanup -------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rp-bench.XXXXXX")
chmod 0755 "$tmp" # readable by nobody when run as root
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
stop_servers() {
    stop_pid "$ours_pid"; ours_pid=""
    stop_pid "$nginx_pid"; nginx_pid=""
}
cleanup() {
    stop_servers
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_up() { # name pid url
    local i
    for i in $(seq 1 100); do # 10 s
        kill -0 "$2" 2>/dev/null || return 1
        curl -fs -o /dev/null --max-time 2 "$3" && return 0
        sleep 0.1
    done
    return 1
}

# ---- the document root -------------------------------------------------------
mkdir -p "$tmp/www"
head -c 1024 /dev/zero | tr '\0' 'a' >"$tmp/www/1k.txt"
head -c 102400 /dev/zero | tr '\0' 'b' >"$tmp/www/100k.txt"
chmod -R a+rX "$tmp/www"

as_root=0
[ "$(id -u)" = 0 ] && as_root=1

start_ours() { # workers port
    local conf="$tmp/rampart.conf"
    {
        echo "LoadModule static mod_static.so"
        echo "Bind 127.0.0.1:$2"
        echo "Threads $1"
        echo "Log off"
        echo "ErrorLog $tmp/rampart-error.log"
        [ "$as_root" = 1 ] && echo "User nobody"
        echo "Map / $tmp/www"
    } >"$conf"
    "$httpd" -f "$conf" >"$tmp/rampart.out" 2>&1 &
    ours_pid=$!
    wait_up rampart "$ours_pid" "http://127.0.0.1:$2/1k.txt" || {
        cat "$tmp/rampart.out" "$tmp/rampart-error.log" 2>/dev/null >&2
        die "rampart-httpd did not start"
    }
}

start_nginx() { # workers port
    local p="$tmp/nginx"
    mkdir -p "$p/logs" "$p/tmp"
    local user_line="# not root: workers run as the invoking user"
    [ "$as_root" = 1 ] && user_line="user nobody nogroup;"
    cat >"$p/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes $1;
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
    types { text/plain txt; }
    default_type application/octet-stream;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    server {
        listen 127.0.0.1:$2;
        root $tmp/www;
        location / { }
    }
}
EOF
    "$nginx" -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log" >"$p/logs/stdout" 2>&1 &
    nginx_pid=$!
    wait_up nginx "$nginx_pid" "http://127.0.0.1:$2/1k.txt" || {
        cat "$p/logs/stdout" "$p/logs/error.log" 2>/dev/null >&2
        die "nginx did not start"
    }
}

# One wrk run; prints "req_per_sec p99_ms errors".
run_wrk() { # url
    local out rps p99 errs
    out=$(timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$1" 2>&1) ||
        { echo "$out" >&2; die "wrk failed against $1"; }
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {
                v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
                printf "%.3f", v }' <<<"$out")
    errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {
                for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i } END {print n + 0}' <<<"$out")
    [ -n "$rps" ] && [ -n "$p99" ] || { echo "$out" >&2; die "could not parse wrk output"; }
    echo "$rps $p99 $errs"
}

median() { # numbers...
    printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
        if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ---- run -------------------------------------------------------------------------
echo "rampart bench: $(nproc) CPUs, wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds, keep-alive"
echo "  ours:  $httpd"
echo "  nginx: $("$nginx" -v 2>&1 | sed 's/^nginx version: //')"
echo

results=()
for w in $WORKERS; do
    [[ "$w" =~ ^[1-9][0-9]*$ ]] || die "BENCH_WORKERS must hold positive integers"
    ours_port=$(free_port)
    nginx_port=$(free_port)
    start_ours "$w" "$ours_port"
    start_nginx "$w" "$nginx_port"
    for f in 1k 100k; do
        ours_url="http://127.0.0.1:$ours_port/$f.txt"
        nginx_url="http://127.0.0.1:$nginx_port/$f.txt"
        # warm up both (caches, lazily created state), not measured
        wrk -t1 -c4 -d1s "$ours_url" >/dev/null 2>&1 || true
        wrk -t1 -c4 -d1s "$nginx_url" >/dev/null 2>&1 || true
        o_rps=(); o_p99=(); n_rps=(); n_p99=(); o_err=0; n_err=0
        for r in $(seq 1 "$ROUNDS"); do
            res=$(run_wrk "$ours_url"); read -r a b e <<<"$res"
            o_rps+=("$a"); o_p99+=("$b"); o_err=$((o_err + e))
            printf '  %-7s workers=%s round %s: ours  %10.0f req/s  p99 %8.2f ms  errors %s\n' "$f" "$w" "$r" "$a" "$b" "$e"
            res=$(run_wrk "$nginx_url"); read -r a b e <<<"$res"
            n_rps+=("$a"); n_p99+=("$b"); n_err=$((n_err + e))
            printf '  %-7s workers=%s round %s: nginx %10.0f req/s  p99 %8.2f ms  errors %s\n' "$f" "$w" "$r" "$a" "$b" "$e"
        done
        results+=("$f $w $(median "${o_rps[@]}") $(median "${n_rps[@]}") $(median "${o_p99[@]}") $(median "${n_p99[@]}") $o_err $n_err")
    done
    stop_servers
done

echo
printf '%-8s %7s %12s %12s %11s %12s %12s\n' case workers "ours req/s" "nginx req/s" "ours/nginx" "ours p99" "nginx p99"
for line in "${results[@]}"; do
    read -r f w orps nrps op99 np99 oerr nerr <<<"$line"
    label="1 KiB"; [ "$f" = 100k ] && label="100 KiB"
    ratio=$(awk -v a="$orps" -v b="$nrps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    note=""
    if [ "$oerr" != 0 ] || [ "$nerr" != 0 ]; then note="  errors: ours $oerr, nginx $nerr"; fi
    printf '%-8s %7s %12.0f %12.0f %11s %9.2f ms %9.2f ms%s\n' \
        "$label" "$w" "$orps" "$nrps" "$ratio" "$op99" "$np99" "$note"
done
