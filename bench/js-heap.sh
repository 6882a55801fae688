#!/usr/bin/env bash
# bench/js-heap.sh - memory of a JavaScript worker over 100,000 requests:
# rampart (threads: 1) against one Node process, the same API route as
# bench/js.sh (query + cookies in, a 20-field JSON object out).
#
# After a warm-up of 1,000 requests, each server's JS heap
# (process.memoryUsage().heapUsed: the worker's Duktape heap for rampart,
# V8's used heap for Node) and process RSS are read from a /mem route at
# 0, 25,000, 50,000 and 100,000 requests (ab -k, 16 connections: an exact
# count).  Flat means no growth per request: the table shows the samples
# and the growth from the first to the last.
#
# Environment: BUILD_DIR (build), BENCH_HEAP_REQUESTS (100000), NODE (node).
# Starts only its own servers, stops them by pid, 127.0.0.1 only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init js-heap 1
bench_need bin/rampart modules/mod_js.so
rampart="$build_dir/bin/rampart"
NODE=${NODE:-node}
TOTAL=${BENCH_HEAP_REQUESTS:-100000}
[[ "$TOTAL" =~ ^[1-9][0-9]*$ ]] || die "BENCH_HEAP_REQUESTS must be a positive integer"
command -v "$NODE" >/dev/null || die "node not found (set NODE=/path/to/node)"
command -v ab >/dev/null || die "ab not found: run 'make deps-bench' (apache2-utils)"

cat >"$tmp/heap.js" <<'JS'
var server = require("rampart-server");
server.start({
    bind: "127.0.0.1:" + process.env.PORT, user: "nobody", threads: 1, log: false,
    map: {
        "/api/items": function (req) {
            var q = req.query, c = req.cookies;
            return {json: {id: q.id, name: q.name, session: c.session, theme: c.theme,
                           price: 19.99, qty: 3, active: true, tags: ["a", "b"], sku: "SKU-42",
                           title: "An item", currency: "EUR", stock: 120, rating: 4.5,
                           created: "2026-12-05T07:00:00Z", updated: "2026-12-05T08:00:00Z",
                           owner: "someone", weight: 1.25, color: "blue", size: "M", note: null}};
        },
        "/mem": function () { return {json: process.memoryUsage()}; }
    }
});
JS
cat >"$tmp/heap_node.js" <<'JS'
const http = require("http");
const qs = require("querystring");
function cookies(h) {
    const o = {};
    for (const p of (h || "").split(";")) {
        const i = p.indexOf("=");
        if (i > 0) o[p.slice(0, i).trim()] = decodeURIComponent(p.slice(i + 1).trim());
    }
    return o;
}
http.createServer((req, res) => {
    const qi = req.url.indexOf("?");
    const path = qi < 0 ? req.url : req.url.slice(0, qi);
    let out;
    if (path === "/mem") {
        out = JSON.stringify(process.memoryUsage());
    } else {
        const q = qs.parse(qi < 0 ? "" : req.url.slice(qi + 1)), c = cookies(req.headers.cookie);
        out = JSON.stringify({id: q.id, name: q.name, session: c.session, theme: c.theme,
                   price: 19.99, qty: 3, active: true, tags: ["a", "b"], sku: "SKU-42",
                   title: "An item", currency: "EUR", stock: 120, rating: 4.5,
                   created: "2026-12-05T07:00:00Z", updated: "2026-12-05T08:00:00Z",
                   owner: "someone", weight: 1.25, color: "blue", size: "M", note: null});
    }
    res.writeHead(200, {"Content-Type": "application/json", "Content-Length": Buffer.byteLength(out)});
    res.end(out);
}).listen(parseInt(process.env.PORT, 10), "127.0.0.1");
JS
chmod 0644 "$tmp"/*.js

p1=$(free_port)
p2=$(free_port)
bench_start ours_pid "$tmp/ours.log" "http://127.0.0.1:$p1/mem" env PORT="$p1" "$rampart" "$tmp/heap.js"
bench_start node_pid "$tmp/node.log" "http://127.0.0.1:$p2/mem" env PORT="$p2" "$NODE" "$tmp/heap_node.js"

load() { # port count
    ab -q -k -c 16 -n "$2" -C "session=abc123; theme=dark; lang=en; tz=UTC" \
        "http://127.0.0.1:$1/api/items?id=42&name=x" >"$tmp/ab.out" 2>&1 ||
        { cat "$tmp/ab.out" >&2; die "ab failed against port $1"; }
    grep -q "^Failed requests: *0$" "$tmp/ab.out" || die "ab saw failed requests on port $1"
}
mem() { # port -> "heapUsed rss"
    curl -s "http://127.0.0.1:$1/mem" |
        python3 -c 'import json,sys; m=json.load(sys.stdin); print(int(m["heapUsed"]), int(m["rss"]))'
}
kib() { awk -v b="$1" 'BEGIN { printf "%d", b / 1024 }'; }

echo "bench/js-heap: rampart threads:1 vs node $("$NODE" --version), API route, ab -k -c16"
load "$p1" 1000
load "$p2" 1000
marks=(0 $((TOTAL / 4)) $((TOTAL / 2)) "$TOTAL")
done_n=0
printf '%-10s %14s %14s %14s %14s\n' "requests" "rampart heap" "rampart RSS" "node heap" "node RSS"
first=()
last=()
for m in "${marks[@]}"; do
    step=$((m - done_n))
    if [ "$step" -gt 0 ]; then
        load "$p1" "$step"
        load "$p2" "$step"
        done_n=$m
    fi
    read -r oh orss <<<"$(mem "$p1")"
    read -r nh nrss <<<"$(mem "$p2")"
    printf '%-10s %11s KiB %11s KiB %11s KiB %11s KiB\n' "$m" "$(kib "$oh")" "$(kib "$orss")" \
        "$(kib "$nh")" "$(kib "$nrss")"
    [ ${#first[@]} -eq 0 ] && first=("$oh" "$orss" "$nh" "$nrss")
    last=("$oh" "$orss" "$nh" "$nrss")
done
printf '%-10s %11s KiB %11s KiB %11s KiB %11s KiB\n' "growth" \
    "$(kib $((last[0] - first[0])))" "$(kib $((last[1] - first[1])))" \
    "$(kib $((last[2] - first[2])))" "$(kib $((last[3] - first[3])))"
echo "  heap: the worker's Duktape heap (rampart) / V8 heapUsed (node, garbage-collected lazily:"
echo "  its figure moves with GC timing); RSS: the whole process."
