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
]
