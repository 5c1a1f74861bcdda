"""The adding problem (Hochreiter and Schmidhuber 1997; the TCN paper's T=600): a regression target.

Each step carries two channels: a number drawn uniformly in [0, 1], and a marker that is 1 at exactly two
steps. `marks`: `halves` (the default; Arjovsky et al.'s layout) puts one in each half of the sequence;
`anywhere` (the TCN paper's generator, locuslab/TCN `TCN/adding_problem/utils.py`) draws two distinct steps
anywhere. The answer, read from the last step, is the sum of the two marked numbers. Loss and `loss` in the
scores are the mean squared error; accuracy (and recall and sequence accuracy) is the fraction of
sequences answered within `tolerance` (0.04) of the sum, or, with `tolerance_scale hochreiter`, on
Hochreiter and Schmidhuber's scale: their target 0.5 + (X1 + X2) / 4 for numbers X in [-1, 1] is half our
sum, so their "absolute error below 0.04" is within 0.08 of the sum. The memoryless baseline always answers
1, the sum's mean: MSE 1/6 (about 0.167), within t of the sum for 1 - (1 - t)^2 of sequences (7.84% at 0.04,
15.36% at 0.08).
"""

from __future__ import annotations

import torch

from seqmem.config.settings import check_int, parameter_defaults
from seqmem.errors import ConfigError
from seqmem.tasks import register_task
from seqmem.tasks.base import Baseline, Batch, SampledTask, check_choice


@register_task("adding")
class Adding(SampledTask):
    """The adding problem: the sum of the two marked numbers, from the last step.

    Args:
        length: steps a sequence
        tolerance: an answer within this of the target counts as right (on the scale tolerance_scale names)
        marks: where the two marks fall: halves (one in each half, Arjovsky et al.) or anywhere (locuslab/TCN)
        tolerance_scale: sum (tolerance on the sum) or hochreiter (on their target's scale: twice as wide on the
            sum)
        test_size: sequences in the fixed test set
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, and a fixed training set)
    """

    summary = "sum the two marked numbers of a long sequence (regression: MSE, and answers within 0.04)"

    input_channels = 2
    num_classes = 1  # one output: the sum
    per_step = False

    def __init__(self, length: int = 600, tolerance: float = 0.04, marks: str = "halves",
                 tolerance_scale: str = "sum", test_size: int = 1000, validation_size: int = 1000, data_seed: int = 0):
        self.length = check_int("length", length, 2)
        self.marks = check_choice("marks", marks, ("halves", "anywhere"))
        self.tolerance_scale = check_choice("tolerance_scale", tolerance_scale, ("sum", "hochreiter"))
        self.stated_tolerance = tolerance
        self.tolerance = tolerance * (2 if tolerance_scale == "hochreiter" else 1)  # on the sum: what is scored
        if not 0 < self.tolerance < 1:
            raise ConfigError(f"tolerance must be in (0, 1) on the sum (in (0, 0.5) on the hochreiter scale), "
                              f"got {tolerance!r}")
        self.span = length
        super().__init__(test_size, validation_size, data_seed)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        p = {**parameter_defaults(cls), **params}
        return 4 * 2 * (p["test_size"] + p["validation_size"]) * p["length"]

    def params(self) -> dict:
        return {"length": self.length, "tolerance": self.stated_tolerance, "marks": self.marks,
                "tolerance_scale": self.tolerance_scale, "test_size": self.test_size,
                "validation_size": self.validation_size, "data_seed": self.data_seed}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        half = self.length // 2
        numbers = torch.rand(n, self.length, generator=generator)  # (n, L)
        if self.marks == "halves":
            first = torch.randint(0, half, (n,), generator=generator)
            second = torch.randint(half, self.length, (n,), generator=generator)
        else:  # two distinct steps, uniformly: the second among the other length - 1
            first = torch.randint(0, self.length, (n,), generator=generator)
            second = torch.randint(0, self.length - 1, (n,), generator=generator)
            second += second >= first
        marks = torch.zeros(n, self.length)
        rows = torch.arange(n)
        marks[rows, first] = marks[rows, second] = 1.0
        y = numbers[rows, first] + numbers[rows, second]  # (n,)
        return Batch(torch.stack([numbers, marks], dim=2), y, torch.ones(n, dtype=torch.bool))

    def baseline(self) -> Baseline:
        within = 1 - (1 - self.tolerance) ** 2
        return Baseline(loss=1 / 6, accuracy=within, recall_accuracy=within, sequence_accuracy=within)
