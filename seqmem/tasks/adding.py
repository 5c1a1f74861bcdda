"""The adding problem (Hochreiter and Schmidhuber 1997; the TCN paper's T=600): a regression target.

Each step carries two channels: a number drawn uniformly in [0, 1], and a marker that is 1 at exactly two
steps, one in each half of the sequence. The answer, read from the last step, is the sum of the two marked
numbers. Loss and `loss` in the scores are the mean squared error; accuracy (and recall and sequence
accuracy) is the fraction of sequences answered within `tolerance` (0.04). The memoryless baseline always
answers 1, the sum's mean: MSE 1/6 (about 0.167), within 0.04 for 1 - 0.96^2 = 7.84% of sequences.
"""

from __future__ import annotations

import torch

from seqmem.errors import ConfigError
from seqmem.params import check_int, parameter_defaults
from seqmem.tasks import register_task
from seqmem.tasks.base import Baseline, Batch, SampledTask


@register_task("adding")
class Adding(SampledTask):
    summary = "sum the two marked numbers of a long sequence (regression: MSE, and answers within 0.04)"

    input_channels = 2
    num_classes = 1  # one output: the sum
    per_step = False

    def __init__(self, length: int = 600, tolerance: float = 0.04, test_size: int = 1000, validation_size: int = 1000,
                 data_seed: int = 0):
        self.length = check_int("length", length, 2)
        if not 0 < tolerance < 1:
            raise ConfigError(f"tolerance must be in (0, 1), got {tolerance!r}")
        self.tolerance = tolerance
        self.span = length
        super().__init__(test_size, validation_size, data_seed)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 4 * 2 * (p["test_size"] + p["validation_size"]) * p["length"]

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("length", "tolerance", "test_size", "validation_size", "data_seed")}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        half = self.length // 2
        numbers = torch.rand(n, self.length, generator=generator)  # (n, L)
        first = torch.randint(0, half, (n,), generator=generator)
        second = torch.randint(half, self.length, (n,), generator=generator)
        marks = torch.zeros(n, self.length)
        rows = torch.arange(n)
        marks[rows, first] = marks[rows, second] = 1.0
        y = numbers[rows, first] + numbers[rows, second]  # (n,)
        return Batch(torch.stack([numbers, marks], dim=2), y, torch.ones(n, dtype=torch.bool))

    def baseline(self) -> Baseline:
        within = 1 - (1 - self.tolerance) ** 2
        return Baseline(loss=1 / 6, accuracy=within, recall_accuracy=within, sequence_accuracy=within)
