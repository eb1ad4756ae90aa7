"""The grading pipeline: a folder (or zip) of submissions in, one :class:`~autograder.reports.Result` per
(student, topic) out, each with a score and, for every lost point, a reason.

Per topic: release the assignment, keep the results of unchanged submissions (``state.py``), then three steps over
the rest: sanitize (nbgrader), execute (``pool.py``: the only step that runs student code) and score (nbgrader).
A submission that cannot be graded still gets a Result: the points of what ran, and a reason.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

from autograder import distributed, gradebook, late, nbgrader_server, pool, state
from autograder import nbgrader_steps as steps
from autograder.config import Config
from autograder.course import grade_cells, topics
from autograder.reference import REPO_ROOT
from autograder.reports import Result, feedback, read_results, write_csv


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


def grade(folder: Path, wanted: list[str] | None = None, course_dir: Path | None = None,
          csv_path: Path | None = None, log=print, workers: int | None = None, force: bool = False,
          config: Config | None = None, scheduler: str | None = None, db: str | None = None) -> list[Result]:
    """Autograde every submission under ``folder``; return one Result per (student, topic).

    ``config`` (default: from the environment) sets the limits and folders; ``course_dir`` and ``workers``
    override it.  ``force`` grades unchanged submissions again. ``scheduler`` (a Dask scheduler's address) runs the
    execute step on a cluster; ``db`` (an SQLAlchemy URL) keeps the gradebook on a database server."""
    config = (config or Config.from_env()).with_(
        **{k: v for k, v in (("course_dir", course_dir), ("workers", workers), ("scheduler", scheduler),
                             ("db_url", db)) if v is not None})
    course_dir = config.course_dir
    if config.db_url:   # nbgrader's own commands (nbgrader_config.py) and our reads open the same gradebook
        os.environ[gradebook.ENV] = config.db_url
    gradebook.check_reachable(gradebook.db_url(course_dir))
    cluster = distributed.connect(config.scheduler) if config.scheduler else None  # unreachable: stop here
    wanted = wanted or topics(config.solutions_dir)
    keep_alive: list = []
    folder = _unzip_if_needed(Path(folder), keep_alive)
    submissions = collect_submissions(folder, wanted)
    students = sorted({s for s, _ in submissions} | {p.name for p in folder.iterdir()
                                                     if p.is_dir() and not p.name.startswith(".")})
    course_dir.mkdir(parents=True, exist_ok=True)
    saved = {} if force else state.load_state(course_dir)
    with pool.Workers(config) as workers, nbgrader_server.session():
        results = _grade_topics(wanted, students, submissions, saved, config, log, cluster, workers)
    if cluster is not None:
        cluster.close()
    results = late.apply_penalties(results, course_dir)   # late submissions: the penalty, with its reason
    if csv_path:
        write_csv(results, Path(csv_path))
    return results


def _grade_topics(wanted, students, submissions, saved, config: Config, log, cluster, workers) -> list[Result]:
    course_dir, results = config.course_dir, []
    for topic in wanted:
        max_scores = grade_cells(topic, config.solutions_dir)
        gradable, broken, kept, released = [], {}, {}, None
        fingerprints = {s: state.fingerprint(submissions[(s, topic)], topic, config)
                        for s in students if (s, topic) in submissions}
        for student in students:
            previous = saved.get(topic, {}).get(student)
            if previous and previous["fingerprint"] == fingerprints.get(student):
                kept[student] = Result(**previous["result"])
                continue
            notebook = submissions.get((student, topic))
            if notebook is not None and not released:   # only a topic with something to grade: seconds per topic
                released = steps.release_assignment(topic, course_dir, config.solutions_dir)
            reason = "no submission" if notebook is None else steps.place_submission(notebook, student, topic,
                                                                                     course_dir)
            (broken.__setitem__(student, reason) if reason else gradable.append(student))
        for placed in (course_dir / "submitted").glob(f"*/{topic}"):
            if placed.parent.name not in gradable:   # nbgrader grades every submitted folder: only the new ones
                shutil.rmtree(placed)
        if kept:
            log(f"[{topic}] {len(kept)} submission(s) unchanged since they were graded: kept")
        for stale in ("sanitized", "executed", "autograded"):
            for student in gradable:
                shutil.rmtree(course_dir / stale / student / topic, ignore_errors=True)
        log(f"[{topic}] grading {len(gradable)} submission(s), {config.workers} at a time")
        by_student: dict[str, Result] = {}
        if gradable:
            by_student = _grade_batch(topic, gradable, broken, max_scores, config, log, cluster, workers)
        for student in students:
            result = kept.get(student) or by_student.get(student)
            if result is None:
                result = Result(student, topic, scores={k: 0.0 for k in max_scores}, max_scores=dict(max_scores))
                result.reasons["submission"] = broken.get(student, "not graded")
            results.append(result)
            if student in fingerprints and student not in kept:
                saved.setdefault(topic, {})[student] = {"fingerprint": fingerprints[student],
                                                        "result": asdict(result)}
            log(f"  {student:<24} {result.total:5.1f} / {result.max_total:.1f}"
                + ("" if not result.reasons else f"   ({len(result.reasons)} check(s) failed)")
                + ("   (kept)" if student in kept else ""))
        state.save_state(course_dir, saved)
    return results


def _grade_batch(topic: str, gradable: list[str], broken: dict[str, str], max_scores: dict[str, float],
                 config: Config, log, cluster=None, workers=None) -> dict[str, Result]:
    """Sanitize, execute and score the placed submissions of ``topic``; record in ``broken`` why any is lost."""
    course_dir, timeout = config.course_dir, config.notebook_timeout_s

    def done(folder):
        return lambda s: (course_dir / folder / s / topic / f"{topic}.ipynb").exists()

    unread = steps.batch_despite_rejects(
        lambda *a, **k: steps.sanitize(*a, **k, timeout=timeout), topic, course_dir, gradable, done("sanitized"))
    ready = [s for s in gradable if s not in unread]
    for student, why in unread.items():
        broken[student] = "nbgrader could not read the submission: " + why
        shutil.rmtree(course_dir / "submitted" / student / topic, ignore_errors=True)  # not scored either
    if cluster is None:
        stopped = pool.execute_all(topic, ready, config, log, workers)
    else:
        stopped = distributed.execute_topic(cluster, topic, ready, config, log)
    unscored = steps.batch_despite_rejects(
        lambda *a, **k: steps.score(*a, **k, timeout=timeout), topic, course_dir, ready, done("autograded"))
    for student in unscored:   # or the next run's first batch would stop at it again
        shutil.rmtree(course_dir / "executed" / student / topic, ignore_errors=True)
    by_student = read_results(topic, ready, course_dir, max_scores)
    for student in ready:
        if student not in by_student:
            broken[student] = "nbgrader could not score the submission: " + unscored.get(student, "unknown")
        elif student in stopped:
            by_student[student].reasons["submission"] = stopped[student]
    return by_student


def demo(config: Config | None = None, out_dir: Path = REPO_ROOT / "artifacts" / "demo") -> list[Result]:
    """Grade every reference solution (should score 100%) and every blank stub (should score 0)."""
    config = config or Config.from_env()
    with tempfile.TemporaryDirectory(prefix="course-demo-") as tmp:
        for topic in topics(config.solutions_dir):
            for student, source in (("reference", config.solutions_dir), ("blank-stub", config.exercises_dir)):
                (Path(tmp) / student).mkdir(exist_ok=True)
                shutil.copyfile(source / f"{topic}.ipynb", Path(tmp) / student / f"{topic}.ipynb")
        results = grade(Path(tmp), csv_path=out_dir / "grades.csv", config=config)
    feedback(results, out_dir / "feedback")
    print(f"\ngrades: {out_dir / 'grades.csv'}\nfeedback: {out_dir / 'feedback'}")
    return results
