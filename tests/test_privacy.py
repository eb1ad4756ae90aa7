"""Open repository, private grading: a private copy of the solutions and a secret seed for the hidden tests' inputs,
so that answers hard-coded for the public tests' inputs lose the points."""
import csv
import os
import re
import subprocess
import sys

import nbformat
import pytest
import torch

from autograder import privacy, sandbox
from autograder.reference import REPO_ROOT, SOLUTIONS_DIR
from tests.conftest import selected_topics

TOPIC, CELL = "attention", "test_sdpa_reference"
SECRET = "instructor-secret-7f3a"
pytestmark = pytest.mark.skipif(TOPIC not in selected_topics(), reason=f"{TOPIC} not selected")

# What the instructor's private hidden test reads: inputs drawn from grading_seed(<the public seed>).
PRIVATE_HIDDEN = """### BEGIN HIDDEN TESTS
from autograder.privacy import grading_seed
_gen = torch.Generator().manual_seed(grading_seed(1234))
for _trial in range(3):
    _q, _k, _v = (torch.randn(2, 5, 4, generator=_gen, dtype=torch.float64) for _ in range(3))
    _out, _w = scaled_dot_product_attention(_q, _k, _v)
    _expected = torch.softmax(_q @ _k.transpose(-2, -1) / 2.0, dim=-1)
    torch.testing.assert_close(_w, _expected)
    torch.testing.assert_close(_out, _expected @ _v)
### END HIDDEN TESTS"""

# A student who read the public hidden test: right answers for exactly the inputs the public seed draws, and
# zeros for anything else.  The student's cell also prints its environment: the secret must not be in it.
MEMORISER = """
import hashlib as _hashlib
import os as _os
print("environment:", sorted(_os.environ))
_known = {}
_gen = torch.Generator().manual_seed(1234)
for _trial in range(3):
    _q, _k, _v = (torch.randn(2, 5, 4, generator=_gen, dtype=torch.float64) for _ in range(3))
    _key = _hashlib.sha256(_q.numpy().tobytes()).hexdigest()
    _known[_key] = scaled_dot_product_attention(_q, _k, _v)
del scaled_dot_product_attention

def scaled_dot_product_attention(q, k, v, mask=None):
    answer = _known.get(_hashlib.sha256(q.detach().numpy().tobytes()).hexdigest())
    if answer is not None:
        return answer
    return torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype), torch.zeros(*q.shape[:-1], k.shape[-2],
                                                                                 dtype=q.dtype)
"""


def _part_one(nb):
    """The notebook up to its second part (scaled dot-product attention only): a quick grading run."""
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    nb.cells = nb.cells[:ids.index("mha_task")]
    return nb


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _private_copy(folder):
    nb = _part_one(nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4))
    cell = _cell(nb, CELL)
    cell.source = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", lambda _: PRIVATE_HIDDEN, cell.source,
                         flags=re.S)
    assert "grading_seed(1234)" in cell.source
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{TOPIC}.ipynb")
    return nb


def _memoriser():
    nb = _part_one(nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4))
    _cell(nb, "sdpa").source += "\n" + MEMORISER
    return nb


def test_without_a_secret_the_public_seed_is_used(monkeypatch):
    monkeypatch.setattr(privacy, "_AT_IMPORT", None)   # ignore a secret set where these tests run
    monkeypatch.delenv(privacy.SEED_ENV, raising=False)
    monkeypatch.delenv(privacy.SEED_FILE_ENV, raising=False)
    assert privacy.grading_seed(1234) == 1234 and privacy.fingerprint_part() == ""


def test_a_secret_gives_each_public_seed_its_own_unpredictable_seed(monkeypatch, tmp_path):
    monkeypatch.setenv(privacy.SEED_ENV, SECRET)
    seeds = {privacy.grading_seed(s) for s in (0, 1, 1234)}
    assert len(seeds) == 3 and 1234 not in seeds and privacy.grading_seed(1234) == privacy.grading_seed(1234)
    torch.Generator().manual_seed(privacy.grading_seed(1234))   # a valid seed
    monkeypatch.setenv(privacy.SEED_ENV, "another secret")
    assert privacy.grading_seed(1234) not in seeds
    monkeypatch.delenv(privacy.SEED_ENV)
    (tmp_path / "seed").write_text(SECRET + "\n")
    monkeypatch.setenv(privacy.SEED_FILE_ENV, str(tmp_path / "seed"))
    assert privacy.grading_seed(1234) in seeds
    assert SECRET not in privacy.fingerprint_part()


