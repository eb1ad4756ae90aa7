"""Execute one sanitized submission in a sandbox and save the executed notebook.

    python -m autograder.sandbox IN.ipynb OUT.ipynb [--cell-timeout S] [--uid UID]

Run by ``autograder.cli`` once per submission, several at a time.  Only this
process talks to the student's kernel; nbgrader never executes student code (it
sanitizes before and scores after, see ``cli.grade``).  The kernel:

- starts in a fresh temporary folder holding nothing but the notebook, with a
  clean environment (no ``NBGRADER_*`` variables, HOME inside the folder);
- runs under resource limits (address space, CPU seconds, file size, processes;
  ``autograder/sandbox_kernel.py``) and, when this runs as root, as an unprivileged
  uid of its own so it cannot write anywhere else or signal other kernels;
- gets a per-cell time limit; a cell that hangs, or a kernel that dies, stops the
  run: the cells that did not run get an error output that says why, so the
  scoring step records a score (0 for what could not run) and a reason.

Outputs are capped in size, and stderr streams are moved out of the cells into
metadata, so that warnings printed by correct code never cost points.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_OUTPUT_CHARS = 20_000
REASON_KEY = "course_grading"


def can_drop_privileges() -> bool:
    """True when running as root and an unprivileged uid could still run Python and import the course
    (every folder above the interpreter, the virtual environment and the repository is world-searchable)."""
    if os.getuid() != 0 or os.environ.get("COURSE_SANDBOX_DROP_PRIVILEGES") != "1":
        return False  # opt-in: set COURSE_SANDBOX_DROP_PRIVILEGES=1 on a grading host laid out for it
    for path in {Path(sys.base_prefix), Path(sys.prefix), REPO_ROOT}:
        for folder in [path, *path.parents]:
            if not folder.stat().st_mode & 0o001:
                return False
    return True


def _kernelspec_dir(base: Path) -> Path:
    spec = base / "kernels" / "course-sandbox"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "autograder.sandbox_kernel", "-f", "{connection_file}"],
        "display_name": "course sandbox", "language": "python"}))
    return base / "kernels"


def _clean_env(workdir: Path, uid: int | None) -> dict[str, str]:
    env = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
        "HOME": str(workdir), "IPYTHONDIR": str(workdir / ".ipython"), "MPLCONFIGDIR": str(workdir / ".mpl"),
        "JUPYTER_RUNTIME_DIR": str(workdir / ".runtime"), "TMPDIR": str(workdir),
        "PYTHONPATH": str(REPO_ROOT),  # coursetools and the reference loader for hidden tests
        "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
    }
    for key in ("COURSE_SANDBOX_MEMORY_MB", "COURSE_SANDBOX_CPU_S", "COURSE_SANDBOX_NPROC", "COURSE_DEVICE"):
        if key in os.environ:
            env[key] = os.environ[key]
    if uid is not None:
        env["COURSE_SANDBOX_UID"] = str(uid)
    return env


def _cap(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return text[:MAX_OUTPUT_CHARS] + f"\n... [output truncated: {len(text)} characters in all]\n"


def _tidy_outputs(nb) -> None:
    """Cap output sizes; move stderr out of the cells (nbgrader would give a cell 0 for it)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept, stderr = [], []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output["text"] = _cap(output.get("text", ""))
                if output.get("name") == "stderr":
                    stderr.append(output["text"])
                    continue
            elif output.get("output_type") == "error":
                output["evalue"] = _cap(str(output.get("evalue", "")))
                output["traceback"] = [_cap(line) for line in output.get("traceback", [])[-20:]]
            elif "data" in output:
                output["data"] = {k: _cap(v) if isinstance(v, str) else v for k, v in output["data"].items()}
            kept.append(output)
        cell.outputs = kept
        if stderr:
            cell.metadata[REASON_KEY] = {"stderr": _cap("".join(stderr))[:2000]}


def _mark_unfinished(nb, reason: str, ename: str) -> None:
    """Give the cell that was running, and every graded cell after it, an error output with ``reason``."""
    started = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not started and cell.get("execution_count") is None:
            started = True
            cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue=reason, traceback=[reason])]
            continue
        if started and cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [nbformat.v4.new_output("error", ename="NotRun", traceback=[],
                                                   evalue=f"did not run: {reason}")]


def execute(source: Path, target: Path, cell_timeout: int = 60, uid: int | None = None) -> str | None:
    """Execute ``source`` in a sandbox, write the executed notebook to ``target``; return why it stopped, if it did."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager  # a blocking manager never notices a dead kernel
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(source, as_version=4)
    base = Path(tempfile.mkdtemp(prefix="course-sandbox-"))
    workdir = base / "work"
    workdir.mkdir()
    shutil.copyfile(source, workdir / source.name)
    if uid is not None:
        for path in (base, workdir, workdir / source.name):
            os.chown(path, uid, uid)
        os.chmod(workdir, 0o700)
    reason = None
    env = _clean_env(workdir, uid)
    saved_env = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel manager passes our environment to the kernel
    os.environ["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    try:
        km = AsyncKernelManager(kernel_name="course-sandbox",
                           kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(_kernelspec_dir(base))]))
        client = NotebookClient(nb, km=km, timeout=cell_timeout, allow_errors=True, interrupt_on_timeout=False,
                                kernel_name="course-sandbox", record_timing=False,
                                resources={"metadata": {"path": str(workdir)}}, startup_timeout=120)
        try:
            client.execute(cwd=str(workdir))
        except CellTimeoutError:
            reason = f"a cell ran longer than the {cell_timeout} s limit"
            _mark_unfinished(nb, reason, "CellTimeoutError")
        except DeadKernelError:
            reason = "the kernel died (os._exit, sys.exit at C level, a crash, or the memory limit)"
            _mark_unfinished(nb, reason, "DeadKernelError")
        except Exception as exc:  # noqa: BLE001 -- any failure is recorded, never raised into the batch
            reason = f"execution failed: {type(exc).__name__}: {str(exc)[:300]}"
            _mark_unfinished(nb, reason, type(exc).__name__)
        finally:
            try:
                if km.has_kernel:
                    run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001
                pass
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        shutil.rmtree(base, ignore_errors=True)
    _tidy_outputs(nb)
    if reason:
        nb.metadata[REASON_KEY] = {"reason": reason}
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return reason


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--cell-timeout", type=int, default=60)
    parser.add_argument("--uid", type=int, default=None)
    args = parser.parse_args(argv)
    reason = execute(args.source, args.target, args.cell_timeout, args.uid)
    print(json.dumps({"reason": reason}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
