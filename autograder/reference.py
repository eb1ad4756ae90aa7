"""Load a reference solution from its nbgrader source notebook.

The reference code exists in exactly one place, the solution cells of
``solutions/<topic>.ipynb``.  Hidden tests (run by the autograder) and the
repository's own tests call :func:`load_reference` to execute those cells in a
fresh module, so there is no second copy that could drift from the notebook.
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import random
import types
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
# A grading machine that received the solutions as data (a Dask worker) points here with COURSE_SOLUTIONS_DIR.
SOLUTIONS_DIR = Path(os.environ.get("COURSE_SOLUTIONS_DIR") or REPO_ROOT / "solutions")
# Hidden tests draw their inputs from grading_seed(<public seed>) (autograder/privacy.py); imported here, where every
# grader imports it early, so that the secret is read before a sandbox run swaps the process's environment.
from autograder.privacy import grading_seed  # noqa: E402,F401


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def reference_source(topic: str) -> str:
    """The code of every non-test code cell of ``solutions/<topic>.ipynb``, in order."""
    path = SOLUTIONS_DIR / f"{topic}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"no solution notebook for topic {topic!r} at {path}")
    nb = nbformat.read(path, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and not is_test_cell(c)]
    return "\n\n".join(cells)


@contextlib.contextmanager
def _random_state_kept():
    """The reference's setup cell seeds every generator; a test that loads it must not see its stream change."""
    import numpy as np
    import torch

    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])


@functools.cache
def load_reference(topic: str) -> types.ModuleType:
    """Execute the reference solution of ``topic`` and return it as a module (the caller's random state is kept)."""
    module = types.ModuleType(f"reference_{topic}")
    module.__file__ = str(SOLUTIONS_DIR / f"{topic}.ipynb")
    code = compile(reference_source(topic), module.__file__, "exec")
    with _random_state_kept(), contextlib.redirect_stdout(io.StringIO()):
        exec(code, module.__dict__)
    return module
