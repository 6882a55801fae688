#!/usr/bin/env bash
# bench/h2.sh - issue 12's case: HTTP/2 with h2load against nginx.
#
#   ours:  mod_static, one plain Bind (h2c by prior knowledge) and one TLS
#          Bind (h2 by ALPN), the same certificate.
#   nginx: "listen ... http2" (h2c) and "listen ... ssl http2".
#
# A 1 KiB static file over h2c and over TLS, h2load -c CONNS -m STREAMS
# (default -c 50 -m 20, the issue's), rounds alternating ours, nginx;
# medians and the ratio ours/nginx are printed.  Each server's answer is
# checked first (HTTP/2, the file's bytes).  Then JS: GET /hello.html ->
# "<pre>Hello World!</pre>" from a rampart script (mod_js, h2c) against
# Node's http2 module (h2c), the peer bench/js.sh uses for JS.
#
# Environment: BUILD_DIR (build), BENCH_DURATION seconds per run (5),
# BENCH_ROUNDS (2), BENCH_H2_CONNS (50), BENCH_H2_STREAMS (20),
# BENCH_WRK_THREADS (2, h2load's -t), BENCH_WORKERS (1; first value used).
# It starts only its own two servers, stops them by pid on exit, and uses
# 127.0.0.1 only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init h2 2 1
WORKERS=${WORKERS%% *}
H2_CONNS=${BENCH_H2_CONNS:-50}
H2_STREAMS=${BENCH_H2_STREAMS:-20}
command -v h2load >/dev/null || die "h2load not found: run 'make deps' (nghttp2-client)"
bench_need bin/rampart-httpd bin/rampart modules/mod_static.so modules/mod_js.so
NODE=${NODE:-node}
httpd="$build_dir/bin/rampart-httpd"
nginx=$(bench_nginx)

mkdir -p "$tmp/www"
head -c 1024 /dev/urandom >"$tmp/www/1k.bin"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    -subj /CN=localhost >/dev/null 2>&1
chmod -R a+rX "$tmp"

start_ours() { # plain-port tls-port
    {
        echo "LoadModule static mod_static.so"
        echo "Bind 127.0.0.1:$1 127.0.0.1:$2 tls"
        echo "SslCertFile $tmp/cert.pem"
        echo "SslKeyFile $tmp/key.pem"
        echo "Threads $WORKERS"
        echo "Log off"
        echo "ErrorLog $tmp/rampart-error.log"
        [ "$as_root" = 1 ] && echo "User nobody"
        echo "Map / $tmp/www"
    } >"$tmp/rampart.conf"
    bench_start ours_pid "$tmp/rampart.out" "http://127.0.0.1:$1/1k.bin" \
        "$httpd" -f "$tmp/rampart.conf"
}

start_nginx() { # http1-port h2c-port tls-port
    local p="$tmp/nginx-prefix"
    nginx_conf "$p" "$WORKERS" "$1" "$tmp/www" "    http2_max_concurrent_streams 128;
    server { listen 127.0.0.1:$2 http2; root $tmp/www; location / { } }
    server { listen 127.0.0.1:$3 ssl http2; root $tmp/www; location / { }
             ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem; }"
    bench_start nginx_pid "$p/logs/stdout" "http://127.0.0.1:$1/1k.bin" \
        "$nginx" -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log"
}

check() { # name url [curl args]
    local url=$2
    shift 2
    curl -fsk "$@" -o "$tmp/check.bin" -w '%{http_version}' "$url" >"$tmp/check.v" ||
        die "$name: request failed"
    [ "$(cat "$tmp/check.v")" = 2 ] || die "$url: not answered over HTTP/2"
    cmp -s "$tmp/check.bin" "$tmp/www/1k.bin" || die "$url: wrong bytes"
}

# One h2load run; prints "req_per_sec failed".
run_h2load() { # url
    local out rps failed
    out=$(timeout --foreground $((DURATION + 30)) "${BENCH_CLIENT_CMD[@]}" \
        h2load -t"$WRK_THREADS" -c"$H2_CONNS" -m"$H2_STREAMS" -D"$DURATION" "$1" 2>&1) ||
        { echo "$out" >&2; die "h2load failed: $1"; }
    rps=$(awk '/^finished in/ {for (i = 1; i <= NF; i++) if ($i == "req/s,") print $(i-1)}' <<<"$out")
    failed=$(awk '/^requests:/ {for (i = 1; i <= NF; i++) if ($i ~ /^failed,?$/) print $(i-1)}' <<<"$out")
    [ -n "$rps" ] || { echo "$out" >&2; die "could not parse h2load output"; }
    echo "$rps ${failed:-0}"
}

