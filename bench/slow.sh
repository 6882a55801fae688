#!/usr/bin/env bash
# bench/slow.sh - slow-client attacks, rampart-httpd next to nginx.
#
# For each slowhttptest mode (-H slow headers, -B slow body, -X slow read),
# each server in turn runs with the same descriptor limit (ulimit -n, default
# 1024) and one worker, is attacked with 1.2 x that many connections, and a
# normal client (bench/slow-probe.py) meanwhile fetches a 1 KiB file on a
# fresh connection every 100 ms.  Printed per mode and server: the normal
# client's successes, its median and p99 latency (a failure counts 5 s), and
# the server's open descriptors before, at the end of, and after the attack.
#
#   bench/slow.sh            SLOW_SECONDS (30) per attack, SLOW_FDS (1024)
#
# Needs slowhttptest (Debian package; scripts/install-deps.sh installs it).
# Only 127.0.0.1 is used; only the processes started here are stopped.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init slow 1
bench_need bin/rampart-httpd modules/mod_static.so
command -v slowhttptest >/dev/null || die "slowhttptest not found: run 'make deps'"
SECS=${SLOW_SECONDS:-30}
FDS=${SLOW_FDS:-1024}
[[ "$SECS" =~ ^[0-9]+$ && "$SECS" -ge 10 && "$SECS" -le 120 ]] || die "SLOW_SECONDS: 10..120"
[[ "$FDS" =~ ^[0-9]+$ && "$FDS" -ge 256 && "$FDS" -le 8192 ]] || die "SLOW_FDS: 256..8192"
CONNS_ATTACK=$((FDS * 12 / 10))
nginx_bin=$(bench_nginx)

mkdir -p "$tmp/www"
head -c 1024 /dev/zero | tr '\0' 'a' >"$tmp/www/1k.txt"
head -c $((1024 * 1024)) /dev/urandom >"$tmp/www/big.bin"
chmod -R a+rX "$tmp/www"

fds_of() { # pids...: open descriptors of them all
    local n=0 p
    for p in "$@"; do n=$((n + $(ls "/proc/$p/fd" 2>/dev/null | wc -l))); done
    echo "$n"
}

server_pids() { # pid: it and its children (nginx workers)
    echo "$1" $(pgrep -P "$1" || true)
}

start_ours() { # port
    local conf=$tmp/rampart.conf user=""
    [ "$as_root" = 1 ] && user="User nobody"
    printf 'LoadModule static mod_static.so\nBind 127.0.0.1:%s\nThreads 1\nLog off\n%s\nMap / %s\n' \
        "$1" "$user" "$tmp/www" >"$conf"
    bench_start SRV "$tmp/ours.log" "http://127.0.0.1:$1/1k.txt" \
        bash -c "ulimit -n $FDS && exec '$build_dir/bin/rampart-httpd' -f '$conf'"
}

start_nginx() { # port
    rm -rf "$tmp/nginx"
    nginx_conf "$tmp/nginx" 1 "$1" "$tmp/www" ""
    sed -i "s/worker_connections 1024;/worker_connections $FDS;/" "$tmp/nginx/nginx.conf"
    bench_start SRV "$tmp/nginx.log" "http://127.0.0.1:$1/1k.txt" \
        bash -c "ulimit -n $FDS && exec '$nginx_bin' -p '$tmp/nginx' -c '$tmp/nginx/nginx.conf'"
}

attack_args() { # mode port
    local u="http://127.0.0.1:$2"
    case $1 in
        H) echo "-H -c $CONNS_ATTACK -r 800 -i 5 -x 24 -l $SECS -u $u/1k.txt" ;;
        B) echo "-B -c $CONNS_ATTACK -r 800 -i 5 -s 65536 -l $SECS -u $u/1k.txt" ;;
        X) echo "-X -c $CONNS_ATTACK -r 800 -k 1 -n 2 -w 32 -y 64 -z 32 -l $SECS -u $u/big.bin" ;;
    esac
}

run_case() { # mode server
    local port pids base during after probe apid
    port=$(free_port)
    "start_$2" "$port"
    pids=$(server_pids "$SRV")
    base=$(fds_of $pids)
    # shellcheck disable=SC2046
    bash -c "ulimit -n $((CONNS_ATTACK * 2 + 64)) && exec timeout $((SECS + 30)) slowhttptest $(attack_args "$1" "$port")" \
        >"$tmp/attack-$1-$2.log" 2>&1 &
    apid=$!
    BENCH_PIDS+=("$apid")
    sleep 3 # let the attack ramp up to its connection count
    probe=$(python3 "$here/bench/slow-probe.py" "$port" /1k.txt $((SECS - 6)))
    pids=$(server_pids "$SRV")
    during=$(fds_of $pids)
    wait "$apid" 2>/dev/null || true
    after=$during
    for _ in $(seq 1 140); do # up to 70 s for the attack's connections to go
        after=$(fds_of $pids)
        [ "$after" -le $((base + 2)) ] && break
        sleep 0.5
    done
    local again
    again=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/1k.txt" || true)
    read -r ok total p50 p99 <<<"$probe"
    printf '%-5s %-6s %6s/%-6s %6.1f%% %9s %9s %6s %7s %6s %6s\n' "-$1" "$2" "$ok" "$total" \
        "$(awk -v a="$ok" -v b="$total" 'BEGIN { print b ? 100 * a / b : 0 }')" "$p50" "$p99" \
        "$base" "$during" "$after" "$again"
    bench_stop_all
}

echo "attacks: $CONNS_ATTACK connections (1.2 x ulimit -n $FDS), $SECS s each; one worker each"
printf '%-5s %-6s %13s %7s %9s %9s %6s %7s %6s %6s\n' mode server "ok/total" success \
    "p50 ms" "p99 ms" "fds" "during" "after" "then"
for mode in H B X; do
    for srv in ours nginx; do
        run_case "$mode" "$srv"
    done
done
