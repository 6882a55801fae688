#!/usr/bin/env bash
# bench/soak.sh - long load on rampart-httpd and rampart (mod_js), watching
# memory (RSS) and open file descriptors for leaks.
#
#   bench/soak.sh [--scale F]      F multiplies every count (default 1;
#                                  e.g. --scale 0.01 for a quick check)
#
# Phases, one after the other (counts at scale 1):
#   static   1,000,000 keep-alive GETs of a 1 KiB file   (ab -k, rampart-httpd)
#   js         300,000 keep-alive GETs of a JS route     (ab -k, rampart)
#   connect    100,000 requests, each on a new connection (ab, rampart-httpd)
#   abort        6,000 clients asking for a 16 MiB file and closing after
#                16 KiB, half of them with a reset        (python3, both)
# Each phase is bounded by its count and by SOAK_PHASE_TIME seconds (300).
# RSS (VmRSS) and the number of open fds of both servers are sampled from
# /proc every 0.2 s: the table shows them at start (after a short warm-up),
# at their peak, and at the end (after the load stops, once fds are back or
# SOAK_SETTLE seconds (15) have passed), and whether each returned to
# baseline: fds equal to the start, RSS within max(10 %, 16 MiB) of it.
# Exits 1 if a value did not return or a phase had failed requests.
#
# Environment: BUILD_DIR (build), SOAK_PHASE_TIME, SOAK_SETTLE, SOAK_CONC
# (concurrent clients per phase, 32).  127.0.0.1 only; it stops only the
# servers it started, by pid.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SCALE=1
while [ $# -gt 0 ]; do
    case "$1" in
    --scale) SCALE=${2:-}; shift 2 ;;
    --scale=*) SCALE=${1#--scale=}; shift ;;
    *) echo "usage: bench/soak.sh [--scale F]" >&2; exit 2 ;;
    esac
done
bench_init soak 1
[[ "$SCALE" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--scale takes a positive number"
PHASE_TIME=${SOAK_PHASE_TIME:-300}
SETTLE=${SOAK_SETTLE:-15}
CONC=${SOAK_CONC:-32}
for v in "$PHASE_TIME" "$SETTLE" "$CONC"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "SOAK_* values must be positive integers"
done
command -v ab >/dev/null || die "ab not found: run 'make deps' (apache2-utils)"
command -v python3 >/dev/null || die "python3 not found"
bench_need bin/rampart-httpd bin/rampart modules/mod_static.so modules/mod_js.so
httpd="$build_dir/bin/rampart-httpd"
rampart="$build_dir/bin/rampart"

scaled() { # count: count * SCALE, at least 1
    awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s); print (v < 1 ? 1 : v) }'
}
N_STATIC=$(scaled 1000000)
N_JS=$(scaled 300000)
N_CONNECT=$(scaled 100000)
N_ABORT=$(scaled 6000)

# ---- servers ----------------------------------------------------------------
mkdir -p "$tmp/www"
head -c 1024 /dev/zero | tr '\0' 'a' >"$tmp/www/1k.txt"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$tmp/www/big.bin"
chmod -R a+rX "$tmp/www"

p_static=$(free_port)
{
    echo "LoadModule static mod_static.so"
    echo "Bind 127.0.0.1:$p_static"
    echo "Threads 2"
    echo "Log off"
    echo "ErrorLog $tmp/httpd-error.log"
    [ "$as_root" = 1 ] && echo "User nobody"
    echo "Map / $tmp/www"
} >"$tmp/httpd.conf"
bench_start httpd_pid "$tmp/httpd.out" "http://127.0.0.1:$p_static/1k.txt" "$httpd" -f "$tmp/httpd.conf"

p_js=$(free_port)
cat >"$tmp/soak.js" <<EOF
var server = require("rampart-server");
var hits = 0;
server.start({
    bind: "127.0.0.1:$p_js",
    user: "nobody",
    threads: 2,
    map: {
        "/": "$tmp/www",
        "/hello.json": function (req) {
            hits++;
            return {json: {hello: "world", q: req.query, list: [1, 2, 3]}}; /* one length: ab checks it */
        }
    }
});
EOF
chmod 0644 "$tmp/soak.js"
bench_start js_pid "$tmp/js.out" "http://127.0.0.1:$p_js/hello.json" "$rampart" "$tmp/soak.js"

