#!/usr/bin/env bash
# bench/run.sh - rampart-httpd against nginx, static files over loopback.
#
# Cases: {1 KiB, 100 KiB file} x {1, 2 workers}; each server gets the same
# number of workers (rampart "Threads N", nginx "worker_processes N").  wrk
# runs against the two servers interleaved (ours, nginx, ours, nginx, ...),
# ROUNDS times each (default 2), and the table shows the median of the
# rounds.  Settings: see bench/lib.sh.  About 2 minutes with the defaults.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init static 2
bench_need bin/rampart-httpd modules/mod_static.so
httpd="$build_dir/bin/rampart-httpd"
nginx=$(bench_nginx)

mkdir -p "$tmp/www"
head -c 1024 /dev/zero | tr '\0' 'a' >"$tmp/www/1k.txt"
head -c 102400 /dev/zero | tr '\0' 'b' >"$tmp/www/100k.txt"
chmod -R a+rX "$tmp/www"

start_ours() { # workers port
    {
        echo "LoadModule static mod_static.so"
        echo "Bind 127.0.0.1:$2"
        echo "Threads $1"
        echo "Log off"
        echo "ErrorLog $tmp/rampart-error.log"
        [ "$as_root" = 1 ] && echo "User nobody"
        echo "Map / $tmp/www"
    } >"$tmp/rampart.conf"
    bench_start ours_pid "$tmp/rampart.out" "http://127.0.0.1:$2/1k.txt" \
        "$httpd" -f "$tmp/rampart.conf"
}

start_nginx() { # workers port
    nginx_conf "$tmp/nginx" "$1" "$2" "$tmp/www" "    types { text/plain txt; }"
    bench_start nginx_pid "$tmp/nginx/logs/stdout" "http://127.0.0.1:$2/1k.txt" \
        "$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log"
}

echo "rampart bench: $(nproc) CPUs, wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds, keep-alive"
echo "  ours:  $httpd"
echo "  nginx: $("$nginx" -v 2>&1 | sed 's/^nginx version: //')"
echo

results=()
for w in $WORKERS; do
    ours_port=$(free_port)
    nginx_port=$(free_port)
    start_ours "$w" "$ours_port"
    start_nginx "$w" "$nginx_port"
    for f in 1k 100k; do
        ours_url="http://127.0.0.1:$ours_port/$f.txt"
        nginx_url="http://127.0.0.1:$nginx_port/$f.txt"
        warm_up "$ours_url"
        warm_up "$nginx_url"
        o_rps=(); o_p99=(); n_rps=(); n_p99=(); o_err=0; n_err=0
        for r in $(seq 1 "$ROUNDS"); do
            read -r a b e <<<"$(run_wrk "$ours_url")"
            o_rps+=("$a"); o_p99+=("$b"); o_err=$((o_err + e))
            printf '  %-7s workers=%s round %s: ours  %10.0f req/s  p99 %8.2f ms  errors %s\n' "$f" "$w" "$r" "$a" "$b" "$e"
            read -r a b e <<<"$(run_wrk "$nginx_url")"
            n_rps+=("$a"); n_p99+=("$b"); n_err=$((n_err + e))
            printf '  %-7s workers=%s round %s: nginx %10.0f req/s  p99 %8.2f ms  errors %s\n' "$f" "$w" "$r" "$a" "$b" "$e"
        done
        results+=("$f $w $(median "${o_rps[@]}") $(median "${n_rps[@]}") $(median "${o_p99[@]}") $(median "${n_p99[@]}") $o_err $n_err")
    done
    bench_stop_all
done

echo
printf '%-8s %7s %12s %12s %11s %12s %12s\n' case workers "ours req/s" "nginx req/s" "ours/nginx" "ours p99" "nginx p99"
for line in "${results[@]}"; do
    read -r f w orps nrps op99 np99 oerr nerr <<<"$line"
    label="1 KiB"; [ "$f" = 100k ] && label="100 KiB"
    note=""
    if [ "$oerr" != 0 ] || [ "$nerr" != 0 ]; then note="  errors: ours $oerr, nginx $nerr"; fi
    printf '%-8s %7s %12.0f %12.0f %11s %9.2f ms %9.2f ms%s\n' \
        "$label" "$w" "$orps" "$nrps" "$(ratio "$orps" "$nrps")" "$op99" "$np99" "$note"
done
