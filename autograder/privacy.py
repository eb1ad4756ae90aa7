"""Open repository, private grading: a private solutions folder and a secret grading seed.

The course's solutions and hidden tests are public, so anyone can read which inputs the hidden tests draw.  An
instructor who grades for credit keeps a private copy of ``solutions/`` (``COURSE_SOLUTIONS_DIR``, read by
``autograder.reference``) and a secret seed (``COURSE_GRADING_SEED``, or a file named by
``COURSE_GRADING_SEED_FILE``).  Hidden tests draw their random shapes, values and masks from
``grading_seed(<the seed they use today>)``: without a secret it returns that seed unchanged (the public grade, the
repository's tests); with one, a different seed per call site that nobody without the secret can predict.  Both are
read in the grader only: the student's kernel gets a clean environment (``sandbox._clean_env``) and never sees
either.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

SEED_ENV, SEED_FILE_ENV = "COURSE_GRADING_SEED", "COURSE_GRADING_SEED_FILE"


def _configured() -> str | None:
    if os.environ.get(SEED_ENV):
        return os.environ[SEED_ENV]
    if os.environ.get(SEED_FILE_ENV):
        return Path(os.environ[SEED_FILE_ENV]).read_text().strip() or None
    return None


# Read once at import too: while a submission runs, the grader's environment is the student kernel's clean one
# (sandbox.execute), and the test cells that call grading_seed run in the grader during that time.
_AT_IMPORT = _configured()


def secret() -> str | None:
    """The instructor's secret, if one is configured (the environment variable wins over the file)."""
    return _configured() or _AT_IMPORT


def grading_seed(default: int) -> int:
    """The seed a hidden test draws its inputs from: ``default`` when grading in public, otherwise a number derived
    from the secret and ``default`` (so each test that used a distinct seed still gets a distinct one)."""
    key = secret()
    if key is None:
        return default
    return _derived(f"{key}\0{default}") % (2**63 - 1)


def _derived(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def seed_global_rngs(grade_id: str) -> None:
    """With a secret, the grader's global random generators (``torch``, ``numpy``, ``random``) start each graded
    test cell from a state drawn from the secret and the cell's id, so that a hidden test that draws from the global
    generator, not from ``grading_seed``, follows the secret too. Without one, nothing changes (public grades)."""
    key = secret()
    if key is None:
        return
    import random

    import numpy as np
    import torch

    seed = _derived(f"{key}\0cell\0{grade_id}") % (2**32)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fingerprint_part() -> str:
    """What the resumable-grading fingerprint must include so that a new secret grades everything again (the
    secret itself never goes into a file)."""
    key = secret()
    return "" if key is None else hashlib.sha256(("grading-seed\0" + key).encode()).hexdigest()
