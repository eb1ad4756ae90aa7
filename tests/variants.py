"""Correct submissions with harmless extra code: each must score full marks on every cell (no false failures).

A :class:`Variant` is the reference solution plus code a student might well add around a correct answer: imports and
aliases, attribute assignments on modules (``torch.backends.cudnn.deterministic = True``), seeds and determinism
flags, helpers and constants the answer uses, type hints and annotated globals, a ``@dataclass`` config, prints,
warnings and logging, names of the locked cells defined again with an equivalent, self-checks that call the student's
own functions and assert, ``__all__`` and ``del``, graded classes subclassed with extra methods and debug state,
IPython magics and a plot, an ``if __name__ == "__main__":`` block.  The code goes where a student puts it: at the
start or the end of a solution cell, at the top of a solution region (``### BEGIN SOLUTION``), or in a new plain code
cell (no nbgrader metadata) inserted after a cell.

The two false failures reported against the grader that took every top-level name of a solution cell from the
student (commit 3b8bca2) are here: ``cudnn-deterministic`` (masking 0/19, vit 0/18: ``NameError: name 'torch'``) and
``functional-alias-assigned`` (vit 15/18, masking 17/19: ``NameError: name 'F'``).

Edits are anchored on stable text only (cell grade_ids, the solution markers, function and class signatures), never
on the inside of a reference solution, and :func:`apply_variant` fails loudly when an anchor is missing, so a variant
never silently stops being applied when a solution notebook is edited.

``GENERIC`` variants apply to every topic; ``VARIANTS[topic]`` is ``GENERIC`` plus the topic's own.  The graded
corpus: ``tests/conftest.py`` (fixture ``graded``) grades each one as student ``var-<name>``;
``tests/test_variants.py`` checks it.
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from typing import Callable, Union

import nbformat

from autograder.course import topics

# where the code goes
START = "start"      # before the first line of the solution cell
END = "end"          # after the last line of the solution cell
REGION = "region"    # first statement of every ### BEGIN SOLUTION region of the cell, indented like the marker
CELL_AFTER = "cell"  # a new plain code cell (no nbgrader metadata) right after the cell (any cell, not only solutions)
PLACES = (START, END, REGION, CELL_AFTER)

# which cell: a grade_id, or one of these
FIRST = "*first"     # the first solution cell
LAST = "*last"       # the last solution cell
EVERY = "*every"     # every solution cell
FIRST_TEST = "*first-test"  # the first graded test cell (only with CELL_AFTER: a student's scratch cell after it)

Code = Union[str, Callable[["nbformat.NotebookNode"], str]]  # the code, or a function of the reference notebook


@dataclass(frozen=True)
class Variant:
    """Add ``code`` at ``where`` in/after ``cell``; also make the literal ``replace`` edits (old, new) in that cell
    (each ``old`` found exactly once: signatures only) and the edits ``more`` (same fields, names ignored)."""
    name: str
    code: Code = ""
    where: str = END
    cell: str = FIRST
    replace: tuple[tuple[str, str], ...] = ()
    more: tuple["Variant", ...] = ()


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("solution"))


def solution_cells(nb) -> list:
    return [c for c in nb.cells if _is_solution(c)]


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _targets(nb, edit: Variant) -> list:
    solutions = solution_cells(nb)
    if edit.cell == FIRST_TEST:
        if edit.where != CELL_AFTER:
            raise ValueError(f"variant {edit.name!r}: only a new cell may go after a test cell")
        return [c for c in nb.cells if _is_test(c)][:1]
    if edit.cell == FIRST:
        return solutions[:1]
    if edit.cell == LAST:
        return solutions[-1:]
    if edit.cell == EVERY:
        return solutions
    found = [c for c in nb.cells if _grade_id(c) == edit.cell]
    if len(found) != 1:
        raise ValueError(f"variant {edit.name!r}: no single cell with grade_id {edit.cell!r}")
    if edit.where != CELL_AFTER and not _is_solution(found[0]):
        raise ValueError(f"variant {edit.name!r}: cell {edit.cell!r} is not a solution cell")
    return found


def _in_regions(source: str, code: str, name: str) -> str:
    lines = source.split("\n")
    out, inserted = [], 0
    for line in lines:
        out.append(line)
        if line.strip() == "### BEGIN SOLUTION":
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + c if c.strip() else c for c in code.rstrip("\n").split("\n")]
            inserted += 1
    if not inserted:
        raise ValueError(f"variant {name!r}: no ### BEGIN SOLUTION marker in the cell")
    return "\n".join(out)


def _edit(nb, reference, edit: Variant, top: str) -> None:
    code = edit.code(reference) if callable(edit.code) else edit.code
    if edit.where not in PLACES:
        raise ValueError(f"variant {top!r}: unknown place {edit.where!r}")
    targets = _targets(nb, edit)
    if not targets:
        raise ValueError(f"variant {top!r}: the notebook has no solution cell")
    for cell in targets:
        for old, new in edit.replace:
            if cell.source.count(old) != 1:
                raise ValueError(f"variant {top!r}: {old!r} not found exactly once in cell {_grade_id(cell)!r}")
            cell.source = cell.source.replace(old, new)
        if not code:
            continue
        if edit.where == START:
            cell.source = code.rstrip("\n") + "\n\n\n" + cell.source
        elif edit.where == END:
            cell.source = cell.source.rstrip("\n") + "\n\n\n" + code.rstrip("\n") + "\n"
        elif edit.where == REGION:
            cell.source = _in_regions(cell.source, code, top)
        else:
            new = nbformat.v4.new_code_cell(code.rstrip("\n") + "\n")  # no nbgrader metadata: a student's own cell
            nb.cells.insert(nb.cells.index(cell) + 1, new)


def apply_variant(notebook, variant: Variant):
    """A copy of ``notebook`` (a reference solution) with the extra code of ``variant``; raises if an anchor is
    missing or the variant changes nothing."""
    if not (variant.code or variant.replace or variant.more):
        raise ValueError(f"variant {variant.name!r} changes nothing")
    edited = copy.deepcopy(notebook)
    for edit in (variant, *variant.more):
        if edit.code or edit.replace:
            _edit(edited, notebook, edit, variant.name)
    return edited


# --------------------------------------------------------------------------- code computed from the notebook

def _cell_source(grade_id: str) -> Callable:
    """The source of the (locked) cell ``grade_id``: a student who copies a given definition into an answer."""
    def source(nb) -> str:
        found = [c.source for c in nb.cells if _grade_id(c) == grade_id]
        if len(found) != 1:
            raise ValueError(f"no single cell with grade_id {grade_id!r}")
        return found[0]
    return source


def _setup_imports(nb) -> str:
    """Every import line of the setup cell, as a student re-imports what they use."""
    lines = [line for line in _cell_source("setup")(nb).splitlines()
             if line.startswith(("import ", "from ")) and not line.rstrip().endswith(("(", "\\"))]
    if not lines:
        raise ValueError("the setup cell has no import line")
    return "\n".join(lines) + "\n"


def _defined_names(nb) -> list[str]:
    names = []
    for cell in solution_cells(nb):
        for node in ast.parse(cell.source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name not in names:
                names.append(node.name)
    return names


def _all_and_del(nb) -> str:
    return (f"__all__ = {_defined_names(nb)!r}\n"
            "_scratch = torch.zeros(3)\n"
            "_total = float(_scratch.sum())\n"
            "del _scratch, _total\n")


# --------------------------------------------------------------------------- generic variants (every topic)

SEEDING = """\
import random
import numpy as np

