"""Run an exercise notebook's cells in this process, in one namespace: seconds instead of a kernel and nbgrader.

This is the quick tier's mutation runner: the reference, the student's stub, every planted bug, alternative solution
and warned mistake are run as notebooks of code cells (hidden tests included), and each graded test cell passes or
fails with the message it would show. It proves what the exercise's tests *say*; the trust boundary (sandbox, split
execution) is proved end to end by the grading tests, which start real kernels.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import io
import random
import re
import traceback
from dataclasses import dataclass, field

import nbformat

from autograder.reference import SOLUTIONS_DIR
from autograder.stubs import given_stub

NOT_IMPLEMENTED = "# YOUR CODE HERE\nraise NotImplementedError()"
_SOLUTION_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)


@dataclass
class Run:
    passed: dict[str, bool] = field(default_factory=dict)      # graded test cell -> passed
    messages: dict[str, str] = field(default_factory=dict)     # graded test cell -> the error it raised
    errors: dict[str, str] = field(default_factory=dict)       # other cell -> the error it raised

    def failed(self) -> set[str]:
        return {cell for cell, ok in self.passed.items() if not ok}


def solution(topic: str):
    return copy.deepcopy(_read_solution(topic, (SOLUTIONS_DIR / f"{topic}.ipynb").stat().st_mtime_ns))


@functools.lru_cache(maxsize=16)
def _read_solution(topic: str, mtime_ns: int):   # read (and validated) once per version of the file
    return nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)


def stub_of(notebook):
    """The student's notebook as nbgrader generates it (solution regions cleared, given code for find-the-bug
    parts), hidden tests kept so that every graded cell can be run."""
    stub = copy.deepcopy(notebook)
    for cell in stub.cells:
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        given = given_stub(cell)
        if given is not None:
            cell.source = given
            continue
        replaced = _SOLUTION_REGION.sub(
            lambda m: "\n".join(m.group(1) + line for line in NOT_IMPLEMENTED.splitlines()), cell.source)
        cell.source = replaced if replaced != cell.source else NOT_IMPLEMENTED
    return stub


def _is_graded_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def run(notebook, name: str = "<notebook>", until=None) -> Run:
    """Execute every code cell in order in one fresh namespace (stdout swallowed, random state kept); with
    ``until(result)``, stop after the first graded cell at which it is true (the rest cannot change the answer)."""
    import numpy as np
    import torch

    result = Run()
    namespace: dict = {"__name__": "__main__"}
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state(), torch.get_default_dtype()
    try:
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell-{index}")
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(source, f"{name}:{grade_id}", "exec"), namespace)
            except BaseException as error:
                if isinstance(error, KeyboardInterrupt):
                    raise
                message = "".join(traceback.format_exception_only(type(error), error)).strip()
                if _is_graded_test(cell):
                    result.passed[grade_id], result.messages[grade_id] = False, message
                else:
                    result.errors[grade_id] = message
            else:
                if _is_graded_test(cell):
                    result.passed[grade_id] = True
            if until is not None and _is_graded_test(cell) and until(result):
                break
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
        torch.set_default_dtype(saved[3])
    return result
