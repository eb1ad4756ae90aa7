"""What lets a chapter's downloaded notebook or an exercise run outside this repository: a first code cell that
installs the course package when it is missing, and links to the course website instead of relative paths.

    python -m autograder.portable      # (re)writes that cell and those links in book/*.md and solutions/*.ipynb

Then ``python -m autograder generate`` carries them into exercises/.  The site and repository URLs come from
``_config.yml`` (``html.baseurl``, ``repository.url``); tests/test_portable.py checks every notebook is current.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml

from autograder.reference import REPO_ROOT, SOLUTIONS_DIR

INSTALL_ID = "install"   # nbgrader grade_id of the exercises' install cell (locked, not graded)
CHAPTER_TAG = "remove-cell"   # the chapters' install cell is in the downloaded .ipynb, not on the page


def config() -> dict:
    return yaml.safe_load((REPO_ROOT / "_config.yml").read_text())


def site_url() -> str:
    """The course website, with a trailing slash (``html.baseurl`` of _config.yml)."""
    url = (config().get("html") or {}).get("baseurl") or ""
    return url if not url or url.endswith("/") else url + "/"


def repository_url() -> str:
    return ((config().get("repository") or {}).get("url") or "").rstrip("/")


def chapter_url(topic: str) -> str:
    return f"{site_url()}book/{topic}.html"


def colab_url(topic: str) -> str:
    """Open exercises/<topic>.ipynb from the repository in Colab ("" when no GitHub repository is set)."""
    match = re.match(r"https://github\.com/([^/]+/[^/]+)$", repository_url())
    if not match:
        return ""
    branch = (config().get("repository") or {}).get("branch") or "main"
    return f"https://colab.research.google.com/github/{match[1]}/blob/{branch}/exercises/{topic}.ipynb"


def install_source(page: str = "") -> str:
    """The install cell: plain Python (it also runs in the grader), a no-op wherever ``coursetools`` imports,
    so pip is never even started there (the grading sandbox has no network)."""
    about = f"# This notebook online: {page}\n" if page else ""
    return (f"{about}# Installs the course package when it is missing (Colab, a JupyterHub, a laptop).\n"
            "try:\n"
            "    import coursetools  # noqa: F401\n"
            "except ImportError:\n"
            "    import subprocess\n"
            "    import sys\n"
            "\n"
            f'    url = "git+{repository_url()}"\n'
            '    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", url], check=True)\n')


def site_links(markdown: str) -> str:
    """``[text](../book/<page>.md)`` → the page on the course website (a relative link breaks after download)."""
    return re.sub(r"\]\(\.\./book/([\w-]+)\.md(#[\w-]+)?\)",
                  lambda m: f"]({site_url()}book/{m[1]}.html{m[2] or ''})", markdown)


def intro_with_links(intro: str, topic: str) -> str:
    """The exercise's intro: the chapter on the website, its path in the repository, an Open-in-Colab link."""
    intro = site_links(intro)
    intro = re.sub(r"\(`book/([\w-]+)\.md` in the course repository; on the course website, the page \*[^*]+\*\)",
                   r"(`book/\1.md` in the course repository)", intro)
    colab = colab_url(topic)
    line = f"[Open this notebook in Colab]({colab})"
    if colab and line not in intro:
        intro = re.sub(r"(Read the chapter first[^\n]*)", rf"\1\n{line}.", intro, count=1)
    return intro


def install_cell(nb) -> nbformat.NotebookNode | None:
    return next((c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == INSTALL_ID), None)


def make_exercise_portable(path: Path) -> bool:
    """Add or update the install cell (right after the intro) and the site links; re-read just before writing so
    that concurrent edits of other cells survive.  Returns whether the file changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb) + "\n"   # as nbformat.write leaves it on disk
    topic = path.stem
    cell = install_cell(nb)
    if cell is None:
        cell = nbformat.v4.new_code_cell(install_source())
        cell.metadata["nbgrader"] = {"grade": False, "grade_id": INSTALL_ID, "locked": True, "schema_version": 3,
                                     "solution": False, "task": False}
        cell.id = INSTALL_ID
        nb.cells.insert(1, cell)
    cell.source = install_source()
    nb.cells[0].source = intro_with_links(nb.cells[0].source, topic)
    for other in nb.cells[1:]:
        if other.cell_type == "markdown":
            other.source = site_links(other.source)
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after)
    return after != before


CHAPTER_CELL = re.compile(r"```\{code-cell\} ipython3\n---\ntags: \[" + CHAPTER_TAG + r"\]\n---\n# This notebook "
                          r"online:.*?\n```\n\n", re.S)


def chapter_install_block(topic: str) -> str:
    return f"```{{code-cell}} ipython3\n---\ntags: [{CHAPTER_TAG}]\n---\n{install_source(chapter_url(topic))}```\n\n"


def make_chapter_portable(path: Path) -> bool:
    """Put the install cell just before the chapter's first code cell (replacing an older one)."""
    text = path.read_text()
    new = CHAPTER_CELL.sub("", text)
    first = new.find("```{code-cell}")
    if first < 0:
        return False
    new = new[:first] + chapter_install_block(path.stem) + new[first:]
    if new != text:
        path.write_text(new)
    return new != text


def main() -> None:
    for path in sorted(SOLUTIONS_DIR.glob("*.ipynb")):
        if make_exercise_portable(path):
            print("updated", path.relative_to(REPO_ROOT))
        chapter = REPO_ROOT / "book" / f"{path.stem}.md"
        if chapter.exists() and make_chapter_portable(chapter):
            print("updated", chapter.relative_to(REPO_ROOT))


if __name__ == "__main__":
    main()
