"""Scaled dot-product attention and multi-head attention, the book's own versions
(checked against PyTorch in ``tests/test_coursetools_nn.py``).

``SelfAttention`` is given to the ViT exercise; everything here is graded in the
attention exercise and hidden from its grading kernel.  Mask convention: boolean,
``True`` = may attend.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v with a boolean mask (True = attend): returns
    (output, weights).

    Shapes: q (..., L_q, d_k), k (..., L_k, d_k), v (..., L_k, d_v), mask broadcastable
    to (..., L_q, L_k). Fully masked rows get all-zero weights (not NaN).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    if mask is not None:
        weights = weights.nan_to_num(0.0)  # rows with no key to attend to
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate q/k/v projections (parameter names as in the
    attention exercise).

    query (B, L_q, d_model), key/value (B, L_k, d_model), mask broadcastable to
    (B, h, L_q, L_k)
    -> output (B, L_q, d_model), weights (B, h, L_q, L_k).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        bias: bool = True,
        dropout: float = 0.0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(
                f"d_model={d_model} must be divisible by num_heads={num_heads}"
            )
        self.d_model, self.num_heads, self.d_head = (
            d_model,
            num_heads,
            d_model // num_heads,
        )
        factory = dict(bias=bias, device=device, dtype=dtype)
        self.q_proj = nn.Linear(d_model, d_model, **factory)
        self.k_proj = nn.Linear(d_model, d_model, **factory)
        self.v_proj = nn.Linear(d_model, d_model, **factory)
        self.out_proj = nn.Linear(d_model, d_model, **factory)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.d_head).transpose(1, 2)

    def forward(self, query, key, value, mask=None):
        q, k, v = (
            self._split(self.q_proj(query)),
            self._split(self.k_proj(key)),
            self._split(self.v_proj(value)),
        )
        _, weights = attention(q, k, v, mask)
        out = self.dropout(weights) @ v
        out = out.transpose(1, 2).reshape(query.shape[0], query.shape[1], self.d_model)
        return self.out_proj(out), weights


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (timm's
    ``Attention``): (B, N, C) -> (B, N, C).

    ``forward(x, return_weights=True)`` also returns the weights (B, heads, N, N)
    for visualisation.
    """

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool = True, device=None, dtype=None
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, device=device, dtype=dtype)
        self.proj = nn.Linear(dim, dim, device=device, dtype=dtype)

    def forward(self, x, return_weights: bool = False):
        batch, n, channels = x.shape
        qkv = (
            self.qkv(x)
            .reshape(batch, n, 3, self.num_heads, self.head_dim)
            .permute(2, 0, 3, 1, 4)
        )
        q, k, v = qkv.unbind(0)  # each (B, heads, N, head_dim)
        if return_weights:
            out, weights = attention(q, k, v)
        else:
            out, weights = F.scaled_dot_product_attention(q, k, v), None
        out = self.proj(out.transpose(1, 2).reshape(batch, n, channels))
        return (out, weights) if return_weights else out
