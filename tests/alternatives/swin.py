"""Alternative correct solutions for the exercise "swin" (see tests/planted_bugs.py): each must score 100%."""
from tests.planted_bugs import Alternative

ALTERNATIVES = [
    # a loop over the windows: slices stacked in row-major order
    Alternative("partition-with-a-loop", "windows",
                "    x = x.view(batch, height // win_h, win_h, width // win_w, win_w, channels)\n"
                "    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, win_h, win_w, channels)\n",
                "    windows = [x[:, top:top + win_h, left:left + win_w]\n"
                "               for top in range(0, height, win_h) for left in range(0, width, win_w)]\n"
                "    return torch.stack(windows, dim=1).reshape(-1, win_h, win_w, channels)   # (B, nW, ...) -> (B * nW, ...)\n"),
    # the windows glued back into strips, and the strips into the map
    Alternative("reverse-with-a-loop", "windows",
                "    x = windows.view(-1, height // win_h, width // win_w, win_h, win_w, channels)\n"
                "    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)\n",
                "    rows, cols = height // win_h, width // win_w\n"
                "    windows = windows.reshape(-1, rows * cols, win_h, win_w, channels)  # (B, nW, M_h, M_w, C)\n"
                "    strips = [torch.cat([windows[:, r * cols + c] for c in range(cols)], dim=2) for r in range(rows)]\n"
                "    return torch.cat(strips, dim=1)\n"),
    # the region of each row and column computed from its coordinate instead of slice assignments
    Alternative("mask-regions-from-coordinates", "mask",
                "    labels = torch.zeros(1, height, width, 1, dtype=torch.long, device=device)  # region label of each token\n"
                "    label = 0\n"
                "    for rows in (slice(0, -win_h), slice(-win_h, -shift_h), slice(-shift_h, None)):\n"
                "        for cols in (slice(0, -win_w), slice(-win_w, -shift_w), slice(-shift_w, None)):\n"
                "            labels[:, rows, cols, :] = label\n"
                "            label += 1\n",
                "    row = torch.arange(height, device=device)\n"
                "    col = torch.arange(width, device=device)\n"
                "    row_part = (row >= height - win_h).long() + (row >= height - shift_h).long()   # 0, 1 or 2\n"
                "    col_part = (col >= width - win_w).long() + (col >= width - shift_w).long()\n"
                "    labels = (3 * row_part[:, None] + col_part[None, :]).view(1, height, width, 1)\n"),
    # a 2-D index gathers the whole (N, N, heads) table at once
    Alternative("bias-gathered-with-the-2d-index", "wattn",
                "        n = self.relative_position_index.shape[0]\n"
                "        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]  # (N * N, heads)\n"
                "        return bias.view(n, n, self.num_heads).permute(2, 0, 1)\n",
                "        return self.relative_position_bias_table[self.relative_position_index].permute(2, 0, 1).contiguous()\n"),
    # einsum, scale after the product, and the (nW, N, N) mask repeated once per image
    Alternative("window-attention-einsum-and-repeated-mask", "wattn",
                "        qkv = self.qkv(x).reshape(batch_windows, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)\n"
                "        q, k, v = qkv.unbind(0)                                        # (B * nW, heads, N, head_dim) each\n"
                "        scores = (q * self.scale) @ k.transpose(-2, -1)                # (B * nW, heads, N, N)\n"
                "        scores = scores + self.relative_position_bias()                # broadcast over windows\n"
                "        if mask is not None:\n"
                "            num_windows = mask.shape[0]\n"
                "            scores = scores.view(-1, num_windows, self.num_heads, n, n) + mask[None, :, None]\n"
                "            scores = scores.view(-1, self.num_heads, n, n)\n"
                "        weights = scores.softmax(dim=-1)\n"
                "        out = (weights @ v).transpose(1, 2).reshape(batch_windows, n, self.dim)\n",
                "        qkv = self.qkv(x).view(batch_windows, n, 3, self.num_heads, self.head_dim)\n"
                "        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))    # (B * nW, heads, N, head_dim)\n"
                "        scores = torch.einsum(\"whid,whjd->whij\", q, k) * self.scale + self.relative_position_bias()[None]\n"
                "        if mask is not None:\n"
                "            scores = scores + mask.repeat(batch_windows // mask.shape[0], 1, 1)[:, None]\n"
                "        out = torch.einsum(\"whij,whjd->wihd\", scores.softmax(dim=-1), v).reshape(batch_windows, n, self.dim)\n"),
    # the cyclic shift written with slices and torch.cat (a local helper) instead of torch.roll
    Alternative("cyclic-shift-with-slices", "block",
                "        if shift_h or shift_w:\n"
                "            x = torch.roll(x, shifts=(-shift_h, -shift_w), dims=(1, 2))          # cyclic shift\n",
                "        def roll_up_left(t, sh, sw):  # t[:, i, j] <- t[:, (i + sh) % H, (j + sw) % W]\n"
                "            t = torch.cat([t[:, sh:], t[:, :sh]], dim=1)\n"
                "            return torch.cat([t[:, :, sw:], t[:, :, :sw]], dim=2)\n"
                "\n"
                "        if shift_h or shift_w:\n"
                "            x = roll_up_left(x, shift_h, shift_w)\n"),
    # the 2 x 2 neighbours gathered by one view and the non-naive permute: column parity major, row parity minor
    Alternative("merge-with-view-and-permute", "merge",
                "        x0 = x[:, 0::2, 0::2]   # even row, even column\n"
                "        x1 = x[:, 1::2, 0::2]   # odd row, even column\n"
                "        x2 = x[:, 0::2, 1::2]   # even row, odd column\n"
                "        x3 = x[:, 1::2, 1::2]   # odd row, odd column\n"
                "        x = torch.cat([x0, x1, x2, x3], dim=-1)  # (B, H/2, W/2, 4C)\n",
                "        batch, height, width, channels = x.shape\n"
                "        x = x.reshape(batch, height // 2, 2, width // 2, 2, channels)   # (B, H/2, row parity, W/2, col parity, C)\n"
                "        x = x.permute(0, 1, 3, 4, 2, 5).reshape(batch, height // 2, width // 2, 4 * channels)\n"),
    # masked pairs counted from the 1-D region labels of each axis, band by band (O(H + W), still fast enough)
    Alternative("masked-pairs-from-1d-labels", "masked_pairs",
                "    allowed, pairs = 1, 1\n"
                "    for size, window, shift in zip((height, width), to_pair(window_size), to_pair(shift_size)):\n"
                "        if size <= window:                                  # the window shrinks to the map and stops shifting\n"
                "            window, shift = size, 0\n"
                "        padded = -(-size // window) * window                # rounded up to a multiple of the window\n"
                "        # along this axis every band of windows but the last is one region; the last is cut into M - s and s\n"
                "        allowed *= (padded // window - 1) * window ** 2 + (window - shift) ** 2 + shift ** 2\n"
                "        pairs *= padded * window                            # (padded / M) bands of M tokens, M^2 pairs in each\n"
                "    return pairs - allowed\n",
                "    from collections import Counter\n"
                "    axes = []\n"
                "    for size, window, shift in zip((height, width), to_pair(window_size), to_pair(shift_size)):\n"
                "        if size <= window:\n"
                "            window, shift = size, 0\n"
                "        padded = math.ceil(size / window) * window\n"
                "        labels = [0] * (padded - window) + [1] * (window - shift) + [2] * shift   # part of each row\n"
                "        same = sum(sum(n * n for n in Counter(labels[start:start + window]).values())\n"
                "                   for start in range(0, padded, window))                     # same-part pairs\n"
                "        axes.append((same, padded * window))\n"
                "    (same_h, all_h), (same_w, all_w) = axes\n"
                "    return all_h * all_w - same_h * same_w\n"),
    # parameters listed layer by layer; multiply-adds counted window by window
    Alternative("block-cost-layer-by-layer-and-per-window", "cost",
                "    hidden = int(dim * mlp_ratio)\n"
                "    norms = 2 * 2 * dim                                          # norm1 and norm2: weight and bias\n"
                "    attention = (3 * dim * dim + 3 * dim) + (dim * dim + dim)    # qkv and proj, with biases\n"
                "    table = (2 * win_h - 1) * (2 * win_w - 1) * num_heads        # one row per offset, one column per head\n"
                "    mlp = (dim * hidden + hidden) + (hidden * dim + dim)         # fc1 and fc2, with biases\n"
                "    return norms + attention + table + mlp\n",
                "    hidden = int(dim * mlp_ratio)\n"
                "    linears = [(dim, 3 * dim), (dim, dim), (dim, hidden), (hidden, dim)]   # qkv, proj, fc1, fc2\n"
                "    layer_norms = [dim, dim]\n"
                "    table = (2 * win_h - 1) * (2 * win_w - 1) * num_heads\n"
                "    return sum(i * o + o for i, o in linears) + sum(2 * n for n in layer_norms) + table\n"),
    Alternative("block-macs-per-window", "cost",
                "    padded = (-(-height // win_h) * win_h) * (-(-width // win_w) * win_w)   # tokens after padding\n"
                "    hidden = int(dim * mlp_ratio)\n"
                "    projections = 4 * padded * dim * dim                  # qkv (3 C^2) and proj (C^2) on every padded token\n"
                "    products = 2 * padded * (win_h * win_w) * dim          # Q K^T and A V: each token with the N of its window\n"
                "    mlp = 2 * height * width * dim * hidden               # fc1 and fc2 on the real tokens only\n"
                "    return projections + products + mlp\n",
                "    n = win_h * win_w\n"
                "    windows = math.ceil(height / win_h) * math.ceil(width / win_w)\n"
                "    per_window = n * dim * 3 * dim + n * n * dim + n * n * dim + n * dim * dim   # qkv, QK^T, AV, proj\n"
                "    per_token_mlp = dim * int(dim * mlp_ratio) * 2\n"
                "    return windows * per_window + height * width * per_token_mlp\n"),
    # stage shapes: the side of stage i is ceil(grid / 2^i) directly
    Alternative("stage-shapes-ceil-of-powers-of-two", "stages",
                "    height, width = (side // patch_size for side in to_pair(img_size))\n"
                "    channels = embed_dim\n"
                "    shapes = []\n"
                "    for stage in range(num_stages):\n"
                "        if stage > 0:                                             # patch merging opens every stage but the first\n"
                "            height, width = (height + 1) // 2, (width + 1) // 2   # an odd side is padded by one first\n"
                "            channels *= 2\n"
                "        window = tuple(min(side, w) for side, w in zip((height, width), to_pair(window_size)))\n"
                "        shift = tuple(0 if side <= w else w // 2 for side, w in zip((height, width), window))\n"
                "        shapes.append((height, width, channels, window, shift))\n"
                "    return shapes\n",
                "    grid = [side // patch_size for side in to_pair(img_size)]\n"
                "    shapes = []\n"
                "    for stage in range(num_stages):\n"
                "        size = [math.ceil(g / 2 ** stage) for g in grid]      # halving with padding, stage after stage\n"
                "        window = [min(s, w) for s, w in zip(size, to_pair(window_size))]\n"
                "        shift = [w // 2 if s > w else 0 for s, w in zip(size, window)]\n"
                "        shapes.append([size[0], size[1], embed_dim * 2 ** stage, window, shift])\n"
                "    return shapes\n"),
    # patch expanding by writing the four pieces into the strided positions of a new tensor
    Alternative("expand-with-strided-assignment", "expand",
                "        quarter = self.dim // 2\n"
                "        # piece k = 2 * (column parity) + (row parity): the 2C vector is (column parity, row parity, C/2)\n"
                "        x = self.expand(x).view(batch, height, width, 2, 2, quarter)\n"
                "        x = x.permute(0, 1, 4, 2, 3, 5).reshape(batch, 2 * height, 2 * width, quarter)  # (B, H, a, W, b, C/2)\n"
                "        return self.norm(x)\n",
                "        p0, p1, p2, p3 = self.expand(x).chunk(4, dim=-1)\n"
                "        out = x.new_empty(batch, 2 * height, 2 * width, self.dim // 2)\n"
                "        out[:, 0::2, 0::2], out[:, 1::2, 0::2] = p0, p1\n"
                "        out[:, 0::2, 1::2], out[:, 1::2, 1::2] = p2, p3\n"
                "        return self.norm(out)\n"),
    # patch expanding with F.pixel_shuffle, channels reordered to its (C/2, row parity, column parity) layout
    Alternative("expand-with-pixel-shuffle", "expand",
                "        quarter = self.dim // 2\n"
                "        # piece k = 2 * (column parity) + (row parity): the 2C vector is (column parity, row parity, C/2)\n"
                "        x = self.expand(x).view(batch, height, width, 2, 2, quarter)\n"
                "        x = x.permute(0, 1, 4, 2, 3, 5).reshape(batch, 2 * height, 2 * width, quarter)  # (B, H, a, W, b, C/2)\n"
                "        return self.norm(x)\n",
                "        y = self.expand(x).unflatten(-1, (2, 2, self.dim // 2))          # (B, H, W, b, a, C/2)\n"
                "        y = y.permute(0, 5, 4, 3, 1, 2).flatten(1, 3)                    # (B, C/2 * 4, H, W): c, a, b\n"
                "        return self.norm(F.pixel_shuffle(y, 2).permute(0, 2, 3, 1))\n"),
]
