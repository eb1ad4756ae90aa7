"""Train the encoder/decoder chapter's model (coursetools.seq2seq) and print steps, time and held-out exact match.

    .venv/bin/python benchmarks/encoder_decoder.py [--steps 500] [--threads 1] [--device cpu|cuda]

Target (issue #4): >= 95% exact match on held-out numbers after <= 2 minutes of CPU training on 2 cores, with a
fixed, seeded step count (the chapter's configuration). On CUDA the same run uses bfloat16 autocast.
Also prints greedy-decoding time with and without the key/value cache. Numbers are printed, never asserted.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coursetools import describe_device, format_table, get_device, time_call
from coursetools import seq2seq as s2s

# the chapter's configuration (book/encoder_decoder.md)
MODEL = dict(d_model=64, num_heads=4, num_encoder_layers=2, num_decoder_layers=2, norm_first=True, tie_weights=True)
CONFIG = dict(steps=500, batch_size=64, lr=4e-3, warmup_steps=100, label_smoothing=0.1, eval_every=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=CONFIG["steps"])
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: for a model this small a second thread gains little, and on "
                             "busy shared cores it can make each step many times slower)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    device = get_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    task = s2s.NumberToWords(seed=0)
    torch.manual_seed(args.seed)
    model = s2s.Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), **MODEL)
    config = s2s.Seq2SeqConfig(**{**CONFIG, "steps": args.steps, "seed": args.seed})
    print(f"device: {describe_device(device)}; model: {MODEL}; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")
    print(f"training: {config}")
    cpu_start = time.process_time()
    history = s2s.train_seq2seq(model, task, config, device=device, progress=False)
    cpu_seconds = time.process_time() - cpu_start

    test = task.test_batch(per_length=200).to(device)
    start = time.perf_counter()
    em = s2s.exact_match(model, test)
    eval_seconds = time.perf_counter() - start
    print(format_table(["steps", "train wall (s)", "train CPU (s)", "ms / step", "held-out examples",
                        "exact match", "eval (s)"],
                       [[config.steps, history.seconds, cpu_seconds, 1e3 * history.seconds_per_step,
                         len(test.numbers), em, eval_seconds]], floatfmt="{:.3f}"))
    print("exact match during training:",
          ", ".join(f"{s}: {e:.3f}" for s, e in zip(history.eval_step, history.exact_match)))
    target_ok = em >= 0.95 and history.seconds <= 120
    print(f"target (>= 95% exact match in <= 120 s of training): {'met' if target_ok else 'NOT met'}")

    # greedy decoding cost: a fresh model that never emits <eos>, so every sequence runs to max_len
    probe = s2s.Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), max_len=260, **MODEL).to(device).eval()
    with torch.no_grad():
        probe.out_proj.bias[s2s.EOS] = -1e4
    src = test.src[:16]
    s2s.greedy_decode(probe, src, 8)   # warm up
    rows = []
    for length in (16, 32, 64, 128, 256):
        repeats = 3 if length <= 64 else 1   # decoding 256 tokens without a cache takes many seconds on a CPU
        times = [time_call(lambda: s2s.greedy_decode(probe, src, length, use_cache=cache), repeats=repeats,
                           warmup=0, device=device) for cache in (False, True)]
        rows.append([length, 1e3 * times[0], 1e3 * times[1], times[0] / times[1]])
    print("\ngreedy decoding of 16 sequences to a fixed length")
    print(format_table(["tokens", "no cache (ms)", "KV cache (ms)", "speed-up"], rows, floatfmt="{:.1f}"))


if __name__ == "__main__":
    main()
