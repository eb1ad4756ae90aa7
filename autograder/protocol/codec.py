"""The wire format of split grading, the same text on both sides: one message per file, written whole.

The grader imports this module; the student's kernel gets its source with ``kernel_server.py`` (as the namespace
``__course_codec__``). A message is written under a temporary name and renamed, so a reader never sees half of it.
What the grader reads from the kernel is untrusted: :func:`read_plain` loads tensors and plain data only
(``torch.load(weights_only=True)``), never an object with code of its own. What the kernel reads from the grader may
hold a copy of a plain torch module: :func:`read_any`.
"""
import io
import os

import torch


def write(message, path) -> None:
    tmp = f"{path}.tmp"
    torch.save(message, tmp)
    os.chmod(tmp, 0o644)   # the grader (root) or an unprivileged kernel reads it
    os.replace(tmp, path)


def read_plain(data: bytes):
    """A message from the student's kernel: tensors, numbers, strings, containers; anything else raises."""
    return torch.load(io.BytesIO(data), weights_only=True)


def read_any(path):
    """A message from the grader, read in the student's kernel."""
    return torch.load(path, weights_only=False)
