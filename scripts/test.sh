#!/usr/bin/env bash
# The test suite (includes a full book build, real-browser checks and real nbgrader grading runs).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"` for the quick tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then  # Debian's chromium for tests/test_browser.py
  if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is not installed and cannot be installed without root: the browser tests will be skipped"
  fi
fi
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m pytest "$@"
