"""What the sandbox writes into an executed notebook when a run stops early (quick: no kernel)."""
import nbformat

from autograder.sandbox import _mark_unfinished


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
