#!/usr/bin/env bash
# `npm run test:c-consumer`: the C core as a consumer gets it.  Installs the
# meson build (library, <aiocontext/aio.h>, aiocontext-core.pc) into a
# temporary prefix, then compiles native/core/tests/consumer/consumer.c with
# flags from pkg-config alone and runs it.  Also checks the flags: Cflags
# must be -I<prefix>/include (so code writes <aiocontext/aio.h> and POSIX's
# <aio.h> stays visible) and carry no -D build switch.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build-consumer
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
log=$tmp/meson.log

run_meson() {
    if ! meson "$@" >>"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
}
if [[ -f "$dir/meson-private/coredata.dat" ]]; then
    run_meson configure "$dir" -Dprefix="$prefix"
else
    run_meson setup "$dir" --prefix="$prefix" --libdir=lib --buildtype=release
fi
run_meson install -C "$dir"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cflags=$(pkg-config --cflags aiocontext-core)
libs=$(pkg-config --libs aiocontext-core)
libdir=$(pkg-config --variable=libdir aiocontext-core)
echo "test:c-consumer: Cflags: $cflags"
echo "test:c-consumer: Libs: $libs"

fail() { echo "test:c-consumer: $*" >&2; exit 1; }
[[ -f "$prefix/include/aiocontext/aio.h" ]] || fail "aiocontext/aio.h not installed"
[[ " $cflags " == *" -I$prefix/include "* ]] || fail "Cflags lack -I$prefix/include"
[[ " $cflags " != *" -I$prefix/include/aiocontext "* ]] || fail "Cflags name include/aiocontext"
[[ " $cflags " != *" -D"* ]] || fail "Cflags carry a define: $cflags"

# shellcheck disable=SC2086 # pkg-config output is a list of flags
cc -std=gnu11 -Wall -Wextra -Werror -o "$tmp/consumer" \
    native/core/tests/consumer/consumer.c $cflags $libs -Wl,-rpath,"$libdir"
"$tmp/consumer"
