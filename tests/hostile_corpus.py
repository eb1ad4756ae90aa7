"""Hostile submissions for the attention exercise: each tries to break, stall or cheat the autograder.

Every submission is a real notebook built from the reference solution (``solutions/attention.ipynb``).  The
cheating ones start from an *honest wrong answer* (functions that return zeros of the right shape and dtype) and add
a trick; none of them may score more than the honest wrong answer does on its own.  The disruptive ones (hangs, memory,
forks, floods, a dying kernel) must get a recorded score and a reason without disturbing anyone else in the batch.

    python -m tests.hostile_corpus OUT_DIR     writes OUT_DIR/<name>/attention.ipynb for every submission
"""
from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from autograder.reference import SOLUTIONS_DIR

TOPIC = "attention"
WRONG_BODIES = {  # shapes, dtypes and devices right, values wrong
    "sdpa": "    return q.new_zeros(*q.shape[:-1], v.shape[-1]), q.new_zeros(*q.shape[:-1], k.shape[-2])",
    "mha": "        batch, len_q, _ = query.shape\n"
           "        return (query.new_zeros(batch, len_q, self.d_model),\n"
           "                query.new_zeros(batch, self.num_heads, len_q, key.shape[1]))",
}


def _cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def reference_notebook():
    return nbformat.read(SOLUTIONS_DIR / f"{TOPIC}.ipynb", as_version=4)


def honest_wrong_answer():
    nb = reference_notebook()
    for grade_id, body in WRONG_BODIES.items():
        cell = _cell(nb, grade_id)
        cell.source = re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION", body, cell.source, flags=re.S)
    return nb


def _append(grade_id: str, code: str) -> Callable:
    def edit(nb):
        _cell(nb, grade_id).source += "\n\n" + code.strip() + "\n"
    return edit


def _test_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


def _delete_test_cell(nb):
    nb.cells.remove(_test_cells(nb)[0])


def _duplicate_test_cell(nb):
    cell = _test_cells(nb)[0]
    nb.cells.insert(nb.cells.index(cell), copy.deepcopy(cell))


def _retype_test_cells(nb):
    for cell in _test_cells(nb):
        cell.cell_type = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _rewrite_test_cells(nb):
    for cell in _test_cells(nb):
        cell.source = "print('all tests passed')"


def _raise_points(nb):
    for cell in _test_cells(nb):
        cell.metadata["nbgrader"]["points"] = 1000
        cell.metadata["nbgrader"]["grade"] = False  # and pretend it is not a test cell at all


def _turn_tests_into_solutions(nb):
    for cell in _test_cells(nb):
        cell.metadata["nbgrader"]["solution"] = True
        cell.source = "pass"


def _forge_schema_version(nb):
    # nbgrader raises SchemaTooNewError for this, which stops its whole batch, not just this notebook
    _test_cells(nb)[0].metadata["nbgrader"]["schema_version"] = 99


def _bad_kernelspec(nb):
    nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "nope", "language": "cobol"}


def _empty(nb):
    nb.cells = []


@dataclass(frozen=True)
class Hostile:
    name: str
    edit: Callable | None   # applied to the honest wrong answer; None: the file below instead of a notebook
    disrupts: bool = False  # expected to stop the run early: must come with a reason
    raw: str | None = None
    structural: bool = False  # tampers with the notebook's cells: nbgrader itself may refuse it


