#!/usr/bin/env bash
# Install what building, testing and benchmarking rampart needs, and only what
# is missing. Safe to run again and again.
#
# llhttp is not packaged for Debian 12, so its two packages are fetched from
# Debian's next release ("trixie") through the archive address the machine
# already uses for Debian itself. That is done with a private apt state
# directory: the system's own sources and pins are never changed.
set -euo pipefail

PKGS=(build-essential cmake pkg-config curl
      libevent-dev libssl-dev zlib1g-dev libpcre2-dev duktape-dev libltdl-dev
      libnghttp2-dev libcrypt-dev
      openssl python3 python3-h2 nghttp2-client wrk nginx-light apache2-utils
      man-db groff-base testssl.sh chromium slowhttptest)
LLHTTP_PKGS=(libllhttp9.2 libllhttp-dev)
# Only for `make fuzz` (libFuzzer): ./scripts/install-deps.sh --fuzz
FUZZ_PKGS=(clang libclang-rt-14-dev)
if [ "${1:-}" = "--fuzz" ]; then
    PKGS+=("${FUZZ_PKGS[@]}")
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

installed() { # package: true when dpkg has it installed
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == *"ok installed"* ]]
}

missing=()
for p in "${PKGS[@]}"; do
    installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# playwright-core (pinned in tests/browser/package.json) for the browser test,
# into tests/browser/node_modules (not part of the repository), only if missing.
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [ ! -e "$browser_dir/node_modules/playwright-core/package.json" ]; then
    if command -v npm >/dev/null; then
        echo "install-deps: npm install in tests/browser (playwright-core)"
        (cd "$browser_dir" && npm install --no-audit --no-fund --no-package-lock --silent)
    else
        echo "install-deps: npm not found: the browser test (tests/browser) needs Node and npm" >&2
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
