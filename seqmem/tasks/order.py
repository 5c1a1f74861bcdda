"""Temporal order (Hochreiter and Schmidhuber 1997, experiment 6a): classify the order of two marked
symbols, X or Y, placed among distractors, from the sequence's last step.

A sequence of `length` steps starts with E and ends with B; between them, distractors a-d, except one X or
Y at a random step in [0.1, 0.2) of the length and another in [0.5, 0.6). Its class is XX, XY, YX or YY: a
memoryless model can only guess (accuracy 1/4, loss ln 4).
"""

from __future__ import annotations

import math

import torch

from seqmem.params import check_int, parameter_defaults
from seqmem.tasks import register_task
from seqmem.tasks.base import Baseline, Batch, SampledTask

DISTRACTORS, X, Y, START, END = 4, 4, 5, 6, 7


@register_task("temporal-order")
class TemporalOrder(SampledTask):
    summary = "classify the order of two X/Y symbols among distractors (Hochreiter & Schmidhuber, exp. 6a)"

    vocab_size = 8
    num_classes = 4
    per_step = False

    def __init__(self, length: int = 100, test_size: int = 1000, validation_size: int = 1000, data_seed: int = 0):
        self.length = check_int("length", length, 20)
        self.span = length
        super().__init__(test_size, validation_size, data_seed)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 8 * (p["test_size"] + p["validation_size"]) * p["length"]

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("length", "test_size", "validation_size", "data_seed")}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        L = self.length
        x = torch.randint(0, DISTRACTORS, (n, L), generator=generator)  # (n, L)
        x[:, 0], x[:, -1] = START, END
        first = torch.randint(L // 10, L // 5, (n,), generator=generator)
        second = torch.randint(L // 2, 3 * L // 5, (n,), generator=generator)
        which = torch.randint(0, 2, (n, 2), generator=generator)  # 0: X, 1: Y
        rows = torch.arange(n)
        x[rows, first], x[rows, second] = X + which[:, 0], X + which[:, 1]
        y = 2 * which[:, 0] + which[:, 1]  # XX 0, XY 1, YX 2, YY 3
        return Batch(x, y, torch.ones(n, dtype=torch.bool))

    def baseline(self) -> Baseline:
        return Baseline(loss=math.log(4), accuracy=0.25, recall_accuracy=0.25, sequence_accuracy=0.25)
