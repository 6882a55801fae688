#!/usr/bin/env bash
# bench/proxy.sh - reverse proxying: a 1 KiB file from an nginx upstream,
# through rampart-httpd (mod_proxy) and through nginx (proxy_pass), same
# upstream, same run.
#
#   upstream: nginx, 1 worker, serving 1k.txt (shared by both proxies)
#   ours:     "Map / proxy:http://127.0.0.1:UP/", Threads W (keep-alive pool)
#   nginx:    proxy_pass to an upstream block with keepalive 32,
#             proxy_http_version 1.1, worker_processes W
#
# wrk runs alternate ours, nginx, ours, nginx (BENCH_ROUNDS each); the
# table shows the medians of req/s and p99, their ratio, and each proxy's
# CPU time per request (user + system of the proxy's processes over its
# runs, the upstream excluded).  Each proxy's answer is checked first.
#
# Then big downloads (BENCH_PROXY_BIG_MB, default 1024 MiB, a sparse file)
# through each proxy with curl, alternating, BENCH_ROUNDS each: median time,
# CPU per download, and the growth of our peak RSS (VmHWM) over them all -
# the response is streamed, so it must stay small.
#
# Then one streamed upload of the same size (curl -T, Content-Length) to a
# Python sink upstream that reads every byte and answers the count; nginx
# with proxy_request_buffering off (streams too, no temp file).  Time, CPU
# seconds per GiB of each proxy, and each proxy's peak RSS growth.
#
# Environment: BUILD_DIR (build), BENCH_DURATION seconds per run (5),
# BENCH_ROUNDS (2), BENCH_CONNECTIONS (32), BENCH_WRK_THREADS (2),
# BENCH_WORKERS (1; first value used).  It starts only its own three
# servers, stops them by pid on exit, and uses 127.0.0.1 only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init proxy 2 1
WORKERS=${WORKERS%% *}
bench_need bin/rampart-httpd modules/mod_proxy.so
httpd="$build_dir/bin/rampart-httpd"
nginx=$(bench_nginx)

mkdir -p "$tmp/www"
head -c 1024 /dev/zero | tr '\0' 'a' >"$tmp/www/1k.txt"
BIG_MB=${BENCH_PROXY_BIG_MB:-1024}
[[ "$BIG_MB" =~ ^[1-9][0-9]*$ ]] || die "BENCH_PROXY_BIG_MB must be a positive integer"
truncate -s "${BIG_MB}M" "$tmp/www/big.bin"
chmod -R a+rX "$tmp/www"

up_port=$(free_port)
sink_port=$(free_port)
ours_port=$(free_port)
nginx_port=$(free_port)

nginx_conf "$tmp/up" 1 "$up_port" "$tmp/www" "    types { text/plain txt; }"
bench_start up_pid "$tmp/up/logs/stdout" "http://127.0.0.1:$up_port/1k.txt" \
    "$nginx" -p "$tmp/up" -c "$tmp/up/nginx.conf" -e "$tmp/up/logs/error.log"

