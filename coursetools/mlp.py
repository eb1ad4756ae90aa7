"""The two-layer feed-forward network of transformer blocks, with timm's
parameter names.

Given to the TNT and Swin exercises; graded in the ViT exercise (hidden from its
grading kernel).
"""

from __future__ import annotations

import torch.nn as nn


class Mlp(nn.Module):
    """Two-layer feed-forward network: (B, N, C) -> (B, N, C), hidden width
    ``hidden_features``."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.fc1 = nn.Linear(
            in_features, hidden_features, bias=bias, device=device, dtype=dtype
        )
        self.act = nn.GELU()
        self.fc2 = nn.Linear(
            hidden_features, in_features, bias=bias, device=device, dtype=dtype
        )

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))
