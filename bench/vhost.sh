#!/usr/bin/env bash
# bench/vhost.sh - what virtual hosts and <Route> settings cost (issue 13).
#
#   hosts: a 1 KiB file from the 21st of 21 <Host> blocks (20 exact hosts,
#          the wildcard one asked for) with 3 <Route> blocks, Header and
#          CacheControl settings, against the same server with one top
#          level and no blocks: the Host lookup, the <Route> match and the
#          Header filter every request pays.
#   sni:   the same pair over TLS with a new handshake per request (wrk
#          keeps connections, so -H "Connection: close"), SNI "localhost"
#          picking the host's own context, against the one-certificate server.
#
# One worker (BENCH_WORKERS, first value used), runs alternating between the
# two servers of a case (BENCH_ROUNDS each), medians and their ratio printed.
# Each answer is checked first.  Environment as in lib.sh.  It starts only
# its own servers, stops them by pid on exit, and uses 127.0.0.1 only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init vhost 3 1
WORKERS=${WORKERS%% *}
bench_need bin/rampart-httpd modules/mod_static.so
httpd="$build_dir/bin/rampart-httpd"

mkdir -p "$tmp/www"
head -c 1024 /dev/zero | tr '\0' 'x' >"$tmp/www/1k.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$tmp/k.pem" -out "$tmp/c.pem" -subj /CN=bench.test \
    -addext "subjectAltName=DNS:localhost,DNS:*.w.test" 2>/dev/null
chmod -R a+rX "$tmp"

start_ours() { # var port tls-port name with-hosts
    {
        echo "LoadModule static mod_static.so"
        echo "Bind 127.0.0.1:$2"
        echo "Bind 127.0.0.1:$3 tls"
        echo "SslCertFile $tmp/c.pem"
        echo "SslKeyFile $tmp/k.pem"
        echo "Threads $WORKERS"
        echo "Log off"
        echo "ErrorLog $tmp/$4-error.log"
        [ "$as_root" = 1 ] && echo "User nobody"
        echo "Map / $tmp/www"
        if [ "$5" = 1 ]; then
            echo "Header set X-Frame-Options DENY"
            for i in $(seq 1 20); do
                printf '<Host h%d.test www.h%d.test>\nMap / %s\nSslCertFile %s\nSslKeyFile %s\n</Host>\n' \
                    "$i" "$i" "$tmp/www" "$tmp/c.pem" "$tmp/k.pem"
            done
            printf '<Host *.w.test localhost>\nMap / %s\nSslCertFile %s\nSslKeyFile %s\n' \
                "$tmp/www" "$tmp/c.pem" "$tmp/k.pem"
            printf '<Route /a/>\nCacheControl off\n</Route>\n<Route ~^/b>\nHeader set X-B 1\n</Route>\n'
            printf '<Route /*.txt>\nHeader add X-Txt 1\n</Route>\n</Host>\n'
        fi
    } >"$tmp/$4.conf"
    bench_start "$1" "$tmp/$4.out" "http://127.0.0.1:$2/1k.txt" "$httpd" -f "$tmp/$4.conf"
}

plain_port=$(free_port)
plain_tls=$(free_port)
vh_port=$(free_port)
vh_tls=$(free_port)
start_ours plain_pid "$plain_port" "$plain_tls" plain 0
start_ours vh_pid "$vh_port" "$vh_tls" vhosts 1
got=$(curl -s -D - -o /dev/null -H "Host: x.w.test" "http://127.0.0.1:$vh_port/1k.txt")
grep -qi '^x-txt: 1' <<<"$got" || die "the wildcard host's <Route> did not answer: $got"
got=$(curl -sk -o /dev/null -w '%{http_code}' "https://localhost:$vh_tls/1k.txt")
[ "$got" = 200 ] || die "TLS with SNI answered $got"

echo "vhost cases: 1 KiB file, $WORKERS worker(s), wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds"
printf '%-8s %-22s %12s %12s %8s\n' case "ours vs peer" "hosts req/s" "plain req/s" ratio
compare() { # case peer-name ours-url peer-url [wrk args...]
    local name=$1 peer=$2 ou=$3 pu=$4 o=() n=() a e errs=0
    shift 4
    warm_up "$@" "$ou"
    warm_up "$@" "$pu"
    for _ in $(seq 1 "$ROUNDS"); do
        read -r a _ e <<<"$(run_wrk "$@" "$ou")"; o+=("$a"); errs=$((errs + e))
        read -r a _ e <<<"$(run_wrk "$@" "$pu")"; n+=("$a"); errs=$((errs + e))
    done
    local om nm
    om=$(median "${o[@]}")
    nm=$(median "${n[@]}")
    printf '%-8s %-22s %12.0f %12.0f %8s\n' "$name" "$peer" "$om" "$nm" "$(ratio "$om" "$nm")"
    [ "$errs" = 0 ] || echo "  errors: $errs (numbers suspect)"
}
compare hosts "no <Host>/<Route>" "http://127.0.0.1:$vh_port/1k.txt" \
    "http://127.0.0.1:$plain_port/1k.txt" -H "Host: x.w.test"
compare sni "one certificate" "https://localhost:$vh_tls/1k.txt" \
    "https://localhost:$plain_tls/1k.txt" -H "Connection: close"
