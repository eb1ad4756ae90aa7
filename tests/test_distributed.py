"""Grading beyond one machine, with real parts: a Dask scheduler and two worker processes on 127.0.0.1 (each in its
own working folder, as separate machines would be), and a real PostgreSQL server for the gradebook.

* a Dask run's CSV equals a local run's, and both workers took part;
* a worker killed mid-batch loses nothing: its submissions run elsewhere, the CSV still equals the local run's;
* a scheduler that cannot be reached stops grading before anything is graded, with a clear error;
* two graders sharing one PostgreSQL gradebook at the same time both land every grade.
"""
from __future__ import annotations

import csv
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import cli, distributed
from autograder.reference import REPO_ROOT, SOLUTIONS_DIR
from tests.planted_bugs import PLANTED_BUGS, apply_bug

pytestmark = pytest.mark.slow
TOPIC = "attention"
DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _submissions(root: Path, bugs: int = 1) -> Path:
    solution = nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4)
    for student, nb in [("reference", solution),
                        ("stub", nbformat.read(REPO_ROOT / "exercises" / f"{TOPIC}.ipynb", as_version=4))] + \
            [(f"bug-{b.name}", apply_bug(solution, b)) for b in PLANTED_BUGS[TOPIC][:bugs]]:
        (root / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, root / student / f"{TOPIC}.ipynb")
    return root


def _rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return sorted(csv.DictReader(handle), key=lambda row: row["student"])


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1", MPLBACKEND="Agg")


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    return _submissions(tmp_path_factory.mktemp("submissions"))


