"""The per-topic grading policy (autograder/policy.py), quickly: no kernel starts here.

What a topic's grading kernel may import never implements what that topic grades; the names taken from the student
are exactly the solution cells' definitions; forbidden built-ins are found in answers, not in self-checks.
"""
import ast
from pathlib import Path

import nbformat
import pytest

from autograder import cli, policy, sandbox
from autograder.reference import SOLUTIONS_DIR

REPO_ROOT = Path(__file__).resolve().parent.parent
TOPICS = cli.topics()


def _defined(path: Path) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def test_every_topic_has_graded_names_and_forbidden_built_ins_name_real_topics():
    assert set(policy.FORBIDDEN) <= set(TOPICS)
    for topic in TOPICS:
        assert policy.graded_names(topic), topic


def test_the_modules_an_exercise_builds_on_are_those_its_locked_cells_import():
    assert policy.given_modules("vit") == ("attention",)
    assert policy.given_modules("encoder_decoder") == ("masks", "positions")
    assert policy.given_modules("attention") == ()


@pytest.mark.parametrize("topic", TOPICS)
def test_the_kernels_view_of_the_course_package_implements_nothing_the_topic_grades(topic):
    visible = sandbox._course_modules(topic)
    assert {p.stem for p in visible} >= set(policy.TOOLS)
    graded = policy.graded_names(topic)
    for path in visible:
        assert not (_defined(path) & graded), f"{path.name} defines {_defined(path) & graded}, graded in {topic}"
    # and every course module that does define one of them is out of view
    for path in (REPO_ROOT / "coursetools").glob("*.py"):
        if _defined(path) & graded:
            assert path not in visible, f"{path.name} implements part of {topic} but its kernel can import it"


@pytest.mark.parametrize("topic", TOPICS)
def test_the_notebook_imports_only_what_its_kernel_can_see(topic):
    allowed = {f"coursetools.{p.stem}" for p in sandbox._course_modules(topic)} | {"coursetools"}
    nb = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade"):
            continue   # test cells run in the grader, which sees everything
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("coursetools"):
                assert node.module in allowed, f"{topic} imports {node.module}, hidden from its grading kernel"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in policy.HIDDEN_PACKAGES, f"{topic} imports {alias.name}"


def test_hidden_packages_are_found_where_they_are_installed():
    names = {p.name for p in sandbox._hidden_package_dirs()}
    assert names == set(policy.HIDDEN_PACKAGES)


ANSWER = '''
def scaled_dot_product_attention(q, k, v, mask=None):
    """Unlike F.scaled_dot_product_attention, returns the weights too."""
    return {call}

check = F.scaled_dot_product_attention(q, q, q)   # a self-check outside the answer: allowed
'''


@pytest.mark.parametrize("call,flagged", [
    ("F.scaled_dot_product_attention(q, k, v)", True),
    ("torch.nn.functional.scaled_dot_product_attention(q, k, v)", True),
    ("getattr(F, 'scaled_dot_product_attention')(q, k, v)", True),
    ("nn.MultiheadAttention(4, 2)(q, k, v)", True),
    ("q.softmax(-1) @ v, q", False),
])
def test_forbidden_built_ins_are_found_inside_answers_only(call, flagged):
    found = policy.forbidden_uses(ANSWER.format(call=call), "attention")
    assert bool(found) == flagged, found
    assert policy.forbidden_uses(ANSWER.format(call=call), "positional_encoding") == []


def test_a_forbidden_use_zeroes_the_tests_of_its_part_only():
    nb = nbformat.read(SOLUTIONS_DIR / "attention.ipynb", as_version=4)
    sdpa = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "sdpa")
    sdpa.source = sdpa.source.replace("weights = scores.softmax(dim=-1)",
                                      "weights = F.scaled_dot_product_attention(q, k, v)")
    assert sandbox._mark_forbidden(nb, "attention") == ["torch.nn.functional.scaled_dot_product_attention"]
    marked = {c.metadata.nbgrader["grade_id"] for c in nb.cells
              if any(o.get("ename") == "ForbiddenBuiltin" for o in c.get("outputs", []))}
    assert marked and all(name.startswith("test_sdpa") for name in marked)
    assert {c.metadata.nbgrader["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_sdpa")} == marked
