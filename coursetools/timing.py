"""Measuring time and memory of a computation, on CPU or CUDA."""

import time
import weakref
from typing import Callable

import torch
import torch.utils._pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode


def _synchronize(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], object],
    *,
    repeats: int = 5,
    warmup: int = 1,
    device: torch.device | None = None,
) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after
    ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    _synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def peak_memory_bytes(
    fn: Callable[[], object], device: torch.device | None = None
) -> int:
    """Peak bytes of tensor memory that ``fn()`` holds alive at once.

    On CUDA this is the caching allocator's peak.  On CPU PyTorch has no such
    counter, so we watch every tensor that an operator creates (a dispatch
    mode) and track how many bytes are alive until each one is freed.  That
    counts every intermediate a computation materialises (e.g. the n x n score
    matrix) but not scratch space a fused kernel keeps internally.
    """
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    with _LiveTensorBytes() as counter:
        fn()
    return counter.peak


class _LiveTensorBytes(TorchDispatchMode):
    """Dispatch mode that tracks the bytes of live tensors created inside it."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in pytree.tree_leaves(out):
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key in self._seen or storage.nbytes() == 0:
                continue  # a view of, or in-place op on, a storage we already count
            self._seen.add(key)
            nbytes = storage.nbytes()
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._release, key, nbytes)
        return out
