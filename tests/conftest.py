"""Shared fixtures: one real grading run for the whole session, the built book; and the test tiers.

Tiers: a test that starts a kernel, runs nbgrader or builds the book is ``slow`` (marked here when it uses the
``graded``, ``site`` or ``batch`` fixture, else by its module). The quick tier is everything else:
``bash scripts/test.sh --quick`` (``-m "not slow"``)."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder.config import Config
from autograder.course import topics
from autograder.pipeline import grade
from autograder.reference import SOLUTIONS_DIR
from tests.planted_bugs import PLANTED_BUGS, apply_bug
from tests.variants import apply_bundle, bundles

REPO_ROOT = Path(__file__).resolve().parent.parent


def selected_topics() -> list[str]:
    """Every topic, or only those in COURSE_TOPICS (comma-separated) to iterate quickly on one exercise."""
    wanted = [t for t in os.environ.get("COURSE_TOPICS", "").split(",") if t]
    return [t for t in topics() if not wanted or t in wanted]

# Submissions that must not stop the batch (each gets a recorded score with a reason).
KILLS_KERNEL = "import os\nos._exit(1)\n"
BROKEN_JSON = '{"cells": [ this is not json'
WARNS = "import sys, warnings\nwarnings.warn('correct code may warn')\nprint('and write to stderr', file=sys.stderr)\n"
# appended to the last solution cell of attention: the next graded calls (part 5, then any MultiHeadAttention) hang
HANGS_WHEN_TESTED = ("import time as _time\nMultiHeadAttention.forward = lambda self, *a, **k: _time.sleep(3600)\n"
                     "attention_flops = lambda *a, **k: _time.sleep(3600)\n")
SANDBOX_CELL_TIMEOUT_S = 30


def first_solution_cell(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))


def last_solution_cell(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")][-1]


def _write(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


# A slow fixture is built once per test process: with pytest-xdist (`--dist loadgroup`) every test that uses it runs
# in one worker (its group); other tests spread over the workers.
SLOW_FIXTURES = {"graded": "graded", "site": "book", "batch": "hostile"}


@pytest.hookimpl(tryfirst=True)   # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        used = sorted(set(SLOW_FIXTURES) & set(getattr(item, "fixturenames", ())))
        if used:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group(SLOW_FIXTURES[used[0]]))
    if getattr(config.option, "loadgroup", False):
        _name_groups(items)


def _name_groups(items) -> None:
    """``--dist loadgroup`` sends the tests whose node id ends in ``@<group>`` to one worker. pytest-xdist 3.8 adds
    that suffix by setting ``item._nodeid``, which pytest 9.2 no longer reads (a node's id is ``item._id``): add it
    here, as pytest-xdist would."""
    from _pytest.nodeid import NodeId

    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        if names and hasattr(item, "_id") and "@" not in item.nodeid.rsplit("]", 1)[-1]:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")


def _own_sandbox_uids() -> None:
    """Each pytest-xdist worker's grading runs give their kernels uids of its own (63000 + 1000 x worker), so that
    two batches graded at once never share a uid (nor a process limit); 62000+ is the Dask workers'."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit() and "COURSE_SANDBOX_UID_BASE" not in os.environ:
        os.environ["COURSE_SANDBOX_UID_BASE"] = str(Config().sandbox_uid_base + 1000 * (2 + int(worker[2:])))


_own_sandbox_uids()


def graded_bugs(topic: str) -> list:
    """The planted bugs graded end to end: one per topic (tests/test_exercise_design.py runs every one in-process)."""
    return PLANTED_BUGS.get(topic, [])[:1]


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """Grade, in one real `nbgrader autograde` run per topic: every reference, every stub, one planted bug, every
    variant with harmless extra code (``var-*``), a notebook that kills its kernel and a file that is not a notebook.
    Returns {(student, topic): Result}."""
    root = tmp_path_factory.mktemp("submissions")
    topics = selected_topics()
    for topic in topics:
        solution = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
        _write(solution, root / "reference" / f"{topic}.ipynb")
        _write(nbformat.read(REPO_ROOT / "exercises" / f"{topic}.ipynb", as_version=4),
               root / "stub" / f"{topic}.ipynb")
        for bug in graded_bugs(topic):
            _write(apply_bug(solution, bug), root / f"bug-{bug.name}" / f"{topic}.ipynb")
        for name, variants in bundles(topic).items():  # correct, plus harmless extra code: tests/test_variants.py
            _write(apply_bundle(solution, variants), root / f"var-{name}" / f"{topic}.ipynb")
        # sorts first, so nbgrader meets it before everyone else
        killer = copy.deepcopy(solution)
        first_solution_cell(killer).source += "\n" + KILLS_KERNEL
        _write(killer, root / "aaa-kills-kernel" / f"{topic}.ipynb")
        if topic == "attention":  # the sandbox's limits, once: a hang costs a cell timeout
            warns = copy.deepcopy(solution)
            first_solution_cell(warns).source += "\n" + WARNS
            _write(warns, root / "correct-but-warns" / f"{topic}.ipynb")
            hangs = copy.deepcopy(solution)
            last_solution_cell(hangs).source += "\n" + HANGS_WHEN_TESTED
            _write(hangs, root / "hangs-in-tests" / f"{topic}.ipynb")
        (root / "aab-not-a-notebook").mkdir(exist_ok=True)
        (root / "aab-not-a-notebook" / f"{topic}.ipynb").write_text(BROKEN_JSON)
    course_dir = tmp_path_factory.mktemp("course")
    results = grade(root, topics, csv_path=course_dir / "grades.csv",
                    config=Config.from_env(course_dir=course_dir, cell_timeout_s=SANDBOX_CELL_TIMEOUT_S))
    return {"results": {(r.student, r.topic): r for r in results}, "course_dir": course_dir,
            "csv": course_dir / "grades.csv", "list": results}


JUPYTER_BOOK = str(Path(sys.executable).with_name("jupyter-book"))


def toc_pages():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


def chapter_pages():
    """The toc pages that are chapters: those with an exercise (solutions/<stem>.ipynb)."""
    return [p for p in toc_pages() if (REPO_ROOT / "solutions" / f"{Path(p).stem}.ipynb").exists()]


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    if os.environ.get("COURSE_SITE"):  # test an already built site (e.g. _build/html) instead of building
        return Path(os.environ["COURSE_SITE"])
    out = tmp_path_factory.mktemp("book")
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "vendor_js.py")], check=True)
    build = subprocess.run([JUPYTER_BOOK, "build", str(REPO_ROOT), "--path-output", str(out), "-W", "-n",
                            "--keep-going"], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    assert "build succeeded" in build.stdout
    return out / "_build" / "html"
