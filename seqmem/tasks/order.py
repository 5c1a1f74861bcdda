"""Temporal order (Hochreiter and Schmidhuber 1997, experiment 6a): classify the order of two marked
symbols, X or Y, placed among distractors, from the sequence's last step.

A sequence starts with E and ends with B; between them, distractors a-d, except two X or Y symbols. Its
class is XX, XY, YX or YY: a memoryless model can only guess (accuracy 1/4, loss ln 4).

- layout `fixed` (the default): `length` steps, one mark at a random step in [0.1, 0.2) of the length and
  the other in [0.5, 0.6).
- layout `hochreiter` (their experiment as they give it): the length drawn in [length, 1.1 x length]
  (100-110), the marks at positions (counted from 1, E at 1) drawn in [0.1, 0.2] and [0.5, 0.6] of `length`
  (10-20 and 50-60), ends inclusive. A batch holds sequences of several lengths: the shorter are padded at
  the front with a pad symbol, so every sequence ends, and is classified, at the batch's last step.
"""

from __future__ import annotations

import math

import torch

from seqmem.config.settings import check_int, parameter_defaults
from seqmem.tasks import register_task
from seqmem.tasks.base import Baseline, Batch, SampledTask, check_choice

DISTRACTORS, X, Y, START, END, PAD = 4, 4, 5, 6, 7, 8


@register_task("temporal-order")
class TemporalOrder(SampledTask):
    """Temporal order: the order of two X/Y marks among distractors.

    Args:
        length: steps a sequence (with layout hochreiter, the shortest)
        layout: fixed (marks in [0.1, 0.2) and [0.5, 0.6) of the length) or hochreiter (their lengths and positions)
        test_size: sequences in the fixed test set
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, and a fixed training set)
    """

    summary = "classify the order of two X/Y symbols among distractors (Hochreiter & Schmidhuber, exp. 6a)"

    num_classes = 4
    per_step = False

    def __init__(self, length: int = 100, layout: str = "fixed", test_size: int = 1000, validation_size: int = 1000,
                 data_seed: int = 0):
        self.length = check_int("length", length, 20)
        self.layout = check_choice("layout", layout, ("fixed", "hochreiter"))
        self.vocab_size = 8 if layout == "fixed" else 9  # a-d, X, Y, E, B (and the pad)
        self.span = self.span_of(length, layout)
        super().__init__(test_size, validation_size, data_seed)

    @staticmethod
    def span_of(length: int, layout: str) -> int:
        return length if layout == "fixed" else length + length // 10

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 8 * (p["test_size"] + p["validation_size"]) * cls.span_of(p["length"], p["layout"])

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("length", "layout", "test_size", "validation_size", "data_seed")}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        if self.layout == "hochreiter":
            return self.draw_hochreiter(n, generator)
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

    def draw_hochreiter(self, n: int, generator: torch.Generator) -> Batch:
        L, span = self.length, self.span
        lengths = torch.randint(L, span + 1, (n,), generator=generator)
        pad = span - lengths  # (n,): steps before each sequence's E
        x = torch.randint(0, DISTRACTORS, (n, span), generator=generator)
        x[torch.arange(span) < pad[:, None]] = PAD
        rows = torch.arange(n)
        x[rows, pad], x[:, -1] = START, END
        first = torch.randint(L // 10, L // 5 + 1, (n,), generator=generator)  # positions counted from 1 (E)
        second = torch.randint(L // 2, 3 * L // 5 + 1, (n,), generator=generator)
        which = torch.randint(0, 2, (n, 2), generator=generator)
        x[rows, pad + first - 1], x[rows, pad + second - 1] = X + which[:, 0], X + which[:, 1]
        return Batch(x, 2 * which[:, 0] + which[:, 1], torch.ones(n, dtype=torch.bool))

    def show(self, token: int) -> str:
        """Distractors a-d, the marks X and Y, the start E, the end B, the pad `_`."""
        return "abcdXYEB_"[token]

    def show_class(self, label: int) -> str:
        return ("XX", "XY", "YX", "YY")[label]

    def baseline(self) -> Baseline:
        return Baseline(loss=math.log(4), accuracy=0.25, recall_accuracy=0.25, sequence_accuracy=0.25)
