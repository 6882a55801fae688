#!/usr/bin/env bash
# bench/js.sh - JavaScript routes: rampart (mod_js) against Node's http.
#
# Two cases, the same answer on both sides, keep-alive:
#   hello.js: GET /hello.html -> 200, text/html, "<pre>Hello World!</pre>"
#   api     : GET /api/items?id=42&name=x with 10 browser headers and 4
#             cookies (bench/js-api.lua); the route reads the query and the
#             cookies and answers a 20-field object as JSON (Node: its
#             querystring module and a split of the Cookie header).
# Equal parallelism:
#   1 worker : rampart threads:1   vs  one node process
#   2 workers: rampart threads:2   vs  node cluster of 2 workers
# wrk runs against the two servers interleaved (rampart, node, rampart, node,
# ...) ROUNDS times each; the table shows the median req/s and the ratio, and
# the median server CPU time per request (user + system of the server's
# processes over the run, /proc; node: the primary and its workers) and its
# ratio - steadier than req/s on a shared machine, where the client and
# other work compete for the same cores.  Then the same rounds again with
# BENCH_LAT_CONNECTIONS (256) connections for the tail: the median of wrk's
# 99th-percentile latency on each side, and its ratio (lower is better).
#
# Environment: BUILD_DIR (build), BENCH_DURATION seconds per run (5),
# BENCH_ROUNDS (3), BENCH_CONNECTIONS (32), BENCH_WRK_THREADS (2),
# BENCH_WORKERS ("1 2"), BENCH_LAT_CONNECTIONS (256), NODE (node).
# Default total: about 5 minutes.
#
# It starts only its own servers, stops them by pid on exit, 127.0.0.1 only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init js 3
bench_need bin/rampart modules/mod_js.so
rampart="$build_dir/bin/rampart"
NODE=${NODE:-node}
LAT_CONNS=${BENCH_LAT_CONNECTIONS:-256}
[[ "$LAT_CONNS" =~ ^[1-9][0-9]*$ ]] && [ "$LAT_CONNS" -le 4096 ] ||
    die "BENCH_LAT_CONNECTIONS must be 1 to 4096"
command -v "$NODE" >/dev/null || die "node not found (set NODE=/path/to/node)"

cat > "$tmp/hello.js" <<'EOF'
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:" + process.env.PORT,
    user: "nobody",
    threads: parseInt(process.env.THREADS),
    map: {
        "/hello.html": function () { return {html: "<pre>Hello World!</pre>"}; },
        "/api/items": function (req) {
            var q = req.query, c = req.cookies;
            return {json: {id: q.id, name: q.name, session: c.session, theme: c.theme,
                           price: 19.99, qty: 3, active: true, tags: ["a", "b"], sku: "SKU-42",
                           title: "An item", currency: "EUR", stock: 120, rating: 4.5,
                           created: "2026-12-05T07:00:00Z", updated: "2026-12-05T08:00:00Z",
                           owner: "someone", weight: 1.25, color: "blue", size: "M", note: null}};
        }
    }
});
EOF

