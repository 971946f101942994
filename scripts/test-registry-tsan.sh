#!/usr/bin/env bash
# `npm run test:registry`: the share registry (native/core/registry.c) under
# ThreadSanitizer, alone: its C tests (native/core/tests/test-registry.c),
# many threads scheduling, notifying and locking while the home thread
# deletes and closes.  The same program runs in `npm run test:c-tsan` with
# every other C test; this is the quick way to run just it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-tsan
opts="-Db_sanitize=thread -Db_lundef=false"   # as test:c-tsan (meson-test.sh)
if [[ ! -f "$dir/meson-private/coredata.dat" ]]; then
    # shellcheck disable=SC2086 # $opts is two words
    meson setup "$dir" $opts >/dev/null
    printf '%s\n' "$opts" >"$dir/aiocontext-options.txt"
fi
meson test -C "$dir" --print-errorlogs test-registry
