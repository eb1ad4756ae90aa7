"""Edits of the reference solutions: planted bugs, which must lose points, and alternative correct solutions,
which must score full marks.

Both are the same kind of thing, a literal text replacement inside one solution cell (:class:`PlantedBug`):

* ``tests/planted/<topic>.py`` holds the list ``BUGS``: small edits that a real student could make. The hidden
  tests must catch every one of them (``tests/test_grading.py``).
* ``tests/alternatives/<topic>.py`` holds the list ``ALTERNATIVES``: genuinely different correct implementations a
  student might write (einsum, loops, ``torch.where``, ...). Each must get every point.

``apply_bug`` fails loudly if the text is not found exactly once, or if the edit changes nothing, so an edit can
never silently stop being applied when a reference solution is edited.
"""
from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PlantedBug:
    """Replace ``old`` by ``new`` in the solution cell ``cell`` (a planted bug or an alternative solution)."""
    name: str
    cell: str          # grade_id of the solution cell to edit
    old: str
    new: str


Alternative = PlantedBug  # the same edit, used for a correct solution written differently


@dataclass(frozen=True)
class Warned(PlantedBug):
    """A mistake the chapter warns about (``warning``: the heading of the chapter section that warns), made in the
    reference; the *visible* test cell ``caught_by`` must fail on it with a message that contains ``says`` (words
    that name the concept, not the answer). ``tests/planted/<topic>.py`` holds the list ``WARNED``."""
    warning: str = ""
    caught_by: str = ""
    says: str = ""


def warned_from(bugs: list[PlantedBug], name: str, warning: str, caught_by: str, says: str) -> Warned:
    """The planted bug ``name`` of ``bugs``, which the chapter also warns about, as a :class:`Warned` mistake."""
    bug = next(bug for bug in bugs if bug.name == name)
    return Warned(bug.name, bug.cell, bug.old, bug.new, warning=warning, caught_by=caught_by, says=says)


def _discover(folder: str, attribute: str) -> dict[str, list[PlantedBug]]:
    """``tests/<folder>/<topic>.py`` holds the list ``<attribute>`` for exercise ``<topic>``."""
    found = {}
    for path in sorted((Path(__file__).parent / folder).glob("*.py")):
        if path.stem != "__init__":
            found[path.stem] = getattr(importlib.import_module(f"tests.{folder}.{path.stem}"), attribute)
    return found


def apply_bug(notebook, bug: PlantedBug):
    """A copy of ``notebook`` with the edit ``bug`` (a bug or an alternative) made in its solution cell ``bug.cell``."""
    edited = copy.deepcopy(notebook)
    _solution_cell(edited, bug).source = edited_source(notebook, bug)
    return edited


def edited_source(notebook, bug: PlantedBug) -> str:
    """The source of solution cell ``bug.cell`` with the edit made (the checks of :func:`apply_bug`)."""
    if bug.old == bug.new:
        raise ValueError(f"edit {bug.name!r} changes nothing")
    source = _solution_cell(notebook, bug).source
    if source.count(bug.old) != 1:
        raise ValueError(f"edit {bug.name!r}: text to replace not found exactly once in cell {bug.cell!r}")
    return source.replace(bug.old, bug.new)


def _solution_cell(notebook, bug: PlantedBug):
    cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == bug.cell]
    if len(cells) != 1 or not cells[0].metadata.nbgrader.get("solution"):
        raise ValueError(f"edit {bug.name!r}: no solution cell with grade_id {bug.cell!r}")
    return cells[0]


def topic_data(attribute: str) -> dict[str, object]:
    """{topic: ``attribute`` of ``tests/planted/<topic>.py``} for the topics whose file defines it: one file holds
    everything the tests need to know about a topic's exercise (bugs, warned mistakes, and optionally its
    alternatives, honest wrong answer and graded calls for the hostile corpus)."""
    return {topic: getattr(module, attribute) for topic, module in _topic_modules().items()
            if hasattr(module, attribute)}


def _topic_modules() -> dict:
    return {path.stem: importlib.import_module(f"tests.planted.{path.stem}")
            for path in sorted((Path(__file__).parent / "planted").glob("*.py")) if path.stem != "__init__"}


PLANTED_BUGS: dict[str, list[PlantedBug]] = _discover("planted", "BUGS")
# tests/alternatives/<topic>.py, or ALTERNATIVES in tests/planted/<topic>.py
ALTERNATIVES: dict[str, list[PlantedBug]] = {**topic_data("ALTERNATIVES"), **_discover("alternatives", "ALTERNATIVES")}
WARNED: dict[str, list[Warned]] = {topic: getattr(importlib.import_module(f"tests.planted.{topic}"), "WARNED", [])
                                   for topic in PLANTED_BUGS}
