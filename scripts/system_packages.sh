#!/usr/bin/env bash
# Install Debian packages that are missing, when we can (root or passwordless sudo); otherwise say what is skipped.
#   bash scripts/system_packages.sh COMMAND:PACKAGE ...   e.g. chromium:chromium bwrap:bubblewrap
set -euo pipefail
missing=()
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "cannot install ${missing[*]} without root: chromium -> browser tests skipped;" \
       "bubblewrap -> kernels not isolated, hostile-submission tests skipped"
fi
