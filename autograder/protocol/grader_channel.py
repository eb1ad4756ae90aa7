"""Runs in the grader: the channel to one student's kernel (see ``__init__.py`` for the messages).

For the calls of one cell the grader runs, one line of code runs in the kernel, ``__course_serve__(FOLDER)``: a loop
(``kernel_server.py``) that serves requests until the grader rings ``stop`` at the end of the cell. A request is a file
in the kernel's folder, rung by its number on the pipe ``.doorbell-in``; its answer a file, rung by the same number
on ``.doorbell-out``. While a call runs, the channel serves the kernel's callbacks (a grader module the student's code
calls). One Jupyter execute request per cell, not per call: a request costs ~1 ms, not ~8.

The kernel's folder is the kernel's to change. The grader made it and the two pipes before the kernel started, and
reaches them only through descriptors opened then: it never follows a link the kernel put there, reads regular files
only, never writes onto a file it did not create (``codec.py``), and every wait ends at the time limits.
"""
from __future__ import annotations

import os
import queue
import select
import time
from pathlib import Path

from autograder.protocol import codec
from autograder.protocol.grader_stand_ins import StudentCodeError

PROTOCOL_DIR = Path(__file__).resolve().parent
DOORBELL_IN, DOORBELL_OUT = ".doorbell-in", ".doorbell-out"
QUIET_S = 0.02         # a call quiet for this long: check whether the kernel is still serving (and alive)
ALIVE_CHECK_S = 1.0
MAX_LINE = 64          # a doorbell line is a number or "cb " and a number
DISCARD_READS = 4


def kernel_source() -> str:
    """What the kernel runs once, before any student cell: the codec (as ``__course_codec__``) and the server."""
    codec_source = (PROTOCOL_DIR / "codec.py").read_text()
    return (f"__course_codec__ = {{'__name__': 'course_codec'}}\nexec({codec_source!r}, __course_codec__)\n\n"
            + (PROTOCOL_DIR / "kernel_server.py").read_text())


