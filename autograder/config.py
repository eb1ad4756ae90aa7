"""One configuration object for grading: time limits, the sandbox's limits, workers and folders.

Built in one place, :meth:`Config.from_env`, from command-line flags and the environment (the ``COURSE_*``
variables below); everything else takes a ``Config``. The grader hands the sandbox's limits to the student's kernel
through that kernel's environment (``sandbox_kernel.py`` reads them there), never through the grader's own.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from autograder.reference import REPO_ROOT, SOLUTIONS_DIR

AUTOGRADER_DIR = Path(__file__).resolve().parent
EXERCISES_DIR = REPO_ROOT / "exercises"
DEFAULT_COURSE_DIR = AUTOGRADER_DIR / "course"

# field -> the environment variable that sets it (flags win over the environment, the environment over defaults)
ENVIRONMENT = {
    "cell_timeout_s": "COURSE_CELL_TIMEOUT",
    "notebook_timeout_s": "COURSE_NOTEBOOK_TIMEOUT",
    "memory_mb": "COURSE_SANDBOX_MEMORY_MB",
    "cpu_s": "COURSE_SANDBOX_CPU_S",
    "nproc": "COURSE_SANDBOX_NPROC",
    "bwrap": "COURSE_SANDBOX_BWRAP",
    "zygote": "COURSE_SANDBOX_ZYGOTE",
    "drop_privileges": "COURSE_SANDBOX_DROP_PRIVILEGES",
    "device": "COURSE_DEVICE",
    "scheduler": "COURSE_SCHEDULER",
    "db_url": "COURSE_DB_URL",
    "sandbox_uid_base": "COURSE_SANDBOX_UID_BASE",
}


@dataclass(frozen=True)
class Config:
    course_dir: Path = DEFAULT_COURSE_DIR    # nbgrader's course folder (source/, submitted/, gradebook.db, ...)
    solutions_dir: Path = SOLUTIONS_DIR
    exercises_dir: Path = EXERCISES_DIR
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)   # submissions executed at once
    cell_timeout_s: int = 60                 # one cell, or one call of the grader into the student's code
    notebook_timeout_s: int = 600            # one whole submission
    memory_mb: int = 8192                    # the student's kernel: address space
    cpu_s: int = 600                         # ... CPU seconds
    nproc: int = 64                          # ... processes of its uid (when the grader is root)
    sandbox_uid_base: int = 61000            # kernels run as uid base + worker slot when the grader is root
    bwrap: bool = True                       # isolate kernels with bubblewrap where it works
    zygote: bool = True                      # ... and start them from a pre-loaded zygote in the same sandbox
    drop_privileges: str = "auto"            # "auto": under bubblewrap; "1": also without it; "0": never
    device: str | None = None                # COURSE_DEVICE for the student's kernel (coursetools.device)
    scheduler: str | None = None             # a Dask scheduler (tcp://HOST:PORT) runs the execute step; None: here
    db_url: str | None = None                # the gradebook (any SQLAlchemy URL); None: SQLite in course_dir

    @classmethod
    def from_env(cls, environ=None, **flags) -> Config:
        """The configuration from ``environ`` (default: ``os.environ``), overridden by ``flags`` that are not None."""
        environ = os.environ if environ is None else environ
        types = {f.name: f.type for f in fields(cls)}
        values = {}
        for name, variable in ENVIRONMENT.items():
            if environ.get(variable) not in (None, ""):
                raw = environ[variable]
                values[name] = (raw != "0" if types[name] == "bool" else int(raw) if types[name] == "int" else raw)
        values.update({k: v for k, v in flags.items() if v is not None})
        for name in ("course_dir", "solutions_dir", "exercises_dir"):
            if name in values:
                values[name] = Path(values[name])
        return cls(**values)

    def with_(self, **changes) -> Config:
        return replace(self, **changes)

    def kernel_environment(self) -> dict[str, str]:
        """The limits as the student's kernel launcher reads them (``sandbox_kernel.py``)."""
        env = {"COURSE_SANDBOX_MEMORY_MB": str(self.memory_mb), "COURSE_SANDBOX_CPU_S": str(self.cpu_s),
               "COURSE_SANDBOX_NPROC": str(self.nproc)}
        if self.device:
            env["COURSE_DEVICE"] = self.device
        return env

    def job(self) -> dict:
        """What a worker process needs of this configuration, as JSON data (``sandbox.serve``)."""
        return {"cell_timeout": self.cell_timeout_s, "notebook_timeout": max(30, self.notebook_timeout_s - 15),
                "config": {name: getattr(self, name) for name in KERNEL_FIELDS}}


KERNEL_FIELDS = ("memory_mb", "cpu_s", "nproc", "bwrap", "zygote", "drop_privileges", "device")
