"""The autograder, end to end with real `nbgrader autograde`: reference 100%, stub 0, a planted bug per topic
caught, broken submissions recorded with a reason, CSV and feedback consistent with the gradebook. (Every planted
bug and alternative solution is proved in-process, in seconds: tests/test_exercise_design.py.)"""
import csv

import nbformat
import pytest

from autograder import parts
from autograder.course import topics
from autograder.reference import SOLUTIONS_DIR
from autograder.reports import feedback
from tests.conftest import graded_bugs, selected_topics
from tests.planted_bugs import ALTERNATIVES, PLANTED_BUGS, apply_bug

TOPICS = selected_topics()
BUGS = [(topic, bug) for topic in TOPICS for bug in graded_bugs(topic)]
MIN_BUGS, MIN_ALTERNATIVES = 10, 2


def hidden_test_cells(topic):
    nb = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"] for c in nb.cells if "BEGIN HIDDEN TESTS" in c.source}


@pytest.mark.parametrize("topic", TOPICS)
def test_reference_scores_full_marks_on_every_cell(graded, topic):
    result = graded["results"][("reference", topic)]
    assert result.max_total > 0
    assert result.scores == result.max_scores, result.reasons


@pytest.mark.parametrize("topic", TOPICS)
def test_student_stub_scores_zero_on_every_cell(graded, topic):
    result = graded["results"][("stub", topic)]
    assert set(result.scores) == set(result.max_scores)
    assert all(score == 0 for score in result.scores.values()), result.scores
    given_buggy_code = {cell for part in parts.parts(topic) if part.fix_the_bug for cell in part.tests}
    assert all("NotImplementedError" in result.reasons[q] for q in result.max_scores if q not in given_buggy_code), \
        result.reasons
    assert all(result.reasons[q] for q in given_buggy_code), result.reasons


def test_every_topic_has_planted_bugs_and_alternatives():
    assert set(PLANTED_BUGS) == set(topics())
    assert set(ALTERNATIVES) == set(topics())


def test_every_topic_has_a_hostile_corpus():
    from tests.hostile_corpus import CORPORA

    missing = set(topics()) - set(CORPORA)
    assert not missing, f"{missing}: define WRONG_BODIES and GRADED in tests/planted/<topic>.py (see CONTRIBUTING.md)"


@pytest.mark.parametrize("topic", topics())
def test_topic_has_enough_planted_bugs_and_alternatives(topic):
    assert len(PLANTED_BUGS.get(topic, [])) >= MIN_BUGS, f"{topic}: fewer than {MIN_BUGS} planted bugs"
    assert len(ALTERNATIVES.get(topic, [])) >= MIN_ALTERNATIVES, f"{topic}: fewer than {MIN_ALTERNATIVES} alternatives"


@pytest.mark.parametrize("topic", topics())
def test_every_edit_applies_to_the_reference_and_has_its_own_name(topic):
    """Cheap (no grading): each bug and alternative replaces text found exactly once, and changes it."""
    solution = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
    edits = PLANTED_BUGS.get(topic, []) + ALTERNATIVES.get(topic, [])
    names = [edit.name for edit in edits]
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"{topic}: names used twice: {twice}"
    for edit in edits:
        apply_bug(solution, edit)  # raises if the text to replace is not there exactly once


@pytest.mark.parametrize("topic,bug", BUGS, ids=[f"{t}:{b.name}" for t, b in BUGS])
def test_hidden_tests_catch_planted_bug(graded, topic, bug):
    result = graded["results"][(f"bug-{bug.name}", topic)]
    assert result.total < result.max_total, f"{bug.name} got full marks"
    caught_by_hidden = [q for q in hidden_test_cells(topic) if result.scores[q] < result.max_scores[q]]
    assert caught_by_hidden, f"no hidden test cell caught {bug.name}; scores {result.scores}"
    for q in caught_by_hidden:
        assert result.reasons[q], f"{q} lost points without a reason"


@pytest.mark.parametrize("topic", TOPICS)
def test_submission_that_kills_its_kernel_gets_a_score_and_a_reason(graded, topic):
    result = graded["results"][("aaa-kills-kernel", topic)]
    assert result.total < result.max_total
    assert result.reasons, "a dead kernel must be explained"
    # ... and it did not stop anyone graded after it
    assert graded["results"][("reference", topic)].total == result.max_total


@pytest.mark.skipif("attention" not in TOPICS, reason="attention not selected")
def test_warnings_from_correct_code_cost_nothing(graded):
    result = graded["results"][("correct-but-warns", "attention")]
    assert result.scores == result.max_scores, result.reasons


@pytest.mark.skipif("attention" not in TOPICS, reason="attention not selected")
def test_a_hang_times_out_keeps_earlier_points_and_says_why(graded):
    result = graded["results"][("hangs-in-tests", "attention")]
    assert 0 < result.total < result.max_total, result.scores  # the visible test ran before the hang
    assert "longer than" in result.reasons["submission"]
    assert any("CellTimeoutError" in reason for reason in result.reasons.values())


@pytest.mark.parametrize("topic", TOPICS)
def test_file_that_is_not_a_notebook_gets_zero_and_a_reason(graded, topic):
    result = graded["results"][("aab-not-a-notebook", topic)]
    assert result.total == 0
    assert "not a valid notebook" in result.reasons["submission"]


def test_csv_matches_the_gradebook(graded):
    from nbgrader.api import Gradebook

    with open(graded["csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(graded["list"])
    with Gradebook(f"sqlite:///{graded['course_dir'] / 'gradebook.db'}") as gb:
        for row in rows:
            result = graded["results"][(row["student"], row["assignment"])]
            assert float(row["total"]) == pytest.approx(result.total)
            if result.reasons.get("submission") in ("no submission",) or row["student"] == "aab-not-a-notebook":
                assert float(row["total"]) == 0
                continue  # never reached nbgrader
            submission = gb.find_submission_notebook(row["assignment"], row["assignment"], row["student"])
            for grade in submission.grades:
                assert float(row[f"{row['assignment']}:{grade.name}"]) == pytest.approx(grade.score or 0)


def test_feedback_lists_points_and_reasons_but_never_hidden_test_code(graded, tmp_path):
    written = feedback(graded["list"], tmp_path)
    assert len(written) == len(graded["list"])
    for topic in TOPICS:
        hidden_sources = [c.source for c in nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4).cells
                          if "BEGIN HIDDEN TESTS" in c.source]
        hidden_lines = {line.strip() for src in hidden_sources for line in src.splitlines()
                        if len(line.strip()) > 20 and not line.strip().startswith("#")}
        for path in tmp_path.glob(f"*/{topic}.md"):
            text = path.read_text()
            assert "HIDDEN" not in text
            leaked = [line for line in hidden_lines if line in text]
            assert not leaked, f"{path} shows hidden test code: {leaked[:2]}"
    stub = (tmp_path / "stub" / f"{TOPICS[0]}.md").read_text()
    assert "0 / " in stub and "NotImplementedError" in stub
