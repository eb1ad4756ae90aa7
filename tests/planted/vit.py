"""Planted bugs for the exercise "vit" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug, Warned

BUGS = [
    # the five bugs of the issue
    PlantedBug("patch-flattened-channel-first", "patchify",
               "x = x.permute(0, 2, 4, 3, 5, 1)  # (B, rows, cols, P, P, C)",
               "x = x.permute(0, 2, 4, 1, 3, 5)  # (B, rows, cols, C, P, P)"),
    PlantedBug("pos-embed-added-before-class-token", "vit",
               "x = torch.cat([cls, x], dim=1)                   # (B, 1 + N, D)\n        x = x + self.pos_embed",
               "x = x + self.pos_embed[:, 1:]\n        x = torch.cat([cls, x], dim=1)"),
    PlantedBug("head-on-mean-not-class-token", "vit",
               "return self.head(x[:, 0])",
               "return self.head(x.mean(dim=1))"),
    PlantedBug("no-layernorm-before-head", "vit",
               "x = self.norm(x)\n",
               "\n"),
    PlantedBug("relu-instead-of-gelu", "block",
               "return self.fc2(F.gelu(self.fc1(x)))",
               "return self.fc2(F.relu(self.fc1(x)))"),
    # more mistakes students make
    PlantedBug("patch-grid-column-major", "patch_embed",
               "return x.flatten(2).transpose(1, 2)   # (B, N, D), patches in raster order",
               "return x.transpose(2, 3).flatten(2).transpose(1, 2)"),
    PlantedBug("conv-weight-flattened-as-c-p-p", "patch_embed",
               "weight = self.proj.weight.permute(0, 2, 3, 1).reshape(embed_dim, -1)",
               "weight = self.proj.weight.reshape(embed_dim, -1)"),
    PlantedBug("post-norm-block", "block",
               "x = x + self.attn(self.norm1(x))\n        x = x + self.mlp(self.norm2(x))",
               "x = self.norm1(x + self.attn(x))\n        x = self.norm2(x + self.mlp(x))"),
    PlantedBug("tanh-gelu", "block",
               "F.gelu(self.fc1(x))",
               "F.gelu(self.fc1(x), approximate=\"tanh\")"),
    PlantedBug("no-size-check", "patch_embed",
               "        if (height, width) != (self.img_size, self.img_size):\n            raise",
               "        if False:\n            raise"),
    # (B, C, rows, P, cols, P) flattened as it is: right shape, every "patch" a strip of one channel
    PlantedBug("patchify-without-permute", "patchify",
               "    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, rows, cols, P, P, C)\n",
               ""),
    # (B, D, H/P, W/P) reshaped to (B, N, D) without moving the channel axis
    PlantedBug("conv-output-reshaped-without-transpose", "patch_embed",
               "return x.flatten(2).transpose(1, 2)   # (B, N, D), patches in raster order",
               "return x.reshape(x.shape[0], -1, x.shape[1])"),
    PlantedBug("linear-embedding-without-bias", "patch_embed",
               "return patchify(images, self.patch_size) @ weight.T + self.proj.bias",
               "return patchify(images, self.patch_size) @ weight.T"),
    # works for a batch of one image only
    PlantedBug("class-token-not-expanded-to-the-batch", "vit",
               "cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D), no copy",
               "cls = self.cls_token"),
    # right outputs, lost gradients: the learned embeddings never train
    PlantedBug("pos-embed-detached", "vit",
               "x = x + self.pos_embed\n",
               "x = x + self.pos_embed.detach()\n"),
    PlantedBug("class-token-detached", "vit",
               "cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D), no copy",
               "cls = self.cls_token.detach().expand(x.shape[0], -1, -1)"),
    PlantedBug("linear-embedding-weight-detached", "patch_embed",
               "weight = self.proj.weight.permute(0, 2, 3, 1).reshape(embed_dim, -1)",
               "weight = self.proj.weight.detach().permute(0, 2, 3, 1).reshape(embed_dim, -1)"),
    PlantedBug("mlp-input-detached", "block",
               "return self.fc2(F.gelu(self.fc1(x)))",
               "return self.fc2(F.gelu(self.fc1(x.detach())))"),
]

# mean attention distance (part 5)
BUGS += [
    PlantedBug("distance-class-token-kept-as-key", "attention_distance",
               "    among_patches = weights[:, :, 1:, 1:]                                      # class token out, as query and key\n"
               "    among_patches = among_patches / among_patches.sum(dim=-1, keepdim=True)    # each query's weights sum to 1\n",
               "    among_patches = weights[:, :, 1:, 1:]\n"),
    PlantedBug("distance-class-token-query-kept", "attention_distance",
               "among_patches = weights[:, :, 1:, 1:]  ",
               "among_patches = torch.cat([weights[:, :, :1, 1:], weights[:, :, 1:, 1:]], dim=2)  "),
    PlantedBug("distance-in-patches-not-pixels", "attention_distance",
               "distance = patch_size * torch.sqrt(",
               "distance = torch.sqrt("),
    PlantedBug("distance-manhattan", "attention_distance",
               "torch.sqrt((rows[:, None] - rows[None]) ** 2 + (cols[:, None] - cols[None]) ** 2)",
               "((rows[:, None] - rows[None]).abs() + (cols[:, None] - cols[None]).abs())"),
    PlantedBug("distance-raster-index-by-num-patches", "attention_distance",
               "rows, cols = (index // grid_size).to(weights.dtype), (index % grid_size).to(weights.dtype)",
               "rows, cols = (index // num_patches).to(weights.dtype), (index % num_patches).to(weights.dtype)"),
    PlantedBug("distance-mean-over-heads-too", "attention_distance",
               "return per_query.mean(dim=(0, 2))",
               "return per_query.mean(dim=(0, 2)).mean().expand(per_query.shape[1])"),
    PlantedBug("distance-summed-not-averaged-over-queries", "attention_distance",
               "return per_query.mean(dim=(0, 2))",
               "return per_query.sum(dim=2).mean(dim=0)"),
    PlantedBug("distance-renormalised-in-place", "attention_distance",
               "    among_patches = among_patches / among_patches.sum(dim=-1, keepdim=True)",
               "    among_patches /= among_patches.sum(dim=-1, keepdim=True)"),
    PlantedBug("distance-float32-grid", "attention_distance",
               "rows, cols = (index // grid_size).to(weights.dtype), (index % grid_size).to(weights.dtype)",
               "rows, cols = (index // grid_size).float(), (index % grid_size).float()"),
]

# counting parameters and MACs (part 6)
BUGS += [
    PlantedBug("params-pos-embed-without-class-row", "counts",
               "tokens = dim + (1 + num_patches) * dim", "tokens = dim + num_patches * dim"),
    PlantedBug("params-qkv-bias-always", "counts",
               "(3 * dim if qkv_bias else 0)", "3 * dim"),
    PlantedBug("params-no-layernorms-in-blocks", "counts",
               "block = 2 * 2 * dim + attention + mlp", "block = attention + mlp"),
    PlantedBug("params-mlp-always-4d", "counts",
               "dim, hidden = embed_dim, int(embed_dim * mlp_ratio)\n    patch_embed = patch_size",
               "dim, hidden = embed_dim, 4 * embed_dim\n    patch_embed = patch_size"),
    PlantedBug("params-head-without-bias", "counts",
               "dim * num_classes + num_classes", "dim * num_classes"),
    PlantedBug("macs-attention-over-patches-only", "counts",
               "attention = 2 * tokens * tokens * dim ", "attention = 2 * num_patches * num_patches * dim "),
    PlantedBug("macs-attention-linear-in-tokens", "counts",
               "attention = 2 * tokens * tokens * dim ", "attention = 2 * tokens * dim "),
    PlantedBug("macs-one-attention-product", "counts",
               "attention = 2 * tokens * tokens * dim ", "attention = tokens * tokens * dim "),
    PlantedBug("macs-head-on-every-token", "counts",
               "depth * (projections + attention) + dim * num_classes", "depth * (projections + attention) + tokens * dim * num_classes"),
    PlantedBug("macs-mlp-always-4d", "counts",
               "dim, hidden = embed_dim, int(embed_dim * mlp_ratio)\n    patch_embed = num_patches",
               "dim, hidden = embed_dim, 4 * embed_dim\n    patch_embed = num_patches"),
]

# unpatchify, find and fix the bug (part 7): the given bug and others
BUGS += [
    PlantedBug("unpatchify-given-bug", "unpatchify",
               "x = x.permute(0, 5, 1, 3, 2, 4)", "x = x.permute(0, 5, 1, 2, 3, 4)"),
    PlantedBug("unpatchify-patch-flattened-channel-first", "unpatchify",
               "x = patches.reshape(batch, rows, cols, patch_size, patch_size, channels)\n    x = x.permute(0, 5, 1, 3, 2, 4)",
               "x = patches.reshape(batch, rows, cols, channels, patch_size, patch_size)\n    x = x.permute(0, 3, 1, 4, 2, 5)"),
    PlantedBug("unpatchify-grid-column-major", "unpatchify",
               "x = patches.reshape(batch, rows, cols, patch_size, patch_size, channels)",
               "x = patches.reshape(batch, cols, rows, patch_size, patch_size, channels).transpose(1, 2)"),
    PlantedBug("unpatchify-pixels-transposed", "unpatchify",
               "x = x.permute(0, 5, 1, 3, 2, 4)", "x = x.permute(0, 5, 1, 4, 2, 3)"),
    PlantedBug("unpatchify-no-patch-count-check", "unpatchify",
               "if num_patches != rows * cols or features", "if features"),
]


def _bug(name: str) -> PlantedBug:
    return next(bug for bug in BUGS if bug.name == name)


def _warned(name: str, warning: str, caught_by: str, says: str) -> Warned:
    bug = _bug(name)
    return Warned(bug.name, bug.cell, bug.old, bug.new, warning=warning, caught_by=caught_by, says=says)


# the mistakes the chapter warns about, each caught by a visible test cell with a message that names the concept
WARNED = [
    _warned("patch-flattened-channel-first", "An image as a sequence of patches", "test_patchify_visible",
            "(row, column, channel)"),
    _warned("conv-weight-flattened-as-c-p-p", "Patch embedding: one linear map, two ways to compute it",
            "test_patch_embed_visible", "order"),
    _warned("pos-embed-added-before-class-token", "The class token and the position embedding", "test_vit_visible",
            "class token"),
    _warned("head-on-mean-not-class-token", "The class token and the position embedding", "test_vit_visible",
            "class token"),
    _warned("no-layernorm-before-head", "The encoder and the head", "test_vit_visible", "final LayerNorm"),
    _warned("post-norm-block", "The encoder and the head", "test_block_visible", "pre-norm"),
    _warned("relu-instead-of-gelu", "The encoder and the head", "test_block_visible", "GELU"),
    _warned("params-pos-embed-without-class-row", "From pixels to logits: a shape walkthrough", "test_counts_visible",
            "position embedding"),
    _warned("macs-attention-linear-in-tokens", "From pixels to logits: a shape walkthrough", "test_counts_visible",
            "attention products"),
    _warned("unpatchify-given-bug", "An image as a sequence of patches", "test_unpatchify_visible", "its place"),
]
