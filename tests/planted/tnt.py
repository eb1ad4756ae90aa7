"""Planted bugs for the exercise "tnt" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug, warned_from

BUGS = [
    # the four: class token updated, inner attention over the whole image, no word positions, unfold order
    PlantedBug("projection-added-to-class-token", "inner_to_outer",
               "return torch.cat([cls_token, patches + update], dim=1)",
               "return torch.cat([cls_token + update.mean(dim=1, keepdim=True), patches + update], dim=1)"),
    PlantedBug("inner-attention-across-patches", "block",
               "pixel_embed = pixel_embed + self.attn_in(self.norm_in(pixel_embed))",
               "pixel_embed = pixel_embed + self.attn_in(self.norm_in(pixel_embed).reshape(batch, -1, inner_dim))"
               ".reshape(-1, num_words, inner_dim)"),
    PlantedBug("word-position-embedding-missing", "pixel_embed",
               "words = self.proj(patches) + pixel_pos",
               "words = self.proj(patches)"),
    # (B, C*p*p, N) reshaped without the transpose: "patches" made of pixels from everywhere
    PlantedBug("unfold-order-transposed", "pixel_embed",
               "patches = patches.transpose(1, 2).reshape(batch * self.num_patches, channels, p, p)",
               "patches = patches.reshape(batch * self.num_patches, channels, p, p)"),
    PlantedBug("patch-rows-and-columns-swapped", "pixel_embed",
               "patches = patches.transpose(1, 2).reshape(batch * self.num_patches, channels, p, p)",
               "patches = patches.transpose(1, 2).reshape(batch * self.num_patches, channels, p, p).transpose(-2, -1)"),
    # (B*N, c, m, m) reshaped to (B*N, M, c) without moving the channel axis
    PlantedBug("words-flattened-channel-major", "pixel_embed",
               "return words.flatten(2).transpose(1, 2)",
               "return words.reshape(words.shape[0], -1, words.shape[1])"),
    PlantedBug("no-layernorm-after-projection", "inner_to_outer",
               "update = norm2_proj(proj(norm1_proj(words)))",
               "update = proj(norm1_proj(words))"),
    PlantedBug("inner-mlp-without-residual", "block",
               "pixel_embed = pixel_embed + self.mlp_in(self.norm_mlp_in(pixel_embed))",
               "pixel_embed = self.mlp_in(self.norm_mlp_in(pixel_embed))"),
    PlantedBug("word-update-after-outer-attention", "block",
               "        patch_embed = inner_to_outer(pixel_embed, patch_embed, self.norm1_proj, self.proj, "
               "self.norm2_proj)\n"
               "        # outer transformer over the N + 1 tokens of each image\n"
               "        patch_embed = patch_embed + self.attn_out(self.norm_out(patch_embed))\n",
               "        # outer transformer over the N + 1 tokens of each image\n"
               "        patch_embed = patch_embed + self.attn_out(self.norm_out(patch_embed))\n"
               "        patch_embed = inner_to_outer(pixel_embed, patch_embed, self.norm1_proj, self.proj, "
               "self.norm2_proj)\n"),
    # more mistakes students make
    PlantedBug("patch-tokens-updated-in-place", "inner_to_outer",
               "    cls_token, patches = patch_embed[:, :1], patch_embed[:, 1:]\n"
               "    return torch.cat([cls_token, patches + update], dim=1)   # (B, N + 1, C)",
               "    patch_embed[:, 1:] += update\n"
               "    return patch_embed"),
    # (B * N, M, c) -> (B, N, c * M): the words of a patch concatenated feature by feature
    PlantedBug("words-concatenated-feature-major", "inner_to_outer",
               "words = pixel_embed.reshape(batch, num_patches, -1)",
               "words = pixel_embed.transpose(1, 2).reshape(batch, num_patches, -1)"),
    # a zero update for the class token, created with torch.zeros: on the default device
    PlantedBug("class-token-padding-on-the-default-device", "inner_to_outer",
               "    cls_token, patches = patch_embed[:, :1], patch_embed[:, 1:]\n"
               "    return torch.cat([cls_token, patches + update], dim=1)   # (B, N + 1, C)",
               "    update = torch.cat([torch.zeros(batch, 1, update.shape[-1]), update], dim=1)\n"
               "    return patch_embed + update"),
    PlantedBug("outer-mlp-normalised-with-norm-out", "block",
               "patch_embed = patch_embed + self.mlp(self.norm_mlp(patch_embed))",
               "patch_embed = patch_embed + self.mlp(self.norm_out(patch_embed))"),
    # overlapping patches: every p x p window at stride 1
    PlantedBug("unfold-without-stride", "pixel_embed",
               "patches = F.unfold(x, kernel_size=p, stride=p)",
               "patches = F.unfold(x, kernel_size=p)"),
    # right outputs, lost gradients
    PlantedBug("pixel-pos-detached", "pixel_embed",
               "words = self.proj(patches) + pixel_pos ",
               "words = self.proj(patches) + pixel_pos.detach() "),
    PlantedBug("words-detached-before-projection", "inner_to_outer",
               "update = norm2_proj(proj(norm1_proj(words)))",
               "update = norm2_proj(proj(norm1_proj(words.detach())))"),
]

# the word embedding as the legacy variant computes it: one convolution over the whole image, then cut, so that the
# words at a patch border see the neighbouring patch
BUGS += [
    PlantedBug("word-convolution-over-the-whole-image", "pixel_embed",
               "        patches = F.unfold(x, kernel_size=p, stride=p)                                  # (B, C_in * p * p, N)\n"
               "        patches = patches.transpose(1, 2).reshape(batch * self.num_patches, channels, p, p)  # (B * N, C_in, p, p)\n"
               "        words = self.proj(patches) + pixel_pos                                          # (B * N, c, m, m)\n",
               "        m, side = self.word_grid, self.img_size // p\n"
               "        grid = self.proj(x)                                                             # the whole image at once\n"
               "        words = grid.reshape(batch, -1, side, m, side, m).permute(0, 2, 4, 1, 3, 5)\n"
               "        words = words.reshape(batch * self.num_patches, -1, m, m) + pixel_pos\n"),
]

# the inner attention as one masked sequence, find and fix the bug (part 4): the given bug and others
BUGS += [
    PlantedBug("mask-given-bug-words-grouped-by-position", "inner_attention",
               "patch = torch.arange(num_patches * num_words, device=device) // num_words",
               "patch = torch.arange(num_patches * num_words, device=device) % num_patches"),
    PlantedBug("mask-not-applied", "inner_attention",
               "    scores = scores.masked_fill(~allowed, float(\"-inf\"))\n", ""),
    PlantedBug("mask-inverted", "inner_attention",
               "scores.masked_fill(~allowed, float(\"-inf\"))", "scores.masked_fill(allowed, float(\"-inf\"))"),
    PlantedBug("mask-on-the-default-device", "inner_attention",
               "allowed = word_attention_mask(num_patches, num_words, device=x.device)",
               "allowed = word_attention_mask(num_patches, num_words)"),
    PlantedBug("scores-scaled-by-the-width", "inner_attention",
               "/ math.sqrt(head_dim)", "/ math.sqrt(dim)"),
    PlantedBug("softmax-over-the-queries", "inner_attention",
               "scores.softmax(dim=-1)", "scores.softmax(dim=-2)"),
    # the words of an image sequenced word position by word position, not patch after patch
    PlantedBug("words-sequenced-position-major", "inner_attention",
               "x = pixel_embed.reshape(batch, length, dim)  ",
               "x = pixel_embed.reshape(batch, num_patches, num_words, dim).transpose(1, 2).reshape(batch, length, dim)  "),
    PlantedBug("no-multiple-check", "inner_attention",
               "if batch_patches % num_patches != 0:", "if batch_patches < num_patches:"),
]

# counting TNT's parameters (part 5)
BUGS += [
    PlantedBug("params-inner-mlp-uses-mlp-ratio", "tnt_parameters",
               "(c * 4 * c + 4 * c + 4 * c * c + c)",
               "(c * int(c * mlp_ratio) + int(c * mlp_ratio) + int(c * mlp_ratio) * c + c)"),
    PlantedBug("params-block-projection-with-bias", "tnt_parameters",
               "projection = layer_norm(num_words * c) + num_words * c * C + layer_norm(C)",
               "projection = layer_norm(num_words * c) + num_words * c * C + C + layer_norm(C)"),
    PlantedBug("params-stem-projection-without-bias", "tnt_parameters",
               "stem = layer_norm(num_words * c) + num_words * c * C + C + layer_norm(C)",
               "stem = layer_norm(num_words * c) + num_words * c * C + layer_norm(C)"),
    PlantedBug("params-no-word-positions", "tnt_parameters",
               "words = 7 * 7 * in_chans * c + c + c * num_words", "words = 7 * 7 * in_chans * c + c"),
    PlantedBug("params-sentence-positions-without-class-row", "tnt_parameters",
               "sentences = C + (num_patches + 1) * C", "sentences = C + num_patches * C"),
    PlantedBug("params-patch-sized-kernel", "tnt_parameters",
               "words = 7 * 7 * in_chans", "words = patch_size * patch_size * in_chans"),
    PlantedBug("params-words-floor-division", "tnt_parameters",
               "num_words = math.ceil(patch_size / first_stride) ** 2", "num_words = (patch_size // first_stride) ** 2"),
    PlantedBug("params-v-never-biased", "tnt_parameters",
               "2 * dim * dim + 2 * dim * bias + dim * dim + dim * bias", "2 * dim * dim + 2 * dim * bias + dim * dim"),
    PlantedBug("params-one-attention-shape-for-both", "tnt_parameters",
               "inner = layer_norm(c) + attention(c)", "inner = layer_norm(c) + attention(C)"),
]


# the mistakes the chapter warns about, each caught by a visible test cell with a message that names the concept
WARNED = [
    warned_from(BUGS, "word-convolution-over-the-whole-image", "The pixel (word) embedding", "test_pixel_embed_visible",
            "patch border"),
    warned_from(BUGS, "word-position-embedding-missing", "Two position embeddings, and the words → sentence projection",
            "test_pixel_embed_visible", "pixel_pos"),
    warned_from(BUGS, "projection-added-to-class-token", "Two position embeddings, and the words → sentence projection",
            "test_inner_to_outer_visible", "class token"),
    warned_from(BUGS, "words-concatenated-feature-major", "Two position embeddings, and the words → sentence projection",
            "test_inner_to_outer_visible", "word after word"),
    warned_from(BUGS, "inner-attention-across-patches", "The TNT block", "test_block_visible", "same patch"),
    warned_from(BUGS, "mask-given-bug-words-grouped-by-position", "The TNT block", "test_inner_attention_visible", "same patch"),
    warned_from(BUGS, "params-inner-mlp-uses-mlp-ratio", "The TNT block", "test_tnt_parameters_visible", "inner MLP"),
    warned_from(BUGS, "params-block-projection-with-bias", "The TNT block", "test_tnt_parameters_visible", "no bias"),
]
