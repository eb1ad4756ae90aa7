"""Reproducibility: one call seeds every random number generator we use."""

import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a seeded CPU generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def randomise(
    module: torch.nn.Module,
    seed: int = 0,
    scale: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.nn.Module:
    """Overwrite every parameter with N(0, scale^2) noise, in place; return the module.

    Default inits (zero biases, unit LayerNorm weights, a class token at std 1e-6) hide
    bugs when two implementations are compared; random values do not.  The noise comes
    from ``generator``, else from a CPU generator seeded with ``seed``.
    """
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return module
