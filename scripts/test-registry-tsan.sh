#!/usr/bin/env bash
# `npm run test:registry`: the share-token registry (native/addon/registry.cc)
# with the core, under ThreadSanitizer, without Node: many threads schedule,
# notify and lock while the home thread deletes and closes
# (native/addon/tests/test-registry.cc).  Same flags as the addon build.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-tsan-registry
mkdir -p "$out"
flags=(-fsanitize=thread -g -O1 -Wall -Wextra -pthread -Inative/build-config
       -Inative/core -Inative/addon $(pkg-config --cflags glib-2.0 liburing))
objs=()
for c in native/core/*.c; do
    o="$out/$(basename "${c%.c}").o"
    cc -std=gnu11 "${flags[@]}" -c "$c" -o "$o"
    objs+=("$o")
done
c++ -std=c++17 "${flags[@]}" native/addon/tests/test-registry.cc native/addon/registry.cc \
    "${objs[@]}" $(pkg-config --libs glib-2.0 liburing) -o "$out/test-registry"
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" "$out/test-registry"
