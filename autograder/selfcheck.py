"""A student's self-check: run a notebook the way the grader will, with the visible tests only.

    python -m autograder check exercises/attention.ipynb

Same sandbox (``sandbox.execute``: the student's cells in the isolated kernel, the test cells in the grader), same
time limits, same handling of locked and test cells as nbgrader's sanitize step (restored from the released
exercise, so only the *visible* tests run: hidden tests are never read from anywhere a student can see, and never
printed).  No nbgrader process runs, which is what makes it fast (one kernel start, no gradebook).
"""
from __future__ import annotations

import ast
import copy
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.config import Config
from autograder.reference import is_test_cell

CHECK_UID = 61999  # the sandbox uid of a self-check run as root (graders use 61000 + worker slot)
FRESH_COPY = ("start from a fresh copy of exercises/{topic}.ipynb and paste your solution cells into it "
              "(nbgrader rejects a notebook whose cell metadata was edited)")
NBGRADER_KEYS = ("grade", "solution", "locked", "points", "cell_type", "schema_version")


@dataclass
class TestOutcome:
    grade_id: str
    points: float
    visible: bool          # the released cell holds visible checks (not only a comment)
    hidden: bool           # the course's copy of the cell holds hidden tests too
    passed: bool | None    # None: missing from the notebook
    message: str = ""


@dataclass
class Report:
    path: Path
    topic: str
    config: Config
    metadata_problems: list[str] = field(default_factory=list)
    locked_edits: list[str] = field(default_factory=list)
    stopped: str | None = None              # why the run stopped early (timeout, dead kernel), if it did
    cell_errors: list[str] = field(default_factory=list)  # errors raised by the student's own cells
    tests: list[TestOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (not self.metadata_problems and not self.stopped and not self.cell_errors
                and all(t.passed for t in self.tests if t.visible))

    def text(self) -> str:
        visible = [t for t in self.tests if t.visible]
        passed = [t for t in visible if t.passed]
        limits = f"{self.config.cell_timeout_s} s per cell, {self.config.notebook_timeout_s} s per notebook"
        lines = [f"self-check of {self.path} (topic {self.topic}), run as the grader runs it ({limits}): "
                 f"{self.seconds:.1f} s"]
        if self.metadata_problems:
            lines.append("metadata: BROKEN, the grader would not accept this notebook as it is")
            lines += [f"  - {p}" for p in self.metadata_problems]
            lines.append("  fix: " + FRESH_COPY.format(topic=self.topic))
        else:
            lines.append("metadata: intact")
        lines += [f"  note: {e}" for e in self.locked_edits]
        if self.stopped:
            lines.append(f"run: STOPPED: {self.stopped}")
        elif self.cell_errors:
            lines.append("run: top to bottom, but your cells raised errors:")
            lines += [f"  - {e}" for e in self.cell_errors]
        else:
            lines.append("run: top to bottom, no errors in your cells")
        lines.append(f"visible tests: {len(passed)}/{len(visible)} passed")
        for t in visible:
            status = "passed" if t.passed else ("MISSING" if t.passed is None else "FAILED")
            lines.append(f"  {t.grade_id:<32} {t.points:g} pt  {status}"
                         + (f"  {_first_line(t.message)[:300]}" if t.message and not t.passed else ""))
        hidden = [t for t in self.tests if t.hidden]
        if hidden:
            total = sum(t.points for t in hidden)
            lines.append(f"hidden tests: {total:g} of {sum(t.points for t in self.tests):g} points depend on checks "
                         f"you cannot see (random shapes, masks, dtypes, comparisons with the reference):")
            lines.append("  " + ", ".join(f"{t.grade_id} ({t.points:g} pt)" for t in hidden))
            lines.append("  passing the visible tests does not guarantee them")
        lines.append("result: " + ("ready to submit" if self.ok else "not ready: see above"))
        return "\n".join(lines)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def _by_id(nb) -> dict[str, list]:
    cells: dict[str, list] = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id:
            cells.setdefault(grade_id, []).append(cell)
    return cells


def _has_code(source: str) -> bool:
    try:
        return bool(ast.parse(source).body)
    except SyntaxError:
        return True


def _hidden_ids(topic: str, solutions_dir: Path) -> set[str] | None:
    """The test cells whose course copy holds hidden tests (only their ids leave this function), or None when the
    course's solutions are not here (a student's copy of the exercises alone)."""
    path = solutions_dir / f"{topic}.ipynb"
    if not path.exists():
        return None
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if is_test_cell(c) and "BEGIN HIDDEN TESTS" in c.source}


