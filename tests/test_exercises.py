"""exercises/ is generated from solutions/ and must be current; no solution or hidden test leaks into it."""
import json

import nbformat
import pytest

from autograder import cli, portable
from autograder.config import Config
from autograder.nbgrader_steps import generate
from autograder.reference import REPO_ROOT, SOLUTIONS_DIR

TOPICS = cli.topics()


@pytest.mark.slow   # nbgrader generate_assignment for every topic
def test_exercises_are_up_to_date_with_solutions():
    assert generate(check=True) == [], "run `python -m autograder generate` and commit exercises/"


@pytest.mark.slow
def test_staleness_check_notices_an_edited_solution(tmp_path):
    edited = tmp_path / "solutions"
    edited.mkdir()
    for topic in TOPICS:
        nb = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
        nb.cells[0].source += "\n\nA new sentence."
        nbformat.write(nb, edited / f"{topic}.ipynb")
    assert generate(check=True, config=Config.from_env(solutions_dir=edited)) == TOPICS


def test_every_solution_has_a_committed_exercise():
    assert TOPICS, "no solutions found"
    assert sorted(p.stem for p in (REPO_ROOT / "exercises").glob("*.ipynb")) == TOPICS


@pytest.mark.parametrize("topic", TOPICS)
def test_exercise_contains_no_solution_or_hidden_test(topic):
    text = (REPO_ROOT / "exercises" / f"{topic}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "load_reference"):
        assert marker not in text
    assert "raise NotImplementedError()" in text


@pytest.mark.parametrize("topic", TOPICS)
def test_sources_are_committed_without_outputs(topic):
    for folder in (SOLUTIONS_DIR, REPO_ROOT / "exercises"):
        nb = json.loads((folder / f"{topic}.ipynb").read_text())
        for cell in nb["cells"]:
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{folder.name}/{topic}"


@pytest.mark.parametrize("topic", cli.topics())
def test_exercise_links_back_to_its_chapter(topic):
    """The exercise's first cell links the chapter it goes with on the course website (a relative link breaks once
    the notebook is downloaded) and names its path in the repository (the chapter links the exercise:
    test_book.py)."""
    intro = nbformat.read(cli.EXERCISES_DIR / f"{topic}.ipynb", as_version=4).cells[0].source
    assert f"]({portable.chapter_url(topic)})" in intro
    assert portable.chapter_url(topic).startswith("https://")
    assert f"`book/{topic}.md`" in intro
    assert (REPO_ROOT / "book" / f"{topic}.md").exists()
