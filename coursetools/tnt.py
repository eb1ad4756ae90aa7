"""Transformer in Transformer (TNT; Han et al., 2021, "Transformer in Transformer",
NeurIPS): the book's version.

An image is cut into patches ("visual sentences") and every patch into smaller pieces
("visual words"). Each block first runs an *inner* transformer over the words of every
patch separately, adds a projection of the words to their patch token, then runs an
*outer* transformer over the patch tokens (and a class token).

State-dict keys equal those of ``timm.models.tnt.TNT`` (non-legacy variant), so a timm
TNT's weights load with ``load_state_dict(strict=True)``; ``tests/test_tnt_model.py``
checks the logits agree in float64.  timm calls the words "pixels" (``pixel_embed``,
``pixel_pos``); we keep its parameter names and say "words" in the prose.

Shapes: B images, N patches per image (N + 1 tokens with the class token), M words per
patch, C = ``embed_dim`` (patch tokens), c = ``inner_dim`` (word tokens).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from coursetools.attention import attention
from coursetools.mlp import Mlp

__all__ = ["Attention", "PixelEmbed", "project_words", "Block", "TNT"]


class Attention(nn.Module):
    """TNT's multi-head self-attention: (B, L, dim) -> (B, L, dim).

    Unlike ViT's fused ``qkv``, timm's TNT has one Linear ``qk`` for queries and keys
    and a separate ``v``, both without bias by default.  ``forward(x,
    return_weights=True)`` also returns the weights (B, heads, L, L).
    """

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool = False, device=None, dtype=None
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        factory = dict(device=device, dtype=dtype)
        self.qk = nn.Linear(dim, 2 * dim, bias=qkv_bias, **factory)
        self.v = nn.Linear(dim, dim, bias=qkv_bias, **factory)
        self.proj = nn.Linear(dim, dim, **factory)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        batch, length, dim = x.shape
        qk = (
            self.qk(x)
            .reshape(batch, length, 2, self.num_heads, self.head_dim)
            .permute(2, 0, 3, 1, 4)
        )
        q, k = qk.unbind(0)  # (B, h, L, d)
        v = (
            self.v(x)
            .reshape(batch, length, self.num_heads, self.head_dim)
            .transpose(1, 2)
        )  # (B, h, L, d)
        if return_weights:
            out, weights = attention(q, k, v)
        else:
            out, weights = F.scaled_dot_product_attention(q, k, v), None
        out = self.proj(out.transpose(1, 2).reshape(batch, length, dim))
        return (out, weights) if return_weights else out


class PixelEmbed(nn.Module):
    """Image -> visual words: (B, C_in, H, W) -> (B * N, M, inner_dim).

    Cut the image into N patches of ``patch_size`` px (row-major), then embed every
    patch *on its own* with a 7x7 convolution of stride ``stride``: each output position
    is one word, M = ceil(patch_size / stride)**2 words per patch.  The word position
    embedding ``pixel_pos`` (1, inner_dim, m, m), shared by all patches, is added before
    the words are flattened (row-major) into a sequence.
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        inner_dim: int = 24,
        stride: int = 4,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if img_size % patch_size:
            raise ValueError(
                f"img_size={img_size} must be a multiple of patch_size={patch_size}"
            )
        self.img_size, self.patch_size, self.in_chans, self.inner_dim = (
            img_size,
            patch_size,
            in_chans,
            inner_dim,
        )
        self.grid_size = (
            img_size // patch_size,
            img_size // patch_size,
        )  # patches per column, per row
        self.num_patches = self.grid_size[0] * self.grid_size[1]  # N
        self.word_grid = math.ceil(patch_size / stride)  # m: words per patch side
        self.num_words = self.word_grid**2  # M
        self.proj = nn.Conv2d(
            in_chans,
            inner_dim,
            kernel_size=7,
            padding=3,
            stride=stride,
            device=device,
            dtype=dtype,
        )

    def forward(self, x: torch.Tensor, pixel_pos: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.in_chans, self.img_size, self.img_size):
            raise ValueError(
                f"expected images "
                f"(B, {self.in_chans}, {self.img_size}, {self.img_size}), "
                f"got {tuple(x.shape)}"
            )
        batch, channels = x.shape[:2]
        (rows, cols), p = self.grid_size, self.patch_size
        patches = (
            x.reshape(
                batch, channels, rows, p, cols, p
            )  # split H into (rows, p) and W into (cols, p)
            .permute(0, 2, 4, 1, 3, 5)  # (B, rows, cols, C_in, p, p)
            .reshape(batch * rows * cols, channels, p, p)
        )  # (B * N, C_in, p, p): one image per patch
        words = self.proj(patches) + pixel_pos  # (B * N, c, m, m)
        return words.flatten(2).transpose(1, 2)  # (B * N, M, c)


