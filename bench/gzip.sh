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
. "$(dirname "$0")/lib.sh"
bench_init gzip 2 1
WORKERS=${WORKERS%% *}
bench_need bin/rampart-httpd modules/mod_static.so modules/mod_gzip.so
httpd="$build_dir/bin/rampart-httpd"
nginx=$(bench_nginx)

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
    } >"$tmp/rampart.conf"
    bench_start ours_pid "$tmp/rampart.out" "http://127.0.0.1:$1/100k.html" \
        "$httpd" -f "$tmp/rampart.conf"
}

start_nginx() { # port
    local p="$tmp/nginx-prefix"
    nginx_conf "$p" "$WORKERS" "$1" "$tmp/nginx" "    types { text/html html; }
    gzip_static on;
    gzip_vary on;"
    bench_start nginx_pid "$p/logs/stdout" "http://127.0.0.1:$1/100k.html" \
        "$nginx" -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log"
}

# Both must answer gzip that decompresses to the file.
check() { # name url
    local hdrs="$tmp/check.h"
    curl -fs -D "$hdrs" -H 'Accept-Encoding: gzip' -o "$tmp/check.gz" "$2" || die "$1: request failed"
    grep -qi '^content-encoding: gzip' "$hdrs" || die "$1: answer is not gzip-encoded"
    gzip -dc "$tmp/check.gz" | cmp -s - "$tmp/ours/100k.html" || die "$1: body does not decompress to the file"
    echo "  $1: $(wc -c <"$tmp/check.gz") bytes gzip for 102400"
}

# ---- run -------------------------------------------------------------------------
ours_port=$(free_port)
nginx_port=$(free_port)
start_ours "$ours_port"
start_nginx "$nginx_port"
ours_url="http://127.0.0.1:$ours_port/100k.html"
nginx_url="http://127.0.0.1:$nginx_port/100k.html"
gz=(-H 'Accept-Encoding: gzip')
echo "gzip case: 100 KiB .html, Accept-Encoding: gzip, $WORKERS worker(s), wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds"
check ours "$ours_url" # also builds the .gzipcache copy
check ours "$ours_url"
[ -f "$tmp/ours/.gzipcache/100k.html.gz" ] || die "ours: no .gzipcache copy was made"
check nginx "$nginx_url"

warm_up "${gz[@]}" "$ours_url"
warm_up "${gz[@]}" "$nginx_url"
o=(); n=(); oe=0; ne=0
for r in $(seq 1 "$ROUNDS"); do
    read -r a _ e <<<"$(run_wrk "${gz[@]}" "$ours_url")"; o+=("$a"); oe=$((oe + e))
    read -r a _ e <<<"$(run_wrk "${gz[@]}" "$nginx_url")"; n+=("$a"); ne=$((ne + e))
done
om=$(median "${o[@]}")
nm=$(median "${n[@]}")
printf '%-22s %8s %12s %12s %11s\n' case workers "ours req/s" "nginx req/s" ours/nginx
printf '%-22s %8s %12.0f %12.0f %11s\n' "100 KiB .html gzip" "$WORKERS" "$om" "$nm" "$(ratio "$om" "$nm")"
[ "$oe" = 0 ] && [ "$ne" = 0 ] || echo "errors: ours $oe, nginx $ne (numbers suspect)"
