"""Similarity report: the solution cells of every submission of a topic compared pairwise, and with the reference.

    python -m autograder similarity SUBMISSIONS [--topic T] [--out similarity.html]

Comparison by copydetect (winnowed fingerprints of the tokenised code: variable, function and object names and
strings are replaced by placeholders, so renaming changes nothing and reordering functions changes little); the
generated stub's solution cells (signatures, docstrings, ``raise NotImplementedError()``) are boilerplate and never
count as shared.  The published reference solution takes part as ``[reference]``: a submission close to it is
listed like a near-copy of another student's.  The report is one self-contained HTML file (no CDN), pairs sorted by
similarity; it is a lead for a human to read, never a verdict.
"""
from __future__ import annotations

import html
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

REFERENCE = "[reference]"
NOISE_T = 25        # copydetect's defaults: matches shorter than this (filtered characters) are noise,
GUARANTEE_T = 30    # and one this long is always found
FLAG_AT = 0.5       # pairs at least this similar (both ways, on average) are marked in the report


@dataclass
class Pair:
    topic: str
    a: str
    b: str
    a_in_b: float       # share of a's code found in b
    b_in_a: float
    a_html: str = ""    # the code with the shared parts highlighted
    b_html: str = ""

    @property
    def score(self) -> float:
        return (self.a_in_b + self.b_in_a) / 2


def solution_code(notebook: Path) -> str:
    """The source of the solution cells (nbgrader ``solution: true``) of a notebook; '' if it cannot be read."""
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # noqa: BLE001 -- an unreadable submission has no code to compare
        return ""
    return "\n\n".join(c.source for c in nb.cells
                       if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))


def compare(topic: str, codes: dict[str, str], boilerplate: str = "") -> list[Pair]:
    """Every pair of ``codes`` ({name: code}), most similar first."""
    from copydetect import CodeFingerprint, compare_files
    from copydetect.utils import highlight_overlap

    names = sorted(n for n, code in codes.items() if code.strip())
    window = GUARANTEE_T - NOISE_T + 1
    def fingerprint(code, boiler=None, win_size=window):   # the ".py" name picks copydetect's Python tokenizer
        return CodeFingerprint("code.py", NOISE_T, win_size, boilerplate=boiler, fp=io.StringIO(code))

    # every k-gram of the boilerplate, as copydetect's own CopyDetector collects it
    boiler = np.unique(np.array(sorted(fingerprint(boilerplate, win_size=1).hashes))) if boilerplate.strip() else []
    prints = {n: fingerprint(codes[n], boiler) for n in names}
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            _, (a_in_b, b_in_a), (slices_a, slices_b) = compare_files(prints[a], prints[b])
            with warnings.catch_warnings():   # "empty slices array": nothing shared
                warnings.simplefilter("ignore")
                a_html, _ = highlight_overlap(prints[a].raw_code, slices_a, "<mark>", "</mark>", escape_html=True)
                b_html, _ = highlight_overlap(prints[b].raw_code, slices_b, "<mark>", "</mark>", escape_html=True)
            pairs.append(Pair(topic, a, b, float(a_in_b), float(b_in_a), a_html, b_html))
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def report(submissions: dict[tuple[str, str], Path], topics: list[str], exercises_dir: Path, solutions_dir: Path,
           out: Path, top: int = 20) -> dict[str, list[Pair]]:
    """Compare the submissions ({(student, topic): notebook}) of each topic with each other and with the reference;
    write the HTML report to ``out``; return {topic: pairs, most similar first}."""
    by_topic = {}
    for topic in topics:
        codes = {student: solution_code(nb) for (student, t), nb in submissions.items() if t == topic}
        if not codes:
            continue
        reference = solutions_dir / f"{topic}.ipynb"
        if reference.exists():
            codes[REFERENCE] = solution_code(reference)
        stub = exercises_dir / f"{topic}.ipynb"
        by_topic[topic] = compare(topic, codes, solution_code(stub) if stub.exists() else "")
    write_html(by_topic, out, top)
    return by_topic


def write_html(by_topic: dict[str, list[Pair]], out: Path, top: int = 20) -> None:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Similarity report</title><style>",
             "body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} td,th{border:1px solid #ccc;"
             "padding:.3em .6em} .flag{background:#fdd} pre{background:#f7f7f7;padding:.5em;overflow:auto;"
             "font-size:85%} mark{background:#fc6} .code{display:flex;gap:1em} .code>div{flex:1;min-width:0}",
             "</style></head><body><h1>Similarity of the solution cells</h1>",
             f"<p>copydetect {NOISE_T}/{GUARANTEE_T} (noise/guarantee thresholds, filtered characters); the stub's "
             f"code is boilerplate. Pairs at or above {FLAG_AT:.0%} are marked. Shared code is highlighted. A high "
             f"score is a reason to read two answers side by side, not proof of copying.</p>"]
    for topic, pairs in by_topic.items():
        parts.append(f"<h2>{esc(topic)}</h2><table><tr><th>#</th><th>submission</th><th>submission</th>"
                     "<th>similarity</th><th>first in second</th><th>second in first</th></tr>")
        for rank, p in enumerate(pairs[:top], 1):
            flagged = p.score >= FLAG_AT   # only flagged pairs get their code shown below
            number = f"<a href='#{esc(topic)}-{rank}'>{rank}</a>" if flagged else str(rank)
            parts.append(f"<tr{' class=' + repr('flag') if flagged else ''}><td>{number}</td><td>{esc(p.a)}</td>"
                         f"<td>{esc(p.b)}</td><td>{p.score:.0%}</td><td>{p.a_in_b:.0%}</td><td>{p.b_in_a:.0%}</td>"
                         "</tr>")
        parts.append("</table>")
        for rank, p in enumerate(pairs[:top], 1):
            if p.score < FLAG_AT:
                break
            parts.append(f"<h3 id='{esc(topic)}-{rank}'>{rank}. {esc(p.a)} / {esc(p.b)}: {p.score:.0%}</h3>"
                         f"<div class='code'><div><pre>{p.a_html}</pre></div><div><pre>{p.b_html}</pre></div></div>")
    parts.append("</body></html>")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts), encoding="utf-8")
