#!/usr/bin/env bash
# `npm run coverage`: coverage reports, printed, not gated (not part of
# `npm test`).
#   C: the core's g_test suite in a meson build with -Db_coverage=true
#      (build-coverage/), reported by gcovr for native/core/*.c.
#   TS: the ava suite under c8 (V8's own coverage), reported for src/
#      through dist/'s source maps.
#   scripts/coverage.sh [c|ts]   (default: both)
# A text summary goes to stdout; HTML to coverage/c/ and coverage/ts/.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

if [[ $what == all || $what == c ]]; then
    dir=build-coverage
    if [[ ! -f "$dir/meson-private/coredata.dat" ]]; then
        meson setup "$dir" -Db_coverage=true >/dev/null
    fi
    find "$dir" -name '*.gcda' -delete
    meson test -C "$dir" --num-processes 2 --print-errorlogs >/dev/null ||
        echo "coverage: some C tests failed; the report covers what ran" >&2
    mkdir -p coverage/c
    printf '\n=== C core (gcovr)\n'
    gcovr --root . --object-directory "$dir" --filter 'native/core/' \
        --exclude 'native/core/tests/' --print-summary \
        --html-details coverage/c/index.html --txt - "$dir"
fi

if [[ $what == all || $what == ts ]]; then
    printf '\n=== TypeScript (c8 over ava)\n'
    node_modules/.bin/c8 --reporter=text --reporter=html --report-dir=coverage/ts \
        --include='src/**' --include='dist/**' --exclude-after-remap \
        node_modules/.bin/ava "${@:2}" ||
        echo "coverage: some ava tests failed; the report covers what ran" >&2
fi
