"""Command-line tools over nbgrader: generate exercises, grade a class, write feedback.

    python -m autograder generate [--check]      solutions/ -> exercises/ (check: fail if exercises/ is stale)
    python -m autograder grade FOLDER|ZIP [--topic T] [--csv grades.csv] [--workers N] [--force]
    python -m autograder export [--csv grades.csv]   the CSV of everything graded so far
    python -m autograder feedback [--out feedback/]
    python -m autograder demo                    grade the reference solutions and the blank stubs

nbgrader does the real work (``generate_assignment``, ``autograde`` with its
SQLite gradebook).  This layer adds what a course needs around it: one flat
``solutions/<topic>.ipynb`` per topic, a staleness check, a grading run in which
a broken submission gets a score *and a reason* without stopping the batch, a
CSV export, and feedback that never shows hidden test code.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from autograder.reference import REPO_ROOT, SOLUTIONS_DIR, is_test_cell

AUTOGRADER_DIR = Path(__file__).resolve().parent
EXERCISES_DIR = REPO_ROOT / "exercises"
DEFAULT_COURSE_DIR = AUTOGRADER_DIR / "course"
NBGRADER = str(Path(sys.executable).with_name("nbgrader"))
NOTEBOOK_TIMEOUT_S = int(os.environ.get("COURSE_NOTEBOOK_TIMEOUT", "600"))
CELL_TIMEOUT_S = int(os.environ.get("COURSE_CELL_TIMEOUT", "60"))
SANDBOX_UID_BASE = 61000  # sandboxed kernels run as uid 61000 + worker slot when the grader is root


def topics() -> list[str]:
    """Every topic that has a solution notebook."""
    return sorted(p.stem for p in SOLUTIONS_DIR.glob("*.ipynb"))


# --------------------------------------------------------------------------- nbgrader calls

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
        return subprocess.run(cmd, cwd=AUTOGRADER_DIR, env=_grading_env(course_dir),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return subprocess.CompletedProcess(cmd, returncode=-9, stdout=out,
                                           stderr=f"nbgrader timed out after {timeout:.0f} s")


def release_assignment(topic: str, course_dir: Path) -> Path:
    """Copy the solution into ``source/`` and run ``nbgrader generate_assignment``; return the student notebook."""
    source = course_dir / "source" / topic / f"{topic}.ipynb"
    released = course_dir / "release" / topic / f"{topic}.ipynb"
    solution = (SOLUTIONS_DIR / f"{topic}.ipynb").read_bytes()
    if source.exists() and source.read_bytes() == solution and released.exists() \
            and (course_dir / "gradebook.db").exists():
        return released  # already released from this very solution (and recorded in the gradebook)
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(solution)
    result = run_nbgrader(["generate_assignment", topic, "--force"], course_dir)
    if result.returncode != 0 or not released.exists():
        raise RuntimeError(f"nbgrader generate_assignment {topic} failed:\n{result.stdout}\n{result.stderr}")
    return released


# --------------------------------------------------------------------------- generate

def _normalised(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return json.dumps(nb, sort_keys=True, indent=1)


def generate(check: bool = False, course_dir: Path | None = None) -> list[str]:
    """Generate ``exercises/<topic>.ipynb`` from every solution; with ``check`` only report stale ones."""
    stale = []
    with tempfile.TemporaryDirectory(prefix="course-generate-") as tmp:
        work = Path(course_dir or tmp)
        for topic in topics():
            released = release_assignment(topic, work)
            target = EXERCISES_DIR / f"{topic}.ipynb"
            if target.exists() and _normalised(target) == _normalised(released):
                continue
            stale.append(topic)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(released, target)
    return stale


# --------------------------------------------------------------------------- grade

@dataclass
class Result:
    student: str
    topic: str
    scores: dict[str, float] = field(default_factory=dict)      # grade cell -> points earned
    max_scores: dict[str, float] = field(default_factory=dict)  # grade cell -> points possible
    reasons: dict[str, str] = field(default_factory=dict)       # grade cell (or "submission") -> why points were lost

    @property
    def total(self) -> float:
        return sum(self.scores.values())

    @property
    def max_total(self) -> float:
        return sum(self.max_scores.values())


def grade_cells(topic: str) -> dict[str, float]:
    """The graded test cells of a topic and their points, in notebook order."""
    nb = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in nb.cells if is_test_cell(c)}


def collect_submissions(folder: Path, wanted: list[str]) -> dict[tuple[str, str], Path]:
    """Find ``<student>/<topic>.ipynb`` (or ``<student>/<topic>/<topic>.ipynb``) under ``folder``."""
    found = {}
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for topic in wanted:
            for candidate in (student_dir / f"{topic}.ipynb", student_dir / topic / f"{topic}.ipynb"):
                if candidate.exists():
                    found[(student_dir.name, topic)] = candidate
                    break
    return found


def _unzip_if_needed(path: Path, stack: list) -> Path:
    if path.is_file() and zipfile.is_zipfile(path):
        tmp = tempfile.TemporaryDirectory(prefix="course-submissions-")
        stack.append(tmp)
        with zipfile.ZipFile(path) as archive:
            archive.extractall(tmp.name)
        entries = [p for p in Path(tmp.name).iterdir() if not p.name.startswith(("__MACOSX", "."))]
        # a zip of one top folder holding the student folders, or of the student folders themselves
        if len(entries) == 1 and entries[0].is_dir() and not any(entries[0].glob("*.ipynb")):
            return entries[0]
        return Path(tmp.name)
    if not path.is_dir():
        raise SystemExit(f"{path} is neither a folder nor a zip file of submissions")
    return path


MESSAGE_CHARS = 1500  # a failed check's whole message (torch.testing's mismatch report included), cut here


def _failure_message(cell) -> str:
    """Why a graded cell lost points, from its outputs: the error's whole message (every line: the grader's error
    outputs carry the message only, never test code), a timeout, or stray stderr."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip()
            if len(value) > MESSAGE_CHARS:
                value = value[:MESSAGE_CHARS].rstrip() + f"\n... [{len(value) - MESSAGE_CHARS} more characters]"
            return f"{output.get('ename', 'Error')}: {value}".strip().rstrip(":")
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "the cell wrote to stderr (nbgrader gives 0 for that): " + output.get("text", "").strip()[:200]
    return "the cell did not run (an earlier cell may have stopped the kernel or timed out)"


