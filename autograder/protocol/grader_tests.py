"""Runs in the grader: graded test cells, against stand-ins for the student's code (``grader_stand_ins.py``).

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

from autograder import privacy
from autograder.protocol.grader_stand_ins import Session, StudentCodeError

STOPS_THE_RUN = (CellTimeoutError, DeadKernelError)


class GraderSide:
    def __init__(self, channel, student_names: set[str]):
        """``channel``: to the student's kernel (``grader_channel.KernelChannel``); ``student_names``: what the
        exercise asks the student to define (``policy.graded_names``)."""
        self.channel = channel
        self.session = Session(channel)
        if hasattr(channel, "session"):
            channel.session = self.session   # the kernel's callbacks run on these stand-ins
        self.student_names = student_names
        self.namespace: dict = {"__name__": "__main__", "__builtins__": builtins}

    def _bind_student_names(self) -> None:
        """Before every cell the grader runs: the latest version of each name the exercise asks for, all of them,
        in one request.  No other name ever comes from the student's kernel: imports, constants and helpers are
        the locked cells' own, run here."""
        if not self.student_names:
            return
        for name, value in self.session.lookup_all(self.student_names).items():
            if isinstance(value, Exception):
                self.namespace.pop(name, None)   # the test fails on the name with a NameError
            else:
                self.namespace[name] = value

    def run(self, cell, show_outputs: bool) -> None:
        """Execute ``cell`` here; when ``show_outputs``, its outputs replace the cell's outputs."""
        filename = f"<test cell {cell.metadata.get('nbgrader', {}).get('grade_id', '?')}>"
        stdout, stderr = io.StringIO(), io.StringIO()
        error = None
        try:
            tree = ast.parse(cell.source, filename)
            self._bind_student_names()
            if show_outputs:   # a graded test cell: with a secret, its random inputs follow it (privacy.py)
                privacy.seed_global_rngs(cell.metadata.get("nbgrader", {}).get("grade_id", ""))
            code = compile(tree, filename, "exec")
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                exec(code, self.namespace)
        except STOPS_THE_RUN:
            raise
        except BaseException as exc:  # noqa: BLE001 -- SystemExit, KeyboardInterrupt included: a failed test
            error = exc
        if hasattr(self.channel, "end_cell"):   # the kernel stops serving calls: its next cell can run
            self.channel.end_cell()
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
