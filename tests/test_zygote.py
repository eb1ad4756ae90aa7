"""The kernel zygote (``autograder/kernel_zygote.py``) builds the sandbox bubblewrap builds, and leaves nothing behind.

A probe notebook reports what its kernel sees (uid, processes, filesystem, devices, mounts, environment, limits,
capabilities, network, what it can import); the same probe runs in a kernel from the zygote and in one started
through bubblewrap, and the reports must agree. The hostile corpus (tests/test_hostile.py) runs on the zygote too,
as every grading run does.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from autograder import kernel_zygote, sandbox
from autograder.config import Config
from autograder.reference import SOLUTIONS_DIR

UID = Config.from_env().sandbox_uid_base + 200     # not a pool worker's: kernels of a concurrent batch are not ours
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (sandbox.bwrap_available() and sandbox.can_drop_privileges() and kernel_zygote.supported()),
                       reason="the zygote needs root, Linux on x86-64 or arm64, and bubblewrap to compare with"),
]

PROBE = r'''
import json, os, resource, socket, sys
facts = {"uid": [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()], "cwd": os.getcwd(),
         "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), "root": sorted(os.listdir("/")),
         "dev": sorted(os.listdir("/dev")), "env": sorted(os.environ), "argv0": os.path.basename(sys.argv[0]),
         "repository": sorted(os.listdir(REPO)), "coursetools": sorted(os.listdir(REPO + "/coursetools")),
         "autograder": sorted(os.listdir(REPO + "/autograder")),
         "limits": [resource.getrlimit(getattr(resource, name)) for name in
                    ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_CORE")],
         "status": [line.split() for line in open("/proc/self/status") if line.startswith(("Cap", "NoNewPrivs"))],
         "mounts": sorted(line.split()[4] for line in open("/proc/self/mountinfo")),
         "writable": sorted(line.split()[4] for line in open("/proc/self/mountinfo")
                            if "rw" in line.split()[5].split(",")),
         "hostname": socket.gethostname(), "interfaces": sorted(name for _, name in socket.if_nameindex())}
facts["grader modules"] = sorted(m for m in sys.modules if m.startswith("autograder") or "zygote" in m)
def attempt(name, action):
    try:
        action()
        facts[name] = "allowed"
    except BaseException as exc:
        facts[name] = type(exc).__name__
attempt("network", lambda: socket.create_connection(("1.1.1.1", 80), timeout=2))
attempt("write /usr", lambda: open("/usr/probe", "w"))
attempt("pid 1's environment", lambda: open("/proc/1/environ").read())
attempt("signal pid 1", lambda: os.kill(1, 0))
attempt("import the grader", lambda: __import__("autograder.sandbox"))
attempt("import timm", lambda: __import__("timm"))
attempt("import torch", lambda: __import__("torch"))
import random
facts["random"] = random.random()
facts["pid 1"] = open("/proc/1/cmdline").read().split("\0")[:3]
facts["tmp"] = sorted(n for n in os.listdir("/tmp") if not os.getcwd().startswith(f"/tmp/{n}/"))   # not its own
attempt("write /tmp", lambda: open("/tmp/left-by-a-kernel", "w").write("for the next kernel"))
print(json.dumps(facts).replace(os.getcwd().rsplit("/", 1)[0], "BASE"))
'''


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _run(tmp_path: Path, name: str, *sources: str, zygote: bool = True, cell_timeout: int = 60):
    source = _notebook(tmp_path / f"{name}.ipynb", *sources)
    reason = sandbox.execute(source, tmp_path / f"{name}.out.ipynb", cell_timeout=cell_timeout, uid=UID,
                             topic="attention", config=Config.from_env().with_(zygote=zygote))
    return reason, nbformat.read(tmp_path / f"{name}.out.ipynb", as_version=4)


def _facts(tmp_path: Path, name: str, zygote: bool) -> dict:
    reason, nb = _run(tmp_path, name, f"REPO = {str(sandbox.REPO_ROOT)!r}\n" + PROBE, zygote=zygote)
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("output_type") == "stream")
    assert reason is None and text, (reason, nb.cells[0].outputs)
    return json.loads(text)


def test_a_kernel_from_the_zygote_sees_what_a_bubblewrap_kernel_sees(tmp_path):
    forked, again, bwrap = (_facts(tmp_path, name, zygote) for name, zygote in
                            (("zygote", True), ("zygote-again", True), ("bwrap", False)))
    assert "kernel_zygote.py" in " ".join(forked["pid 1"]) and "bwrap" in " ".join(bwrap["pid 1"])
    for fact in ("uid", "cwd", "processes", "root", "env", "argv0", "repository", "coursetools", "autograder", "dev",
                 "limits", "status", "hostname", "interfaces", "network", "write /usr", "pid 1's environment",
                 "signal pid 1", "import the grader", "import timm", "import torch", "grader modules", "tmp",
                 "write /tmp"):
        assert forked[fact] == bwrap[fact], fact
    assert forked["uid"][:2] == [UID, UID] and forked["grader modules"] == []
    assert forked["import the grader"] == "ModuleNotFoundError" and forked["import timm"] == "ImportError"
    # the same mount points (the zygote also makes /proc/sys read-only); bubblewrap leaves its root folder writable
    # (to root only), the zygote does not
    assert set(bwrap["mounts"]) <= set(forked["mounts"]) <= set(bwrap["mounts"]) | {"/proc/sys"}
    assert set(forked["writable"]) <= set(bwrap["writable"])
    # writable mounts: the submission's folder, its /tmp, and tmpfs folders and device nodes that only root may change
    allowed = {"BASE", "/tmp", "/dev", "/dev/pts", "/proc", f"{sandbox.REPO_ROOT}/coursetools"}
    assert set(forked["writable"]) <= allowed | {f"/dev/{node}" for node in kernel_zygote.DEV_NODES}, forked["writable"]
    assert forked["random"] != again["random"], "every kernel needs a random state of its own"
    assert forked["tmp"] == again["tmp"] == bwrap["tmp"] and "left-by-a-kernel" not in again["tmp"]


def _running(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and token in Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry))
        except OSError:
            pass
    return found


def _gone(token: str, within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while _running(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _running(token)


@pytest.mark.parametrize("ending, expected", [
    ("while True:\n    pass", "limit"),          # stopped by the grader
    ("import os\nos._exit(3)", "kernel died"),    # ends itself
])
def test_no_process_of_a_kernel_outlives_it(tmp_path, ending, expected):
    token = f"{time.time_ns() % 10**6}.{os.getpid()}"
    spawn = f"import subprocess\nsubprocess.Popen(['sleep', '{token}'], start_new_session=True)\n"
    started = time.monotonic()
    reason, _ = _run(tmp_path, "leaves", spawn, ending, cell_timeout=5)
    assert expected in (reason or ""), reason
    assert time.monotonic() - started < 30
    assert _gone(token), f"a process the kernel started outlived it: {_running(token)}"


def test_a_dead_zygote_is_started_again(tmp_path):
    env = sandbox._clean_env(Path("/tmp"), None, {})
    first = kernel_zygote.zygote(env)
    first.process.kill()
    first.process.wait()
    reason, nb = _run(tmp_path, "after", "print(6 * 7)")
    assert reason is None and nb.cells[0].outputs[0]["text"] == "42\n"
    assert kernel_zygote.zygote(env) is not first and kernel_zygote.zygote(env).alive()


def test_no_zygote_leaves_its_folder_behind():
    """A zygote's folder (its socket, its log) goes with it: the zygote removes it when the grader closes its stdin,
    and a zygote killed outright (SIGKILL, as a worker's timeout kills its process group) has its folder removed by
    the next zygote to start, once no zygote answers on its socket. A live zygote's folder is never touched."""
    env = sandbox._clean_env(Path("/tmp"), None, {})
    killed, alive = kernel_zygote.Zygote(env), kernel_zygote.Zygote(env)
    killed.process.kill()
    killed.process.wait()
    long_ago = time.time() - 2 * kernel_zygote.START_TIMEOUT_S
    for folder in (killed.folder, alive.folder):
        os.utime(folder, (long_ago, long_ago))
    assert os.path.isdir(killed.folder)
    started = kernel_zygote.Zygote(env)
    try:
        assert not os.path.exists(killed.folder), "a dead zygote's folder was left"
        assert os.path.exists(os.path.join(alive.folder, kernel_zygote.SOCKET)), "a live zygote's folder was removed"
        alive.process.stdin.close()
        assert alive.process.wait(timeout=30) == 0
        assert not os.path.exists(alive.folder), "the zygote left its folder when the grader closed its stdin"
    finally:
        for zygote in (alive, started):
            zygote.stop()


def test_where_the_zygote_cannot_run_kernels_start_through_bubblewrap(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_zygote, "_zygotes", {})
    monkeypatch.setattr(kernel_zygote, "supported", lambda: False)
    assert sandbox._zygote(Config.from_env(), UID) is None
    facts = _facts(tmp_path, "fallback", zygote=True)
    assert "bwrap" in " ".join(facts["pid 1"])


def test_no_process_of_the_kernels_uid_is_left_when_execute_returns(tmp_path):
    """The worker's next kernel gets the same uid, and its process limit counts every process of that uid: a kernel
    that forked 50 children must leave none, not even dying ones, when execute returns (a kernel from the zygote
    starts its threads at once, and failed to start while they were being torn down)."""
    fork_loop = ("import os, time\n"
                 "for _ in range(50):\n"
                 "    if os.fork() == 0:\n"
                 "        time.sleep(60)\n"
                 "        os._exit(0)\n")
    for _ in range(2):
        reason, _ = _run(tmp_path, "forks", fork_loop)
        assert reason is None
        assert sandbox.processes_of(sandbox.claim_uid(UID)) == []


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_grading_process_keeps_no_descriptor_of_the_notebooks_it_graded(tmp_path):
    """A worker process grades hundreds of notebooks in one run: each closes what it opened. (The kernel client's
    ZeroMQ context and sockets used to stay open, 13 descriptors a notebook, until select() failed past 1023 and
    every later notebook of that worker failed.)"""
    _run(tmp_path, "first", "print(1)")
    before = _descriptors()
    for attempt in range(3):
        reason, _ = _run(tmp_path, f"again-{attempt}", "print(1)")
        assert reason is None
    assert _descriptors() == before


def test_a_grader_holding_descriptors_numbered_over_1023_still_grades(tmp_path):
    """The grader waits on the kernel's pipes with poll(), not select(), which fails on a descriptor over 1023."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200) if soft != resource.RLIM_INFINITY else soft, hard))
    held = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        reason = sandbox.execute(SOLUTIONS_DIR / "masking.ipynb", tmp_path / "masking.ipynb", uid=UID,
                                 topic="masking", config=Config.from_env())
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    nb = nbformat.read(tmp_path / "masking.ipynb", as_version=4)
    errors = [output.get("evalue") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
              if output.get("output_type") == "error"]
    assert reason is None and not errors, (reason, errors[:3])


def test_a_worker_process_is_replaced_after_an_error_of_the_graders_own(tmp_path):
    """A notebook that stopped on the grader's own error (here: its file is gone) ends that worker process, so
    whatever broke in it (a leak, a corrupted state) never reaches the next student's notebook; the next notebook
    is graded by a fresh process."""
    from autograder import pool

    worker = pool.Worker(tmp_path / "worker.log")
    job = {"topic": "attention", "uid": UID + 1, "zygote": None, **Config.from_env().job()}
    try:
        reason = worker.run(dict(job, source=str(tmp_path / "gone.ipynb"), target=str(tmp_path / "gone.out.ipynb")),
                            timeout=120)
        assert reason.startswith(f"{sandbox.GRADER_FAILED} FileNotFoundError"), reason
        assert worker.proc is None, "the worker process that failed was kept for the next notebook"
        source = _notebook(tmp_path / "next.ipynb", "print(6 * 7)")
        reason = worker.run(dict(job, source=str(source), target=str(tmp_path / "next.out.ipynb")), timeout=120)
        nb = nbformat.read(tmp_path / "next.out.ipynb", as_version=4)
        assert reason is None and nb.cells[0].outputs[0]["text"] == "42\n", (reason, nb.cells[0].outputs)
    finally:
        worker.stop()


def _zygotes_of(parents: set[int]) -> dict[int, int]:
    """{pid: parent} of every zygote (``kernel_zygote.py serve``) running now."""
    found = {}
    for pid in _running("kernel_zygote.py\0serve"):
        try:
            found[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return {pid: parent for pid, parent in found.items() if parent in parents}


def test_the_workers_of_a_run_share_one_zygote_and_go_on_without_it(tmp_path):
    """One zygote per grading run, started by its pool, serves every worker process (one PyTorch import instead of
    one per worker). A shared zygote that died is replaced at the pool's next batch, and a worker handed one that is
    gone starts kernels from its own: every submission is still graded."""
    import threading

    from autograder import pool

    config = Config.from_env(course_dir=tmp_path / "course", workers=2, cell_timeout_s=60)
    students = [f"s{i}" for i in range(4)]
    for student in students:
        folder = config.course_dir / "sanitized" / student / "attention"
        folder.mkdir(parents=True)
        _notebook(folder / "attention.ipynb", "print(6 * 7)")
        (config.course_dir / "submitted" / student / "attention").mkdir(parents=True)
        (config.course_dir / "submitted" / student / "attention" / "timestamp.txt").write_text("2026-01-01 00:00:00")
    seen, done = {}, threading.Event()
    before = set(_zygotes_of({os.getpid()}))    # this test process's own (the tests above run execute here)

    def watch(workers):
        while not done.is_set():
            parents = {os.getpid()} | {w.proc.pid for w in workers.workers if w.proc is not None}
            seen.update({pid: parent for pid, parent in _zygotes_of(parents).items() if pid not in before})
            time.sleep(0.05)

    with pool.Workers(config) as workers:
        watcher = threading.Thread(target=watch, args=(workers,), daemon=True)
        watcher.start()
        try:
            assert pool.execute_all("attention", students[:2], config, lambda *a: None, workers) == {}
            first = workers.zygote
            assert first is not None and set(seen) == {first.process.pid}, seen
            assert seen[first.process.pid] == os.getpid(), "the pool's zygote, not a worker's"
            first.process.kill()
            first.process.wait()
            seen.clear()
            assert pool.execute_all("attention", students[2:], config, lambda *a: None, workers) == {}
            second = workers.zygote
            assert second is not first and set(seen) == {second.process.pid}, seen
        finally:
            done.set()
            watcher.join()
    for student in students:
        nb = nbformat.read(config.course_dir / "executed" / student / "attention" / "attention.ipynb", as_version=4)
        assert nb.cells[0].outputs[0]["text"] == "42\n", (student, nb.cells[0].outputs)
    assert first.process.poll() is not None and second.process.poll() is not None, "stopped with the run"
    # a worker whose shared zygote is gone (here: the first one's socket) starts the kernel from its own
    source = _notebook(tmp_path / "alone.ipynb", "print(6 * 7)")
    reason = sandbox.execute(source, tmp_path / "alone.out.ipynb", uid=UID, topic="attention",
                             config=Config.from_env(), zygote=first.socket)
    nb = nbformat.read(tmp_path / "alone.out.ipynb", as_version=4)
    assert reason is None and nb.cells[0].outputs[0]["text"] == "42\n", (reason, nb.cells[0].outputs)
