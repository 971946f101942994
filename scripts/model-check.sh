#!/usr/bin/env bash
# model-check.sh: exhaustively checks model/aio-notify.pml (the notify_me /
# notified / eventfd protocol) with Spin.  The correct model must pass with
# 0 errors; every deliberately broken variant must be caught (errors >= 1,
# an invalid end state or an assertion).  Exit status: 0 if all of that
# holds, 1 if not, 2 if spin or a C compiler is missing.
#
# Usage: scripts/model-check.sh [-v]    (from any directory)
#   -v   also print pan's full output and, for each caught variant, a
#        shortest counterexample (breadth-first search) replayed by spin -t
# Environment:
#   MODEL_CHECK_DEFINES   extra -D flags for every variant, e.g.
#                         "-DROUNDS=3 -DNOTIFIERS=2 -DSPURIOUS=2"
#   MODEL_CHECK_OPTIONAL=1  missing spin/gcc is a skip (exit 0), not a failure
#   CC                    C compiler for pan.c (default: gcc, then cc)
#
# SPDX-License-Identifier: MIT
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd "$here/.." && pwd -P)
model="$root/model/aio-notify.pml"
verbose=0
case "${1:-}" in
    -v|--verbose) verbose=1 ;;
    "") ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "model-check: unknown option '$1' (try -h)" >&2; exit 2 ;;
esac

missing() {
    if [ "${MODEL_CHECK_OPTIONAL:-0}" = 1 ]; then
        echo "model-check: SKIP: $1"
        exit 0
    fi
    echo "model-check: $1" >&2
    exit 2
}

[ -f "$model" ] || { echo "model-check: no model at $model" >&2; exit 2; }
command -v spin >/dev/null 2>&1 ||
    missing "spin not found (Debian/Ubuntu: apt-get install spin)"
cc=${CC:-}
if [ -z "$cc" ]; then
    if command -v gcc >/dev/null 2>&1; then cc=gcc
    elif command -v cc >/dev/null 2>&1; then cc=cc
    fi
fi
[ -n "$cc" ] && command -v "$cc" >/dev/null 2>&1 ||
    missing "no C compiler found for pan.c (set CC or install gcc)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aio-model-check.XXXXXX") ||
    { echo "model-check: mktemp failed" >&2; exit 2; }
