"""Execute one sanitized submission, split between a sandboxed kernel and the grader; save the executed notebook.

    python -m autograder.sandbox --serve      a worker: one JSON job per line of stdin (``serve``)

Run by the worker pool (``pool.py``) once per submission, several at a time.  nbgrader never executes student code
(it sanitizes before and scores after, see ``pipeline.grade``).  Here the notebook is split:

- the student's cells run in a kernel of their own, started through bubblewrap or, where the grader is root, forked
  by the kernel zygote (``kernel_zygote.py``: PyTorch imported once per grading run), in an allow-list view of the
  filesystem, the same either way (``kernel_view``: system folders and the Python environment read-only,
  ``coursetools`` read-only, a writable folder that starts empty; no repository, no solutions, no
  gradebook, no other submission, a private /tmp and process table), as an unprivileged uid of its own when the
  grader is root, under resource limits (address space, CPU seconds, file size, processes: ``sandbox_kernel.py``),
  with a clean environment;
- the graded test cells run *here*, in the grader's process, against stand-ins for the student's functions and
  modules (``protocol/``): the student's kernel only ever answers with tensors and plain data,
  loaded with ``torch.load(weights_only=True)``.  So no student code can see a hidden test or the reference, strip
  an ``assert``, patch a comparison, redefine a builtin or hand back an object that equals everything.

A cell that hangs, or a kernel that dies, stops the run: the cells that did not run get an error output that says
why, so the scoring step records a score (0 for what could not run) and a reason.  Outputs are capped in size, and
stderr streams are moved out of the cells into metadata, so that warnings printed by correct code never cost points.
Without bubblewrap (not Linux, or no namespaces) the kernel still runs in its own folder with limits, but can read
what the grader's user can: ``bwrap_available()`` says which, and the hostile-corpus tests require it.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from autograder import policy
from autograder.config import Config
from autograder.protocol.grader_channel import KernelChannel
from autograder.protocol.grader_tests import GraderSide
from autograder.reference import is_test_cell

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_OUTPUT_CHARS = 20_000
REASON_KEY = "course_grading"


def can_drop_privileges(config: Config | None = None) -> bool:
    """True when running as root and an unprivileged uid can still run Python and import the course: always in
    bubblewrap's allow-list view (it creates the parent folders of what it binds), and otherwise only where every
    folder above the interpreter, the virtual environment and the repository is world-searchable (opt-in with
    ``drop_privileges="1"``).  Without a uid of its own a kernel is root, and the kernel ignores the
    process limit for root: only an unprivileged uid bounds a fork loop."""
    config = config or Config.from_env()
    if os.getuid() != 0 or config.drop_privileges == "0":
        return False
    if bwrap_available(config):
        return True
    if config.drop_privileges != "1":
        return False
    for path in {Path(sys.base_prefix), Path(sys.prefix), REPO_ROOT}:
        for folder in [path, *path.parents]:
            if not folder.stat().st_mode & 0o001:
                return False
    return True


def _clean_env(workdir: Path, uid: int | None, kernel_env: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's whole environment; ``kernel_env``: its limits (default: ``Config.from_env()``'s)."""
    kernel_env = Config.from_env().kernel_environment() if kernel_env is None else kernel_env
    env = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
        "HOME": str(workdir), "IPYTHONDIR": str(workdir / ".ipython"), "MPLCONFIGDIR": str(workdir / ".mpl"),
        "JUPYTER_RUNTIME_DIR": str(workdir / ".runtime"), "TMPDIR": str(workdir),
        "PYTHONPATH": str(REPO_ROOT),  # for coursetools; in the bwrap view only coursetools/ exists there
        "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
    }
    env.update(kernel_env)   # the limits, read by sandbox_kernel.py (Config.kernel_environment)
    if uid is not None:
        env["COURSE_SANDBOX_UID"] = str(uid)
    if gpu_devices():  # CUDA reserves far more address space than it uses: limit data, not address space
        env["COURSE_SANDBOX_GPU"] = "1"
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


def _mark_unfinished(nb, reason: str, ename: str, running: int | None = None) -> None:
    """Give the cell that was running (index ``running``; else the first one that has not run), and every graded cell
    after it, an error output with ``reason``."""
    started = False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if not started and (index >= running if running is not None else cell.get("execution_count") is None):
            started = True
            cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue=reason, traceback=[reason])]
            continue
        if started and cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [nbformat.v4.new_output("error", ename="NotRun", traceback=[],
                                                   evalue=f"did not run: {reason}")]