# ---- sampling ---------------------------------------------------------------
sample() { # pid: "rss_kib fds" or "- -" if gone
    local rss fds
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null) || rss=-
    fds=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || fds=-
    echo "${rss:--} $fds"
}
samples="$tmp/samples"
: >"$samples"
sampler() { # runs until the flag file goes
    while [ -e "$tmp/sampling" ]; do
        echo "$(sample "$httpd_pid") $(sample "$js_pid")" >>"$samples"
        sleep 0.2
    done
}

ab_phase() { # name count keepalive(0|1) url
    local name=$1 n=$2 ka=$3 url=$4 out c=$CONC
    [ "$c" -le "$n" ] || c=$n
    local args=(-q -n "$n" -c "$c" -s 10)
    [ "$ka" = 1 ] && args+=(-k)
    local t0=$SECONDS
    out=$(timeout $((PHASE_TIME + 30)) ab -t "$PHASE_TIME" "${args[@]}" "$url" 2>&1) || true
    local done failed non2xx
    done=$(awk '/^Complete requests:/ {print $3}' <<<"$out")
    failed=$(awk '/^Failed requests:/ {print $3}' <<<"$out")
    non2xx=$(awk '/^Non-2xx responses:/ {print $3}' <<<"$out")
    [ -n "$done" ] || { echo "$out" | tail -n 5 >&2; done=0; }
    printf '%-8s %10s of %-10s failed %-6s non-2xx %-6s %5ss\n' "$name" "$done" "$n" \
        "${failed:-?}" "${non2xx:-0}" $((SECONDS - t0))
    [ "$done" = "$n" ] && [ "${failed:-1}" = 0 ] && [ "${non2xx:-0}" = 0 ] || phase_errors=1
}

abort_phase() { # count
    local t0=$SECONDS out
    out=$(timeout $((PHASE_TIME + 30)) python3 - "$1" "$PHASE_TIME" "$CONC" \
        "127.0.0.1:$p_static" "127.0.0.1:$p_js" <<'PY' 2>&1
import socket, struct, sys, threading, time
total, limit, conc = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
targets = [(h, int(p)) for h, p in (a.rsplit(":", 1) for a in sys.argv[4:])]
deadline = time.monotonic() + limit
lock = threading.Lock()
state = {"next": 0, "done": 0, "short": 0, "err": 0}
def worker():
    while time.monotonic() < deadline:
        with lock:
            i = state["next"]
            if i >= total:
                return
            state["next"] += 1
        host, port = targets[i % len(targets)]
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: soak\r\n\r\n")
            got = 0
            while got < 16384:
                b = s.recv(16384 - got)
                if not b:
                    break
                got += len(b)
            if i % 2:  # half reset (RST), half closed (FIN)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            with lock:
                state["done"] += 1
                if got < 16384:
                    state["short"] += 1
        except OSError:
            with lock:
                state["err"] += 1
ts = [threading.Thread(target=worker) for _ in range(conc)]
for t in ts: t.start()
for t in ts: t.join()
print(state["done"], state["short"], state["err"])
PY
    ) || true
    local done short err
    read -r done short err <<<"$(tail -n 1 <<<"$out")"
    [[ "${done:-}" =~ ^[0-9]+$ ]] || { echo "$out" | tail -n 5 >&2; done=0; short=?; err=?; }
    printf '%-8s %10s of %-10s short %-7s errors %-6s %5ss\n' abort "$done" "$1" "$short" "$err" \
        $((SECONDS - t0))
    [ "$done" = "$1" ] && [ "$short" = 0 ] && [ "$err" = 0 ] || phase_errors=1
}

