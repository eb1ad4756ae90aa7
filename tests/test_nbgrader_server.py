"""nbgrader's commands through the fork server (``autograder/nbgrader_server.py``) answer as a plain subprocess does:
the same exit code, output and files; a command past its time limit is killed and the next one still runs; nothing
is left running after the session."""
from __future__ import annotations

import contextlib
import sqlite3
import subprocess

import pytest

from autograder import nbgrader_server
from autograder import nbgrader_steps as steps

pytestmark = pytest.mark.slow   # runs nbgrader


def _both(args, course_dir):
    plain = steps.run_nbgrader(args, course_dir)
    with nbgrader_server.session():
        served = steps.run_nbgrader(args, course_dir)
        server = nbgrader_server._active[0]
    return plain, served, server


def test_a_command_answers_as_a_subprocess_does(tmp_path):
    plain, served, server = _both(["--version"], tmp_path)
    assert server.proc is not None, "the command did not go through the server"
    assert (served.returncode, served.stdout) == (plain.returncode, plain.stdout) and plain.returncode == 0
    assert served.stdout.strip()


def test_a_failing_command_fails_the_same_way(tmp_path):
    plain, served, _ = _both(["generate_assignment", "no-such-topic"], tmp_path)
    assert plain.returncode != 0 and served.returncode == plain.returncode
    assert "no-such-topic" in served.stdout + served.stderr


def _schema_version(course_dir) -> list:
    with contextlib.closing(sqlite3.connect(course_dir / "gradebook.db")) as db:
        return db.execute("SELECT version_num FROM alembic_version").fetchall()


def test_release_through_the_server_writes_the_same_student_notebook_and_gradebook(tmp_path):
    plain = steps.release_assignment("masking", tmp_path / "plain").read_bytes()
    with nbgrader_server.session():
        served = steps.release_assignment("masking", tmp_path / "served").read_bytes()
    assert served == plain
    # the server reads the schema's revision in-process; nbgrader alone asks `alembic heads` in a subprocess
    assert _schema_version(tmp_path / "served") == _schema_version(tmp_path / "plain")
    assert len(_schema_version(tmp_path / "plain")) == 1


def test_a_command_past_its_limit_is_killed_and_the_server_goes_on(tmp_path):
    with nbgrader_server.session():
        server = nbgrader_server._active[0]
        with pytest.raises(subprocess.TimeoutExpired):
            nbgrader_server.run([steps.NBGRADER, "--version"], tmp_path, steps._grading_env(tmp_path), 0.001)
        again = steps.run_nbgrader(["--version"], tmp_path)
        assert again.returncode == 0 and again.stdout.strip()
        proc = server.proc
    assert proc.poll() is not None, "the server outlived its session"
