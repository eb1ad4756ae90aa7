"""Alternative correct solutions for the exercise "vit" (see tests/planted_bugs.py): each must score 100%."""
from tests.planted_bugs import Alternative

ALTERNATIVES = [
    # Tensor.unfold twice: (B, C, rows, cols, P, P), then channels last
    Alternative("patchify-with-tensor-unfold", "patchify",
                "    x = images.reshape(batch, channels, rows, patch_size, cols, patch_size)\n"
                "    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, rows, cols, P, P, C)\n"
                "    return x.reshape(batch, rows * cols, patch_size * patch_size * channels)\n",
                "    x = images.unfold(2, patch_size, patch_size).unfold(3, patch_size, patch_size)  # (B, C, rows, cols, P, P)\n"
                "    return x.permute(0, 2, 3, 4, 5, 1).reshape(batch, rows * cols, -1)\n"),
    Alternative("conv-output-channels-last", "patch_embed",
                "        return x.flatten(2).transpose(1, 2)   # (B, N, D), patches in raster order\n",
                "        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1])\n"),
    Alternative("linear-embedding-with-f-linear", "patch_embed",
                "        embed_dim = self.proj.out_channels\n"
                "        weight = self.proj.weight.permute(0, 2, 3, 1).reshape(embed_dim, -1)  # (D, C, P, P) -> (D, P*P*C)\n"
                "        return patchify(images, self.patch_size) @ weight.T + self.proj.bias\n",
                "        weight = self.proj.weight.movedim(1, -1).flatten(start_dim=1)         # (D, P, P, C) -> (D, P*P*C)\n"
                "        return F.linear(patchify(images, self.patch_size), weight, self.proj.bias)\n"),
    # the class token gets its position before the concatenation, the patches theirs
    Alternative("positions-added-before-concatenating", "vit",
                "        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D), no copy\n"
                "        x = torch.cat([cls, x], dim=1)                   # (B, 1 + N, D)\n"
                "        x = x + self.pos_embed\n"
                "        return x\n",
                "        cls = self.cls_token + self.pos_embed[:, :1]     # (1, 1, D)\n"
                "        return torch.cat([cls.repeat(x.shape[0], 1, 1), x + self.pos_embed[:, 1:]], dim=1)\n"),
    # the exact GELU written out with erf
    Alternative("gelu-written-with-erf", "block",
                "        return self.fc2(F.gelu(self.fc1(x)))\n",
                "        h = self.fc1(x)\n"
                "        return self.fc2(0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0))))\n"),
]