def project_words(
    pixel_embed: torch.Tensor,
    batch: int,
    norm1_proj: nn.Module,
    proj: nn.Module,
    norm2_proj: nn.Module,
) -> torch.Tensor:
    """Words -> one vector per patch: (B * N, M, c) -> (B, N, C).

    Concatenate the M words of each patch into one vector of M * c numbers, then
    LayerNorm, Linear, LayerNorm.
    """
    flat = pixel_embed.reshape(
        batch, pixel_embed.shape[0] // batch, -1
    )  # (B, N, M * c)
    return norm2_proj(proj(norm1_proj(flat)))  # (B, N, C)


class Block(nn.Module):
    """One TNT block: inner transformer on the words, words -> patch update, outer
    transformer on the patches.

    pixel_embed (B * N, M, c), patch_embed (B, N + 1, C) -> the same shapes.  The word
    update is added to the N patch tokens only, never to the class token.  The inner MLP
    is always 4 * c wide (as in timm); ``mlp_ratio`` sets the outer MLP.
    """

    def __init__(
        self,
        inner_dim: int,
        embed_dim: int,
        num_words: int,
        num_heads_inner: int = 4,
        num_heads_outer: int = 6,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        eps: float = 1e-5,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        # inner transformer, over the M words of each patch
        self.norm_in = nn.LayerNorm(inner_dim, eps=eps, **factory)
        self.attn_in = Attention(
            inner_dim, num_heads_inner, qkv_bias=qkv_bias, **factory
        )
        self.norm_mlp_in = nn.LayerNorm(inner_dim, eps=eps, **factory)
        self.mlp_in = Mlp(inner_dim, 4 * inner_dim, **factory)
        # words -> patch
        self.norm1_proj = nn.LayerNorm(num_words * inner_dim, eps=eps, **factory)
        self.proj = nn.Linear(num_words * inner_dim, embed_dim, bias=False, **factory)
        self.norm2_proj = nn.LayerNorm(embed_dim, eps=eps, **factory)
        # outer transformer, over the N + 1 patch tokens of each image
        self.norm_out = nn.LayerNorm(embed_dim, eps=eps, **factory)
        self.attn_out = Attention(
            embed_dim, num_heads_outer, qkv_bias=qkv_bias, **factory
        )
        self.norm_mlp = nn.LayerNorm(embed_dim, eps=eps, **factory)
        self.mlp = Mlp(embed_dim, int(embed_dim * mlp_ratio), **factory)

    def forward(
        self,
        pixel_embed: torch.Tensor,
        patch_embed: torch.Tensor,
        return_weights: bool = False,
    ):
        batch = patch_embed.shape[0]
        # inner: the B * N patches are the batch, so words attend only to words of the
        # same patch
        inner, w_in = (
            self.attn_in(self.norm_in(pixel_embed), return_weights=True)
            if return_weights
            else (self.attn_in(self.norm_in(pixel_embed)), None)
        )
        pixel_embed = pixel_embed + inner
        pixel_embed = pixel_embed + self.mlp_in(self.norm_mlp_in(pixel_embed))
        # words -> patch tokens (the class token, position 0, has no words)
        update = project_words(
            pixel_embed, batch, self.norm1_proj, self.proj, self.norm2_proj
        )  # (B, N, C)
        patch_embed = torch.cat(
            [patch_embed[:, :1], patch_embed[:, 1:] + update], dim=1
        )
        # outer: a ViT block over the N + 1 tokens
        outer, w_out = (
            self.attn_out(self.norm_out(patch_embed), return_weights=True)
            if return_weights
            else (self.attn_out(self.norm_out(patch_embed)), None)
        )
        patch_embed = patch_embed + outer
        patch_embed = patch_embed + self.mlp(self.norm_mlp(patch_embed))
        if return_weights:
            return (
                pixel_embed,
                patch_embed,
                (w_in, w_out),
            )  # (B * N, h_in, M, M), (B, h_out, N + 1, N + 1)
        return pixel_embed, patch_embed


class TNT(nn.Module):
    """Transformer in Transformer: images (B, C_in, H, W) -> logits (B, num_classes).

    The defaults are TNT-S (Han et al., 2021): 224 px, 16 px patches cut into 4 x 4
    words, C = 384, c = 24, 12 blocks, 6 outer and 4 inner heads: 23.8 M parameters.
    Parameter names follow ``timm.models.tnt.TNT``.
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 384,
        inner_dim: int = 24,
        depth: int = 12,
        num_heads_inner: int = 4,
        num_heads_outer: int = 6,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        first_stride: int = 4,
        global_pool: str = "token",
        eps: float = 1e-5,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if global_pool not in ("token", "avg"):
            raise ValueError(
                f"global_pool must be 'token' or 'avg', got {global_pool!r}"
            )
        factory = dict(device=device, dtype=dtype)
        self.global_pool, self.num_classes = global_pool, num_classes
        self.pixel_embed = PixelEmbed(
            img_size, patch_size, in_chans, inner_dim, first_stride, **factory
        )
        num_patches, num_words = (
            self.pixel_embed.num_patches,
            self.pixel_embed.num_words,
        )
        m = self.pixel_embed.word_grid
        # the stem: words -> the first patch tokens (this Linear has a bias, the blocks'
        # do not)
        self.norm1_proj = nn.LayerNorm(num_words * inner_dim, eps=eps, **factory)
        self.proj = nn.Linear(num_words * inner_dim, embed_dim, **factory)
        self.norm2_proj = nn.LayerNorm(embed_dim, eps=eps, **factory)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim, **factory))
        self.patch_pos = nn.Parameter(
            torch.zeros(1, num_patches + 1, embed_dim, **factory)
        )  # sentence positions
        self.pixel_pos = nn.Parameter(
            torch.zeros(1, inner_dim, m, m, **factory)
        )  # word positions
        self.blocks = nn.ModuleList(
            [
                Block(
                    inner_dim,
                    embed_dim,
                    num_words,
                    num_heads_inner,
                    num_heads_outer,
                    mlp_ratio,
                    qkv_bias,
                    eps,
                    **factory,
                )
                for _ in range(depth)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=eps, **factory)
        self.head = (
            nn.Linear(embed_dim, num_classes, **factory)
            if num_classes > 0
            else nn.Identity()
        )
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """timm's initialisation: truncated normal (std 0.02) for positions, class token
        and Linear weights."""
        for p in (self.cls_token, self.patch_pos, self.pixel_pos):
            nn.init.trunc_normal_(p, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor, return_weights: bool = False):
        """(B, C_in, H, W) -> normalised tokens (B, N + 1, C); with ``return_weights``
        also the attention weights of every block, a list of (inner (B * N, h_in, M, M),
        outer (B, h_out, N + 1, N + 1))."""
        batch = x.shape[0]
        pixel_embed = self.pixel_embed(x, self.pixel_pos)  # (B * N, M, c)
        patches = project_words(
            pixel_embed, batch, self.norm1_proj, self.proj, self.norm2_proj
        )  # (B, N, C)
        patch_embed = torch.cat(
            [self.cls_token.expand(batch, -1, -1), patches], dim=1
        )  # (B, N + 1, C)
        patch_embed = patch_embed + self.patch_pos
        weights = []
        for block in self.blocks:
            if return_weights:
                pixel_embed, patch_embed, w = block(
                    pixel_embed, patch_embed, return_weights=True
                )
                weights.append(w)
            else:
                pixel_embed, patch_embed = block(pixel_embed, patch_embed)
        patch_embed = self.norm(patch_embed)
        return (patch_embed, weights) if return_weights else patch_embed

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N + 1, C) -> (B, num_classes), from the class token or the mean of the
        patch tokens."""
        pooled = (
            tokens[:, 0] if self.global_pool == "token" else tokens[:, 1:].mean(dim=1)
        )
        return self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
