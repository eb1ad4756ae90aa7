"""Planted bugs for the exercise "positional_encoding" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug, Warned

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
    # --- part 5, resample_pos_embed
    # the grid read column by column: the table's rows taken as a W x H image
    PlantedBug("resample-grid-read-column-by-column", "resample",
               "image = grid.to(work).reshape(1, old_h, old_w, channels).permute(0, 3, 1, 2)",
               "image = grid.to(work).reshape(1, old_w, old_h, channels).permute(0, 3, 2, 1)"),
    # (1, H * W, C) reshaped straight to (1, C, H, W): features and patches mixed up
    PlantedBug("resample-reshape-without-permute", "resample",
               "image = grid.to(work).reshape(1, old_h, old_w, channels).permute(0, 3, 1, 2)",
               "image = grid.to(work).reshape(1, channels, old_h, old_w)"),
    PlantedBug("resample-align-corners", "resample",
               "align_corners=False,", "align_corners=True,"),
    PlantedBug("resample-antialias-ignored", "resample",
               "antialias=antialias)", "antialias=False)"),
    PlantedBug("resample-mode-ignored", "resample",
               "mode=mode,", "mode=\"bicubic\","),
    PlantedBug("resample-class-token-dropped", "resample",
               "return torch.cat([prefix, grid.to(pos_embed.dtype)], dim=1)",
               "return grid.to(pos_embed.dtype)"),
    PlantedBug("resample-prefix-after-the-grid", "resample",
               "return torch.cat([prefix, grid.to(pos_embed.dtype)], dim=1)",
               "return torch.cat([grid.to(pos_embed.dtype), prefix], dim=1)"),
    # timm's habit: always float32, so float64 tables lose precision
    PlantedBug("resample-always-in-float32", "resample",
               "work = torch.promote_types(pos_embed.dtype, torch.float32)",
               "work = torch.float32"),
    PlantedBug("resample-grid-detached", "resample",
               "prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]",
               "prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed.detach()[:, num_prefix_tokens:]"),
    # --- part 6, counts
    PlantedBug("bias-table-without-heads", "counts",
               "return (2 * window_h - 1) * (2 * window_w - 1) * num_heads",
               "return (2 * window_h - 1) * (2 * window_w - 1)"),
    PlantedBug("bias-table-square-window-assumed", "counts",
               "return (2 * window_h - 1) * (2 * window_w - 1) * num_heads",
               "return (2 * window_h - 1) ** 2 * num_heads"),
    # a free bias per (query, key) pair instead of per offset
    PlantedBug("bias-per-pair-not-per-offset", "counts",
               "return (2 * window_h - 1) * (2 * window_w - 1) * num_heads",
               "return (window_h * window_w) ** 2 * num_heads"),
    PlantedBug("swin-one-table-per-stage", "counts",
               "sum(depth * relative_bias_parameters(window_h, window_w, heads)",
               "sum(relative_bias_parameters(window_h, window_w, heads)"),
    PlantedBug("vit-table-without-prefix-rows", "counts",
               "return (num_prefix_tokens + (img_h // patch_h) * (img_w // patch_w)) * embed_dim",
               "return ((img_h // patch_h) * (img_w // patch_w)) * embed_dim"),
    PlantedBug("vit-patch-height-used-twice", "counts",
               "(img_w // patch_w)) * embed_dim", "(img_w // patch_h)) * embed_dim"),
    # --- part 7, rotary_attention (find and fix the bug): the given bug, and others
    PlantedBug("rotary-attention-values-rotated-as-given", "rotary_attention",
               "q, k = rotate(q), rotate(k)", "q, k, v = rotate(q), rotate(k), rotate(v)"),
    PlantedBug("rotary-attention-only-queries-rotated", "rotary_attention",
               "q, k = rotate(q), rotate(k)", "q = rotate(q)"),
    PlantedBug("rotary-attention-not-scaled", "rotary_attention",
               "scores = q @ k.transpose(-2, -1) / math.sqrt(d)", "scores = q @ k.transpose(-2, -1)"),
    PlantedBug("rotary-attention-softmax-over-queries", "rotary_attention",
               "return scores.softmax(dim=-1) @ v", "return scores.softmax(dim=-2) @ v"),
]

# Mistakes the chapter warns about, each caught by a visible test whose message names the concept.
WARNED = [
    Warned("sin-and-cos-swapped", "sinusoidal",
           "torch.stack([angles.sin(), angles.cos()], dim=-1)", "torch.stack([angles.cos(), angles.sin()], dim=-1)",
           warning="Check your understanding", caught_by="test_sinusoidal_visible", says="PE(0)"),
    Warned("concatenated-layout-instead-of-interleaved", "sinusoidal",
           "pe = torch.stack([angles.sin(), angles.cos()], dim=-1)                # (max_len, d_model / 2, 2)\n"
           "    return pe.flatten(-2).to(dtype)",
           "pe = torch.cat([angles.sin(), angles.cos()], dim=-1)\n"
           "    return pe.to(dtype)",
           warning="Two layouts of the same encoding", caught_by="test_sinusoidal_visible", says="interleaved"),
    Warned("learned-table-read-beyond-max-len", "learned",
           "        if length > self.max_len:\n            raise",
           "        if False:\n            raise",
           warning="Learned absolute embeddings", caught_by="test_learned_visible", says="no embedding for position"),
    Warned("relative-offset-key-minus-query", "relative_index",
           "offsets = coords[:, :, None] - coords[:, None, :]",
           "offsets = coords[:, None, :] - coords[:, :, None]",
           warning="Relative positions", caught_by="test_relative_index_visible",
           says="offset = query position minus key position"),
    Warned("rope-half-split-pairs", "rope",
           "x_even, x_odd = x[..., 0::2].to(work), x[..., 1::2].to(work)",
           "x_even, x_odd = x[..., : d // 2].to(work), x[..., d // 2 :].to(work)",
           warning="Rotary position embedding (RoPE)", caught_by="test_rope_visible", says="interleaved"),
    Warned("resized-table-loses-the-class-token", "resample",
           "return torch.cat([prefix, grid.to(pos_embed.dtype)], dim=1)",
           "return grid.to(pos_embed.dtype)",
           warning="Learned absolute embeddings", caught_by="test_resample_visible", says="class token"),
    Warned("rope-rotates-the-values-too", "rotary_attention",
           "q, k = rotate(q), rotate(k)", "q, k, v = rotate(q), rotate(k), rotate(v)",
           warning="Rotary position embedding (RoPE)", caught_by="test_rotary_attention_visible", says="offsets"),
]
