"""Building blocks the book's chapters share (the book's own versions, verified against PyTorch and timm in
``tests/test_coursetools_nn.py``).

These are the *teaching* implementations later chapters import instead of copying
(e.g. the ViT and TNT chapters build on :class:`Block`; the encoder/decoder chapter
on :class:`MultiHeadAttention`, :func:`padding_mask`, :func:`causal_mask` and
:func:`sinusoidal_encoding`).  Graded reference solutions are not here: they live
only in ``solutions/``.

Mask convention throughout: boolean, ``True`` = may attend (as in
``F.scaled_dot_product_attention``).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------- masks and positions

def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Key mask from sequence lengths: (B,) -> (B, 1, 1, max_len), True at real (non-padding) positions."""
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (B,), got shape {tuple(lengths.shape)}")
    if bool((lengths < 0).any()) or bool((lengths > max_len).any()):
        raise ValueError(f"lengths must lie in [0, max_len={max_len}], got {lengths.tolist()}")
    positions = torch.arange(max_len, device=lengths.device)
    return (positions < lengths[:, None])[:, None, None, :]


def causal_mask(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(n, n) lower-triangular mask: query i may attend to keys 0..i."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def sinusoidal_encoding(max_len: int, d_model: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The sinusoidal position encoding of Vaswani et al. (2017), interleaved: (max_len, d_model).

    PE[pos, 2i] = sin(pos / 10000^(2i/d_model)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)).
    """
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    position = torch.arange(max_len, device=device, dtype=torch.float64)[:, None]
    inv_freq = 10000.0 ** (-torch.arange(0, d_model, 2, device=device, dtype=torch.float64) / d_model)
    pe = torch.empty(max_len, d_model, device=device, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * inv_freq)
    pe[:, 1::2] = torch.cos(position * inv_freq)
    return pe.to(dtype)


# --------------------------------------------------------------------------- attention

def attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v with a boolean mask (True = attend): returns (output, weights).

    Shapes: q (..., L_q, d_k), k (..., L_k, d_k), v (..., L_k, d_v), mask broadcastable to (..., L_q, L_k).
    Fully masked rows get all-zero weights (not NaN).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    if mask is not None:
        weights = weights.nan_to_num(0.0)  # rows with no key to attend to
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate q/k/v projections (parameter names as in the attention exercise).

    query (B, L_q, d_model), key/value (B, L_k, d_model), mask broadcastable to (B, h, L_q, L_k)
    -> output (B, L_q, d_model), weights (B, h, L_q, L_k).
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True, dropout: float = 0.0,
                 device=None, dtype=None):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.d_model, self.num_heads, self.d_head = d_model, num_heads, d_model // num_heads
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
        q, k, v = self._split(self.q_proj(query)), self._split(self.k_proj(key)), self._split(self.v_proj(value))
        _, weights = attention(q, k, v, mask)
        out = self.dropout(weights) @ v
        out = out.transpose(1, 2).reshape(query.shape[0], query.shape[1], self.d_model)
        return self.out_proj(out), weights


# --------------------------------------------------------------------------- vision transformer blocks (timm names)

class Mlp(nn.Module):
    """Two-layer feed-forward network: (B, N, C) -> (B, N, C), hidden width ``hidden_features``."""

    def __init__(self, in_features: int, hidden_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias, device=device, dtype=dtype)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features, bias=bias, device=device, dtype=dtype)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (timm's ``Attention``): (B, N, C) -> (B, N, C).

    ``forward(x, return_weights=True)`` also returns the weights (B, heads, N, N) for visualisation.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, device=None, dtype=None):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, device=device, dtype=dtype)
        self.proj = nn.Linear(dim, dim, device=device, dtype=dtype)

    def forward(self, x, return_weights: bool = False):
        batch, n, channels = x.shape
        qkv = self.qkv(x).reshape(batch, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, head_dim)
        if return_weights:
            out, weights = attention(q, k, v)
        else:
            out, weights = F.scaled_dot_product_attention(q, k, v), None
        out = self.proj(out.transpose(1, 2).reshape(batch, n, channels))
        return (out, weights) if return_weights else out


class Block(nn.Module):
    """Pre-norm transformer encoder block (timm's ViT ``Block``): x + attn(norm1(x)), then x + mlp(norm2(x)).

    (B, N, C) -> (B, N, C).  State-dict keys match timm's ``Block`` (norm1, attn.qkv, attn.proj, norm2, mlp.fc1/fc2).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 eps: float = 1e-6, device=None, dtype=None):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.norm1 = nn.LayerNorm(dim, eps=eps, **factory)
        self.attn = SelfAttention(dim, num_heads, qkv_bias=qkv_bias, **factory)
        self.norm2 = nn.LayerNorm(dim, eps=eps, **factory)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), **factory)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))
