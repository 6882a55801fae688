# shellcheck shell=bash
# bench/lib.sh - what every bench script shares: settings from the
# environment, a scratch directory, the processes it started (stopped by pid
# on exit), readiness checks, wrk runs, medians and ratios.
#
#   . "$(dirname "$0")/lib.sh"
#   bench_init js 3             # name for messages, default rounds
#   bench_need bin/rampart modules/mod_js.so
#   pid=$(...); bench_own "$pid"   or   bench_spawn VAR cmd args...
#
# Environment: BUILD_DIR (build), BENCH_DURATION seconds per wrk run (5, at
# most 60), BENCH_ROUNDS (script's default, at most 7), BENCH_CONNECTIONS
# (32), BENCH_WRK_THREADS (2), BENCH_WORKERS (script's default).
# BENCH_CLIENT_CMD, an array, prefixes the load clients run_wrk starts (e.g.
# taskset -c 4-7); NGINX_WORKER_CONNECTIONS (1024) goes into nginx_conf.
# Only 127.0.0.1 is used.

die() { echo "bench/$BENCH_NAME: $*" >&2; exit 1; }

bench_init() { # name default-rounds [default-workers]
    BENCH_NAME=$1
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    build_dir=${BUILD_DIR:-build}
    case "$build_dir" in /*) ;; *) build_dir="$here/$build_dir" ;; esac
    DURATION=${BENCH_DURATION:-5}
    ROUNDS=${BENCH_ROUNDS:-$2}
    CONNS=${BENCH_CONNECTIONS:-32}
    WRK_THREADS=${BENCH_WRK_THREADS:-2}
    WORKERS=${BENCH_WORKERS:-${3:-1 2}}
    local t
    for t in "$DURATION" "$ROUNDS" "$CONNS" "$WRK_THREADS" $WORKERS; do
        [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "BENCH_* values must be positive integers"
    done
    [ "$DURATION" -le 60 ] || die "BENCH_DURATION is capped at 60 s per run"
    [ "$ROUNDS" -le 7 ] || die "BENCH_ROUNDS is capped at 7"
    command -v wrk >/dev/null || die "wrk not found: run 'make deps' (scripts/install-deps.sh)"
    command -v curl >/dev/null || die "curl not found: run 'make deps'"
    as_root=0
    [ "$(id -u)" = 0 ] && as_root=1
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/rp-bench-$BENCH_NAME.XXXXXX")
    chmod 0755 "$tmp" # readable by nobody when run as root
    BENCH_PIDS=()
    [ -n "${BENCH_CLIENT_CMD+set}" ] || BENCH_CLIENT_CMD=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_need() { # files relative to the build dir; builds when one is missing
    local f
    for f in "$@"; do
        if [ ! -e "$build_dir/$f" ]; then
            echo "bench/$BENCH_NAME: building first"
            cmake -S "$here" -B "$build_dir" >/dev/null
            cmake --build "$build_dir" -j"$(nproc)" >/dev/null
            return
        fi
    done
}

bench_nginx() { # prints the nginx binary or dies
    local n
    n=$(command -v nginx || echo /usr/sbin/nginx)
    [ -x "$n" ] || die "nginx not found: run 'make deps' (scripts/install-deps.sh)"
    echo "$n"
}

stop_pid() { # pid: TERM, wait up to 10 s, then KILL
    local pid=$1 _
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Start a server in the background, remember its pid (in the named variable
# and for the cleanup), and wait until url answers: for http(s):// a status
# below 400 (curl -f), for tcp://HOST/PORT an accepted connection - written
# with a slash, not host:port, because what follows tcp:// goes to bash's
# /dev/tcp/HOST/PORT as is.  log gets its output.
bench_start() { # var log url cmd args...
    local var=$1 log=$2 url=$3 pid _
    shift 3
    "$@" >"$log" 2>&1 &
    pid=$!
    BENCH_PIDS+=("$pid")
    printf -v "$var" '%s' "$pid"
    for _ in $(seq 1 100); do # 10 s
        kill -0 "$pid" 2>/dev/null || break
        if [[ "$url" == tcp://* ]]; then
            (exec 3<>"/dev/tcp/${url#tcp://}") 2>/dev/null && return 0
        else
            curl -fs -o /dev/null --max-time 2 "$url" && return 0
        fi
        sleep 0.1
    done
    cat "$log" >&2
    die "$1 did not start"
}

# Drop pids that have ended (waited for) from the cleanup list, so a later
# process that gets the same number is never signalled.
bench_forget() { # pids...
    local keep=() p q
    for p in "${BENCH_PIDS[@]}"; do
        for q in "$@"; do [ "$p" = "$q" ] && continue 2; done
        keep+=("$p")
    done
    BENCH_PIDS=("${keep[@]}")
}

bench_stop_all() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do stop_pid "$pid"; done
    BENCH_PIDS=()
}

bench_cleanup() {
    bench_stop_all
    rm -rf "$tmp"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# An nginx configuration in prefix p: workers, port, document root, and any
# extra lines for the http block.
nginx_conf() { # p workers port root extra-http-lines
    local user_line="# not root: workers run as the invoking user"
    [ "$as_root" = 1 ] && user_line="user nobody nogroup;"
    mkdir -p "$1/logs" "$1/tmp"
    cat >"$1/nginx.conf" <<NGINX
$user_line
daemon off;
master_process on;
worker_processes $2;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections ${NGINX_WORKER_CONNECTIONS:-1024}; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
$5
    server {
        listen 127.0.0.1:$3;
        root $4;
        location / { }
    }
}
NGINX
}

# One wrk run; prints "req_per_sec p99_ms errors".  Extra wrk arguments
# (headers) go before the url.
run_wrk() { # [wrk args...] url
    local r
    r=$(run_wrk_n "$@") || return 1
    echo "${r% *}"
}

# One wrk run; prints "req_per_sec p99_ms errors requests" (requests: the
# total wrk completed).  Run in the foreground of the script's process group
# (timeout --foreground) so that Ctrl-C reaches wrk at once.
run_wrk_n() { # [wrk args...] url
    local out rps p99 errs reqs
    out=$(timeout --foreground $((DURATION + 30)) "${BENCH_CLIENT_CMD[@]}" \
        wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" 2>&1) ||
        { echo "$out" >&2; die "wrk failed: $*"; }
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    reqs=$(awk '/ requests in / {print $1}' <<<"$out")
    p99=$(awk '$1 == "99%" {
                v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
                printf "%.3f", v }' <<<"$out")
    errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {
                for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i } END {print n + 0}' <<<"$out")
    if [ -z "$rps" ] || [ -z "$p99" ] || [ -z "$reqs" ]; then
        echo "$out" >&2
        die "could not parse wrk output"
    fi
    echo "$rps $p99 $errs $reqs"
}

warm_up() { # [wrk args...] url: not measured
    timeout --foreground 30 "${BENCH_CLIENT_CMD[@]}" wrk -t1 -c4 -d1s "$@" >/dev/null 2>&1 || true
}

median() { # numbers...
    printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
        if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

ratio() { # a b
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

# Processor time (user + system) a set of processes has used so far, in
# clock ticks (getconf CLK_TCK a second).  A process's line in /proc sums
# all its threads, the ended ones included.
cpu_ticks() { # pids...
    local p t=0 v
    for p in "$@"; do
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# A process and its children (nginx: the master and its workers).
proc_family() { # pid
    local kids
    kids=$(pgrep -P "$1" | tr '\n' ' ') || true
    echo "$1 $kids"
}

# 100 KiB (or n bytes) of compressible, non-trivial HTML, about 4:1 with gzip.
bench_make_html() { # file [bytes]
    python3 - "$1" "${2:-102400}" <<'EOF'
import random, sys
rng = random.Random(42)
words = ["<div>", "</div>", "<p>", "</p>", "rampart", "server", "alpha", "beta",
         "gamma", "delta", "lorem", "ipsum", "dolor", "sit", "amet", "\n"]
size = int(sys.argv[2])
out = []
n = 0
while n < size:
    w = "%s%d " % (rng.choice(words), rng.randint(0, 9999))
    out.append(w)
    n += len(w)
open(sys.argv[1], "w").write("".join(out)[:size])
EOF
}
