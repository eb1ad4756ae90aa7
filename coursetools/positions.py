"""The sinusoidal position encoding of the Transformer paper.

Given to the encoder/decoder exercise; graded in the positional-encoding exercise
(hidden from its grading kernel).
"""

from __future__ import annotations

import torch


def sinusoidal_encoding(
    max_len: int, d_model: int, *, device=None, dtype=torch.float32
) -> torch.Tensor:
    """The sinusoidal position encoding of Vaswani et al. (2017), interleaved:
    (max_len, d_model).

    PE[pos, 2i] = sin(pos / 10000^(2i/d_model)),  PE[pos, 2i+1] = cos(pos /
    10000^(2i/d_model)).
    """
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    position = torch.arange(max_len, device=device, dtype=torch.float64)[:, None]
    inv_freq = 10000.0 ** (
        -torch.arange(0, d_model, 2, device=device, dtype=torch.float64) / d_model
    )
    pe = torch.empty(max_len, d_model, device=device, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * inv_freq)
    pe[:, 1::2] = torch.cos(position * inv_freq)
    return pe.to(dtype)
