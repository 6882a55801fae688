#!/usr/bin/env bash
# bench/js.sh - JavaScript hello world: rampart (mod_js) against Node's http.
#
# Same answer on both sides: GET /hello.html -> 200, text/html,
# "<pre>Hello World!</pre>" (23 bytes), keep-alive.  Equal parallelism:
#   1 worker : rampart threads:1   vs  one node process
#   2 workers: rampart threads:2   vs  node cluster of 2 workers
# wrk runs against the two servers interleaved (rampart, node, rampart, node,
# ...) ROUNDS times each; the table shows the median req/s and the ratio.
#
# Environment: BUILD_DIR (build), BENCH_DURATION seconds per run (5),
# BENCH_ROUNDS (3), BENCH_CONNECTIONS (32), BENCH_WRK_THREADS (2),
# BENCH_WORKERS ("1 2"), NODE (node).  Default total: about 1.5 minutes.
#
# It starts only its own servers, stops them by pid on exit, 127.0.0.1 only.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-build}
case "$build_dir" in /*) ;; *) build_dir="$here/$build_dir" ;; esac
rampart="$build_dir/bin/rampart"
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-32}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WORKERS=${BENCH_WORKERS:-1 2}
NODE=${NODE:-node}

die() { echo "bench/js: $*" >&2; exit 1; }

for t in "$DURATION" "$ROUNDS" "$CONNS" "$WRK_THREADS"; do
    [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "BENCH_* values must be positive integers"
done
[ "$DURATION" -le 60 ] || die "BENCH_DURATION is capped at 60 s per run"
[ "$ROUNDS" -le 7 ] || die "BENCH_ROUNDS is capped at 7"

if [ ! -x "$rampart" ] || [ ! -e "$build_dir/modules/mod_js.so" ]; then
    echo "bench/js: building first"
    cmake -S "$here" -B "$build_dir" >/dev/null
    cmake --build "$build_dir" -j"$(nproc)" >/dev/null
fi
command -v wrk >/dev/null || die "wrk not found: run 'make deps' (scripts/install-deps.sh)"
command -v "$NODE" >/dev/null || die "node not found (set NODE=/path/to/node)"
command -v curl >/dev/null || die "curl not found: run 'make deps'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rp-bench-js.XXXXXX")
chmod 0755 "$tmp"
ours_pid=""
node_pid=""

stop_pid() { # pid: TERM, wait up to 10 s, then KILL (node's cluster workers
    local pid=$1 i # leave with their primary)
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
    stop_pid "$node_pid"; node_pid=""
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

wait_up() { # pid url
    local i
    for i in $(seq 1 100); do # 10 s
        kill -0 "$1" 2>/dev/null || return 1
        if curl -fs -o /dev/null "$2"; then return 0; fi
        sleep 0.1
    done
    return 1
}

cat > "$tmp/hello.js" <<'EOF'
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:" + process.env.PORT,
    user: "nobody",
    threads: parseInt(process.env.THREADS),
    map: {
        "/hello.html": function () { return {html: "<pre>Hello World!</pre>"}; }
    }
});
EOF

cat > "$tmp/node_hello.js" <<'EOF'
const http = require("http");
const cluster = require("cluster");
const n = parseInt(process.env.THREADS, 10);
const body = "<pre>Hello World!</pre>";
function serve() {
    const srv = http.createServer((req, res) => {
        res.writeHead(200, {"Content-Type": "text/html", "Content-Length": body.length});
        res.end(body);
    });
    srv.keepAliveTimeout = 60000;
    srv.listen(parseInt(process.env.PORT, 10), "127.0.0.1");
}
if (n > 1 && cluster.isPrimary) {
    for (let i = 0; i < n; i++) cluster.fork();
    process.on("SIGTERM", () => {
        for (const id in cluster.workers) cluster.workers[id].kill("SIGTERM");
        process.exit(0);
    });
} else {
    serve();
}
EOF
chmod 0644 "$tmp"/*.js

start_ours() { # threads port
    PORT=$2 THREADS=$1 "$rampart" "$tmp/hello.js" >"$tmp/ours.log" 2>&1 &
    ours_pid=$!
    wait_up "$ours_pid" "http://127.0.0.1:$2/hello.html" ||
        { cat "$tmp/ours.log" >&2; die "rampart did not start"; }
}
start_node() { # threads port
    PORT=$2 THREADS=$1 "$NODE" "$tmp/node_hello.js" >"$tmp/node.log" 2>&1 &
    node_pid=$!
    wait_up "$node_pid" "http://127.0.0.1:$2/hello.html" ||
        { cat "$tmp/node.log" >&2; die "node did not start"; }
}

run_wrk() { # url -> req/s
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" "$1" 2>/dev/null |
        awk '/^Requests\/sec:/ {print int($2)}'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

echo "bench/js: rampart $("$rampart" --version 2>/dev/null | head -1 || true) vs node $("$NODE" --version)"
echo "bench/js: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS interleaved rounds, median"
results=()
for w in $WORKERS; do
    p1=$(free_port)
    p2=$(free_port)
    start_ours "$w" "$p1"
    start_node "$w" "$p2"
    # warm-up
    wrk -t1 -c4 -d1s "http://127.0.0.1:$p1/hello.html" >/dev/null 2>&1 || true
    wrk -t1 -c4 -d1s "http://127.0.0.1:$p2/hello.html" >/dev/null 2>&1 || true
    ours=()
    theirs=()
    for r in $(seq 1 "$ROUNDS"); do
        ours+=("$(run_wrk "http://127.0.0.1:$p1/hello.html")")
        theirs+=("$(run_wrk "http://127.0.0.1:$p2/hello.html")")
    done
    stop_servers
    o=$(printf '%s\n' "${ours[@]}" | median)
    n=$(printf '%s\n' "${theirs[@]}" | median)
    ratio=$(awk -v a="$o" -v b="$n" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    results+=("$(printf '%-9s %7s %14s %14s %10s' "hello.js" "$w" "$o" "$n" "$ratio")")
    echo "bench/js: workers=$w rampart=${ours[*]} node=${theirs[*]}"
done
echo
printf '%-9s %7s %14s %14s %10s\n' "case" "workers" "rampart req/s" "node req/s" "ratio"
printf '%s\n' "${results[@]}"