def _read_results(topic: str, students: list[str], course_dir: Path, max_scores: dict[str, float]) -> dict[str, Result]:
    from nbgrader.api import Gradebook, MissingEntry

    results = {}
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        for student in students:
            try:
                nb = gb.find_submission_notebook(topic, topic, student)
            except MissingEntry:
                continue
            autograded = course_dir / "autograded" / student / topic / f"{topic}.ipynb"
            if not autograded.exists():
                continue
            result = Result(student, topic, max_scores=dict(max_scores))
            for grade in nb.grades:
                result.scores[grade.name] = float(grade.score or 0.0)
            cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c
                     for c in nbformat.read(autograded, as_version=4).cells}
            for name, points in max_scores.items():
                if result.scores.get(name, 0.0) < points:
                    result.reasons[name] = _failure_message(cells.get(name, {}))
            results[student] = result
    return results


def _place_submission(notebook: Path, student: str, topic: str, course_dir: Path) -> str | None:
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


def _sanitize(topic: str, course_dir: Path, only: str | None = None, exclude=()) -> subprocess.CompletedProcess:
    """Phase 1 (trusted, no student code runs): nbgrader clears outputs, restores test cells (hidden tests
    included) from the gradebook and checks cell metadata, into ``sanitized/``."""
    return run_nbgrader(["autograde", topic, "--force", "--create", "--Execute.enabled=False",
                         "--SaveAutoGrades.enabled=False", "--CourseDirectory.autograded_directory=sanitized",
                         *_which_students(only, exclude)], course_dir, timeout=NOTEBOOK_TIMEOUT_S)


