#!/usr/bin/env bash
# bench/scale.sh - issue 10's bench: rampart-httpd against nginx at several
# worker counts (ours "Threads N", nginx "worker_processes N"), side by side.
#
# Cases, for every worker count in BENCH_WORKERS (default "1 2 4 8", capped by
# the cores the servers may use):
#   idle        2,000 keep-alive connections that each made one request, held
#               idle: server RSS delta / 2,000 (bench/idle-conns.py)
#   1k, 100k    keep-alive GETs of a 1 KiB and a 100 KiB file, wrk at each of
#               BENCH_CONNECTIONS (default "256 50") connections
#   close       1 KiB with a new connection per request (Connection: close)
#   gzip        a 100 KiB .html with Accept-Encoding: gzip: ours from its
#               .gzipcache (mod_gzip, CompressFiles on, cache warmed first),
#               nginx gzip_static from a pre-made .gz; and ours plain static
#               of the same file (no mod_gzip loaded) as its own yardstick
#   tls         1 KiB over TLS 1.3, keep-alive (wrk)
#   tls-full    new TLS connection per request: full handshakes per second
#   tls-resume  the same with session resumption (TLS 1.3 tickets)
#
# Every measured run reports req/s, p99 latency and the server's processor
# time per request (utime + stime from /proc/PID/stat over the run; nginx:
# master and workers summed).  Runs alternate ours, nginx, ours, nginx, ...
# (ROUNDS each) and the table shows medians; then the issue's goals with the
# measured ratios, MET or NOT MET.  Goals are never pass/fail for the script.
#
# TLS handshakes use `openssl s_time -new` / `-reuse` (BENCH_TLS_CLIENTS
# processes in parallel, default 4 per worker, each fetching /1k.txt over
# HTTP/1.0): it comes with openssl, which the build needs anyway, it has an
# explicit resumption mode, and it marks each resumed connection, so the
# script can show that resumption really happened on both servers.
#
# With 4 or more usable cores the servers are pinned to the first half and
# every client (wrk, s_time, python) to the second (taskset); with fewer,
# nothing is pinned and the header says so (BENCH_PIN=1 or 0 forces it).
#
# Environment: see bench/lib.sh (BUILD_DIR, BENCH_DURATION 5, BENCH_ROUNDS 2,
# BENCH_WORKERS, BENCH_WRK_THREADS: default the client cores when pinned, else
# 2), and BENCH_CONNECTIONS (a list here, "256 50"; the first is used for the
# close, gzip and TLS cases), BENCH_IDLE_CONNS (2000), BENCH_TLS_CLIENTS.
# QUICK=1: a smoke run, 1 round of 2 s (unless BENCH_ROUNDS/BENCH_DURATION).
# About 8 minutes on 2 cores with the defaults; QUICK=1 about 2.
# It starts only its own servers and clients, stops them by pid on exit (also
# on Ctrl-C), removes its temporary directory, and uses 127.0.0.1 only.
set -euo pipefail
if [ "${QUICK:-0}" = 1 ]; then
    BENCH_ROUNDS=${BENCH_ROUNDS:-1}
    BENCH_DURATION=${BENCH_DURATION:-2}
fi
conns_list=${BENCH_CONNECTIONS:-256 50}
BENCH_CONNECTIONS=${conns_list%% *} # lib.sh checks one value
workers_given=${BENCH_WORKERS:-}
wrk_threads_given=${BENCH_WRK_THREADS:-}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_init scale 2 "1 2 4 8"
bench_need bin/rampart-httpd modules/mod_static.so modules/mod_gzip.so
httpd="$build_dir/bin/rampart-httpd"
nginx=$(bench_nginx)
for t in openssl python3 pgrep gzip; do
    command -v "$t" >/dev/null || die "$t not found: run 'make deps'"
