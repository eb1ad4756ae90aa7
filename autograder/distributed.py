"""Grading beyond one machine: the execute step on a Dask cluster.

Only the middle step of grading runs student code (``sandbox.execute``), so only it leaves this machine. Sanitizing
and scoring (nbgrader, the gradebook) stay here. Each submission becomes one Dask task whose arguments are data:
the sanitized notebook, the topic's solution notebook (hidden tests need the reference) and the time limits. The
worker writes them into a private folder, runs the sandbox exactly as the local pool does, and returns the
executed notebook as text. Nothing assumes a shared filesystem; a worker machine needs only
``pip install <this repository>`` and bubblewrap.

Faults: a task whose worker dies is run again on another worker by the scheduler (Dask's ``allowed-failures``), and
the sandbox's own deadline bounds each run, so a batch never loses a submission; a scheduler that cannot be reached
is reported before anything is graded.

Security: Dask's ``tcp://`` channels are unauthenticated: whoever reaches the scheduler can run code on the
workers. Keep scheduler and workers on a private network (or use ``tls://`` with Dask's security settings). The
student's kernel itself has no network on any machine (its own network namespace).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CONNECT_TIMEOUT_S = 10


class SchedulerUnreachable(RuntimeError):
    pass


@dataclass
class Execution:
    notebook: str | None   # the executed notebook (JSON text), None when the run produced none
    reason: str | None     # why the run stopped early, as the local pool reports it
    worker: str = ""       # the Dask worker that ran it


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A Dask client for ``address`` (``tcp://HOST:PORT``), or :class:`SchedulerUnreachable` with what to check."""
    from distributed import Client

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({type(error).__name__}): start it "
            f"with `dask scheduler` and the workers with `dask worker {address} --nthreads 1`, or grade on this "
            f"machine without --scheduler") from None
    if not client.scheduler_info().get("workers"):
        client.wait_for_workers(1, timeout=timeout)
    return client


# --------------------------------------------------------------------------- worker side


def _die_with_parent() -> None:  # pragma: no cover -- runs in the child between fork and exec
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()


class _Server:
    """One long-lived ``python -m autograder.sandbox --serve`` per worker process and solutions version, so that
    torch and the references load once per worker, as in the local pool. It dies with the worker."""

    def __init__(self, solutions_dir: Path, log: Path):
        env = dict(os.environ, COURSE_SOLUTIONS_DIR=str(solutions_dir),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                            os.environ.get("PYTHONPATH", "")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.sandbox", "--serve"], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("a"),
                                     preexec_fn=_die_with_parent)
        self.jobs = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, job: dict, timeout: float) -> str | None:
        self.jobs += 1
        job = dict(job, id=self.jobs)
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        result: dict = {}

        def wait():
            for line in self.proc.stdout:
                if line.strip() == f"done {job['id']}":
                    result["done"] = True
                    return

        reader = threading.Thread(target=wait, daemon=True)
        reader.start()
        reader.join(timeout)
        if not result:
            self.stop()
            return f"the notebook ran longer than the {int(timeout)} s limit"
        try:
            return json.loads(Path(job["target"] + ".reason.json").read_text())["reason"]
        except (OSError, ValueError, KeyError):
            return "the sandbox gave no result"

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()


_UID_BASE = 62000   # kernels of Dask workers: the first free uid from here (sandbox.claim_uid)


_servers: dict[str, _Server] = {}
_lock = threading.Lock()


def _workspace() -> Path:
    root = Path(os.environ.get("COURSE_WORKER_DIR") or Path(tempfile.gettempdir()) / f"course-worker-{os.getpid()}")
    root.mkdir(parents=True, exist_ok=True)
    return root


