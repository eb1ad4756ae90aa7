"""Planted bugs for the exercise "swin" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug

BUGS = [
    # the cyclic shift undone by rolling the same way again: the map ends up shifted by 2s
    PlantedBug("roll-same-direction-twice", "block",
               "x = torch.roll(x, shifts=(shift_h, shift_w), dims=(1, 2))            # undo the shift",
               "x = torch.roll(x, shifts=(-shift_h, -shift_w), dims=(1, 2))"),
    # regions labelled where the wrapped tokens were *before* the roll (first s rows/columns), not where they are
    PlantedBug("mask-built-for-unshifted-layout", "mask",
               "    for rows in (slice(0, -win_h), slice(-win_h, -shift_h), slice(-shift_h, None)):\n"
               "        for cols in (slice(0, -win_w), slice(-win_w, -shift_w), slice(-shift_w, None)):",
               "    for rows in (slice(0, shift_h), slice(shift_h, win_h), slice(win_h, None)):\n"
               "        for cols in (slice(0, shift_w), slice(shift_w, win_w), slice(win_w, None)):"),
    # the column offset used as the slow (major) digit and the row offset as the fast one
    PlantedBug("relative-index-rows-cols-swapped", "relpos",
               "return dy * (2 * win_w - 1) + dx",
               "return dx * (2 * win_h - 1) + dy"),
    # one bias for all heads (head 0's column of the table), broadcast over the heads
    PlantedBug("bias-shared-by-all-heads", "wattn",
               "return bias.view(n, n, self.num_heads).permute(2, 0, 1)",
               "return bias.view(n, n, self.num_heads)[None, :, :, 0]"),
    # (N*N, heads) viewed as (heads, N, N) without the permute: every head's matrix mixes all heads' entries
    PlantedBug("bias-heads-scrambled-by-view", "wattn",
               "return bias.view(n, n, self.num_heads).permute(2, 0, 1)",
               "return bias.view(self.num_heads, n, n)"),
    # the naive permute of the 2 x 2 neighbours: x0, x2, x1, x3
    PlantedBug("merge-order-x0-x2-x1-x3", "merge",
               "x = torch.cat([x0, x1, x2, x3], dim=-1)",
               "x = torch.cat([x0, x2, x1, x3], dim=-1)"),
    # SW-MSA on blocks 0, 2, ... and W-MSA on blocks 1, 3, ...
    PlantedBug("shift-on-even-blocks", "block",
               "return (0, 0) if block_index % 2 == 0 else (win_h // 2, win_w // 2)",
               "return (0, 0) if block_index % 2 == 1 else (win_h // 2, win_w // 2)"),
    # windows cut with a reshape only: right shape, tokens from different windows mixed
    PlantedBug("partition-reshape-without-permute", "windows",
               "return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, win_h, win_w, channels)",
               "return x.reshape(-1, win_h, win_w, channels)"),
    # the (nW, N, N) mask broadcast as if windows were the slow axis of the B * nW batch
    PlantedBug("mask-broadcast-window-major", "wattn",
               "scores = scores.view(-1, num_windows, self.num_heads, n, n) + mask[None, :, None]",
               "scores = scores.view(num_windows, -1, self.num_heads, n, n) + mask[:, None, None]"),
    # more mistakes students make
    PlantedBug("mask-dtype-argument-ignored", "mask",
               "mask = torch.zeros(different.shape, device=device, dtype=dtype or torch.get_default_dtype())",
               "mask = torch.zeros(different.shape, device=device)"),
    PlantedBug("region-labels-on-the-default-device", "mask",
               "labels = torch.zeros(1, height, width, 1, dtype=torch.long, device=device)",
               "labels = torch.zeros(1, height, width, 1, dtype=torch.long)"),
    # the view of window_partition copied: (B, H/M_h, M_h, W/M_w, M_w, C) is not how the windows are stored
    PlantedBug("reverse-viewed-like-partition", "windows",
               "x = windows.view(-1, height // win_h, width // win_w, win_h, win_w, channels)",
               "x = windows.view(-1, height // win_h, win_h, width // win_w, win_w, channels)"),
    PlantedBug("scores-not-scaled", "wattn",
               "scores = (q * self.scale) @ k.transpose(-2, -1)",
               "scores = q @ k.transpose(-2, -1)"),
    PlantedBug("shift-not-rolled-back", "block",
               "        if shift_h or shift_w:\n"
               "            x = torch.roll(x, shifts=(shift_h, shift_w), dims=(1, 2))            # undo the shift\n",
               ""),
    PlantedBug("residual-from-normalised-x", "block",
               "        shortcut = x\n        x = self.norm1(x)\n",
               "        x = self.norm1(x)\n        shortcut = x\n"),
    # right for square windows only
    PlantedBug("shift-from-window-height-only", "block",
               "(win_h // 2, win_w // 2)",
               "(win_h // 2, win_h // 2)"),
    # right outputs, lost gradients: the relative position bias never trains
    PlantedBug("relative-bias-gathered-without-grad", "wattn",
               "        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]  # (N * N, heads)\n",
               "        with torch.no_grad():\n"
               "            bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]\n"),
    PlantedBug("relative-bias-table-detached", "wattn",
               "bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]",
               "bias = self.relative_position_bias_table.detach()[self.relative_position_index.view(-1)]"),
    # crashes at batch 1 when a map is one window tall and several wide (the windows are then a strided view)
    PlantedBug("windows-flattened-with-view", "block",
               "windows = window_partition(x, self.window_size).reshape(-1, win_h * win_w, channels)",
               "windows = window_partition(x, self.window_size).view(-1, win_h * win_w, channels)"),
]