def bwrap_available(config: Config | None = None) -> bool:
    """Kernels are isolated with bubblewrap: it is wanted (``Config.bwrap``) and works here."""
    return (config or Config.from_env()).bwrap and _bwrap_works()


@functools.cache
def _bwrap_works() -> bool:
    """bubblewrap can make a private filesystem view here (Linux with user or mount namespaces)."""
    if not shutil.which("bwrap"):
        return False
    probe = subprocess.run([shutil.which("bwrap"), "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "true"],
                           capture_output=True)
    return probe.returncode == 0


def _course_modules(topic: str) -> list[Path]:
    """The files of the course package the exercise may import: the tools and what the exercise builds on."""
    names = [*policy.TOOLS, *policy.policy(topic).given]
    return [path for name in names if (path := REPO_ROOT / "coursetools" / f"{name}.py").exists()]


def _hidden_package_dirs() -> list[Path]:
    """Every installed copy of a package that holds implementations of what the course grades."""
    found = []
    for entry in sys.path:
        for name in policy.HIDDEN_PACKAGES:
            folder = Path(entry or ".") / name
            if folder.is_dir() and folder.resolve() not in found:
                found.append(folder.resolve())
    return found


def _blocked_package(base: Path, name: str) -> Path:
    """A stand-in package whose import fails with a message that says why."""
    folder = base / "blocked" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(
        f"raise ImportError({name!r} ' is not available while your notebook is graded: the exercise asks for '\n"
        f"                  'your own implementation')\n")
    return folder


def kernel_view(base: Path, topic: str = "") -> list[list[str]]:
    """An allow-list view of the filesystem, as operations in bubblewrap's terms (``--ro-bind SRC DEST`` is
    ``["ro-bind", SRC, DEST]``): system folders and the Python environment read-only, the course package's tools and
    the modules this exercise builds on read-only (nothing it grades), packages that implement what the course grades
    replaced by stand-ins that refuse to import, the submission's own folder writable; no repository, no solutions,
    no gradebook, no other submission, a private /tmp. Applied by bubblewrap (``_bwrap_prefix``) or by the kernel
    zygote (``kernel_zygote.apply_view``), in new pid, IPC, UTS and network namespaces either way (the kernel talks
    to the grader over unix sockets in its folder)."""
    # not /opt: package indexes and wheel caches live there (a wheel of timm is importable as it is)
    readonly = ["/usr", "/etc", sys.base_prefix, sys.prefix, str(Path(__file__).with_name("sandbox_kernel.py"))]
    view = [["proc", "/proc"], ["dev", "/dev"], ["tmpfs", "/tmp"]]
    for link in ("/bin", "/lib", "/lib64", "/sbin"):
        if os.path.islink(link):
            view.append(["symlink", os.readlink(link), link])
        elif os.path.exists(link):
            view.append(["ro-bind", link, link])
    binds = [("ro-bind", path) for path in readonly if os.path.exists(path)] + [("bind", str(base))]
    parents = sorted({str(p) for _, path in binds for p in Path(path).parents if str(p) != "/"}
                     | {str(p) for p in (REPO_ROOT / "coursetools").parents if str(p) != "/"}, key=len)
    for parent in parents:  # bwrap would create them 0700: an unprivileged kernel could not reach its Python
        view += [["perms", "0755"], ["dir", parent]]
    view += [[kind, path, path] for kind, path in binds]
    view += [["perms", "0755"], ["tmpfs", str(REPO_ROOT / "coursetools")]]
    view += [["ro-bind", str(module), str(module)] for module in _course_modules(topic)]
    view += [["ro-bind", str(_blocked_package(base, folder.name)), str(folder)] for folder in _hidden_package_dirs()]
    return view + gpu_view()


def _bwrap_prefix(view: list[list[str]], keep_caps: bool) -> list[str]:
    argv = [shutil.which("bwrap"), "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-net", *([] if keep_caps else ["--cap-drop", "ALL"])]
    for op, *args in view:
        argv += [f"--{op}", *args]
    return argv + ["--"]


def gpu_devices() -> list[str]:
    """The NVIDIA device nodes of this machine (none without an NVIDIA GPU, or with COURSE_SANDBOX_GPU=0)."""
    if os.environ.get("COURSE_SANDBOX_GPU") == "0":
        return []
    import glob

    nodes = sorted(glob.glob("/dev/nvidia[0-9]*") + glob.glob("/dev/nvidia-caps/*"))
    if not nodes:
        return []
    return nodes + [node for node in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                                      "/dev/nvidia-modeset") if os.path.exists(node)]


