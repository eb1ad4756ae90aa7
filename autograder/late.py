"""Late work: a due date per topic, and the penalty nbgrader's late-submission plugin assigns.

The policy lives in a small TOML file (``autograder/late.toml``, or the file ``COURSE_LATE_CONFIG`` names)::

    policy = "percent"        # none | zero | percent
    percent_per_day = 10      # with "percent": per started day late, in % of the score (capped at 100 %)
    [due]                     # UTC
    attention = "2027-01-15 23:59:00"

nbgrader computes how late a submission is (its ``timestamp.txt`` against the assignment's due date in the
gradebook, written by :func:`record_due_dates`); :class:`CoursePenalty`, configured as
``AssignLatePenalties.plugin_class`` in ``nbgrader_config.py``, turns that into a penalty stored in the gradebook;
:func:`apply_penalties` shows it in the CSV and the feedback as a ``late penalty`` line.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import tomllib
from nbgrader.plugins import LateSubmissionPlugin

from autograder.gradebook import db_url

DEFAULT_CONFIG = Path(__file__).resolve().with_name("late.toml")
COURSE_ID = "transformers-from-attention-to-swin"   # c.CourseDirectory.course_id in nbgrader_config.py
PENALTY = "late penalty"    # the pseudo-question that carries the penalty in a Result
POLICIES = ("none", "zero", "percent")


def load_config(path: Path | None = None) -> dict:
    """``{"policy": ..., "percent_per_day": ..., "due": {topic: "YYYY-MM-DD HH:MM:SS"}}`` (no file: no late work)."""
    path = Path(path or os.environ.get("COURSE_LATE_CONFIG") or DEFAULT_CONFIG)
    config = tomllib.loads(path.read_text()) if path.exists() else {}
    config.setdefault("policy", "none")
    config.setdefault("percent_per_day", 0)
    config.setdefault("due", {})
    if config["policy"] not in POLICIES:
        raise ValueError(f"{path}: policy must be one of {', '.join(POLICIES)}, not {config['policy']!r}")
    return config


def penalty(score: float, seconds_late: float, config: dict) -> float:
    """Points taken off ``score`` for a submission ``seconds_late`` after its due date."""
    if seconds_late <= 0 or config["policy"] == "none":
        return 0.0
    if config["policy"] == "zero":
        return score
    days = math.ceil(seconds_late / 86400)
    return score * min(1.0, days * float(config["percent_per_day"]) / 100)


class CoursePenalty(LateSubmissionPlugin):
    """nbgrader's late-submission plugin with the course's policy (none, zero, a percentage per started day)."""

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        return penalty(score, total_seconds_late, load_config())


def record_due_dates(course_dir: Path, topics: list[str], solutions_dir: Path, config: dict | None = None
                     ) -> dict[str, str]:
    """Write the due dates of ``topics`` into the course's gradebook, where nbgrader reads them (releasing those
    assignments first, as grading would: nbgrader creates the gradebook); return what was set."""
    from nbgrader.api import Gradebook

    from autograder.nbgrader_steps import release_assignment

    due = {topic: str(when) for topic, when in (config or load_config())["due"].items() if topic in topics}
    for topic in due:
        release_assignment(topic, Path(course_dir), solutions_dir)
    if due:
        with Gradebook(db_url(course_dir), COURSE_ID) as gb:
            for topic, when in due.items():
                gb.update_or_create_assignment(topic, duedate=when)
    return due


def apply_penalties(results: list, course_dir: Path) -> list:
    """Add each late submission's penalty (from the gradebook) to its Result as a ``late penalty`` line: negative
    points, with the reason (how late, which policy).  Idempotent; results that are not late are left as they are."""
    from nbgrader.api import Gradebook, MissingEntry

    config = load_config()
    with Gradebook(db_url(course_dir), COURSE_ID) as gb:
        for result in results:
            if PENALTY in result.scores:
                continue
            try:
                submission = gb.find_submission(result.topic, result.student)
                late, points = submission.total_seconds_late, float(submission.late_submission_penalty or 0.0)
            except MissingEntry:
                continue
            if late <= 0:
                continue
            result.scores[PENALTY] = -points
            result.max_scores[PENALTY] = 0.0
            days = late / 86400
            rule = {"none": "no penalty", "zero": "late work scores 0",
                    "percent": f"{config['percent_per_day']:g}% per started day"}[config["policy"]]
            result.reasons[PENALTY] = f"submitted {days:.2f} day(s) after the due date ({rule}): -{points:g} points"
    return results
