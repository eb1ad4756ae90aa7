"""``python -m autograder``: argument parsing only; the work is done by the modules it calls.

    python -m autograder generate [--check]      solutions/ -> exercises/ (check: fail if exercises/ is stale)
    python -m autograder grade FOLDER|ZIP [--topic T] [--csv grades.csv] [--workers N] [--force]
                               [--scheduler tcp://HOST:PORT] [--db postgresql://USER@HOST/DB]
    python -m autograder export [--csv grades.csv]   the CSV of everything graded so far
    python -m autograder feedback [--out feedback/]
    python -m autograder demo                    grade the reference solutions and the blank stubs

Where things live: ``config.py`` (limits, workers, folders, from flags and the environment), ``pipeline.py``
(grading a batch), ``nbgrader_steps.py``, ``pool.py`` (the execute step's workers), ``state.py`` (resuming),
``reports.py`` (results, CSV, feedback), ``sandbox.py`` and ``protocol/`` (running a submission split in two).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder import commands, distributed, gradebook
from autograder.config import DEFAULT_COURSE_DIR, EXERCISES_DIR, Config  # noqa: F401 -- EXERCISES_DIR: callers' name
from autograder.course import topics
from autograder.nbgrader_steps import generate
from autograder.pipeline import demo, grade
from autograder.reports import feedback, results_from_gradebook, write_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate exercises/ from solutions/ with nbgrader")
    gen.add_argument("--check", action="store_true", help="exit 1 if exercises/ is stale; change nothing")
    grd = sub.add_parser("grade", help="autograde a folder or zip of submissions (<student>/<topic>.ipynb)")
    grd.add_argument("folder", type=Path)
    grd.add_argument("--topic", action="append", choices=topics(), help="grade only this topic (repeatable)")
    grd.add_argument("--csv", type=Path, default=Path("grades.csv"), help="where to write the scores")
    grd.add_argument("--feedback", type=Path, help="also write per-student feedback to this folder")
    grd.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR)
    grd.add_argument("--workers", type=int, default=None, help="submissions run at once (default: CPU cores)")
    grd.add_argument("--cell-timeout", type=int, default=None,
                     help="seconds per cell or call into student code (default: COURSE_CELL_TIMEOUT or 60)")
    grd.add_argument("--notebook-timeout", type=int, default=None,
                     help="seconds per submission (default: COURSE_NOTEBOOK_TIMEOUT or 600)")
    grd.add_argument("--force", action="store_true", help="grade everything again, even unchanged submissions")
    grd.add_argument("--scheduler", help="run the execute step on this Dask scheduler (tcp://HOST:PORT) "
                                         "instead of this machine (default: COURSE_SCHEDULER)")
    exp = sub.add_parser("export", help="write the CSV of everything graded so far, from the gradebook")
    exp.add_argument("--csv", type=Path, default=Path("grades.csv"))
    exp.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR)
    fb = sub.add_parser("feedback", help="write per-student feedback for everything graded so far")
    fb.add_argument("--out", type=Path, default=Path("feedback"))
    fb.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR)
    for command in (grd, exp, fb):
        command.add_argument("--db", help="the gradebook as an SQLAlchemy URL, e.g. postgresql://USER@HOST/DB "
                                          "(default: COURSE_DB_URL, else SQLite in the course folder)")
    sub.add_parser("demo", help="grade the reference solutions and the blank stubs")
    # --- self-check, LMS export, nbgrader layout, late work, similarity: parsing and dispatch in commands.py ---
    commands.add_arguments(sub, grade=grd, export=exp)
    args = parser.parse_args(argv)
    if getattr(args, "db", None):   # every step, nbgrader's own commands included, opens this gradebook
        os.environ[gradebook.ENV] = args.db
        try:
            gradebook.check_reachable(args.db)
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if (handled := commands.run(args)) is not None:
        return handled
    # --- end ---

    if args.command == "generate":
        stale = generate(check=args.check)
        if args.check:
            if stale:
                print("stale exercises (run `python -m autograder generate`): " + ", ".join(stale))
                return 1
            print(f"exercises/ is up to date ({len(topics())} topic(s))")
        else:
            print("regenerated: " + (", ".join(stale) if stale else "nothing (already up to date)"))
        return 0
    if args.command == "grade":
        config = Config.from_env(course_dir=args.course_dir, workers=args.workers, cell_timeout_s=args.cell_timeout,
                                 notebook_timeout_s=args.notebook_timeout, scheduler=args.scheduler)
        try:
            results = grade(args.folder, args.topic, csv_path=args.csv, force=args.force, config=config)
        except distributed.SchedulerUnreachable as error:   # before anything was graded
            print(f"error: {error}", file=sys.stderr)
            return 2
        if args.feedback:
            feedback(results, args.feedback)
        print(f"wrote {args.csv}")
        return 0
    if args.command == "export":
        results = results_from_gradebook(args.course_dir)
        write_csv(results, args.csv)
        print(f"wrote {args.csv}: {len(results)} row(s)")
        return 0
    if args.command == "feedback":
        written = feedback(results_from_gradebook(args.course_dir), args.out)
        print(f"wrote {len(written)} feedback file(s) under {args.out}")
        return 0
    if args.command == "demo":
        demo()
        return 0
    return 2