CHEATS = [
    # tests are made to pass without a correct answer
    Hostile("strips-asserts-ast", _append("sdpa", """
import ast
class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_NoAsserts())
""")),
    Hostile("rewrites-test-source", _append("sdpa", """
def _blank_tests(lines):
    return ["pass\\n"] if any("assert" in line or "torch.testing" in line for line in lines) else lines
get_ipython().input_transformers_cleanup.append(_blank_tests)
""")),
    Hostile("always-equal-tensor", _append("mha", """
class _AlwaysEqual(torch.Tensor):
    def __eq__(self, other): return torch.ones_like(self, dtype=torch.bool)
    def __sub__(self, other): return torch.zeros_like(self)
    def allclose(self, *args, **kwargs): return True
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True if func.__name__ in ("allclose", "equal", "isclose") else super().__torch_function__(func, types, args, kwargs or {})
_wrong_sdpa = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    out, w = _wrong_sdpa(q, k, v, mask)
    return out.as_subclass(_AlwaysEqual), w.as_subclass(_AlwaysEqual)
""")),
    Hostile("always-equal-object", _append("sdpa", """
class _Anything:
    shape = property(lambda self: self)
    dtype = device = property(lambda self: self)
    def __eq__(self, other): return True
    def __getattr__(self, name): return self
    def __call__(self, *a, **k): return self
    def __iter__(self): return iter((self, self))
    def __getitem__(self, i): return self
def scaled_dot_product_attention(q, k, v, mask=None):
    return _Anything(), _Anything()
""")),
    Hostile("patches-torch-comparisons", _append("sdpa", """
import torch, torch.testing
torch.testing.assert_close = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.allclose = lambda *a, **k: True
torch.all = lambda *a, **k: torch.tensor(True)
""")),
    Hostile("patches-inside-the-function", _append("sdpa", """
_wrong = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    import torch, torch.testing
    torch.testing.assert_close = lambda *a, **k: None   # patched when the tests call it
    return _wrong(q, k, v, mask)
""")),
    Hostile("redefines-builtins", _append("sdpa", """
import builtins
builtins.AssertionError = type("AssertionError", (Exception,), {})
builtins.isinstance = lambda *a: True
builtins.len = lambda x: 0
""")),
    Hostile("swallows-exceptions", _append("sdpa", """
import sys
get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
sys.excepthook = lambda *a: None
""")),
    Hostile("sys-exit-in-cell", _append("sdpa", "import sys\nsys.exit(0)")),
    Hostile("sys-exit-when-called", _append("mha", """
_wrong_sdpa = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    raise SystemExit(0)
""")),
    Hostile("reads-the-reference", _append("sdpa", """
import glob, os
for _pattern in ("/work/**/solutions/attention.ipynb", "/**/solutions/*.ipynb", "/root/**/attention.ipynb"):
    for _path in glob.glob(_pattern, recursive=True)[:3]:
        print(open(_path).read())
import coursetools
_repo = os.path.dirname(os.path.dirname(coursetools.__file__))
for _path in glob.glob(_repo + "/**/*.ipynb", recursive=True):
    print(open(_path).read())
""")),
    Hostile("reads-the-gradebook-and-other-submissions", _append("sdpa", """
import glob
for _path in glob.glob("/**/gradebook.db", recursive=True) + glob.glob("/tmp/**/*.ipynb", recursive=True):
    print(_path, open(_path, "rb").read()[:100000])
""")),
    Hostile("imports-the-reference", _append("sdpa", """
try:
    from autograder.reference import load_reference
    _ref = load_reference("attention")
    scaled_dot_product_attention = _ref.scaled_dot_product_attention
    MultiHeadAttention = _ref.MultiHeadAttention
except Exception as exc:
    print("no reference:", exc)
""")),
    Hostile("steals-expected-values-from-the-caller", _append("sdpa", """
import gc, inspect
_wrong = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    for frame in inspect.stack():             # the test's frame, if it were in this process
        for name in ("_ref_out", "_expected"):
            if name in frame.frame.f_locals:
                return frame.frame.f_locals[name], frame.frame.f_locals.get("_ref_w")
    for obj in gc.get_objects():              # or the reference module, anywhere in memory
        if getattr(obj, "__name__", "") == "reference_attention":
            return obj.scaled_dot_product_attention(q, k, v, mask)
    return _wrong(q, k, v, mask)
""")),
    Hostile("detects-grading-and-hardcodes-visible-answers", _append("sdpa", """
import os
_wrong = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    if q.shape == (1, 2) and k.shape == (2, 2):       # the visible test's hand-computed example
        w = torch.tensor([[0.66976, 0.33024]]) if mask is None else torch.tensor([[0.0, 1.0]])
        return w @ v, w
    return _wrong(q, k, v, mask)
""")),
    Hostile("zeroes-its-inputs-so-the-reference-agrees", _append("sdpa", """
def scaled_dot_product_attention(q, k, v, mask=None):
    for t in (q, k, v):
        t.zero_()                     # a reference computed afterwards from the same tensors gives uniform weights
    w = torch.ones(*q.shape[:-1], k.shape[-2], dtype=q.dtype, device=q.device)
    if mask is not None:
        w = w * mask
    return q.new_zeros(*q.shape[:-1], v.shape[-1]), w / w.sum(-1, keepdim=True)
""")),
    Hostile("replaces-the-grading-helper", _append("mha", """
def __course_serve__(request_path, response_path):
    import torch
    torch.save({"ok": {"kind": "value", "value": True}}, response_path)
""")),
    Hostile("forges-answers-with-pickle", _append("mha", """
def __course_serve__(request_path, response_path):
    import pickle, os
    class _Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned > /tmp/pwned",))
    with open(response_path, "wb") as handle:
        pickle.dump({"ok": _Exploit()}, handle)
""")),
    Hostile("kills-the-grader", _append("sdpa", """
import os, signal
for _pid in range(1, 400):
    try:
        os.kill(_pid, signal.SIGKILL) if _pid != os.getpid() else None
    except Exception:
        pass
""")),
    Hostile("writes-outside-its-folder", _append("sdpa", """
for _path in ("/work/main/solutions/attention.ipynb", "/tmp/evil.txt", "/etc/evil.txt"):
    try:
        open(_path, "w").write("overwritten")
        print("wrote", _path)
    except Exception as exc:
        print("could not write", _path, type(exc).__name__)
""")),
    # notebook-level tampering: nbgrader's checksums and cell restoration
    Hostile("deletes-a-test-cell", _delete_test_cell, structural=True),
    Hostile("duplicates-a-test-cell", _duplicate_test_cell, structural=True),
    Hostile("retypes-test-cells-as-markdown", _retype_test_cells, structural=True),
    Hostile("rewrites-test-cells", _rewrite_test_cells, structural=True),
    Hostile("changes-points-and-metadata", _raise_points, structural=True),
    Hostile("turns-tests-into-solutions", _turn_tests_into_solutions, structural=True),
    Hostile("forges-the-metadata-schema-version", _forge_schema_version, structural=True),
    Hostile("bad-kernelspec", _bad_kernelspec),
    Hostile("empty-notebook", _empty, structural=True),
    Hostile("not-a-notebook", None, raw="print('I am a Python file, not a notebook')\n", structural=True),
]

