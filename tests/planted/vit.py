"""Planted bugs for the exercise "vit" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug

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
]
