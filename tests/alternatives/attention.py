"""Alternative correct solutions for the exercise "attention" (see tests/planted_bugs.py): each must score 100%."""
from tests.planted_bugs import Alternative

ALTERNATIVES = [
    Alternative("einsum", "sdpa",
                "    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., L_q, L_k)\n",
                '    scores = torch.einsum("...qd,...kd->...qk", q, k) / d_k ** 0.5\n'),
    Alternative("where-and-softmax-by-hand", "sdpa",
                '        scores = scores.masked_fill(~mask, float("-inf"))\n'
                "    weights = scores.softmax(dim=-1)\n"
                "    if mask is not None:  # a query with no allowed key: all-zero weights (as in the masking chapter), not 0/0 = NaN\n"
                "        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)\n"
                "    return weights @ v, weights\n",
                '        scores = torch.where(mask, scores, float("-inf"))\n'
                "    weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True))\n"
                "    weights = weights / weights.sum(dim=-1, keepdim=True)\n"
                '    return torch.einsum("...qk,...kd->...qd", weights, v), weights\n'),
    # one head at a time on slices of the projections, with a helper function instead of the _split_heads method
    Alternative("loop-over-heads", "mha",
                "        batch, len_q, _ = query.shape\n"
                "        q = self._split_heads(self.q_proj(query))  # (B, h, L_q, d_head)\n"
                "        k = self._split_heads(self.k_proj(key))    # (B, h, L_k, d_head)\n"
                "        v = self._split_heads(self.v_proj(value))  # (B, h, L_k, d_head)\n"
                "        out, weights = scaled_dot_product_attention(q, k, v, mask)\n"
                "        out = out.transpose(1, 2).reshape(batch, len_q, self.d_model)  # merge heads\n"
                "        return self.out_proj(out), weights\n"
                "\n"
                "    def _split_heads(self, x):\n"
                '        """(B, L, d_model) -> (B, h, L, d_head)"""\n'
                "        batch, length, _ = x.shape\n"
                "        return x.view(batch, length, self.num_heads, self.d_head).transpose(1, 2)\n",
                "        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)\n"
                "        outputs, weights = [], []\n"
                "        for head in range(self.num_heads):\n"
                "            cols = slice(head * self.d_head, (head + 1) * self.d_head)\n"
                "            head_mask = mask_of_head(mask, head, (query.shape[0], self.num_heads, q.shape[1], k.shape[1]))\n"
                "            out, w = scaled_dot_product_attention(q[..., cols], k[..., cols], v[..., cols], head_mask)\n"
                "            outputs.append(out)\n"
                "            weights.append(w)\n"
                "        return self.out_proj(torch.cat(outputs, dim=-1)), torch.stack(weights, dim=1)\n"
                "\n"
                "\n"
                "def mask_of_head(mask, head, scores_shape):\n"
                '    """The (B, L_q, L_k) mask of one head, from a mask that broadcasts to (B, h, L_q, L_k)."""\n'
                "    return None if mask is None else mask.expand(scores_shape)[:, head]\n"),
    # debugging output left in: a warning and a line on stderr at every call must cost nothing
    Alternative("warns-and-prints-to-stderr", "sdpa",
                "    weights = scores.softmax(dim=-1)\n",
                "    import sys, warnings\n"
                "    if mask is None:\n"
                '        warnings.warn("attention without a mask: every query sees every key")\n'
                '    print(f"attention scores {tuple(scores.shape)}", file=sys.stderr)\n'
                "    weights = scores.softmax(dim=-1)\n"),
    Alternative("reshape-and-permute", "mha",
                "        out = out.transpose(1, 2).reshape(batch, len_q, self.d_model)  # merge heads\n",
                "        out = out.permute(0, 2, 1, 3).flatten(start_dim=2)  # merge heads\n"),
]

ALTERNATIVES += [
    # part 3: split the packed output into q, k, v first, then each into heads
    Alternative("packed-chunk-then-split-heads", "packed",
                "q, k, v = qkv.view(batch, length, 3, self.num_heads, self.d_head).permute(2, 0, 3, 1, 4).unbind(dim=0)",
                "q, k, v = (t.unflatten(-1, (self.num_heads, self.d_head)).transpose(1, 2) for t in qkv.chunk(3, dim=-1))"),
    # part 4: no copies of keys and values: the query heads of a group become one longer block of queries
    Alternative("gqa-queries-grouped-instead-of-keys-copied", "gqa",
                "    group = q.shape[1] // k.shape[1]\n"
                "    k = k.repeat_interleave(group, dim=1)  # (B, h, L_k, d_k): key/value head j serves query heads j*group..\n"
                "    v = v.repeat_interleave(group, dim=1)\n"
                "    return scaled_dot_product_attention(q, k, v, mask)\n",
                "    b, h, len_q, d_k = q.shape\n"
                "    g, len_k = k.shape[1], k.shape[2]\n"
                "    if mask is not None:\n"
                "        mask = mask.expand(b, h, len_q, len_k).reshape(b, g, h // g, len_q, len_k)\n"
                "    out, weights = scaled_dot_product_attention(q.reshape(b, g, h // g, len_q, d_k), k[:, :, None],\n"
                "                                                v[:, :, None], mask)  # (B, g, h/g, L_q, ...)\n"
                "    return out.reshape(b, h, len_q, v.shape[-1]), weights.reshape(b, h, len_q, len_k)\n"),
    Alternative("gqa-expand-and-reshape", "gqa",
                "    k = k.repeat_interleave(group, dim=1)  # (B, h, L_k, d_k): key/value head j serves query heads j*group..\n"
                "    v = v.repeat_interleave(group, dim=1)\n",
                "    b, g = k.shape[:2]\n"
                "    k = k[:, :, None].expand(b, g, group, *k.shape[2:]).reshape(b, g * group, *k.shape[2:])\n"
                "    v = v[:, :, None].expand(b, g, group, *v.shape[2:]).reshape(b, g * group, *v.shape[2:])\n"),
    # part 5: other ways to count
    Alternative("costs-from-products-and-bits", "costs",
                "    return batch * heads * len_q * len_k * dtype.itemsize\n",
                "    return math.prod((batch, heads, len_q, len_k)) * torch.finfo(dtype).bits // 8\n"),
    Alternative("mha-flops-written-out", "costs",
                "    projections = 2 * batch * (2 * len_q + 2 * len_k) * d_model * d_model  # q and out on L_q rows; k and v on L_k\n"
                "    return projections + attention_flops(batch, 1, len_q, len_k, d_model, d_model)  # h heads of d_model / h\n",
                "    linear = lambda rows: 2 * batch * rows * d_model * d_model\n"
                "    return linear(len_q) + 2 * linear(len_k) + linear(len_q) + 4 * batch * len_q * len_k * d_model\n"),
    Alternative("gqa-parameters-layer-by-layer", "costs",
                "    d_kv = num_kv_heads * (d_model // num_heads)          # output features of k_proj and of v_proj\n"
                "    weights = 2 * d_model * d_model + 2 * d_kv * d_model  # q_proj, out_proj; k_proj, v_proj\n"
                "    biases = 2 * d_model + 2 * d_kv if bias else 0\n"
                "    return weights + biases\n",
                "    d_head = d_model // num_heads\n"
                "    shapes = [(d_model, d_model), (num_kv_heads * d_head, d_model), (num_kv_heads * d_head, d_model),\n"
                "              (d_model, d_model)]\n"
                "    return sum(out * inp + (out if bias else 0) for out, inp in shapes)\n"),
]
