"""The autograder against hostile submissions (tests/hostile_corpus.py), graded in one real batch.

Each cheat scores no more than the honest wrong answer it starts from; each disruption gets a score and a reason;
the honest right answer in the same batch still gets full marks; nothing secret (hidden tests, the reference
solution) appears in any output or feedback; nothing outside a submission's folder changes.
"""
import csv
import hashlib
from pathlib import Path

import nbformat
import pytest

from autograder import cli, sandbox
from autograder.reference import SOLUTIONS_DIR
from tests.conftest import selected_topics
from tests.hostile_corpus import CORPUS, TOPIC, write_corpus

pytestmark = [
    pytest.mark.skipif(TOPIC not in selected_topics(), reason=f"{TOPIC} not selected"),
    # the corpus kills processes and forks: only run it where kernels are isolated and unprivileged
    pytest.mark.skipif(not (sandbox.bwrap_available() and sandbox.can_drop_privileges()),
                       reason="needs bubblewrap and root (to give kernels their own uid)"),
]
CELL_TIMEOUT_S = 20
CANARIES = [Path("/tmp/pwned"), Path("/tmp/evil.txt"), Path("/etc/evil.txt")]


def _digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())).hexdigest()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    for canary in CANARIES:
        canary.unlink(missing_ok=True)
    before = _digest(SOLUTIONS_DIR)
    root = tmp_path_factory.mktemp("hostile")
    write_corpus(root)
    course_dir = tmp_path_factory.mktemp("hostile-course")
    saved, cli.CELL_TIMEOUT_S = cli.CELL_TIMEOUT_S, CELL_TIMEOUT_S
    try:
        results = cli.grade(root, [TOPIC], course_dir=course_dir, csv_path=course_dir / "grades.csv")
    finally:
        cli.CELL_TIMEOUT_S = saved
    return {"by_student": {r.student: r for r in results}, "list": results, "course_dir": course_dir,
            "solutions_unchanged": _digest(SOLUTIONS_DIR) == before}


def _secret_lines() -> set[str]:
    """Lines of hidden tests and of the reference's solution regions (long enough to be unambiguous)."""
    nb = nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4)
    secret = set()
    for cell in nb.cells:
        text = cell.source
        if "BEGIN HIDDEN TESTS" in text:
            text = text.split("BEGIN HIDDEN TESTS", 1)[1]
        elif "BEGIN SOLUTION" in text:
            text = text.split("BEGIN SOLUTION", 1)[1].split("END SOLUTION", 1)[0]
        else:
            continue
        secret |= {line.strip() for line in text.splitlines()
                   if len(line.strip()) > 25 and not line.strip().startswith(("#", "raise", "return"))}
    return secret


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25


def test_every_submission_gets_a_result_and_the_honest_answers_are_graded_normally(hostile):
    students = {f"hostile-{h.name}" for h in CORPUS} | {"honest-wrong-answer", "honest-right-answer"}
    assert set(hostile["by_student"]) == students
    right = hostile["by_student"]["honest-right-answer"]
    assert right.scores == right.max_scores, right.reasons
    wrong = hostile["by_student"]["honest-wrong-answer"]
    assert wrong.total < wrong.max_total / 4, wrong.scores


@pytest.mark.parametrize("name", [h.name for h in CORPUS])
def test_no_trick_scores_more_than_the_honest_wrong_answer(hostile, name):
    honest = hostile["by_student"]["honest-wrong-answer"]
    result = hostile["by_student"][f"hostile-{name}"]
    assert result.total <= honest.total, (result.scores, result.reasons)


@pytest.mark.parametrize("name", [h.name for h in CORPUS if not h.structural])
def test_every_code_trick_was_really_run_and_tested(hostile, name):
    """A low score is no proof if the notebook never ran: nbgrader must have accepted it (even after a notebook
    that stops nbgrader's batch) and the notebook must have been executed."""
    result = hostile["by_student"][f"hostile-{name}"]
    assert not result.reasons.get("submission", "").startswith(("nbgrader could not", "not a valid")), result.reasons
    executed = hostile["course_dir"] / "executed" / f"hostile-{name}" / TOPIC / f"{TOPIC}.ipynb"
    assert executed.exists()


@pytest.mark.parametrize("name", [h.name for h in CORPUS if h.disrupts])
def test_disruptions_are_explained(hostile, name):
    result = hostile["by_student"][f"hostile-{name}"]
    assert result.reasons.get("submission"), result.reasons


def test_lost_points_always_come_with_a_reason(hostile):
    for result in hostile["list"]:
        for question, points in result.max_scores.items():
            if result.scores.get(question, 0) < points:
                assert result.reasons.get(question) or result.reasons.get("submission"), (result.student, question)


def test_nothing_secret_in_any_output_or_feedback(hostile, tmp_path):
    secret = _secret_lines()
    assert len(secret) > 20
    texts = {}
    for path in (hostile["course_dir"] / "executed").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        texts[str(path)] = "\n".join(str(o.get("text", "")) + str(o.get("data", "")) + str(o.get("evalue", ""))
                                     + "\n".join(o.get("traceback", [])) for o in outputs)
    for path in cli.feedback(hostile["list"], tmp_path):
        texts[str(path)] = path.read_text()
    with open(hostile["course_dir"] / "grades.csv") as handle:
        texts["grades.csv"] = handle.read()
    assert texts
    for where, text in texts.items():
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{where} shows {leaked[:2]}"


def test_nothing_outside_the_submissions_changed(hostile):
    assert hostile["solutions_unchanged"]
    for canary in CANARIES:
        assert not canary.exists(), f"a submission wrote {canary}"


def test_csv_has_every_submission_once_and_matches_results(hostile):
    with open(hostile["course_dir"] / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["student"] for r in rows) == sorted(hostile["by_student"])
    for row in rows:
        assert float(row["total"]) == pytest.approx(hostile["by_student"][row["student"]].total)
