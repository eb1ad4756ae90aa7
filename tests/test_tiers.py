"""The test tiers' machinery: with pytest-xdist's ``--dist loadgroup`` (scripts/test.sh), every test of one group runs
in one worker, so a slow session fixture (the grading run, the hostile batches, the book) is built once. pytest-xdist
3.8 names groups in a way pytest 9.2 ignores; ``tests/conftest.py`` names them itself: this proves it still works
with the installed versions."""
from __future__ import annotations

import subprocess
import sys
import textwrap

CONFTEST = textwrap.dedent("""
    import os
    import pytest
    from tests.conftest import _name_groups

    @pytest.fixture(scope="session")
    def expensive():
        return os.getpid()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(config, items):
        for item in items:
            if "expensive" in item.fixturenames:
                item.add_marker(pytest.mark.xdist_group("expensive"))
        if getattr(config.option, "loadgroup", False):
            _name_groups(items)
""")
TESTS = textwrap.dedent("""
    import os
    import pytest

    @pytest.mark.parametrize("i", range(8))
    def test_uses_the_fixture(expensive, i):
        with open(os.environ["BUILT_BY"], "a") as out:
            out.write(f"{expensive}\\n")

    @pytest.mark.parametrize("i", range(8))
    def test_other(i):
        pass
""")


def test_a_group_runs_in_one_worker(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_grouped.py").write_text(TESTS)
    built_by = tmp_path / "built_by.txt"
    from autograder.reference import REPO_ROOT

    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
                           "-p", "no:cacheprovider", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "BUILT_BY": str(built_by),
                               "HOME": str(tmp_path)}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    pids = built_by.read_text().split()
    assert len(pids) == 8 and len(set(pids)) == 1, f"the group's tests ran in processes {sorted(set(pids))}"
