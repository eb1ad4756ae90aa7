"""What the course is made of, read from ``solutions/``: its topics and each topic's graded test cells."""
from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.reference import SOLUTIONS_DIR, is_test_cell


def topics(solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """Every topic that has a solution notebook."""
    return sorted(p.stem for p in Path(solutions_dir).glob("*.ipynb"))


def grade_cells(topic: str, solutions_dir: Path = SOLUTIONS_DIR) -> dict[str, float]:
    """The graded test cells of a topic and their points, in notebook order."""
    nb = nbformat.read(Path(solutions_dir) / f"{topic}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in nb.cells if is_test_cell(c)}
