"""Helpers shared by the repository's tests."""
import torch


def randomise(module, seed=0, scale=0.5):
    """Overwrite every parameter with seeded N(0, scale^2) values (libraries init some of them near zero,
    which hides bugs), in place; return the module."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return module
