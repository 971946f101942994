#!/usr/bin/env bash
# Build the addon a second way, with cmake-js and CMakeLists.txt, into
# build-cmake/, then load it in Node to check that it links and exports.
# Offline: cmake-js takes the Node-API headers from the node-api-headers
# package because package.json has "binary": {"napi_versions": [8]}.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-cmake
node_modules/.bin/cmake-js compile --out "$out" --config Release \
    --parallel "$(nproc)" --log-level warn

addon="$out/Release/aiocontext.node"
node -e '
const path = require("path");
const file = path.resolve(process.argv[1]);
const addon = require(file);
const names = Object.keys(addon);
if (names.length === 0) {
  console.error("test:cmake: " + file + " exports nothing");
  process.exit(1);
}
console.log("test:cmake: " + process.argv[1] + " loads, exports " + names.length +
            " names (" + names.slice(0, 8).join(", ") + (names.length > 8 ? ", ..." : "") + ")");
' "$addon"
