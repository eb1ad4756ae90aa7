"""Grades an LMS imports as they are, late penalties, nbgrader's folder layouts (quick: no grading run)."""
import csv
import os
from datetime import datetime, timezone

import pytest

from autograder import late, lms, nbgrader_layout
from autograder.reports import Result


def _results():
    ada = Result("ada", "attention", scores={"t1": 2.0, "t2": 3.0}, max_scores={"t1": 2.0, "t2": 3.0})
    bob = Result("bob", "attention", scores={"t1": 2.0, "t2": 0.0}, max_scores={"t1": 2.0, "t2": 3.0},
                 reasons={"t2": "AssertionError: weights must sum to 1\nmore detail"})
    bob_vit = Result("bob", "vit", scores={"v": 4.0}, max_scores={"v": 5.0}, reasons={"v": "shape (2, 3)"})
    eve = Result("eve", "attention", scores={"t1": 2.0, "t2": 3.0}, max_scores={"t1": 2.0, "t2": 3.0})
    return [ada, bob, bob_vit, eve]


ROSTER = """student,name,canvas_id,sis_user_id,sis_login_id,section,first_name,last_name,id_number,email
ada,Ada Lovelace,1001,S-1,ada@uni.edu,Section A,Ada,Lovelace,ID-1,ada@uni.edu
bob,Bob Smith,1002,S-2,bob@uni.edu,Section B,Bob,Smith,ID-2,bob@uni.edu
cy,Cy Young,1003,S-3,cy@uni.edu,Section A,Cy,Young,ID-3,cy@uni.edu
"""


def _read(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER)
    return lms.read_roster(path)


def test_canvas_file_has_canvas_columns_points_possible_and_one_row_per_roster_student(tmp_path, roster):
    unmatched = lms.write_canvas(_results(), tmp_path / "canvas.csv", roster,
                                 titles={"attention": "Exercise: attention (4711)"})
    rows = _read(tmp_path / "canvas.csv")
    # Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, then assignments
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Exercise: attention (4711)", "vit"]
    assert rows[1] == ["Points Possible", "", "", "", "", "5", "5"]
    assert rows[2] == ["Ada Lovelace", "1001", "S-1", "ada@uni.edu", "Section A", "5", ""]
    assert rows[3] == ["Bob Smith", "1002", "S-2", "bob@uni.edu", "Section B", "2", "4"]
    assert rows[4] == ["Cy Young", "1003", "S-3", "cy@uni.edu", "Section A", "", ""]   # nothing graded: left blank
    assert len(rows) == 5 and unmatched == ["eve"]   # not in the roster: cannot be matched, reported


def test_moodle_file_has_an_identifier_a_grade_and_a_feedback_column_per_assignment(tmp_path, roster):
    lms.write_moodle(_results(), tmp_path / "moodle.csv", roster)
    rows = _read(tmp_path / "moodle.csv")
    assert rows[0] == ["First name", "Last name", "ID number", "Email address",
                       "attention", "attention (Feedback)", "vit", "vit (Feedback)"]
    bob = rows[2]
    assert bob[:4] == ["Bob", "Smith", "ID-2", "bob@uni.edu"]
    assert bob[4] == "2" and bob[6] == "4"
    assert bob[5] == "2 / 5; t2: AssertionError: weights must sum to 1"   # first line of each lost check
    lms.write_moodle(_results(), tmp_path / "plain.csv", roster, with_feedback=False)
    assert _read(tmp_path / "plain.csv")[0] == ["First name", "Last name", "ID number", "Email address",
                                                "attention", "vit"]


def test_without_a_roster_every_graded_student_is_a_row_under_their_submission_id(tmp_path):
    assert lms.write_canvas(_results(), tmp_path / "c.csv") == []
    rows = _read(tmp_path / "c.csv")
    assert [r[3] for r in rows[2:]] == ["ada", "bob", "eve"]


def test_a_roster_without_a_student_column_is_refused(tmp_path):
    (tmp_path / "r.csv").write_text("name,email\nAda,ada@uni.edu\n")
    with pytest.raises(ValueError, match="'student' column"):
        lms.read_roster(tmp_path / "r.csv")


@pytest.mark.parametrize("policy, seconds_late, expected", [
    ("none", 3 * 86400, 0.0),
    ("zero", 60, 16.0),
    ("percent", 0, 0.0),
    ("percent", 60, 1.6),              # a started day counts as a day: 10 %
    ("percent", 2.5 * 86400, 4.8),     # 3 days: 30 %
    ("percent", 30 * 86400, 16.0),     # never more than the score
])
def test_late_penalty_policies(policy, seconds_late, expected):
    config = {"policy": policy, "percent_per_day": 10, "due": {}}
    assert late.penalty(16.0, seconds_late, config) == pytest.approx(expected)


def test_an_unknown_late_policy_is_refused(tmp_path):
    (tmp_path / "late.toml").write_text('policy = "half"\n')
    with pytest.raises(ValueError, match="none, zero, percent"):
        late.load_config(tmp_path / "late.toml")


def _submit(folder, when: datetime, name="attention"):
    folder.mkdir(parents=True)
    (folder / f"{name}.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))


def test_nbgrader_course_folder_is_staged_with_each_submission_time(tmp_path):
    when = datetime(2027, 1, 16, 12, 30, tzinfo=timezone.utc)
    _submit(tmp_path / "course" / "submitted" / "ada" / "attention", when)
    _submit(tmp_path / "course" / "submitted" / "bob" / "attention", when.replace(day=20))
    (tmp_path / "course" / "source" / "attention").mkdir(parents=True)   # the rest of a course folder is ignored
    keep = []
    for given in (tmp_path / "course", tmp_path / "course" / "submitted"):
        staged = nbgrader_layout.stage(given, ["attention", "vit"], keep)
        assert sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*.ipynb")) == \
            ["ada/attention.ipynb", "bob/attention.ipynb"]
        assert os.path.getmtime(staged / "ada" / "attention.ipynb") == when.timestamp()


def test_exchange_inbound_keeps_each_students_latest_submission(tmp_path):
    inbound = tmp_path / "exchange" / "course101" / "inbound"
    first, second = datetime(2027, 1, 10, tzinfo=timezone.utc), datetime(2027, 1, 12, tzinfo=timezone.utc)
    _submit(inbound / "ada+attention+2027-01-10 00:00:00.000000 UTC+abc", first)
    _submit(inbound / "ada+attention+2027-01-12 00:00:00.000000 UTC+def", second)
    found = nbgrader_layout.find(tmp_path / "exchange", ["attention"])
    assert list(found) == [("ada", "attention")]
    assert found[("ada", "attention")][1] == second


def test_a_plain_submissions_folder_is_left_as_it_is(tmp_path):
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "attention.ipynb").write_text("{}")
    assert nbgrader_layout.stage(tmp_path, ["attention"], []) == tmp_path