class _Worker:
    """A long-lived ``python -m autograder.sandbox --serve`` process: one submission at a time, restarted after a
    submission it could not finish (timeout or crash)."""

    def __init__(self, log_path: Path):
        self.log_path, self.proc, self.lines, self.jobs = log_path, None, None, 0

    def _start(self) -> None:
        import queue
        import threading

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
        import queue
        import time

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
                return f"the notebook ran longer than the {NOTEBOOK_TIMEOUT_S} s limit"
            if line is None:
                self.stop()
                return "the grader's worker process died while running this notebook"
            if line.strip() == f"done {job['id']}":
                try:
                    return json.loads(Path(job["target"] + ".reason.json").read_text())["reason"]
                except (OSError, ValueError, KeyError):
                    return "the sandbox gave no result"


def _execute_all(topic: str, students: list[str], course_dir: Path, workers: int, log) -> dict[str, str]:
    """Phase 2: run every sanitized notebook in its own sandbox, ``workers`` at a time, into ``executed/``.
    Returns {student: reason} for the runs that stopped early (hang, dead kernel, ...)."""
    import queue

    from autograder import sandbox

    drop = sandbox.can_drop_privileges()
    reasons: dict[str, str] = {}
    (course_dir / "logs").mkdir(exist_ok=True)
    idle: queue.Queue = queue.Queue()
    pool_workers = [_Worker(course_dir / "logs" / f"worker-{slot}.log") for slot in range(max(1, workers))]
    for slot in range(len(pool_workers)):
        idle.put(slot)

    def run(student):
        slot = idle.get()
        try:
            source = course_dir / "sanitized" / student / topic / f"{topic}.ipynb"
            target_dir = course_dir / "executed" / student / topic
            if target_dir.exists():
                shutil.rmtree(target_dir)
            target_dir.mkdir(parents=True)
            shutil.copyfile(course_dir / "submitted" / student / topic / "timestamp.txt",
                            target_dir / "timestamp.txt")
            target = target_dir / f"{topic}.ipynb"
            job = {"source": str(source), "target": str(target), "cell_timeout": CELL_TIMEOUT_S, "topic": topic,
                   "notebook_timeout": max(30, NOTEBOOK_TIMEOUT_S - 15),
                   "uid": SANDBOX_UID_BASE + slot if drop else None}
            reason = pool_workers[slot].run(job, timeout=NOTEBOOK_TIMEOUT_S)
            Path(str(target) + ".reason.json").unlink(missing_ok=True)
            if not target.exists():  # never leave a submission without a notebook to score
                nb = nbformat.read(source, as_version=4)
                from autograder.sandbox import _mark_unfinished
                _mark_unfinished(nb, reason or "not executed", "SandboxError")
                nbformat.write(nb, target)
            return student, reason
        finally:
            idle.put(slot)

    try:
        with ThreadPoolExecutor(max_workers=len(pool_workers)) as pool:
            for student, reason in _progress(pool.map(run, students), len(students), f"[{topic}] executing", log):
                if reason:
                    reasons[student] = reason
    finally:
        for worker in pool_workers:
            worker.stop()
    return reasons


def _score(topic: str, course_dir: Path, only: str | None = None, exclude=()) -> subprocess.CompletedProcess:
    """Phase 3 (trusted, no student code runs): nbgrader scores the executed notebooks into ``autograded/`` and
    the gradebook, exactly as ``nbgrader autograde`` would (test cells restored again, so they cannot be edited)."""
    return run_nbgrader(["autograde", topic, "--force", "--create", "--no-execute",
                         "--CourseDirectory.submitted_directory=executed",
                         *_which_students(only, exclude)], course_dir, timeout=NOTEBOOK_TIMEOUT_S)


def _batch_despite_rejects(step, topic: str, course_dir: Path, students: list[str], done) -> dict[str, str]:
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
            rejected[first] = _last_error_line(alone.stderr or last.stderr)
        if rest:
            last = step(topic, course_dir, exclude=[s for s in students if s not in rest])
    return rejected


def _progress(iterable, total: int, desc: str, log):
    done = 0
    for item in iterable:
        done += 1
        if log is print:
            print(f"\r{desc}: {done}/{total}", end="\n" if done == total else "", flush=True)
        yield item


STATE_FILE = "grading-state.json"
GRADER_FILES = tuple(sorted(p.name for p in AUTOGRADER_DIR.glob("*.py")))


