"""Tasks whose batches break what they declare (tests/test_faults.py: `seqmem check` and `train` refuse them)."""

import torch

from seqmem import Baseline, Batch, SampledTask


class TargetsOutOfRange(SampledTask):
    """targets up to num_classes + 100: the loss would fail an update into training"""

    per_step = True
    vocab_size, num_classes, span = 4, 4, 3

    def __init__(self, test_size: int = 20, validation_size: int = 20, data_seed: int = 0, shift: int = 100):
        self.shift = shift
        super().__init__(test_size, validation_size, data_seed)

    def params(self) -> dict:
        return {"test_size": self.test_size, "validation_size": self.validation_size, "data_seed": self.data_seed,
                "shift": self.shift}

    def draw(self, n, generator):
        x = torch.randint(0, 4, (n, 3), generator=generator)
        y = x.clone()
        y[:, -1] += self.shift  # the last answer out of range
        return Batch(x, y, torch.ones(n, 3, dtype=torch.bool))

    def baseline(self):
        return Baseline(loss=1.0, accuracy=0.25, recall_accuracy=0.25, sequence_accuracy=0.0)


class TokensOutOfRange(TargetsOutOfRange):
    """a token beyond vocab_size: the embedding would fail"""

    def draw(self, n, generator):
        batch = super().draw(n, generator)
        x = batch.x.clone()
        x[:, 0] += self.shift
        return Batch(x, batch.y.clamp(max=3), batch.recall)
