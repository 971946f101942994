#!/usr/bin/env bash
# Configure a meson build dir (once) and run the C test suite in it.
#   scripts/meson-test.sh BUILD_DIR [meson options, e.g. -Db_sanitize=address]
# npm run test:c       -> build-meson
# npm run test:c-asan  -> build-asan, with -Db_sanitize=address,undefined
# `meson test` rebuilds first, and re-runs meson itself when a meson.build
# changed; the dir is reconfigured here only when the options change.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$1
shift

# binding.gyp and CMakeLists.txt compile every native/core/*.c; meson names
# its files. Fail here, with the difference, rather than let them drift.
check_list() {  # check_list MESON_FILE GLOB_DIR PATTERN
    local listed present
    listed=$(grep -oE "'[A-Za-z0-9_.-]+\.c'" "$1" | tr -d "'" | sort)
    # shellcheck disable=SC2086 # $3 is a glob, expanded inside $2
    present=$(cd "$2" && ls -1 $3 2>/dev/null | sort || true)
    if [[ "$listed" != "$present" ]]; then
        echo "meson-test: $1 does not list exactly the files $2/$3:" >&2
        diff <(echo "$listed") <(echo "$present") | sed -n 's/^[<>]/  &/p' >&2 || true
        echo "  (< listed but missing, > present but not listed)" >&2
        exit 1
    fi
}
check_list native/core/meson.build native/core '*.c'
check_list native/core/tests/meson.build native/core/tests 'test-*.c'

stamp="$dir/aiocontext-options.txt"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_meson() {
    if ! meson "$@" >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
}

if [[ ! -f "$dir/meson-private/coredata.dat" ]]; then
    run_meson setup "$dir" "$@"
elif [[ "$(cat "$stamp" 2>/dev/null)" != "$*" ]]; then
    run_meson setup --reconfigure "$dir" "$@"
fi
printf '%s\n' "$*" >"$stamp"
meson test -C "$dir" --print-errorlogs
