"""Print the course's timings: full book build and prose-edit rebuild, each chapter's execution, autograde per
submission, attention cost.

    .venv/bin/python benchmarks/run.py [--skip-book] [--skip-grading] [--keep-book DIR]

Targets (2 CPU cores): a prose-only edit rebuilds in <= 30 s; every chapter executes in < 60 s; one submission
autogrades in < 15 s.
Numbers are printed, never asserted: speed lives here, not in timed tests.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import torch
import torch.nn.functional as F
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import nbgrader_steps as steps  # noqa: E402
from autograder.course import topics  # noqa: E402
from autograder.pipeline import grade  # noqa: E402
from coursetools import get_device, peak_memory_bytes, time_call  # noqa: E402

CHAPTER_TARGET_S = 60
GRADE_TARGET_S = 15
REBUILD_TARGET_S = 30


def chapters() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return [ROOT / f"{f}.md" for f in files]


def clean_checkout(target: Path) -> Path:
    """Copy what a clean clone holds (tracked and new files, nothing ignored) plus the vendored JS to ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "_vendor", target / "_vendor")
    return target


def build(book: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(book), "-W", "-n",
                           "--keep-going"], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def time_book_builds(out: Path | None) -> tuple[float, float]:
    """(full build, rebuild after a prose-only edit) of a clean checkout, in seconds. The full build starts
    without an execution cache, so every cell runs; the rebuild re-executes nothing (jupyter-cache: the code did
    not change) and re-renders the edited page. With ``out`` the checkout stays there, built as the repository is
    (the edit undone and rebuilt), e.g. for ``COURSE_SITE=<out>/_build/html pytest tests/test_book.py``."""
    if out and out.exists():
        raise SystemExit(f"{out} exists: give a new folder")
    with tempfile.TemporaryDirectory() as tmp:
        book = clean_checkout(out or Path(tmp) / "book")
        full = build(book)
        chapter = book / "book" / "attention.md"
        original = chapter.read_text()
        chapter.write_text(original + "\nA sentence added to time a prose-only rebuild.\n")
        rebuild = build(book)
        if out:
            chapter.write_text(original)
            build(book)
        return full, rebuild


def time_chapter(path: Path) -> float:
    nb = jupytext.read(path, fmt="md:myst")
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def time_grading(topic: str, copies: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(copies):
            (Path(tmp) / f"student{i:02d}").mkdir()
            shutil.copyfile(ROOT / "solutions" / f"{topic}.ipynb", Path(tmp) / f"student{i:02d}" / f"{topic}.ipynb")
        course = Path(tmp) / "course"
        steps.release_assignment(topic, course)  # generate once, outside the timing
        start = time.perf_counter()
        grade(Path(tmp), [topic], course_dir=course, log=lambda *_: None)
        return time.perf_counter() - start


def attention_cost_table() -> None:
    device = get_device()
    d = 64
    print(f"\nattention cost on {device} (B=1, h=1, d={d}, float32): naive softmax(QK^T/sqrt(d))V vs "
          f"F.scaled_dot_product_attention")
    print(f"{'n':>6} {'naive ms':>10} {'sdpa ms':>10} {'naive MB':>10} {'sdpa MB':>10}")
    for n in (256, 512, 1024, 2048, 4096):
        q = torch.randn(1, 1, n, d, device=device)

        def naive():
            return torch.softmax(q @ q.transpose(-2, -1) / d ** 0.5, dim=-1) @ q

        def fused():
            return F.scaled_dot_product_attention(q, q, q)

        t_naive, t_fused = time_call(naive, device=device), time_call(fused, device=device)
        m_naive, m_fused = peak_memory_bytes(naive, device), peak_memory_bytes(fused, device)
        print(f"{n:>6} {t_naive * 1e3:>10.2f} {t_fused * 1e3:>10.2f} {m_naive / 2**20:>10.1f} {m_fused / 2**20:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-book", action="store_true")
    parser.add_argument("--skip-grading", action="store_true")
    parser.add_argument("--keep-book", type=Path, metavar="DIR",
                        help="build the book in DIR (a clean checkout) and keep it")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {get_device()}")
    if not args.skip_book:
        full, rebuild = time_book_builds(args.keep_book)
        print(f"\nbook build, every cell executed (-W -n): {full:.1f} s")
        print(f"rebuild after a prose-only edit:        {rebuild:.1f} s  target <= {REBUILD_TARGET_S} s")
        print(f"\n{'chapter':<32} {'execute s':>10}  target < {CHAPTER_TARGET_S} s")
        for path in chapters():
            seconds = time_chapter(path)
            flag = "ok" if seconds < CHAPTER_TARGET_S else "SLOW"
            print(f"{path.relative_to(ROOT).as_posix():<32} {seconds:>10.1f}  {flag}")
    if not args.skip_grading:
        print(f"\n{'autograde (nbgrader)':<32} {'1 sub s':>8} {'4 subs s':>9} {'per extra sub s':>16}  "
              f"target < {GRADE_TARGET_S} s")
        for topic in topics():
            one, four = time_grading(topic, 1), time_grading(topic, 4)
            flag = "ok" if one < GRADE_TARGET_S else "SLOW"
            print(f"{topic:<32} {one:>8.1f} {four:>9.1f} {(four - one) / 3:>16.1f}  {flag}")
    attention_cost_table()


if __name__ == "__main__":
    main()