def check_metadata(nb, released, topic: str) -> tuple[list[str], list[str]]:
    """(problems nbgrader would reject or lose points for, harmless edits the grader undoes)."""
    problems, edits = [], []
    mine, theirs = _by_id(nb), _by_id(released)
    if any("nbgrader" in c.metadata and not c.metadata["nbgrader"].get("grade_id") for c in nb.cells):
        problems.append("a cell carries nbgrader metadata without a cell id")
    for grade_id, cells in mine.items():
        if len(cells) > 1:
            problems.append(f"cell `{grade_id}` appears {len(cells)} times (a copied cell keeps its nbgrader id)")
        if grade_id not in theirs:
            problems.append(f"cell `{grade_id}` has nbgrader metadata that is not in the exercise")
    for grade_id, (original, *_) in theirs.items():
        kind = "test" if is_test_cell(original) else "solution" if original.metadata["nbgrader"].get("solution") \
            else "locked"
        if grade_id not in mine:
            problems.append(f"the {kind} cell `{grade_id}` is missing")
            continue
        cell = mine[grade_id][0]
        want, got = original.metadata["nbgrader"], cell.metadata.get("nbgrader", {})
        changed = [f"{k}: {want[k]!r} -> {got.get(k)!r}" for k in NBGRADER_KEYS if k in want and want[k] != got.get(k)]
        if cell.cell_type != original.cell_type:
            changed.append(f"cell type: {original.cell_type} -> {cell.cell_type}")
        if changed:
            problems.append(f"the nbgrader metadata of cell `{grade_id}` was edited ({'; '.join(changed)})")
        elif want.get("locked") and not want.get("solution") and cell.source != original.source:
            edits.append(f"the {kind} cell `{grade_id}` was edited: the grader uses the original")
    return problems, edits


def prepared_notebook(nb, released):
    """What the grader executes: outputs cleared, the nbgrader metadata of every known cell and the source of every
    locked or test cell restored from the released exercise (nbgrader's sanitize step does the same from its
    gradebook, where test cells hold the hidden tests too).  Any other nbgrader metadata is dropped, so that only
    the exercise's own test and locked cells ever run outside the student's sandbox."""
    theirs = {grade_id: cells[0] for grade_id, cells in _by_id(released).items()}
    seen = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        original = theirs.get(grade_id)
        if original is None or grade_id in seen:   # unknown, or a copy (nbgrader: DeduplicateIds)
            cell.metadata.pop("nbgrader", None)
            continue
        seen.add(grade_id)
        cell.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
        if original.metadata["nbgrader"].get("locked"):
            cell.source = original.source
    return nb


def _student_cell_errors(executed) -> list[str]:
    errors = []
    for index, cell in enumerate(executed.cells):
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                where = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
                errors.append(f"{where}: {output.get('ename')}: {_first_line(str(output.get('evalue', '')))[:200]}")
    return errors


def check(path: Path, topic: str | None = None, config: Config | None = None) -> Report:
    """Check one notebook with the grader's limits (``config``, default: from the environment, as ``grade``);
    never raises for anything wrong with the notebook itself."""
    from autograder import sandbox

    config = config or Config.from_env()
    path = Path(path)
    topic = topic or path.stem
    report = Report(path, topic, config)
    started = time.monotonic()
    released_path = config.exercises_dir / f"{topic}.ipynb"
    if not released_path.exists():
        report.metadata_problems.append(f"no exercise named {topic!r} (name the file <topic>.ipynb or pass --topic)")
        return report
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 -- an unreadable notebook is the answer, not a crash
        report.metadata_problems.append(f"not a valid notebook ({type(exc).__name__}: {_first_line(str(exc))[:200]})")
        return report
    released = nbformat.read(released_path, as_version=4)
    report.metadata_problems, report.locked_edits = check_metadata(nb, released, topic)
    hidden = _hidden_ids(topic, config.solutions_dir)
    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        source, target = Path(tmp) / "in" / f"{topic}.ipynb", Path(tmp) / "out" / f"{topic}.ipynb"
        source.parent.mkdir()
        nbformat.write(prepared_notebook(nb, released), source)
        uid = CHECK_UID if sandbox.can_drop_privileges(config) else None
        job = config.job()   # the limits a grading worker gets
        report.stopped = sandbox.execute(source, target, job["cell_timeout"], uid, job["notebook_timeout"], topic,
                                         config)
        executed = nbformat.read(target, as_version=4)
    report.cell_errors = _student_cell_errors(executed)
    ran = {cells[0].metadata["nbgrader"]["grade_id"]: cells[0] for cells in _by_id(executed).values()}
    for cell in released.cells:
        if not is_test_cell(cell):
            continue
        meta = cell.metadata["nbgrader"]
        grade_id = meta["grade_id"]
        outcome = TestOutcome(grade_id, float(meta.get("points", 0)), _has_code(cell.source),
                              bool(hidden and grade_id in hidden) or (hidden is None and not _has_code(cell.source)),
                              None)
        done = ran.get(grade_id)
        if done is not None and is_test_cell(done):
            errors = [o for o in done.get("outputs", []) if o.get("output_type") == "error"]
            outcome.passed = not errors
            if errors:
                outcome.message = f"{errors[0].get('ename')}: {errors[0].get('evalue', '')}".rstrip(": ")
        else:
            outcome.message = "this test cell is missing from your notebook"
        report.tests.append(outcome)
    report.seconds = time.monotonic() - started
    return report


def main(path: Path, topic: str | None = None) -> int:
    report = check(path, topic)
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