random.seed(0)
np.random.seed(0)
torch.manual_seed(0)
"""

ANNOTATED_GLOBALS = """\
from typing import Optional

Tensor = torch.Tensor
EPS: float = 1e-6
NEG_INF = float("-inf")
MAX_LEN: Optional[int] = None
shapes: dict[str, tuple[int, ...]] = {}
"""

DATACLASS_CONFIG = """\
from dataclasses import dataclass, field


@dataclass
class Config:
    d_model: int = 32
    num_heads: int = 4
    dropout: float = 0.0
    seed: int = 0
    tags: list = field(default_factory=list)


config = Config()
cfg = Config(d_model=16)
assert cfg.d_model == 16 and config.seed == 0
"""

PRINTS_WARNINGS_LOGGING = """\
import logging
import warnings

logging.basicConfig(level=logging.INFO)
logger = logging.getLogger("my-solution")
logger.info("solutions defined on %s", device)
warnings.warn("this is only a warning from my own code")
print("device:", device, "| torch", torch.__version__, "| example shape:", tuple(torch.zeros(2, 3).shape))
"""

LOCKED_NAMES_AGAIN = """\
from coursetools import get_device, seed_everything

device = get_device()
seed_everything(0)
"""

HELPER_FUNCTIONS = """\
from collections import Counter

