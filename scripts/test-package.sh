#!/usr/bin/env bash
# `npm run test:package`: the package as a consumer gets it.
#   1. npm pack (prepack: dist/ and the prebuilt binary, scripts/prebuild.sh)
#   2. the tarball holds what a consumer needs and nothing of test/, bench/,
#      model/, .ci/, types/ or the test helper addon
#   3. publint --strict and arethetypeswrong (offline: the tarball only)
#   4. installed with --ignore-scripts into a fresh project, it loads the
#      prebuild (no compiler ran), creates a context and runs a BH
#   5. its types check in a fresh TypeScript project under module settings
#      nodenext, node16, bundler and commonjs, with skipLibCheck off
#   6. with no prebuild, building from source with no GLib/liburing to be
#      found (PKG_CONFIG_LIBDIR pointing nowhere) fails with the apt-get line
#      before node-gyp runs
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

tmp=$(mktemp -d)
trap '[[ -n "${KEEP_TMP:-}" ]] || rm -rf "$tmp"' EXIT
say() { printf 'test:package: %s\n' "$*"; }
fail() { printf 'test:package: FAILED: %s\n' "$*" >&2; exit 1; }

# --- 1. pack -------------------------------------------------------------------
npm pack --silent --pack-destination "$tmp" >"$tmp/pack.log" 2>&1 ||
    { cat "$tmp/pack.log" >&2; fail "npm pack"; }
tgz=$(ls "$tmp"/aiocontext-*.tgz)
say "packed $(basename "$tgz") ($(du -k "$tgz" | cut -f1) KiB)"

# --- 2. contents ---------------------------------------------------------------
tar -tzf "$tgz" | sed 's#^package/##' | sort >"$tmp/files.txt"
for want in package.json README.md LICENSE CHANGELOG.md dist/index.js dist/index.d.ts \
            dist/package.json prebuilds/linux-x64/aiocontext.glibc.node binding.gyp \
            native/core/aio.h native/addon/addon.cc native/build-config/aiocontext-config.h \
            scripts/check-build-deps.cjs; do
    grep -qxF "$want" "$tmp/files.txt" || fail "the tarball lacks $want"
done
if grep -E '^(test|bench|model|\.ci|types|examples|src|native/testing|native/core/tests|native/addon/tests)/' \
        "$tmp/files.txt" >"$tmp/extra.txt"; then
    fail "the tarball holds files consumers do not need: $(head -5 "$tmp/extra.txt" | tr '\n' ' ')"
fi
say "$(wc -l <"$tmp/files.txt") files, none from test/, bench/, model/, .ci/, types/, native/testing/"

# --- 3. publint, arethetypeswrong ----------------------------------------------
node_modules/.bin/publint run "$tgz" --strict
node_modules/.bin/attw "$tgz" --no-definitely-typed --format ascii

# --- 4. a fresh project, --ignore-scripts --------------------------------------
app=$tmp/app
mkdir -p "$app"
cd "$app"
echo '{ "name": "consumer", "version": "1.0.0", "private": true }' >package.json
npm install --silent --ignore-scripts --prefer-offline --no-audit --no-fund "$tgz" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "npm install of the tarball"; }
[[ ! -e node_modules/aiocontext/build ]] || fail "an install with --ignore-scripts built something"
cat >load.mjs <<'JS'
import { AioContext } from 'aiocontext';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const ctx = new AioContext({ name: 'consumer' });
let runs = 0;
const bh = ctx.bh(() => { runs++; });
bh.schedule();
ctx.poll(true);
if (runs !== 1) throw new Error(`the BH ran ${runs} times, not once`);
bh.delete();
ctx.close();
const addon = require('node-gyp-build').resolve(new URL('./node_modules/aiocontext', import.meta.url).pathname);
console.log(`test:package: the installed package loads ${addon.replace(/.*node_modules\//, '')} and ran a BH`);
if (!addon.endsWith('prebuilds/linux-x64/aiocontext.glibc.node')) process.exit(1);
JS
node load.mjs
node -e "require('aiocontext')" || fail "require() of the package"
# With no binary at all, the load error says what to install (and nothing
# about this repository's own scripts).
mv node_modules/aiocontext/prebuilds "$tmp/prebuilds.away"
if node -e "require('aiocontext')" 2>"$tmp/load-error.txt"; then
    fail "the package loaded with no binary"
fi
mv "$tmp/prebuilds.away" node_modules/aiocontext/prebuilds
grep -qF 'apt-get install' "$tmp/load-error.txt" || { cat "$tmp/load-error.txt" >&2; fail "the load error names no apt-get line"; }
! grep -qF 'npm run' "$tmp/load-error.txt" || { cat "$tmp/load-error.txt" >&2; fail "the load error names a repository script"; }
say "with no binary, loading fails with: $(grep -m1 '^Error: aiocontext:' "$tmp/load-error.txt")"

# --- 5. types in four module settings ------------------------------------------
mkdir -p node_modules/@types
ln -s "$repo/node_modules/typescript" node_modules/typescript
ln -s "$repo/node_modules/@types/node" node_modules/@types/node
cat >use.ts <<'TS'
import { AioContext, SCALE_MS, type AioContextOptions } from 'aiocontext';
const options: AioContextOptions = { name: 'types' };
const ctx = new AioContext(options);
const t = ctx.timer('realtime', SCALE_MS, () => {});
t.del();
ctx.close();
TS
cp use.ts use.mts
for setting in nodenext:nodenext node16:node16 bundler:esnext commonjs:commonjs; do
    resolution=${setting%%:*}
    module=${setting##*:}
    [[ $resolution == commonjs ]] && resolution=node10
    file=use.ts
    [[ $resolution == node* && $resolution != node10 ]] && file=use.mts
    if ! node_modules/typescript/bin/tsc --noEmit --strict --skipLibCheck false --types node \
            --target es2022 --lib es2022,esnext.disposable --module "$module" \
            --moduleResolution "$resolution" "$file" >"$tmp/tsc.log" 2>&1; then
        cat "$tmp/tsc.log" >&2
        fail "tsc --module $module --moduleResolution $resolution"
    fi
done
say "types check under nodenext, node16, bundler and commonjs (skipLibCheck off)"

# --- 6. build from source without the headers ----------------------------------
# As on a machine no prebuild fits: node-gyp-build finds no binary, so the
# install script checks the build dependencies before it would run node-gyp.
# (--loglevel: `npm run --silent` would silence the script's output too.)
mv node_modules/aiocontext/prebuilds "$tmp/prebuilds.away"
if PKG_CONFIG_PATH='' PKG_CONFIG_LIBDIR=/nonexistent \
        npm rebuild aiocontext --loglevel=error >"$tmp/rebuild.log" 2>&1; then
    fail "a build from source with no GLib to be found succeeded"
fi
grep -qF 'sudo apt-get install libglib2.0-dev liburing-dev' "$tmp/rebuild.log" ||
    { cat "$tmp/rebuild.log" >&2; fail "the failed build does not name the apt-get line"; }
if grep -q 'gyp ' "$tmp/rebuild.log"; then
    cat "$tmp/rebuild.log" >&2
    fail "node-gyp ran although the dependency check failed"
fi
say "a build from source without GLib headers stops with: $(grep -F 'apt-get install' "$tmp/rebuild.log" | sed 's/^ *//')"