def _fingerprint(notebook: Path, topic: str) -> str:
    """Changes when the submission, the assignment, the grader's code or its limits change."""
    digest = hashlib.sha256(notebook.read_bytes())
    digest.update((SOLUTIONS_DIR / f"{topic}.ipynb").read_bytes())
    for name in GRADER_FILES:
        digest.update((AUTOGRADER_DIR / name).read_bytes())
    for path in sorted((REPO_ROOT / "coursetools").glob("*.py")):  # what the kernel may import, and the references
        digest.update(path.read_bytes())
    digest.update(f"{CELL_TIMEOUT_S} {NOTEBOOK_TIMEOUT_S}".encode())
    return digest.hexdigest()


def _load_state(course_dir: Path) -> dict:
    try:
        return json.loads((course_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _save_state(course_dir: Path, state: dict) -> None:
    tmp = course_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))  # key order is question order: keep it
    tmp.replace(course_dir / STATE_FILE)  # atomic: an interrupted run never leaves half a state


def grade(folder: Path, wanted: list[str] | None = None, course_dir: Path = DEFAULT_COURSE_DIR,
          csv_path: Path | None = None, log=print, workers: int | None = None, force: bool = False) -> list[Result]:
    """Autograde every submission under ``folder``; return one Result per (student, topic).

    nbgrader sanitizes (phase 1) and scores (phase 3) the whole batch; between them each submission runs in its own
    sandbox, ``workers`` at a time (default: one per CPU core).  A submission that cannot be graded still gets a
    Result: the points of what ran, and a reason.
    """
    wanted = wanted or topics()
    workers = workers or os.cpu_count() or 1
    keep_alive: list = []
    folder = _unzip_if_needed(Path(folder), keep_alive)
    submissions = collect_submissions(folder, wanted)
    students = sorted({s for s, _ in submissions} | {p.name for p in folder.iterdir()
                                                     if p.is_dir() and not p.name.startswith(".")})
    course_dir.mkdir(parents=True, exist_ok=True)
    state = {} if force else _load_state(course_dir)
    results: list[Result] = []
    for topic in wanted:
        release_assignment(topic, course_dir)
        max_scores = grade_cells(topic)
        gradable, broken, kept = [], {}, {}
        fingerprints = {s: _fingerprint(submissions[(s, topic)], topic) for s in students if (s, topic) in submissions}
        for student in students:
            previous = state.get(topic, {}).get(student)
            if previous and previous["fingerprint"] == fingerprints.get(student):
                kept[student] = Result(**previous["result"])
                continue
            notebook = submissions.get((student, topic))
            reason = "no submission" if notebook is None else _place_submission(notebook, student, topic, course_dir)
            (broken.__setitem__(student, reason) if reason else gradable.append(student))
        for placed in (course_dir / "submitted").glob(f"*/{topic}"):
            if placed.parent.name not in gradable:   # nbgrader grades every submitted folder: only the new ones
                shutil.rmtree(placed)
        if kept:
            log(f"[{topic}] {len(kept)} submission(s) unchanged since they were graded: kept")
        for stale in ("sanitized", "executed", "autograded"):
            for student in gradable:
                shutil.rmtree(course_dir / stale / student / topic, ignore_errors=True)
        log(f"[{topic}] grading {len(gradable)} submission(s), {workers} at a time")
        by_student: dict[str, Result] = {}
        if gradable:
            unread = _batch_despite_rejects(
                _sanitize, topic, course_dir, gradable,
                lambda s: (course_dir / "sanitized" / s / topic / f"{topic}.ipynb").exists())
            ready = [s for s in gradable if s not in unread]
            for student, why in unread.items():
                broken[student] = "nbgrader could not read the submission: " + why
                shutil.rmtree(course_dir / "submitted" / student / topic, ignore_errors=True)  # not scored either
            stopped = _execute_all(topic, ready, course_dir, workers, log)
            unscored = _batch_despite_rejects(
                _score, topic, course_dir, ready,
                lambda s: (course_dir / "autograded" / s / topic / f"{topic}.ipynb").exists())
            for student in unscored:   # or the next run's first batch would stop at it again
                shutil.rmtree(course_dir / "executed" / student / topic, ignore_errors=True)
            by_student = _read_results(topic, ready, course_dir, max_scores)
            for student in ready:
                if student not in by_student:
                    broken[student] = "nbgrader could not score the submission: " + unscored.get(student, "unknown")
                elif student in stopped:
                    by_student[student].reasons["submission"] = stopped[student]
        for student in students:
            result = kept.get(student) or by_student.get(student)
            if result is None:
                result = Result(student, topic, scores={k: 0.0 for k in max_scores}, max_scores=dict(max_scores))
                result.reasons["submission"] = broken.get(student, "not graded")
            results.append(result)
            if student in fingerprints and student not in kept:
                state.setdefault(topic, {})[student] = {"fingerprint": fingerprints[student], "result": asdict(result)}
            log(f"  {student:<24} {result.total:5.1f} / {result.max_total:.1f}"
                + ("" if not result.reasons else f"   ({len(result.reasons)} check(s) failed)")
                + ("   (kept)" if student in kept else ""))
        _save_state(course_dir, state)
    if csv_path:
        write_csv(results, Path(csv_path))
    return results


