#!/usr/bin/env bash
# Open a report in headless Chromium and save a full-page screenshot (proves it renders offline).
# Usage: scripts/screenshot_report.sh angioseg-demo/report.html report.png
set -euo pipefail
report=$(realpath "$1"); out=$(realpath -m "${2:-report.png}")
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no Chromium found: apt-get install chromium" >&2; exit 2; }
profile=$(mktemp -d); trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1200,2600 --hide-scrollbars \
  --screenshot="$out" "file://$report" >/dev/null 2>&1
[ -s "$out" ] && echo "screenshot: $out"
