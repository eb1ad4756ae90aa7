"""Grading throughput: attention submissions, plain serial `nbgrader autograde` vs this course's grader, on the local
worker pool and on a Dask cluster; and what a class of 1,000 students x 7 notebooks would take on bigger machines.

    .venv/bin/python benchmarks/grading.py [--submissions 40] [--workers 1 2] [--dask] [--no-plain]

Plain nbgrader executes every notebook in one kernel, serially, with the test cells inside the student's kernel.
The course's grader (``python -m autograder grade``) sanitizes, runs each submission split between a sandboxed
kernel and a grader worker, ``--workers`` at a time, and scores.  Same submissions, same machine, one run.
Prints submissions per minute, the ratios, and the peak memory of the grader's own processes (the students'
kernels counted separately).  Target on 2 cores: >= 3x plain nbgrader's throughput; grader memory <= 2 GB.

``--dask`` grades the same class again with the execute step on an in-process Dask ``LocalCluster`` (one process
per worker, one thread each: what ``--scheduler`` does on a real cluster) and prints its overhead against the local
pool at the same number of workers (target <= 10%). Each run is split into the central steps (release, sanitize,
score: nbgrader and the gradebook, on the grading machine, one at a time) and the execute step (the submissions, on
the workers); from those the last table projects 1,000 x 7 notebooks onto N machines of 2, 16 and 64 cores:
central time + execute core-seconds / (N x cores).
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

from autograder import distributed, pool  # noqa: E402
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
                    command = " ".join(proc.cmdline())   # the zygote, and the kernels it forks, count as kernels
                    is_kernel = any(name in command for name in ("sandbox_kernel", "ipykernel", "kernel_zygote"))
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


class StepTimes:
    """Seconds spent in the central steps (nbgrader: release, sanitize, score) and in the execute step."""

    CENTRAL = (steps, ("release_assignment", "sanitize", "score"))
    EXECUTE = ((pool, "execute_all"), (distributed, "execute_topic"))

    def __init__(self):
        self.central = self.execute = 0.0

    def __enter__(self):
        self._saved = []
        module, names = self.CENTRAL
        for name in names:
            self._wrap(module, name, "central")
        for module, name in self.EXECUTE:
            self._wrap(module, name, "execute")
        return self

    def _wrap(self, module, name, bucket):
        original = getattr(module, name)
        self._saved.append((module, name, original))

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                setattr(self, bucket, getattr(self, bucket) + time.perf_counter() - start)

        setattr(module, name, timed)

    def __exit__(self, *exc):
        for module, name, original in self._saved:
            setattr(module, name, original)


def run_grader(folder: Path, course: Path, workers: int, scheduler: str | None = None):
    steps.release_assignment(TOPIC, course)  # as for plain nbgrader: releasing is not grading
    with PeakMemory() as memory, StepTimes() as times:
        start = time.perf_counter()
        grade(folder, [TOPIC], course_dir=course, csv_path=course / "grades.csv", workers=workers, force=True,
              scheduler=scheduler, log=lambda *a, **k: None)
        seconds = time.perf_counter() - start
    rows = (course / "grades.csv").read_text()
    shutil.rmtree(course, ignore_errors=True)
    return seconds, memory, times, rows


def dask_cluster(workers: int):
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        host="127.0.0.1")


def projection(times: StepTimes, submissions: int, workers: int) -> list[str]:
    """1,000 x 7 notebooks: the central steps stay on one machine; execution spreads over every core."""
    notebooks = 1000 * 7
    central = times.central / submissions                 # seconds per notebook, one at a time
    execute = times.execute * workers / submissions       # core-seconds per notebook
    lines = [f"per notebook: central {central:.2f} s (one machine, serial), execute {execute:.2f} core-s",
             f"{'1,000 x 7 notebooks':24}" + "".join(f"{f'{c} cores':>12}" for c in (2, 16, 64))]
    for machines in (1, 4, 16, 64):
        cells = []
        for cores in (2, 16, 64):
            hours = (notebooks * central + notebooks * execute / (machines * cores)) / 3600
            cells.append(f"{hours:10.1f} h")
        lines.append(f"{f'{machines} machine(s)':24}" + "".join(f"{c:>12}" for c in cells))
    lines.append(f"the central steps alone: {notebooks * central / 3600:.1f} h (the floor however many workers)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dask", action="store_true", help="also grade on a Dask LocalCluster of each size")
    parser.add_argument("--no-plain", action="store_true", help="skip plain nbgrader")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        make_submissions(tmp / "class", args.submissions)
        print(f"{args.submissions} submissions of '{TOPIC}' on {os.cpu_count()} CPU core(s)")
        rows, csvs, split = [], {}, {}
        if not args.no_plain:
            with PeakMemory() as memory:
                seconds = plain_nbgrader(tmp / "class", tmp / "plain")
            rows.append(("plain nbgrader autograde (serial)", seconds, memory))
        for workers in args.workers:
            seconds, memory, times, csvs[("pool", workers)] = run_grader(tmp / "class", tmp / "pool", workers)
            rows.append((f"course grader, {workers} worker(s)", seconds, memory))
            split[("pool", workers)] = (seconds, times)
            if args.dask:
                with dask_cluster(workers) as cluster:
                    seconds, memory, times, csvs[("dask", workers)] = run_grader(
                        tmp / "class", tmp / "dask", workers, scheduler=cluster.scheduler_address)
                rows.append((f"  on a Dask LocalCluster, {workers} worker(s)", seconds, memory))
                split[("dask", workers)] = (seconds, times)
        base = rows[0][1]
        print(f"{'':46} {'seconds':>8} {'subm/min':>9} {'vs first':>9} {'grader GB':>10} {'kernels GB':>11}")
        for name, seconds, memory in rows:
            print(f"{name:46} {seconds:8.1f} {60 * args.submissions / seconds:9.1f} {base / seconds:8.2f}x "
                  f"{memory.grader / 2**30:10.2f} {memory.kernels / 2**30:11.2f}")
        print(f"\n{'':24} {'central s':>10} {'execute s':>10}")
        for (engine, workers), (seconds, times) in split.items():
            print(f"{f'{engine}, {workers} worker(s)':24} {times.central:10.1f} {times.execute:10.1f}")
        for workers in args.workers:
            if ("dask", workers) in split:
                local, dask = split[("pool", workers)][0], split[("dask", workers)][0]
                same = "same grades" if csvs[("pool", workers)] == csvs[("dask", workers)] else "GRADES DIFFER"
                print(f"Dask overhead at {workers} worker(s): {100 * (dask / local - 1):+.1f}% ({same})")
        engine, workers = ("pool", max(args.workers))
        print("\n" + "\n".join(projection(split[(engine, workers)][1], args.submissions, workers)))


if __name__ == "__main__":
    main()
