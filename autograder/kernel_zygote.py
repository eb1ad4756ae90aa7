"""A pre-loaded parent for the students' kernels: Python, torch and IPython imported once, one fork per submission.

    python kernel_zygote.py serve FOLDER               the zygote (started by the grader: ``Zygote``)
    python -I -S kernel_zygote.py launch SOCKET VIEW -f CONNECTION_FILE
                                                       a kernel (the sandbox kernelspec's argv)

Starting a kernel costs ~2 CPU-seconds before the first student cell runs (Python, ``import torch``, IPython, and
``torch._dynamo``, which PyTorch imports on the first meta-device operation every exercise's device check makes).
The zygote pays that once per grading run (its worker processes share one: ``pool.Workers``). For each kernel the
kernelspec runs a tiny launcher that asks the zygote for one; the zygote forks a child that builds the same sandbox
bubblewrap builds (``sandbox.kernel_view``: the same operations, applied with the same system calls) and becomes the
kernel:

    zygote --fork--> C1: new mount, pid, IPC, UTS and network namespaces
                     C1 --fork--> C2: pid 1 of the new namespace; builds the view, pivots into it, mounts /proc
                                  C2 --fork--> C3: limits, no new privileges, the submission's uid, the kernel

C2 stays root and never runs student code: it reaps, and ends the namespace (Linux kills every process in it when
its pid 1 exits) when the kernel exits or the launcher goes away (the launcher's connection is its lifeline). The
launcher dies with the grader (``PR_SET_PDEATHSIG``, as bubblewrap's ``--die-with-parent``); the zygote when the
grader's end of its stdin closes. The zygote holds nothing of the grader: it is a fresh
Python that imported only torch and IPython, started with the kernel's own environment, and the kernel gets a clean
copy of its module state (fresh random seeds, no import caches, its own environment, argv and folder).

Only where the grader is root (the kernel gets a uid of its own) on x86-64 or arm64 Linux, and only when a probe
kernel starts (``Zygote``); else kernels start through bubblewrap as before.
"""
import ctypes
import ctypes.util
import json
import os
import platform
import signal
import socket
import sys

MAX_REQUEST = 1 << 20
SOCKET = "zygote.sock"
FOLDER_PREFIX = "course-zygote-"     # in the grader's temporary folder: the socket, the log, the kernels' mount point
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = (0x00020000, 0x04000000, 0x08000000,
                                                                     0x20000000, 0x40000000)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 38, 36
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")   # as bubblewrap: the kernel's /proc cannot change the host

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl")


def _mount(source, target, fstype, flags, data=None) -> None:
    source, where, fstype, data = (None if text is None else os.fsencode(text) for text in (source, target, fstype,
                                                                                            data))
    _check(_libc.mount(source, where, fstype, ctypes.c_ulong(flags), data), f"mount {target}")


def supported() -> bool:
    return sys.platform == "linux" and platform.machine() in SYS_PIVOT_ROOT and os.getuid() == 0


# ---------------------------------------------------------------------------------------------- building the view
def _mounts_under(path: str) -> list[str]:
    """Every mount point at or below ``path`` (a recursive bind brings them all), from /proc/self/mountinfo."""
    found = []
    with open("/proc/self/mountinfo") as table:
        for line in table:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == path or point.startswith(path.rstrip("/") + "/"):
                found.append(point)
    return found


def _mountpoint(path: str, like: str) -> None:
    """An empty folder or file at ``path`` to mount ``like`` on (its parents 0755, as bubblewrap makes them)."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if os.path.isdir(like):
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def _bind(root: str, source: str, target: str, read_only: bool, devices: bool = False) -> None:
    where = root + target
    _mountpoint(where, source)
    _mount(source, where, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if devices else MS_NODEV) | (MS_RDONLY if read_only else 0)
    for point in _mounts_under(where):   # a recursive bind keeps its submounts' flags: remount each
        _mount(None, point, None, flags)


def _tmpfs(where: str, mode: int) -> None:
    os.makedirs(where, mode=0o755, exist_ok=True)
    _mount("tmpfs", where, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode:o}")


def _dev(root: str, target: str) -> None:
    """A minimal /dev, as bubblewrap's ``--dev``: the harmless device nodes, a private pts, the usual links."""
    where = root + target
    _tmpfs(where, 0o755)
    for node in DEV_NODES:
        if os.path.exists(f"/dev/{node}"):
            _bind(root, f"/dev/{node}", f"{target}/{node}", read_only=False, devices=True)
    for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                       ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")):
        os.symlink(link, f"{where}/{name}")
    os.makedirs(f"{where}/shm", mode=0o755)
    os.makedirs(f"{where}/pts", mode=0o755)
    _mount("devpts", f"{where}/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")