CALLS = Counter()


def record(what: str = "answer") -> None:
    \"\"\"A helper my answers call (counts the calls).\"\"\"
    CALLS[what] += 1
"""

MAGICS_AND_PLOT = """\
%matplotlib inline
import matplotlib.pyplot as plt

%time _answer = 6 * 7
fig, ax = plt.subplots(figsize=(3, 2))
ax.plot([0, 1, 2], [2, 0, 1])
ax.set_title("a plot of my own")
plt.show()
plt.close(fig)
"""

MAIN_GUARD = """\
torch.set_num_threads(torch.get_num_threads())

if __name__ == "__main__":
    print("all my answers are defined")
"""

GENERIC: list[Variant] = [
    Variant("numpy-and-nn-alias", "import numpy as np\nfrom torch import nn as tnn\n", START),
    # known false failure (ViT, 3 points lost): a top-level alias of a module the locked cells import
    Variant("functional-alias-assigned", "F = torch.nn.functional\n", END),
    Variant("functional-imported-in-every-cell", "import math\nimport torch\nimport torch.nn.functional as F\n",
            START, EVERY),
    # known false failure (masking, 0/19): one attribute assignment on a module
    Variant("cudnn-deterministic", "torch.backends.cudnn.deterministic = True\n", START),
    Variant("backend-flags-in-own-cell",
            "torch.backends.cudnn.benchmark = False\ntorch.backends.cudnn.deterministic = True\n"
            "torch.set_printoptions(precision=3)\n", CELL_AFTER),
    Variant("seeding", SEEDING, START),
    Variant("deterministic-algorithms", "torch.use_deterministic_algorithms(True)\n", START),
    Variant("annotated-globals", ANNOTATED_GLOBALS, END),
    Variant("dataclass-config", DATACLASS_CONFIG, END, LAST),
    Variant("prints-warnings-logging", PRINTS_WARNINGS_LOGGING, CELL_AFTER,
            more=(Variant("", 'print("answer cell ran")\n', END, EVERY),)),
    Variant("locked-names-again", LOCKED_NAMES_AGAIN, END),
    Variant("setup-imports-again", _setup_imports, START, EVERY),
    Variant("setup-cell-copied", _cell_source("setup"), START),
    Variant("helper-called-by-every-answer", HELPER_FUNCTIONS, START,
            more=(Variant("", 'record("answer")\n', REGION, EVERY),)),
    Variant("all-and-del", _all_and_del, END, LAST),
    Variant("scratch-cell-after-every-answer", "_ok = True\nprint('checked', _ok)\ndel _ok\n", CELL_AFTER, EVERY),
    Variant("scratch-cell-after-a-test", "print('the visible tests ran')\nseen_tests = True\n", CELL_AFTER, FIRST_TEST),
    Variant("ipython-magics-and-plot", MAGICS_AND_PLOT, CELL_AFTER),
    Variant("main-guard", MAIN_GUARD, END, LAST),
]


# --------------------------------------------------------------------------- topic-specific variants

def _wrapped(name: str, cell: str, signature: str, call: str, code: str = "") -> Variant:
    """The answer moved into a top-level helper ``_<function>_impl`` that the graded function calls."""
    function = re.match(r"def (\w+)\(", signature.lstrip("@")).group(1)
    helper = signature.replace(f"def {function}(", f"def _{function}_impl(", 1)
    wrapper = f"{signature}\n    return _{function}_impl({call})\n"
    return Variant(name, (code + "\n\n" if code else "") + wrapper, END, cell,
                   replace=((signature, helper),))


def _subclassed(name: str, cell: str, cls: str, base: str = "nn.Module") -> Variant:
    """The answer written as a base class ``_<cls>Base``; the graded class is a subclass of it with a few extras
    (``extra_repr``, a property, a static helper), and every method of the answer keeps a debug counter on ``self``."""
    old = f"class {cls}({base}):"
    subclass = (f"class {cls}(_{cls}Base):\n"
                f"    \"\"\"My {cls}, with a few extras.\"\"\"\n\n"
                "    def extra_repr(self) -> str:\n"
                "        return f\"calls={getattr(self, 'calls', 0)}\"\n\n"
                "    @property\n"
                "    def num_parameters(self) -> int:\n"
                "        return sum(p.numel() for p in self.parameters())\n\n"
                "    @staticmethod\n"
                "    def describe(shape) -> str:\n"
                "        return 'x'.join(map(str, shape))\n")
    return Variant(name, subclass, END, cell, replace=((old, f"class _{cls}Base({base}):"),),
                   more=(Variant("", "self.calls = getattr(self, 'calls', 0) + 1\n", REGION, cell),))


ATTENTION = [
    _wrapped("sdpa-in-a-helper", "sdpa", "def scaled_dot_product_attention(q, k, v, mask=None):", "q, k, v, mask"),
    Variant("sdpa-type-hints", "from typing import Optional\n", START, "sdpa", replace=((
        "def scaled_dot_product_attention(q, k, v, mask=None):",
        "def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,\n"
        "                                 mask: Optional[torch.Tensor] = None\n"
        "                                 ) -> tuple[torch.Tensor, torch.Tensor]:"),)),
    _subclassed("mha-subclass-with-extras", "mha", "MultiHeadAttention"),
    Variant("self-check-in-answer-cell",
            "q = k = v = torch.randn(2, 3, 4)\n"
            "out, weights = scaled_dot_product_attention(q, k, v)\n"
            "assert out.shape == (2, 3, 4) and weights.shape == (2, 3, 3)\n"
            "assert torch.allclose(weights.sum(-1), torch.ones(2, 3))\n"
            "print(out.shape, weights.shape)\n", END, "sdpa"),
    Variant("self-check-cell",
            "mha = MultiHeadAttention(d_model=8, num_heads=2)\n"
            "x = torch.randn(2, 5, 8)\n"
            "out, w = mha(x, x, x, mask=torch.ones(5, 5, dtype=torch.bool).tril())\n"
            "assert out.shape == (2, 5, 8) and w.shape == (2, 2, 5, 5)\n"
            "assert torch.all(w[..., 0, 1:] == 0)\n", CELL_AFTER, "mha"),
]

MASKING = [
    _wrapped("causal-mask-in-a-helper", "causal_mask", "def causal_mask(n, device=None):", "n, device=device"),
    Variant("type-hints", "from typing import Optional\n", START, "padding_mask", replace=((
        "def padding_mask(lengths, max_len):",
        "def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:"),),
        more=(Variant("", cell="causal_mask", replace=((
            "def causal_mask(n, device=None):",
            "def causal_mask(n: int, device: Optional[torch.device] = None) -> torch.Tensor:"),)),)),
    Variant("self-check-in-answer-cell",
            "mask = causal_mask(3)\n"
            "assert mask.tolist() == [[True, False, False], [True, True, False], [True, True, True]]\n"
            "print(mask)\n", END, "causal_mask"),
    Variant("self-check-cell",
            "lengths = torch.tensor([3, 1])\n"
            "mask = attention_mask(lengths, 4, causal=True)\n"
            "scores = torch.randn(2, 2, 4, 4)\n"
            "weights = masked_softmax(scores, mask)\n"
            "assert weights.shape == (2, 2, 4, 4) and not torch.isnan(weights).any()\n"
            "assert torch.all(weights[1, :, :, 1:] == 0)\n"
            "out, w = masked_attention(scores, scores, scores, mask)\n"
            "print('self-check passed', out.shape)\n", CELL_AFTER, "masked_attention"),
]

POSITIONAL_ENCODING = [
    Variant("base-constant-and-type-hints", "from typing import Optional\n\nBASE: float = 10000.0\n", START,
            "sinusoidal", replace=((
                "def sinusoidal_encoding(max_len, d_model, *, base=10000.0, dtype=None, device=None):",
                "def sinusoidal_encoding(max_len: int, d_model: int, *, base: float = BASE,\n"
                "                        dtype: Optional[torch.dtype] = None, device=None) -> torch.Tensor:"),)),
    _subclassed("learned-embedding-subclass-with-extras", "learned", "LearnedPositionalEmbedding"),
    _wrapped("relative-index-in-a-helper", "relative_index",
             "def relative_position_index(window_h, window_w, device=None):", "window_h, window_w, device=device"),
    Variant("self-check-in-answer-cell",
            "pe = sinusoidal_encoding(8, 6)\n"
            "assert pe.shape == (8, 6)\n"
            "assert torch.allclose(pe[0, 0::2], torch.zeros(3)) and torch.allclose(pe[0, 1::2], torch.ones(3))\n"
            "del pe\n", END, "sinusoidal"),
    Variant("self-check-cell",
            "x = torch.randn(3, 5, 8)\n"
            "y = apply_rotary(x, torch.arange(5))\n"
            "assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1), atol=1e-5)\n"
            "emb = LearnedPositionalEmbedding(8, 8)\n"
            "assert emb(x).shape == (3, 5, 8)\n"
            "assert relative_position_index(2, 3).max().item() == 3 * 5 - 1\n", CELL_AFTER, "rope"),
]

OWN_CAUSAL_MASK = """\
PAD, BOS, EOS = 0, 1, 2


