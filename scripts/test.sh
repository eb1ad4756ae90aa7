#!/usr/bin/env bash
# The test suite (includes a full book build, real-browser checks and real nbgrader grading runs).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"` for the quick tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Debian chromium for tests/test_browser.py, bubblewrap to isolate the grading kernels
bash scripts/system_packages.sh chromium:chromium bwrap:bubblewrap
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m pytest "$@"