@pytest.fixture(scope="module")
def local_csv(submissions, tmp_path_factory):
    course = tmp_path_factory.mktemp("local-course")
    cli.grade(submissions, [TOPIC], course_dir=course, csv_path=course / "grades.csv", workers=1)
    return course / "grades.csv"


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes, as an instructor starts them."""

    def __init__(self, root: Path, workers: int = 2):
        self.root, self.port = root, _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                           "--no-dashboard"], env=_env(), cwd=root, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=(root / "scheduler.log").open("w"))
        self.workers = [self.start_worker(i) for i in range(workers)]
        client = distributed.connect(self.address, timeout=60)
        client.wait_for_workers(workers, timeout=120)
        client.close()

    def start_worker(self, index: int) -> subprocess.Popen:
        folder = self.root / f"machine-{index}"
        folder.mkdir(exist_ok=True)
        env = dict(_env(), COURSE_WORKER_DIR=str(folder / "work"))
        return subprocess.Popen([DASK, "worker", self.address, "--nthreads", "1", "--nworkers", "1",
                                 "--no-dashboard", "--local-directory", str(folder / "dask"), "--name", f"m{index}"],
                                env=env, cwd=folder, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=(folder / "worker.log").open("w"))

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(tmp_path)
    yield running
    running.stop()


def test_dask_run_equals_local_run_on_two_workers(cluster, submissions, local_csv, tmp_path):
    course = tmp_path / "course"
    cli.grade(submissions, [TOPIC], course_dir=course, csv_path=course / "grades.csv", scheduler=cluster.address)
    assert _rows(course / "grades.csv") == _rows(local_csv)
    used = {line.split()[-1] for line in (course / "logs" / "cluster.log").read_text().splitlines()}
    assert len(used) == 2, f"expected both workers to grade, got {used}"


def test_worker_killed_mid_batch_loses_nothing(cluster, submissions, local_csv, tmp_path):
    course = tmp_path / "course"
    victim = cluster.workers[0]
    jobs_dir = tmp_path / "machine-0" / "work"

    def kill_when_busy():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if glob.glob(str(jobs_dir / "job-*")):
                os.killpg(victim.pid, signal.SIGKILL)
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    cli.grade(submissions, [TOPIC], course_dir=course, csv_path=course / "grades.csv", scheduler=cluster.address)
    killer.join(1)
    assert victim.poll() is not None, "the worker was never busy, so it was not killed"
    assert _rows(course / "grades.csv") == _rows(local_csv)


def test_unreachable_scheduler_stops_before_grading(submissions, tmp_path):
    course = tmp_path / "course"
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(distributed.SchedulerUnreachable, match="cannot reach the Dask scheduler"):
        cli.grade(submissions, [TOPIC], course_dir=course, csv_path=course / "grades.csv", scheduler=address)
    assert time.monotonic() - start < 60
    assert not (course / "grades.csv").exists() and not (course / "executed").exists()


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.skip("PostgreSQL server is not installed (scripts/test.sh installs it)")
    return found[-1]


@pytest.fixture
def postgres(tmp_path):
    """A throwaway PostgreSQL server on 127.0.0.1 (run as the postgres user when we are root)."""
    base = Path(tempfile.mkdtemp(prefix="course-pg-"))   # pytest's folders are private to root: postgres runs here
    base.chmod(0o777)
    data, port = base / "pg", _free_port()
    as_user = ["su", "postgres", "-s", "/bin/sh", "-c"] if os.getuid() == 0 else ["sh", "-c"]
    subprocess.run(as_user + [f"{_pg_bin('initdb')} -D {data} -A trust -U grader >/dev/null"], check=True)
    subprocess.run(as_user + [f"{_pg_bin('pg_ctl')} -D {data} -o '-k {base} -p {port} "
                              f"-c listen_addresses=127.0.0.1' -l {base}/pg.log -w start >/dev/null"], check=True)
    subprocess.run([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "course"], check=True)
    yield f"postgresql://grader@127.0.0.1:{port}/course"
    subprocess.run(as_user + [f"{_pg_bin('pg_ctl')} -D {data} -m immediate stop >/dev/null"], check=False)
    shutil.rmtree(base, ignore_errors=True)


def test_two_graders_share_one_postgresql_gradebook(postgres, tmp_path):
    """Two graders (separate course folders, as on two machines) grade different students into one gradebook at the
    same time; every grade lands and the export of either equals the union of both runs."""
    both = _submissions(tmp_path / "all", bugs=2)
    halves = [tmp_path / "a", tmp_path / "b"]
    for index, student in enumerate(sorted(p.name for p in both.iterdir())):
        shutil.copytree(both / student, halves[index % 2] / student)
    graders = [subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(half), "--db", postgres,
                                 "--topic", TOPIC,
                                 "--course-dir", str(tmp_path / f"course-{half.name}"), "--workers", "1",
                                 "--csv", str(tmp_path / f"{half.name}.csv")], env=_env(), cwd=REPO_ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for half in halves]
    for grader in graders:
        out, _ = grader.communicate(timeout=900)
        assert grader.returncode == 0, out[-3000:]
    graded = _rows(tmp_path / "a.csv") + _rows(tmp_path / "b.csv")
    export = tmp_path / "export.csv"
    subprocess.run([sys.executable, "-m", "autograder", "export", "--db", postgres, "--course-dir",
                    str(tmp_path / "course-a"), "--csv", str(export)], env=_env(), cwd=REPO_ROOT, check=True)
    def scores(rows):   # the reasons of the other grader's students live in its own course folder
        return [{k: v for k, v in row.items() if k == "student" or k.startswith(f"{TOPIC}:") or k in ("total", "max")}
                for row in rows]

    exported = [row for row in _rows(export) if row["assignment"] == TOPIC]
    assert scores(exported) == scores(sorted(graded, key=lambda row: row["student"]))
    assert {row["student"] for row in graded} == {p.name for p in both.iterdir()}


def test_unreachable_gradebook_server_is_a_clear_error(submissions, tmp_path):
    url = f"postgresql://grader@127.0.0.1:{_free_port()}/course"
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submissions), "--db", url,
                             "--course-dir", str(tmp_path / "course")], env=_env(), cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "cannot open the gradebook" in result.stderr + result.stdout