def causal_mask(n, device=None):
    \"\"\"My own causal mask (the same as the given one): True where key j <= query i.\"\"\"
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()
"""

ENCODER_DECODER = [
    Variant("own-causal-mask-helper", OWN_CAUSAL_MASK, START, "model"),
    Variant("given-attention-copied", _cell_source("attention"), START, "encoder_layer"),
    _subclassed("encoder-layer-subclass-with-extras", "encoder_layer", "EncoderLayer"),
    Variant("smoothing-constant-and-type-hints", "SMOOTHING: float = 0.1\n", START, "loss", replace=((
        "def label_smoothed_cross_entropy(logits, target, smoothing=0.1, pad_id=PAD):",
        "def label_smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, smoothing: float = SMOOTHING,\n"
        "                                 pad_id: int = PAD) -> torch.Tensor:"),)),
    _wrapped("greedy-in-a-helper", "greedy",
             "def greedy_decode(model, src, max_len, bos_id=BOS, eos_id=EOS, pad_id=PAD):",
             "model, src, max_len, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id"),
    Variant("self-check-cell",
            "model = Seq2SeqTransformer(11, 13, d_model=16, num_heads=2)\n"
            "src = torch.randint(3, 11, (2, 5))\n"
            "tgt = torch.randint(3, 13, (2, 4))\n"
            "logits = model(src, tgt)\n"
            "assert logits.shape == (2, 4, 13)\n"
            "loss = label_smoothed_cross_entropy(logits, tgt)\n"
            "assert loss.dim() == 0 and torch.isfinite(loss)\n"
            "out = greedy_decode(model.eval(), src, max_len=6)\n"
            "assert out.shape[0] == 2 and out.shape[1] <= 6\n"
            "print('self-check passed', tuple(out.shape))\n", CELL_AFTER, "greedy"),
]

VIT = [
    _wrapped("patchify-in-a-helper", "patchify", "def patchify(images, patch_size):", "images, patch_size"),
    _subclassed("vit-subclass-with-extras", "vit", "VisionTransformer"),
    Variant("patchify-type-hints", replace=((
        "def patchify(images, patch_size):",
        "def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:"),), cell="patchify"),
    Variant("self-check-in-answer-cell",
            "out = patchify(torch.randn(2, 3, 8, 8), 4)\n"
            "assert out.shape == (2, 4, 48), out.shape\n", END, "patchify"),
    Variant("self-check-cell",
            "model = VisionTransformer()\n"
            "images = torch.randn(2, 1, 16, 16)\n"
            "logits = model(images)\n"
            "assert logits.shape == (2, 10)\n"
            "assert torch.allclose(model.patch_embed(images), model.patch_embed.forward_as_linear(images), atol=1e-5)\n"
            "print('self-check passed')\n", CELL_AFTER, "vit"),
]

TNT = [
    Variant("given-attention-copied", _cell_source("attention"), START, "pixel_embed",
            more=(Variant("", "Mlp = Mlp\n", START, "block"),)),
    _subclassed("pixel-embed-subclass-with-extras", "pixel_embed", "PixelEmbed"),
    _wrapped("inner-to-outer-in-a-helper", "inner_to_outer",
             "def inner_to_outer(pixel_embed, patch_embed, norm1_proj, proj, norm2_proj):",
             "pixel_embed, patch_embed, norm1_proj, proj, norm2_proj"),
    Variant("type-hints", replace=((
        "def inner_to_outer(pixel_embed, patch_embed, norm1_proj, proj, norm2_proj):",
        "def inner_to_outer(pixel_embed: torch.Tensor, patch_embed: torch.Tensor, norm1_proj: nn.Module,\n"
        "                   proj: nn.Module, norm2_proj: nn.Module) -> torch.Tensor:"),), cell="inner_to_outer"),
    Variant("self-check-in-answer-cell",
            "patch_embed = torch.randn(2, 5, 8)\n"
            "out = inner_to_outer(torch.randn(8, 4, 3), patch_embed,\n"
            "                     nn.LayerNorm(12), nn.Linear(12, 8), nn.LayerNorm(8))\n"
            "assert out.shape == (2, 5, 8) and torch.equal(out[:, 0], patch_embed[:, 0])\n", END, "inner_to_outer"),
    Variant("self-check-cell-after-model",
            "model = TNT()\n"
            "logits = model(torch.randn(2, 1, 16, 16))\n"
            "assert logits.shape == (2, 10)\n"
            "print('self-check passed')\n", CELL_AFTER, "model"),
]

OWN_SWIN_HELPERS = """\
MASK_VALUE = -100.0