# The upload sink: reads each request body whole (Content-Length or
# chunked), then answers the number of bytes it read.
cat >"$tmp/sink.py" <<'PY'
import socket, socketserver, sys
class H(socketserver.StreamRequestHandler):
    rbufsize = 1 << 20
    def handle(self):
        f = self.rfile
        while True:
            line = f.readline()
            if not line:
                return
            hd = {}
            while True:
                h = f.readline()
                if h in (b"\r\n", b""):
                    break
                k, _, v = h.partition(b":")
                hd[k.strip().lower()] = v.strip()
            n = 0
            def take(left):
                nonlocal n
                while left > 0:
                    b = f.read1(min(left, 1 << 20))
                    if not b:
                        raise EOFError
                    n += len(b)
                    left -= len(b)
            try:
                if b"chunked" in hd.get(b"transfer-encoding", b""):
                    while True:
                        size = int(f.readline().split(b";")[0], 16)
                        if size == 0:
                            f.readline()
                            break
                        take(size)
                        f.read(2)
                else:
                    take(int(hd.get(b"content-length", b"0")))
            except (EOFError, ValueError):
                return
            body = b"%d" % n
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
class S(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
bench_start sink_pid "$tmp/sink.out" "http://127.0.0.1:$sink_port/" python3 "$tmp/sink.py" "$sink_port"

{
    echo "LoadModule proxy mod_proxy.so"
    echo "Bind 127.0.0.1:$ours_port"
    echo "Threads $WORKERS"
    echo "Log off"
    echo "ErrorLog $tmp/rampart-error.log"
    [ "$as_root" = 1 ] && echo "User nobody"
    echo "MaxBodySize $((BIG_MB + 1))m"
    echo "Map /up/ proxy:http://127.0.0.1:$sink_port/"
    echo "Map / proxy:http://127.0.0.1:$up_port/"
} >"$tmp/rampart.conf"
bench_start ours_pid "$tmp/rampart.out" "http://127.0.0.1:$ours_port/1k.txt" \
    "$httpd" -f "$tmp/rampart.conf"

# nginx as the proxy: its own conf (nginx_conf serves files; this proxies)
p="$tmp/nginx"
mkdir -p "$p/logs" "$p/tmp"
user_line="# not root"
[ "$as_root" = 1 ] && user_line="user nobody nogroup;"
cat >"$p/nginx.conf" <<NGINX
$user_line
daemon off;
master_process on;
worker_processes $WORKERS;
pid $p/nginx.pid;
error_log $p/logs/error.log warn;
events { worker_connections ${NGINX_WORKER_CONNECTIONS:-1024}; }
http {
    access_log off;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    upstream up { server 127.0.0.1:$up_port; keepalive 32; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$nginx_port;
        location /up/ {
            proxy_pass http://127.0.0.1:$sink_port/;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            client_max_body_size 0;
        }
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
NGINX
bench_start nginx_pid "$p/logs/stdout" "http://127.0.0.1:$nginx_port/1k.txt" \
    "$nginx" -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log"

check() { # name url
    curl -fs -o "$tmp/check" "$2" || die "$1: request failed"
    cmp -s "$tmp/check" "$tmp/www/1k.txt" || die "$1: body differs from the file"
}
check ours "http://127.0.0.1:$ours_port/1k.txt"
check nginx "http://127.0.0.1:$nginx_port/1k.txt"

ours_url="http://127.0.0.1:$ours_port/1k.txt"
nginx_url="http://127.0.0.1:$nginx_port/1k.txt"
echo "proxy case: 1 KiB from an nginx upstream, $WORKERS worker(s), wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds, keep-alive"
warm_up "$ours_url"
warm_up "$nginx_url"
ours_pids=$ours_pid
nginx_pids=$(proc_family "$nginx_pid")
o=(); n=(); op=(); np=(); oe=0; ne=0; ot=0; nt=0; oreq=0; nreq=0
for r in $(seq 1 "$ROUNDS"); do
    t0=$(cpu_ticks $ours_pids)
    read -r a b e q <<<"$(run_wrk_n "$ours_url")"
    t1=$(cpu_ticks $ours_pids)
    o+=("$a"); op+=("$b"); oe=$((oe + e)); ot=$((ot + t1 - t0)); oreq=$((oreq + q))
    printf '  round %s: ours  %10.0f req/s  p99 %8.2f ms\n' "$r" "$a" "$b"
    t0=$(cpu_ticks $nginx_pids)
    read -r a b e q <<<"$(run_wrk_n "$nginx_url")"
    t1=$(cpu_ticks $nginx_pids)
    n+=("$a"); np+=("$b"); ne=$((ne + e)); nt=$((nt + t1 - t0)); nreq=$((nreq + q))
    printf '  round %s: nginx %10.0f req/s  p99 %8.2f ms\n' "$r" "$a" "$b"
done
hz=$(getconf CLK_TCK)
om=$(median "${o[@]}"); nm=$(median "${n[@]}")
ou=$(awk -v t="$ot" -v q="$oreq" -v hz="$hz" 'BEGIN { printf "%.1f", q ? t / hz * 1e6 / q : 0 }')
nu=$(awk -v t="$nt" -v q="$nreq" -v hz="$hz" 'BEGIN { printf "%.1f", q ? t / hz * 1e6 / q : 0 }')
echo
printf '%-14s %7s %12s %12s %11s %10s %10s %12s %12s\n' case workers "ours req/s" "nginx req/s" \
    ours/nginx "ours p99" "nginx p99" "ours us/req" "nginx us/req"
printf '%-14s %7s %12.0f %12.0f %11s %7.2f ms %7.2f ms %12s %12s\n' "1 KiB proxied" "$WORKERS" \
    "$om" "$nm" "$(ratio "$om" "$nm")" "$(median "${op[@]}")" "$(median "${np[@]}")" "$ou" "$nu"
[ "$oe" = 0 ] && [ "$ne" = 0 ] || echo "errors: ours $oe, nginx $ne (numbers suspect)"

# ---- big downloads ----------------------------------------------------------------
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
big() { # url: prints seconds
    local t0 t1 size
    t0=$(date +%s.%N)
    size=$(curl -fs -o /dev/null -w '%{size_download}' "$1") || die "download failed: $1"
    t1=$(date +%s.%N)
    [ "$size" = $((BIG_MB * 1024 * 1024)) ] || die "short download from $1: $size bytes"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
# Alternating, BENCH_ROUNDS each: one download is at the mercy of whatever
# else the machine does in those seconds.  Medians of the times, CPU per run.
h0=$(hwm "$ours_pid")
ds_o=(); ds_n=(); cpu_o=0; cpu_n=0
for r in $(seq 1 "$ROUNDS"); do
    c0=$(cpu_ticks $ours_pids)
    ds_o+=("$(big "http://127.0.0.1:$ours_port/big.bin")")
    c1=$(cpu_ticks $ours_pids)
    d0=$(cpu_ticks $nginx_pids)
    ds_n+=("$(big "http://127.0.0.1:$nginx_port/big.bin")")
    d1=$(cpu_ticks $nginx_pids)
    cpu_o=$((cpu_o + c1 - c0)); cpu_n=$((cpu_n + d1 - d0))
done
h1=$(hwm "$ours_pid")
os=$(median "${ds_o[@]}"); ns=$(median "${ds_n[@]}")
oc=$(awk -v t="$cpu_o" -v hz="$hz" -v n="$ROUNDS" 'BEGIN { printf "%.2f", t / hz / n }')
nc=$(awk -v t="$cpu_n" -v hz="$hz" -v n="$ROUNDS" 'BEGIN { printf "%.2f", t / hz / n }')
echo
printf '%s MiB download, median of %s: ours %s s (CPU %s s), nginx %s s (CPU %s s); time ratio %s, CPU ratio %s\n' \
    "$BIG_MB" "$ROUNDS" "$os" "$oc" "$ns" "$nc" "$(ratio "$os" "$ns")" "$(ratio "$oc" "$nc")"
echo "ours: peak RSS grew $((h1 - h0)) KiB over the downloads"

# ---- one big streamed upload ------------------------------------------------------
hwm_max() { # pids: the largest VmHWM among them, KiB
    local p m=0 v
    for p in "$@"; do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        [ "${v:-0}" -gt "$m" ] && m=$v
    done
    echo "$m"
}
upload() { # url: prints seconds; the sink must have read every byte
    local t0 t1 got
    t0=$(date +%s.%N)
    got=$(curl -fs -H 'Expect:' -T "$tmp/www/big.bin" "$1") || die "upload failed: $1"
    t1=$(date +%s.%N)
    [ "$got" = $((BIG_MB * 1024 * 1024)) ] || die "the sink read $got bytes through $1"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
per_gib() { awk -v t="$1" -v hz="$hz" -v mb="$BIG_MB" 'BEGIN { printf "%.2f", t / hz / (mb / 1024) }'; }
h0=$(hwm "$ours_pid")
g0=$(hwm_max $nginx_pids)
c0=$(cpu_ticks $ours_pids)
ous=$(upload "http://127.0.0.1:$ours_port/up/big")
c1=$(cpu_ticks $ours_pids)
h1=$(hwm "$ours_pid")
d0=$(cpu_ticks $nginx_pids)
nus=$(upload "http://127.0.0.1:$nginx_port/up/big")
d1=$(cpu_ticks $nginx_pids)
g1=$(hwm_max $nginx_pids)
oc=$(per_gib $((c1 - c0)))
nc=$(per_gib $((d1 - d0)))
echo
printf '%s MiB streamed upload: ours %s s (CPU %s s/GiB), nginx (proxy_request_buffering off) %s s (CPU %s s/GiB); time ratio %s, CPU ratio %s\n' \
    "$BIG_MB" "$ous" "$oc" "$nus" "$nc" "$(ratio "$ous" "$nus")" "$(ratio "$oc" "$nc")"
echo "peak RSS growth over the upload: ours $((h1 - h0)) KiB, nginx (largest process) $((g1 - g0)) KiB"