def gpu_view() -> list[list[str]]:
    """What CUDA needs in the kernel's view, and nothing more: the GPUs' device nodes, and /sys read-only (the
    driver reads the PCI topology there). The driver's libraries live under /usr, bound already; the CUDA
    runtime comes with torch in the Python environment. Without GPUs: nothing."""
    devices = gpu_devices()
    if not devices:
        return []
    return [["dev-bind", node, node] for node in devices] + [["ro-bind", "/sys", "/sys"]]


def _kernelspec_dir(base: Path, isolate: bool, uid: int | None, topic: str, zygote=None) -> Path:
    """The kernelspec of this submission's kernel: started by the zygote (``zygote``, pre-loaded), else through
    bubblewrap (``isolate``), else as a plain process; in the same view either way, dropping to ``uid`` itself."""
    spec = base / "kernels" / "course-sandbox"
    spec.mkdir(parents=True)
    script = Path(__file__).with_name("sandbox_kernel.py")
    argv = [sys.executable, str(script), "-f", "{connection_file}"]
    if zygote is not None:
        (spec / "view.json").write_text(json.dumps({"operations": kernel_view(base, topic), "script": str(script)}))
        argv = [sys.executable, "-I", "-S", str(Path(__file__).with_name("kernel_zygote.py")), "launch",
                zygote.socket, str(spec / "view.json"), "-f", "{connection_file}"]
    elif isolate:
        argv = _bwrap_prefix(kernel_view(base, topic), keep_caps=uid is not None) + argv
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "course sandbox",
                                                  "language": "python",
                                                  "env": {"COURSE_SANDBOX_ISOLATED": "1" if isolate else "0"}}))
    return base / "kernels"


def _zygote(config: Config, uid: int | None, shared: str | None = None):
    """The pre-loaded kernel parent (``kernel_zygote``) where it can build the sandbox: as root, with a uid for the
    kernel, ``Config.zygote`` on (the caller asks only where kernels are isolated). None elsewhere. ``shared``: the
    socket of the zygote this run's pool started (:func:`shared_zygote`), used while it answers; else this
    process's own."""
    if uid is None or not config.zygote:
        return None
    from autograder import kernel_zygote

    if shared and (attached := kernel_zygote.Attached(shared)).alive():
        return attached
    return kernel_zygote.zygote(_zygote_env())


def _zygote_env() -> dict[str, str]:
    return _clean_env(Path(tempfile.gettempdir()), None, {})


def shared_zygote(config: Config):
    """A zygote for all the worker processes of one grading run (one process importing PyTorch and IPython instead
    of one per worker), where kernels would start from one: as root, isolated, ``Config.zygote`` on. The caller
    stops it (``.stop()``) when the run ends. None elsewhere."""
    from autograder import kernel_zygote

    if not (config.zygote and bwrap_available(config) and can_drop_privileges(config) and kernel_zygote.supported()):
        return None
    try:
        return kernel_zygote.Zygote(_zygote_env())
    except (OSError, RuntimeError):
        return None   # each worker tries its own, and falls back to bubblewrap


def _runs_in_student_kernel(cell) -> bool:
    """Student cells run in the student's kernel; graded test cells run in the grader (``remote.py``)."""
    return cell.cell_type == "code" and not is_test_cell(cell)