ours_plain=$(free_port); ours_tls=$(free_port)
ng_http=$(free_port); ng_h2c=$(free_port); ng_tls=$(free_port)
start_ours "$ours_plain" "$ours_tls"
start_nginx "$ng_http" "$ng_h2c" "$ng_tls"
check ours "http://127.0.0.1:$ours_plain/1k.bin" --http2-prior-knowledge
check ours "https://127.0.0.1:$ours_tls/1k.bin" --http2
check nginx "http://127.0.0.1:$ng_h2c/1k.bin" --http2-prior-knowledge
check nginx "https://127.0.0.1:$ng_tls/1k.bin" --http2

echo "h2 case: 1 KiB static, $WORKERS worker(s), h2load -c$H2_CONNS -m$H2_STREAMS -t$WRK_THREADS" \
     "-D${DURATION}s, $ROUNDS rounds"
printf '%-22s %8s %12s %12s %11s\n' case workers "ours req/s" "nginx req/s" ours/nginx
errs=0
for kind in h2c tls; do
    if [ "$kind" = h2c ]; then
        ou="http://127.0.0.1:$ours_plain/1k.bin"; nu="http://127.0.0.1:$ng_h2c/1k.bin"
    else
        ou="https://127.0.0.1:$ours_tls/1k.bin"; nu="https://127.0.0.1:$ng_tls/1k.bin"
    fi
    o=(); n=()
    for _ in $(seq 1 "$ROUNDS"); do
        read -r a e <<<"$(run_h2load "$ou")"; o+=("$a"); errs=$((errs + e))
        read -r a e <<<"$(run_h2load "$nu")"; n+=("$a"); errs=$((errs + e))
    done
    om=$(median "${o[@]}"); nm=$(median "${n[@]}")
    printf '%-22s %8s %12.0f %12.0f %11s\n' "1 KiB static $kind" "$WORKERS" "$om" "$nm" \
        "$(ratio "$om" "$nm")"
done

# ---- JS /hello over h2c: rampart against node's http2 ------------------------
command -v "$NODE" >/dev/null || { echo "node not found: JS case skipped"; exit 0; }
cat >"$tmp/hello.js" <<'EOF'
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:" + process.env.PORT,
    user: "nobody",
    threads: parseInt(process.env.THREADS),
    map: {"/hello.html": function () { return {html: "<pre>Hello World!</pre>"}; }}
});
EOF
cat >"$tmp/node_h2.js" <<'EOF'
const http2 = require("http2");
const body = "<pre>Hello World!</pre>";
const srv = http2.createServer({settings: {maxConcurrentStreams: 128}}, (req, res) => {
    res.writeHead(200, {"content-type": "text/html", "content-length": body.length});
    res.end(body);
});
srv.listen(parseInt(process.env.PORT, 10), "127.0.0.1");
EOF
chmod 0644 "$tmp"/*.js
js_ours=$(free_port); js_node=$(free_port)
bench_start js_ours_pid "$tmp/js-ours.log" "http://127.0.0.1:$js_ours/hello.html" \
    env PORT="$js_ours" THREADS="$WORKERS" "$build_dir/bin/rampart" "$tmp/hello.js"
# (lib.sh hands what follows tcp:// to bash's /dev/tcp/, which wants host/port)
bench_start js_node_pid "$tmp/js-node.log" "tcp://127.0.0.1/$js_node" \
    env PORT="$js_node" "$NODE" "$tmp/node_h2.js"
for u in "http://127.0.0.1:$js_ours/hello.html" "http://127.0.0.1:$js_node/hello.html"; do
    [ "$(curl -fs --http2-prior-knowledge "$u")" = "<pre>Hello World!</pre>" ] || die "$u: wrong answer"
done
o=(); n=()
for _ in $(seq 1 "$ROUNDS"); do
    read -r a e <<<"$(run_h2load "http://127.0.0.1:$js_ours/hello.html")"; o+=("$a"); errs=$((errs + e))
    read -r a e <<<"$(run_h2load "http://127.0.0.1:$js_node/hello.html")"; n+=("$a"); errs=$((errs + e))
done
om=$(median "${o[@]}"); nm=$(median "${n[@]}")
printf '%-22s %8s %12s %12s %11s\n' case workers "ours req/s" "node req/s" ours/node
printf '%-22s %8s %12.0f %12.0f %11s\n' "JS /hello h2c" "$WORKERS" "$om" "$nm" "$(ratio "$om" "$nm")"
[ "$errs" = 0 ] || echo "failed requests: $errs (numbers suspect)"
