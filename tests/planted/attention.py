"""Planted bugs for the exercise "attention" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug

BUGS = [
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
]
