#!/usr/bin/env bash
# Install what rampart needs, and only what is missing. Safe to run again.
#
#   scripts/install-deps.sh            building and running (make build/run)
#   scripts/install-deps.sh --test     + what the test suite uses (make test)
#   scripts/install-deps.sh --bench    + the benchmark tools and peers (make bench)
#   scripts/install-deps.sh --fuzz     + clang/libFuzzer (make fuzz)
#   scripts/install-deps.sh --deb      + dpkg-dev, fakeroot (make deb)
#
# Options combine. Installing nginx (a peer in the benchmarks, an upstream in
# the proxy tests) or prometheus (its promtool checks /metrics) starts no
# service and leaves none enabled: tests and benchmarks run their own
# processes on free loopback ports.
#
# llhttp is not packaged for Debian 12, so its two packages are fetched from
# Debian's next release ("trixie") through the archive address the machine
# already uses for Debian itself. That is done with a private apt state
# directory: the system's own sources and pins are never changed.
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config
            libevent-dev libssl-dev zlib1g-dev libpcre2-dev duktape-dev libltdl-dev
            libnghttp2-dev libcrypt-dev libhiredis-dev)
DEB_PKGS=(dpkg-dev fakeroot)
TEST_PKGS=(curl openssl python3 python3-h2 nghttp2-client nginx-light apache2-utils
           man-db groff-base chromium prometheus redis-server "${DEB_PKGS[@]}")
# Packages that would start a service of their own as they are installed.
SERVICE_PKGS=(nginx-light:nginx.service prometheus:prometheus.service
              redis-server:redis-server.service)
BENCH_PKGS=(wrk nginx-light apache2-utils nghttp2-client testssl.sh slowhttptest redis-server)
FUZZ_PKGS=(clang libclang-rt-14-dev)
LLHTTP_PKGS=(libllhttp9.2 libllhttp-dev)

PKGS=("${BUILD_PKGS[@]}")
want_test=0
want_bench=0
for arg in "$@"; do
    case "$arg" in
        --test) PKGS+=("${TEST_PKGS[@]}"); want_test=1 ;;
        --bench) PKGS+=("${BENCH_PKGS[@]}"); want_bench=1 ;;
        --fuzz) PKGS+=("${FUZZ_PKGS[@]}") ;;
        --deb) PKGS+=("${DEB_PKGS[@]}") ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-deps: unknown option '$arg' (--test, --bench, --fuzz, --deb)" >&2; exit 2 ;;
    esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

installed() { # package: true when dpkg has it installed
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == *"ok installed"* ]]
}

# Debian starts a service as its package is installed unless policy-rc.d
# says no; nginx's would take port 80, prometheus's 9090. Refuse starts for
# this install only (when no policy of the machine's own is in place), then
# leave those units disabled.
no_service_start() {
    [ -e /usr/sbin/policy-rc.d ] && return 0
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy_made=1
}
policy_made=0

missing=()
for p in "${PKGS[@]}"; do
    [[ " ${missing[*]} " == *" $p "* ]] && continue
    installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    units=()
    for pu in "${SERVICE_PKGS[@]}"; do
        [[ " ${missing[*]} " == *" ${pu%%:*} "* ]] && units+=("${pu#*:}")
    done
    [ ${#units[@]} -gt 0 ] && no_service_start
    status=0
    # A package install that was cut short (a machine stopped mid-upgrade)
    # makes every apt-get install refuse until dpkg finishes configuring.
    if [ -n "$($SUDO dpkg --audit 2>/dev/null)" ]; then
        echo "install-deps: finishing an interrupted dpkg run (dpkg --configure -a)"
        $SUDO dpkg --configure -a || status=$?
    fi
    [ "$status" = 0 ] &&
    { $SUDO apt-get update -qq &&
        $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } || status=$?
    [ "$policy_made" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
    [ "$status" = 0 ] || exit "$status"
    if [ ${#units[@]} -gt 0 ] && command -v systemctl >/dev/null; then
        $SUDO systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
    fi
fi

# playwright-core (pinned in tests/browser/package.json) for the browser test,
# into tests/browser/node_modules (not part of the repository), only if missing.
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [ "$want_test" = 1 ] && [ ! -e "$browser_dir/node_modules/playwright-core/package.json" ]; then
    if command -v npm >/dev/null; then
        echo "install-deps: npm install in tests/browser (playwright-core)"
        (cd "$browser_dir" && npm install --no-audit --no-fund --no-package-lock --silent)
    else
        echo "install-deps: npm not found: the browser test (tests/browser) needs Node and npm" >&2
    fi
fi

# The benchmarks' Node peers and clients, into bench/.node (not part of the
# repository), only if missing: ws (bench/ws.sh, bench/fanout.py), Socket.IO
# 4.8 with @socket.io/redis-adapter 8.3 and node-redis 4 (bench/fanout.py).
bench_node="$(cd "$(dirname "$0")/.." && pwd)/bench/.node"
BENCH_NPM=(ws@8 socket.io@4.8 @socket.io/redis-adapter@8.3 redis@4)
if [ "$want_bench" = 1 ] && { [ ! -e "$bench_node/node_modules/socket.io/package.json" ] ||
                              [ ! -e "$bench_node/node_modules/@socket.io/redis-adapter/package.json" ]; }; then
    if command -v npm >/dev/null; then
        echo "install-deps: npm install into bench/.node (${BENCH_NPM[*]})"
        npm install --prefix "$bench_node" --no-audit --no-fund --silent "${BENCH_NPM[@]}" >/dev/null
    else
        echo "install-deps: npm not found: bench/ws.sh and bench/fanout.py need Node and npm" >&2
    fi
fi

have_llhttp=1
for p in "${LLHTTP_PKGS[@]}"; do
    installed "$p" || have_llhttp=0
done
[ "$have_llhttp" = 1 ] && exit 0

# The first http(s) archive address the machine uses for the Debian suite
# itself (not the security archive), read from deb822 or one-line sources.
debian_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }' "$f"
    done
}
mirror=$(debian_mirror | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1 || true)
if [ -z "$mirror" ]; then
    echo "install-deps: no Debian archive address found in /etc/apt/sources*;" >&2
    echo "install-deps: install libllhttp-dev (>= 9.2) by hand and run again." >&2
    exit 1
fi

echo "install-deps: fetching ${LLHTTP_PKGS[*]} from the trixie suite of the configured Debian archive"
work=$(mktemp -d); chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] $mirror trixie main" > "$work/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
          -o "Debug::NoLocking=1" -o "APT::Get::List-Cleanup=0")
apt-get "${APT_OPTS[@]}" update -qq
(cd "$work/debs" && apt-get "${APT_OPTS[@]}" download "${LLHTTP_PKGS[@]}")
$SUDO dpkg -i "$work"/debs/*.deb
