#!/usr/bin/env bash
# `npm run test:format`:
#   1. every tracked text file: a final newline, no trailing whitespace, no
#      tab characters (.editorconfig);
#   2. clang-format (.clang-format) on every C/C++ file under native/.
# Prints each offending file with the diff clang-format would make.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0

# --- 1. .editorconfig basics ------------------------------------------------
mapfile -t text < <(git ls-files | grep -vE '\.(png|jpg|gif|tgz|node)$|^package-lock\.json$')
if git grep -nI -E '[[:space:]]+$' -- "${text[@]}" >/tmp/check-format.$$ 2>/dev/null; then
    echo "check-format: trailing whitespace:" >&2
    head -20 /tmp/check-format.$$ >&2
    status=1
fi
if git grep -nIP '\t' -- "${text[@]}" >/tmp/check-format.$$ 2>/dev/null; then
    echo "check-format: tab characters:" >&2
    head -20 /tmp/check-format.$$ >&2
    status=1
fi
rm -f /tmp/check-format.$$
for f in "${text[@]}"; do
    if [[ -s "$f" && "$(tail -c1 "$f" | od -An -c | tr -d ' ')" != '\n' ]]; then
        echo "check-format: $f: no final newline" >&2
        status=1
    fi
done

# --- 2. clang-format ----------------------------------------------------------
specs=('native/*.c' 'native/*.h' 'native/*.cc')
mapfile -t files < <(git ls-files -- "${specs[@]}")
bad=0
for f in "${files[@]}"; do
    if ! clang-format --style=file "$f" | diff -u --label "$f" --label "$f (clang-format)" "$f" - >/tmp/check-format.$$; then
        cat /tmp/check-format.$$ >&2
        bad=$((bad + 1))
    fi
done
rm -f /tmp/check-format.$$
if ((bad)); then
    echo "check-format: $bad of ${#files[@]} files differ from clang-format (fix: clang-format -i FILE)" >&2
    status=1
else
    echo "check-format: ${#files[@]} C/C++ files match .clang-format; ${#text[@]} files follow .editorconfig"
fi
exit $status
