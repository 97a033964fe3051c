#!/bin/sh
# Renders a featcache HTML report to a PNG with headless Chromium (Debian package `chromium`), so a
# report can be checked by eye or attached to a review. Installs chromium with apt-get when missing
# (needs root). Networking features are switched off; the page itself references nothing external.
# Not a layout test: it only produces the image.
# Usage: scripts/report_screenshot.sh REPORT.html OUT.png [WIDTH,HEIGHT]   (default 1200,2000)
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH,HEIGHT]" >&2
    exit 2
fi
report=$1
out=$2
size=${3:-1200,2000}
[ -f "$report" ] || { echo "$0: $report: no such file" >&2; exit 1; }

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "$0: chromium missing, installing the Debian package" >&2
    apt-get install -y chromium >&2 || { echo "$0: cannot install chromium" >&2; exit 1; }
    browser=$(command -v chromium)
fi

abs_report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
case $out in /*) abs_out=$out ;; *) abs_out=$(pwd)/$out ;; esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT INT TERM
rm -f "$abs_out"

"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --screenshot="$abs_out" \
    --window-size="$size" "file://$abs_report" >"$profile/log" 2>&1 || {
    cat "$profile/log" >&2
    echo "$0: chromium failed" >&2
    exit 1
}
[ -s "$abs_out" ] || { cat "$profile/log" >&2; echo "$0: no screenshot written" >&2; exit 1; }
echo "$abs_out"
