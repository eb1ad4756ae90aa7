"""Alternative correct solutions for the exercise "masking" (see tests/planted_bugs.py): each must score 100%."""
from tests.planted.masking import MASKED_SOFTMAX_TAIL
from tests.planted_bugs import Alternative

ALTERNATIVES = [
    Alternative("causal-mask-from-position-comparison", "causal_mask",
                "    return torch.ones(n, n, dtype=torch.bool, device=device).tril()  # keep the diagonal: i sees itself\n",
                "    position = torch.arange(n, device=device)\n"
                "    return position[None, :] <= position[:, None]  # key j <= query i\n"),
    # one broadcast comparison per axis instead of reusing padding_mask and causal_mask
    Alternative("attention-mask-built-in-one-go", "attention_mask",
                "    keys = padding_mask(lengths, max_len)[:, None, None, :]  # (B, 1, 1, L): same keys for every head and query\n"
                "    if causal:\n"
                "        allowed = causal_mask(max_len, device=lengths.device)  # (L, L), broadcasts as (1, 1, L, L)\n"
                "    else:\n"
                "        allowed = torch.ones(max_len, max_len, dtype=torch.bool, device=lengths.device)\n"
                "    return keys & allowed                                     # (B, 1, L, L)\n",
                "    position = torch.arange(max_len, device=lengths.device)\n"
                "    mask = (position < lengths.view(-1, 1, 1, 1)).expand(-1, 1, max_len, -1)  # (B, 1, L, L)\n"
                "    if causal:\n"
                "        mask = mask & (position.view(-1, 1) >= position.view(1, -1))\n"
                "    return mask\n"),
    # exp / sum by hand in (at least) float32, with the row maximum subtracted; empty rows divide 0 by 1
    Alternative("softmax-by-hand", "masked_softmax",
                "    " + MASKED_SOFTMAX_TAIL + "\n",
                "    work = torch.promote_types(scores.dtype, torch.float32)\n"
                "    masked = torch.where(mask, scores.to(work), float(\"-inf\"))\n"
                "    row_max = masked.amax(dim=-1, keepdim=True)\n"
                "    row_max = torch.where(torch.isinf(row_max), torch.zeros_like(row_max), row_max).detach()\n"
                "    e = torch.exp(masked - row_max)                          # exactly 0 at masked keys\n"
                "    total = e.sum(dim=-1, keepdim=True)\n"
                "    return (e / torch.where(total == 0, torch.ones_like(total), total)).to(scores.dtype)\n"),
    # the NaN of a fully masked row replaced after the softmax: correct, because masked_fill's backward gives the
    # masked scores (every score of such a row) a zero gradient, whatever NaN arrives from the softmax
    Alternative("nan-to-num-after-softmax", "masked_softmax",
                "    weights = scores.masked_fill(empty, 0.0).softmax(dim=-1)\n"
                "    return weights.masked_fill(empty, 0.0)\n",
                "    return torch.nan_to_num(scores.softmax(dim=-1), nan=0.0)\n"),
    Alternative("queries-scaled-first-einsum", "masked_attention",
                "    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., L_q, L_k)\n"
                "    weights = masked_softmax(scores, mask)\n"
                "    return weights @ v, weights\n",
                "    scores = torch.einsum(\"...id,...jd->...ij\", q * q.shape[-1] ** -0.5, k)\n"
                "    weights = masked_softmax(scores, mask)\n"
                "    return torch.einsum(\"...ij,...jd->...id\", weights, v), weights\n"),
]

ALTERNATIVES += [
    # part 6: the formula in one broadcast expression
    Alternative("prefix-mask-from-position-comparisons", "prefix_lm_mask",
                "    prefix = padding_mask(prefix_lengths, max_len)           # (B, L): True at the prefix keys\n"
                "    seen = causal_mask(max_len, device=lengths.device) | prefix[:, None, None, :]  # (B, 1, L, L)\n"
                "    return keys[:, None, None, :] & seen\n",
                "    j = torch.arange(max_len, device=lengths.device)   # keys, along the last axis\n"
                "    i = j[:, None]                                      # queries\n"
                "    return (j < lengths.view(-1, 1, 1, 1)) & ((j <= i) | (j < prefix_lengths.view(-1, 1, 1, 1)))\n"),
    # part 6 from part 3: causal everywhere, or bidirectional where the key is in the prefix
    Alternative("prefix-mask-from-attention-masks", "prefix_lm_mask",
                "    seen = causal_mask(max_len, device=lengths.device) | prefix[:, None, None, :]  # (B, 1, L, L)\n"
                "    return keys[:, None, None, :] & seen\n",
                "    full = attention_mask(lengths, max_len, causal=False)\n"
                "    return torch.where(prefix[:, None, None, :], full, attention_mask(lengths, max_len, causal=True))\n"),
    # part 7: sums instead of closed forms
    Alternative("counts-by-summing-rows", "counts",
                "    bidirectional = prefix * prefix                                   # prefix queries see the whole prefix\n"
                "    causal = (length * (length + 1) - prefix * (prefix + 1)) // 2    # query i >= prefix sees keys 0..i: i + 1 keys\n"
                "    return bidirectional + causal\n",
                "    return sum(max(i + 1, prefix) for i in range(length))  # row i: keys 0..i, or the whole prefix\n"),
    Alternative("fraction-by-summing-rows", "counts",
                "        if causal:  # query i sees keys j <= i with j < n: min(i + 1, n) keys, for every query i < L\n"
                "            allowed += n * (n + 1) // 2 + (total - n) * n\n",
                "        if causal:\n"
                "            allowed += sum(min(i + 1, n) for i in range(total))\n"),
    # part 8: other correct fixes
    Alternative("loss-where-then-mean-over-real", "masked_token_loss",
                "    return (per_token * real).sum() / real.sum()\n",
                "    return torch.where(real, per_token, 0.0).sum() / real.sum().clamp(min=1)\n"),
    Alternative("loss-with-ignore-index", "masked_token_loss",
                "    return (per_token * real).sum() / real.sum()\n",
                "    return F.cross_entropy(logits.reshape(-1, vocab), targets.masked_fill(~real, -100).reshape(-1))\n"),
]
