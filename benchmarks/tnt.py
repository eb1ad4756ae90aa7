"""TNT against ViT: parity with timm, parameters, MACs, forward time at 224 px, and a seeded training comparison.

    .venv/bin/python benchmarks/tnt.py [--steps 600] [--seeds 0] [--skip-224] [--device cpu]

Prints numbers, asserts nothing about speed. The training comparison uses the ViT chapter's recipe and data
(digits at 16 px, AdamW 3e-3, warmup 100 + cosine, batch 64, a fixed number of steps) for the ViT chapter's
ViT (C = 64, depth 2, 2 heads, patch 4) and the TNT chapter's small TNT (same width and depth, c = 16, 2 inner
heads, first_stride 2: 4 words per patch).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from coursetools import describe_device, format_table, get_device, seed_everything, time_call  # noqa: E402
from coursetools.data import load_digits  # noqa: E402
from coursetools.tnt import TNT  # noqa: E402
from coursetools.train import TrainConfig, train_classifier  # noqa: E402
from coursetools.vit import VisionTransformer  # noqa: E402

SMALL_TNT = dict(img_size=16, patch_size=4, in_chans=1, num_classes=10, embed_dim=64, inner_dim=16, depth=2,
                 num_heads_inner=2, num_heads_outer=2, first_stride=2)
SMALL_VIT = dict(img_size=16, patch_size=4, in_chans=1, num_classes=10, embed_dim=64, depth=2, num_heads=2)
VIT_S = dict(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=384, depth=12, num_heads=6)
RECIPE = dict(batch_size=64, lr=3e-3, weight_decay=0.05, warmup_steps=100)


def parity() -> None:
    from timm.models.tnt import TNT as TimmTNT

    print("parity with timm.models.tnt.TNT (float64, every parameter ~ N(0, 0.5^2), strict load):")
    for cfg in (SMALL_TNT, dict(SMALL_TNT, first_stride=1, global_pool="avg"),
                dict(img_size=24, patch_size=8, in_chans=3, num_classes=5, embed_dim=24, inner_dim=6, depth=3,
                     num_heads_inner=3, num_heads_outer=2, first_stride=3, qkv_bias=True)):
        timm = TimmTNT(**cfg).double().eval()
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in timm.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)
        ours = TNT(**cfg, dtype=torch.float64).eval()
        ours.load_state_dict(timm.state_dict(), strict=True)
        x = torch.randn(4, cfg["in_chans"], cfg["img_size"], cfg["img_size"], generator=gen, dtype=torch.float64)
        with torch.no_grad():
            diff = (ours(x) - timm(x)).abs().max().item()
        print(f"  img {cfg['img_size']}, patch {cfg['patch_size']}, stride {cfg['first_stride']}: "
              f"max |logit diff| = {diff:.2e}")


def macs(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, *shape, device="meta"))
    return counter.get_total_flops() / 2


def cost_table(skip_224: bool, device: torch.device) -> None:
    rows = []
    models = [("small ViT", VisionTransformer(**SMALL_VIT, device="meta"), (1, 16, 16)),
              ("small TNT", TNT(**SMALL_TNT, device="meta"), (1, 16, 16)),
              ("ViT-S/16", VisionTransformer(**VIT_S, device="meta"), (3, 224, 224)),
              ("TNT-S", TNT(device="meta"), (3, 224, 224))]
    for name, model, shape in models:
        rows.append([name, f"{sum(p.numel() for p in model.parameters()) / 1e6:.3f} M",
                     f"{macs(model, shape) / 1e6:,.1f} M"])
    print("\nparameters and multiply-accumulates per image (matmuls + convolutions):")
    print(format_table(["model", "parameters", "MACs"], rows))
    if skip_224:
        return
    print(f"\nforward time at 224 px, batch 8, no grad, float32, on {describe_device(device)}:")
    x = torch.randn(8, 3, 224, 224, device=device)
    times = {}
    for name, model in [("ViT-S/16", VisionTransformer(**VIT_S)), ("TNT-S", TNT())]:
        model = model.to(device).eval()
        with torch.no_grad():
            times[name] = time_call(lambda: model(x), repeats=5, warmup=2, device=device)
        print(f"  {name:9s} {1e3 * times[name]:8.1f} ms")
    print(f"  TNT-S / ViT-S time ratio: {times['TNT-S'] / times['ViT-S/16']:.2f}")


def training(steps: int, seeds: list[int], device: torch.device) -> None:
    data = load_digits(image_size=16)
    print(f"\ntraining on digits (16 px), {steps} steps, batch 64, on {describe_device(device)}:")
    results = {"ViT": [], "TNT": []}
    for seed in seeds:
        for name, build in (("ViT", lambda: VisionTransformer(**SMALL_VIT)), ("TNT", lambda: TNT(**SMALL_TNT))):
            seed_everything(seed)
            model = build()
            history = train_classifier(model, data, TrainConfig(steps=steps, seed=seed, **RECIPE), device=device,
                                       progress=False)
            results[name].append((history.test_accuracy[-1], 1e3 * history.seconds_per_step))
            print(f"  seed {seed} {name}: test accuracy {history.test_accuracy[-1]:.2%}, "
                  f"{1e3 * history.seconds_per_step:.1f} ms/step")
    rows = []
    for name, values in results.items():
        accs, ms = [a for a, _ in values], [t for _, t in values]
        spread = f" ± {statistics.stdev(accs):.2%}" if len(accs) > 1 else ""
        rows.append([name, f"{statistics.mean(accs):.2%}{spread}", f"{statistics.median(ms):.1f}"])
    print(format_table(["model", "test accuracy (mean ± sd over seeds)", "ms / step (median)"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--skip-224", action="store_true", help="skip the 224 px forward timing")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: get_device())")
    args = parser.parse_args()
    device = get_device(args.device)
    parity()
    cost_table(args.skip_224, device)
    training(args.steps, args.seeds, device)


if __name__ == "__main__":
    main()
