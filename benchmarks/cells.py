"""The slowest cells of each reference solution as the grader runs it: what a cell time limit must leave room for.

    .venv/bin/python benchmarks/cells.py [--topics attention vit ...] [--top 3]

Each topic's solution notebook is executed the way a submission is (``sandbox.execute``: student cells in a
sandboxed kernel, test cells in the grader), twice (the first run also starts the kernel zygote); the second run's
cells are timed. Prints, per topic, the whole notebook and its slowest cells, and over all topics the slowest one.
Limits that use these numbers: ``Config.cell_timeout_s`` (60 s by default) and the test suite's shorter ones
(``tests/test_hostile.py``, ``tests/conftest.py``). Numbers are printed, never asserted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import sandbox  # noqa: E402
from autograder.config import Config  # noqa: E402
from autograder.course import topics  # noqa: E402
from autograder.reference import SOLUTIONS_DIR  # noqa: E402


def _timed(times: list, name: str, run):
    def timed(self, cell, *args, **kwargs):
        start = time.perf_counter()
        try:
            return run(self, cell, *args, **kwargs)
        finally:
            times.append((time.perf_counter() - start, name, cell.metadata.get("nbgrader", {}).get("grade_id", "?")))
    return timed


def cell_times(topic: str, out_dir: Path) -> tuple[float, list]:
    """(the whole notebook's seconds, [(seconds, where, grade_id)] of every cell), slowest cells first."""
    from nbclient import NotebookClient

    times: list = []
    grader_run, kernel_run = sandbox.GraderSide.run, NotebookClient.execute_cell
    sandbox.GraderSide.run = _timed(times, "grader", grader_run)
    NotebookClient.execute_cell = _timed(times, "kernel", kernel_run)
    try:
        config = Config.from_env()
        uid = sandbox.claim_uid(config.sandbox_uid_base) if sandbox.can_drop_privileges(config) else None
        start = time.perf_counter()
        reason = sandbox.execute(SOLUTIONS_DIR / f"{topic}.ipynb", out_dir / f"{topic}.ipynb", uid=uid,
                                 topic=topic, config=config)
        total = time.perf_counter() - start
    finally:
        sandbox.GraderSide.run, NotebookClient.execute_cell = grader_run, kernel_run
    if reason:
        raise SystemExit(f"{topic}: the reference stopped early: {reason}")
    return total, sorted(times, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", nargs="*", default=None)
    parser.add_argument("--top", type=int, default=3, help="cells shown per topic")
    args = parser.parse_args()
    slowest = (0.0, "", "", "")
    with tempfile.TemporaryDirectory(prefix="course-cells-") as tmp:
        for topic in args.topics or topics():
            cell_times(topic, Path(tmp))   # warm: the zygote, the grader's imports
            total, times = cell_times(topic, Path(tmp))
            cells = ", ".join(f"{name} ({where}) {seconds:.2f} s" for seconds, where, name in times[:args.top])
            print(f"{topic:<20} notebook {total:5.1f} s   slowest: {cells}")
            if times and times[0][0] > slowest[0]:
                slowest = (*times[0], topic)
    seconds, where, name, topic = slowest
    print(f"\nslowest cell: {topic} {name} ({where}), {seconds:.2f} s")


if __name__ == "__main__":
    main()
