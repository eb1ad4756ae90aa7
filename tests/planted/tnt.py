"""Planted bugs for the exercise "tnt" (see tests/planted_bugs.py)."""
from tests.planted_bugs import PlantedBug

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