def _proc(root: str, target: str) -> None:
    where = root + target
    os.makedirs(where, mode=0o755, exist_ok=True)
    _mount("proc", where, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READ_ONLY:
        if os.path.exists(f"{where}/{name}"):
            _mount(f"{where}/{name}", f"{where}/{name}", None, MS_BIND | MS_REC)
            _mount(None, f"{where}/{name}", None,
                   MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def apply_view(operations: list, root: str) -> None:
    """Build the view (``sandbox.kernel_view``'s operations, in order) in a fresh tmpfs at ``root``, then make it
    this process's root. Must run in new mount and pid namespaces, as their pid 1 (for /proc)."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)          # nothing mounted here propagates to the grader
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    mode = 0o755
    for op, *args in operations:
        if op == "perms":
            mode = int(args[0], 8)
            continue
        if op == "dir":
            os.makedirs(root + args[0], mode=mode, exist_ok=True)
            os.chmod(root + args[0], mode)
        elif op in ("ro-bind", "bind", "dev-bind"):
            _bind(root, args[0], args[1], read_only=op == "ro-bind", devices=op == "dev-bind")
        elif op == "tmpfs":
            _tmpfs(root + args[0], mode)
        elif op == "symlink":
            os.makedirs(os.path.dirname(root + args[1]), mode=0o755, exist_ok=True)
            os.symlink(args[0], root + args[1])
        elif op == "proc":
            _proc(root, args[0])
        elif op == "dev":
            _dev(root, args[0])
        else:
            raise ValueError(f"unknown view operation {op!r}")
        mode = 0o755
    old = f"{root}/.old-root"
    os.mkdir(old, 0o700)
    _check(_libc.syscall(SYS_PIVOT_ROOT[platform.machine()], os.fsencode(root), os.fsencode(old)), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old-root", MNT_DETACH), "umount the old root")
    os.rmdir("/.old-root")
    _mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _loopback_up() -> None:
    """The new network namespace's loopback, up (as bubblewrap leaves it); nothing else is reachable."""
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(probe, siocgifflags, request))[1]
        fcntl.ioctl(probe, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


# ---------------------------------------------------------------------------------------------- the zygote
def warm_torch() -> None:
    """Import PyTorch and what its first meta-device operation imports lazily (``torch._dynamo``, ~1 s: a
    decomposition decorated to disable it), for processes that fork after this (also ``tests/inprocess.py``)."""
    import torch

    torch.zeros(2, device="meta") / 2


_SET_AT_START: dict[str, str] = {}   # what a kernel's own start sets in its environment (pydevd, imported by it)


def _preload() -> None:
    """What every kernel imports anyway, and the lazy import of its first meta-device operation."""
    before = dict(os.environ)
    import ipykernel.debugger  # every kernel imports it as it starts: 0.22 CPU-s each, after a fork
    import ipykernel.ipkernel
    import ipykernel.kernelapp  # noqa: F401 -- imported for the kernels to inherit

    _SET_AT_START.update({name: value for name, value in os.environ.items() if before.get(name) != value})
    warm_torch()     # what this sets (TORCHINDUCTOR_CACHE_DIR) a kernel sets only once it runs its first meta op
    import sandbox_kernel  # noqa: F401 -- the limits (next to this file: sys.path[0])


def serve(folder: str) -> None:
    """Fork a kernel for each request on ``FOLDER/zygote.sock``; exit when the grader closes our stdin."""
    import select

    _preload()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)           # the kernels' namespaces' pid 1s are reparented here and reaped
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.path.join(folder, SOCKET))
    listener.listen(16)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            import shutil

            shutil.rmtree(folder, ignore_errors=True)   # the grader is done, or gone without removing it
            os._exit(0)
        if listener not in ready:
            continue
        connection, _ = listener.accept()
        try:
            request = json.loads(_read_line(connection))
        except (OSError, ValueError):
            connection.close()
            continue
        request["root"] = os.path.join(folder, "root")
        if os.fork() == 0:
            listener.close()
            try:
                _first_child(connection, request)
            finally:
                os._exit(127)
        connection.close()