def _runs_in_grader(cell) -> bool:
    """Test cells, and the locked cells the tests build on (imports, device, seeds)."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and (is_test_cell(cell) or (meta.get("locked") and not meta.get("solution")))


def _mark_forbidden(nb, topic: str) -> list[str]:
    """A solution cell whose definitions name a built-in the exercise forbids scores 0 on the tests of its part
    (the graded cells that follow it, up to the next solution cell).  Returns what was found."""
    found, uses = [], []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {}) if cell.cell_type == "code" else {}
        if meta.get("solution"):
            uses = policy.forbidden_uses(cell.source, topic)
            found += [u for u in uses if u not in found]
        elif uses and is_test_cell(cell):
            reason = (f"your answer uses {', '.join(uses)}, which this exercise forbids (see the notebook's rules): "
                      f"this part scores 0")
            cell.outputs = [nbformat.v4.new_output("error", ename="ForbiddenBuiltin", evalue=reason,
                                                   traceback=[f"ForbiddenBuiltin: {reason}"])]
    return found


# How a reason from an error of the grader's own begins (not one the notebook caused): the pool starts that worker
# process again before its next notebook (``pool.Worker``)
EXECUTION_FAILED = "execution failed:"
GRADER_FAILED = "the grader failed on this submission:"
GRADER_ERRORS = (EXECUTION_FAILED, GRADER_FAILED)


def execute(source: Path, target: Path, cell_timeout: int = 60, uid: int | None = None,
            notebook_timeout: int = 600, topic: str | None = None, config: Config | None = None,
            zygote: str | None = None) -> str | None:
    """Execute ``source`` split in two, write the executed notebook to ``target``; return why it stopped, if it did.

    Student cells run in a sandboxed kernel; graded test cells run here, in the grader, against stand-ins for the
    student's functions and modules (``autograder.protocol``).  ``config`` gives the kernel's limits; ``zygote`` the
    socket of a zygote this run shares (:func:`shared_zygote`)."""
    config = config or Config.from_env()
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager  # a blocking manager never notices a dead kernel
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(source, as_version=4)
    topic = topic or source.stem
    uid = claim_uid(uid) if uid is not None else None
    base = Path(tempfile.mkdtemp(prefix="course-sandbox-"))
    workdir = base / "work"
    workdir.mkdir()   # empty: the notebook itself (hidden tests restored by nbgrader) never enters the kernel's view
    if uid is not None:
        for path in (base, workdir):
            os.chown(path, uid, uid)
        os.chmod(workdir, 0o700)
    reason = None
    env = _clean_env(workdir, uid, config.kernel_environment())
    saved_env = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel manager passes our environment to the kernel
    os.environ["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    deadline = time.monotonic() + notebook_timeout
    try:
        (base / "runtime").mkdir()
        if uid is not None:
            os.chown(base / "runtime", uid, uid)
        isolate = bwrap_available(config)
        # The kernel's channels are unix sockets in its own folder, never TCP: in its own network namespace the
        # kernel has no network at all, and no other kernel or grader can be reached from it.
        parent = _zygote(config, uid, zygote) if isolate else None
        km = AsyncKernelManager(kernel_name="course-sandbox", connection_file=str(base / "runtime" / "kernel.json"),
                                transport="ipc", ip=str(base / "runtime" / "kernel-ipc"),
                                kernel_spec_manager=KernelSpecManager(
            kernel_dirs=[str(_kernelspec_dir(base, isolate, uid, topic, parent))]))
        client = NotebookClient(nb, km=km, timeout=cell_timeout, allow_errors=True, interrupt_on_timeout=False,
                                kernel_name="course-sandbox", record_timing=False,
                                resources={"metadata": {"path": str(workdir)}}, startup_timeout=120)
        channel = KernelChannel(client, workdir, deadline, cell_timeout)   # before the kernel starts: its pipes
        running = None   # the index of the cell being run
        grader = GraderSide(channel, policy.graded_names(topic))
        try:
            with client.setup_kernel(cwd=str(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
                channel.install(policy.forbidden_with_ops(topic))
                for index, cell in enumerate(nb.cells):
                    running = index
                    if time.monotonic() > deadline:
                        raise CellTimeoutError(f"the notebook ran longer than {notebook_timeout} s")
                    if _runs_in_student_kernel(cell):
                        client.execute_cell(cell, index)
                    if _runs_in_grader(cell):
                        grader.run(cell, show_outputs=is_test_cell(cell))
        except CellTimeoutError as exc:
            reason = (f"a cell ran longer than the {cell_timeout} s limit" if "notebook" not in str(exc)
                      else str(exc))
            _mark_unfinished(nb, reason, "CellTimeoutError", running)
        except DeadKernelError:
            reason = "the kernel died (os._exit, sys.exit at C level, a crash, or the memory limit)"
            _mark_unfinished(nb, reason, "DeadKernelError", running)
        except Exception as exc:  # noqa: BLE001 -- any failure is recorded, never raised into the batch
            reason = f"{EXECUTION_FAILED} {type(exc).__name__}: {str(exc)[:300]}"
            _mark_unfinished(nb, reason, type(exc).__name__, running)
        finally:
            try:
                if km.has_kernel:
                    run_sync(km.shutdown_kernel)(now=True)   # and the manager's own ZeroMQ context
            except Exception:  # noqa: BLE001
                pass
            _close_client(client)
            channel.close()
            if uid is not None:
                end_processes_of(uid)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        shutil.rmtree(base, ignore_errors=True)
    _mark_forbidden(nb, topic)
    _tidy_outputs(nb)
    if reason:
        nb.metadata[REASON_KEY] = {"reason": reason}
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return reason


def _close_client(client) -> None:
    """The kernel client's channels and its ZeroMQ context (a dozen descriptors): nbclient leaves them open when
    it does not own the kernel manager, and a worker process grades hundreds of notebooks."""
    if getattr(client, "kc", None) is not None:
        try:
            client.kc.stop_channels()
        except Exception:  # noqa: BLE001 -- a client that never started
            pass
        client.kc = None


UID_SEARCH = 1000
_locks: dict[int, object] = {}    # uid -> its lock file, open for this process's lifetime
_claims: dict[int, int] = {}      # the uid asked for -> the uid this process got for it
_claiming = threading.Lock()


def claim_uid(preferred: int) -> int:
    """A uid for this process's kernels that no other process on this machine uses meanwhile: ``preferred`` when it
    is free, else the next free one (an flock per uid, held while this process lives; the same answer every time
    this process asks). So two grading runs, or two self-checks, on one machine never share a uid: neither the
    process limit nor the clean-up after a kernel (``end_processes_of``) ever touches another run's kernel."""
    import fcntl

    with _claiming:
        if preferred in _claims:
            return _claims[preferred]
        return _claim(preferred, fcntl)


