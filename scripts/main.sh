#!/usr/bin/env bash
# The main job: set up, build the book (every cell executed), generate the exercises,
# then grade the reference solutions and the blank student stubs with nbgrader as a demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system_packages.sh bwrap:bubblewrap   # isolates the grading kernels
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PATH="$PWD/.venv/bin:$PATH"
echo "== building the book (_build/html), every cell executed =="
rm -rf _build/.jupyter_cache   # _config.yml executes with a cache (fast prose rebuilds); a full run starts without
.venv/bin/jupyter-book build . -W -n --keep-going
echo "== generating exercises/ from solutions/ =="
.venv/bin/python -m autograder generate
echo "== grading the reference solutions and the blank stubs =="
.venv/bin/python -m autograder demo
