"""The worker pool of the execute step: ``config.workers`` long-lived grader processes, one submission each at a time.

Each worker is ``python -m autograder.sandbox --serve``; it runs a submission split between a sandboxed kernel and
itself (``sandbox.execute``), and is restarted after a submission it could not finish (a timeout or a crash) and
after one that stopped on an error of the grader's own.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from autograder.config import Config
from autograder.reference import REPO_ROOT

NO_RESULT = "the sandbox gave no result"


class Worker:
    """A long-lived ``python -m autograder.sandbox --serve`` process, started again after a notebook that stopped on
    an error of the grader's own."""

    def __init__(self, log_path: Path):
        self.log_path, self.proc, self.lines, self.jobs = log_path, None, None, 0

    def _start(self) -> None:
        self.lines = queue.Queue()
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.sandbox", "--serve"], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log_path.open("a"), start_new_session=True)

        def pump(stream, lines):
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, args=(self.proc.stdout, self.lines), daemon=True).start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                pass
            self.proc.wait()
        self.proc = None

    def run(self, job: dict, timeout: float) -> str | None:
        """Run one job (``sandbox.serve``'s JSON); return why the submission stopped early, if it did."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.jobs += 1
        job = dict(job, id=self.jobs)
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                return f"the notebook ran longer than the {timeout:g} s limit"
            if line is None:
                self.stop()
                return "the grader's worker process died while running this notebook"
            if line.strip() == f"done {job['id']}":
                from autograder.sandbox import GRADER_ERRORS

                try:
                    reason = json.loads(Path(job["target"] + ".reason.json").read_text())["reason"]
                except (OSError, ValueError, KeyError):
                    reason = NO_RESULT
                if reason and reason.startswith((*GRADER_ERRORS, NO_RESULT)):
                    self.stop()   # whatever broke in this process never reaches the next student's notebook
                return reason


def executed_target(course_dir: Path, student: str, topic: str) -> Path:
    """A fresh ``executed/<student>/<topic>/`` (with the submission's ``timestamp.txt``); the notebook's path in it."""
    target_dir = course_dir / "executed" / student / topic
    if target_dir.exists():
        shutil.rmtree(target_dir)
    target_dir.mkdir(parents=True)
    shutil.copyfile(course_dir / "submitted" / student / topic / "timestamp.txt", target_dir / "timestamp.txt")
    return target_dir / f"{topic}.ipynb"


def ensure_executed(target: Path, sanitized: str, reason: str | None) -> None:
    """Never leave a submission without a notebook to score: a run that wrote none scores the sanitized notebook,
    every cell marked with why it did not run."""
    from autograder import sandbox

    if not target.exists():
        nb = nbformat.reads(sanitized, as_version=4)
        sandbox._mark_unfinished(nb, reason or "not executed", "SandboxError")
        nbformat.write(nb, target)


class Workers:
    """``config.workers`` worker processes for one grading run, kept across its topics (each loads torch once), and
    the kernel zygote they share (``sandbox.shared_zygote``, started with the first submission); all stopped when
    the run ends."""

    def __init__(self, config: Config):
        (config.course_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.config = config
        self.workers = [Worker(config.course_dir / "logs" / f"worker-{slot}.log")
                        for slot in range(max(1, config.workers))]
        self.zygote, self._zygote_tried = None, False

    def zygote_socket(self) -> str | None:
        from autograder import sandbox

        if not self._zygote_tried or (self.zygote is not None and not self.zygote.alive()):
            self._zygote_tried = True
            if self.zygote is not None:
                self.zygote.stop()
            self.zygote = sandbox.shared_zygote(self.config)
        return None if self.zygote is None else self.zygote.socket

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for worker in self.workers:
            worker.stop()
        if self.zygote is not None:
            self.zygote.stop()


def execute_all(topic: str, students: list[str], config: Config, log, workers: Workers | None = None
                ) -> dict[str, str]:
    """Step 2: run every sanitized notebook in its own sandbox, ``config.workers`` at a time, into ``executed/``.
    Returns {student: reason} for the runs that stopped early (hang, dead kernel, ...). Without ``workers`` (a run's
    :class:`Workers`), the workers live for this call only."""
    if workers is None:
        with Workers(config) as own:
            return execute_all(topic, students, config, log, own)
    from autograder import sandbox

    course_dir = config.course_dir
    drop = sandbox.can_drop_privileges(config)
    shared = workers.zygote_socket() if drop else None
    reasons: dict[str, str] = {}
    idle: queue.Queue = queue.Queue()
    for slot in range(len(workers.workers)):
        idle.put(slot)

    def run(student):
        slot = idle.get()
        try:
            source = course_dir / "sanitized" / student / topic / f"{topic}.ipynb"
            target = executed_target(course_dir, student, topic)
            job = {"source": str(source), "target": str(target), "topic": topic,
                   "uid": config.sandbox_uid_base + slot if drop else None, "zygote": shared, **config.job()}
            reason = workers.workers[slot].run(job, timeout=config.notebook_timeout_s)
            Path(str(target) + ".reason.json").unlink(missing_ok=True)
            ensure_executed(target, source.read_text(), reason)
            return student, reason
        finally:
            idle.put(slot)

    with ThreadPoolExecutor(max_workers=len(workers.workers)) as threads:
        for student, reason in progress(threads.map(run, students), len(students), f"[{topic}] executing", log):
            if reason:
                reasons[student] = reason
    return reasons


def progress(iterable, total: int, desc: str, log):
    done = 0
    for item in iterable:
        done += 1
        if log is print:
            print(f"\r{desc}: {done}/{total}", end="\n" if done == total else "", flush=True)
        yield item
