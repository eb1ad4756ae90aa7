"""Resuming is safe (quick: nbgrader and the sandbox are faked): a submission graded before is kept only while
nothing that decides its grade has changed, i.e. the submission, its solution notebook, every file of the grader and
of the course package, the pinned requirements and the limits."""
import shutil

import pytest

from autograder import pipeline, state
from autograder.config import AUTOGRADER_DIR, Config
from autograder.reference import REPO_ROOT, SOLUTIONS_DIR
from autograder.reports import Result

TOPIC = "attention"


class FakeSteps:
    """Records which students the pipeline sends to grading."""

    def __init__(self, monkeypatch):
        self.graded: list[list[str]] = []
        monkeypatch.setattr(pipeline.steps, "release_assignment", lambda *a, **k: None)
        monkeypatch.setattr(pipeline.steps, "place_submission", lambda *a, **k: None)
        monkeypatch.setattr(pipeline, "grade_cells", lambda *a, **k: {"q": 1.0})
        monkeypatch.setattr(pipeline, "_grade_batch", self._grade_batch)

    def _grade_batch(self, topic, gradable, broken, max_scores, config, log, cluster=None, workers=None):
        self.graded.append(list(gradable))
        return {s: Result(s, topic, {"q": 1.0}, dict(max_scores)) for s in gradable}


@pytest.fixture
def run(monkeypatch, tmp_path):
    fake = FakeSteps(monkeypatch)
    (tmp_path / "submissions" / "ada").mkdir(parents=True)
    shutil.copyfile(SOLUTIONS_DIR / f"{TOPIC}.ipynb", tmp_path / "submissions" / "ada" / f"{TOPIC}.ipynb")

    def grade(config=None):
        config = config or Config.from_env(course_dir=tmp_path / "course")
        fake.graded.clear()
        pipeline.grade(tmp_path / "submissions", [TOPIC], log=lambda *_: None, config=config)
        return fake.graded == [["ada"]]   # True: graded again; False: kept

    return grade


def test_every_file_of_the_grader_and_the_course_package_and_the_requirements_is_fingerprinted():
    files = set(state.fingerprinted_files())
    expected = {p for p in AUTOGRADER_DIR.rglob("*.py") if "course" not in p.relative_to(AUTOGRADER_DIR).parts[:-1]}
    expected |= {p for p in (REPO_ROOT / "coursetools").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    expected.add(REPO_ROOT / "requirements.txt")
    assert expected <= files, sorted(map(str, expected - files))


def test_an_unchanged_submission_is_kept_and_any_change_grades_it_again(run, monkeypatch, tmp_path):
    assert run(), "first run: graded"
    assert not run(), "nothing changed: kept"
    original = state.read_bytes
    for changed in state.fingerprinted_files() + [SOLUTIONS_DIR / f"{TOPIC}.ipynb",
                                                  tmp_path / "submissions" / "ada" / f"{TOPIC}.ipynb"]:
        monkeypatch.setattr(state, "read_bytes", lambda p, c=changed: original(p) + (b"\n#" if p == c else b""))
        assert run(), f"{changed.relative_to(changed.parents[1])} changed: graded again"
        monkeypatch.setattr(state, "read_bytes", original)
        assert run(), "changed back: graded again (the state holds the latest grading)"
    assert not run(), "nothing changed since the last run: kept"
    base = Config.from_env(course_dir=tmp_path / "course")
    for limit in ({"cell_timeout_s": 61}, {"notebook_timeout_s": 601}, {"memory_mb": 4096}, {"nproc": 32}):
        assert run(base.with_(**limit)), f"{limit}: graded again"
