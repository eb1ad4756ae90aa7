"""A chapter's downloaded notebook and an exercise opened alone (Colab, a JupyterHub, a laptop) run there: they start
by installing the course package when it is missing, and link to the course website, not to relative paths."""
import builtins
import re
import shutil

import nbformat
import pytest

from autograder import cli, portable
from autograder.reference import REPO_ROOT, SOLUTIONS_DIR

TOPICS = cli.topics()
RELATIVE_BOOK_LINK = re.compile(r"\]\((\.\./)+book/")


def run_install_cell(source: str, importable: bool) -> list:
    """Execute the install cell with `import coursetools` working or failing; return the commands it ran."""
    import subprocess
    ran = []
    real_import, real_run = builtins.__import__, subprocess.run

    def fake_import(name, *args, **kwargs):
        if name == "coursetools" and not importable:
            raise ImportError("No module named 'coursetools'")
        return real_import(name, *args, **kwargs)

    builtins.__import__, subprocess.run = fake_import, lambda cmd, **kw: ran.append(cmd)
    try:
        exec(compile(source, "<install cell>", "exec"), {})
    finally:
        builtins.__import__, subprocess.run = real_import, real_run
    return ran


def test_install_cell_does_nothing_where_the_package_imports():
    assert run_install_cell(portable.install_source(), importable=True) == []   # pip never started (no network)


def test_install_cell_installs_the_repository_where_the_package_is_missing():
    (command,) = run_install_cell(portable.install_source(), importable=False)
    assert command[1:4] == ["-m", "pip", "install"]
    assert command[-1] == f"git+{portable.repository_url()}"
    assert portable.repository_url().startswith("https://")


@pytest.mark.parametrize("topic", TOPICS)
def test_exercise_starts_with_the_locked_install_cell(topic):
    nb = nbformat.read(cli.EXERCISES_DIR / f"{topic}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    meta = code[0].metadata.get("nbgrader", {})
    assert code[0].source == portable.install_source(), "run `python -m autograder.portable`, then generate"
    assert meta.get("grade_id") == portable.INSTALL_ID and meta.get("locked") and not meta.get("grade")
    assert not meta.get("solution")


@pytest.mark.parametrize("topic", TOPICS)
def test_exercise_links_the_website_and_colab_not_relative_paths(topic):
    nb = nbformat.read(cli.EXERCISES_DIR / f"{topic}.ipynb", as_version=4)
    intro = nb.cells[0].source
    assert f"]({portable.chapter_url(topic)})" in intro
    assert f"]({portable.colab_url(topic)})" in intro and "colab.research.google.com" in portable.colab_url(topic)
    relative = [c.source for c in nb.cells if c.cell_type == "markdown" and RELATIVE_BOOK_LINK.search(c.source)]
    assert not relative, f"links that break once the notebook is downloaded: {relative}"


@pytest.mark.parametrize("topic", TOPICS)
def test_chapter_starts_with_the_install_cell(topic):
    text = (REPO_ROOT / "book" / f"{topic}.md").read_text()
    first = text.index("```{code-cell}")
    assert text[first:].startswith(portable.chapter_install_block(topic)), "run `python -m autograder.portable`"
    assert portable.chapter_url(topic) in portable.chapter_install_block(topic)


def test_the_tool_is_idempotent_and_keeps_other_cells(tmp_path):
    topic = TOPICS[0]
    notebook = tmp_path / f"{topic}.ipynb"
    shutil.copyfile(SOLUTIONS_DIR / f"{topic}.ipynb", notebook)
    chapter = tmp_path / f"{topic}.md"
    shutil.copyfile(REPO_ROOT / "book" / f"{topic}.md", chapter)
    assert not portable.make_exercise_portable(notebook) and not portable.make_chapter_portable(chapter)
    # an older notebook: relative link, no install cell
    nb = nbformat.read(notebook, as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != portable.INSTALL_ID]
    nb.cells[0].source = nb.cells[0].source.replace(portable.chapter_url(topic), f"../book/{topic}.md")
    others = [c.source for c in nb.cells[1:]]
    nbformat.write(nb, notebook)
    assert portable.make_exercise_portable(notebook)
    nb = nbformat.read(notebook, as_version=4)
    assert portable.install_cell(nb) is nb.cells[1]
    assert portable.chapter_url(topic) in nb.cells[0].source
    assert [c.source for c in nb.cells[2:]] == [portable.site_links(s) for s in others]
