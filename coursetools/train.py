"""A small, deterministic training loop shared by the chapters: fixed step count, AdamW,
warmup + cosine.

Training stops after ``steps`` optimiser steps, never after a wall-clock time,
so a rerun gives the same model. On CUDA it uses bfloat16 autocast; on CPU it
runs in float32.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from coursetools.data import ImageSplit, random_batches
from coursetools.device import get_device


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    label_smoothing: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int = 100


@dataclass
class History:
    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, len(self.step))


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate multiplier: linear warmup from 0 to 1, then cosine decay to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512
) -> float:
    """Fraction of correctly classified examples (model in eval mode
    while measuring)."""
    was_training = model.training
    model.eval()
    correct = sum(
        (model(x[i : i + batch_size]).argmax(-1) == y[i : i + batch_size]).sum().item()
        for i in range(0, len(x), batch_size)
    )
    model.train(was_training)
    return correct / len(x)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    # stdout, not stderr: a notebook cell that writes to stderr fails the book build
    # (-W)
    return tqdm(total=total, file=sys.stdout, mininterval=1.0, desc="training")


def train_classifier(
    model: nn.Module,
    data: ImageSplit,
    config: TrainConfig = TrainConfig(),
    device: torch.device | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` for exactly ``config.steps`` steps on ``data``; return the loss /
    accuracy history."""
    device = device or get_device()
    torch.manual_seed(config.seed)
    data = data.to(device)
    model.to(device).train()
    decay = [
        p
        for n, p in model.named_parameters()
        if p.ndim >= 2 and "pos_embed" not in n and "token" not in n
    ]
    no_decay = [
        p
        for n, p in model.named_parameters()
        if not (p.ndim >= 2 and "pos_embed" not in n and "token" not in n)
    ]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, config.steps, config.warmup_steps)
    )
    batches = random_batches(
        data.x_train,
        data.y_train,
        config.batch_size,
        torch.Generator().manual_seed(config.seed),
    )
    use_amp = device.type == "cuda"
    history, bar = History(), _progress(config.steps, progress)
    start = time.perf_counter()
    for step in range(config.steps):
        x, y = next(batches)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = F.cross_entropy(model(x), y, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        schedule.step()
        history.step.append(step)
        history.loss.append(loss.item())
        history.lr.append(schedule.get_last_lr()[0])
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            history.eval_step.append(step + 1)
            history.test_accuracy.append(accuracy(model, data.x_test, data.y_test))
        if bar is not None:
            bar.update(1)
            if history.eval_step and history.eval_step[-1] == step + 1:
                bar.set_postfix(
                    loss=f"{loss.item():.3f}",
                    test_acc=f"{history.test_accuracy[-1]:.3f}",
                )
    history.seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    return history
