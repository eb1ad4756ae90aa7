"""Planted bugs: each is a small edit of a reference solution that a real student could make.

Bugs live in ``tests/planted/<topic>.py``. The hidden tests must catch every one of them (``tests/test_grading.py``).  A bug
is a literal text replacement inside one solution cell; ``apply_bug`` fails loudly
if the text is not found, so a bug can never silently stop being planted when a
reference solution is edited.
"""
from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PlantedBug:
    name: str
    cell: str          # grade_id of the solution cell to edit
    old: str
    new: str


def _discover() -> dict[str, list[PlantedBug]]:
    """``tests/planted/<topic>.py`` holds the list ``BUGS`` for exercise ``<topic>``."""
    found = {}
    for path in sorted((Path(__file__).parent / "planted").glob("*.py")):
        if path.stem != "__init__":
            found[path.stem] = importlib.import_module(f"tests.planted.{path.stem}").BUGS
    return found


def apply_bug(notebook, bug: PlantedBug):
    """A copy of ``notebook`` with ``bug`` planted in its solution cell ``bug.cell``."""
    buggy = copy.deepcopy(notebook)
    cells = [c for c in buggy.cells if c.metadata.get("nbgrader", {}).get("grade_id") == bug.cell]
    if len(cells) != 1 or cells[0].source.count(bug.old) != 1:
        raise ValueError(f"planted bug {bug.name!r}: text to replace not found exactly once in cell {bug.cell!r}")
    cells[0].source = cells[0].source.replace(bug.old, bug.new)
    return buggy


PLANTED_BUGS: dict[str, list[PlantedBug]] = _discover()
