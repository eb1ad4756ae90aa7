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
]
