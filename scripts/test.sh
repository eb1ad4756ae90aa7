#!/usr/bin/env bash
# The test suite. `bash scripts/test.sh` runs everything (CI): the book build, real-browser checks and real grading
# runs, on every core (pytest-xdist). `bash scripts/test.sh --quick` runs the quick tier: no kernel, no nbgrader, no
# book build (`-m "not slow"`).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh --quick tests/test_exercise_design.py -k vit`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PATH="$PWD/.venv/bin:$PATH"
if [ "${1:-}" = "--quick" ]; then
  shift
  # pytest-xdist: one process per core, one PyTorch thread each (more threads than cores make OpenMP spin);
  # a topic's in-process edits stay on one worker (tests/test_exercise_design.py shares one pass per topic)
  OMP_NUM_THREADS=1 exec .venv/bin/python -m pytest -m "not slow" -n auto --dist loadgroup "$@"
fi
# Debian chromium for tests/test_browser.py, bubblewrap to isolate the grading kernels
bash scripts/system_packages.sh chromium:chromium bwrap:bubblewrap pg_ctlcluster:postgresql
# pytest-xdist, one worker per core: the tests of each slow fixture (the grading run, the hostile batches, the book)
# in one worker each (tests/conftest.py), the rest spread over them (three workers on two cores measured slower)
OMP_NUM_THREADS=1 exec .venv/bin/python -m pytest -n auto --dist loadgroup "$@"
