"""A JupyterHub class as it really runs: grade straight from nbgrader's course layout, late work penalised by
nbgrader's late-submission plugin, grades exported for an LMS, and nbgrader's own feedback without hidden tests.
One real grading run (two notebooks of one topic)."""
import csv
import re
import subprocess

import nbformat
import pytest

from autograder import cli, late
from autograder.course import topics
from autograder.nbgrader_steps import NBGRADER, run_nbgrader
from autograder.reference import SOLUTIONS_DIR
from autograder.safe_feedback import HideHiddenTests
from tests.conftest import selected_topics

TOPIC = "masking"
DUE = "2027-01-15 23:59:00"
ON_TIME, LATE = "2027-01-15 20:00:00.000000 UTC", "2027-01-18 11:59:00.000000 UTC"   # 2.5 days late: 3 days, 30 %
pytestmark = [pytest.mark.slow, pytest.mark.skipif(TOPIC not in selected_topics(), reason=f"{TOPIC} not selected")]


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    (root / "late.toml").write_text(f'policy = "percent"\npercent_per_day = 10\n[due]\n{TOPIC} = "{DUE}"\n')
    hub = root / "hub-course"           # what `nbgrader collect` leaves on a JupyterHub
    for student, stamp in (("ada", ON_TIME), ("bob", LATE)):
        folder = hub / "submitted" / student / TOPIC
        folder.mkdir(parents=True)
        nbformat.write(nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4), folder / f"{TOPIC}.ipynb")
        (folder / "timestamp.txt").write_text(stamp)
    (hub / "source" / TOPIC).mkdir(parents=True)
    course = root / "course"
    patch = pytest.MonkeyPatch()
    patch.setenv("COURSE_LATE_CONFIG", str(root / "late.toml"))   # read by nbgrader's plugin (a subprocess) too
    assert cli.main(["grade", str(hub), "--topic", TOPIC, "--course-dir", str(course), "--csv", str(root / "g.csv"),
                     "--workers", "1"]) == 0
    yield {"root": root, "course": course, "patch": patch}
    patch.undo()


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_nbgrader_layout_is_graded_with_its_timestamps_and_the_late_plugin_assigns_the_penalty(graded_class):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded_class['course'] / 'gradebook.db'}") as gb:
        ada, bob = gb.find_submission(TOPIC, "ada"), gb.find_submission(TOPIC, "bob")
        assert ada.score == ada.max_score > 0 and bob.score == bob.max_score
        assert ada.total_seconds_late == 0 and ada.late_submission_penalty == 0
        assert bob.total_seconds_late == pytest.approx(2.5 * 86400)
        assert bob.late_submission_penalty == pytest.approx(0.3 * bob.score)


def test_the_late_penalty_is_in_the_exported_csv_and_the_feedback(graded_class):
    root, course = graded_class["root"], graded_class["course"]
    assert cli.main(["export", "--course-dir", str(course), "--csv", str(root / "all.csv")]) == 0
    rows = {r["student"]: r for r in _rows(root / "all.csv")}
    full = float(rows["ada"]["max"])
    assert float(rows["ada"]["total"]) == full and rows["ada"][f"{TOPIC}:{late.PENALTY}"] == ""
    assert float(rows["bob"][f"{TOPIC}:{late.PENALTY}"]) == pytest.approx(-0.3 * full)
    assert float(rows["bob"]["total"]) == pytest.approx(0.7 * full)
    assert "2.50 day(s) after the due date" in rows["bob"]["reasons"]
    assert cli.main(["feedback", "--course-dir", str(course), "--out", str(root / "fb")]) == 0
    text = (root / "fb" / "bob" / f"{TOPIC}.md").read_text()
    assert f"{0.7 * full:g} / {full:g}" in text and "10% per started day" in text
    assert "late" not in (root / "fb" / "ada" / f"{TOPIC}.md").read_text()


def test_canvas_export_of_the_graded_class(graded_class):
    root, course = graded_class["root"], graded_class["course"]
    (root / "roster.csv").write_text("student,name,canvas_id,sis_login_id,section\n"
                                     "ada,Ada L,11,ada@uni.edu,A\nbob,Bob S,12,bob@uni.edu,B\n")
    assert cli.main(["export", "--format", "canvas", "--roster", str(root / "roster.csv"), "--course-dir",
                     str(course), "--csv", str(root / "canvas.csv")]) == 0
    with open(root / "canvas.csv", newline="") as handle:
        header, possible, ada, bob = list(csv.reader(handle))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", TOPIC]
    full = float(possible[-1])
    assert ada == ["Ada L", "11", "", "ada@uni.edu", "A", f"{full:g}"]
    assert float(bob[-1]) == pytest.approx(0.7 * full)


def _hidden_names(topic):
    """Identifiers that only the hidden tests use (absent from everything the student's notebook shows)."""
    solution = nbformat.writes(nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4))
    region = r"BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS"
    hidden = "\n".join(re.findall(region, solution, flags=re.S))
    shown = re.sub(region, "", solution, flags=re.S) + nbformat.writes(
        nbformat.read(cli.EXERCISES_DIR / f"{topic}.ipynb", as_version=4))   # the submission here is the reference
    return {name for name in re.findall(r"\b[A-Za-z_]\w{5,}\b", hidden)   # snake_case: not a word of the page
            if "_" in name.strip("_") and name not in shown}


def test_nbgrader_generate_feedback_on_the_course_hides_hidden_tests_and_shows_the_late_penalty(graded_class):
    course = graded_class["course"]
    secret = _hidden_names(TOPIC)
    assert secret, "the hidden tests use no name of their own: pick another marker"
    autograded = nbformat.read(course / "autograded" / "bob" / TOPIC / f"{TOPIC}.ipynb", as_version=4)
    source = "\n".join(c.source for c in autograded.cells)
    assert "BEGIN HIDDEN TESTS" in source and any(n in source for n in secret)   # what nbgrader renders from
    done = run_nbgrader(["generate_feedback", TOPIC, "--force"], course)
    assert done.returncode == 0, done.stderr[-2000:]
    for student in ("ada", "bob"):
        page = (course / "feedback" / student / TOPIC / f"{TOPIC}.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in page
        assert not [n for n in secret if n in page], student
        assert "test_" in page   # the visible tests and the scores are there
    bob = (course / "feedback" / "bob" / TOPIC / f"{TOPIC}.html").read_text()
    assert "Late submission penalty" in bob
    nb, _ = HideHiddenTests().preprocess(autograded, {})
    assert "BEGIN HIDDEN TESTS" not in "\n".join(c.source for c in nb.cells)


def test_stock_nbgrader_feedback_would_show_the_hidden_tests(graded_class, tmp_path):
    """The negative control: the same course with nbgrader's default feedback preprocessors."""
    course = graded_class["course"]
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'transformers-from-attention-to-swin'\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.feedback_directory = 'stock-feedback'\n")
    done = subprocess.run([NBGRADER, "generate_feedback", TOPIC, "--force", "--student=bob"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    page = (course / "stock-feedback" / "bob" / TOPIC / f"{TOPIC}.html").read_text()
    assert [n for n in _hidden_names(TOPIC) if n in page]


def test_the_course_folder_stays_an_nbgrader_course(graded_class, tmp_path):
    done = run_nbgrader(["export", f"--to={tmp_path / 'nbgrader.csv'}"], graded_class["course"])
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["student_id"]: r for r in _rows(tmp_path / "nbgrader.csv") if r["assignment"] == TOPIC}
    assert float(rows["bob"]["late_submission_penalty"]) > 0 and float(rows["ada"]["late_submission_penalty"]) == 0
    assert TOPIC in topics()
