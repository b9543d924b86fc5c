#!/usr/bin/env bash
# Debian packages xrayreport needs beyond Python: fonts for English, Chinese and Russian reports,
# HarfBuzz subsetting (fast PDF fonts), poppler (PDF -> text/PNG in tests); with --tests also chromium
# (browser tests), a PostgreSQL server (the web tests start a throwaway cluster of their own), dcmtk
# (echoscu, storescu: the reference DICOM clients the DICOM node is tested with), dicom3tools (dciodvfy checks
# the DICOM results against the standard) and Orthanc with its DICOMweb plugin (a real PACS the results are sent to
# and studies are pulled from).
# As root it installs what is missing; otherwise it prints the apt line to run.
set -euo pipefail
packages=(fonts-dejavu-core fonts-wqy-microhei libharfbuzz-subset0 poppler-utils libpango-1.0-0 libpangoft2-1.0-0)
if [ "${1:-}" = "--tests" ]; then packages+=(chromium postgresql dcmtk dicom3tools orthanc orthanc-dicomweb); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "xrayreport needs these Debian packages; run as root:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
