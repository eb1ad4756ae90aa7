"""Shared helpers for the course *Transformers, from attention to Swin*.

Chapters and exercise notebooks import from here (like D2L's ``d2l`` package) so
that device choice, seeding, plotting and timing are written once.  Graded
reference solutions are deliberately *not* in this package: they live only in
``solutions/`` and are loaded by the autograder.
"""
from coursetools.device import get_device, describe_device
from coursetools.seed import seed_everything
from coursetools.timing import time_call, peak_memory_bytes

__all__ = [
    "get_device",
    "describe_device",
    "seed_everything",
    "time_call",
    "peak_memory_bytes",
]
