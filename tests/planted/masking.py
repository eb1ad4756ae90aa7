"""Planted bugs for the exercise "masking" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug

# the reference's masked_softmax after its input checks: -inf at masked keys, fully masked rows set to 0
MASKED_SOFTMAX_TAIL = ('scores = scores.masked_fill(~mask, float("-inf"))\n'
                       "    # A row with no allowed key would be softmax(-inf, ..., -inf) = 0/0 = NaN. Give such rows finite "
                       "scores\n"
                       "    # (any value: a uniform row), then set their weights to 0 after the softmax.\n"
                       "    empty = ~mask.any(dim=-1, keepdim=True)                  # (..., L_q, 1)\n"
                       "    weights = scores.masked_fill(empty, 0.0).softmax(dim=-1)\n"
                       "    return weights.masked_fill(empty, 0.0)")

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
               MASKED_SOFTMAX_TAIL,
               "return scores.softmax(dim=-1).masked_fill(~mask, 0.0)  # rows no longer sum to 1"),
    PlantedBug("large-negative-fill-overflows-float16", "masked_softmax",
               'scores = scores.masked_fill(~mask, float("-inf"))',
               "scores = scores.masked_fill(~mask, -1e9)"),
    PlantedBug("positions-created-on-the-cpu", "padding_mask",
               "positions = torch.arange(max_len, device=lengths.device)",
               "positions = torch.arange(max_len)"),
    # more mistakes students make
    PlantedBug("causal-mask-float-not-bool", "causal_mask",
               "return torch.ones(n, n, dtype=torch.bool, device=device).tril()",
               "return torch.tril(torch.ones(n, n, device=device))"),
    PlantedBug("causal-mask-upper-triangle", "causal_mask",
               "return torch.ones(n, n, dtype=torch.bool, device=device).tril()",
               "return torch.ones(n, n, dtype=torch.bool, device=device).triu()"),
    # the mask as wide as the longest sequence, not max_len
    PlantedBug("padding-mask-width-from-longest-length", "padding_mask",
               "positions = torch.arange(max_len, device=lengths.device)",
               "positions = torch.arange(int(lengths.max()) if len(lengths) else max_len, device=lengths.device)"),
    # without the causal part the (B, 1, 1, L) padding mask is returned as it is, not (B, 1, L, L)
    PlantedBug("non-causal-mask-not-expanded", "attention_mask",
               "        allowed = torch.ones(max_len, max_len, dtype=torch.bool, device=lengths.device)\n",
               "        return keys\n"),
    PlantedBug("padding-or-causal-instead-of-and", "attention_mask",
               "return keys & allowed",
               "return keys | allowed"),
    PlantedBug("scores-masked-in-place", "masked_softmax",
               'scores = scores.masked_fill(~mask, float("-inf"))',
               'scores.masked_fill_(~mask, float("-inf"))'),
    # an additive -inf mask (as for nn.MultiheadAttention's float masks) and NaN replaced after the softmax: the
    # forward pass is right, but the NaN gradient of a fully masked row flows back through the addition
    PlantedBug("additive-mask-and-nan-to-num", "masked_softmax",
               MASKED_SOFTMAX_TAIL,
               "additive = torch.zeros(mask.shape, dtype=scores.dtype, device=scores.device).masked_fill(~mask, "
               'float("-inf"))\n'
               "    return torch.nan_to_num((scores + additive).softmax(dim=-1), nan=0.0)"),
    PlantedBug("fully-masked-rows-uniform", "masked_softmax",
               "    return weights.masked_fill(empty, 0.0)",
               "    return weights"),
    PlantedBug("attention-scaled-by-sqrt-of-length", "masked_attention",
               "scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])",
               "scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-2])"),
]
