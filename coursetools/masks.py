"""Attention masks (boolean, ``True`` = may attend, as in
``F.scaled_dot_product_attention``).

Given to the encoder/decoder exercise; graded in the masking exercise (hidden from its
grading kernel).
"""

from __future__ import annotations

import torch


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Key mask from sequence lengths: (B,) -> (B, 1, 1, max_len), True at real
    (non-padding) positions."""
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (B,), got shape {tuple(lengths.shape)}")
    if bool((lengths < 0).any()) or bool((lengths > max_len).any()):
        raise ValueError(
            f"lengths must lie in [0, max_len={max_len}], got {lengths.tolist()}"
        )
    positions = torch.arange(max_len, device=lengths.device)
    return (positions < lengths[:, None])[:, None, None, :]


def causal_mask(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(n, n) lower-triangular mask: query i may attend to keys 0..i."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()
