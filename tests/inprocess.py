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
import os
import pickle
import random
import re
import select
import signal
import time
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


def _source(cell) -> str:
    return _without_magics(cell.source)


def _without_magics(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _grade_id(cell, index: int) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", f"cell-{index}")


def _execute(cell, source: str, index: int, namespace: dict, result: Run, name: str) -> None:
    """Run one code cell in ``namespace``; record in ``result`` whether it passed and the message it raised."""
    grade_id = _grade_id(cell, index)
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


@contextlib.contextmanager
def _global_state_kept():
    import numpy as np
    import torch

    saved = random.getstate(), np.random.get_state(), torch.get_rng_state(), torch.get_default_dtype()
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
        torch.set_default_dtype(saved[3])


def run(notebook, name: str = "<notebook>", until=None) -> Run:
    """Execute every code cell in order in one fresh namespace (stdout swallowed, random state kept); with
    ``until(result)``, stop after the first graded cell at which it is true (the rest cannot change the answer)."""
    result, namespace = Run(), {"__name__": "__main__"}
    with _global_state_kept():
        _run_cells(notebook.cells, 0, namespace, result, name, until)
    return result


def _run_cells(cells, start: int, namespace: dict, result: Run, name: str, until=None) -> None:
    for index in range(start, len(cells)):
        cell = cells[index]
        if cell.cell_type != "code":
            continue
        _execute(cell, _source(cell), index, namespace, result, name)
        if until is not None and _is_graded_test(cell) and until(result):
            return


@dataclass(frozen=True)
class Edit:
    """Run the notebook with solution cell ``cell`` replaced by ``source``; ``until`` as for :func:`run`."""
    key: object
    cell: str
    source: str
    until: object = None


CHILD_TIMEOUT_S = 300


def run_edits(notebook, edits: list[Edit], name: str = "<notebook>") -> tuple[Run, dict[object, Run]]:
    """The reference run of ``notebook`` and, for each edit, the run of the notebook with that edit, in one pass.

    The cells before an edited cell are the reference's: they run once, here, and each edit forks this process at
    its cell (copy-on-write: the namespace, the random state and everything the prefix set up are the child's as
    they are here), runs its own cell and the rest in the child and sends its :class:`Run` back. An edit therefore
    costs its own cell and the cells after it, not the whole notebook."""
    by_cell: dict[str, list[Edit]] = {}
    for edit in edits:
        by_cell.setdefault(edit.cell, []).append(edit)
    known = {_grade_id(c, i) for i, c in enumerate(notebook.cells)}
    if missing := set(by_cell) - known:
        raise ValueError(f"no cells {sorted(missing)} in {name}")
    reference, namespace, edited = Run(), {"__name__": "__main__"}, {}
    cells = notebook.cells
    with _global_state_kept(), _one_thread():
        _warm_up(cells)
        for index, cell in enumerate(cells):
            if cell.cell_type != "code":
                continue
            for edit in by_cell.get(_grade_id(cell, index), []):
                edited[edit.key] = _forked(lambda edit=edit: _continue(cells, index, edit, namespace, reference,
                                                                       f"{name}-{edit.key}"))
            _execute(cell, _source(cell), index, namespace, reference, name)
    return reference, edited


def _continue(cells, index: int, edit: Edit, namespace: dict, result: Run, name: str) -> Run:
    """In the child: the edited cell, then the rest (``result`` holds the prefix's graded cells)."""
    cell = cells[index]
    _execute(cell, _without_magics(edit.source), index, namespace, result, name)
    if not (edit.until is not None and _is_graded_test(cell) and edit.until(result)):
        _run_cells(cells, index + 1, namespace, result, name, edit.until)
    return result


def _warm_up(cells) -> None:
    """Pay here, once, what the first run of a cell pays and every child forked before it would pay again: the
    modules the notebook imports (``timm`` alone loads ~1,400 modules: 1.4 s) and PyTorch's first meta-device op
    (it imports ``torch._dynamo``: ~1 s). Importing is all it does: no cell runs."""
    import ast
    import importlib

    from autograder.kernel_zygote import warm_torch

    names = set()
    for cell in cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_source(cell))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    for name in sorted(names):
        with contextlib.suppress(Exception):   # a cell's import that fails fails there, as it should
            importlib.import_module(name)
    warm_torch()


@contextlib.contextmanager
def _one_thread():
    """Fork only a process whose PyTorch runs on one thread (an OpenMP thread team does not survive fork)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _forked(work) -> Run:
    """``work()`` in a forked child; its Run comes back through a pipe. A child that dies or hangs is a Run whose
    ``errors`` say so, never a crashed or hung test process."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's frames
        status = 0
        try:
            os.close(read_end)
            payload = pickle.dumps(work())
        except BaseException as error:  # noqa: BLE001 -- reported to the parent
            payload, status = pickle.dumps(Run(errors={"<child>": f"{type(error).__name__}: {error}"})), 1
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        os._exit(status)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + CHILD_TIMEOUT_S
    with os.fdopen(read_end, "rb") as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return Run(errors={"<child>": f"no result within {CHILD_TIMEOUT_S} s"})
            chunk = os.read(pipe.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    try:
        return pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001 -- the child died before it could answer
        return Run(errors={"<child>": f"the child process died (wait status {status})"})
