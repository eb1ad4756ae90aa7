"""No false failures: a correct solution with harmless extra top-level code scores full marks on every cell.

The corpus is ``tests/variants.py``: for every topic, the reference solution plus code a student might add (imports
and aliases, ``torch.backends.cudnn.deterministic = True``, seeds, helpers, type hints, a dataclass config, prints,
warnings, locked names defined again, self-checks, ``__all__``, ``del``), in solution cells and in cells of their own.
The cheap tests check the corpus itself (it applies, it changes the notebook, the student's code still runs); the
graded test reads the real grading run of the session (fixture ``graded``, student ``var-<name>``).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap

import nbformat
import pytest

from autograder import cli
from autograder.reference import REPO_ROOT, SOLUTIONS_DIR, is_test_cell
from tests.conftest import selected_topics
from tests.variants import VARIANTS, apply_bundle, apply_variant, bundles

MIN_VARIANTS = 8
TOPICS = selected_topics()
GRADED = [(topic, name) for topic in VARIANTS if topic in TOPICS for name in bundles(topic)]


def _reference(topic):
    return nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)


def _student_cells(nb) -> list[str]:
    """What runs in the student's kernel: every code cell but the graded test cells, in order."""
    return [c.source for c in nb.cells if c.cell_type == "code" and not is_test_cell(c)]


def _python(source: str) -> str:
    """A cell as the kernel runs it: IPython magics (``%time``) turned into Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def test_every_topic_has_enough_variants():
    assert set(VARIANTS) == set(cli.topics())
    for topic, variants in VARIANTS.items():
        assert len(variants) >= MIN_VARIANTS, f"{topic}: {len(variants)} variants, fewer than {MIN_VARIANTS}"
        names = [v.name for v in variants]
        assert len(names) == len(set(names)), f"{topic}: names used twice"


@pytest.mark.parametrize("topic", cli.topics())
def test_every_variant_applies_and_only_adds_code(topic):
    """Cheap: every anchor is found, the notebook changes, every cell still parses, the nbgrader cells keep their
    metadata and order, and added cells are plain code cells (no nbgrader metadata)."""
    reference = _reference(topic)
    graded_ids = [c.metadata["nbgrader"]["grade_id"] for c in reference.cells if "nbgrader" in c.metadata]
    for variant in VARIANTS[topic]:
        edited = apply_variant(reference, variant)
        assert edited != reference, f"{variant.name} changes nothing"
        assert [c.metadata["nbgrader"]["grade_id"] for c in edited.cells if "nbgrader" in c.metadata] == graded_ids
        for before in reference.cells:
            if "nbgrader" in before.metadata and not before.metadata["nbgrader"].get("solution"):
                after = next(c for c in edited.cells if c.metadata.get("nbgrader") == before.metadata["nbgrader"])
                assert after.source == before.source, f"{variant.name} edits the locked cell {after.metadata}"
        for cell in edited.cells:
            if cell.cell_type == "code":
                ast.parse(_python(cell.source))  # raises on a syntax error
        nbformat.validate(edited)


_RUNNER = textwrap.dedent("""
    import contextlib, io, json, os, sys, traceback
    import torch
    from IPython.core.interactiveshell import InteractiveShell
    torch.set_num_threads(1)
    failures = {}
    for name, cells in json.load(sys.stdin).items():
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # a fresh copy of this process per variant: no flag or seed leaks into the next one
            os.close(read)
            message = b""
            try:
                shell = InteractiveShell.instance()  # as in a kernel: magics work, __name__ is "__main__"
                shell.enable_gui = lambda gui=None: None  # what a kernel's shell does for %matplotlib inline
                for index, cell in enumerate(cells):
                    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                        result = shell.run_cell(cell, silent=True)
                    error = result.error_before_exec or result.error_in_exec
                    if error is not None:
                        message = (f"cell {index}: {type(error).__name__}: {error}\\n"
                                   + "".join(traceback.format_exception(error)[-3:])).encode()
                        break
            except BaseException:
                message = traceback.format_exc(limit=-3).encode()
            os.write(write, message[-3000:])
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            message = pipe.read().decode()
        _, status = os.waitpid(pid, 0)
        if message or status:
            failures[name] = message or f"exit status {status}"
    print(json.dumps(failures))
""")


@pytest.mark.slow   # an IPython shell per variant
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
@pytest.mark.parametrize("topic", TOPICS)
def test_student_code_of_every_variant_runs(topic):
    """The extra code itself is correct: the student's cells of each variant run top to bottom without an error
    (no grading: otherwise a broken self-check would show up as a confusing grading failure)."""
    reference = _reference(topic)
    codes = {v.name: _student_cells(apply_variant(reference, v)) for v in VARIANTS[topic]}
    run = subprocess.run([sys.executable, "-c", _RUNNER], input=json.dumps(codes), capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=600,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO_ROOT), "MPLBACKEND": "Agg"})
    assert run.returncode == 0, run.stderr[-3000:]
    failures = json.loads(run.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(f"{name}:\n{message}" for name, message in failures.items())


def _lost(result) -> str:
    lines = [f"{q}: {result.scores.get(q, 0):g} / {points:g}  {result.reasons.get(q, '')}"
             for q, points in result.max_scores.items() if result.scores.get(q, 0) < points]
    if "submission" in result.reasons:
        lines.insert(0, f"submission: {result.reasons['submission']}")
    return f"{result.total:g} / {result.max_total:g}\n" + "\n".join(lines)


@pytest.mark.parametrize("topic", sorted(VARIANTS))
def test_bundles_hold_every_variant_and_apply(topic):
    """Graded notebooks bundle a few variants each (fewer grading runs): together they hold every variant once,
    and each bundle applies to the reference and still parses (test_every_topic_has_enough_variants counts them)."""
    groups = bundles(topic)
    assert [v.name for vs in groups.values() for v in vs] == [v.name for v in VARIANTS[topic]]
    reference = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
    for variants in groups.values():
        for cell in apply_bundle(reference, variants).cells:
            if cell.cell_type == "code":
                ast.parse("\n".join(line for line in cell.source.splitlines()
                                     if not line.lstrip().startswith(("%", "!"))))


@pytest.mark.parametrize("topic,bundle", GRADED, ids=[f"{t}:{b}" for t, b in GRADED])
def test_variant_scores_full_marks_on_every_cell(graded, topic, bundle):
    result = graded["results"][(f"var-{bundle}", topic)]
    assert result.max_total > 0
    held = ", ".join(v.name for v in bundles(topic)[bundle])
    assert result.scores == result.max_scores, f"{bundle} ({held}): " + _lost(result)
