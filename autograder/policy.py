"""What each exercise gives the student, what it grades, and what it forbids: the grading trust boundary per topic.

- ``given``: modules of the course package (``coursetools/<name>.py``) the exercise builds on: those the locked cells
  of ``solutions/<topic>.ipynb`` import (read from the course's copy, never from the submission).  The student's
  grading kernel sees the tools (device, seeding, timing, plotting, data, training loop) and these modules only:
  every other course module (the chapters' implementations of what the exercises grade) is absent from its view.
- ``forbidden``: PyTorch built-ins that solve a graded part by themselves (``FORBIDDEN``, the only per-topic entry
  here).  The notebook forbids them in words; while grading they raise in the student's kernel, and a solution cell
  that names them scores 0 on the tests of its part.
- Packages that hold implementations of what the course grades (``HIDDEN_PACKAGES``) are never importable there.
- The names taken from the student are the functions and classes the solution cells of ``solutions/<topic>.ipynb``
  define (``graded_names``): everything else a test uses comes from the notebook's locked cells, run in the grader.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TOOLS = ("__init__", "device", "seed", "timing", "plotting", "data", "train", "selfcheck")
HIDDEN_PACKAGES = ("timm", "torchvision")

MHA = ("torch.nn.MultiheadAttention", "torch.nn.functional.multi_head_attention_forward")
SDPA = ("torch.nn.functional.scaled_dot_product_attention",)
TRANSFORMER = ("torch.nn.Transformer", "torch.nn.TransformerEncoder", "torch.nn.TransformerDecoder",
               "torch.nn.TransformerEncoderLayer", "torch.nn.TransformerDecoderLayer")


# the dispatcher's kernels behind each forbidden built-in: guarded too, so that no other path reaches them
ATEN_OPS = {
    "torch.nn.functional.scaled_dot_product_attention": (
        "scaled_dot_product_attention", "_scaled_dot_product_attention_math",
        "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention"),
    "torch.nn.MultiheadAttention": ("_native_multi_head_attention",),
    "torch.nn.TransformerEncoderLayer": ("_transformer_encoder_layer_fwd",),
}


@dataclass(frozen=True)
class Policy:
    given: tuple[str, ...] = ()       # course modules the exercise builds on (besides TOOLS)
    forbidden: tuple[str, ...] = ()   # dotted names of PyTorch built-ins the answer may not use


FORBIDDEN: dict[str, tuple[str, ...]] = {
    "attention": SDPA + MHA,
    "masking": SDPA + MHA,
    "encoder_decoder": TRANSFORMER,
}


def policy(topic: str) -> Policy:
    return Policy(given=given_modules(topic), forbidden=FORBIDDEN.get(topic, ()))


def given_modules(topic: str) -> tuple[str, ...]:
    """The course modules (besides ``TOOLS``) that the locked cells of ``solutions/<topic>.ipynb`` import."""
    import ast

    import nbformat

    from autograder.reference import SOLUTIONS_DIR

    package = Path(__file__).resolve().parent.parent / "coursetools"
    nb = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
    found = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("locked") or meta.get("solution") or meta.get("grade"):
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found |= {name.split(".")[1] for name in names if name.startswith("coursetools.")}
    return tuple(sorted(m for m in found if m not in TOOLS and (package / f"{m}.py").exists()))


def forbidden_with_ops(topic: str) -> dict[str, tuple[str, ...]]:
    """{dotted name: the aten ops behind it} for the student's kernel."""
    return {name: ATEN_OPS.get(name, ()) for name in policy(topic).forbidden}


def graded_names(topic: str) -> set[str]:
    """The functions and classes the solution cells of ``solutions/<topic>.ipynb`` define at top level: the only
    names a test takes from the student (read from the course's copy, never from the submission)."""
    import ast

    import nbformat

    from autograder.reference import SOLUTIONS_DIR

    nb = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
    names = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            for node in ast.parse(cell.source).body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
    return names


def forbidden_uses(source: str, topic: str) -> list[str]:
    """Forbidden built-ins named inside the functions and classes of ``source`` (a solution cell): attribute
    access (``F.scaled_dot_product_attention``), ``from ... import``, or a string given to ``getattr``.
    Code outside definitions (a self-check comparing with the built-in) is not the answer and is not flagged."""
    import ast

    wanted = {name.rpartition(".")[2]: name for name in policy(topic).forbidden}
    if not wanted:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for top in tree.body:
        if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for node in ast.walk(top):
            names = []
            if isinstance(node, ast.Attribute):
                names.append(node.attr)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names += [part for alias in node.names for part in alias.name.split(".")]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
                names.append(node.value)
            found += [wanted[n] for n in names if n in wanted and wanted[n] not in found]
    return found
