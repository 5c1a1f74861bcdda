"""Denormal floats flushed to zero while seqmem trains or predicts on the CPU.

A gradient carried back through hundreds of steps can decay into float32's denormal range (below about
1.2e-38), where x86 arithmetic runs many times slower: an LSTM update on the adding problem at T=600 took
about 7x as long with them as flushed (`benchmarks/denormals.py`). Flushing changes no value outside that
range. The caller's own setting is restored afterwards.
"""

from __future__ import annotations

import contextlib

import torch

DENORMAL = 1e-39  # below float32's smallest normal number, above its smallest denormal


def flushing() -> bool:
    """Whether the CPU now flushes denormals: PyTorch has a setter but no getter, so multiply one and see."""
    return (torch.tensor([DENORMAL]) * 1.0).item() == 0.0


@contextlib.contextmanager
def flushed_denormals():
    before = flushing()
    supported = torch.set_flush_denormal(True)  # False where the CPU cannot (then nothing changed)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(before)
