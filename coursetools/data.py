"""Offline datasets: nothing here downloads anything.

``load_digits`` uses the 1,797 handwritten digits (8x8, grey levels 0-16) that ship
inside scikit-learn's wheel, upscaled for the vision chapters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ImageSplit:
    """Train/test tensors: images (N, 1, H, W) float32 standardised,
    labels (N,) int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]

    def to(self, device) -> "ImageSplit":
        return ImageSplit(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.classes,
        )


def load_digits(
    image_size: int = 16, test_fraction: float = 0.2, seed: int = 0
) -> ImageSplit:
    """scikit-learn's digits, bilinearly resized to ``image_size`` px, split per class
    (stratified, seeded)."""
    from sklearn.datasets import load_digits as sk_load_digits

    digits = sk_load_digits()
    images = (
        torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    )  # (N, 1, 8, 8) in [0, 1]
    if image_size != 8:
        images = F.interpolate(
            images, size=(image_size, image_size), mode="bilinear", align_corners=False
        )
    labels = torch.tensor(digits.target, dtype=torch.int64)
    gen = torch.Generator().manual_seed(seed)
    test_idx, train_idx = [], []
    for c in labels.unique():
        idx = (labels == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_test = round(len(idx) * test_fraction)
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train_idx, test_idx = torch.cat(train_idx), torch.cat(test_idx)
    mean, std = images[train_idx].mean(), images[train_idx].std()
    images = (images - mean) / std
    return ImageSplit(
        images[train_idx],
        labels[train_idx],
        images[test_idx],
        labels[test_idx],
        tuple(str(i) for i in range(10)),
    )


def random_batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
):
    """Endless shuffled mini-batches, epoch after epoch (a seeded ``generator`` makes
    the order reproducible)."""
    while True:
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]
