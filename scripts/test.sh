#!/usr/bin/env bash
# The test suite (includes a full book build and real nbgrader grading runs). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg
.venv/bin/python -m pytest "$@"
