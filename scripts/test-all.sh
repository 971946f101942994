#!/usr/bin/env bash
# `npm run test:all`: every test step, in order, stopping at the first
# failure. `npm test` runs scripts/setup.sh first.
# (--silent keeps npm's own banners and warnings out of the log; each step
# gets a header and its time instead.)
set -euo pipefail
cd "$(dirname "$0")/.."

steps=(test:types test:lint test:format test:docs test:c test:c-asan test:c-tsan test:registry test:model
       test:cmake test:c-consumer test:package test:ava)
for step in "${steps[@]}"; do
    printf '\n=== %s\n' "$step"
    t0=$SECONDS
    if ! npm run --silent "$step"; then
        printf '\n=== %s FAILED after %ss\n' "$step" $((SECONDS - t0)) >&2
        exit 1
    fi
    printf '=== %s ok (%ss)\n' "$step" $((SECONDS - t0))
done
