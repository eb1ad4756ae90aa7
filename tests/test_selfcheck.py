"""A student's self-check: what the grader would say, from the visible tests only, never a hidden test."""
import copy
import re

import nbformat
import pytest

from autograder import cli, selfcheck
from autograder.config import Config
from autograder.reference import SOLUTIONS_DIR, is_test_cell
from tests.conftest import selected_topics

TOPIC = "attention"
pytestmark = pytest.mark.skipif(TOPIC not in selected_topics(), reason=f"{TOPIC} not selected")


def _exercise():
    return nbformat.read(cli.EXERCISES_DIR / f"{TOPIC}.ipynb", as_version=4)


def _answered():
    """The exercise as a student hands it in: every solution cell filled with the reference's code."""
    solution = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
                for c in nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4).cells}
    nb = _exercise()
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = solution[cell.metadata.nbgrader.grade_id]
    return nb


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _first_test(nb):
    return next(c for c in nb.cells if is_test_cell(c))


def test_an_untouched_exercise_has_intact_metadata():
    assert selfcheck.check_metadata(_exercise(), _exercise(), TOPIC) == ([], [])


def test_edited_points_a_deleted_test_and_a_duplicated_cell_are_reported():
    nb, released = _exercise(), _exercise()
    points = _first_test(nb).metadata.nbgrader["points"]
    _first_test(nb).metadata.nbgrader["points"] = 100
    test_ids = [c.metadata.nbgrader.grade_id for c in nb.cells if is_test_cell(c)]
    nb.cells.remove(_cell(nb, test_ids[-1]))
    nb.cells.append(copy.deepcopy(_cell(nb, "setup")))
    problems, _ = selfcheck.check_metadata(nb, released, TOPIC)
    text = "\n".join(problems)
    assert f"`{test_ids[0]}` was edited (points: {points!r} -> 100)" in text
    assert f"the test cell `{test_ids[-1]}` is missing" in text
    assert "`setup` appears 2 times" in text


def test_an_edited_locked_cell_is_a_note_not_a_problem():
    nb = _exercise()
    _cell(nb, "setup").source += "\nprint('hi')"
    problems, notes = selfcheck.check_metadata(nb, _exercise(), TOPIC)
    assert problems == [] and "`setup` was edited: the grader uses the original" in notes[0]


def test_the_checked_notebook_holds_the_released_tests_even_if_the_student_pasted_hidden_ones():
    nb = _answered()
    solution = {c.metadata.nbgrader.grade_id: c.source
                for c in nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4).cells if is_test_cell(c)}
    for cell in nb.cells:
        if is_test_cell(cell):
            cell.source = solution[cell.metadata.nbgrader.grade_id]    # hidden tests included
    prepared = selfcheck.prepared_notebook(nb, _exercise())
    assert "BEGIN HIDDEN TESTS" not in nbformat.writes(prepared)
    released = {c.metadata.nbgrader.grade_id: c.source for c in _exercise().cells if is_test_cell(c)}
    assert {c.metadata.nbgrader.grade_id: c.source for c in prepared.cells if is_test_cell(c)} == released


def _hidden_test_lines():
    solution = "\n".join(c.source for c in nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4).cells)
    hidden = "\n".join(re.findall(r"BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", solution, flags=re.S))
    return [line.strip() for line in hidden.splitlines() if len(line.strip()) > 25]


@pytest.mark.slow
def test_a_wrong_part_fails_its_visible_test_and_the_report_names_hidden_points_without_their_code(
        tmp_path, capsys, monkeypatch):
    nb = _answered()
    _cell(nb, "mha").source += "\n\nMultiHeadAttention.forward = lambda self, *args, **kwargs: (None, None)\n"
    path = tmp_path / f"{TOPIC}.ipynb"
    nbformat.write(nb, path)
    reports, check = [], selfcheck.check
    monkeypatch.setattr(selfcheck, "check", lambda *a, **k: reports.append(check(*a, **k)) or reports[-1])
    assert cli.main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    report = reports[0]   # what was printed, as data
    visible = [t for t in report.tests if t.visible]
    failed = {t.grade_id for t in visible if not t.passed}
    assert "test_mha_visible" in failed and "test_sdpa_visible" not in failed
    assert f"visible tests: {len(visible) - len(failed)}/{len(visible)} passed" in out
    assert "metadata: intact" in out and "run: top to bottom" in out
    assert "hidden tests:" in out and "test_mha_reference" in out
    assert "BEGIN HIDDEN TESTS" not in out
    assert not [line for line in _hidden_test_lines() if line in out]


@pytest.mark.slow
def test_a_cell_that_hangs_stops_the_run_at_the_grader_s_cell_limit(tmp_path):
    nb = _answered()
    _cell(nb, "sdpa").source += "\n\nimport time\ntime.sleep(600)\n"
    path = tmp_path / f"{TOPIC}.ipynb"
    nbformat.write(nb, path)
    report = selfcheck.check(path, config=Config.from_env(cell_timeout_s=3))
    assert report.stopped and "3 s" in report.stopped
    assert "run: STOPPED" in report.text() and not report.ok


def test_only_the_exercises_own_test_and_locked_cells_keep_their_nbgrader_metadata():
    """A cell the student marks as a test or locked cell would run outside the sandbox: it is a student cell."""
    nb = _exercise()
    forged = [nbformat.v4.new_code_cell("import os", metadata={"nbgrader": {
                  "grade": True, "grade_id": "my_test", "locked": True, "solution": False, "points": 5}}),
              nbformat.v4.new_code_cell("import os", metadata={"nbgrader": {"locked": True, "solution": False}})]
    nb.cells += forged
    problems, _ = selfcheck.check_metadata(nb, _exercise(), TOPIC)
    assert any("`my_test` has nbgrader metadata that is not in the exercise" in p for p in problems)
    assert any("without a cell id" in p for p in problems)
    prepared = selfcheck.prepared_notebook(nb, _exercise())
    assert all("nbgrader" not in c.metadata for c in prepared.cells[-2:])
    assert sum(is_test_cell(c) for c in prepared.cells) == sum(is_test_cell(c) for c in _exercise().cells)
