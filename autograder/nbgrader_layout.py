"""Grade straight from nbgrader's own folders, as a JupyterHub class leaves them.

Recognised under the folder given to ``python -m autograder grade``:

- a course folder, or its ``submitted/`` folder (what ``nbgrader collect`` or ``zip_collect`` writes):
  ``submitted/<student>/<assignment>/<assignment>.ipynb`` with ``timestamp.txt`` beside it;
- an exchange's ``inbound/`` folder (or the course's exchange folder holding it):
  ``inbound/<student>+<assignment>+<timestamp>[+<random>]/<assignment>.ipynb`` (the latest submission counts).

:func:`stage` turns either into the plain ``<student>/<topic>.ipynb`` layout the pipeline reads, each copy carrying
its submission time as its modification time (which ``place_submission`` writes into nbgrader's ``timestamp.txt``),
so nbgrader's late-submission handling sees the time the student submitted, not the time of the copy.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path


def _timestamp(folder: Path) -> datetime | None:
    from nbgrader.utils import parse_utc

    stamp = folder / "timestamp.txt"
    if not stamp.exists():
        return None
    try:
        return parse_utc(stamp.read_text().strip()).replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None


def _submitted_dir(folder: Path) -> Path | None:
    if (folder / "submitted").is_dir():
        return folder / "submitted"
    if folder.name == "submitted" or any(folder.glob("*/*/timestamp.txt")):
        return folder
    return None


def _inbound_dir(folder: Path) -> Path | None:
    for candidate in (folder, folder / "inbound", *folder.glob("*/inbound")):
        if candidate.is_dir() and any("+" in p.name for p in candidate.iterdir() if p.is_dir()):
            return candidate
    return None


def find(folder: Path, topics: list[str]) -> dict[tuple[str, str], tuple[Path, datetime | None]] | None:
    """{(student, topic): (notebook, submission time)} of an nbgrader layout, or None if ``folder`` is not one."""
    folder = Path(folder)
    found: dict[tuple[str, str], tuple[Path, datetime | None]] = {}
    if (submitted := _submitted_dir(folder)) is not None:
        for notebook in sorted(submitted.glob("*/*/*.ipynb")):
            student, topic = notebook.parent.parent.name, notebook.parent.name
            if topic in topics and notebook.stem == topic:
                found[(student, topic)] = (notebook, _timestamp(notebook.parent))
        return found
    if (inbound := _inbound_dir(folder)) is not None:
        for entry in sorted(p for p in inbound.iterdir() if p.is_dir() and "+" in p.name):
            student, topic, *_ = entry.name.split("+")
            notebook = entry / f"{topic}.ipynb"
            if topic not in topics or not notebook.exists():
                continue
            when = _timestamp(entry)
            previous = found.get((student, topic))
            if previous is None or (when and (previous[1] is None or when > previous[1])):
                found[(student, topic)] = (notebook, when)
        return found
    return None


def stage(folder: Path, topics: list[str], keep_alive: list) -> Path:
    """``folder`` itself when it is not an nbgrader layout; otherwise a temporary ``<student>/<topic>.ipynb`` copy
    (kept until ``keep_alive`` is dropped), each notebook's modification time set to its submission time."""
    found = find(Path(folder), topics)
    if found is None:
        return Path(folder)
    tmp = tempfile.TemporaryDirectory(prefix="course-nbgrader-layout-")
    keep_alive.append(tmp)
    for (student, topic), (notebook, when) in found.items():
        target = Path(tmp.name) / student / f"{topic}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, target)
        if when is not None:
            os.utime(target, (when.timestamp(), when.timestamp()))
    return Path(tmp.name)
