#!/usr/bin/env bash
# Debian tools the tests use when present: dciodvfy (dicom3tools), and Orthanc with its DICOMweb
# plugin (orthanc, orthanc-dicomweb) for the PACS round trips of Testing/test_pacs.py.
# Installed only as root with apt; otherwise (or when apt fails) a note says which tests skip.
set -uo pipefail

missing=()
command -v dciodvfy >/dev/null || missing+=(dicom3tools)
[ -x /usr/sbin/Orthanc ] || missing+=(orthanc)
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing+=(orthanc-dicomweb)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}") >/dev/null 2>&1; then
    # the Debian package starts a system Orthanc on ports 8042/4242; the tests start their own
    # on free ports, so leave the service as the administrator set it up
    exit 0
  fi
  echo "note: could not install ${missing[*]} with apt"
else
  echo "note: ${missing[*]} not installed (needs root and apt)"
fi
echo "note: DICOM validation (dciodvfy) and PACS (Orthanc) tests will skip with a reason"
exit 0
