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
. "$(dirname "$0")/lib.sh"
bench_init js 3
bench_need bin/rampart modules/mod_js.so
rampart="$build_dir/bin/rampart"
NODE=${NODE:-node}
command -v "$NODE" >/dev/null || die "node not found (set NODE=/path/to/node)"

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
    bench_start ours_pid "$tmp/ours.log" "http://127.0.0.1:$2/hello.html" \
        env PORT="$2" THREADS="$1" "$rampart" "$tmp/hello.js"
}
start_node() { # threads port (node's cluster workers leave with their primary)
    bench_start node_pid "$tmp/node.log" "http://127.0.0.1:$2/hello.html" \
        env PORT="$2" THREADS="$1" "$NODE" "$tmp/node_hello.js"
}

echo "bench/js: rampart vs node $("$NODE" --version)"
echo "bench/js: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS interleaved rounds, median"
results=()
for w in $WORKERS; do
    p1=$(free_port)
    p2=$(free_port)
    start_ours "$w" "$p1"
    start_node "$w" "$p2"
    warm_up "http://127.0.0.1:$p1/hello.html"
    warm_up "http://127.0.0.1:$p2/hello.html"
    ours=()
    theirs=()
    for r in $(seq 1 "$ROUNDS"); do
        read -r a _ _ <<<"$(run_wrk "http://127.0.0.1:$p1/hello.html")"; ours+=("$a")
        read -r a _ _ <<<"$(run_wrk "http://127.0.0.1:$p2/hello.html")"; theirs+=("$a")
    done
    bench_stop_all
    o=$(median "${ours[@]}")
    n=$(median "${theirs[@]}")
    results+=("$(printf '%-9s %7s %14.0f %14.0f %10s' "hello.js" "$w" "$o" "$n" "$(ratio "$o" "$n")")")
    echo "bench/js: workers=$w rampart=${ours[*]} node=${theirs[*]}"
done
echo
printf '%-9s %7s %14s %14s %10s\n' "case" "workers" "rampart req/s" "node req/s" "ratio"
printf '%s\n' "${results[@]}"
