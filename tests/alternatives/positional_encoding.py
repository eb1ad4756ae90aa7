"""Alternative correct solutions for the exercise "positional_encoding" (see tests/planted_bugs.py): each must score
100%."""
from tests.planted_bugs import Alternative

ALTERNATIVES = [
    # the classic tutorial version: div_term = exp(-log(base) 2i / d), even and odd columns filled by slicing
    Alternative("sinusoidal-div-term-and-slices", "sinusoidal",
                "    i = torch.arange(d_model // 2, device=device, dtype=work)             # index of the pair (2i, 2i+1)\n"
                "    inv_freq = base ** (-2 * i / d_model)                                 # w_i = 1 / base^(2i / d_model)\n"
                "    angles = pos * inv_freq                                               # (max_len, d_model / 2)\n"
                "    pe = torch.stack([angles.sin(), angles.cos()], dim=-1)                # (max_len, d_model / 2, 2)\n"
                "    return pe.flatten(-2).to(dtype)                                       # sin, cos, sin, cos, ...\n",
                "    div_term = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=work) * (-math.log(base) / d_model))\n"
                "    pe = torch.zeros(max_len, d_model, device=device, dtype=work)\n"
                "    pe[:, 0::2] = torch.sin(pos * div_term)\n"
                "    pe[:, 1::2] = torch.cos(pos * div_term)\n"
                "    return pe.to(dtype)\n"),
    # BERT-style position ids: index the table instead of slicing it
    Alternative("learned-position-ids", "learned",
                "        return x + self.pos_embed[:length]  # (L, d_model) broadcasts over the batch\n",
                "        position_ids = torch.arange(length, device=x.device)\n"
                "        return x + self.pos_embed[position_ids].unsqueeze(0).expand_as(x)\n"),
    # token coordinates from t // W_w and t % W_w; offsets by broadcasting
    Alternative("index-from-token-numbers", "relative_index",
                "    rows = torch.arange(window_h, device=device)\n"
                "    cols = torch.arange(window_w, device=device)\n"
                "    grid_h, grid_w = torch.meshgrid(rows, cols, indexing=\"ij\")          # (Wh, Ww) each\n"
                "    coords = torch.stack([grid_h.flatten(), grid_w.flatten()])          # (2, N): token t at (t // Ww, t % Ww)\n"
                "    offsets = coords[:, :, None] - coords[:, None, :]                   # (2, N, N): query minus key\n"
                "    dh = offsets[0] + (window_h - 1)                                    # 0 ... 2 Wh - 2\n"
                "    dw = offsets[1] + (window_w - 1)                                    # 0 ... 2 Ww - 2\n"
                "    return dh * (2 * window_w - 1) + dw\n",
                "    token = torch.arange(window_h * window_w, device=device)\n"
                "    row, col = token // window_w, token % window_w\n"
                "    dh = row.view(-1, 1) - row.view(1, -1) + window_h - 1\n"
                "    dw = col.view(-1, 1) - col.view(1, -1) + window_w - 1\n"
                "    return (dh * (2 * window_w - 1) + dw).long()\n"),
    # RoFormer / LLaMA: pairs as complex numbers, multiplied by e^(i m theta)
    Alternative("rope-with-complex-numbers", "rope",
                "    cos, sin = angles.cos(), angles.sin()\n"
                "    x_even, x_odd = x[..., 0::2].to(work), x[..., 1::2].to(work)        # the pairs (x_2i, x_2i+1)\n"
                "    rotated = torch.stack([x_even * cos - x_odd * sin, x_even * sin + x_odd * cos], dim=-1)\n"
                "    return rotated.flatten(-2).to(x.dtype)                              # back to (..., L, d), interleaved\n",
                "    pairs = torch.view_as_complex(x.to(work).reshape(*x.shape[:-1], d // 2, 2).contiguous())\n"
                "    rotation = torch.polar(torch.ones_like(angles), angles)            # e^(i m theta)\n"
                "    rotated = torch.view_as_real(pairs * rotation)                     # (..., L, d / 2, 2)\n"
                "    return rotated.flatten(-2).to(x.dtype)\n"),
    # timm's formulation: x * cos + rotate_half(x) * sin, cos and sin repeated for both members of a pair
    Alternative("rope-rotate-every-two", "rope",
                "    cos, sin = angles.cos(), angles.sin()\n"
                "    x_even, x_odd = x[..., 0::2].to(work), x[..., 1::2].to(work)        # the pairs (x_2i, x_2i+1)\n"
                "    rotated = torch.stack([x_even * cos - x_odd * sin, x_even * sin + x_odd * cos], dim=-1)\n"
                "    return rotated.flatten(-2).to(x.dtype)                              # back to (..., L, d), interleaved\n",
                "    cos = angles.cos().repeat_interleave(2, dim=-1)                     # (..., L, d)\n"
                "    sin = angles.sin().repeat_interleave(2, dim=-1)\n"
                "    xw = x.to(work)\n"
                "    rotated_half = torch.stack([-xw[..., 1::2], xw[..., 0::2]], dim=-1).flatten(-2)  # (-x1, x0, -x3, x2, ...)\n"
                "    return (xw * cos + rotated_half * sin).to(x.dtype)\n"),
    # the grid as an image by transposing and unflattening, and back with flatten
    Alternative("resample-with-transpose-and-flatten", "resample",
                "    image = grid.to(work).reshape(1, old_h, old_w, channels).permute(0, 3, 1, 2)   # (1, C, H, W)\n",
                "    image = grid.to(work).transpose(1, 2).unflatten(2, (old_h, old_w))     # (1, C, H, W)\n"),
    Alternative("resample-read-back-with-flatten", "resample",
                "    grid = image.permute(0, 2, 3, 1).reshape(1, new_h * new_w, channels)     # back to rows, row by row\n",
                "    grid = image.flatten(2).transpose(1, 2)\n"),
    # the offsets counted one by one
    Alternative("counts-by-enumerating-offsets", "counts",
                "    return (2 * window_h - 1) * (2 * window_w - 1) * num_heads\n",
                "    cells = [(r, c) for r in range(window_h) for c in range(window_w)]\n"
                "    offsets = {(rq - rk, cq - ck) for rq, cq in cells for rk, ck in cells}\n"
                "    return len(offsets) * num_heads\n"),
    # PyTorch's attention on the rotated queries and keys
    Alternative("rotary-attention-with-sdpa", "rotary_attention",
                "    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., L, L)\n"
                "    return scores.softmax(dim=-1) @ v\n",
                "    return torch.nn.functional.scaled_dot_product_attention(q, k, v)\n"),
]
