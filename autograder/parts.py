"""What each exercise is made of: its parts, their points, difficulty and time, and which parts the chapter prints.

A *part* is one solution cell of ``solutions/<topic>.ipynb`` with the graded test cells that follow it (up to the
next solution cell). Its task text is the markdown cell above it, whose heading carries the difficulty and the
expected time, e.g. ``## 3. Grouped-query attention (★★, 20 min)``.

A part is *printed by the chapter* when the chapter (``book/<topic>.md``: its code cells and the course-package code
it shows with ``literalinclude``) defines one of the part's graded functions or classes, under the same name or
under another one with similar code (``SIMILAR``, token-sequence similarity without docstrings): a student could
copy it.
The course's rule (issue "Exercises that measure understanding"): at least 40% of every exercise's points come from
parts the chapter does not print.

A part whose solution cell carries ``metadata.course.stub`` is a *find and fix the bug* part: the student notebook
gets that (buggy) code instead of ``raise NotImplementedError()``
(:class:`autograder.stubs.ClearSolutionsWithGivenCode`).
"""
from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.reference import REPO_ROOT, SOLUTIONS_DIR

MIN_UNPRINTED_SHARE = 0.40
SIMILAR = 0.5  # measured: the chapter's versions of graded code score 0.51-0.93, unrelated pairs below 0.4
DIFFICULTY = re.compile(r"\((★{1,3}),\s*(\d+)\s*min\)")


@dataclass
class Part:
    topic: str
    grade_id: str                      # of the solution cell
    title: str                         # the task's heading, without number and difficulty
    names: tuple[str, ...]             # functions and classes the solution cell defines
    tests: dict[str, float] = field(default_factory=dict)   # graded test cell -> points
    visible: tuple[str, ...] = ()      # the test cells without hidden tests
    stars: int = 0
    minutes: int = 0
    printed: bool = False              # the chapter defines one of ``names``
    fix_the_bug: bool = False          # the student gets buggy code to fix (metadata.course.stub)

    @property
    def points(self) -> float:
        return sum(self.tests.values())


def _definitions(source: str) -> dict[str, list[str]]:
    """{name: its code as tokens (docstrings and comments dropped)} for each top-level function and class."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found = {}
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for inner in ast.walk(node):
            body = getattr(inner, "body", None)
            if (isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                inner.body = body[1:] or [ast.Pass()]
        tokens = tokenize.generate_tokens(io.StringIO(ast.unparse(node)).readline)
        found[node.name] = [t.string for t in tokens if t.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER)]
    return found


def _defined_names(source: str) -> set[str]:
    return set(_definitions(source))


def similarity(a: list[str], b: list[str]) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _heading(markdown: str) -> tuple[str, int, int]:
    first = next((line for line in markdown.splitlines() if line.startswith("#")), "")
    found = DIFFICULTY.search(first)
    title = DIFFICULTY.sub("", first).lstrip("#").strip()
    title = re.sub(r"^\d+\.\s*", "", title)
    return title, (len(found.group(1)) if found else 0), (int(found.group(2)) if found else 0)


_CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)
_CELL_OPTIONS = re.compile(r"\A---\n.*?\n---\n", re.S)
_LITERALINCLUDE = re.compile(r"^```\{literalinclude\}\s+(\S+)\n((?::[^\n]*\n)*)", re.M)


def chapter_definitions(topic: str, chapter: Path | None = None) -> dict[str, list[str]]:
    """{name: tokens} of the top-level functions and classes the chapter shows: in its code cells and in what it
    literal-includes."""
    chapter = chapter or REPO_ROOT / "book" / f"{topic}.md"
    text = chapter.read_text()
    found = {}
    for block in _CODE_CELL.findall(text):
        block = _CELL_OPTIONS.sub("", block)  # a cell's YAML options block (``---`` ... ``---``) is not code
        found |= _definitions("\n".join(line for line in block.splitlines() if not line.startswith(("%", "!", ":"))))
    for target, options in _LITERALINCLUDE.findall(text):
        included = _definitions((chapter.parent / target).read_text())
        pyobject = re.search(r":pyobject:\s*(\S+)", options)
        if pyobject:
            wanted = pyobject.group(1).split(".")[0]
            included = {name: tokens for name, tokens in included.items() if name == wanted}
        found |= included
    return found


def printed_by_chapter(solution_source: str, shown: dict[str, list[str]]) -> bool:
    """Whether the chapter shows one of the definitions of a solution cell (same name, or similar code)."""
    code = solution_source.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "")
    for name, tokens in _definitions(code).items():
        if name in shown or any(similarity(tokens, other) >= SIMILAR for other in shown.values()):
            return True
    return False


def parts(topic: str, solutions_dir: Path = SOLUTIONS_DIR) -> list[Part]:
    nb = nbformat.read(solutions_dir / f"{topic}.ipynb", as_version=4)
    shown = chapter_definitions(topic)
    found: list[Part] = []
    last_markdown = ""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            last_markdown = cell.source
        elif meta.get("solution"):
            title, stars, minutes = _heading(last_markdown)
            names = tuple(sorted(_defined_names(cell.source)))
            found.append(Part(topic, meta["grade_id"], title, names, stars=stars, minutes=minutes,
                              printed=printed_by_chapter(cell.source, shown),
                              fix_the_bug="stub" in cell.metadata.get("course", {})))
        elif meta.get("grade") and found:
            found[-1].tests[meta["grade_id"]] = float(meta.get("points", 0))
            if "BEGIN HIDDEN TESTS" not in cell.source:
                found[-1].visible += (meta["grade_id"],)
    return found


def unprinted_share(topic: str) -> float:
    found = parts(topic)
    total = sum(p.points for p in found)
    return sum(p.points for p in found if not p.printed) / total if total else 0.0


def summary_rows(topics: list[str]) -> list[str]:
    """The README's table: per exercise, points, points from parts the chapter does not print, difficulty/time."""
    rows = ["| topic | points | from parts the chapter does not print | parts (difficulty, minutes; *not printed*, "
            "🐞 find and fix the bug) |", "|---|---|---|---|"]
    for topic in topics:
        found = parts(topic)
        total = sum(p.points for p in found)
        unprinted = sum(p.points for p in found if not p.printed)
        cells = []
        for p in found:
            label = f"{p.title} ({'★' * p.stars}, {p.minutes} min)"
            label = f"*{label}*" if not p.printed else label
            cells.append(("🐞 " if p.fix_the_bug else "") + label)
        rows.append(f"| {topic} | {total:g} | {unprinted:g} ({unprinted / total:.0%}) | {'; '.join(cells)} |")
    return rows