def execute_remote(topic: str, notebook: str, solution: str, job: dict, timeout: float) -> dict:
    """Run on a Dask worker: execute one sanitized submission in the sandbox; return the executed notebook (text)
    and the reason it stopped early, if it did. Only data comes in (``job`` is ``Config.job()``) and goes out."""
    from distributed import get_worker

    from autograder import sandbox
    from autograder.config import Config

    version = hashlib.sha256(solution.encode()).hexdigest()[:16]
    root = _workspace()
    solutions_dir = root / "solutions" / version
    if not (solutions_dir / f"{topic}.ipynb").exists():
        solutions_dir.mkdir(parents=True, exist_ok=True)
        tmp = solutions_dir / f".{topic}.ipynb.tmp"
        tmp.write_text(solution)
        tmp.replace(solutions_dir / f"{topic}.ipynb")
    config = Config.from_env().with_(**job.get("config", {}))
    with _lock, tempfile.TemporaryDirectory(dir=root, prefix="job-") as job_dir:
        source, target = Path(job_dir) / f"{topic}.ipynb", Path(job_dir) / "executed" / f"{topic}.ipynb"
        source.write_text(notebook)
        server = _servers.get(version)
        if server is None or not server.alive():
            server = _servers[version] = _Server(solutions_dir, root / "sandbox.log")
        uid = sandbox.claim_uid(_UID_BASE) if sandbox.can_drop_privileges(config) else None
        reason = server.run(dict(job, source=str(source), target=str(target), topic=topic, uid=uid), timeout)
        text = target.read_text() if target.exists() else None
    try:
        worker = get_worker().address
    except ValueError:
        worker = ""
    return {"notebook": text, "reason": reason, "worker": worker}


# --------------------------------------------------------------------------- grader side


def execute_all(client, jobs: dict[str, dict], progress=None) -> dict[str, Execution]:
    """Send every job ({student: execute_remote's keyword arguments}) to the cluster; gather as they finish.
    A job whose worker died is retried by the scheduler; one that fails for good gets a reason, never an exception."""
    from distributed import as_completed

    futures = {client.submit(execute_remote, pure=False, key=f"grade-{student}-{time.time_ns()}", **job): student
               for student, job in jobs.items()}
    done: dict[str, Execution] = {}
    for future in as_completed(list(futures), loop=client.loop):
        student = futures[future]
        try:
            answer = future.result()
            done[student] = Execution(answer["notebook"], answer["reason"], answer.get("worker", ""))
        except Exception as error:  # noqa: BLE001 -- a lost task is a recorded reason, never a crashed batch
            done[student] = Execution(None, f"the cluster could not run this notebook: {type(error).__name__}: "
                                            f"{str(error)[:200]}")
        if progress:
            progress(student)
    return done


def execute_topic(client, topic: str, students: list[str], config, log=print) -> dict[str, str]:
    """The execute step of ``grade`` on the cluster, with the local pool's contract: read
    ``sanitized/<student>/<topic>/<topic>.ipynb``, write ``executed/<student>/<topic>/<topic>.ipynb`` (and its
    ``timestamp.txt``), return {student: reason} for the runs that stopped early. Which worker ran each submission
    goes to ``logs/cluster.log``."""
    from autograder import pool

    course_dir = config.course_dir
    solution_text = (config.solutions_dir / f"{topic}.ipynb").read_text()
    jobs = {student: dict(topic=topic, solution=solution_text, job=config.job(), timeout=config.notebook_timeout_s,
                          notebook=(course_dir / "sanitized" / student / topic / f"{topic}.ipynb").read_text())
            for student in students}
    log(f"[{topic}] executing {len(jobs)} submission(s) on the Dask cluster at {config.scheduler}")
    reasons = {}
    (course_dir / "logs").mkdir(exist_ok=True)
    with open(course_dir / "logs" / "cluster.log", "a") as ran_where:
        for student, execution in execute_all(client, jobs).items():
            ran_where.write(f"{topic} {student} {execution.worker}\n")
            target = pool.executed_target(course_dir, student, topic)
            if execution.notebook is not None:
                target.write_text(execution.notebook)
            pool.ensure_executed(target, jobs[student]["notebook"], execution.reason)
            if execution.reason:
                reasons[student] = execution.reason
    return reasons
