#!/usr/bin/env bash
# testssl.sh - scan a TLS listener of build/bin/rampart-httpd with Debian's
# testssl (package testssl.sh) and print the findings of severity HIGH and
# CRITICAL.
#
#   bench/testssl.sh                 RSA 2048 and ECDSA P-256 certificates
#   KEYS=rsa bench/testssl.sh        only one of them (rsa | ec)
#   BUILD_DIR=build-asan TIMEOUT=300 bench/testssl.sh
#
# Everything stays on this machine: the server binds 127.0.0.1 only, the
# certificate is self-signed and made here with the openssl CLI, and testssl
# runs with --ip 127.0.0.1 --nodns none (no DNS lookups) and without
# --phone-out (no CRL or OCSP fetches).  Each scan is bounded by TIMEOUT
# seconds.  The server is started here and stopped by its pid.
#
# A self-signed test certificate causes two findings by itself, listed as
# such: its chain of trust fails (id "cert_chain_of_trust", CRITICAL) and it
# names neither a CRL nor an OCSP responder ("cert_revocation", HIGH).  The
# certificate is valid for a year so that "expires < 30 days" (HIGH) stays
# out of the report.  Exit status: 0 when no other HIGH/CRITICAL finding was
# reported, 1 otherwise, 2 when the scan could not run.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
HTTPD=$BUILD_DIR/bin/rampart-httpd
KEYS=${KEYS:-rsa ec}
TIMEOUT=${TIMEOUT:-600}
# Findings a self-signed test certificate causes by itself.
SELF_SIGNED_IDS=${SELF_SIGNED_IDS:-cert_chain_of_trust cert_revocation}

command -v testssl >/dev/null || { echo "testssl: not installed (apt-get install testssl.sh)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "openssl: not installed" >&2; exit 2; }
[ -x "$HTTPD" ] || { echo "$HTTPD: not built (cmake --build build)" >&2; exit 2; }

work=$(mktemp -d /tmp/rampart-testssl.XXXXXX)
chmod 755 "$work"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    server_pid=""
}
trap 'stop_server' EXIT
trap 'stop_server; exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

make_cert() { # $1 = rsa | ec ; writes $work/$1.key and $work/$1.pem
    local kt=$1 newkey
    if [ "$kt" = ec ]; then newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
    else newkey=(-newkey rsa:2048); fi
    openssl req -x509 "${newkey[@]}" -sha256 -nodes -days 365 \
        -keyout "$work/$kt.key" -out "$work/$kt.pem" -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -addext "extendedKeyUsage=serverAuth" >/dev/null 2>&1
    chmod 644 "$work/$kt.key" "$work/$kt.pem" # read before the drop to nobody anyway
}

start_server() { # $1 = key type, $2 = port
    local kt=$1 port=$2 conf=$work/$1.conf
    mkdir -p "$work/www" && echo "<h1>testssl</h1>" > "$work/www/index.html"
    {
        echo "LoadModule static mod_static.so"
        echo "Bind 127.0.0.1:$port tls"
        echo "SslCertFile $work/$kt.pem"
        echo "SslKeyFile $work/$kt.key"
        echo "Threads 2"
        echo "ErrorLog $work/$kt-error.log"
        [ "$(id -u)" = 0 ] && echo "User nobody"
        echo "Map / $work/www"
    } > "$conf"
    "$HTTPD" -f "$conf" >"$work/$kt-stdout.log" 2>"$work/$kt-stderr.log" &
    server_pid=$!
    for _ in $(seq 1 100); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "rampart-httpd exited during start:" >&2
            cat "$work/$kt-stderr.log" "$work/$kt-error.log" >&2 2>/dev/null
            server_pid=""
            return 1
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "rampart-httpd did not accept on 127.0.0.1:$port within 10s" >&2
    return 1
}

# Print the summary and the HIGH/CRITICAL findings of one JSON result;
# exit 1 if a finding other than the self-signed ones is HIGH/CRITICAL.
report() { # $1 = json file, $2 = label
    python3 - "$1" "$2" "$SELF_SIGNED_IDS" <<'EOF'
import json, sys
path, label, expected = sys.argv[1], sys.argv[2], set(sys.argv[3].split())
try:
    data = json.load(open(path))
except (OSError, ValueError) as e:
    print("%s: no usable testssl JSON output (%s)" % (label, e))
    sys.exit(2)
items = data if isinstance(data, list) else data.get("scanResult", [])
counts = {}
for it in items:
    counts[it.get("severity", "?")] = counts.get(it.get("severity", "?"), 0) + 1
order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "INFO", "OK"]
print("== %s: %d results: %s" % (label, len(items), ", ".join(
    "%s %d" % (k, counts[k]) for k in order + sorted(set(counts) - set(order)) if k in counts)))
for key in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cipher_order", "PFS",
            "ALPN", "sessionresumption_ticket", "sessionresumption_ID", "secure_renego",
            "secure_client_renego", "cert_keySize", "cert_signatureAlgorithm"):
    for it in items:
        if it.get("id") == key:
            print("   %-24s %-8s %s" % (key, it.get("severity", ""), it.get("finding", "")))
bad = 0
hits = [it for it in items if it.get("severity") in ("HIGH", "CRITICAL")]
print("-- %s: HIGH/CRITICAL findings: %d" % (label, len(hits)))
for it in hits:
    why = "caused by the self-signed test certificate" if it.get("id") in expected else "SERVER"
    if it.get("id") not in expected:
        bad += 1
    print("   [%s] %s: %s  (%s)" % (it.get("severity"), it.get("id"), it.get("finding"), why))
sys.exit(1 if bad else 0)
EOF
}

status=0
for kt in $KEYS; do
    case $kt in rsa|ec) ;; *) echo "KEYS: expected rsa and/or ec, not '$kt'" >&2; exit 2 ;; esac
    make_cert "$kt" || { echo "openssl could not make the $kt certificate" >&2; exit 2; }
    port=$(free_port)
    start_server "$kt" "$port" || exit 2
    label="$kt certificate, https://127.0.0.1:$port"
    echo "== scanning $label (at most ${TIMEOUT}s) with:"
    cmd=(testssl --quiet --color 0 --warnings off --nodns none --ip 127.0.0.1
         --connect-timeout 5 --openssl-timeout 5 --jsonfile "$work/$kt.json"
         "https://127.0.0.1:$port")
    echo "   ${cmd[*]}"
    timeout --kill-after=10 "$TIMEOUT" "${cmd[@]}" >"$work/$kt.log" 2>&1
    rc=$?
    [ $rc = 124 ] && echo "   testssl stopped after ${TIMEOUT}s; the results so far follow"
    report "$work/$kt.json" "$label"
    r=$?
    [ $r -gt $status ] && status=$r
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "   rampart-httpd DIED during the scan:" && tail -n 20 "$work/$kt-error.log"
        status=1
    fi
    stop_server
done
echo "== full output: $work/{rsa,ec}.log, JSON: $work/{rsa,ec}.json"
exit $status
