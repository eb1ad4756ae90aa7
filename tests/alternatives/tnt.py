"""Alternative correct solutions for the exercise "tnt" (see tests/planted_bugs.py): each must score 100%."""
from tests.planted_bugs import Alternative

ALTERNATIVES = [
    Alternative("patches-with-reshape-and-permute", "pixel_embed",
                "        patches = F.unfold(x, kernel_size=p, stride=p)                                  # (B, C_in * p * p, N)\n"
                "        patches = patches.transpose(1, 2).reshape(batch * self.num_patches, channels, p, p)  # (B * N, C_in, p, p)\n",
                "        side = self.img_size // p\n"
                "        patches = x.reshape(batch, channels, side, p, side, p).permute(0, 2, 4, 1, 3, 5)    # (B, n, n, C_in, p, p)\n"
                "        patches = patches.reshape(batch * self.num_patches, channels, p, p)\n"),
    # a zero row in front of the updates (F.pad creates it with the right device and dtype), then one addition
    Alternative("class-token-update-padded-with-zeros", "inner_to_outer",
                "    cls_token, patches = patch_embed[:, :1], patch_embed[:, 1:]\n"
                "    return torch.cat([cls_token, patches + update], dim=1)   # (B, N + 1, C)\n",
                "    return patch_embed + F.pad(update, (0, 0, 1, 0))          # pad dim 1 with one zero token in front\n"),
    # in place, but on a copy: the caller's tensor is untouched
    Alternative("clone-then-add-in-place", "inner_to_outer",
                "    cls_token, patches = patch_embed[:, :1], patch_embed[:, 1:]\n"
                "    return torch.cat([cls_token, patches + update], dim=1)   # (B, N + 1, C)\n",
                "    out = patch_embed.clone()\n"
                "    out[:, 1:] += update\n"
                "    return out\n"),
    # a local helper for the four pre-norm residual branches
    Alternative("block-with-residual-helper", "block",
                "        pixel_embed = pixel_embed + self.attn_in(self.norm_in(pixel_embed))\n"
                "        pixel_embed = pixel_embed + self.mlp_in(self.norm_mlp_in(pixel_embed))\n"
                "        # words -> patch tokens (not the class token)\n"
                "        patch_embed = inner_to_outer(pixel_embed, patch_embed, self.norm1_proj, self.proj, self.norm2_proj)\n"
                "        # outer transformer over the N + 1 tokens of each image\n"
                "        patch_embed = patch_embed + self.attn_out(self.norm_out(patch_embed))\n"
                "        patch_embed = patch_embed + self.mlp(self.norm_mlp(patch_embed))\n",
                "        def residual(x, norm, layer):\n"
                "            return x + layer(norm(x))\n"
                "\n"
                "        pixel_embed = residual(residual(pixel_embed, self.norm_in, self.attn_in), self.norm_mlp_in, self.mlp_in)\n"
                "        patch_embed = inner_to_outer(pixel_embed, patch_embed, self.norm1_proj, self.proj, self.norm2_proj)\n"
                "        patch_embed = residual(residual(patch_embed, self.norm_out, self.attn_out), self.norm_mlp, self.mlp)\n"),
]

ALTERNATIVES += [
    # the block-diagonal mask as a Kronecker product, and an additive mask instead of masked_fill
    Alternative("mask-as-kronecker-product", "inner_attention",
                "    patch = torch.arange(num_patches * num_words, device=device) // num_words   # the patch of every word\n"
                "    return patch[:, None] == patch[None, :]\n",
                "    blocks = torch.kron(torch.eye(num_patches, device=device), torch.ones(num_words, num_words, device=device))\n"
                "    return blocks > 0\n"),
    Alternative("additive-mask", "inner_attention",
                "    scores = scores.masked_fill(~allowed, float(\"-inf\"))\n",
                "    scores = scores + torch.zeros_like(scores).masked_fill(~allowed, float(\"-inf\"))\n"),
    Alternative("mask-with-repeat-interleave", "inner_attention",
                "    patch = torch.arange(num_patches * num_words, device=device) // num_words   # the patch of every word\n",
                "    patch = torch.arange(num_patches, device=device).repeat_interleave(num_words)\n"),
    # the count written as a list of parameter shapes
    Alternative("tnt-parameters-from-shapes", "tnt_parameters",
                "    return words + stem + sentences + depth * (inner + projection + outer) + layer_norm(C) + C * num_classes + num_classes\n",
                "    m = math.ceil(patch_size / first_stride)\n"
                "    def attn_shapes(d):\n"
                "        return [(2 * d, d), (d, d), (d, d), (d,)] + ([(2 * d,), (d,)] if qkv_bias else [])\n"
                "    def mlp_shapes(d, h):\n"
                "        return [(h, d), (h,), (d, h), (d,)]\n"
                "    block = ([(c,)] * 4 + attn_shapes(c) + mlp_shapes(c, 4 * c) + [(m * m * c,)] * 2 + [(C, m * m * c)]\n"
                "             + [(C,)] * 6 + attn_shapes(C) + mlp_shapes(C, hidden))\n"
                "    shapes = [(c, in_chans, 7, 7), (c,), (1, c, m, m), (m * m * c,), (m * m * c,), (C, m * m * c), (C,),\n"
                "              (C,), (C,), (1, 1, C), (1, num_patches + 1, C)] + block * depth + [(C,), (C,), (num_classes, C),\n"
                "              (num_classes,)]\n"
                "    return sum(math.prod(shape) for shape in shapes)\n"),
]
