"""The Swin chapter's numbers: forward time of the book's Swin (coursetools.swin) and of the exercise's graded
reference (solutions/swin.ipynb) against timm's SwinTransformer at the same configuration, and a training run of
the chapter's small Swin on the digits.

    .venv/bin/python benchmarks/swin.py [--threads 1] [--device cpu|cuda] [--steps 300] [--skip-training]

Target (issue #7): the reference forward within 1.1x of timm's time.  Numbers are printed, never asserted.  On busy
shared cores timings are noisy: the two models are timed interleaved, several rounds, keeping each one's best
median; compare the ratios, not the seconds.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from autograder.reference import load_reference
from coursetools import describe_device, format_table, get_device, seed_everything, time_call
from coursetools.data import load_digits
from coursetools.swin import SwinTransformer
from coursetools.train import TrainConfig, train_classifier

# the chapter's small Swin (book/swin.md) and its training configuration
MODEL = dict(img_size=16, patch_size=2, in_chans=1, num_classes=10, embed_dim=32, depths=(2, 2), num_heads=(2, 4),
             window_size=4)
CONFIG = dict(steps=300, batch_size=64, lr=5e-3, weight_decay=0.05, warmup_steps=30, seed=0)

FORWARD_CASES = [
    ("digits Swin, 16 px", MODEL, (1, 64)),
    ("issue's config, 32 px", dict(img_size=32, patch_size=4, in_chans=3, num_classes=1000, embed_dim=32,
                                   depths=(2, 2), num_heads=(2, 4), window_size=4), (1, 64)),
    ("Swin-T, 224 px", dict(img_size=224, patch_size=4, in_chans=3, num_classes=1000, embed_dim=96,
                            depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7), (1,)),
]


def train(args, device) -> None:
    data = load_digits(image_size=MODEL["img_size"])
    seed_everything(args.seed)
    model = SwinTransformer(**MODEL)
    config = TrainConfig(**{**CONFIG, "steps": args.steps, "seed": args.seed})
    print(f"device: {describe_device(device)}; model: {MODEL}; {sum(p.numel() for p in model.parameters()):,} "
          f"parameters\ntraining: {config}")
    cpu_start = time.process_time()
    history = train_classifier(model, data, config, device=device, progress=False)
    print(format_table(["steps", "train wall (s)", "train CPU (s)", "ms / step", "test accuracy"],
                       [[config.steps, history.seconds, time.process_time() - cpu_start,
                         1e3 * history.seconds_per_step, history.test_accuracy[-1]]], floatfmt="{:.3f}"))
    print()


def forward_times(args, device) -> None:
    import timm

    reference = load_reference("swin")
    rows = []
    for name, config, batches in FORWARD_CASES:
        theirs = timm.models.swin_transformer.SwinTransformer(**config, drop_path_rate=0.0).to(device).eval()
        book = SwinTransformer(**config, device=device).eval()
        book.load_state_dict(theirs.state_dict(), strict=True)
        graded = reference.SwinTransformer(**config, device=device).eval()   # the exercise's model (no padding)
        graded.load_state_dict(theirs.state_dict(), strict=True)
        candidates = {"book (coursetools)": book, "graded reference": graded}
        for batch in batches:
            x = torch.randn(batch, config["in_chans"], config["img_size"], config["img_size"], device=device)
            with torch.inference_mode():
                for model in candidates.values():
                    torch.testing.assert_close(model(x), theirs(x), rtol=1e-4, atol=1e-4)
                best = {label: float("inf") for label in [*candidates, "timm"]}
                for _ in range(args.rounds):
                    for label, model in [*candidates.items(), ("timm", theirs)]:
                        best[label] = min(best[label], time_call(lambda: model(x), repeats=args.repeats, warmup=2,
                                                                 device=device))
            for label in candidates:
                rows.append([name, label, batch, 1e3 * best[label], 1e3 * best["timm"], best[label] / best["timm"]])
    print(f"forward time, {describe_device(device)}, float32, inference mode (target: ours / timm <= 1.1)")
    print(format_table(["model", "implementation", "batch", "ours (ms)", "timm (ms)", "ours / timm"], rows,
                       floatfmt="{:.3f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=CONFIG["steps"])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1, as in the chapter)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds per case")
    parser.add_argument("--repeats", type=int, default=5, help="calls per timing round")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    device = get_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads\n")
    if not args.skip_training:
        train(args, device)
    forward_times(args, device)


if __name__ == "__main__":
    main()
