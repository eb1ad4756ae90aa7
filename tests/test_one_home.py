"""One home per implementation: a function or class that the chapters, the course package, the solution notebooks
and the tests define is defined once; the others include it (literalinclude), import it or load it
(``autograder.reference``), so that no copy can drift from another.

The check extracts the top-level definitions of every chapter's code cells, every module of ``coursetools/``, every
code cell of ``solutions/`` and every test module, and reports each name defined in more than one place.
``KNOWN`` lists the repetitions that existed when the check was written: debt that may only shrink. A new
repetition fails, and so does an entry of ``KNOWN`` that is gone (remove it from the list).
"""
from __future__ import annotations

import ast
import re
from collections import defaultdict

import nbformat

from autograder.reference import REPO_ROOT

# names that different pages use for unrelated local code (an animation's frame callback), not one implementation;
# test functions and pytest fixtures are per module by design
HOMONYMS = {"update", "main"}

# name -> the places that define it today (to be paid off: make one the home, include/import it elsewhere)
KNOWN: dict[str, set[str]] = {
    "Attention": {"coursetools/tnt.py", "solutions/tnt.ipynb"},
    "Block": {"coursetools/nn.py", "coursetools/tnt.py", "solutions/tnt.ipynb", "solutions/vit.ipynb"},
    "ClassifierHead": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "DecoderLayer": {"coursetools/seq2seq.py", "solutions/encoder_decoder.ipynb"},
    "EncoderLayer": {"coursetools/seq2seq.py", "solutions/encoder_decoder.ipynb"},
    "LearnedPositionalEmbedding": {"book/positional_encoding.md", "solutions/positional_encoding.ipynb"},
    "Mlp": {"coursetools/mlp.py", "solutions/vit.ipynb"},
    "MultiHeadAttention": {"book/attention.md", "coursetools/attention.py", "solutions/attention.ipynb",
                           "solutions/encoder_decoder.ipynb"},
    "PatchEmbed": {"coursetools/swin.py", "coursetools/vit.py", "solutions/swin.ipynb", "solutions/vit.ipynb"},
    "PatchMerging": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "PixelEmbed": {"coursetools/tnt.py", "solutions/tnt.ipynb"},
    "RecordOps": {"book/attention.md", "book/masking.md"},
    "Seq2SeqTransformer": {"coursetools/seq2seq.py", "solutions/encoder_decoder.ipynb"},
    "SwinBlock": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "SwinStage": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "SwinTransformer": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "TNT": {"coursetools/tnt.py", "solutions/tnt.ipynb"},
    "VisionTransformer": {"coursetools/vit.py", "solutions/vit.ipynb"},
    "WindowAttention": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "accuracy": {"book/vit.md", "coursetools/train.py"},
    "apply_rotary": {"book/positional_encoding.md", "solutions/positional_encoding.ipynb"},
    "attention": {"book/attention.md", "book/masking.md", "coursetools/attention.py"},
    "attention_mask": {"book/masking.md", "solutions/masking.ipynb"},
    "block_macs": {"book/tnt.md", "solutions/swin.ipynb"},
    "causal_mask": {"book/masking.md", "coursetools/masks.py", "solutions/masking.ipynb"},
    "greedy_decode": {"coursetools/seq2seq.py", "solutions/encoder_decoder.ipynb"},
    "label_smoothed_cross_entropy": {"coursetools/seq2seq.py", "solutions/encoder_decoder.ipynb"},
    "masked_attention": {"book/masking.md", "solutions/masking.ipynb"},
    "masked_softmax": {"book/masking.md", "solutions/masking.ipynb"},
    "padding_mask": {"book/masking.md", "coursetools/masks.py", "solutions/masking.ipynb"},
    "patchify": {"coursetools/vit.py", "solutions/vit.ipynb"},
    "relative_position_index": {"book/positional_encoding.md", "coursetools/swin.py",
                                "solutions/positional_encoding.ipynb", "solutions/swin.ipynb"},
    "shifted_window_mask": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "sinusoidal_encoding": {"book/positional_encoding.md", "coursetools/positions.py",
                            "solutions/positional_encoding.ipynb"},
    "torch_transformer": {"tests/test_reference_encoder_decoder.py", "tests/test_seq2seq.py"},
    "to_pair": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "window_and_shift": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "window_partition": {"coursetools/swin.py", "solutions/swin.ipynb"},
    "window_reverse": {"coursetools/swin.py", "solutions/swin.ipynb"},
}

CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(?:---\n.*?\n---\n|(?::[\w-]+:[^\n]*\n)+)?(.*?)^```$", re.S | re.M)


def top_level_names(source: str) -> set[str]:
    """Functions and classes defined at the top level of ``source`` (IPython magics and shell lines skipped)."""
    source = re.sub(r"^(\s*)[%!].*$", r"\1pass", source, flags=re.M)
    tree = ast.parse(source)
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and not node.name.startswith(("_", "test_")) and node.name not in HOMONYMS and not is_fixture(node)}


def is_fixture(node) -> bool:
    """A pytest fixture: each test module may have its own of the same name."""
    return any("fixture" in ast.unparse(decorator) for decorator in getattr(node, "decorator_list", []))


def sources() -> dict[str, list[str]]:
    """{place (path in the repository): code} for chapters, the course package, solutions and tests."""
    found: dict[str, list[str]] = {}
    for path in sorted((REPO_ROOT / "book").glob("*.md")):
        found[f"book/{path.name}"] = CODE_CELL.findall(path.read_text())
    for folder in ("coursetools", "tests"):
        for path in sorted((REPO_ROOT / folder).glob("*.py")):
            found[f"{folder}/{path.name}"] = [path.read_text()]
    for path in sorted((REPO_ROOT / "solutions").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        found[f"solutions/{path.name}"] = [c.source for c in cells if c.cell_type == "code"]
    return found


def repeated(places: dict[str, list[str]]) -> dict[str, set[str]]:
    """{name: places} for every name defined at the top level in more than one place."""
    homes = defaultdict(set)
    for place, codes in places.items():
        for code in codes:
            for name in top_level_names(code):
                homes[name].add(place)
    return {name: where for name, where in homes.items() if len(where) > 1}


def test_no_new_copies_of_an_implementation():
    found = repeated(sources())
    new = {name: sorted(where - KNOWN.get(name, set())) for name, where in found.items()
           if where - KNOWN.get(name, set())}
    assert not new, (f"defined in more than one place (give it one home and include or import it elsewhere): "
                     f"{new}")


def test_known_copies_only_shrink():
    found = repeated(sources())
    paid = {name: sorted(where - found.get(name, set())) for name, where in KNOWN.items()
            if where - found.get(name, set())}
    assert not paid, f"no longer defined there: remove them from KNOWN in {__name__.replace('.', '/')}.py: {paid}"


def test_copy_finder_sees_cells_modules_and_notebooks():
    chapter = "```{code-cell} ipython3\n%matplotlib inline\ndef f(x):\n    return x\n```\n\n" \
              "```{code-cell} ipython3\n---\ntags: [hide-input]\n---\nclass C:\n    def g(self): pass\n```\n"
    places = {"book/a.md": CODE_CELL.findall(chapter), "pkg/b.py": ["def f(y):\n    return y\n\ndef _h(): pass\n"],
              "nb/c.ipynb": ["class C: pass", "def update(): pass"], "book/d.md": ["def update(): pass"]}
    assert repeated(places) == {"f": {"book/a.md", "pkg/b.py"}, "C": {"book/a.md", "nb/c.ipynb"}}