cat > "$tmp/node_hello.js" <<'EOF'
const http = require("http");
const cluster = require("cluster");
const qs = require("querystring");
const n = parseInt(process.env.THREADS, 10);
const body = "<pre>Hello World!</pre>";
function cookies(h) {
    const o = {};
    if (!h) return o;
    for (const p of h.split(";")) {
        const i = p.indexOf("=");
        if (i > 0) o[p.slice(0, i).trim()] = decodeURIComponent(p.slice(i + 1).trim());
    }
    return o;
}
function api(req, res, qi) {
    const q = qs.parse(qi < 0 ? "" : req.url.slice(qi + 1));
    const c = cookies(req.headers.cookie);
    const out = JSON.stringify({id: q.id, name: q.name, session: c.session, theme: c.theme,
                   price: 19.99, qty: 3, active: true, tags: ["a", "b"], sku: "SKU-42",
                   title: "An item", currency: "EUR", stock: 120, rating: 4.5,
                   created: "2026-12-05T07:00:00Z", updated: "2026-12-05T08:00:00Z",
                   owner: "someone", weight: 1.25, color: "blue", size: "M", note: null});
    res.writeHead(200, {"Content-Type": "application/json",
                        "Content-Length": Buffer.byteLength(out)});
    res.end(out);
}
function serve() {
    const srv = http.createServer((req, res) => {
        const qi = req.url.indexOf("?");
        if ((qi < 0 ? req.url : req.url.slice(0, qi)) === "/api/items")
            return api(req, res, qi);
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

# One run: "req_per_sec cpu_us_per_request" for the server processes pids.
measure() { # "pids" [wrk args...] url
    local pids=$1 t0 t1 rps reqs
    shift
    t0=$(cpu_ticks $pids)
    read -r rps _ _ reqs <<<"$(run_wrk_n "$@")"
    t1=$(cpu_ticks $pids)
    awk -v r="$rps" -v n="$reqs" -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%s %.2f\n", r, (n > 0 ? d * 1e6 / hz / n : 0) }'
}

# One run with LAT_CONNS connections: wrk's p99 latency in ms.
tail_ms() { # [wrk args...] url
    local CONNS=$LAT_CONNS rps p99
    read -r rps p99 _ <<<"$(run_wrk_n "$@")"
    echo "$p99"
}

echo "bench/js: rampart vs node $("$NODE" --version)"
echo "bench/js: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS interleaved rounds, median"
api_lua="$here/bench/js-api.lua"
api_path="/api/items?id=42&name=x"
results=()
for w in $WORKERS; do
    p1=$(free_port)
    p2=$(free_port)
    start_ours "$w" "$p1"
    start_node "$w" "$p2"
    for case in hello.js api; do
        if [ "$case" = api ]; then
            path=$api_path
            args=(-s "$api_lua")
        else
            path=/hello.html
            args=()
        fi
        warm_up "${args[@]}" "http://127.0.0.1:$p1$path"
        warm_up "${args[@]}" "http://127.0.0.1:$p2$path"
        ours=()
        theirs=()
        ourcpu=()
        theircpu=()
        node_pids=$(proc_family "$node_pid")
        for r in $(seq 1 "$ROUNDS"); do
            read -r a c <<<"$(measure "$ours_pid" "${args[@]}" "http://127.0.0.1:$p1$path")"
            ours+=("$a"); ourcpu+=("$c")
            read -r a c <<<"$(measure "$node_pids" "${args[@]}" "http://127.0.0.1:$p2$path")"
            theirs+=("$a"); theircpu+=("$c")
        done
        ourlat=()
        theirlat=()
        for r in $(seq 1 "$ROUNDS"); do
            ourlat+=("$(tail_ms "${args[@]}" "http://127.0.0.1:$p1$path")")
            theirlat+=("$(tail_ms "${args[@]}" "http://127.0.0.1:$p2$path")")
        done
        ol=$(median "${ourlat[@]}")
        nl=$(median "${theirlat[@]}")
        o=$(median "${ours[@]}")
        n=$(median "${theirs[@]}")
        oc=$(median "${ourcpu[@]}")
        nc=$(median "${theircpu[@]}")
        results+=("$(printf '%-9s %7s %14.0f %14.0f %7s %10s %10s %7s %9.2f %9.2f %7s' \
            "$case" "$w" "$o" "$n" "$(ratio "$o" "$n")" "$oc" "$nc" "$(ratio "$oc" "$nc")" \
            "$ol" "$nl" "$(ratio "$ol" "$nl")")")
        echo "bench/js: $case workers=$w rampart=${ours[*]} node=${theirs[*]}" \
            "cpu_us/req rampart=${ourcpu[*]} node=${theircpu[*]}" \
            "p99_ms@$LAT_CONNS rampart=${ourlat[*]} node=${theirlat[*]}"
    done
    bench_stop_all
done
echo
printf '%-9s %7s %14s %14s %7s %10s %10s %7s %9s %9s %7s\n' "case" "workers" "rampart req/s" \
    "node req/s" "ratio" "rp us/req" "node us/req" "ratio" "rp p99" "node p99" "ratio"
printf '%s\n' "${results[@]}"
echo "(p99: milliseconds at $LAT_CONNS connections, wrk --latency)"