def test_a_hidden_test_drawing_from_the_global_generator_follows_the_secret(monkeypatch):
    """The grader seeds the global generators before each graded test cell from the secret (if any) and the cell's
    id: the same cell draws the same inputs under one secret, other inputs under another, and public grading leaves
    the generator alone."""
    from autograder.protocol.grader_tests import GraderSide

    def draws(secret: str | None) -> list[float]:
        monkeypatch.setattr(privacy, "_AT_IMPORT", None)
        if secret is None:
            monkeypatch.delenv(privacy.SEED_ENV, raising=False)
        else:
            monkeypatch.setenv(privacy.SEED_ENV, secret)
        side = GraderSide(channel=None, student_names=set())
        cell = nbformat.v4.new_code_cell("_x = torch.rand(3).tolist()",
                                         metadata={"nbgrader": {"grade_id": "test_hidden", "grade": True}})
        side.namespace["torch"] = torch
        torch.manual_seed(0)
        side.run(cell, show_outputs=True)
        return side.namespace["_x"]

    public = draws(None)
    assert public == _first_draws()
    assert draws(SECRET) == draws(SECRET) != public
    assert draws("another secret") not in (public, draws(SECRET))


def _first_draws() -> list[float]:
    torch.manual_seed(0)
    return torch.rand(3).tolist()


def test_the_students_kernel_never_gets_the_secret(monkeypatch, tmp_path):
    monkeypatch.setenv(privacy.SEED_ENV, SECRET)
    monkeypatch.setenv(privacy.SEED_FILE_ENV, str(tmp_path / "seed"))
    env = sandbox._clean_env(tmp_path, None, {})
    assert not [k for k, v in env.items() if k.startswith("COURSE_GRADING") or SECRET in v or "seed" in v]


def test_the_memoriser_passes_the_private_test_with_the_public_seed(monkeypatch):
    """In public (no secret) the hard-coded answers pass: exactly what a secret seed is for."""
    monkeypatch.setattr(privacy, "_AT_IMPORT", None)   # ignore a secret set where these tests run
    monkeypatch.delenv(privacy.SEED_ENV, raising=False)
    monkeypatch.delenv(privacy.SEED_FILE_ENV, raising=False)
    nb = _memoriser()
    namespace = {}
    for name in ("setup", "sdpa"):
        exec(_cell(nb, name).source, namespace)
    exec(PRIVATE_HIDDEN, namespace)


@pytest.mark.slow
def test_grading_with_a_private_copy_and_a_secret_seed(tmp_path):
    private = tmp_path / "private-solutions"
    _private_copy(private)
    submissions = tmp_path / "submissions"
    for student, nb in (("honest", _part_one(nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4))),
                        ("memoriser", _memoriser())):
        (submissions / student).mkdir(parents=True)
        nbformat.write(nb, submissions / student / f"{TOPIC}.ipynb")
    course = tmp_path / "course"
    env = dict(os.environ, COURSE_SOLUTIONS_DIR=str(private), COURSE_GRADING_SEED=SECRET,
               PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submissions), "--course-dir", str(course),
                           "--csv", str(tmp_path / "grades.csv"), "--feedback", str(tmp_path / "feedback"),
                           "--workers", "1"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # graded from the private copy: its hidden test is the one nbgrader holds
    assert (course / "source" / TOPIC / f"{TOPIC}.ipynb").read_bytes() == (private / f"{TOPIC}.ipynb").read_bytes()
    with open(tmp_path / "grades.csv", newline="") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert float(rows["honest"]["total"]) == float(rows["honest"]["max"])
    assert float(rows["memoriser"][f"{TOPIC}:{CELL}"]) == 0.0    # the secret seed drew inputs it had not seen
    # the secret is nowhere the student can see: not in the kernel's environment, the CSV or the feedback
    executed = nbformat.read(course / "autograded" / "memoriser" / TOPIC / f"{TOPIC}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "environment:" in printed and "PATH" in printed and "COURSE_GRADING_SEED" not in printed
    everything = (tmp_path / "grades.csv").read_text() + "".join(
        p.read_text() for p in (tmp_path / "feedback").rglob("*.md")) + printed
    assert SECRET not in everything
