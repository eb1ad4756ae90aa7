"""Grading throughput: 40 attention submissions, plain serial `nbgrader autograde` vs this course's grader.

    .venv/bin/python benchmarks/grading.py [--submissions 40] [--workers 1 2]

Plain nbgrader executes every notebook in one kernel, serially, with the test cells inside the student's kernel.
The course's grader (``python -m autograder grade``) sanitizes, runs each submission split between a sandboxed
kernel and a grader worker, ``--workers`` at a time, and scores.  Same submissions, same machine, one run.
Prints submissions per minute, the ratios, and the peak memory of the grader's own processes (the students'
kernels counted separately).  Target on 2 cores: >= 3x plain nbgrader's throughput; grader memory <= 2 GB.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import nbgrader_steps as steps  # noqa: E402
from autograder.pipeline import grade  # noqa: E402
from tests.hostile_corpus import TOPIC, honest_wrong_answer, reference_notebook  # noqa: E402
from tests.planted_bugs import PLANTED_BUGS, apply_bug  # noqa: E402


def make_submissions(folder: Path, count: int) -> None:
    """A class of ``count``: correct answers, honest wrong answers and every planted bug, in rotation."""
    kinds = [reference_notebook, honest_wrong_answer] + [
        (lambda bug=bug: apply_bug(reference_notebook(), bug)) for bug in PLANTED_BUGS[TOPIC]]
    for i in range(count):
        target = folder / f"student-{i:03d}" / f"{TOPIC}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(kinds[i % len(kinds)](), target)


class PeakMemory:
    """Sample the resident memory of this process tree: the grader's processes and the students' kernels."""

    def __init__(self, interval: float = 0.25):
        self.interval, self.grader, self.kernels, self._stop = interval, 0, 0, threading.Event()

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            grader = kernels = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                    is_kernel = "sandbox_kernel" in " ".join(proc.cmdline()) or "ipykernel" in " ".join(proc.cmdline())
                except psutil.Error:
                    continue
                if is_kernel:
                    kernels += rss
                else:
                    grader += rss
            self.grader, self.kernels = max(self.grader, grader), max(self.kernels, kernels)
            time.sleep(self.interval)


def plain_nbgrader(folder: Path, course_dir: Path) -> float:
    """Release, copy every submission into submitted/, `nbgrader autograde` (serial, tests in the kernel)."""
    steps.release_assignment(TOPIC, course_dir)
    for student_dir in sorted(folder.iterdir()):
        steps.place_submission(student_dir / f"{TOPIC}.ipynb", student_dir.name, TOPIC, course_dir)
    start = time.perf_counter()
    done = steps.run_nbgrader(["autograde", TOPIC, "--force", "--create"], course_dir)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stderr[-2000:])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        make_submissions(tmp / "class", args.submissions)
        print(f"{args.submissions} submissions of '{TOPIC}' on {os.cpu_count()} CPU core(s)")
        rows = []
        with PeakMemory() as memory:
            seconds = plain_nbgrader(tmp / "class", tmp / "plain")
        rows.append(("plain nbgrader autograde (serial)", seconds, memory))
        for workers in args.workers:
            course = tmp / f"course-{workers}"
            steps.release_assignment(TOPIC, course)  # as for plain nbgrader: releasing is not grading
            with PeakMemory() as memory:
                start = time.perf_counter()
                grade(tmp / "class", [TOPIC], course_dir=course, csv_path=course / "grades.csv",
                          workers=workers, force=True, log=lambda *a, **k: None)
                seconds = time.perf_counter() - start
            rows.append((f"course grader, {workers} worker(s)", seconds, memory))
            shutil.rmtree(course, ignore_errors=True)
        base = rows[0][1]
        print(f"{'':38} {'seconds':>8} {'subm/min':>9} {'vs plain':>9} {'grader GB':>10} {'kernels GB':>11}")
        for name, seconds, memory in rows:
            print(f"{name:38} {seconds:8.1f} {60 * args.submissions / seconds:9.1f} {base / seconds:8.2f}x "
                  f"{memory.grader / 2**30:10.2f} {memory.kernels / 2**30:11.2f}")


if __name__ == "__main__":
    main()
