"""Choosing where tensors live: CUDA when there is one, CPU otherwise."""

import os

import torch


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device heavy computations should use.

    ``prefer`` (or the environment variable ``COURSE_DEVICE``) forces a device,
    e.g. ``"cpu"`` to reproduce CPU numbers on a GPU machine.
    """
    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice:
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A one-line human description of ``device`` (for printing in notebooks)."""
    device = device or get_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