def _read_line(connection) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk or len(data) > MAX_REQUEST:
            raise ValueError("an incomplete request")
        data += chunk
    return data


def _first_child(connection, request: dict) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET), "unshare")
    if os.fork() == 0:
        _namespace_init(connection, request)
    os._exit(0)


def _report(connection, line: str) -> None:
    try:
        connection.sendall(line.encode() + b"\n")
    except OSError:
        pass


def _namespace_init(connection, request: dict) -> None:
    """pid 1 of the kernel's namespaces: builds the view, starts the kernel, and ends everything when the kernel
    exits or the launcher goes away."""
    try:
        apply_view(request["view"], request["root"])
        _loopback_up()
    except Exception as exc:  # noqa: BLE001 -- reported to the launcher, which fails the kernel's start
        _report(connection, f"error {type(exc).__name__}: {exc}")
        os._exit(126)
    if request.get("probe"):
        _report(connection, "exit 0")
        os._exit(0)
    import select

    wakeup, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)           # a child's exit wakes the select below
    signal.signal(signal.SIGCHLD, lambda *_: None)
    kernel = os.fork()
    if kernel == 0:
        connection.close()
        signal.set_wakeup_fd(-1)
        _become_kernel(request)
    while True:
        ready, _, _ = select.select([connection, wakeup], [], [], 1.0)
        if wakeup in ready:
            os.read(wakeup, 4096)
        if connection in ready:
            data = connection.recv(64)
            if not data:
                os._exit(1)           # the launcher is gone: pid 1 exits, Linux kills the namespace
            if b"i" in data:
                os.kill(kernel, signal.SIGINT)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
            if pid == kernel:
                code = os.waitstatus_to_exitcode(status)
                _report(connection, f"exit {code}")
                os._exit(code if code >= 0 else 128 - code)


def _become_kernel(request: dict) -> None:
    try:
        _reset_process(request)
        import sandbox_kernel

        sandbox_kernel.apply_limits()
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    except BaseException:  # noqa: BLE001 -- a kernel that could not start, or failed: the grader sees it exit
        os._exit(1)
    os._exit(0)


