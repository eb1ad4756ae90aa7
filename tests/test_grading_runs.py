"""Grading runs as an instructor repeats them: deterministic, parallel = serial, resumable, exportable."""
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import cli
from autograder.pipeline import grade
from tests.conftest import selected_topics
from tests.hostile_corpus import TOPIC, honest_wrong_answer, reference_notebook
from tests.planted_bugs import PLANTED_BUGS, apply_bug

pytestmark = [pytest.mark.slow, pytest.mark.skipif(TOPIC not in selected_topics(), reason=f"{TOPIC} not selected")]


def _submissions(root):
    for student, nb in [("ada", reference_notebook()), ("bob", honest_wrong_answer()),
                        ("cy", apply_bug(reference_notebook(), PLANTED_BUGS[TOPIC][0]))]:
        (root / student).mkdir(parents=True)
        nbformat.write(nb, root / student / f"{TOPIC}.ipynb")


def test_same_submissions_same_csv_serial_or_parallel_and_regrading_only_what_changed(tmp_path):
    root = tmp_path / "submissions"
    _submissions(root)
    parallel, serial = tmp_path / "course-parallel", tmp_path / "course-serial"
    grade(root, [TOPIC], course_dir=parallel, csv_path=tmp_path / "parallel.csv", workers=2, log=lambda *_: None)
    grade(root, [TOPIC], course_dir=serial, csv_path=tmp_path / "serial.csv", workers=1, log=lambda *_: None)
    first = (tmp_path / "parallel.csv").read_text()
    assert first == (tmp_path / "serial.csv").read_text()
    assert first.count("\n") == 4

    log = []
    grade(root, [TOPIC], course_dir=parallel, csv_path=tmp_path / "again.csv", log=log.append)
    assert any("3 submission(s) unchanged" in line for line in log), log
    assert (tmp_path / "again.csv").read_text() == first

    shutil.copyfile(root / "ada" / f"{TOPIC}.ipynb", root / "bob" / f"{TOPIC}.ipynb")  # bob fixes his notebook
    log = []
    results = grade(root, [TOPIC], course_dir=parallel, csv_path=tmp_path / "fixed.csv", log=log.append)
    assert any("2 submission(s) unchanged" in line for line in log), log
    by_student = {r.student: r for r in results}
    assert by_student["bob"].total == by_student["bob"].max_total
    with Gradebook(f"sqlite:///{parallel / 'gradebook.db'}") as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(TOPIC)) == ["ada", "bob", "cy"]
        assert gb.find_submission(TOPIC, "bob").score == by_student["bob"].total

    assert cli.main(["export", "--csv", str(tmp_path / "export.csv"), "--course-dir", str(parallel)]) == 0
    assert (tmp_path / "export.csv").read_text() == (tmp_path / "fixed.csv").read_text()
