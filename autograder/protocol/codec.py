"""The wire format of split grading, the same text on both sides: one message per file, written whole.

The grader imports this module; the student's kernel gets its source with ``kernel_server.py`` (as the namespace
``__course_codec__``). A message is written under a fresh temporary name and renamed, so a reader never sees half of
it. The folder they share belongs to the student's kernel, so the grader reaches it through a folder descriptor
(``dir_fd``) and neither writes nor reads through anything the kernel may have put there: a message is created
under a random name that must not exist yet (a link planted at any name is never followed), and :func:`read_file`
opens regular files only, without following a link or waiting on a pipe. What the grader reads from the kernel is
untrusted: :func:`read_plain` loads tensors and plain data only (``torch.load(weights_only=True)``), never an object
with code of its own. What the kernel reads from the grader may hold a copy of a plain torch module: :func:`read_any`.
"""
import io
import os
import secrets
import stat

import torch


def write(message, path, dir_fd=None) -> None:
    """Save ``message`` at ``path`` (relative to ``dir_fd`` when given), never through a link."""
    tmp = f"{path}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    try:
        os.fchmod(fd, 0o644)   # the grader (root) or an unprivileged kernel reads it
        with open(fd, "wb", closefd=False) as handle:
            torch.save(message, handle)
        os.replace(tmp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    finally:
        os.close(fd)


def read_file(path, dir_fd=None):
    """The bytes of the regular file at ``path``, or None when there is none: a link, a pipe, a folder or a missing
    file are all none (never followed, never waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return handle.read()


def read_plain(data: bytes):
    """A message from the student's kernel: tensors, numbers, strings, containers; anything else raises."""
    return torch.load(io.BytesIO(data), weights_only=True)


def read_any(path):
    """A message from the grader, read in the student's kernel."""
    return torch.load(path, weights_only=False)
