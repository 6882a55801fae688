#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer targets with clang under ASan +
# UBSan in build-fuzz/ and run each one (`make fuzz`).
#
#   tests/fuzz/run.sh [TARGET...]        default: every fuzz_*.c here
#
# Environment:
#   FUZZ_RUNS     executions per target (default 100000; 0 = no limit)
#   FUZZ_TIME     seconds per target at most (default 60; 0 = no limit)
#   FUZZ_JOBS     targets run at the same time (default 1)
#   FUZZ_BUILD    build directory (default build-fuzz)
#   FUZZ_ARGS     more libFuzzer flags
#
# Each target starts from its seed corpus tests/fuzz/corpus/<name>; inputs
# it finds are kept in $FUZZ_BUILD/corpus/<name> (never in the repository),
# crashes as $FUZZ_BUILD/artifacts/<name>/crash-*.  A run ends at
# FUZZ_RUNS executions or FUZZ_TIME seconds, whichever comes first.  Prints
# one line per target with its executions and result; exits 1 if any target
# found something.  To replay a crash: $FUZZ_BUILD/tests/fuzz/fuzz_<name> FILE
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

FUZZ_RUNS=${FUZZ_RUNS:-100000}
FUZZ_TIME=${FUZZ_TIME:-60}
FUZZ_JOBS=${FUZZ_JOBS:-1}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_ARGS=${FUZZ_ARGS:-}

for v in FUZZ_RUNS FUZZ_TIME FUZZ_JOBS; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
        echo "run.sh: $v must be a number" >&2
        exit 2
    fi
done
[ "$FUZZ_JOBS" -ge 1 ] || FUZZ_JOBS=1

CC_FUZZ=""
for c in clang clang-16 clang-15 clang-14; do
    if command -v "$c" >/dev/null; then CC_FUZZ=$c; break; fi
done
if [ -z "$CC_FUZZ" ]; then
    echo "run.sh: clang not found (libFuzzer needs it): ./scripts/install-deps.sh installs it" >&2
    exit 2
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in "$here"/fuzz_*.c; do
        n=$(basename "$f" .c)
        targets+=("${n#fuzz_}")
    done
fi

# Everything instrumented for coverage (the core's objects too); only the
# fuzz targets link libFuzzer's main.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$FUZZ_BUILD" -DCMAKE_C_COMPILER="$CC_FUZZ" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DRP_FUZZ=ON -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link $SAN" \
      -DCMAKE_EXE_LINKER_FLAGS="$SAN" -DCMAKE_SHARED_LINKER_FLAGS="$SAN" \
      -DCMAKE_MODULE_LINKER_FLAGS="$SAN" >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
cmake --build "$FUZZ_BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target "${build_targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

logdir="$FUZZ_BUILD/logs"
mkdir -p "$logdir"

# Runs one target; its log is $logdir/<name>.log.
run_one() {
    local t=$1
    local corpus="$FUZZ_BUILD/corpus/$t" art="$FUZZ_BUILD/artifacts/$t"
    mkdir -p "$corpus" "$art"
    local args=(-print_final_stats=1 -timeout=25 -rss_limit_mb=2048 -max_len=65536
                "-artifact_prefix=$art/")
    [ "$FUZZ_RUNS" -gt 0 ] && args+=("-runs=$FUZZ_RUNS")
    [ "$FUZZ_TIME" -gt 0 ] && args+=("-max_total_time=$FUZZ_TIME")
    # shellcheck disable=SC2086
    "$FUZZ_BUILD/tests/fuzz/fuzz_$t" "${args[@]}" $FUZZ_ARGS "$corpus" "$here/corpus/$t" \
        >"$logdir/$t.log" 2>&1
}

# Prints "<name>  <executions>  <seconds>  ok|FOUND (<log>)" from a log.
report() {
    local t=$1 rc=$2 secs=$3
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logdir/$t.log" | tail -n 1)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$logdir/$t.log" | tail -n 1 | tr -d '#')
    local verdict=ok
    [ "$rc" = 0 ] || verdict="FOUND (rc $rc, see $logdir/$t.log)"
    printf '%-10s %14s %8s  %s\n' "$t" "${execs:-?}" "$secs" "$verdict"
}

printf '%-10s %14s %8s  %s\n' target executions seconds result
failed=0
declare -A pid_of start_of
running=()
wait_one() { # waits for the oldest running target, reports it
    local t=${running[0]}
    running=("${running[@]:1}")
    local rc=0
    wait "${pid_of[$t]}" || rc=$?
    report "$t" "$rc" "$(( $(date +%s) - start_of[$t] ))"
    [ "$rc" = 0 ] || failed=1
}
for t in "${targets[@]}"; do
    while [ "${#running[@]}" -ge "$FUZZ_JOBS" ]; do wait_one; done
    start_of[$t]=$(date +%s)
    run_one "$t" &
    pid_of[$t]=$!
    running+=("$t")
done
while [ "${#running[@]}" -gt 0 ]; do wait_one; done
exit "$failed"
