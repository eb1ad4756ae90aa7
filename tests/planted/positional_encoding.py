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
    # more mistakes students make
    # the "half-split" layout of many tutorials: all sines, then all cosines
    PlantedBug("sines-then-cosines-not-interleaved", "sinusoidal",
               "pe = torch.stack([angles.sin(), angles.cos()], dim=-1)                # (max_len, d_model / 2, 2)\n"
               "    return pe.flatten(-2).to(dtype)",
               "pe = torch.cat([angles.sin(), angles.cos()], dim=-1)\n"
               "    return pe.to(dtype)"),
    PlantedBug("base-argument-ignored", "sinusoidal",
               "inv_freq = base ** (-2 * i / d_model)",
               "inv_freq = 10000.0 ** (-2 * i / d_model)"),
    # angles computed in the requested dtype: float16 positions and frequencies are far too coarse
    PlantedBug("angles-in-the-requested-dtype", "sinusoidal",
               "work = torch.promote_types(dtype, torch.float32)",
               "work = dtype"),
    PlantedBug("learned-no-length-check", "learned",
               "        if length > self.max_len:\n            raise",
               "        if False:\n            raise"),
    # (L, B, D) habits: the slice taken with the batch size
    PlantedBug("learned-sliced-by-batch-size", "learned",
               "return x + self.pos_embed[:length]",
               "return x + self.pos_embed[:x.shape[0]].unsqueeze(1)"),
    PlantedBug("learned-table-read-through-data", "learned",
               "return x + self.pos_embed[:length]",
               "return x + self.pos_embed.data[:length]"),
    # right for square windows only
    PlantedBug("index-row-stride-from-height", "relative_index",
               "return dh * (2 * window_w - 1) + dw",
               "return dh * (2 * window_h - 1) + dw"),
    PlantedBug("rope-frequency-exponent-i-over-d", "rope",
               "theta = base ** (-2 * i / d)",
               "theta = base ** (-i / d)"),
    # the rotation written into x's own storage: x is modified, and the second half reads rotated values
    PlantedBug("rope-rotates-x-in-place", "rope",
               "    rotated = torch.stack([x_even * cos - x_odd * sin, x_even * sin + x_odd * cos], dim=-1)\n"
               "    return rotated.flatten(-2).to(x.dtype)",
               "    x[..., 0::2] = (x_even * cos - x_odd * sin).to(x.dtype)\n"
               "    x[..., 1::2] = (x_even * sin + x_odd * cos).to(x.dtype)\n"
               "    return x"),
    # angles in float16 for float16 inputs: fine for small positions, wrong by radians at position 1000
    PlantedBug("rope-angles-in-half-precision", "rope",
               "work = torch.promote_types(x.dtype, torch.float32)",
               "work = x.dtype"),
    # the right output, but the gradient no longer reaches the tokens (the model before the embedding stops learning)
    PlantedBug("learned-input-detached", "learned",
               "return x + self.pos_embed[:length]",
               "return x.detach() + self.pos_embed[:length]"),
]
