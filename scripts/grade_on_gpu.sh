#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: grade the seven reference solutions in the sandbox and show that the student's
# kernel ran on CUDA (each notebook's setup cell prints "running on cuda (<GPU name>)").
#   bash scripts/grade_on_gpu.sh            exit 0 only if every reference scores 100% and ran on CUDA
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PATH="$PWD/.venv/bin:$PATH"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not found"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python - "$work" <<'PY'
import json, shutil, sys, time
from pathlib import Path

from autograder import cli, sandbox
from autograder.reference import SOLUTIONS_DIR

work = Path(sys.argv[1])
print("GPU device nodes exposed to the sandbox:", sandbox.gpu_devices() or "none")
for topic in cli.topics():
    (work / "in" / "reference").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOLUTIONS_DIR / f"{topic}.ipynb", work / "in" / "reference" / f"{topic}.ipynb")
start = time.monotonic()
results = cli.grade(work / "in", course_dir=work / "course", csv_path=work / "grades.csv", log=lambda *a: None)
ok = True
for result in results:
    executed = work / "course" / "autograded" / "reference" / result.topic / f"{result.topic}.ipynb"
    text = json.dumps(json.loads(executed.read_text())) if executed.exists() else ""
    on = "cuda" if "running on cuda" in text else ("cpu" if "running on cpu" in text else "?")
    full = result.total == result.max_total
    ok &= full and on == "cuda"
    print(f"{result.topic:<20} {result.total:5.1f} / {result.max_total:5.1f}   kernel ran on {on}")
print(f"graded in {time.monotonic() - start:.0f} s:", "OK" if ok else "NOT OK")
sys.exit(0 if ok else 1)
PY