done
IDLE_N=${BENCH_IDLE_CONNS:-2000}
for t in $conns_list "$IDLE_N" ${BENCH_TLS_CLIENTS:-}; do
    [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "BENCH_* values must be positive integers"
done
[ "$IDLE_N" -le 10000 ] || die "BENCH_IDLE_CONNS is capped at 10000"
clk_tck=$(getconf CLK_TCK)

# ---- cores: pin servers and clients apart when there are enough ---------------
read -r -a cpus <<<"$(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))')"
ncpu=${#cpus[@]}
SERVER_CMD=()
pin=${BENCH_PIN:-auto} # auto: pin from 4 cores; 1/0 force it on/off
if [ "$pin" = auto ]; then
    pin=0
    [ "$ncpu" -lt 4 ] || pin=1
fi
if [ "$pin" = 1 ] && [ "$ncpu" -ge 2 ]; then
    half=$((ncpu / 2))
    srv_cpus=$(IFS=,; echo "${cpus[*]:0:half}")
    cli_cpus=$(IFS=,; echo "${cpus[*]:half}")
    command -v taskset >/dev/null || die "taskset not found (util-linux)"
    SERVER_CMD=(taskset -c "$srv_cpus")
    BENCH_CLIENT_CMD=(taskset -c "$cli_cpus")
    server_cores=$half
    pin_note="servers pinned to CPUs $srv_cpus, clients to $cli_cpus"
    [ -n "$wrk_threads_given" ] || WRK_THREADS=$((ncpu - half))
else
    server_cores=$ncpu
    pin_note="not pinned ($ncpu CPUs; pinning from 4): servers and clients share the CPUs"
fi
if [ -z "$workers_given" ]; then
    capped=""
    for w in $WORKERS; do [ "$w" -le "$server_cores" ] && capped+="${capped:+ }$w"; done
    WORKERS=${capped:-1}
fi

# ---- descriptors: 2,000 idle connections and their client in one limit ---------
need_fds=$((IDLE_N + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
    ulimit -n "$need_fds" 2>/dev/null || die "need 'ulimit -n' >= $need_fds for $IDLE_N idle connections"
fi
NGINX_WORKER_CONNECTIONS=$need_fds

# ---- files -----------------------------------------------------------------------
mkdir -p "$tmp/www" "$tmp/gz" "$tmp/ngz" "$tmp/tls"
head -c 1024 /dev/zero | tr '\0' 'a' >"$tmp/www/1k.txt"
head -c 102400 /dev/zero | tr '\0' 'b' >"$tmp/www/100k.txt"
bench_make_html "$tmp/www/100k.html"
cp "$tmp/www/100k.html" "$tmp/gz/100k.html"
cp "$tmp/www/100k.html" "$tmp/ngz/100k.html"
gzip -1 -n -c "$tmp/ngz/100k.html" >"$tmp/ngz/100k.html.gz" # CompressLevel 1's effort
touch -r "$tmp/ngz/100k.html" "$tmp/ngz/100k.html.gz"
# One self-signed EC P-256 certificate for both servers.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -nodes -days 2 \
    -keyout "$tmp/tls/key.pem" -out "$tmp/tls/cert.pem" -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 ||
    die "openssl could not make a certificate"
chmod -R a+rX "$tmp"
[ "$as_root" = 1 ] && chown nobody "$tmp/gz" # mod_gzip writes its cache as the server user

# ---- servers -----------------------------------------------------------------------
# ours_main: mod_static only, a plain and a TLS listener; ours_gz: mod_static +
# mod_gzip (so the plain cases pay nothing for a filter they do not use).
# nginx: one master with three server blocks (plain, TLS, gzip_static).
ours_pid="" oursgz_pid="" nginx_pid="" nginx_pids=""
start_servers() { # workers
    local w=$1 common
    p_plain=$(free_port); p_tls=$(free_port); p_gz=$(free_port)
    n_plain=$(free_port); n_tls=$(free_port); n_gz=$(free_port)
    common="Threads $w
Log off
ErrorLog $tmp/rampart-error.log"
    [ "$as_root" = 1 ] && common+=$'\nUser nobody'
    cat >"$tmp/ours-main.conf" <<EOF
LoadModule static mod_static.so
Bind 127.0.0.1:$p_plain
Bind 127.0.0.1:$p_tls tls
SslCertFile $tmp/tls/cert.pem
SslKeyFile $tmp/tls/key.pem
SslMinVersion tls1.3
$common
Map / $tmp/www
EOF
    cat >"$tmp/ours-gz.conf" <<EOF
LoadModule static mod_static.so
LoadModule gzip mod_gzip.so
Bind 127.0.0.1:$p_gz
CompressFiles on
CompressLevel 1
$common
Map / $tmp/gz
EOF
    nginx_conf "$tmp/nginx" "$w" "$n_plain" "$tmp/www" "    types { text/plain txt; text/html html; }
    server {
        listen 127.0.0.1:$n_tls ssl;
        root $tmp/www;
        ssl_certificate $tmp/tls/cert.pem;
        ssl_certificate_key $tmp/tls/key.pem;
        ssl_protocols TLSv1.3;
        location / { }
    }
    server {
        listen 127.0.0.1:$n_gz;
        root $tmp/ngz;
        gzip_static on;
        gzip_vary on;
        location / { }
    }"
    bench_start ours_pid "$tmp/ours-main.out" "http://127.0.0.1:$p_plain/1k.txt" \
        "${SERVER_CMD[@]}" "$httpd" -f "$tmp/ours-main.conf"
    bench_start oursgz_pid "$tmp/ours-gz.out" "http://127.0.0.1:$p_gz/100k.html" \
        "${SERVER_CMD[@]}" "$httpd" -f "$tmp/ours-gz.conf"
    bench_start nginx_pid "$tmp/nginx/logs/stdout" "http://127.0.0.1:$n_plain/1k.txt" \
        "${SERVER_CMD[@]}" "$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log"
    nginx_pids=$(proc_family "$nginx_pid")
    [ "$(wc -w <<<"$nginx_pids")" -gt 1 ] || die "nginx has no workers"
}

# Every answer is what the file says, before anything is timed.
check_body() { # name url file [curl args...]
    local name=$1 url=$2 file=$3
    shift 3
    curl -fsk "$@" -o "$tmp/check.body" "$url" || die "$name: request failed: $url"
    cmp -s "$tmp/check.body" "$file" || die "$name: wrong body from $url"
}

check_gzip() { # name url
    curl -fs -D "$tmp/check.h" -H 'Accept-Encoding: gzip' -o "$tmp/check.gz" "$2" || die "$1: request failed"
    grep -qi '^content-encoding: gzip' "$tmp/check.h" || die "$1: answer is not gzip-encoded"
    gzip -dc "$tmp/check.gz" | cmp -s - "$tmp/www/100k.html" || die "$1: body does not decompress to the file"
}

tls_info() { # port: "TLSv1.3 TLS_AES_256_GCM_SHA384"
    timeout 10 openssl s_client -connect "127.0.0.1:$1" -brief </dev/null 2>&1 |
        awk -F': ' '/^Protocol version/ {p = $2} /^Ciphersuite/ {c = $2} END {print p, c}'
}

check_servers() {
    local f
    for f in 1k.txt 100k.txt 100k.html; do
        check_body ours "http://127.0.0.1:$p_plain/$f" "$tmp/www/$f"
        check_body nginx "http://127.0.0.1:$n_plain/$f" "$tmp/www/$f"
    done
    check_body "ours TLS" "https://127.0.0.1:$p_tls/1k.txt" "$tmp/www/1k.txt"
    check_body "nginx TLS" "https://127.0.0.1:$n_tls/1k.txt" "$tmp/www/1k.txt"
    check_gzip ours "http://127.0.0.1:$p_gz/100k.html" # makes the .gzipcache copy
    check_gzip ours "http://127.0.0.1:$p_gz/100k.html"
    [ -f "$tmp/gz/.gzipcache/100k.html.gz" ] || die "ours: no .gzipcache copy was made"
    check_gzip nginx "http://127.0.0.1:$n_gz/100k.html"
    tls_ours=$(tls_info "$p_tls")
    tls_nginx=$(tls_info "$n_tls")
    if [ "${tls_ours%% *}" != TLSv1.3 ] || [ "$tls_ours" != "$tls_nginx" ]; then
        die "TLS differs: ours '$tls_ours', nginx '$tls_nginx'"
    fi
}

# ---- measuring -----------------------------------------------------------------------
us_per() { # ticks count: processor microseconds per item
    awk -v t="$1" -v n="$2" -v hz="$clk_tck" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "n/a" }'
}

# One wrk run against url; sets M_RPS M_P99 M_ERR M_CPU.
wrk_measure() { # "pids" conns [wrk args...] url
    local pids=$1 t0 t1 line reqs
    CONNS=$2
    shift 2
    # wrk needs a connection per thread at least.
    local WRK_THREADS=$((WRK_THREADS < CONNS ? WRK_THREADS : CONNS))
    # shellcheck disable=SC2086 # pids is a list
    t0=$(cpu_ticks $pids)
    line=$(run_wrk_n "$@") || exit 1
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $pids)
    read -r M_RPS M_P99 M_ERR reqs <<<"$line"
    M_CPU=$(us_per $((t1 - t0)) "$reqs")
}

# BENCH_TLS_CLIENTS openssl s_time processes in parallel against port, for
# DURATION seconds; sets M_RPS (connections a second, by the wall clock),
# M_CPU (server processor time per connection), M_RES (% resumed).
stime_measure() { # "pids" port new|reuse clients
    local pids=$1 port=$2 mode=$3 n=$4 i p t0 t1 s0 s1 spids=() conns=0 resumed=0 c r
    # shellcheck disable=SC2086
    t0=$(cpu_ticks $pids)
    s0=$(date +%s%N)
    for i in $(seq 1 "$n"); do
        timeout $((DURATION + 30)) "${BENCH_CLIENT_CMD[@]}" openssl s_time -connect "127.0.0.1:$port" \
            "-$mode" -time "$DURATION" -www /1k.txt >"$tmp/stime.$i" 2>&1 &
        spids+=("$!")
    done
    BENCH_PIDS+=("${spids[@]}")
    for p in "${spids[@]}"; do
        wait "$p" || { tail -5 "$tmp"/stime.* >&2; die "openssl s_time failed against port $port"; }
    done
    s1=$(date +%s%N)
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $pids)
    bench_forget "${spids[@]}"
    for i in $(seq 1 "$n"); do
        c=$(awk '/connections in .* real seconds/ {print $1}' "$tmp/stime.$i")
        # Progress marks: '*' a full handshake, 'r' a resumed one.
        r=$(awk '/^[*r]+$/ {n += gsub(/r/, "")} END {print n + 0}' "$tmp/stime.$i")
        [ -n "$c" ] || { cat "$tmp/stime.$i" >&2; die "could not parse openssl s_time output"; }
        conns=$((conns + c)); resumed=$((resumed + r))
    done
    M_RPS=$(awk -v c="$conns" -v ns=$((s1 - s0)) 'BEGIN { printf "%.1f", c * 1e9 / ns }')
    M_CPU=$(us_per $((t1 - t0)) "$conns")
    M_RES=$(awk -v r="$resumed" -v c="$conns" 'BEGIN { printf "%.0f", c ? 100 * r / c : 0 }')
    M_P99=-
    M_ERR=0
}

# Results, one line each: key workers ours nginx ours_p99 nginx_p99
# ours_cpu nginx_cpu [note...]; '-' where a value does not apply.
store() { # key w ours nginx op99 np99 ocpu ncpu [note...]
    echo "$*" >>"$tmp/rows"
}

progress() { # case w round who
    local p99 unit="req/s" err=""
    printf -v p99 'p99 %8s ms' "$M_P99"
    [ "$M_P99" = - ] && { p99=""; unit="conn/s"; }
    [ "$M_ERR" = 0 ] || err="  errors $M_ERR"
    printf '  %-16s w=%s round %s %-5s %10.0f %-6s %-15s %7s us/req%s\n' \
        "$1" "$2" "$3" "$4" "$M_RPS" "$unit" "$p99" "$M_CPU" "$err"
}

# A wrk case, interleaved ours/nginx ROUNDS times, medians stored.
wrk_case() { # key w conns ours_pids ours_url nginx_url [wrk args...]
    local key=$1 w=$2 c=$3 opids=$4 uo=$5 un=$6 r
    local o_rps=() o_p99=() o_cpu=() n_rps=() n_p99=() n_cpu=() oe=0 ne=0
    shift 6
    warm_up "$@" "$uo"
    warm_up "$@" "$un"
    for r in $(seq 1 "$ROUNDS"); do
        wrk_measure "$opids" "$c" "$@" "$uo"
        o_rps+=("$M_RPS"); o_p99+=("$M_P99"); o_cpu+=("$M_CPU"); oe=$((oe + M_ERR))
        progress "$key" "$w" "$r" ours
        wrk_measure "$nginx_pids" "$c" "$@" "$un"
        n_rps+=("$M_RPS"); n_p99+=("$M_P99"); n_cpu+=("$M_CPU"); ne=$((ne + M_ERR))
        progress "$key" "$w" "$r" nginx
    done
    local note=""
    [ "$oe" = 0 ] && [ "$ne" = 0 ] || note="errors: ours $oe, nginx $ne"
    store "$key" "$w" "$(median "${o_rps[@]}")" "$(median "${n_rps[@]}")" "$(median "${o_p99[@]}")" \
        "$(median "${n_p99[@]}")" "$(median "${o_cpu[@]}")" "$(median "${n_cpu[@]}")" "$note"
}

# gzip'd 100 KiB .html: ours from .gzipcache, nginx gzip_static, and ours
# plain static of the same file; interleaved in that order.
gzip_case() { # w conns
    local w=$1 c=$2 r gz=(-H 'Accept-Encoding: gzip')
    local uo="http://127.0.0.1:$p_gz/100k.html" un="http://127.0.0.1:$n_gz/100k.html"
    local up="http://127.0.0.1:$p_plain/100k.html"
    local o_rps=() o_p99=() o_cpu=() n_rps=() n_p99=() n_cpu=() p_rps=() p_p99=() p_cpu=() oe=0 ne=0 pe=0
    warm_up "${gz[@]}" "$uo"
    warm_up "${gz[@]}" "$un"
    warm_up "$up"
    for r in $(seq 1 "$ROUNDS"); do
        wrk_measure "$oursgz_pid" "$c" "${gz[@]}" "$uo"
        o_rps+=("$M_RPS"); o_p99+=("$M_P99"); o_cpu+=("$M_CPU"); oe=$((oe + M_ERR))
        progress "gzip:c$c" "$w" "$r" ours
        wrk_measure "$nginx_pids" "$c" "${gz[@]}" "$un"
        n_rps+=("$M_RPS"); n_p99+=("$M_P99"); n_cpu+=("$M_CPU"); ne=$((ne + M_ERR))
        progress "gzip:c$c" "$w" "$r" nginx
        wrk_measure "$ours_pid" "$c" "$up"
        p_rps+=("$M_RPS"); p_p99+=("$M_P99"); p_cpu+=("$M_CPU"); pe=$((pe + M_ERR))
        progress "plain-html:c$c" "$w" "$r" ours
    done
    local note=""
    [ "$oe" = 0 ] && [ "$ne" = 0 ] || note="errors: ours $oe, nginx $ne"
    store "gzip:c$c" "$w" "$(median "${o_rps[@]}")" "$(median "${n_rps[@]}")" "$(median "${o_p99[@]}")" \
        "$(median "${n_p99[@]}")" "$(median "${o_cpu[@]}")" "$(median "${n_cpu[@]}")" "$note"
    note=""
    [ "$pe" = 0 ] || note="errors: ours $pe"
    store "plain-html:c$c" "$w" "$(median "${p_rps[@]}")" - "$(median "${p_p99[@]}")" - \
        "$(median "${p_cpu[@]}")" - "$note"
}

tls_handshake_case() { # key w new|reuse clients
    local key=$1 w=$2 mode=$3 n=$4 r
    local o_rps=() o_cpu=() n_rps=() n_cpu=() ores=100 nres=100
    for r in $(seq 1 "$ROUNDS"); do
        stime_measure "$ours_pid" "$p_tls" "$mode" "$n"
        o_rps+=("$M_RPS"); o_cpu+=("$M_CPU"); [ "$M_RES" -lt "$ores" ] && ores=$M_RES
        progress "$key" "$w" "$r" ours
        stime_measure "$nginx_pids" "$n_tls" "$mode" "$n"
        n_rps+=("$M_RPS"); n_cpu+=("$M_CPU"); [ "$M_RES" -lt "$nres" ] && nres=$M_RES
        progress "$key" "$w" "$r" nginx
    done
    local note="$n s_time clients"
    [ "$mode" = reuse ] && note+=", resumed: ours $ores%, nginx $nres%"
    store "$key" "$w" "$(median "${o_rps[@]}")" "$(median "${n_rps[@]}")" - - \
        "$(median "${o_cpu[@]}")" "$(median "${n_cpu[@]}")" "$note"
}

# Idle keep-alive memory on the freshly started servers, before any load.
idle_one() { # port "pids": sets I_BYTES I_KIB I_CLOSED
    local out
    # shellcheck disable=SC2086
    out=$("${BENCH_CLIENT_CMD[@]}" python3 "$here/bench/idle-conns.py" "$1" /1k.txt "$IDLE_N" $2) ||
        die "idle-conns.py failed against port $1"
    read -r b a I_BYTES I_CLOSED <<<"$out"
    I_KIB=$((a - b))
}

idle_case() { # w
    local w=$1 ob ok oc note=""
    idle_one "$p_plain" "$ours_pid"
    ob=$I_BYTES; ok=$I_KIB; oc=$I_CLOSED
    idle_one "$n_plain" "$nginx_pids"
    printf '  %-16s w=%s ours %s B/conn (%s KiB for %s), nginx %s B/conn (%s KiB)\n' \
        idle "$w" "$ob" "$ok" "$IDLE_N" "$I_BYTES" "$I_KIB"
    store idle-kib "$w" "$ok" "$I_KIB" - - - -
    [ "$oc" = 0 ] && [ "$I_CLOSED" = 0 ] || note="closed early: ours $oc, nginx $I_CLOSED"
    store idle "$w" "$ob" "$I_BYTES" - - - - "$note"
}

# ---- run -------------------------------------------------------------------------
c1=${conns_list%% *}
wrk_c=${conns_list// //}
echo "rampart scale bench: $ncpu CPUs, $pin_note"
echo "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  workers: $WORKERS; wrk -t$WRK_THREADS -c$wrk_c -d${DURATION}s --latency; $ROUNDS round(s), median; interleaved ours/nginx"
echo "  ours:  $httpd (Threads N; mod_static, + mod_gzip CompressFiles on for gzip)"
echo "  nginx: $("$nginx" -v 2>&1 | sed 's/^nginx version: //') (worker_processes N; gzip_static on for gzip)"
echo "  TLS: one self-signed EC P-256 certificate, TLS 1.3 only on both; handshakes by openssl s_time -new / -reuse"
echo "  CPU us/req: server utime+stime (/proc/PID/stat; nginx master+workers) / requests"
echo

start=$(date +%s)
for w in $WORKERS; do
    start_servers "$w"
    check_servers
    [ -n "${tls_line:-}" ] || { tls_line=$tls_ours; echo "  TLS negotiated by both: $tls_line"; }
    idle_case "$w"
    for c in $conns_list; do
        for f in 1k 100k; do
            wrk_case "$f:c$c" "$w" "$c" "$ours_pid" "http://127.0.0.1:$p_plain/$f.txt" \
                "http://127.0.0.1:$n_plain/$f.txt"
        done
    done
    wrk_case "close:c$c1" "$w" "$c1" "$ours_pid" "http://127.0.0.1:$p_plain/1k.txt" \
        "http://127.0.0.1:$n_plain/1k.txt" -H 'Connection: close'
    gzip_case "$w" "$c1"
    wrk_case "tls:c$c1" "$w" "$c1" "$ours_pid" "https://127.0.0.1:$p_tls/1k.txt" \
        "https://127.0.0.1:$n_tls/1k.txt"
    tls_clients=${BENCH_TLS_CLIENTS:-$((4 * w))}
    tls_handshake_case tls-full "$w" new "$tls_clients"
    tls_handshake_case tls-resume "$w" reuse "$tls_clients"
    bench_stop_all
done

# ---- the table and the goals of issue 10 ---------------------------------------------
# One awk over the stored rows (a fork per cell is slow on a loaded machine).
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - start)) s"
echo
awk -v workers="$WORKERS" -v conns="$conns_list" -v c1="$c1" -v idle_n="$IDLE_N" '
function label(k,   b, c) {
    b = k; c = ""
    if (index(k, ":")) { b = substr(k, 1, index(k, ":") - 1); c = " " substr(k, index(k, ":") + 1) }
    if (b == "idle") return "idle keep-alive, B/conn"
    if (b == "1k") return "1 KiB keep-alive" c
    if (b == "100k") return "100 KiB keep-alive" c
    if (b == "close") return "1 KiB new conn/req" c
    if (b == "gzip") return "gzip 100 KiB .html" c
    if (b == "plain-html") return " ours plain .html" c
    if (b == "tls") return "TLS 1 KiB keep-alive" c
    if (b == "tls-full") return "TLS full handshake/s"
    if (b == "tls-resume") return "TLS resumed handshake/s"
    return k
}
function na(v) { return v == "" || v == "-" || v == "n/a" }
function num(v) { return na(v) ? v : (v >= 100 ? sprintf("%.0f", v) : sprintf("%.1f", v)) }
function rat(a, b) { return (na(a) || na(b) || b <= 0) ? "-" : sprintf("%.2f", a / b) }
function val(key, i) { return (key in have) ? v[key, i] : "-" }
function goal(text, x, op, t,   ok, verdict) {
    total++
    if (na(x)) verdict = "NOT MEASURED"
    else {
        ok = (op == ">=") ? x >= t : (op == "<=") ? x <= t : x < t
        verdict = ok ? "MET" : "NOT MET"
        met += ok
    }
    printf "  %-64s %8s  %s\n", text, x, verdict
}
{
    key = $1 "|" $2
    have[key] = 1
    for (i = 3; i <= 8; i++) v[key, i - 3] = $i
    note = ""
    for (i = 9; i <= NF; i++) note = note (i > 9 ? " " : "") $i
    notes[key] = note
    if ($1 != "idle-kib") order[++n] = key
}
END {
    fmt = "%-26s %2s %9s %9s %6s %9s %9s %7s %7s %6s%s\n"
    printf "%-29s %-26s %-20s %s\n", "", "---------- req/s ---------", "------ p99 ms ------", "--- CPU us/req ---"
    printf fmt, "case", "w", "ours", "nginx", "ratio", "ours", "nginx", "ours", "nginx", "ratio", "  note"
    for (j = 1; j <= n; j++) {
        k = order[j]; split(k, kw, "|")
        printf fmt, label(kw[1]), kw[2], num(v[k, 0]), num(v[k, 1]), rat(v[k, 0], v[k, 1]),
            v[k, 2], v[k, 3], num(v[k, 4]), num(v[k, 5]), rat(v[k, 4], v[k, 5]), notes[k] == "" ? "" : "  " notes[k]
    }
    print ""
    print "Goals (issue 10; ratio ours/nginx in this run, same workers)"
    nw = split(workers, W, " "); nc = split(conns, C, " ")
    for (a = 1; a <= nw; a++) {
        w = W[a]; s = w == 1 ? "worker" : "workers"
        for (b = 1; b <= nc; b++) {
            c = C[b]
            k = "1k:c" c "|" w
            goal("1 KiB keep-alive, " c " conns, " w " " s ": req/s >= 1.3 x nginx", rat(val(k, 0), val(k, 1)), ">=", 1.3)
            goal("1 KiB keep-alive, " c " conns, " w " " s ": CPU/req <= 0.77 x nginx", rat(val(k, 4), val(k, 5)), "<=", 0.77)
            k = "100k:c" c "|" w
            goal("100 KiB keep-alive, " c " conns, " w " " s ": req/s >= 1.0 x nginx", rat(val(k, 0), val(k, 1)), ">=", 1.0)
        }
        k = "close:c" c1 "|" w
        goal("new connection per request, " w " " s ": req/s >= 1.0 x nginx", rat(val(k, 0), val(k, 1)), ">=", 1.0)
        goal("idle keep-alive, " w " " s ": bytes/conn <= 1024 (ours)", val("idle|" w, 0), "<=", 1024)
        goal("idle keep-alive, " w " " s ": " idle_n " idle add < 2048 KiB RSS (ours)", val("idle-kib|" w, 0), "<", 2048)
        k = "gzip:c" c1 "|" w
        goal("gzip .gzipcache, " w " " s ": CPU/req <= 1.0 x nginx gzip_static", rat(val(k, 4), val(k, 5)), "<=", 1.0)
        goal("gzip .gzipcache, " w " " s ": req/s >= 0.95 x our plain static", rat(val(k, 0), val("plain-html:c" c1 "|" w, 0)), ">=", 0.95)
        k = "tls:c" c1 "|" w
        goal("TLS 1 KiB keep-alive, " w " " s ": req/s >= 1.0 x nginx", rat(val(k, 0), val(k, 1)), ">=", 1.0)
        goal("TLS full handshakes/s, " w " " s ": >= 1.0 x nginx", rat(val("tls-full|" w, 0), val("tls-full|" w, 1)), ">=", 1.0)
        goal("TLS resumed handshakes/s, " w " " s ": >= 1.0 x nginx", rat(val("tls-resume|" w, 0), val("tls-resume|" w, 1)), ">=", 1.0)
        split("1k 100k close gzip tls", P, " ")
        for (b = 1; b <= 5; b++) {
            k = P[b] ":c256|" w
            if (!(k in have)) continue
            t = label(P[b] ":c256"); sub(/ c256$/, "", t)
            goal("p99 at 256 conns, " t ", " w " " s ": <= 1.0 x nginx", rat(v[k, 2], v[k, 3]), "<=", 1.0)
        }
    }
    printf "  %d of %d goals met\n", met, total
}' "$tmp/rows"
