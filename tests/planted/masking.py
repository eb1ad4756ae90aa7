"""Planted bugs for the exercise "masking" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug, Warned

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

# ---- part 6, the prefix-LM mask ----
PREFIX_TAIL = ("    prefix = padding_mask(prefix_lengths, max_len)           # (B, L): True at the prefix keys\n"
               "    seen = causal_mask(max_len, device=lengths.device) | prefix[:, None, None, :]  # (B, 1, L, L)\n"
               "    return keys[:, None, None, :] & seen\n")
BUGS += [
    PlantedBug("prefix-padding-keys-visible", "prefix_lm_mask",
               "    return keys[:, None, None, :] & seen\n", "    return seen.expand(len(lengths), 1, max_len, max_len)\n"),
    PlantedBug("prefix-one-token-too-long", "prefix_lm_mask",
               "    prefix = padding_mask(prefix_lengths, max_len)           #",
               "    prefix = torch.arange(max_len, device=lengths.device) <= prefix_lengths[:, None]  #"),
    # the prefix queries see every real key, instead of every query seeing the prefix keys
    PlantedBug("prefix-on-the-queries", "prefix_lm_mask",
               "| prefix[:, None, None, :]", "| prefix[:, None, :, None]"),
    PlantedBug("prefix-and-instead-of-or", "prefix_lm_mask",
               "causal_mask(max_len, device=lengths.device) | prefix", "causal_mask(max_len, device=lengths.device) & prefix"),
    PlantedBug("prefix-bounds-not-checked", "prefix_lm_mask",
               'if prefix_lengths.device.type != "meta" and ((prefix_lengths < 0).any() or (prefix_lengths > lengths).any()):',
               'if prefix_lengths.device.type != "meta" and (prefix_lengths < 0).any():'),
    PlantedBug("prefix-values-checked-on-meta", "prefix_lm_mask",
               'if prefix_lengths.device.type != "meta" and (', "if ("),
    PlantedBug("prefix-shape-not-checked", "prefix_lm_mask",
               "    if prefix_lengths.shape != lengths.shape:\n", "    if prefix_lengths.dim() != 1:\n"),
]

# ---- part 7, counting ----
BUGS += [
    PlantedBug("pairs-prefix-counted-causally", "counts",
               "bidirectional = prefix * prefix ", "bidirectional = prefix * (prefix + 1) // 2 "),
    PlantedBug("pairs-diagonal-left-out", "counts",
               "causal = (length * (length + 1) - prefix * (prefix + 1)) // 2",
               "causal = (length * (length - 1) - prefix * (prefix - 1)) // 2"),
    # padding masked on the queries as well as on the keys
    PlantedBug("fraction-padding-queries-masked", "counts",
               "            allowed += total * n\n", "            allowed += n * n\n"),
    PlantedBug("fraction-causal-padding-queries-forgotten", "counts",
               "            allowed += n * (n + 1) // 2 + (total - n) * n\n", "            allowed += n * (n + 1) // 2\n"),
    PlantedBug("fraction-of-allowed-scores", "counts",
               "    return 1 - allowed / (len(lengths) * total * total)", "    return allowed / (len(lengths) * total * total)"),
    PlantedBug("fraction-per-sequence-not-per-score", "counts",
               "    return 1 - allowed / (len(lengths) * total * total)", "    return 1 - allowed / (sum(lengths) * total)"),
]

# ---- part 8, find and fix the bug (the reference is the fixed masked_token_loss) ----
BUGS += [
    PlantedBug("loss-mean-over-all-positions", "masked_token_loss",
               "return (per_token * real).sum() / real.sum()", "return (per_token * real).mean()"),
    PlantedBug("loss-summed-not-averaged", "masked_token_loss",
               "return (per_token * real).sum() / real.sum()", "return (per_token * real).sum()"),
    PlantedBug("loss-divided-by-batch-size", "masked_token_loss",
               "return (per_token * real).sum() / real.sum()", "return (per_token * real).sum() / batch"),
    # each sentence weighs the same, not each token
    PlantedBug("loss-mean-of-sequence-means", "masked_token_loss",
               "return (per_token * real).sum() / real.sum()",
               "return ((per_token * real).sum(dim=1) / lengths.clamp(min=1)).mean()"),
    PlantedBug("loss-padding-of-one-sequence-counted", "masked_token_loss",
               "return (per_token * real).sum() / real.sum()", "return (per_token * real).sum() / (real.sum() + (~real).any())"),
]

# ---- mistakes the chapter warns about: each fails a *visible* test cell, with a message naming the concept ----
WARNED = [
    Warned("causal-mask-hides-the-diagonal", "causal_mask",
           "torch.ones(n, n, dtype=torch.bool, device=device).tril()",
           "torch.ones(n, n, dtype=torch.bool, device=device).tril(diagonal=-1)",
           warning="Causal masks", caught_by="test_causal_mask_visible", says="diagonal"),
    Warned("padding-mask-missing-an-axis", "attention_mask",
           "keys = padding_mask(lengths, max_len)[:, None, None, :]", "keys = padding_mask(lengths, max_len)[:, None, :]",
           warning="Combining both: shapes and broadcasting", caught_by="test_attention_mask_visible",
           says="(B, 1, L, L)"),
    Warned("padding-masks-the-queries", "attention_mask",
           "keys = padding_mask(lengths, max_len)[:, None, None, :]",
           "keys = padding_mask(lengths, max_len)[:, None, :, None]",
           warning="Padding masks from lengths", caught_by="test_attention_mask_visible", says="not the queries"),
    Warned("nan-on-fully-masked-rows", "masked_softmax",
           "    weights = scores.masked_fill(empty, 0.0).softmax(dim=-1)\n    return weights.masked_fill(empty, 0.0)",
           "    return scores.softmax(dim=-1)",
           warning="Rows where everything is masked", caught_by="test_masked_softmax_visible",
           says="fully masked row must give zeros"),
    Warned("large-negative-fill-overflows-float16", "masked_softmax",
           'scores = scores.masked_fill(~mask, float("-inf"))', "scores = scores.masked_fill(~mask, -1e9)",
           warning="or a large negative number?", caught_by="test_masked_softmax_visible", says="fit in float16"),
    Warned("weights-zeroed-after-the-softmax", "masked_softmax",
           MASKED_SOFTMAX_TAIL, "return scores.softmax(dim=-1).masked_fill(~mask, 0.0)",
           warning="Boolean and additive masks", caught_by="test_masked_softmax_visible", says="before the softmax"),
    Warned("mask-polarity-of-nn-multiheadattention", "masked_softmax",
           'scores = scores.masked_fill(~mask, float("-inf"))', 'scores = scores.masked_fill(mask, float("-inf"))',
           warning="PyTorch's conventions, side by side", caught_by="test_masked_softmax_visible",
           says="True = may attend"),
    Warned("additive-mask-and-nan-to-num", "masked_softmax",
           MASKED_SOFTMAX_TAIL,
           "additive = torch.zeros(mask.shape, dtype=scores.dtype, device=scores.device).masked_fill(~mask, "
           'float("-inf"))\n'
           "    return torch.nan_to_num((scores + additive).softmax(dim=-1), nan=0.0)",
           warning="A safe masked softmax", caught_by="test_masked_softmax_visible", says="gradient"),
    Warned("loss-mean-over-all-positions", "masked_token_loss",
           "return (per_token * real).sum() / real.sum()", "return (per_token * real).mean()",
           warning="Masking the loss", caught_by="test_masked_token_loss_visible", says="real tokens"),
]
