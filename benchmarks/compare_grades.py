"""Same submissions, same solutions, the grader of an older commit and this one: are the CSVs identical?

    .venv/bin/python benchmarks/compare_grades.py [--commit 7a3a8be] [--topics attention masking vit]

Checks out ``--commit`` as a git worktree (``before``), copies it to ``after`` with this checkout's ``autograder/``
put in its place, and grades in both the same submissions built from the old commit's files: each topic's
reference, its student stub and its first three planted bugs, plus every fourth hostile notebook of attention
(honest right and wrong answers included). Prints the differences between the two CSVs (none: the refactoring
changed no grade) and exits 1 if there are any. Takes a few minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

BUILD = textwrap.dedent("""
    import shutil, sys
    from pathlib import Path
    import nbformat
    from tests.hostile_corpus import write_corpus
    from tests.planted_bugs import PLANTED_BUGS, apply_bug
    root, topics = Path(sys.argv[1]), sys.argv[2:]
    for topic in topics:
        solution = nbformat.read(f"solutions/{topic}.ipynb", as_version=4)
        notebooks = {"reference": solution, "stub": nbformat.read(f"exercises/{topic}.ipynb", as_version=4)}
        notebooks.update({f"bug-{bug.name}": apply_bug(solution, bug) for bug in PLANTED_BUGS[topic][:3]})
        for student, nb in notebooks.items():
            (root / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, root / student / f"{topic}.ipynb")
    if "attention" in topics:
        corpus = root.parent / "corpus"
        names = write_corpus(corpus, topic="attention")
        keep = ["honest-wrong-answer", "honest-right-answer"] + sorted(names)[::4]
        for name in keep:
            shutil.copytree(corpus / name, root / name, dirs_exist_ok=True)
""")

GRADE_BEFORE = ("import sys; from pathlib import Path; from autograder import cli; cli.CELL_TIMEOUT_S = 20; "
                "cli.grade(Path(sys.argv[1]), sys.argv[4:], course_dir=Path(sys.argv[2]), csv_path=Path(sys.argv[3]), "
                "log=lambda *a: None)")
GRADE_AFTER = ("import sys; from pathlib import Path; from autograder.config import Config; "
               "from autograder.pipeline import grade; "
               "grade(Path(sys.argv[1]), sys.argv[4:], csv_path=Path(sys.argv[3]), log=lambda *a: None, "
               "config=Config.from_env(course_dir=Path(sys.argv[2]), cell_timeout_s=20))")


def run(code: str, tree: Path, *args) -> None:
    env = {"PATH": f"{Path(PYTHON).parent}:/usr/bin:/bin", "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1",
           "MPLBACKEND": "Agg", "HOME": str(tree.parent)}
    subprocess.run([PYTHON, "-c", code, *map(str, args)], cwd=tree, env=env, check=True)


def rows(path: Path) -> dict[tuple[str, str], dict]:
    """The CSV's rows by (student, assignment); a kernel's folder has a random name, here ``FOLDER``."""
    with path.open() as handle:
        return {(r["student"], r["assignment"]): {k: re.sub(r"course-sandbox-\w+", "FOLDER", v) for k, v in r.items()}
                for r in csv.DictReader(handle)}


def _reasons(row: dict) -> dict[str, str]:
    return dict(part.split(": ", 1) for part in row["reasons"].split("; ") if ": " in part)


def describe(key, old: dict, new: dict) -> str:
    """What differs for one submission: its scores, then each reason that changed."""
    lines = [f"{key}:"]
    lines += [f"  {field}: {old[field]!r} -> {new[field]!r}" for field in old if field != "reasons"
              and old[field] != new.get(field)]
    before, after = _reasons(old), _reasons(new)
    lines += [f"  reason {part}: {before.get(part)!r} -> {after.get(part)!r}" for part in before | after
              if before.get(part) != after.get(part)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", default="7a3a8be")
    parser.add_argument("--topics", nargs="+", default=["attention", "masking", "vit"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/grader-compare"))
    args = parser.parse_args()
    work = args.work
    before, after = work / "before", work / "after"
    if work.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO_ROOT, capture_output=True)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    subprocess.run(["git", "worktree", "add", "--detach", str(before), args.commit], cwd=REPO_ROOT, check=True,
                   capture_output=True)
    try:
        shutil.copytree(before, after, ignore=shutil.ignore_patterns(".git"))
        shutil.rmtree(after / "autograder")
        shutil.copytree(REPO_ROOT / "autograder", after / "autograder",
                        ignore=shutil.ignore_patterns("course", "__pycache__"))
        run(BUILD, before, work / "submissions", *args.topics)
        split = (before / "autograder" / "pipeline.py").exists()   # a commit after the autograder's split
        run(GRADE_AFTER if split else GRADE_BEFORE, before, work / "submissions", work / "course-before",
            work / "before.csv", *args.topics)
        run(GRADE_AFTER, after, work / "submissions", work / "course-after", work / "after.csv", *args.topics)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO_ROOT, capture_output=True)
    old, new = rows(work / "before.csv"), rows(work / "after.csv")
    differences = [f"{key}: only {'before' if key in old else 'after'}" for key in old.keys() ^ new.keys()]
    differences += [describe(key, old[key], new[key]) for key in sorted(old.keys() & new.keys())
                    if old[key] != new[key]]
    print(f"{len(old)} submissions graded by {args.commit} and by this checkout, topics {', '.join(args.topics)}")
    print("\n".join(differences) if differences else "identical CSVs: every score and every reason is the same")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