pids=()
cleanup() {
    local pid
    # Each variant runs in its own process group (set -m below): stop any
    # that are still running (interrupted), then remove the work directory.
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fs", b - a }'; }

# name | extra -D flags | expectation (pass or fail)
variants=(
    "correct||pass"
    "QEMU_BIT0_UNTIL_CHECK|-DQEMU_BIT0_UNTIL_CHECK|pass"
    "BUG_SKIP_SET_WHEN_NOTIFIED|-DBUG_SKIP_SET_WHEN_NOTIFIED|fail"
    "BUG_NO_NOTIFY_ME|-DBUG_NO_NOTIFY_ME|fail"
    "BUG_NOTIFY_NO_MB|-DBUG_NOTIFY_NO_MB|fail"
    "BUG_PREPARE_NO_MB|-DBUG_PREPARE_NO_MB|fail"
    "BUG_NO_BIT0_IN_PREPARE|-DBUG_NO_BIT0_IN_PREPARE|fail"
)

# One variant in its own directory: spin -a, compile pan, run it.  The
# correct model's search is the big one, so it gets -O2; a broken variant
# stops at its first error, so compiling fast (-O0) is what matters there.
# With -v, broken variants search breadth-first (-DBFS): a longer search,
# but the counterexample printed is a shortest one.
run_variant() {
    local dir=$1 opt=$2; shift 2
    local -a copts
    read -r -a copts <<<"$opt"
    now >"$dir/t0"
    (
        cd "$dir" &&
        spin "$@" -a "$model" >spin.out 2>&1 &&
        "$cc" "${copts[@]}" -DSAFETY -DMEMLIM=2048 -w -o pan pan.c >cc.out 2>&1 &&
        ./pan -m1000000 -w21 -n >pan.out 2>&1
    )
    echo $? >"$dir/rc"
    now >"$dir/t1"
}

status=0
t_all=$(now)
set -m
for v in "${variants[@]}"; do
    IFS='|' read -r name flags expect <<<"$v"
    # shellcheck disable=SC2206  # word splitting of the -D lists is wanted
    defs=($flags ${MODEL_CHECK_DEFINES:-})
    mkdir -p "$tmp/$name"
    opt=-O0
    [ $verbose = 1 ] && opt="-O2 -DBFS"
    [ "$expect" = pass ] && opt=-O2
    run_variant "$tmp/$name" "$opt" ${defs[@]+"${defs[@]}"} &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid"
done
set +m
pids=()

for v in "${variants[@]}"; do
    IFS='|' read -r name flags expect <<<"$v"
    # shellcheck disable=SC2206
    defs=($flags ${MODEL_CHECK_DEFINES:-})
    dir="$tmp/$name"
    rc=$(cat "$dir/rc" 2>/dev/null || echo 1)
    t=$(secs "$(cat "$dir/t0")" "$(cat "$dir/t1")")
    if [ "$rc" -ne 0 ] && [ ! -s "$dir/pan.out" ]; then
        printf 'model-check: %-27s BROKEN  spin/cc failed (rc %d)\n' "$name" "$rc"
        cat "$dir"/spin.out "$dir"/cc.out 2>/dev/null | head -20 | sed 's/^/    /'
        status=1
        continue
    fi
    out="$dir/pan.out"
    errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$out" | tail -1)
    stored=$(awk '/states, stored/ { print $1; exit }' "$out")
    trans=$(awk '/transitions \(= stored\+matched\)/ { print $1; exit }' "$out")
    depth=$(sed -n 's/.*depth reached \([0-9][0-9]*\),.*/\1/p' "$out" | tail -1)
    what=$(sed -n 's/^pan:1: \(.*\)$/\1/p' "$out" | head -1)
    incomplete=$(grep -E 'max search depth too small|out of memory|search not completed' "$out" | head -1)

    summary=$(printf 'errors=%s states=%s transitions=%s depth=%s %s' \
        "${errors:-?}" "${stored:-?}" "${trans:-?}" "${depth:-?}" "$t")
    if [ -z "$errors" ]; then
        verdict=BROKEN; ok=0; summary="$summary (no result from pan)"
    elif [ "$expect" = pass ]; then
        if [ "$errors" = 0 ] && [ -z "$incomplete" ]; then
            verdict=PASS; ok=1
        else
            verdict=FAIL; ok=0
            summary="$summary [${what:-$incomplete}]"
        fi
    else
        if [ "$errors" -ge 1 ] &&
           printf '%s\n' "$what" | grep -Eq 'invalid end state|assertion violated'; then
            verdict=CAUGHT; ok=1
            summary="$summary [$what]"
        else
            verdict=MISSED; ok=0
            summary="$summary [${what:-no error found}${incomplete:+; $incomplete}]"
        fi
    fi
    printf 'model-check: %-27s %-7s %s\n' "$name" "$verdict" "$summary"
    [ $ok = 1 ] || status=1

    if [ $verbose = 1 ]; then
        sed 's/^/    /' "$out"
        if [ -f "$dir/aio-notify.pml.trail" ]; then
            echo "    --- counterexample (spin -t) ---"
            (cd "$dir" && spin ${defs[@]+"${defs[@]}"} -k aio-notify.pml.trail -t -p -g "$model" 2>&1) |
                grep -v '\[(1)\]' | sed 's/^/    /'
        fi
    fi
done

if [ $status = 0 ]; then
    echo "model-check: OK: correct model verified, ${#variants[@]} variants in $(secs "$t_all" "$(now)")"
else
    echo "model-check: FAILED ($(secs "$t_all" "$(now)"))" >&2
fi
exit $status
