#!/usr/bin/env bash
# Makes this checkout ready to build, test and run, on a fresh Debian 12
# machine or an already set-up one. Idempotent; when everything is in place
# it only checks (well under a second). Run by `npm test` and `npm start`.
#   a. Debian packages (GLib and liburing headers, meson, and for the
#      GTK interop tests GTK, gobject-introspection and Xvfb)
#   b. node_modules, with `npm ci` (whose install script builds the addon;
#      it also builds the node-gtk devDependency from source, a minute or
#      two, which needs a.'s GTK and gobject-introspection headers)
#   c. the addons, build/Release/aiocontext.node and the test helpers'
#      aiocontext_testing.node, if native/ changed
#   d. dist/ from src/, if src/ changed
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
trap 'say "FAILED at line $LINENO of scripts/setup.sh" >&2' ERR

# Is FILE missing, or is anything under the given paths newer than it?
# usage: stale FILE PATH...   (missing PATHs are ignored)
stale() {
    local target=$1
    shift
    [[ -e "$target" ]] || return 0
    local paths=()
    for p in "$@"; do [[ -e "$p" ]] && paths+=("$p"); done
    ((${#paths[@]})) || return 1
    [[ -n "$(find "${paths[@]}" -path native/core/tests -prune -o \
                  -newer "$target" -print -quit)" ]]
}

# --- a. Debian packages -----------------------------------------------------
apt_packages=(
    # build: the C core, the addon (node-gyp, cmake-js), the meson tests
    # (liburing-dev and libaio-dev also ship the .a files the addon links)
    libglib2.0-dev liburing-dev libaio-dev pkg-config meson ninja-build cmake g++ make
    # checks: test:format (clang-format), npm run coverage (gcovr)
    clang-format gcovr
    # interop tests: GTK through node-gtk, under Xvfb; spin for the models
    libgirepository1.0-dev libgtk-3-dev libcairo2-dev xvfb spin
)
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' \
                "${apt_packages[@]}" 2>/dev/null | awk '$2 == "ii" { print $1 }' || true)
missing=()
for pkg in "${apt_packages[@]}"; do
    grep -qxF -- "$pkg" <<<"$installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "Debian packages installed"
fi

# --- b. node_modules --------------------------------------------------------
# npm ci also runs our "install" script, node-gyp-build, which builds the
# addon unless prebuilds/ (made by npm pack) has one; c. below makes sure.
# node-gyp works offline because npm's nodedir (~/.npmrc here) points
# at the installed Node headers, /usr/include/node; should it be unset, point
# it there ourselves rather than let node-gyp try to download them.
if [[ -z "${npm_config_nodedir:-}" ]] && ! grep -qs '^nodedir' ~/.npmrc; then
    node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
    if [[ -f "$node_prefix/include/node/common.gypi" ]]; then
        export npm_config_nodedir=$node_prefix
    fi
fi
if stale node_modules/.package-lock.json package-lock.json; then
    say "npm ci (installs node_modules and builds the addon)"
    npm ci --no-audit --no-fund --loglevel=error
fi

# --- c. the addon -----------------------------------------------------------
if stale build/Release/aiocontext.node native binding.gyp ||
   stale build/Release/aiocontext_testing.node native binding.gyp; then
    say "building the addons (node-gyp)"
    npm run --silent build:native >/dev/null
fi

# --- d. dist/ ---------------------------------------------------------------
if stale dist/index.js src tsconfig.json; then
    say "compiling src/ to dist/ (tsc)"
    npm run --silent build:ts
fi

say "ready"