DISRUPTIONS = [
    Hostile("infinite-loop", _append("sdpa", "while True:\n    pass"), disrupts=True),
    Hostile("allocates-10-gb", _append("sdpa", "_hog = bytearray(10 * 1024 ** 3)\n_hog[::4096] = b'x' * len(_hog[::4096])"),
            disrupts=False),  # the kernel's memory limit turns it into a MemoryError in that cell
    Hostile("os-exit", _append("sdpa", "import os\nos._exit(3)"), disrupts=True),
    Hostile("fork-loop", _append("sdpa", """
import os, time
_children = 0
for _ in range(10_000):
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        _children += 1
    except OSError as exc:
        print("fork refused after", _children, "children:", exc)
        break
"""), disrupts=False),
    Hostile("floods-output", _append("sdpa", "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)"),
            disrupts=False),
    Hostile("floods-output-when-called", _append("mha", """
_wrong = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    print("y" * 10_000_000)
    return _wrong(q, k, v, mask)
"""), disrupts=False),
    Hostile("returns-a-huge-tensor", _append("mha", """
def scaled_dot_product_attention(q, k, v, mask=None):
    return torch.zeros(2 ** 28), torch.zeros(2 ** 28)   # 1 GB each: more than the grader accepts
"""), disrupts=False),
]

CORPUS = CHEATS + DISRUPTIONS


def build(hostile: Hostile):
    """The submission's notebook (or, for ``raw``, None)."""
    if hostile.edit is None:
        return None
    nb = honest_wrong_answer()
    hostile.edit(nb)
    return nb


def write_corpus(out_dir: Path, include_honest: bool = True) -> list[str]:
    names = []
    if include_honest:
        _write(honest_wrong_answer(), out_dir / "honest-wrong-answer" / f"{TOPIC}.ipynb")
        _write(reference_notebook(), out_dir / "honest-right-answer" / f"{TOPIC}.ipynb")
    for hostile in CORPUS:
        path = out_dir / f"hostile-{hostile.name}" / f"{TOPIC}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        if hostile.raw is not None:
            path.write_text(hostile.raw)
        else:
            _write(build(hostile), path)
        names.append(f"hostile-{hostile.name}")
    return names


def _write(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


if __name__ == "__main__":
    print("\n".join(write_corpus(Path(sys.argv[1]))))
