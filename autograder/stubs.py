"""The student's version of a solution cell, for nbgrader's ``generate_assignment``.

nbgrader replaces each solution region with ``raise NotImplementedError()``. A *find and fix the bug* part instead
gives the student working-looking code with one realistic mistake: its solution cell keeps the fixed code, and its
``metadata.course.stub`` holds the code the student receives. The hidden tests grade whatever the student makes of it.
"""
from __future__ import annotations

from nbgrader.preprocessors import ClearSolutions


def given_stub(cell) -> str | None:
    """The code a student gets for this solution cell instead of the solution, if it is a find-the-bug part."""
    return cell.get("metadata", {}).get("course", {}).get("stub")


class ClearSolutionsWithGivenCode(ClearSolutions):
    """nbgrader's ClearSolutions, except that a solution cell with ``metadata.course.stub`` becomes that code."""

    def preprocess_cell(self, cell, resources, cell_index):
        stub = given_stub(cell)
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if stub is not None and cell.cell_type == "code":
            cell.source = stub
        return cell, resources