_EXCEPTION_LINE = re.compile(r"(?:^|[\s.])(\w+(?:Error|Exception|Interrupt)): ?(.*)$")
_KNOWN_CAUSES = {
    "DeadKernelError": "the kernel died while running the notebook (os._exit, a crash, or out of memory)",
    "CellTimeoutError": "a cell ran longer than the time limit",
    "UnresponsiveKernelError": "the kernel stopped responding",
}


def _last_error_line(text: str) -> str:
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


# an nbgrader log record "[AutogradeApp | ERROR] message" and its indented continuation lines
_LOG_ERROR = re.compile(r"^\[\w+ \| ERROR\] (.*(?:\n[ \t]+.*)*)", re.M)
_KNOWN_LOG_ERRORS = {
    "metadata format": "the nbgrader metadata of a cell was edited: start again from a fresh copy of the exercise",
}


def write_csv(results: list[Result], path: Path) -> None:
    """One row per (student, topic): every question's points, the total, the maximum and the reasons."""
    questions = []
    for r in results:
        questions += [f"{r.topic}:{q}" for q in r.max_scores if f"{r.topic}:{q}" not in questions]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", *questions, "total", "max", "reasons"])
        for r in results:
            row = [r.scores.get(q.split(":", 1)[1], "") if q.startswith(r.topic + ":") else "" for q in questions]
            reasons = "; ".join(f"{k}: {_first_line(v)}" for k, v in r.reasons.items())
            writer.writerow([r.student, r.topic, *row, f"{r.total:g}", f"{r.max_total:g}", reasons])


# --------------------------------------------------------------------------- feedback