class KernelChannel:
    """Requests to the student's kernel as files in its folder, answers loaded as plain data only.

    Made before the kernel starts (it creates the pipes); :meth:`end_cell` after every cell the grader runs;
    :meth:`close` once the kernel is gone."""

    def __init__(self, client, workdir: Path, deadline: float, cell_timeout: int):
        self.client, self.workdir, self.deadline, self.cell_timeout = client, Path(workdir), deadline, cell_timeout
        self.count = 0
        self.session = None  # the grader's stand-ins (``grader_stand_ins.Session``): callbacks run on it
        self.folder = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY)
        owner = os.fstat(self.folder)
        self.bell_in, self.bell_out = (self._doorbell(name, owner) for name in (DOORBELL_IN, DOORBELL_OUT))
        self.heard = b""     # what the kernel rang that is not a whole line yet
        self.loop = None     # the Jupyter message id of the serving loop, while it runs
        self.errors: list[str] = []

    def _doorbell(self, name: str, owner) -> int:
        # by path where the platform has no mkfifoat: safe, the kernel has not started yet
        at = {"dir_fd": self.folder} if os.mkfifo in os.supports_dir_fd else {}
        path = name if at else str(self.workdir / name)
        os.mkfifo(path, 0o600, **at)
        if os.getuid() == 0 and owner.st_uid != 0:
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False, **at)
        # read and write: opening never waits for the other side, and the grader's own end never closes
        return os.open(name, os.O_RDWR | os.O_NONBLOCK, dir_fd=self.folder)

    def close(self) -> None:
        for fd in (self.bell_in, self.bell_out, self.folder):
            try:
                os.close(fd)
            except OSError:
                pass
        self.bell_in = self.bell_out = self.folder = -1

    # ------------------------------------------------------------------ Jupyter: one execute request
    def _execute(self, code: str) -> str:
        self.errors = []
        return self.client.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)

    def _limit(self) -> float:
        return min(self.deadline, time.monotonic() + self.cell_timeout)

    def _waiting(self, limit: float):
        """Yields until ``limit``, then raises; checks every ALIVE_CHECK_S that the kernel is still alive."""
        from jupyter_core.utils import run_sync
        from nbclient.exceptions import CellTimeoutError

        next_alive_check = time.monotonic() + ALIVE_CHECK_S
        while True:
            now = time.monotonic()
            if now > limit:
                raise CellTimeoutError(f"a call into the student's code ran longer than {self.cell_timeout} s")
            if now > next_alive_check:
                next_alive_check = now + ALIVE_CHECK_S
                self._check_alive(run_sync)
            yield

    def _await_reply(self, msg_id: str, limit: float) -> None:
        for _ in self._waiting(limit):
            if self._replied(msg_id, wait=QUIET_S):
                return

    def _replied(self, msg_id: str, wait: float = 0.0) -> bool:
        """Whether the kernel has answered execute request ``msg_id``; drains its output meanwhile (it is never
        shown, and must not pile up), keeping the errors it printed."""
        from jupyter_core.utils import run_sync

        return run_sync(self._async_replied)(msg_id, wait)

    async def _async_replied(self, msg_id: str, wait: float) -> bool:
        kc = self.client.kc
        replied = False
        try:
            while not replied:
                reply = await kc.get_shell_msg(timeout=wait)
                replied = reply.get("parent_header", {}).get("msg_id") == msg_id
        except queue.Empty:
            pass
        while True:
            try:
                msg = await kc.get_iopub_msg(timeout=0)
            except queue.Empty:
                break
            if msg.get("msg_type") == "error" and msg.get("parent_header", {}).get("msg_id") == msg_id:
                self.errors.append(f"{msg['content'].get('ename')}: {msg['content'].get('evalue')}")
        return replied

    def _check_alive(self, run_sync) -> None:
        from nbclient.exceptions import DeadKernelError

        if not run_sync(self.client.km.is_alive)():
            raise DeadKernelError("Kernel died")

    # ------------------------------------------------------------------ the serving loop
    def _start_loop(self) -> None:
        self.loop = self._execute(f"__course_serve__({str(self.workdir)!r})")

    def _loop_ended(self) -> bool:
        return self._replied(self.loop)

    def _await_loop_end(self, limit: float) -> None:
        self._await_reply(self.loop, limit)

    def _ring(self, line: str) -> bool:
        try:
            return os.write(self.bell_in, f"{line}\n".encode()) > 0
        except OSError:   # the pipe is full: the kernel has stopped reading it
            return False

    def _discard(self, fd: int) -> None:
        """Drop what waits unread in a pipe: rings of a loop that ended before it heard or answered them (a few reads
        at most: a kernel that keeps writing cannot keep the grader here)."""
        try:
            for _ in range(DISCARD_READS):
                if not os.read(fd, 65536):
                    break
        except OSError:
            pass
        if fd == self.bell_out:
            self.heard = b""

    def _lines(self, wait: float) -> list[str]:
        """The lines the kernel rang, waiting up to ``wait`` seconds for the first."""
        waiting = select.poll()      # not select(): a grader process may hold descriptors numbered over 1023
        waiting.register(self.bell_out, select.POLLIN)
        if waiting.poll(wait * 1000):
            try:
                self.heard += os.read(self.bell_out, 65536)
            except OSError:
                pass
        *lines, self.heard = self.heard.split(b"\n")
        if len(self.heard) > MAX_LINE:
            self.heard = b""
        return [line.decode(errors="replace") for line in lines]

    def _await_ring(self, number: str) -> bool:
        """Wait for the kernel to ring ``number``, serving its callbacks; False when its loop ended first."""
        limit = self._limit()
        for _ in self._waiting(limit):
            lines = self._lines(QUIET_S)
            for line in lines:
                if line == number:
                    return True
                if time.monotonic() > limit:
                    break
                if line.startswith("cb ") and line[3:].isdigit():
                    self._serve_callback(line[3:])
            if not lines and self._loop_ended():
                self.loop = None
                self._discard(self.bell_in)
                return False
        return False   # not reached: _waiting raises at the limit

    def _serve_callback(self, number: str) -> None:
        ask, answer_name = f".callback-{number}.pt", f".callback-{number}.answer.pt"
        data = codec.read_file(ask, dir_fd=self.folder)
        if data is None:
            return
        self._unlink(ask)
        try:
            answer = self.session.serve_callback(codec.read_plain(data))
        except Exception as exc:  # noqa: BLE001 -- a malformed request is the student's code's problem
            answer = {"error": ("RuntimeError", f"the grader refused the request: {str(exc)[:200]}")}
        try:
            codec.write(answer, answer_name, dir_fd=self.folder)
        except OSError:
            return
        self._ring(f"cb {number}")

    def end_cell(self) -> None:
        """After every cell the grader runs: the kernel's loop stops, so that the next student cell can run."""
        if self.loop is None:
            return
        self._ring("stop")
        self._await_loop_end(self._limit())
        self.loop = None
        self._discard(self.bell_in)
        self._discard(self.bell_out)

    def install(self, forbidden: dict) -> None:
        """Before any student cell: the server into the kernel, and the built-ins the exercise forbids."""
        self._await_reply(self._execute(kernel_source()), self._limit())
        self({"op": "forbid", "forbidden": forbidden})
        self.end_cell()

    def _unlink(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self.folder)
        except OSError:   # gone already: the kernel may delete what is in its folder
            pass

    def __call__(self, request: dict) -> dict:
        self.count += 1
        number = str(self.count)
        ask, answer = f".grader-{number}.pt", f".answer-{number}.pt"
        try:
            codec.write(request, ask, dir_fd=self.folder)
        except OSError as exc:
            raise StudentCodeError(f"the grader could not hand your notebook's kernel its request "
                                   f"({type(exc).__name__}: your code changed the notebook's folder)") from None
        if self.loop is None:
            self._start_loop()
        answered = self._ring(number) and self._await_ring(number)
        data = codec.read_file(answer, dir_fd=self.folder) if answered else None
        self._unlink(ask)
        self._unlink(answer)
        if data is None:
            raise StudentCodeError("your notebook's kernel did not answer the grader"
                                   + (f" ({self.errors[0][:300]})" if self.errors else ""))
        try:
            return codec.read_plain(data)
        except Exception as exc:  # noqa: BLE001 -- anything but plain data is refused
            raise StudentCodeError(f"your code answered with something other than plain data: "
                                   f"{str(exc).splitlines()[0][:200]}") from None
