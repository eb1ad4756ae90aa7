"""Building blocks the book's chapters share (the book's own versions, verified against
PyTorch and timm in ``tests/test_coursetools_nn.py``).

Later chapters import these instead of copying them (e.g. the ViT and TNT chapters build
on :class:`Block`; the encoder/decoder chapter on :class:`MultiHeadAttention`,
:func:`padding_mask`, :func:`causal_mask` and :func:`sinusoidal_encoding`).  Each
concept lives in a module of its own (``masks``, ``positions``, ``attention``, ``mlp``)
so that the autograder can give an exercise exactly the pieces it builds on and hide the
ones it grades (``autograder/policy.py``); this module gathers them for the chapters.

Mask convention throughout: boolean, ``True`` = may attend (as in
``F.scaled_dot_product_attention``).
"""

from __future__ import annotations

import torch.nn as nn

from coursetools.attention import MultiHeadAttention, SelfAttention, attention
from coursetools.masks import causal_mask, padding_mask
from coursetools.mlp import Mlp
from coursetools.positions import sinusoidal_encoding

__all__ = [
    "Block",
    "Mlp",
    "MultiHeadAttention",
    "SelfAttention",
    "attention",
    "causal_mask",
    "padding_mask",
    "sinusoidal_encoding",
]


class Block(nn.Module):
    """Pre-norm transformer encoder block (timm's ViT ``Block``): x + attn(norm1(x)),
    then x + mlp(norm2(x)).

    (B, N, C) -> (B, N, C).  State-dict keys match timm's ``Block`` (norm1, attn.qkv,
    attn.proj, norm2, mlp.fc1/fc2).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        eps: float = 1e-6,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.norm1 = nn.LayerNorm(dim, eps=eps, **factory)
        self.attn = SelfAttention(dim, num_heads, qkv_bias=qkv_bias, **factory)
        self.norm2 = nn.LayerNorm(dim, eps=eps, **factory)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), **factory)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))
