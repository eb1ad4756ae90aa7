"""Helpers shared by the repository's tests."""
from coursetools.seed import randomise  # one home: the chapters compare models with it too

__all__ = ["randomise"]