# ---- run --------------------------------------------------------------------
echo "bench/soak: scale $SCALE, $CONC clients, at most ${PHASE_TIME}s per phase"
echo "bench/soak: rampart-httpd pid $httpd_pid (:$p_static), rampart pid $js_pid (:$p_js)"
# warm-up: lazily made pools, caches and worker heaps belong to the baseline
ab -q -k -n 2000 -c 8 "http://127.0.0.1:$p_static/1k.txt" >/dev/null 2>&1 || true
ab -q -k -n 2000 -c 8 "http://127.0.0.1:$p_js/hello.json" >/dev/null 2>&1 || true
sleep 1
read -r h_rss0 h_fd0 j_rss0 j_fd0 <<<"$(sample "$httpd_pid") $(sample "$js_pid")"

touch "$tmp/sampling"
sampler &
sampler_pid=$!
BENCH_PIDS+=("$sampler_pid")
phase_errors=0
ab_phase static "$N_STATIC" 1 "http://127.0.0.1:$p_static/1k.txt"
ab_phase js "$N_JS" 1 "http://127.0.0.1:$p_js/hello.json?a=1&b=two"
ab_phase connect "$N_CONNECT" 0 "http://127.0.0.1:$p_static/1k.txt"
abort_phase "$N_ABORT"

# settle: until both fd counts are back, at most SETTLE seconds
for _ in $(seq 1 $((SETTLE * 5))); do
    read -r _ h_fd _ j_fd <<<"$(sample "$httpd_pid") $(sample "$js_pid")"
    [ "$h_fd" = "$h_fd0" ] && [ "$j_fd" = "$j_fd0" ] && break
    sleep 0.2
done
sleep 1
rm -f "$tmp/sampling"
wait "$sampler_pid" 2>/dev/null || true
read -r h_rss1 h_fd1 j_rss1 j_fd1 <<<"$(sample "$httpd_pid") $(sample "$js_pid")"

peak() { # column of the samples file
    awk -v c="$1" '$c != "-" && $c + 0 > m { m = $c + 0 } END { print m + 0 }' "$samples"
}
h_rssp=$(peak 1); h_fdp=$(peak 2); j_rssp=$(peak 3); j_fdp=$(peak 4)

back_rss() { # start end
    awk -v a="$1" -v b="$2" 'BEGIN { t = a * 0.10; if (t < 16384) t = 16384
                                     print (b != "-" && b <= a + t) ? "yes" : "NO" }'
}
back_fd() { [ "$1" = "$2" ] && echo yes || echo NO; }
kib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.1f MiB", k / 1024 }'; }

echo
printf '%-22s %12s %12s %12s  %s\n' "" start peak end "back to baseline"
printf '%-22s %12s %12s %12s  %s\n' "rampart-httpd RSS" "$(kib "$h_rss0")" "$(kib "$h_rssp")" \
    "$(kib "$h_rss1")" "$(back_rss "$h_rss0" "$h_rss1")"
printf '%-22s %12s %12s %12s  %s\n' "rampart-httpd fds" "$h_fd0" "$h_fdp" "$h_fd1" \
    "$(back_fd "$h_fd0" "$h_fd1")"
printf '%-22s %12s %12s %12s  %s\n' "rampart (JS) RSS" "$(kib "$j_rss0")" "$(kib "$j_rssp")" \
    "$(kib "$j_rss1")" "$(back_rss "$j_rss0" "$j_rss1")"
printf '%-22s %12s %12s %12s  %s\n' "rampart (JS) fds" "$j_fd0" "$j_fdp" "$j_fd1" \
    "$(back_fd "$j_fd0" "$j_fd1")"

status=0
for r in "$(back_rss "$h_rss0" "$h_rss1")" "$(back_fd "$h_fd0" "$h_fd1")" \
         "$(back_rss "$j_rss0" "$j_rss1")" "$(back_fd "$j_fd0" "$j_fd1")"; do
    [ "$r" = yes ] || status=1
done
kill -0 "$httpd_pid" 2>/dev/null || { echo "bench/soak: rampart-httpd died" >&2; status=1; }
kill -0 "$js_pid" 2>/dev/null || { echo "bench/soak: rampart died" >&2; status=1; }
[ "$phase_errors" = 0 ] || { echo "bench/soak: a phase had failed or missing requests" >&2; status=1; }
exit "$status"
