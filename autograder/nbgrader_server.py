"""nbgrader's commands without paying for a Python start and nbgrader's imports each time: a fork server.

A grading run calls nbgrader three times per topic (release, sanitize, score); each call used to be a new process
that spent ~1.7 s importing nbgrader before it did anything. Within :func:`session`, :func:`run` sends the command
to one server process that imported nbgrader (and what the course's ``nbgrader_config.py`` imports) once; the server
forks a child per command, and the child sets the command's working directory, environment and arguments, writes
its output to files and exits. Every command still runs in a fresh process of its own (nothing of one command
reaches the next; the gradebook lock is the caller's, as before): only the imports are shared. Outside a session,
or with ``COURSE_NBGRADER_FORKSERVER=0``, a command is a plain subprocess.

The server runs no student code: nbgrader's execution is off in every step (``nbgrader_steps``).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PRELOAD = ("nbgrader.apps.nbgraderapp", "nbgrader.converters", "nbgrader.preprocessors", "nbgrader.api",
           "autograder.stubs", "autograder.late", "autograder.safe_feedback")

_active: list[_Server] = []
_lock = threading.Lock()


@contextlib.contextmanager
def session():
    """nbgrader commands run by :func:`run` inside this block share one fork server (stopped at the end)."""
    if os.environ.get("COURSE_NBGRADER_FORKSERVER", "1") == "0" or _active:
        yield
        return
    server = _Server()   # started by the first command
    _active.append(server)
    try:
        yield
    finally:
        _active.remove(server)
        server.stop()


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float | None) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)`` for an nbgrader
    command (``cmd[0]`` is the ``nbgrader`` script), through the session's fork server when there is one."""
    server = _active[0] if _active else None
    if server is not None:
        with _lock:
            done = server.run(cmd, cwd, env, timeout)
        if done is not None:
            return done
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


class _Server:
    def __init__(self):
        self.proc = None

    def _start(self) -> None:
        from autograder.distributed import _die_with_parent
        from autograder.reference import REPO_ROOT

        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                                        os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.nbgrader_server"], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)

    def run(self, cmd, cwd, env, timeout) -> subprocess.CompletedProcess | None:
        """The command's result, or None when the server is gone (the caller runs a plain subprocess)."""
        if self.proc is None:
            self._start()
        if self.proc.poll() is not None:
            return None
        with tempfile.TemporaryDirectory(prefix="nbgrader-call-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            request = {"argv": list(cmd), "cwd": str(cwd), "env": dict(env), "stdout": str(out), "stderr": str(err)}
            try:
                self.proc.stdin.write(json.dumps(request) + "\n")
                self.proc.stdin.flush()
                pid = json.loads(self.proc.stdout.readline())["pid"]
            except (OSError, ValueError, KeyError):
                return None
            answer: dict = {}
            reader = threading.Thread(target=lambda: answer.update(json.loads(self.proc.stdout.readline() or "{}")),
                                      daemon=True)
            reader.start()
            reader.join(timeout)
            if reader.is_alive():   # the command ran too long: kill it, as subprocess.run's timeout does
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
                reader.join()
                raise subprocess.TimeoutExpired(cmd, timeout, output=_read(out), stderr=_read(err))
            if "returncode" not in answer:
                return None
            return subprocess.CompletedProcess(cmd, answer["returncode"], stdout=_read(out), stderr=_read(err))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------- the server process


def _child(request: dict) -> None:  # pragma: no cover -- runs in the forked child, which never returns
    code = 1
    try:
        os.setsid()   # its own process group: a timeout kills it and whatever it started
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(handle, fd)
            os.close(handle)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = request["argv"]
        sys.path[:0] = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        from nbgrader.apps.nbgraderapp import main

        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 -- reported as the command's failure, like a crashed subprocess
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _alembic_head() -> str:
    """The gradebook schema's revision, as ``alembic heads`` prints it: nbgrader runs that command in a subprocess
    (~1.9 s of CPU) for every gradebook it creates; read here once, in-process, for all of them."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite://") as ini:
        return ScriptDirectory.from_config(AlembicConfig(ini)).get_current_head()


def serve() -> None:
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    import nbgrader.api

    head = _alembic_head()
    nbgrader.api.get_alembic_version = lambda: head   # the forked commands inherit it
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"returncode": code}), flush=True)


if __name__ == "__main__":
    serve()
