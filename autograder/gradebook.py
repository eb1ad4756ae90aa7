"""Where the gradebook lives, and how graders share it.

SQLite in the course folder by default; any SQLAlchemy URL that nbgrader accepts with ``--db`` (e.g.
``postgresql://grader@dbhost/course``): then several graders, on one machine or many, keep one gradebook. Every
step that writes to it (releasing an assignment, sanitizing, scoring) holds :func:`exclusive` for the whole step, so
two graders never interleave their writes: a PostgreSQL advisory lock on a server, a file lock for SQLite.
Student code never runs while the lock is held; the execute step runs outside it, in parallel.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from pathlib import Path

ENV = "COURSE_DB_URL"  # read by nbgrader_config.py, so that nbgrader's own commands use the same gradebook


def db_url(course_dir: Path, url: str | None = None) -> str:
    return url or os.environ.get(ENV) or f"sqlite:///{Path(course_dir) / 'gradebook.db'}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@contextlib.contextmanager
def exclusive(url: str, course_dir: Path):
    """Hold the gradebook for one writing step, against every other grader that shares it."""
    if is_sqlite(url):
        path = Path(url.split("///", 1)[1] + ".lock") if "///" in url else Path(course_dir) / "gradebook.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    key = zlib.crc32(b"course-gradebook")  # one lock per database
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    engine.dispose()


def check_reachable(url: str) -> None:
    """Fail before grading anything when the gradebook's server cannot be reached (with what to check)."""
    if is_sqlite(url):
        return
    import sqlalchemy

    engine = None
    try:
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect():
            pass
    except Exception as error:  # noqa: BLE001 -- any driver error means the same to the user
        raise RuntimeError(f"cannot open the gradebook at {url.split('@')[-1]}: "
                           f"{str(error).splitlines()[0][:200]}") from None
    finally:
        if engine is not None:
            engine.dispose()


def has_assignment(course_dir: Path, topic: str) -> bool:
    """Whether the gradebook already records the assignment ``topic`` (released before)."""
    url = db_url(course_dir)
    if is_sqlite(url):
        return Path(url.split("///", 1)[1]).exists() if "///" in url else False
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(url) as gb:
            gb.find_assignment(topic)
        return True
    except MissingEntry:
        return False