def to_pair(value):
    \"\"\"My own copy of the given helper: 7 -> (7, 7), (7, 5) -> (7, 5).\"\"\"
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])
"""

SWIN = [
    Variant("own-to-pair-and-mask-value", OWN_SWIN_HELPERS, START, "windows"),
    _wrapped("window-partition-in-a-helper", "windows", "def window_partition(x, window_size):", "x, window_size"),
    _subclassed("patch-merging-subclass-with-extras", "merge", "PatchMerging"),
    _subclassed("window-attention-subclass-with-extras", "wattn", "WindowAttention"),
    Variant("self-check-in-answer-cell",
            "x = torch.randn(2, 8, 8, 3)\n"
            "windows = window_partition(x, 4)\n"
            "assert windows.shape == (8, 4, 4, 3)\n"
            "assert torch.equal(window_reverse(windows, 4, 8, 8), x)\n", END, "windows"),
    Variant("self-check-cell-after-model",
            "model = SwinTransformer(img_size=32, patch_size=2, in_chans=1, window_size=4)\n"
            "logits = model(torch.randn(2, 1, 32, 32))\n"
            "assert logits.shape == (2, 10)\n"
            "assert shifted_window_mask(8, 8, 4, 2).shape == (4, 16, 16)\n"
            "print('self-check passed')\n", CELL_AFTER, "model"),
]

SPECIFIC: dict[str, list[Variant]] = {
    "attention": ATTENTION,
    "masking": MASKING,
    "positional_encoding": POSITIONAL_ENCODING,
    "encoder_decoder": ENCODER_DECODER,
    "vit": VIT,
    "tnt": TNT,
    "swin": SWIN,
}

# every topic gets the generic variants; its own (SPECIFIC) are optional
VARIANTS: dict[str, list[Variant]] = {topic: GENERIC + SPECIFIC.get(topic, []) for topic in topics()}


# --------------------------------------------------------------------------- graded bundles

BUNDLE_SIZE = 12  # variants per graded notebook: every variant is graded end to end, in 2-3 notebooks a topic
                  # (each variant also runs alone, in-process, in the quick tier: tests/test_variants.py)


def bundles(topic: str) -> dict[str, list[Variant]]:
    """``VARIANTS[topic]`` in groups of ``BUNDLE_SIZE``, each group applied to one notebook (``apply_bundle``):
    {bundle name: its variants}.  A bundle is still a correct answer plus harmless extra code, so it must score
    full marks; its name lists what it holds, so a failure points at its variants."""
    variants = VARIANTS.get(topic, [])
    return {f"bundle{i // BUNDLE_SIZE + 1}": variants[i:i + BUNDLE_SIZE]
            for i in range(0, len(variants), BUNDLE_SIZE)}


def apply_bundle(notebook, variants: list[Variant]):
    """The reference with every variant of ``variants`` applied, one after the other."""
    for variant in variants:
        notebook = apply_variant(notebook, variant)
    return notebook