def _claim(preferred: int, fcntl) -> int:
    folder = Path(tempfile.gettempdir()) / "course-sandbox-uids"
    folder.mkdir(mode=0o700, exist_ok=True)
    for uid in range(preferred, preferred + UID_SEARCH):
        if uid in _locks:
            continue
        handle = open(folder / f"{uid}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _locks[uid] = handle
        _claims[preferred] = uid
        return uid
    raise RuntimeError(f"no free sandbox uid in {preferred}..{preferred + UID_SEARCH - 1}")


def processes_of(uid: int) -> list[int]:
    """The processes whose real uid is ``uid`` (zombies included: they still count against its process limit)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as status:
                    uids = next(line for line in status if line.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if int(uids.split()[1]) == uid:
                found.append(int(entry))
    return found


def end_processes_of(uid: int, limit_s: float = 10.0) -> None:
    """After its kernel is shut down, no process of a submission's uid may be left: the worker's next kernel gets the
    same uid, and its process limit counts them all (a kernel that forked 60 children leaves them dying for a
    moment, and a kernel forked from the zygote starts its threads at once). Kills what is left and waits."""
    import signal

    deadline = time.monotonic() + limit_s
    while (left := processes_of(uid)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def _prepare_grader_process() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"   # test cells run here: one thread each, as many graders as cores
    import torch

    torch.set_num_threads(1)


def _reset_grader_state() -> None:
    """What a test cell may change globally is put back before the next submission."""
    import warnings

    import torch

    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    warnings.resetwarnings()


def serve(stdin=sys.stdin, stdout=sys.stdout) -> None:
    """Grade one job per line of ``stdin`` (JSON: source, target, topic, uid and ``Config.job()``: cell_timeout,
    notebook_timeout, config) and write its reason to ``target + '.reason.json'``, then
    ``done <id>`` on ``stdout``.  A worker stays up for many submissions so that Python, torch and the reference
    solutions load once per worker, not once per submission."""
    _prepare_grader_process()
    for line in stdin:
        job = json.loads(line)
        _reset_grader_state()
        # the grader's configuration (Config.job), else this process's environment (a job from elsewhere)
        config = Config.from_env().with_(**job.get("config", {}))
        try:
            reason = execute(Path(job["source"]), Path(job["target"]), job["cell_timeout"], job.get("uid"),
                             job["notebook_timeout"], job.get("topic"), config, job.get("zygote"))
        except Exception as exc:  # noqa: BLE001 -- the worker survives; the submission gets the reason
            reason = f"{GRADER_FAILED} {type(exc).__name__}: {str(exc)[:200]}"
        Path(job["target"] + ".reason.json").write_text(json.dumps({"reason": reason}))
        stdout.write(f"done {job['id']}\n")
        stdout.flush()


def main() -> int:
    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
