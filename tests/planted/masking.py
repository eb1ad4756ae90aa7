"""Planted bugs for the exercise "masking" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug

BUGS = [
    PlantedBug("lengths-off-by-one", "padding_mask",
               "return positions < lengths[:, None]",
               "return positions <= lengths[:, None]"),
    PlantedBug("causal-mask-hides-the-diagonal", "causal_mask",
               "torch.ones(n, n, dtype=torch.bool, device=device).tril()",
               "torch.ones(n, n, dtype=torch.bool, device=device).tril(diagonal=-1)"),
    PlantedBug("mask-polarity-flipped", "masked_softmax",
               'scores = scores.masked_fill(~mask, float("-inf"))',
               'scores = scores.masked_fill(mask, float("-inf"))'),
    # (B, 1, L) instead of (B, 1, 1, L): against (B, H, L, L) scores the batch axis lands on the heads axis
    PlantedBug("mask-broadcast-over-wrong-axis", "attention_mask",
               "keys = padding_mask(lengths, max_len)[:, None, None, :]",
               "keys = padding_mask(lengths, max_len)[:, None, :]"),
    PlantedBug("nan-on-fully-masked-rows", "masked_softmax",
               "    weights = scores.masked_fill(empty, 0.0).softmax(dim=-1)\n"
               "    return weights.masked_fill(empty, 0.0)",
               "    return scores.softmax(dim=-1)"),
    PlantedBug("masks-queries-instead-of-keys", "attention_mask",
               "keys = padding_mask(lengths, max_len)[:, None, None, :]",
               "keys = padding_mask(lengths, max_len)[:, None, :, None]"),
    PlantedBug("zeroed-after-softmax-not-renormalised", "masked_softmax",
               'scores = scores.masked_fill(~mask, float("-inf"))\n'
               "    # A row with no allowed key would be softmax(-inf, ..., -inf) = 0/0 = NaN. Give such rows finite scores\n"
               "    # (any value: a uniform row), then set their weights to 0 after the softmax.\n"
               "    empty = ~mask.any(dim=-1, keepdim=True)                  # (..., L_q, 1)\n"
               "    weights = scores.masked_fill(empty, 0.0).softmax(dim=-1)\n"
               "    return weights.masked_fill(empty, 0.0)",
               "return scores.softmax(dim=-1).masked_fill(~mask, 0.0)  # rows no longer sum to 1"),
    PlantedBug("large-negative-fill-overflows-float16", "masked_softmax",
               'scores = scores.masked_fill(~mask, float("-inf"))',
               "scores = scores.masked_fill(~mask, -1e9)"),
    PlantedBug("positions-created-on-the-cpu", "padding_mask",
               "positions = torch.arange(max_len, device=lengths.device)",
               "positions = torch.arange(max_len)"),
]
