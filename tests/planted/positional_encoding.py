"""Planted bugs for the exercise "positional_encoding" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug

BUGS = [
    PlantedBug("sin-cos-swapped", "sinusoidal",
               "torch.stack([angles.sin(), angles.cos()], dim=-1)",
               "torch.stack([angles.cos(), angles.sin()], dim=-1)"),
    PlantedBug("frequency-exponent-i-over-d", "sinusoidal",
               "inv_freq = base ** (-2 * i / d_model)",
               "inv_freq = base ** (-i / d_model)"),
    PlantedBug("positions-start-at-1", "sinusoidal",
               "pos = torch.arange(max_len, device=device, dtype=work)[:, None]",
               "pos = torch.arange(1, max_len + 1, device=device, dtype=work)[:, None]"),
    PlantedBug("learned-uses-last-rows", "learned",
               "return x + self.pos_embed[:length]",
               "return x + self.pos_embed[-length:]"),
    # the index table with its rows and columns swapped: key minus query instead of query minus key
    PlantedBug("index-table-transposed", "relative_index",
               "offsets = coords[:, :, None] - coords[:, None, :]",
               "offsets = coords[:, None, :] - coords[:, :, None]"),
    # the window's rows and columns swapped: dw is the slow digit, scaled by the height
    PlantedBug("index-height-width-swapped", "relative_index",
               "return dh * (2 * window_w - 1) + dw",
               "return dw * (2 * window_h - 1) + dh"),
    # half-split pairs (x_i, x_{i + d/2}) instead of interleaved ones: still norm-preserving and relative
    PlantedBug("rope-rotates-wrong-pairs", "rope",
               "x_even, x_odd = x[..., 0::2].to(work), x[..., 1::2].to(work)",
               "x_even, x_odd = x[..., : d // 2].to(work), x[..., d // 2 :].to(work)"),
    PlantedBug("rope-rotates-backwards", "rope",
               "[x_even * cos - x_odd * sin, x_even * sin + x_odd * cos]",
               "[x_even * cos + x_odd * sin, -x_even * sin + x_odd * cos]"),
]
