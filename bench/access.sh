#!/usr/bin/env bash
# bench/access.sh - what mod_access costs (issue 13).
#
#   rules:        a 1 KiB file through mod_access (Allow/Deny lines covering
#                 it, DenyHidden on) against the same server without the
#                 module: the price of the checks every request pays.
#   basic $5$:    a 1 KiB file behind HTTP Basic (a SHA-256 crypt entry,
#                 5000 rounds), ours (AuthBasic) against nginx (auth_basic,
#                 the same htpasswd file), every request logging in.
#   basic bcrypt: the same with a bcrypt entry (htpasswd -B, cost 5).
#
# One worker each (BENCH_WORKERS, first value used), runs alternating
# between the two servers of a case (BENCH_ROUNDS each), medians and their
# ratio printed.  Each answer is checked first (200 with the right
# credentials, 401 without).  Environment as in lib.sh.  It starts only its
# own three servers, stops them by pid on exit, and uses 127.0.0.1 only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init access 2 1
WORKERS=${WORKERS%% *}
bench_need bin/rampart-httpd modules/mod_static.so modules/mod_access.so
httpd="$build_dir/bin/rampart-httpd"
nginx=$(bench_nginx)
command -v htpasswd >/dev/null || die "htpasswd not found (apache2-utils): run 'make deps'"

mkdir -p "$tmp/www/p"
head -c 1024 /dev/zero | tr '\0' 'x' >"$tmp/www/1k.txt"
cp "$tmp/www/1k.txt" "$tmp/www/p/1k.txt"
{
    echo "sha:$(openssl passwd -5 benchpw)"
    htpasswd -nbB bc benchpw
} >"$tmp/htpasswd"
chmod -R a+rX "$tmp/www" "$tmp/htpasswd"

start_ours() { # var port name extra-lines
    {
        echo "LoadModule static mod_static.so"
        [ -n "$4" ] && echo "LoadModule access mod_access.so" && printf '%b' "$4"
        echo "Bind 127.0.0.1:$2"
        echo "Threads $WORKERS"
        echo "Log off"
        echo "ErrorLog $tmp/$3-error.log"
        [ "$as_root" = 1 ] && echo "User nobody"
        echo "Map / $tmp/www"
    } >"$tmp/$3.conf"
    bench_start "$1" "$tmp/$3.out" "http://127.0.0.1:$2/1k.txt" "$httpd" -f "$tmp/$3.conf"
}

start_nginx() { # port
    local p="$tmp/nginx-prefix"
    nginx_conf "$p" "$WORKERS" "$1" "$tmp/www" ""
    sed -i "s|        location / { }|        location / { }\n        location /p/ { auth_basic \"P\"; auth_basic_user_file $tmp/htpasswd; }|" \
        "$p/nginx.conf"
    bench_start nginx_pid "$p/logs/stdout" "http://127.0.0.1:$1/1k.txt" \
        "$nginx" -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log"
}

check() { # name url user want
    local got
    got=$(curl -s -o /dev/null -w '%{http_code}' ${3:+-u "$3:benchpw"} "$2")
    [ "$got" = "$4" ] || die "$1: $2 answered $got, not $4"
}

plain_port=$(free_port)
acc_port=$(free_port)
nginx_port=$(free_port)
start_ours plain_pid "$plain_port" plain ""
start_ours acc_pid "$acc_port" access \
    "Deny / 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fd00::/8\nAllow / 127.0.0.0/8 ::1\nAuthBasic /p/ P $tmp/htpasswd\n"
start_nginx "$nginx_port"
for s in "access $acc_port" "nginx $nginx_port"; do
    set -- $s
    check "$1" "http://127.0.0.1:$2/p/1k.txt" "" 401
    check "$1" "http://127.0.0.1:$2/p/1k.txt" sha 200
    check "$1" "http://127.0.0.1:$2/p/1k.txt" bc 200
done
check access "http://127.0.0.1:$acc_port/.htpasswd" "" 404

echo "access cases: 1 KiB file, $WORKERS worker(s), wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds"
printf '%-14s %-16s %12s %12s %8s\n' case "ours vs peer" "ours req/s" "peer req/s" ratio
compare() { # case peer-name ours-url peer-url [wrk args...]
    local name=$1 peer=$2 ou=$3 pu=$4 o=() n=() a e errs=0
    shift 4
    warm_up "$@" "$ou"
    warm_up "$@" "$pu"
    for _ in $(seq 1 "$ROUNDS"); do
        read -r a _ e <<<"$(run_wrk "$@" "$ou")"; o+=("$a"); errs=$((errs + e))
        read -r a _ e <<<"$(run_wrk "$@" "$pu")"; n+=("$a"); errs=$((errs + e))
    done
    local om nm
    om=$(median "${o[@]}")
    nm=$(median "${n[@]}")
    printf '%-14s %-16s %12.0f %12.0f %8s\n' "$name" "$peer" "$om" "$nm" "$(ratio "$om" "$nm")"
    [ "$errs" = 0 ] || echo "  errors: $errs (numbers suspect)"
}
auth() { printf 'Authorization: Basic %s' "$(printf '%s:benchpw' "$1" | base64)"; }
compare rules "no mod_access" "http://127.0.0.1:$acc_port/1k.txt" "http://127.0.0.1:$plain_port/1k.txt"
compare "basic \$5\$" nginx "http://127.0.0.1:$acc_port/p/1k.txt" "http://127.0.0.1:$nginx_port/p/1k.txt" \
    -H "$(auth sha)"
compare "basic bcrypt" nginx "http://127.0.0.1:$acc_port/p/1k.txt" "http://127.0.0.1:$nginx_port/p/1k.txt" \
    -H "$(auth bc)"
