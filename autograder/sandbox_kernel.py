"""Start an IPython kernel for a student's notebook under resource limits (and, as root, an unprivileged uid).

Used as the ``argv`` of the sandbox kernelspec that ``autograder.sandbox`` writes:
``python -m autograder.sandbox_kernel -f CONNECTION_FILE``.  Limits come from the environment:
``COURSE_SANDBOX_MEMORY_MB`` (address space, default 8192; data segment where GPUs are exposed),
``COURSE_SANDBOX_CPU_S`` (CPU seconds, default 600),
``COURSE_SANDBOX_NPROC`` (processes of the sandbox uid, default 64), ``COURSE_SANDBOX_UID`` (drop to this uid).
"""
import os
import resource
import sys

MB = 1024 * 1024


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value))


def apply_limits() -> None:
    memory = int(os.environ.get("COURSE_SANDBOX_MEMORY_MB", "8192")) * MB
    # CUDA reserves terabytes of address space it never touches: with GPUs, limit the data segment instead
    # (private writable memory, which is what a runaway allocation uses)
    _limit(resource.RLIMIT_DATA if os.environ.get("COURSE_SANDBOX_GPU") == "1" else resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_CPU, int(os.environ.get("COURSE_SANDBOX_CPU_S", "600")))
    _limit(resource.RLIMIT_FSIZE, 256 * MB)   # no file larger than this
    _limit(resource.RLIMIT_CORE, 0)
    uid = os.environ.get("COURSE_SANDBOX_UID")
    if uid and os.getuid() == 0:
        uid = int(uid)
        connection_file = sys.argv[sys.argv.index("-f") + 1]
        os.chown(connection_file, uid, uid)
        _limit(resource.RLIMIT_NPROC, int(os.environ.get("COURSE_SANDBOX_NPROC", "64")))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


if __name__ == "__main__":
    apply_limits()
    if os.environ.get("COURSE_SANDBOX_ISOLATED") == "1":
        # in its own process namespace the kernel cannot see the grader's pid; bwrap --die-with-parent
        # ends it when the grader goes away instead of ipykernel's parent poller
        os.environ.pop("JPY_PARENT_PID", None)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
