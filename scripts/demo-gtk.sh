#!/usr/bin/env bash
# `npm run demo:gtk [-- options]`: examples/gtk-app, a GTK window fed by an
# AioContext inside Gtk.main() (options: --exit-after <s>, --screenshot
# <file.png>, --lines-every <ms>; see examples/gtk-app/main.ts).
# Makes the checkout ready first (scripts/setup.sh).  With no DISPLAY it
# runs under `xvfb-run -a`: the window is then invisible, but everything it
# shows is printed as well.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >&2
app=(node --import=tsx examples/gtk-app/main.ts "$@")
if [[ -n "${DISPLAY:-}" ]]; then
    exec "${app[@]}"
fi
echo "demo:gtk: no DISPLAY, running under xvfb-run -a (Ctrl-C, or --exit-after <s>, ends it)" >&2
exec xvfb-run -a "${app[@]}"
