"""The class as it really runs: the commands ``cli.main`` adds for students' self-checks, LMS exports, nbgrader's
own folder layout, late work and similarity reports (parsing here, the work in their modules).

    python -m autograder check NOTEBOOK [--topic T]          a student's self-check (selfcheck.py)
    python -m autograder export --format canvas|moodle|csv [--roster roster.csv] [--csv OUT]   (lms.py, late.py)
    python -m autograder similarity SUBMISSIONS [--topic T] [--out similarity.html]          (similarity.py)
    python -m autograder grade COURSE/submitted | EXCHANGE/inbound ...                      (nbgrader_layout.py)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

_KEEP_ALIVE: list = []   # temporary folders that must outlive the command (a staged nbgrader layout)


def add_arguments(sub, grade: argparse.ArgumentParser, export: argparse.ArgumentParser) -> None:
    from autograder.lms import FORMATS

    chk = sub.add_parser("check", help="a student's self-check: run a notebook as the grader will, visible tests "
                                       "only, and say what to fix")
    chk.add_argument("notebook", type=Path)
    chk.add_argument("--topic", help="the exercise (default: the notebook's file name)")
    export.add_argument("--format", choices=FORMATS, default="csv",
                        help="csv: every question (default); canvas / moodle: the LMS's gradebook-import columns")
    export.add_argument("--roster", type=Path, help="CSV mapping student ids to the LMS's (column 'student', then "
                                                    "name, canvas_id, sis_user_id, sis_login_id, section, "
                                                    "first_name, last_name, id_number, email)")
    export.add_argument("--no-feedback", action="store_true", help="moodle: leave out the feedback columns")
    sim = sub.add_parser("similarity", help="compare the solution cells of all submissions (and the reference); "
                                            "write an HTML report of the most similar pairs")
    sim.add_argument("folder", type=Path)
    sim.add_argument("--topic", action="append", help="only this topic (repeatable)")
    sim.add_argument("--out", type=Path, default=Path("similarity.html"))
    sim.add_argument("--top", type=int, default=20, help="pairs listed per topic")
    grade.description = ("FOLDER: <student>/<topic>.ipynb, <student>/<topic>/<topic>.ipynb, an nbgrader course "
                         "or its submitted/ folder, or an exchange's inbound/ folder (nbgrader's timestamp.txt "
                         "is the submission time); due dates and the late policy: autograder/late.toml")


def run(args) -> int | None:
    """Handle the commands this module owns; prepare ``grade`` (then return None: ``cli.main`` goes on)."""
    if getattr(args, "course_dir", None) is not None:
        args.course_dir = Path(args.course_dir).resolve()   # nbgrader runs in autograder/: a relative root breaks
    if args.command == "check":
        from autograder import selfcheck

        return selfcheck.main(args.notebook, args.topic)
    if args.command == "grade":
        from autograder import late, nbgrader_layout
        from autograder.config import Config
        from autograder.course import topics

        solutions_dir = Config.from_env().solutions_dir
        wanted = args.topic or topics(solutions_dir)
        args.folder = nbgrader_layout.stage(args.folder, wanted, _KEEP_ALIVE)
        late.record_due_dates(args.course_dir, wanted, solutions_dir)
        return None
    if args.command in ("export", "feedback"):
        from autograder import late
        from autograder.reports import feedback, results_from_gradebook

        results = late.apply_penalties(results_from_gradebook(args.course_dir), args.course_dir)
        if args.command == "feedback":
            written = feedback(results, args.out)
            print(f"wrote {len(written)} feedback file(s) under {args.out}")
            return 0
        return export(results, args.format, args.csv, args.roster, not args.no_feedback)
    if args.command == "similarity":
        return similarity(args.folder, args.topic, args.out, args.top)
    return None


def export(results, fmt: str, out: Path, roster_path: Path | None, with_feedback: bool = True) -> int:
    from autograder import lms
    from autograder.reports import write_csv

    if fmt == "csv":
        write_csv(results, out)
        print(f"wrote {out}: {len(results)} row(s)")
        return 0
    roster = lms.read_roster(roster_path) if roster_path else None
    if fmt == "canvas":
        unmatched = lms.write_canvas(results, out, roster)
    else:
        unmatched = lms.write_moodle(results, out, roster, with_feedback)
    print(f"wrote {out} ({fmt} gradebook import)")
    if unmatched:
        print(f"not in the roster, left out: {', '.join(unmatched)}", file=sys.stderr)
    return 0


def similarity(folder: Path, wanted: list[str] | None, out: Path, top: int) -> int:
    from autograder import nbgrader_layout
    from autograder import similarity as sim
    from autograder.config import Config
    from autograder.course import topics
    from autograder.pipeline import collect_submissions

    config = Config.from_env()
    wanted = wanted or topics(config.solutions_dir)
    keep: list = []
    folder = nbgrader_layout.stage(folder, wanted, keep)
    by_topic = sim.report(collect_submissions(folder, wanted), wanted, config.exercises_dir, config.solutions_dir,
                          out, top)
    for topic, pairs in by_topic.items():
        flagged = [p for p in pairs if p.score >= sim.FLAG_AT]
        print(f"[{topic}] {len(pairs)} pair(s) compared, {len(flagged)} at or above {sim.FLAG_AT:.0%}"
              + "".join(f"\n  {p.score:4.0%}  {p.a} / {p.b}" for p in pairs[:3]))
    print(f"wrote {out}")
    return 0
