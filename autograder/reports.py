"""What grading reports: a :class:`Result` per (student, topic), read from nbgrader's gradebook, and the CSV and
feedback written from results. Feedback never shows hidden test code (unlike ``nbgrader generate_feedback``)."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.config import DEFAULT_COURSE_DIR
from autograder.course import grade_cells, topics
from autograder.state import load_state

MESSAGE_CHARS = 1500  # a failed check's whole message (torch.testing's mismatch report included), cut here


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


def failure_message(cell) -> str:
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


def read_results(topic: str, students: list[str], course_dir: Path, max_scores: dict[str, float],
                 graded_elsewhere: bool = False) -> dict[str, Result]:
    """The gradebook's scores of these students for ``topic``, with the reason each lost point was lost. Only
    submissions scored in ``course_dir``, unless ``graded_elsewhere`` (a gradebook other graders share)."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder import gradebook

    results = {}
    with Gradebook(gradebook.db_url(course_dir)) as gb:
        for student in students:
            try:
                nb = gb.find_submission_notebook(topic, topic, student)
            except MissingEntry:
                continue
            autograded = course_dir / "autograded" / student / topic / f"{topic}.ipynb"
            if not autograded.exists() and not graded_elsewhere:
                continue
            result = Result(student, topic, max_scores=dict(max_scores))
            for grade in nb.grades:
                result.scores[grade.name] = float(grade.score or 0.0)
            # a shared gradebook (--db) holds grades another grader made: its course folder has the messages
            cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c
                     for c in nbformat.read(autograded, as_version=4).cells} if autograded.exists() else None
            for name, points in max_scores.items():
                if result.scores.get(name, 0.0) < points:
                    result.reasons[name] = (failure_message(cells.get(name, {})) if cells is not None
                                            else "lost points (graded by another grader sharing this gradebook)")
            results[student] = result
    return results


def results_from_gradebook(course_dir: Path = DEFAULT_COURSE_DIR, wanted: list[str] | None = None) -> list[Result]:
    """Everything graded so far in ``course_dir`` (used by ``export`` and ``feedback``): the results the grading runs
    recorded (with the reasons for submissions nbgrader never saw), completed from the gradebook."""
    from nbgrader.api import Gradebook

    from autograder import gradebook

    state = load_state(course_dir)
    results = []
    with Gradebook(gradebook.db_url(course_dir)) as gb:
        students = sorted(s.id for s in gb.students)
    for topic in wanted or topics():
        recorded = {student: Result(**entry["result"]) for student, entry in state.get(topic, {}).items()}
        from_gradebook = read_results(topic, [s for s in students if s not in recorded], course_dir,
                                      grade_cells(topic), graded_elsewhere=True)
        merged = {**from_gradebook, **recorded}
        results += [merged[s] for s in sorted(merged)]
    return results


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


def feedback(results: list[Result], out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<student>/<topic>.md``: points per question and the message of each failed check."""
    written = []
    for r in results:
        lines = [f"# Feedback: {r.topic}", "", f"Student: `{r.student}`  ", f"Score: **{r.total:g} / {r.max_total:g}**",
                 ""]
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
