"""Print the course's timings: book build, each chapter's execution, autograde per submission, attention cost.

    .venv/bin/python benchmarks/run.py [--skip-book] [--skip-grading]

Targets (2 CPU cores): every chapter executes in < 60 s; one submission autogrades in < 15 s.
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
import nbformat
import torch
import torch.nn.functional as F
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import cli  # noqa: E402
from coursetools import get_device, peak_memory_bytes, time_call  # noqa: E402

CHAPTER_TARGET_S = 60
GRADE_TARGET_S = 15


def chapters() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return [ROOT / f"{f}.md" for f in files]


def time_book_build() -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT), "--path-output", out,
                        "-W", "-n", "--keep-going", "--quiet"], check=True, capture_output=True)
        return time.perf_counter() - start


def time_chapter(path: Path) -> float:
    nb = jupytext.read(path)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def time_grading(topic: str, copies: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(copies):
            (Path(tmp) / f"student{i:02d}").mkdir()
            shutil.copyfile(ROOT / "solutions" / f"{topic}.ipynb", Path(tmp) / f"student{i:02d}" / f"{topic}.ipynb")
        course = Path(tmp) / "course"
        cli.release_assignment(topic, course)  # generate once, outside the timing
        start = time.perf_counter()
        cli.grade(Path(tmp), [topic], course_dir=course, log=lambda *_: None)
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
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {get_device()}")
    if not args.skip_book:
        print(f"\nbook build (every cell executed, -W -n): {time_book_build():.1f} s")
        print(f"\n{'chapter':<32} {'execute s':>10}  target < {CHAPTER_TARGET_S} s")
        for path in chapters():
            seconds = time_chapter(path)
            flag = "ok" if seconds < CHAPTER_TARGET_S else "SLOW"
            print(f"{path.relative_to(ROOT).as_posix():<32} {seconds:>10.1f}  {flag}")
    if not args.skip_grading:
        print(f"\n{'autograde (nbgrader)':<32} {'1 sub s':>8} {'4 subs s':>9} {'per extra sub s':>16}  "
              f"target < {GRADE_TARGET_S} s")
        for topic in cli.topics():
            one, four = time_grading(topic, 1), time_grading(topic, 4)
            flag = "ok" if one < GRADE_TARGET_S else "SLOW"
            print(f"{topic:<32} {one:>8.1f} {four:>9.1f} {(four - one) / 3:>16.1f}  {flag}")
    attention_cost_table()


if __name__ == "__main__":
    main()
