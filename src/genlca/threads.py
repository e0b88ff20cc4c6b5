"""Intra-op threads of torch for a block of work."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Intra-op threads for the block (None/0: leave as is). On a shared CPU one thread is often
    several times faster: OpenMP threads spin while waiting for a core another process holds."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


__all__ = ["torch_threads"]