def _reset_process(request: dict) -> None:
    """What a fresh ``python sandbox_kernel.py -f FILE`` would have: its stdio, environment, folder, argv, and
    nothing of the zygote's (no descriptors, import caches or random state)."""
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:   # the listing's own descriptor, closed already
                pass
    for name in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(name, signal.default_int_handler if name == signal.SIGINT else signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(request["env"])
    for name, value in _SET_AT_START.items():   # as a kernel that imported them itself would have
        os.environ.setdefault(name, value)
    os.environ.pop("JPY_PARENT_PID", None)   # as in sandbox_kernel.py: the namespace's pid 1 ends the kernel
    os.chdir(request["cwd"])
    os.environ["PWD"] = request["cwd"]
    script = request["script"]
    sys.argv = [script, *request["argv"]]
    sys.path[0] = os.path.dirname(script)
    sys.path_importer_cache.clear()
    import importlib
    import random
    import tempfile

    importlib.invalidate_caches()
    random.seed()
    tempfile.tempdir = None
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    import types

    sys.modules["__main__"] = types.ModuleType("__main__")   # the zygote's script is not the kernel's business


# ---------------------------------------------------------------------------------------------- the launcher
def launch(path: str, view_file: str, argv: list) -> int:
    """The kernelspec's process: ask the zygote for a kernel, relay an interrupt, and exit when the kernel does.
    Killing the launcher ends the kernel (the zygote's child watches this connection)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    with open(view_file) as spec:
        view = json.load(spec)
    request = {"view": view["operations"], "script": view["script"],
               "env": dict(os.environ), "cwd": os.getcwd(), "argv": argv}
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
        connection.sendall(json.dumps(request).encode() + b"\n")
    except OSError as exc:
        sys.stderr.write(f"the kernel zygote is not there: {exc}\n")
        return 1
    signal.signal(signal.SIGINT, lambda *_: connection.sendall(b"i"))
    answer = b""
    while True:
        try:
            chunk = connection.recv(4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        answer += chunk
    for line in answer.decode(errors="replace").splitlines():
        if line.startswith("exit "):
            return int(line[5:])
        sys.stderr.write(line + "\n")
    return 1

# ---------------------------------------------------------------------------------------------- runs in the grader
PROBE_VIEW = [["proc", "/proc"], ["dev", "/dev"], ["tmpfs", "/tmp"], ["ro-bind", "/usr", "/usr"]]
START_TIMEOUT_S = 120


class Zygote:
    """The grader's handle on one zygote: started with the kernels' environment, probed (a kernel's namespaces and
    view are built once), stopped when the grader exits or closes it."""

    def __init__(self, env: dict):
        import atexit
        import subprocess
        import tempfile

        remove_stale_folders(tempfile.gettempdir())
        self.folder = tempfile.mkdtemp(prefix=FOLDER_PREFIX)
        os.mkdir(os.path.join(self.folder, "root"), 0o700)
        self.socket = os.path.join(self.folder, SOCKET)
        self.log = os.path.join(self.folder, "zygote.log")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", self.folder],
                                            env=env, cwd=self.folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=log)
        atexit.register(self.stop)
        if self._read_ready() != "ready" or not self.probe():
            with open(self.log, errors="replace") as log:
                error = log.read()[-2000:]
            self.stop()
            raise RuntimeError(f"the kernel zygote did not start: {error}")

    def _read_ready(self) -> str:
        import select

        waiting = select.poll()      # not select(): the grader may hold descriptors numbered over 1023
        waiting.register(self.process.stdout, select.POLLIN)
        return self.process.stdout.readline().decode().strip() if waiting.poll(START_TIMEOUT_S * 1000) else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def probe(self) -> bool:
        """A kernel's namespaces and a small view, built and torn down: the zygote works on this machine."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(START_TIMEOUT_S)
            connection.connect(self.socket)
            connection.sendall(json.dumps({"probe": True, "view": PROBE_VIEW}).encode() + b"\n")
            answer = b""
            while chunk := connection.recv(4096):
                answer += chunk
        return answer.strip() == b"exit 0"

    def stop(self) -> None:
        import shutil

        if self.alive():
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_stale_folders(parent: str, older_than_s: float = START_TIMEOUT_S) -> list[str]:
    """Remove the folders of this user's zygotes that were killed outright (a zygote removes its own when the
    grader closes its stdin, ``Zygote.stop`` when it stops one; a SIGKILL leaves the folder): older than a zygote
    takes to start, and no zygote answers on their socket. Returns the folders removed."""
    import glob
    import shutil
    import stat
    import time

    removed = []
    for folder in glob.glob(os.path.join(parent, FOLDER_PREFIX + "*")):
        try:
            info = os.lstat(folder)     # a link named like a zygote's folder is no zygote's folder
        except OSError:
            continue
        if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
                or time.time() - info.st_mtime < older_than_s):
            continue
        if not Attached(os.path.join(folder, SOCKET)).alive():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class Attached:
    """A zygote that another process of the same grading run started (``Zygote.socket``): the run's worker processes
    share the one that their pool started (``pool.Workers``)."""

    def __init__(self, path: str):
        self.socket = path

    def alive(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            try:
                connection.connect(self.socket)   # the zygote reads a request line; a bare connect is dropped
                return True
            except OSError:
                return False


_zygotes: dict = {}


def zygote(env: dict):
    """This process's zygote for kernels with ``env`` at start (restarted if it died), or None where it cannot run
    here (then kernels start through bubblewrap)."""
    import threading

    with _zygotes.setdefault("lock", threading.Lock()):
        key = json.dumps(env, sort_keys=True)
        current = _zygotes.get(key)
        if current is False:
            return None
        if current is not None and current.alive():
            return current
        try:
            _zygotes[key] = Zygote(env) if supported() else False
        except (OSError, RuntimeError):
            _zygotes[key] = False
        return _zygotes[key] or None


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "launch":
        sys.exit(launch(sys.argv[2], sys.argv[3], sys.argv[4:]))
