"""What the sandbox writes into an executed notebook when a run stops early, and whose uid a kernel gets (quick: no
kernel)."""
import os
from pathlib import Path

import nbformat

from autograder.sandbox import _mark_unfinished

REPO_ROOT = Path(__file__).resolve().parent.parent


def _notebook():
    graded = {"nbgrader": {"grade": True, "grade_id": "t", "points": 1}}
    cells = [nbformat.v4.new_code_cell("a = 1", execution_count=1),
             nbformat.v4.new_code_cell("kill_the_kernel()", execution_count=2),   # Jupyter numbered it already
             nbformat.v4.new_markdown_cell("text"),
             nbformat.v4.new_code_cell("assert a == 1", metadata=graded),
             nbformat.v4.new_code_cell("b = 2")]
    return nbformat.v4.new_notebook(cells=cells)


def _errors(nb):
    return [(i, o["ename"]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.outputs if o["output_type"] == "error"]


def test_the_cell_that_was_running_gets_the_reason_even_once_numbered():
    nb = _notebook()
    _mark_unfinished(nb, "the kernel died", "DeadKernelError", running=1)
    assert _errors(nb) == [(1, "DeadKernelError"), (3, "NotRun")]


def test_a_run_stopped_between_cells_marks_the_next_code_cell():
    nb = _notebook()
    _mark_unfinished(nb, "the notebook ran too long", "CellTimeoutError", running=2)
    assert _errors(nb) == [(3, "CellTimeoutError")]


def test_without_an_index_the_first_cell_that_did_not_run():
    nb = _notebook()
    _mark_unfinished(nb, "not executed", "SandboxError")
    assert _errors(nb) == [(3, "SandboxError")]


def test_two_processes_never_share_a_sandbox_uid():
    import subprocess
    import sys

    from autograder.sandbox import claim_uid

    preferred = 69000 + os.getpid() % 500 * 2
    holder = subprocess.Popen([sys.executable, "-c", f"from autograder.sandbox import claim_uid; "
                               f"print(claim_uid({preferred}), flush=True); input()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert holder.stdout.readline().strip() == str(preferred)
        assert claim_uid(preferred) == preferred + 1      # taken: the next free one
        assert claim_uid(preferred) == preferred + 1      # and the same one every time after
    finally:
        holder.communicate("")
