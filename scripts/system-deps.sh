#!/usr/bin/env bash
# Debian tools the tests use when present: dciodvfy (dicom3tools) and ffmpeg-free checks.
# Skipped silently without root or apt; the tests that need them then skip with a reason.
set -uo pipefail
command -v dciodvfy >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dicom3tools) >/dev/null 2>&1 \
    || echo "note: could not install dicom3tools; DICOM validation tests will skip"
fi
exit 0
