#!/usr/bin/env bash
# `npm run build:prebuild` (and `npm pack`, through "prepack"): the prebuilt
# binary that ships in the package, prebuilds/linux-x64/aiocontext.glibc.node.
# prebuildify builds it with node-gyp for Node-API 8 (--napi: one binary for
# every Node version that has Node-API 8), strips it, and names it by tags
# that node-gyp-build matches at load time.
#
# It builds in a temporary copy of what the package ships (binding.gyp,
# native/ without testing/), so that the checkout's build/ (with the test
# helper addon) is left alone and the prebuild is exactly a consumer's
# build.  liburing is linked statically (binding.gyp); the check below
# fails if the binary needs any shared library but GLib's and the C/C++
# runtime's.
set -euo pipefail
cd "$(dirname "$0")/.."

out=prebuilds/linux-x64/aiocontext.glibc.node
# Up to date: nothing it is built from (tests aside) is newer than it.
if [[ -f "$out" && -z "$(find native/core native/addon native/build-config binding.gyp \
                          -name tests -prune -o -newer "$out" -print -quit)" ]]; then
    echo "prebuild: $out is up to date"
    exit 0
fi

node scripts/check-build-deps.cjs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/native"
cp -a package.json binding.gyp "$tmp/"
cp -a native/core native/addon native/build-config "$tmp/native/"
rm -rf "$tmp/native/core/tests" "$tmp/native/addon/tests"
ln -s "$PWD/node_modules" "$tmp/node_modules"

# Node-API 8 is the same in every Node that has it, so the running Node's
# headers serve (prebuildify would otherwise name the newest Node and
# download its headers).  node-gyp takes them from npm_config_nodedir: npm's
# nodedir setting (~/.npmrc), else the running Node's installed headers.
if [[ -z "${npm_config_nodedir:-}" ]]; then
    nodedir=$(npm config get nodedir 2>/dev/null || true)
    if [[ -z "$nodedir" || "$nodedir" == null || "$nodedir" == undefined ]]; then
        nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
    fi
    [[ -f "$nodedir/include/node/common.gypi" ]] && export npm_config_nodedir=$nodedir
fi
rm -rf prebuilds
log=$tmp/prebuildify.log
if ! node_modules/.bin/prebuildify --napi --strip --tag-libc \
        --target "$(node -p process.versions.node)" --out "$PWD" "$tmp" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi

[[ -f "$out" ]] || { echo "prebuild: $out was not made" >&2; ls -R prebuilds >&2; exit 1; }
unexpected=$(ldd "$out" | awk '{ print $1 }' |
    grep -vE '^(/lib64/ld-linux-x86-64|linux-vdso|libglib-2\.0|libpcre2-8|libstdc\+\+|libgcc_s|libc|libm)\.so' || true)
if [[ -n "$unexpected" ]]; then
    echo "prebuild: $out needs shared libraries besides GLib's and the C/C++ runtime:" >&2
    echo "$unexpected" >&2
    exit 1
fi
echo "prebuild: $out ($(du -k "$out" | cut -f1) KiB), shared libraries: $(ldd "$out" | awk '{ print $1 }' | tr '\n' ' ')"
