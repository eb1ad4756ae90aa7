"""Run graded test cells in the grader's process, against stand-ins for the student's code (``remote.py``).

Each test cell is compiled and executed here with a namespace built from the notebook's locked cells (imports,
device, seeds), run here too.  The names the student defines are looked up in the student's kernel just before each
test cell, so a cell sees the student's latest definitions.  The cell's printed output and its error (type and
message, with the line of the test that failed, never the test's source) become the cell's outputs, which nbgrader
then scores as usual.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import io
import traceback

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from autograder.remote import Session, StudentCodeError

STOPS_THE_RUN = (CellTimeoutError, DeadKernelError)


def top_level_names(source: str) -> set[str]:
    """Functions, classes and variables a cell defines at top level (empty when it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _free_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(names the cell reads, names the cell itself binds), builtins left out."""
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return {name for name in loaded if not hasattr(builtins, name)}, bound


class GraderSide:
    def __init__(self, transport, student_names: set[str]):
        self.transport = transport
        self.session = Session(transport)
        self.student_names = student_names
        self.namespace: dict = {"__name__": "__main__", "__builtins__": builtins}

    def _bind_student_names(self, tree: ast.AST) -> None:
        loaded, bound = _free_names(tree)
        for name in sorted(loaded):
            if name in self.student_names or (name not in self.namespace and name not in bound):
                try:
                    self.namespace[name] = self.session.lookup(name)
                except NameError:
                    if name in self.student_names:
                        self.namespace.pop(name, None)
                except STOPS_THE_RUN:
                    raise
                except Exception:  # noqa: BLE001 -- the test will fail on the name with a NameError
                    self.namespace.pop(name, None)

    def run(self, cell, show_outputs: bool) -> None:
        """Execute ``cell`` here; when ``show_outputs``, its outputs replace the cell's outputs."""
        filename = f"<test cell {cell.metadata.get('nbgrader', {}).get('grade_id', '?')}>"
        stdout, stderr = io.StringIO(), io.StringIO()
        error = None
        try:
            tree = ast.parse(cell.source, filename)
            self._bind_student_names(tree)
            code = compile(tree, filename, "exec")
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                exec(code, self.namespace)  # noqa: S102 -- the course's own test code, never the student's
        except STOPS_THE_RUN:
            raise
        except BaseException as exc:  # noqa: BLE001 -- SystemExit, KeyboardInterrupt included: a failed test
            error = exc
        if not show_outputs:
            return
        outputs = []
        if stdout.getvalue():
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text=stdout.getvalue()))
        if stderr.getvalue():
            outputs.append(nbformat.v4.new_output("stream", name="stderr", text=stderr.getvalue()))
        if error is not None:
            outputs.append(_error_output(error, filename))
        cell.outputs = outputs
        cell.execution_count = 1


def _error_output(error: BaseException, filename: str):
    ename = type(error).__name__
    evalue = str(error)
    if isinstance(error, StudentCodeError):
        ename = "StudentCodeError"
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == filename]
    where = f" (line {lines[-1]} of the test cell)" if lines else ""
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"{ename}{where}: {evalue}"])
