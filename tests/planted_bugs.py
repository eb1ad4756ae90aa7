"""Planted bugs: each is a small edit of a reference solution that a real student could make.

The hidden tests must catch every one of them (``tests/test_grading.py``).  A bug
is a literal text replacement inside one solution cell; ``apply_bug`` fails loudly
if the text is not found, so a bug can never silently stop being planted when a
reference solution is edited.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass


@dataclass(frozen=True)
class PlantedBug:
    name: str
    cell: str          # grade_id of the solution cell to edit
    old: str
    new: str


PLANTED_BUGS: dict[str, list[PlantedBug]] = {
    "attention": [
        PlantedBug("no-scaling", "sdpa",
                   "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)",
                   "scores = q @ k.transpose(-2, -1)"),
        PlantedBug("scale-by-dk-not-sqrt", "sdpa",
                   "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)",
                   "scores = q @ k.transpose(-2, -1) / d_k"),
        PlantedBug("softmax-wrong-axis", "sdpa",
                   "weights = scores.softmax(dim=-1)",
                   "weights = scores.softmax(dim=-2)"),
        PlantedBug("mask-after-softmax", "sdpa",
                   '        scores = scores.masked_fill(~mask, float("-inf"))\n    weights = scores.softmax(dim=-1)',
                   "        weights = scores.softmax(dim=-1).masked_fill(~mask, 0.0)\n"
                   "        return weights @ v, weights\n    weights = scores.softmax(dim=-1)"),
        PlantedBug("mask-polarity-inverted", "sdpa",
                   'scores.masked_fill(~mask, float("-inf"))',
                   'scores.masked_fill(mask, float("-inf"))'),
        PlantedBug("heads-split-by-reshape-without-transpose", "mha",
                   "return x.view(batch, length, self.num_heads, self.d_head).transpose(1, 2)",
                   "return x.reshape(batch, self.num_heads, length, self.d_head)"),
        PlantedBug("missing-output-projection", "mha",
                   "return self.out_proj(out), weights",
                   "return out, weights"),
        PlantedBug("weights-not-normalised", "sdpa",
                   "return weights @ v, weights",
                   "return weights @ v, scores.exp()"),
    ],
}


def apply_bug(notebook, bug: PlantedBug):
    """A copy of ``notebook`` with ``bug`` planted in its solution cell ``bug.cell``."""
    buggy = copy.deepcopy(notebook)
    cells = [c for c in buggy.cells if c.metadata.get("nbgrader", {}).get("grade_id") == bug.cell]
    if len(cells) != 1 or cells[0].source.count(bug.old) != 1:
        raise ValueError(f"planted bug {bug.name!r}: text to replace not found exactly once in cell {bug.cell!r}")
    cells[0].source = cells[0].source.replace(bug.old, bug.new)
    return buggy
