"""Grades in the columns a learning-management system imports as they are, one row per student.

- **Canvas** (Grades > Import): ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per assignment
  (an existing assignment is named ``Title (canvas id)``; a new title creates a new assignment), a ``Points
  Possible`` row first.  Canvas matches students by ``ID``, ``SIS User ID`` or ``SIS Login ID``.
- **Moodle** (Grades > Import > CSV file): a user identifier column (``ID number`` or ``Email address``, chosen
  under "Identify user by"), a grade column per assignment and, optionally, a feedback column per assignment, each
  mapped to a grade item on the import page.

The grader knows students by the name of their submission folder (nbgrader's student id); the **roster** maps that
id to what the LMS knows, a CSV with a ``student`` column and any of ``name, canvas_id, sis_user_id, sis_login_id,
section, first_name, last_name, id_number, email``.
"""
from __future__ import annotations

import csv
from pathlib import Path

ROSTER_FIELDS = ("student", "name", "canvas_id", "sis_user_id", "sis_login_id", "section", "first_name",
                 "last_name", "id_number", "email")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("First name", "Last name", "ID number", "Email address")
FORMATS = ("csv", "canvas", "moodle")


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """{student id: {field: value}} from a roster CSV (unknown columns are ignored, missing ones are blank)."""
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "student" not in rows[0]:
        raise ValueError(f"{path}: the roster needs a 'student' column (the submission folder names)")
    return {row["student"].strip(): {f: (row.get(f) or "").strip() for f in ROSTER_FIELDS} for row in rows
            if (row.get("student") or "").strip()}


def _table(results) -> tuple[list[str], dict[str, dict[str, object]], dict[str, float]]:
    """(topics in order, {student: {topic: Result}}, {topic: points possible})."""
    topics, by_student, possible = [], {}, {}
    for r in results:
        if r.topic not in topics:
            topics.append(r.topic)
        by_student.setdefault(r.student, {})[r.topic] = r
        possible[r.topic] = max(possible.get(r.topic, 0.0), r.max_total)
    return topics, by_student, possible


def _points(result) -> str:
    return "" if result is None else f"{max(result.total, 0.0):g}"


def _feedback(result) -> str:
    if result is None:
        return ""
    lost = [f"{name}: {(text.strip().splitlines() or [''])[0][:120]}" for name, text in result.reasons.items()]
    return f"{result.total:g} / {result.max_total:g}" + ("; " + "; ".join(lost) if lost else "")


def _rows(results, roster: dict[str, dict[str, str]] | None):
    topics, by_student, possible = _table(results)
    roster = roster if roster is not None else {s: {f: "" for f in ROSTER_FIELDS} | {"student": s}
                                               for s in by_student}
    unmatched = sorted(set(by_student) - set(roster))
    return topics, possible, [(roster[s], by_student.get(s, {})) for s in roster], unmatched


def write_canvas(results, path: Path, roster: dict[str, dict[str, str]] | None = None,
                 titles: dict[str, str] | None = None) -> list[str]:
    """Write Canvas's gradebook-import CSV; return the graded students the roster does not list (left out)."""
    topics, possible, rows, unmatched = _rows(results, roster)
    titles = titles or {}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CANVAS_COLUMNS, *(titles.get(t, t) for t in topics)])
        writer.writerow(["Points Possible", "", "", "", "", *(f"{possible[t]:g}" for t in topics)])
        for person, graded in rows:
            writer.writerow([person["name"] or person["student"], person["canvas_id"], person["sis_user_id"],
                             person["sis_login_id"] or person["student"], person["section"],
                             *(_points(graded.get(t)) for t in topics)])
    return unmatched


def write_moodle(results, path: Path, roster: dict[str, dict[str, str]] | None = None,
                 with_feedback: bool = True) -> list[str]:
    """Write a CSV for Moodle's grade import; return the graded students the roster does not list (left out)."""
    topics, _, rows, unmatched = _rows(results, roster)
    columns = [c for t in topics for c in ([t, f"{t} (Feedback)"] if with_feedback else [t])]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*MOODLE_COLUMNS, *columns])
        for person, graded in rows:
            first, last = person["first_name"], person["last_name"]
            if not (first or last) and person["name"]:
                first, _, last = person["name"].partition(" ")
            cells = [c for t in topics for c in ([_points(graded.get(t)), _feedback(graded.get(t))] if with_feedback
                                                 else [_points(graded.get(t))])]
            writer.writerow([first, last, person["id_number"] or person["student"], person["email"], *cells])
    return unmatched
