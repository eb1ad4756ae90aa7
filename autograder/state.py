"""Resume state: a submission graded before keeps its result while nothing that decides its grade has changed.

The fingerprint covers the submission, the topic's solution notebook (reference and hidden tests), every file of the
grader (``autograder/``) and of the course package (``coursetools/``), the pinned requirements and the limits of
the configuration; any change grades the submission again.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from autograder import privacy
from autograder.config import AUTOGRADER_DIR, Config
from autograder.reference import REPO_ROOT

STATE_FILE = "grading-state.json"
REQUIREMENTS = REPO_ROOT / "requirements.txt"
# what grading a notebook does not depend on: generated folders and caches
_NOT_CODE = {"__pycache__", "course", ".pytest_cache"}


def fingerprinted_files() -> list[Path]:
    """Every file of the grader and of the course package, and the pinned requirements."""
    files = []
    for root in (AUTOGRADER_DIR, REPO_ROOT / "coursetools"):
        files += [p for p in root.rglob("*") if p.is_file() and not _NOT_CODE & set(p.relative_to(root).parts[:-1])
                  and not p.name.endswith((".pyc", ".log"))]
    return sorted(files) + [REQUIREMENTS]


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def fingerprint(notebook: Path, topic: str, config: Config) -> str:
    """Changes when the submission, the assignment, the grader's code, the course package, the pinned versions or
    the limits change."""
    digest = hashlib.sha256(read_bytes(notebook))
    digest.update(read_bytes(config.solutions_dir / f"{topic}.ipynb"))
    for path in fingerprinted_files():
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + read_bytes(path))
    limits = (config.cell_timeout_s, config.notebook_timeout_s, config.memory_mb, config.cpu_s, config.nproc,
              config.bwrap, config.drop_privileges, config.device)
    digest.update(repr(limits).encode())
    digest.update(privacy.fingerprint_part().encode())   # a new secret grading seed grades everything again
    return digest.hexdigest()


def load_state(course_dir: Path) -> dict:
    try:
        return json.loads((course_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def save_state(course_dir: Path, state: dict) -> None:
    tmp = course_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))  # key order is question order: keep it
    tmp.replace(course_dir / STATE_FILE)  # atomic: an interrupted run never leaves half a state
