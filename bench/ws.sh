#!/usr/bin/env bash
# bench/ws.sh - websocket echo: rampart-httpd (mod_ws), rampart (a JavaScript
# ws: route) and Node 20 + ws.
#
# All three echo every message back.  The load generator is one Node
# process (bench/ws-load.js, npm `ws` client) run the same way against each:
# BENCH_WS_CONNECTIONS websockets (50), each with one message of
# BENCH_WS_SIZE bytes (64) in flight, so the figure is echo round trips per
# second.  Runs alternate between the servers (C, JS, node, C, JS, node...),
# BENCH_ROUNDS each (2), BENCH_DURATION seconds each (5) after a 1 s warm-up;
# the table shows the median.
#
# Ours, twice, both with "Threads BENCH_WS_THREADS" (1, like Node's single
# event loop): the built-in C echo route of rampart-httpd ("Map ws:/echo
# ws:echo"), and a `rampart` script whose "ws:/jsecho" function returns
# req.body (mod_js's websocket heap, a Buffer back as a binary message).
#
# npm's `ws` package is installed at run time into bench/.node (not part of
# the repository).  Only the three servers started here are stopped, by pid.
# Total time with the defaults: about 45 s (plus the npm install once).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init ws 2
CONNS=${BENCH_WS_CONNECTIONS:-50}
SIZE=${BENCH_WS_SIZE:-64}
THREADS=${BENCH_WS_THREADS:-1}
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_WS_THREADS must be a positive integer"
[[ "$SIZE" =~ ^[0-9]+$ ]] || die "BENCH_WS_SIZE must be a number of bytes"
[[ "$CONNS" =~ ^[1-9][0-9]*$ ]] && [ "$CONNS" -le 1000 ] ||
    die "BENCH_WS_CONNECTIONS must be 1 to 1000"
bench_need bin/rampart-httpd bin/rampart modules/mod_ws.so modules/mod_js.so
httpd="$build_dir/bin/rampart-httpd"
rampart="$build_dir/bin/rampart"
node_dir="$here/bench/.node"

command -v node >/dev/null || die "node not found (Node 20 is the peer)"
command -v npm >/dev/null || die "npm not found"
if [ ! -e "$node_dir/node_modules/ws/package.json" ]; then
    echo "bench/ws: installing the npm ws package into bench/.node"
    npm install --prefix "$node_dir" --no-audit --no-fund --silent ws@8 >/dev/null ||
        die "npm install ws failed"
fi
export NODE_PATH="$node_dir/node_modules"

# ---- the servers ----------------------------------------------------------------
ours_port=$(free_port)
js_port=$(free_port)
node_port=$(free_port)
{
    echo "LoadModule ws mod_ws.so"
    echo "Bind 127.0.0.1:$ours_port"
    echo "Threads $THREADS"
    echo "Log off"
    echo "ErrorLog $tmp/rampart-error.log"
    [ "$(id -u)" = 0 ] && echo "User nobody"
    echo "Map ws:/echo ws:echo"
} >"$tmp/rampart.conf"
bench_start ours_pid "$tmp/rampart.out" "tcp://127.0.0.1/$ours_port" \
    "$httpd" -f "$tmp/rampart.conf"
cat >"$tmp/jsecho.js" <<EOF
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:$js_port", threads: $THREADS, log: false,
    errorLog: "$tmp/rampart-js-error.log", user: "nobody",
    map: {
        "ws:/jsecho": function (req) {
            if (req.count)
                return req.body;  /* a Buffer: sent back as a binary message */
        }
    }
});
EOF
bench_start js_pid "$tmp/rampart-js.out" "tcp://127.0.0.1/$js_port" "$rampart" "$tmp/jsecho.js"
bench_start node_pid "$tmp/node.out" "tcp://127.0.0.1/$node_port" \
    node "$here/bench/ws-node-echo.js" "$node_port"

cpu_ticks() { # pid: user+system clock ticks of all its threads
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
hz=$(getconf CLK_TCK)

# One load run against the server with that pid; prints
# "msgs_per_s msgs_per_server_cpu_second errors".
run_load() { # url pid
    local out c0 c1
    c0=$(cpu_ticks "$2")
    out=$(timeout $((DURATION + 30)) node "$here/bench/ws-load.js" "$1" "$CONNS" "$DURATION" "$SIZE") ||
        die "load generator failed against $1"
    c1=$(cpu_ticks "$2")
    # the server's CPU time covers the warm-up second too: scale to the
    # measured part by wall time (warm-up + measurement)
    node -e 'const r = JSON.parse(process.argv[1]);
        const cpu = (process.argv[3] - process.argv[2]) / process.argv[4] * r.seconds / (r.seconds + 1);
        console.log(r.rate.toFixed(0) + " " + (cpu > 0 ? r.messages / cpu : 0).toFixed(0) + " " + r.errors)' \
        "$out" "$c0" "$c1" "$hz"
}

echo "rampart websocket echo bench: $(nproc) CPUs, $CONNS connections, $SIZE-byte binary messages,"
echo "one in flight per connection, ${DURATION}s x $ROUNDS rounds, load: bench/ws-load.js (npm ws)"
echo "  C:    $httpd, mod_ws echo route (C), Threads $THREADS"
echo "  JS:   $rampart, ws:/jsecho returning req.body, threads $THREADS"
echo "  node: $(node --version), ws $(node -e 'console.log(require("ws/package.json").version)')"
echo

o=(); j=(); n=(); oc=(); jc=(); nc=(); errs=0
for r in $(seq 1 "$ROUNDS"); do
    read -r rate cpu e <<<"$(run_load "ws://127.0.0.1:$ours_port/echo" "$ours_pid")"
    o+=("$rate"); oc+=("$cpu"); errs=$((errs + e))
    read -r rate cpu e <<<"$(run_load "ws://127.0.0.1:$js_port/jsecho" "$js_pid")"
    j+=("$rate"); jc+=("$cpu"); errs=$((errs + e))
    read -r rate cpu e <<<"$(run_load "ws://127.0.0.1:$node_port/" "$node_pid")"
    n+=("$rate"); nc+=("$cpu"); errs=$((errs + e))
done
om=$(median "${o[@]}"); jm=$(median "${j[@]}"); nm=$(median "${n[@]}")
ocm=$(median "${oc[@]}"); jcm=$(median "${jc[@]}"); ncm=$(median "${nc[@]}")
printf '%-26s %10s %10s %10s %8s %8s\n' "echo ${SIZE} B, ${CONNS} conns" "C" "JS" "node" "C/node" "JS/node"
printf '%-26s %10.0f %10.0f %10.0f %8s %8s\n' "messages/s" "$om" "$jm" "$nm" "$(ratio "$om" "$nm")" "$(ratio "$jm" "$nm")"
printf '%-26s %10.0f %10.0f %10.0f %8s %8s\n' "messages/server CPU-s" "$ocm" "$jcm" "$ncm" "$(ratio "$ocm" "$ncm")" "$(ratio "$jcm" "$ncm")"
echo "  rounds msg/s: C ${o[*]}; JS ${j[*]}; node ${n[*]}"
echo "  messages/s is bounded by the one-process Node load generator on small machines;"
echo "  messages per second of server CPU time compares the servers' own cost."
[ "$errs" = 0 ] || echo "  errors: $errs echoes had the wrong length or content"