def feedback(results: list[Result], out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<student>/<topic>.md``: points per question and the message of each failed check.

    Unlike ``nbgrader generate_feedback`` this never includes the source of hidden tests.
    """
    written = []
    for r in results:
        lines = [f"# Feedback: {r.topic}", "", f"Student: `{r.student}`  ", f"Score: **{r.total:g} / {r.max_total:g}**", ""]
        if "submission" in r.reasons:
            lines += [f"Your submission could not be graded: {r.reasons['submission']}", ""]
        lines += ["| question | points | result |", "|---|---|---|"]
        details = []
        for q, points in r.max_scores.items():
            got = r.scores.get(q, 0.0)
            status = "passed" if got >= points else _escape(_first_line(r.reasons.get(q, "failed")))
            lines.append(f"| `{q}` | {got:g} / {points:g} | {status} |")
            if got < points and "\n" in r.reasons.get(q, "").strip():
                fence = "~~~~"
                details += [f"### `{q}`", "", fence + "text", r.reasons[q].replace(fence, "~ ~ ~ ~"), fence, ""]
        if details:
            lines += ["", "## What the failed checks said", "", *details]
        path = out_dir / r.student / f"{r.topic}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        written.append(path)
    return written


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def results_from_gradebook(course_dir: Path = DEFAULT_COURSE_DIR, wanted: list[str] | None = None) -> list[Result]:
    """Everything graded so far in ``course_dir`` (used by ``export`` and ``feedback``): the results the grading runs
    recorded (with the reasons for submissions nbgrader never saw), completed from the gradebook."""
    from nbgrader.api import Gradebook

    state = _load_state(course_dir)
    results = []
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        students = sorted(s.id for s in gb.students)
    for topic in wanted or topics():
        recorded = {student: Result(**entry["result"]) for student, entry in state.get(topic, {}).items()}
        from_gradebook = _read_results(topic, [s for s in students if s not in recorded], course_dir,
                                       grade_cells(topic))
        merged = {**from_gradebook, **recorded}
        results += [merged[s] for s in sorted(merged)]
    return results


# --------------------------------------------------------------------------- demo

def demo(course_dir: Path = DEFAULT_COURSE_DIR, out_dir: Path = REPO_ROOT / "artifacts" / "demo") -> list[Result]:
    """Grade every reference solution (should score 100%) and every blank stub (should score 0)."""
    with tempfile.TemporaryDirectory(prefix="course-demo-") as tmp:
        for topic in topics():
            for student, source in (("reference", SOLUTIONS_DIR), ("blank-stub", EXERCISES_DIR)):
                (Path(tmp) / student).mkdir(exist_ok=True)
                shutil.copyfile(source / f"{topic}.ipynb", Path(tmp) / student / f"{topic}.ipynb")
        results = grade(Path(tmp), course_dir=course_dir, csv_path=out_dir / "grades.csv")
    feedback(results, out_dir / "feedback")
    print(f"\ngrades: {out_dir / 'grades.csv'}\nfeedback: {out_dir / 'feedback'}")
    return results


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate exercises/ from solutions/ with nbgrader")
    gen.add_argument("--check", action="store_true", help="exit 1 if exercises/ is stale; change nothing")
    grd = sub.add_parser("grade", help="autograde a folder or zip of submissions (<student>/<topic>.ipynb)")
    grd.add_argument("folder", type=Path)
    grd.add_argument("--topic", action="append", choices=topics(), help="grade only this topic (repeatable)")
    grd.add_argument("--csv", type=Path, default=Path("grades.csv"), help="where to write the scores")
    grd.add_argument("--feedback", type=Path, help="also write per-student feedback to this folder")
    grd.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR)
    grd.add_argument("--workers", type=int, default=None, help="submissions run at once (default: CPU cores)")
    grd.add_argument("--force", action="store_true", help="grade everything again, even unchanged submissions")
    exp = sub.add_parser("export", help="write the CSV of everything graded so far, from the gradebook")
    exp.add_argument("--csv", type=Path, default=Path("grades.csv"))
    exp.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR)
    fb = sub.add_parser("feedback", help="write per-student feedback for everything graded so far")
    fb.add_argument("--out", type=Path, default=Path("feedback"))
    fb.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR)
    sub.add_parser("demo", help="grade the reference solutions and the blank stubs")
    args = parser.parse_args(argv)

    if args.command == "generate":
        stale = generate(check=args.check)
        if args.check:
            if stale:
                print("stale exercises (run `python -m autograder generate`): " + ", ".join(stale))
                return 1
            print(f"exercises/ is up to date ({len(topics())} topic(s))")
        else:
            print("regenerated: " + (", ".join(stale) if stale else "nothing (already up to date)"))
        return 0
    if args.command == "grade":
        results = grade(args.folder, args.topic, course_dir=args.course_dir, csv_path=args.csv, workers=args.workers,
                        force=args.force)
        if args.feedback:
            feedback(results, args.feedback)
        print(f"wrote {args.csv}")
        return 0
    if args.command == "export":
        results = results_from_gradebook(args.course_dir)
        write_csv(results, args.csv)
        print(f"wrote {args.csv}: {len(results)} row(s)")
        return 0
    if args.command == "feedback":
        written = feedback(results_from_gradebook(args.course_dir), args.out)
        print(f"wrote {len(written)} feedback file(s) under {args.out}")
        return 0
    if args.command == "demo":
        demo()
        return 0
    return 2
