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

ALTERNATIVES += [
    # the distances with torch.cdist on the patch centres, the renormalisation with F.normalize (L1)
    Alternative("distance-with-cdist", "attention_distance",
                "    among_patches = among_patches / among_patches.sum(dim=-1, keepdim=True)    # each query's weights sum to 1\n"
                "    index = torch.arange(num_patches, device=weights.device)\n"
                "    rows, cols = (index // grid_size).to(weights.dtype), (index % grid_size).to(weights.dtype)\n"
                "    distance = patch_size * torch.sqrt((rows[:, None] - rows[None]) ** 2 + (cols[:, None] - cols[None]) ** 2)\n",
                "    among_patches = F.normalize(among_patches, p=1, dim=-1)\n"
                "    r, c = torch.meshgrid(torch.arange(grid_size, device=weights.device, dtype=weights.dtype),\n"
                "                          torch.arange(grid_size, device=weights.device, dtype=weights.dtype), indexing=\"ij\")\n"
                "    centres = patch_size * torch.stack([r.flatten(), c.flatten()], dim=-1)     # (N, 2) in pixels\n"
                "    distance = torch.cdist(centres, centres)\n"),
    # einsum, and the average as a sum divided by B * N
    Alternative("distance-with-einsum", "attention_distance",
                "    per_query = (among_patches * distance).sum(dim=-1)                         # (B, h, N)\n"
                "    return per_query.mean(dim=(0, 2))                                          # (h,)\n",
                "    batch = weights.shape[0]\n"
                "    return torch.einsum(\"bhij,ij->h\", among_patches, distance) / (batch * num_patches)\n"),
    # the parameter count from a list of tensor shapes, the MACs per layer
    Alternative("counts-from-shapes", "counts",
                "    patch_embed = patch_size * patch_size * in_chans * dim + dim             # conv weight (D, C, P, P) + bias\n"
                "    tokens = dim + (1 + num_patches) * dim                                   # class token + one row per token\n"
                "    attention = 3 * dim * dim + (3 * dim if qkv_bias else 0) + dim * dim + dim   # qkv, output projection\n"
                "    mlp = dim * hidden + hidden + hidden * dim + dim                         # fc1, fc2\n"
                "    block = 2 * 2 * dim + attention + mlp                                    # two LayerNorms\n"
                "    return patch_embed + tokens + depth * block + 2 * dim + dim * num_classes + num_classes\n",
                "    block = [(dim,), (dim,), (3 * dim, dim), (dim, dim), (dim,), (dim,), (dim,), (hidden, dim), (hidden,),\n"
                "             (dim, hidden), (dim,)] + ([(3 * dim,)] if qkv_bias else [])\n"
                "    shapes = [(dim, in_chans, patch_size, patch_size), (dim,), (1, 1, dim), (1, 1 + num_patches, dim)]\n"
                "    shapes += block * depth + [(dim,), (dim,), (num_classes, dim), (num_classes,)]\n"
                "    return sum(math.prod(shape) for shape in shapes)\n"),
    Alternative("macs-per-layer", "counts",
                "    projections = tokens * (3 * dim * dim + dim * dim + 2 * dim * hidden)   # qkv, proj, fc1, fc2\n"
                "    attention = 2 * tokens * tokens * dim                                    # Q K^T and A V, all heads together\n"
                "    return patch_embed + depth * (projections + attention) + dim * num_classes\n",
                "    total = patch_embed\n"
                "    for _ in range(depth):\n"
                "        total += tokens * dim * 3 * dim           # qkv\n"
                "        total += tokens * tokens * dim * 2        # scores and weighted values\n"
                "        total += tokens * dim * dim               # proj\n"
                "        total += tokens * dim * hidden * 2        # fc1 and fc2\n"
                "    return int(total + dim * num_classes)\n"),
    # unpatchify with F.fold
    Alternative("unpatchify-with-fold", "unpatchify",
                "    x = patches.reshape(batch, rows, cols, patch_size, patch_size, channels)\n"
                "    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, rows, P, cols, P)\n"
                "    return x.reshape(batch, channels, height, width)\n",
                "    columns = patches.reshape(batch, num_patches, patch_size, patch_size, channels).permute(0, 4, 2, 3, 1)\n"
                "    columns = columns.reshape(batch, channels * patch_size * patch_size, num_patches)\n"
                "    return F.fold(columns, output_size=(height, width), kernel_size=patch_size, stride=patch_size)\n"),
]
