"""The steps nbgrader does: release an assignment, generate the exercises, sanitize and score a batch.

Student code never runs in these steps (nbgrader's execution is turned off); ``pool.py`` runs it in between. Some
notebooks make nbgrader stop a whole batch: :func:`batch_despite_rejects` grades everyone else and records why.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from autograder import gradebook, nbgrader_server
from autograder.config import AUTOGRADER_DIR, Config
from autograder.course import topics
from autograder.reference import REPO_ROOT, SOLUTIONS_DIR

NBGRADER = str(Path(sys.executable).with_name("nbgrader"))


def _grading_env(course_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader runs `alembic` (and kernels) from PATH: make this interpreter's environment come first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["COURSE_DIR"] = str(course_dir)
    # hidden tests import autograder.reference; student code imports coursetools
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def run_nbgrader(args: list[str], course_dir: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` on ``course_dir`` with the course's config; never raises on failure."""
    cmd = [NBGRADER, *args, f"--CourseDirectory.root={course_dir}"]
    try:
        # every nbgrader step may write to the gradebook: one grader at a time (others may share it)
        with gradebook.exclusive(gradebook.db_url(course_dir), course_dir):
            return nbgrader_server.run(cmd, AUTOGRADER_DIR, _grading_env(course_dir), timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return subprocess.CompletedProcess(cmd, returncode=-9, stdout=out,
                                           stderr=f"nbgrader timed out after {timeout:.0f} s")


def release_assignment(topic: str, course_dir: Path, solutions_dir: Path = SOLUTIONS_DIR) -> Path:
    """Copy the solution into ``source/`` and run ``nbgrader generate_assignment``; return the student notebook."""
    source = course_dir / "source" / topic / f"{topic}.ipynb"
    released = course_dir / "release" / topic / f"{topic}.ipynb"
    solution = (Path(solutions_dir) / f"{topic}.ipynb").read_bytes()
    if source.exists() and source.read_bytes() == solution and released.exists() \
            and gradebook.has_assignment(course_dir, topic):
        return released  # already released from this very solution (and recorded in the gradebook)
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(solution)
    result = run_nbgrader(["generate_assignment", topic, "--force"], course_dir)
    if result.returncode != 0 or not released.exists():
        raise RuntimeError(f"nbgrader generate_assignment {topic} failed:\n{result.stdout}\n{result.stderr}")
    return released


def _normalised(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return json.dumps(nb, sort_keys=True, indent=1)


def generate(check: bool = False, config: Config | None = None) -> list[str]:
    """Generate ``exercises/<topic>.ipynb`` from every solution; with ``check`` only report stale ones."""
    config = config or Config.from_env()
    stale = []
    with tempfile.TemporaryDirectory(prefix="course-generate-") as tmp, nbgrader_server.session():
        work = Path(tmp)
        for topic in topics(config.solutions_dir):
            released = release_assignment(topic, work, config.solutions_dir)
            target = config.exercises_dir / f"{topic}.ipynb"
            if target.exists() and _normalised(target) == _normalised(released):
                continue
            stale.append(topic)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(released, target)
    return stale


def place_submission(notebook: Path, student: str, topic: str, course_dir: Path) -> str | None:
    """Copy a submission into nbgrader's ``submitted/`` folder; return a reason if it cannot be graded."""
    try:
        nbformat.validate(nbformat.read(notebook, as_version=4))
    except Exception as exc:  # noqa: BLE001 -- any unreadable file is the student's problem, not the batch's
        return f"not a valid notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    target = course_dir / "submitted" / student / topic
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copyfile(notebook, target / f"{topic}.ipynb")
    stamp = datetime.fromtimestamp(notebook.stat().st_mtime, tz=timezone.utc)
    (target / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
    return None


def _which_students(only: str | None, exclude: tuple[str, ...] | list[str]) -> list[str]:
    """nbgrader's own filters: one student (``--student``), or everyone but a list (``student_id_exclude``)."""
    return ([f"--student={only}"] if only else []) + (
        [f"--CourseDirectory.student_id_exclude={','.join(exclude)}"] if exclude else [])


def sanitize(topic: str, course_dir: Path, only: str | None = None, exclude=(), timeout: float = 600
             ) -> subprocess.CompletedProcess:
    """Step 1 (trusted, no student code runs): nbgrader clears outputs, restores test cells (hidden tests
    included) from the gradebook and checks cell metadata, into ``sanitized/``."""
    return run_nbgrader(["autograde", topic, "--force", "--create", "--Execute.enabled=False",
                         "--SaveAutoGrades.enabled=False", "--CourseDirectory.autograded_directory=sanitized",
                         *_which_students(only, exclude)], course_dir, timeout=timeout)


def score(topic: str, course_dir: Path, only: str | None = None, exclude=(), timeout: float = 600
          ) -> subprocess.CompletedProcess:
    """Step 3 (trusted, no student code runs): nbgrader scores the executed notebooks into ``autograded/`` and
    the gradebook, exactly as ``nbgrader autograde`` would (test cells restored again, so they cannot be edited)."""
    return run_nbgrader(["autograde", topic, "--force", "--create", "--no-execute",
                         "--CourseDirectory.submitted_directory=executed",
                         *_which_students(only, exclude)], course_dir, timeout=timeout)


def batch_despite_rejects(step, topic: str, course_dir: Path, students: list[str], done) -> dict[str, str]:
    """Run an nbgrader ``step`` for the whole batch of ``students``.  Some notebooks make nbgrader stop the whole
    batch (e.g. a forged metadata schema version), others only fail themselves; so while students are left undone,
    the first of them runs alone (recorded as rejected if nbgrader fails it) and then the batch again for the rest.
    Each rejected notebook costs two more nbgrader runs, not one per student after it.
    Returns {student: why nbgrader rejected the notebook}."""
    last = step(topic, course_dir)
    rejected: dict[str, str] = {}
    while undone := [s for s in students if s not in rejected and not done(s)]:
        first, rest = undone[0], undone[1:]
        alone = step(topic, course_dir, only=first)
        if not done(first):
            rejected[first] = last_error_line(alone.stderr or last.stderr)
        if rest:
            last = step(topic, course_dir, exclude=[s for s in students if s not in rest])
    return rejected


_EXCEPTION_LINE = re.compile(r"(?:^|[\s.])(\w+(?:Error|Exception|Interrupt)): ?(.*)$")
_KNOWN_CAUSES = {
    "DeadKernelError": "the kernel died while running the notebook (os._exit, a crash, or out of memory)",
    "CellTimeoutError": "a cell ran longer than the time limit",
    "UnresponsiveKernelError": "the kernel stopped responding",
}
# an nbgrader log record "[AutogradeApp | ERROR] message" and its indented continuation lines
_LOG_ERROR = re.compile(r"^\[\w+ \| ERROR\] (.*(?:\n[ \t]+.*)*)", re.M)
_KNOWN_LOG_ERRORS = {
    "metadata format": "the nbgrader metadata of a cell was edited: start again from a fresh copy of the exercise",
}


def last_error_line(text: str) -> str:
    """The most informative line of an nbgrader log: the last exception raised, explained when we know it."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for line in reversed(lines):
        match = _EXCEPTION_LINE.search(line)
        if match and not line.startswith("["):
            name, message = match.groups()
            cause = _KNOWN_CAUSES.get(name)
            return f"{cause} ({name}: {message})"[:300] if cause else f"{name}: {message}"[:300]
    errors = _LOG_ERROR.findall(text or "")
    if errors:
        message = " ".join(errors[-1].split())
        hint = next((h for key, h in _KNOWN_LOG_ERRORS.items() if key in message), None)
        return (f"{hint} (nbgrader: {message})" if hint else message)[:300]
    return (lines or ["unknown error"])[-1][:300]
