"""Runs in the grader: the channel to one student's kernel (see ``__init__.py`` for the messages).

A request is a file in the kernel's folder and one line of code, ``__course_serve__(REQUEST, ANSWER)``, executed in
the kernel; while it runs, the channel serves the kernel's callbacks (a grader module the student's code calls).
"""
from __future__ import annotations

import queue
import time
from pathlib import Path

from autograder.protocol import codec
from autograder.protocol.grader_stand_ins import StudentCodeError

PROTOCOL_DIR = Path(__file__).resolve().parent


def kernel_source() -> str:
    """What the kernel runs once, before any student cell: the codec (as ``__course_codec__``) and the server."""
    codec_source = (PROTOCOL_DIR / "codec.py").read_text()
    return (f"__course_codec__ = {{'__name__': 'course_codec'}}\nexec({codec_source!r}, __course_codec__)\n\n"
            + (PROTOCOL_DIR / "kernel_server.py").read_text())


class KernelChannel:
    """Requests to the student's kernel as files in its folder, answers loaded as plain data only."""

    def __init__(self, client, workdir: Path, deadline: float, cell_timeout: int):
        self.client, self.workdir, self.deadline, self.cell_timeout = client, workdir, deadline, cell_timeout
        self.count = 0
        self.session = None  # the grader's stand-ins (``grader_stand_ins.Session``): callbacks run on it

    def _run(self, code: str) -> list[str]:
        """Run ``code`` in the student's kernel, serving its callbacks meanwhile; return the errors it printed."""
        from jupyter_core.utils import run_sync

        return run_sync(self._async_run)(code)

    async def _async_run(self, code: str) -> list[str]:
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        kc, km = self.client.kc, self.client.km
        msg_id = kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        limit = min(self.deadline, time.monotonic() + self.cell_timeout)
        errors, next_alive_check = [], 0.0
        while True:
            self.serve_callbacks()
            try:
                reply = await kc.get_shell_msg(timeout=0.005)
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    break
            except queue.Empty:
                pass
            while True:  # drain the student's output: it is never shown, and must not pile up
                try:
                    msg = await kc.get_iopub_msg(timeout=0)
                except queue.Empty:
                    break
                if msg.get("msg_type") == "error" and msg.get("parent_header", {}).get("msg_id") == msg_id:
                    errors.append(f"{msg['content'].get('ename')}: {msg['content'].get('evalue')}")
            now = time.monotonic()
            if now > limit:
                raise CellTimeoutError(f"a call into the student's code ran longer than {self.cell_timeout} s")
            if now > next_alive_check:
                next_alive_check = now + 1.0
                if not await km.is_alive():
                    raise DeadKernelError("Kernel died")
        return errors

    def serve_callbacks(self) -> None:
        for ask in sorted(self.workdir.glob(".callback-*.pt")):
            if ask.name.endswith(".answer.pt"):
                continue
            data = ask.read_bytes()
            ask.unlink()
            try:
                answer = self.session.serve_callback(codec.read_plain(data))
            except Exception as exc:  # noqa: BLE001 -- a malformed request is the student's code's problem
                answer = {"error": ("RuntimeError", f"the grader refused the request: {str(exc)[:200]}")}
            codec.write(answer, str(ask)[:-len(".pt")] + ".answer.pt")

    def install(self) -> None:
        self._run(kernel_source())

    def __call__(self, request: dict) -> dict:
        self.count += 1
        ask, answer = self.workdir / f".grader-{self.count}.pt", self.workdir / f".answer-{self.count}.pt"
        codec.write(request, ask)
        errors = self._run(f"__course_serve__({str(ask)!r}, {str(answer)!r})")
        ask.unlink(missing_ok=True)
        if not answer.exists():
            raise StudentCodeError("your notebook's kernel did not answer the grader"
                                   + (f" ({errors[0][:300]})" if errors else ""))
        data = answer.read_bytes()
        answer.unlink(missing_ok=True)
        try:
            return codec.read_plain(data)
        except Exception as exc:  # noqa: BLE001 -- anything but plain data is refused
            raise StudentCodeError(f"your code answered with something other than plain data: "
                                   f"{str(exc).splitlines()[0][:200]}") from None
