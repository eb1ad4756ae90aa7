"""`pip install <this repository>` brings everything a chapter or an exercise needs: the course package declares its
runtime dependencies, pinned as in requirements.txt, and a chapter and an exercise run in a fresh environment that
holds nothing but that install, away from the repository."""
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import jupytext
import nbformat
import pytest
import tomllib

from autograder.reference import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
STDLIB = set(sys.stdlib_module_names)
IMPORT = re.compile(r"^\s*(?:from\s+([A-Za-z_]\w*)[\w.]*\s+import\b|import\s+([A-Za-z_]\w*))", re.M)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines) -> dict[str, str]:
    """{canonical name: version} of ``name==version`` lines (comments and blank lines skipped)."""
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
            assert match, f"not an exact pin: {line!r}"
            found[canonical(match[1])] = match[2]
    return found


def declared() -> dict[str, str]:
    return pins(PYPROJECT["project"]["dependencies"])


def imported_modules() -> set[str]:
    """Top-level modules that the course package, the chapters and the exercises import."""
    sources = [p.read_text() for p in (REPO_ROOT / "coursetools").glob("*.py")]
    for path in (REPO_ROOT / "book").glob("*.md"):
        sources += re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", path.read_text(), re.S | re.M)
    for path in (REPO_ROOT / "exercises").glob("*.ipynb"):
        sources += [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    found = set()
    for source in sources:
        for names in IMPORT.findall(source):
            found |= set(filter(None, names))
    return found - STDLIB - {"coursetools", "__future__", "myst_nb"}   # myst_nb: the book's build tool (glue)


def test_runtime_dependencies_are_pinned_as_in_requirements():
    required = pins((REPO_ROOT / "requirements.txt").read_text().splitlines())
    assert declared(), "pyproject.toml declares no runtime dependencies"
    for name, version in declared().items():
        assert required.get(name) == version, f"{name}=={version} in pyproject.toml, {required.get(name)} pinned"


def test_every_imported_package_is_declared():
    distributions = metadata.packages_distributions()
    missing = {}
    for module in sorted(imported_modules()):
        owners = {canonical(d) for d in distributions.get(module, [])}
        assert owners, f"{module} is imported but not installed"
        if not owners & set(declared()):
            missing[module] = sorted(owners)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_opening_a_notebook_builds_no_iri_parser():
    """Every grading worker, the nbgrader server and every `python -m autograder` command import nbformat, and with
    it jsonschema's format checkers: none of them may pull in rfc3987-syntax, which compiles ~35 Earley grammars on
    import (0.7 s of CPU each time; see the jsonschema pin in requirements.txt)."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, nbformat, jsonschema; print(sorted(sys.modules))"],
                            capture_output=True, text=True, check=True).stdout
    assert "'nbformat'" in loaded and "'jsonschema._format'" in loaded
    assert "rfc3987_syntax" not in loaded and "'lark'" not in loaded


def test_dependency_checks_see_what_they_claim():
    assert pins(["a==1.0  # why", "", "B_c==2"]) == {"a": "1.0", "b-c": "2"}
    with pytest.raises(AssertionError):
        pins(["torch>=2"])
    assert {"torch", "timm", "matplotlib"} <= imported_modules()


# ---- a fresh environment -------------------------------------------------------------------------------------------

# torch and its CUDA libraries (5 GB) are lent from this environment rather than installed again; pip still sees
# them installed (their metadata is lent too) and installs everything else the course declares from WHEELHOUSE.
LENT = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")
WHEELHOUSE = os.environ.get("COURSE_WHEELHOUSE", "")
EXERCISE, CHAPTER = "attention", "attention"


def lend_torch(overlay: Path) -> None:
    """Symlink the installed files of torch and its binary dependencies (top-level folders and .dist-info) into
    ``overlay``: a path the fresh environment adds to its sys.path with a .pth file."""
    overlay.mkdir()
    for dist in metadata.distributions():
        if not LENT.match(canonical(dist.metadata["Name"])):
            continue
        for file in dist.files or []:
            top = Path(file).parts[0]
            source = Path(dist.locate_file(top))
            if top not in ("..", "bin") and source.exists() and not (overlay / top).exists():
                (overlay / top).symlink_to(source)


def solved_exercise(topic: str):
    """The exercise as a student who solved it has it: solution cells with the reference code, no hidden tests."""
    nb = nbformat.read(REPO_ROOT / "solutions" / f"{topic}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = re.sub(r"\n?[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*", "", cell.source,
                                 flags=re.S)
            cell.source = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", "", cell.source, flags=re.M)
    assert "load_reference" not in nbformat.writes(nb)
    return nb


def run_ok(argv, **kwargs):
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow
@pytest.mark.skipif(not Path(WHEELHOUSE or "/nonexistent").is_dir(),
                    reason="set COURSE_WHEELHOUSE to a folder of wheels for the pins (see this file's docstring)")
def test_a_chapter_and_an_exercise_run_from_a_fresh_install(tmp_path, monkeypatch):
    """Make the wheelhouse once (small: torch is lent, not installed), e.g.
    ``pip download --no-deps --only-binary :all: -d wheelhouse -r <(grep -vE '^(torch|triton|nvidia|cuda)'
    requirements.txt)``; then ``COURSE_WHEELHOUSE=wheelhouse pytest tests/test_packaging.py``."""
    from nbclient import NotebookClient

    # the repository as a clean checkout would have it (tracked and new files, nothing ignored)
    listed = run_ok(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT).stdout
    checkout = tmp_path / "checkout"
    for name in filter(None, listed.split("\0")):
        if (REPO_ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, checkout / name)
    venv = tmp_path / "venv"
    run_ok([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    site = Path(run_ok([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    lend_torch(tmp_path / "lent")
    (site / "lent-torch.pth").write_text(str(tmp_path / "lent") + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull   # nothing but the wheelhouse: no index, no machine-wide pip settings
    run_ok([python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", WHEELHOUSE, checkout, "ipykernel"],
        env=env)
    run_ok([python, "-m", "pip", "check"], env=env)
    run_ok([python, "-m", "ipykernel", "install", "--prefix", tmp_path / "jupyter", "--name", "fresh"], env=env)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter" / "share" / "jupyter"))
    monkeypatch.delenv("PYTHONPATH", raising=False)

    folder = tmp_path / "alone"   # an empty folder: no repository on sys.path
    folder.mkdir()
    chapter = jupytext.read(REPO_ROOT / "book" / f"{CHAPTER}.md", fmt="md:myst")
    notebooks = {"exercise": solved_exercise(EXERCISE), "chapter": chapter}
    where = nbformat.v4.new_code_cell(
        "import coursetools, sys\n"
        f"assert {str(REPO_ROOT)!r} not in str(sys.path) and 'site-packages' in coursetools.__file__, "
        "(coursetools.__file__, sys.path)")
    for name, nb in notebooks.items():
        nb.cells.append(where)
        nbformat.write(nb, folder / f"{name}.ipynb")
        NotebookClient(nb, timeout=300, kernel_name="fresh", resources={"metadata": {"path": str(folder)}}).execute()
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        assert len(code) > 5 and all(cell.execution_count for cell in code), f"{name}: not every cell ran"
